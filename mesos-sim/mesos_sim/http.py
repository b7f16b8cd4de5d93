"""A small threaded HTTP server for the simulator's APIs (stdlib only).

Use::

    router = Router()
    router.add("GET", r"/v2/apps/(?P<app_id>.+)", handler)   # full match on the path
    server = ApiServer(router, host="127.0.0.1", port=0)      # 0 = ephemeral port
    server.start(); print(server.url); ...; server.stop()

A handler takes a :class:`Request` and returns a :class:`Response` (or raises
:class:`HttpProblem`, which becomes that response).  Named regex groups are in
``request.params``.  Unknown paths answer 404 ``{"message": ...}``; a known path with another
method answers 405 with an ``Allow`` header; an unexpected exception answers 500.

Streaming (server-sent events): return ``Response(stream=iterator_of_bytes)``.  The response is
sent with ``Transfer-Encoding: chunked`` and each non-empty chunk is flushed at once.  An empty
chunk ``b""`` is a *tick*: nothing is written, but the server checks whether the client went
away or the server is stopping, and closes the iterator if so.  Stream iterators should
therefore yield at least every second or so (``request.stopping`` is an Event set by
:meth:`ApiServer.stop`, handy as the wait object).
"""

from __future__ import annotations

import http.server
import json
import logging
import re
import select
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

LOG = logging.getLogger(__name__)

Handler = Callable[["Request"], "Response"]


class HttpProblem(Exception):
    """Raised by a handler to answer with ``status`` and a JSON (or bytes/str) ``body``."""

    def __init__(self, status: int, body: Any = None, headers: Mapping[str, str] | None = None):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    def response(self) -> Response:
        """The response this problem stands for."""
        return Response(self.status, self.body, headers=dict(self.headers))


@dataclass
class Request:
    """One HTTP request as handlers see it.

    ``query`` maps each parameter to the list of its values (``?a=1&a=2`` -> ``["1", "2"]``);
    ``headers`` has lower-case names; ``params`` holds the route's named regex groups.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    client_address: str = ""
    stopping: threading.Event = field(default_factory=threading.Event)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``, or ``default``."""
        values = self.query.get(name)
        return values[0] if values else default

    def flag(self, name: str) -> bool:
        """True when query parameter ``name`` is ``true`` (case-insensitive) or empty."""
        value = self.arg(name)
        return value is not None and value.lower() in ("true", "")

    def header(self, name: str, default: str | None = None) -> str | None:
        """The value of header ``name`` (case-insensitive), or ``default``."""
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """The body parsed as JSON; raises :class:`HttpProblem` 400 when it is malformed."""
        try:
            return json.loads(self.body.decode("utf-8") if self.body else "")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpProblem(400, {"message": f"Invalid JSON: {exc}"}) from exc


@dataclass
class Response:
    """What a handler answers.

    ``body``: ``None`` (no body), ``bytes`` (sent as is), ``str`` (text/plain, UTF-8) or any
    JSON-able value (application/json).  ``content_type`` overrides the default type.
    ``stream``: an iterator of bytes for a chunked, flushed-per-chunk response (see module doc).
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None
    content_type: str | None = None

    def encode(self) -> tuple[bytes, str | None]:
        """The body as bytes and its content type (``None`` when there is no body)."""
        if self.body is None:
            return b"", self.content_type
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), self.content_type or "text/plain; charset=utf-8"
        data = json.dumps(self.body, separators=(",", ":")).encode("utf-8")
        return data, self.content_type or "application/json"


def json_response(body: Any, status: int = 200,
                  headers: Mapping[str, str] | None = None) -> Response:
    """Shorthand for a JSON response."""
    return Response(status, body, headers=dict(headers or {}))


class Router:
    """Maps ``(method, path regex)`` to handlers; the regex must match the whole path."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` on paths that fully match ``pattern``."""
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def include(self, other: Router) -> None:
        """Add every route of ``other`` (after this router's own)."""
        self._routes.extend(other._routes)

    def resolve(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], list[str]]:
        """The handler and params for a request, or ``None`` and the methods the path allows."""
        allowed: list[str] = []
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method == method:
                params = {k: v for k, v in match.groupdict().items() if v is not None}
                return handler, params, []
            allowed.append(route_method)
        return None, {}, allowed

    def dispatch(self, request: Request) -> Response:
        """Run the matching handler; 404/405/500 responses for everything else."""
        handler, params, allowed = self.resolve(request.method, request.path)
        if handler is None:
            if allowed:
                return Response(405, {"message": f"HTTP method {request.method} is not allowed "
                                                 f"on {request.path}"},
                                headers={"Allow": ", ".join(sorted(set(allowed)))})
            return Response(404, {"message": f"The requested resource {request.path} could "
                                             "not be found"})
        request.params = params
        try:
            return handler(request)
        except HttpProblem as problem:
            return problem.response()
        except Exception as exc:  # noqa: BLE001 - the boundary of a request
            LOG.exception("handler for %s %s failed", request.method, request.path)
            return Response(500, {"message": f"{type(exc).__name__}: {exc}"})


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
        # and the client's delayed ACK add ~40 ms to every keep-alive response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        LOG.debug("%s %s", self.address_string(), format % args)

    def _handle(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        request = Request(
            method=self.command,
            path=urllib.parse.unquote(parsed.path) or "/",
            query=urllib.parse.parse_qs(parsed.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client_address=self.client_address[0],
            stopping=self.server.stopping,
        )
        response = self.server.router.dispatch(request)
        if response.stream is not None:
            self._send_stream(response)
        else:
            self._send(response)

    def _send(self, response: Response) -> None:
        data, content_type = response.encode()
        self.send_response(response.status)
        if content_type and not any(k.lower() == "content-type" for k in response.headers):
            self.send_header("Content-Type", content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if readable:
                return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
        except OSError:
            return True
        return False

    def _send_stream(self, response: Response) -> None:
        assert response.stream is not None
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type or "text/event-stream")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, no-store, must-revalidate")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        stream = response.stream
        try:
            for chunk in stream:
                if self.server.stopping.is_set() or self._client_gone():
                    break
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
            else:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except OSError:
            LOG.debug("event stream client %s went away", self.address_string())
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], router: Router) -> None:
        self.router = router
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class ApiServer:
    """Serves a :class:`Router` on ``host:port`` (port 0 = ephemeral) from daemon threads."""

    def __init__(self, router: Router, host: str = "127.0.0.1", port: int = 0) -> None:
        self.router = router
        self._server = _Server((host, port), router)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The port the server listens on (the real one when started with 0)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Serve in a background daemon thread (the socket is already bound and listening)."""
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name=f"http-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, end open streams and close every connection and the socket."""
        self._server.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.close_all()
        self._server.server_close()
