"""An HTTP proxy that injects faults between the deployer and one API (tests only).

Real Marathon and Chronos fail in ways the simulator does not on its own: a 500 on a group
PUT, a 409 "locked" answer, a connection reset half-way.  This proxy forwards every request
to the real (simulated) API and, for requests matching a rule, answers the fault instead, so
the deployer's failure handling meets those answers over real HTTP.

The Marathon event stream is refused (503): the client then falls back to polling, which is
what it does in production whenever the stream is down.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import struct
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

#: hop-by-hop headers a proxy must not forward
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
        "proxy-authorization", "proxy-authenticate", "content-length", "host",
        "content-encoding"}


@dataclasses.dataclass
class Rule:
    """Answer ``fault`` to requests whose ``METHOD path?query`` matches ``pattern``.

    ``fault`` is an HTTP status (answered with a Marathon-style JSON message) or ``"reset"``
    (the connection is closed with a TCP reset and no answer).  ``times`` None means always.
    """

    pattern: re.Pattern[str]
    fault: int | str
    times: int | None = 1
    message: str = "Injected fault"
    hits: int = 0


class FaultProxy:
    """A started proxy in front of ``upstream`` (use as a context manager)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.rules: list[Rule] = []
        self.seen: list[str] = []
        #: called with "METHOD path" after a request was forwarded successfully
        self.on_forwarded: Callable[[str], None] | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def inject(self, method: str, path_regex: str, fault: int | str, times: int | None = 1,
               message: str = "Injected fault") -> Rule:
        """Add a rule (matched against ``METHOD /path?query``)."""
        rule = Rule(re.compile(rf"^{method} {path_regex}"), fault, times, message)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self.rules.clear()

    def start(self) -> FaultProxy:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _match(self, line: str) -> Rule | None:
        with self._lock:
            self.seen.append(line)
            for rule in self.rules:
                if rule.pattern.match(line) and (rule.times is None or rule.hits < rule.times):
                    rule.hits += 1
                    return rule
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet: the tests assert on :attr:`FaultProxy.seen` instead."""

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                line = f"{self.command} {self.path}"
                if self.path.startswith("/v2/events"):
                    self._answer(503, {"message": "event stream refused by the fault proxy"})
                    return
                rule = proxy._match(line)
                if rule is not None and rule.fault == "reset":
                    # SO_LINGER 0: close() sends a TCP RST instead of a FIN
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                if rule is not None:
                    self._answer(int(rule.fault), {"message": rule.message})
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                upstream = requests.request(self.command, proxy.upstream + self.path,
                                            headers=headers, data=body, timeout=60)
                self.send_response(upstream.status_code)
                for key, value in upstream.headers.items():
                    if key.lower() not in _HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)
                if proxy.on_forwarded is not None:
                    proxy.on_forwarded(line)

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _handle  # noqa: N815

        return Handler
