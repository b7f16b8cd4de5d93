"""The Marathon client against the simulator over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from mesos_sim.simulator import Simulator

from kolla_mesos import errors
from kolla_mesos.clients.marathon import MarathonClient
from kolla_mesos.clients.marathon_progress import AppProgress

GROUP = "/kolla/clienttest"
WAIT = 60.0


@pytest.fixture
def marathon(sim: Simulator) -> Iterator[MarathonClient]:
    client = MarathonClient(sim.marathon_url, timeout=10, deadline=10, poll_interval=0.1)
    try:
        yield client
    finally:
        client.close()


def app(name: str, cmd: str = "sleep 600", instances: int = 1, **kw: Any) -> dict[str, Any]:
    body = {"id": f"{GROUP}/{name}", "cmd": cmd, "instances": instances, "cpus": 0.01,
            "mem": 16, "backoffSeconds": 1, "backoffFactor": 1.0,
            "labels": {"KOLLA_DEPLOYMENT": "clienttest"}}
    body.update(kw)
    return body


def command_check(command: str) -> list[dict[str, Any]]:
    return [{"protocol": "COMMAND", "command": {"value": command}, "gracePeriodSeconds": 5,
             "intervalSeconds": 1, "timeoutSeconds": 2, "maxConsecutiveFailures": 0}]


def group(*apps: dict[str, Any]) -> dict[str, Any]:
    return {"id": GROUP, "apps": list(apps)}


def test_put_group_and_wait_reports_progress_service_by_service(
        marathon: MarathonClient, tmp_path: Path) -> None:
    # the api turns healthy only once the first progress report has been seen
    flag = tmp_path / "healthy"
    seen: list[dict[str, AppProgress]] = []

    def progress(report: dict[str, AppProgress]) -> None:
        seen.append(report)
        flag.touch()

    dep = marathon.put_group(group(
        app("api", instances=2, healthChecks=command_check(f"test -e {flag}")), app("worker")))
    assert dep
    final = marathon.wait_for_deployments([dep], WAIT, progress)
    assert set(final) == {f"{GROUP}/api", f"{GROUP}/worker"}
    assert all(p.ready for p in final.values())
    assert final[f"{GROUP}/api"].healthy == 2
    assert seen and seen[-1] == final
    assert not seen[0][f"{GROUP}/api"].ready
    assert seen[0][f"{GROUP}/api"].healthy == 0
    assert marathon.list_deployments() == []
    got = marathon.get_group(GROUP)
    assert sorted(a["id"] for a in got["apps"]) == [f"{GROUP}/api", f"{GROUP}/worker"]
    apps = marathon.list_apps(GROUP)
    assert sorted(a["id"] for a in apps) == [f"{GROUP}/api", f"{GROUP}/worker"]
    assert marathon.get_app(f"{GROUP}/api")["tasksHealthy"] == 2
    # an unchanged PUT is a deployment without steps, finished at once
    again = marathon.put_group(group(app("api", instances=2,
                                         healthChecks=command_check("true")), app("worker")))
    marathon.wait_for_deployments([again], WAIT, app_ids=[f"{GROUP}/api"])
    assert ("PUT", f"/v2/groups{GROUP}") in marathon.writes


def test_invalid_definition_names_field_paths(marathon: MarathonClient) -> None:
    bad = app("api", instances=-1, healthChecks=[{"protocol": "HTTP", "path": 5}])
    with pytest.raises(errors.InvalidDefinitionError) as info:
        marathon.put_group(group(bad))
    paths = [path for path, _ in info.value.details]
    assert any("instances" in p for p in paths), paths
    assert "instances" in str(info.value)
    assert info.value.exit_code == errors.ExitCode.CONFIG


def test_conflict_carries_deployment_ids_and_cancel(marathon: MarathonClient) -> None:
    dep = marathon.put_group(group(app("stuck", healthChecks=command_check("false"))))
    with pytest.raises(errors.ConflictError) as info:
        marathon.put_group(group(app("stuck", cmd="sleep 700",
                                     healthChecks=command_check("false"))))
    assert dep in info.value.deployment_ids
    assert [d["id"] for d in marathon.list_deployments()] == [dep]
    assert marathon.list_deployments()[0]["affectedApps"] == [f"{GROUP}/stuck"]
    with pytest.raises(errors.DeadlineExceeded, match=f"{GROUP}/stuck 0/1 running|"
                                                      f"{GROUP}/stuck 1/1 running, 0/1"):
        marathon.wait_for_deployments([dep], 1.0)
    assert marathon.delete_deployment(dep, force=True) is None
    forced = marathon.put_group(group(app("stuck")), force=True)
    marathon.wait_for_deployments([forced], WAIT)


def test_not_found(marathon: MarathonClient) -> None:
    with pytest.raises(errors.NotFoundError, match="does not exist"):
        marathon.get_app(f"{GROUP}/nope")
    with pytest.raises(errors.NotFoundError):
        marathon.get_group(f"{GROUP}/nope")
    with pytest.raises(errors.NotFoundError):
        marathon.delete_app(f"{GROUP}/nope")


def test_crashing_app_fails_the_wait_with_its_last_failure(marathon: MarathonClient) -> None:
    dep = marathon.put_group(group(app("crash", cmd="echo bad config >&2; exit 3",
                                   healthChecks=command_check("true"))))
    # Either three failed tasks of the new version, or the deployment ending with the app
    # unhealthy: both name the app and its last failure.
    with pytest.raises(errors.DeployFailed, match=f"{GROUP}/crash (failed 3 tasks|is not h)"
                       ) as info:
        marathon.wait_for_deployments([dep], WAIT)
    assert "TASK_FAILED" in str(info.value)
    marathon.delete_group(GROUP, force=True)


def test_restart_and_delete(marathon: MarathonClient) -> None:
    dep = marathon.put_group(group(app("api", healthChecks=command_check("true"))))
    marathon.wait_for_deployments([dep], WAIT)
    before = {t["id"] for t in marathon.get_app(f"{GROUP}/api")["tasks"]}
    restart = marathon.restart_app(f"{GROUP}/api")
    marathon.wait_for_deployments([restart], WAIT)
    after = {t["id"] for t in marathon.get_app(f"{GROUP}/api")["tasks"]}
    assert after and not before & after
    gone = marathon.delete_group(GROUP)
    final = marathon.wait_for_deployments([gone], WAIT, app_ids=[f"{GROUP}/api"])
    assert final[f"{GROUP}/api"].instances == 0
    assert marathon.list_apps(GROUP) == []


def test_deployment_cancelled_by_another_deployer_fails_the_wait(
        marathon: MarathonClient, sim: Simulator) -> None:
    dep = marathon.put_group(group(app("stuck", healthChecks=command_check("false"))))
    other = MarathonClient(sim.marathon_url)
    try:
        other.delete_deployment(dep, force=True)
    finally:
        other.close()
    with pytest.raises(errors.DeployFailed, match=f"{GROUP}/stuck is not healthy"):
        marathon.wait_for_deployments([dep], WAIT, app_ids=[f"{GROUP}/stuck"])


def test_ping_and_basic_auth_header(marathon: MarathonClient, sim: Simulator) -> None:
    assert marathon.ping()
    client = MarathonClient(sim.marathon_url, credentials=("ops", "pw"))
    try:
        assert client.http.session.auth == ("ops", "pw")
        assert client.ping()
    finally:
        client.close()
    assert not MarathonClient("http://127.0.0.1:9", timeout=1, deadline=0.5).ping()
    assert requests.get(sim.marathon_url + "/ping", timeout=5).ok
