"""Marathon's event bus and its ``GET /v2/events`` server-sent-event stream.

Frames are written exactly as Marathon's Jetty ``EventSourceServlet`` writes them:
``event: <eventType>\\r\\ndata: <json>\\r\\n\\r\\n``, a blank-line heartbeat every 10 s, and
the first frame for a new client is ``event_stream_attached``.  ``?event_type=a&event_type=b``
filters; the request must accept ``text/event-stream`` or it gets 405.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from mesos_sim.http import Request, Response
from mesos_sim.marathon.model import timestamp

LOG = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
_TICK_SECONDS = 0.5
_QUEUE_LIMIT = 10000


def frame(event: dict[str, Any]) -> bytes:
    """One SSE frame for ``event`` (which carries ``eventType``)."""
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['eventType']}\r\ndata: {data}\r\n\r\n".encode()


class EventBus:
    """Publishes Marathon events to SSE subscribers and in-process listeners."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._subscribers: list[queue.Queue[dict[str, Any] | None]] = []
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def publish(self, event_type: str, **payload: Any) -> dict[str, Any]:
        """Send an event (``eventType`` and ``timestamp`` are added) to everyone."""
        event = {**payload, "eventType": event_type, "timestamp": timestamp(self._clock())}
        with self._lock:
            subscribers = list(self._subscribers)
            listeners = list(self._listeners)
        for sub in subscribers:
            try:
                sub.put_nowait(event)
            except queue.Full:
                LOG.warning("dropping event %s for a slow event-stream client", event_type)
        for listener in listeners:
            listener(event)
        return event

    def listen(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call ``callback`` synchronously for every event (tests, the deployment runner)."""
        with self._lock:
            self._listeners.append(callback)

    def unlisten(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Stop calling ``callback``."""
        with self._lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    def subscribe(self) -> queue.Queue[dict[str, Any] | None]:
        """A new queue receiving every event from now on."""
        sub: queue.Queue[dict[str, Any] | None] = queue.Queue(_QUEUE_LIMIT)
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: queue.Queue[dict[str, Any] | None]) -> None:
        """Stop delivering to ``sub``."""
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def close(self) -> None:
        """End every open stream."""
        with self._lock:
            subscribers = list(self._subscribers)
            self._subscribers.clear()
        for sub in subscribers:
            try:
                sub.put_nowait(None)
            except queue.Full:
                pass

    def stream(self, request: Request) -> Response:
        """The ``GET /v2/events`` handler."""
        accept = request.header("accept", "") or ""
        if "text/event-stream" not in accept:
            return Response(405, None)
        wanted = set(request.query.get("event_type", []))
        sub = self.subscribe()
        attached = {"remoteAddress": request.client_address,
                    "eventType": "event_stream_attached",
                    "timestamp": timestamp(self._clock())}
        return Response(200, stream=self._frames(sub, wanted, attached, request.stopping),
                        content_type="text/event-stream;charset=utf-8")

    def _frames(self, sub: queue.Queue[dict[str, Any] | None], wanted: set[str],
                attached: dict[str, Any], stopping: threading.Event) -> Iterator[bytes]:
        try:
            if not wanted or "event_stream_attached" in wanted:
                yield frame(attached)
            last_beat = time.monotonic()
            while not stopping.is_set():
                try:
                    event = sub.get(timeout=_TICK_SECONDS)
                except queue.Empty:
                    if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                        last_beat = time.monotonic()
                        yield b"\r\n"
                    else:
                        yield b""
                    continue
                if event is None:
                    return
                if not wanted or event["eventType"] in wanted:
                    yield frame(event)
        finally:
            self.unsubscribe(sub)
