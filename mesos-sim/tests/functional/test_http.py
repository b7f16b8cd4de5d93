"""The simulator's HTTP layer: routing, errors and streamed responses over real sockets."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests

from mesos_sim.http import ApiServer, Request, Response, Router


@pytest.fixture
def server() -> Iterator[ApiServer]:
    router = Router()
    seen = threading.Event()

    def echo(req: Request) -> Response:
        return Response(201, {"id": req.params["id"], "body": req.json(), "q": req.query})

    def events(req: Request) -> Response:
        def gen() -> Iterator[bytes]:
            try:
                for i in range(3):
                    yield b"event: tick\r\ndata: %d\r\n\r\n" % i
                while not req.stopping.wait(0.05):
                    yield b""
            finally:
                seen.set()
        return Response(stream=gen())

    router.add("POST", r"/things/(?P<id>[a-z]+)", echo)
    router.add("GET", r"/events", events)
    srv = ApiServer(router)
    srv.start()
    srv.closed = seen  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def test_routes_json_and_errors(server: ApiServer) -> None:
    r = requests.post(server.url + "/things/abc?x=1&x=2", json={"a": 1}, timeout=5)
    assert r.status_code == 201
    assert r.json() == {"id": "abc", "body": {"a": 1}, "q": {"x": ["1", "2"]}}
    r = requests.post(server.url + "/things/abc", data=b"{nope", timeout=5)
    assert r.status_code == 400 and "Invalid JSON" in r.json()["message"]
    r = requests.get(server.url + "/things/abc", timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    assert requests.get(server.url + "/nothing", timeout=5).status_code == 404


def test_stream_is_flushed_and_ends_on_disconnect(server: ApiServer) -> None:
    with requests.get(server.url + "/events", stream=True, timeout=5) as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        lines = r.iter_lines()
        got = [next(lines) for _ in range(6)]
    assert got[0] == b"event: tick" and got[4] == b"data: 1"
    assert server.closed.wait(5)  # type: ignore[attr-defined]
