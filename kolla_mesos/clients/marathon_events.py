"""Wake-ups from Marathon's event stream (``GET /v2/events``, server-sent events).

:class:`EventWaker` follows the stream in a daemon thread and sets a
:class:`threading.Event` whenever Marathon reports something that can change an app's
progress (a deployment step, a task status, a health change).  Waiters re-read
``/v2/deployments`` and ``/v2/apps`` on that signal instead of sleeping a fixed interval.
When the stream is unavailable (old Marathon, a proxy that buffers, a 4xx) the waker reports
``connected = False`` and the caller falls back to polling.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

import requests

LOG = logging.getLogger(__name__)

#: Marathon event types that can move a deployment or an app's task counts.
EVENT_TYPES = (
    "deployment_info", "deployment_step_success", "deployment_step_failure",
    "deployment_success", "deployment_failed", "status_update_event",
    "health_status_changed_event", "instance_health_changed_event",
    "failed_health_check_event", "unhealthy_instance_kill_event", "app_terminated_event",
)


class EventWaker:
    """Follows ``/v2/events`` and signals :attr:`changed` on every relevant event."""

    def __init__(self, base_url: str, auth: Any, connect_timeout: float,
                 changed: threading.Event) -> None:
        # A session of its own: the stream is read in another thread than the waiter's
        # requests, and requests.Session is not documented as thread-safe.
        self.session = requests.Session()
        self.session.auth = auth
        self.url = base_url.rstrip("/") + "/v2/events"
        self.connect_timeout = connect_timeout
        self.changed = changed
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name="marathon-events", daemon=True)

    @property
    def running(self) -> bool:
        """Whether the stream-following thread is still alive."""
        return self._thread.is_alive()

    def start(self) -> EventWaker:
        """Start following the stream; return self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following the stream (closes the connection)."""
        self._stop.set()
        response = self._response
        if response is not None:
            # close() alone does not wake a thread blocked in recv(); shutting the socket
            # down does (urllib3 keeps it on the response's connection).
            sock = getattr(getattr(response.raw, "connection", None), "sock", None)
            try:
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
                response.close()
            except Exception:  # noqa: BLE001 - closing a dead stream may fail; nothing to do
                LOG.debug("closing the Marathon event stream failed", exc_info=True)
        # The thread is a daemon: if the stream does not wake, it ends with the next event.
        self._thread.join(timeout=1.0)
        self.session.close()

    def _run(self) -> None:
        try:
            with self.session.get(self.url, params={"event_type": list(EVENT_TYPES)},
                                  headers={"Accept": "text/event-stream"}, stream=True,
                                  timeout=(self.connect_timeout, None)) as response:
                if response.status_code != 200:
                    LOG.debug("Marathon event stream answered %s; polling instead",
                              response.status_code)
                    return
                self._response = response
                self.connected.set()
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith(b"event:") or line.startswith(b"data:"):
                        self.changed.set()
        except (requests.RequestException, OSError, ValueError, AttributeError):
            if not self._stop.is_set():
                LOG.debug("Marathon event stream ended; polling instead", exc_info=True)
        finally:
            self.connected.clear()
            self.changed.set()  # let the waiter re-check (and fall back to polling)
