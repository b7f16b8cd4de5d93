"""The shared HTTP transport over real loopback HTTP: retries, deadlines, typed errors."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from kolla_mesos import errors
from kolla_mesos.clients import marathon_errors
from kolla_mesos.clients.http import HttpClient
from kolla_mesos.clients.retry import RetryPolicy
from kolla_mesos.testing.zookeeper import free_port


class Scripted(http.server.BaseHTTPRequestHandler):
    """Answers each request with the next (status, body) of the server's script."""

    def _answer(self) -> None:
        server = self.server
        server.seen.append((self.command, self.path))  # type: ignore[attr-defined]
        script = server.script  # type: ignore[attr-defined]
        status, body = script.pop(0) if len(script) > 1 else script[0]
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    srv.script = [(200, {})]  # type: ignore[attr-defined]
    srv.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def client(srv: http.server.ThreadingHTTPServer, **kw: object) -> HttpClient:
    policy = RetryPolicy(delay=0.01, max_delay=0.05, **kw)  # type: ignore[arg-type]
    return HttpClient("Marathon", f"http://127.0.0.1:{srv.server_port}", 2, retry=policy,
                      mapper=marathon_errors.map_error)


def test_transient_5xx_is_retried_for_idempotent_requests(server) -> None:
    server.script = [(503, {"message": "busy"}), (502, {}), (200, {"ok": 1})]
    assert client(server, max_tries=5).get_json("/v2/apps") == {"ok": 1}
    assert len(server.seen) == 3


def test_post_is_not_retried(server) -> None:
    server.script = [(503, {"message": "busy"}), (200, {})]
    with pytest.raises(errors.ServerError, match="HTTP 503 to POST /v2/apps/a/restart"):
        client(server).request("POST", "/v2/apps/a/restart")
    assert len(server.seen) == 1


def test_conflict_is_not_retried(server) -> None:
    server.script = [(409, {"message": "locked", "deployments": [{"id": "d1"}]}), (200, {})]
    with pytest.raises(errors.ConflictError) as info:
        client(server).request("PUT", "/v2/groups/g", body={"id": "/g"})
    assert info.value.deployment_ids == ["d1"]
    assert len(server.seen) == 1


def test_retries_are_bounded(server) -> None:
    server.script = [(500, {"message": "down"})]
    with pytest.raises(errors.ServerError, match="down"):
        client(server, max_tries=4).get_json("/v2/apps")
    assert len(server.seen) == 4


def test_unreachable_is_server_error_after_retries() -> None:
    port = free_port()
    http_client = HttpClient("Chronos", f"http://127.0.0.1:{port}", 1,
                             retry=RetryPolicy(max_tries=2, delay=0.01))
    with pytest.raises(errors.ServerError, match=f"Chronos at http://127.0.0.1:{port} is unr"):
        http_client.get_json("/scheduler/jobs")


@pytest.mark.parametrize(("status", "reason"), [(401, "unauthorized"), (403, "forbidden")])
def test_refused_credentials_name_the_setting_to_check(server, status, reason):
    from kolla_mesos.clients.marathon import MarathonClient

    server.script = [(status, {"message": "Invalid username or password."})]
    url = f"http://127.0.0.1:{server.server_port}"
    marathon = MarathonClient(url, timeout=2, credentials=("ops", "pw-not-shown"), deadline=1)
    for call, what in ((marathon.list_apps, "GET /v2/apps"),
                       (marathon.list_deployments, "GET /v2/deployments")):
        with pytest.raises(errors.HttpError) as info:
            call()
        assert str(info.value) == (
            f"Marathon at {url} refused {what} with HTTP {status} ({reason}, Invalid username "
            "or password): check [marathon] credentials_file.")
        assert info.value.exit_code == errors.ExitCode.REMOTE
    plain = HttpClient("Chronos", url, 2)
    with pytest.raises(errors.HttpError, match="it requires credentials, and kolla-mesos "
                                               "sends it none"):
        plain.get_json("/v1/scheduler/jobs")
    assert len(server.seen) == 3, "an authorization failure is not retried"
