"""The simulated Marathon over plain HTTP: status codes, headers and bodies of Marathon 1.10."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from marathon.models import MarathonApp, MarathonTask
from marathon_helpers import Sim, http_app, marathon_of

from mesos_sim.simulator import Simulator
from mesos_sim.testing import wait_for


@pytest.fixture
def msim(sim: Simulator) -> Iterator[Sim]:
    with marathon_of(sim) as running:
        yield running


def sleeper(app_id: str, instances: int = 1, **extra: object) -> dict[str, object]:
    return {"id": app_id, "cmd": "exec sleep 300", "cpus": 0.01, "mem": 8,
            "instances": instances, **extra}


def test_create_answers_201_with_location_header_and_app_info(msim: Sim) -> None:
    response = requests.post(f"{msim.url}/v2/apps", json=sleeper("/tools/a", 2), timeout=10)
    assert response.status_code == 201
    deployment_id = response.headers["Marathon-Deployment-Id"]
    assert response.headers["Location"].endswith("/tools/a")
    body = response.json()
    assert body["id"] == "/tools/a" and body["instances"] == 2
    assert body["deployments"] == [{"id": deployment_id}]
    assert "versionInfo" not in body and body["tasksRunning"] == 0
    assert body["portDefinitions"] == [{"port": 0, "protocol": "tcp", "name": "default"}]
    deployments = requests.get(f"{msim.url}/v2/deployments", timeout=10).json()
    assert [d["id"] for d in deployments] == [deployment_id]
    assert [s["actions"][0]["action"] for s in deployments[0]["steps"]] == [
        "StartApplication", "ScaleApplication"]
    assert msim.deployment_done(deployment_id)["eventType"] == "deployment_success"
    app = msim.app("/tools/a")
    assert app["tasksRunning"] == 2 and app["deployments"] == []
    assert app["portDefinitions"][0]["port"] >= 10000
    assert app["versionInfo"]["lastConfigChangeAt"] == app["version"]
    MarathonApp.from_json(app)
    running = [e for e in msim.recorder.of("instance_changed_event")
               if e["runSpecId"] == "/tools/a" and e["condition"] == "Running"]
    assert len(running) == 2
    for task in app["tasks"]:
        MarathonTask.from_json(task)
        assert task["state"] == "TASK_RUNNING" and task["id"].startswith("tools_a.instance-")


def test_malformed_and_empty_json_answer_400(msim: Sim) -> None:
    response = requests.post(f"{msim.url}/v2/apps", data=b'{"id": "x",', timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid JSON"
    assert isinstance(response.json()["details"], str)
    response = requests.post(f"{msim.url}/v2/apps", data=b"", timeout=10)
    assert response.status_code == 400
    assert response.json()["message"] == "Please specify data in JSON format"


@pytest.mark.parametrize(("body", "path", "error"), [
    ({"id": "/Bad_Id", "cmd": "true"}, "/id", "error.pattern"),
    ({"cmd": "true"}, "/id", "error.path.missing"),
    ({"id": "/a", "cmd": "true", "cpus": "one"}, "/cpus", "error.expected.jsnumber"),
    ({"id": "/a", "cmd": "true", "instances": -1}, "/instances", "error.min"),
    ({"id": "/a", "cmd": "true", "constraints": [["hostname", "NEAR"]]}, "/constraints(0)",
     "error.unknown.enum.literal"),
    ({"id": "/a", "cmd": "true", "constraints": [["hostname"]]}, "/constraints(0)",
     "error.minLength"),
    ({"id": "/a", "cmd": "true", "healthChecks": [{"protocol": "HTTP", "path": 3}]},
     "/healthChecks(0)/path", "error.expected.jsstring"),
    ({"id": "/a", "cmd": "true", "upgradeStrategy": {"minimumHealthCapacity": 1.5}},
     "/upgradeStrategy/minimumHealthCapacity", "error.max"),
])
def test_invalid_definitions_answer_422_with_field_paths(msim: Sim, body: dict[str, object],
                                                         path: str, error: str) -> None:
    response = requests.post(f"{msim.url}/v2/apps", json=body, timeout=10)
    assert response.status_code == 422, response.text
    assert response.json() == {"message": "Invalid JSON",
                               "details": [{"path": path, "errors": [error]}]}


@pytest.mark.parametrize(("body", "path"), [
    ({"id": "/a", "cmd": "true", "args": ["x"]}, "/"),
    ({"id": "/a/restart", "cmd": "true"}, "/id"),
    ({"id": "/a", "cmd": "true", "constraints": [["hostname", "LIKE", "[a-"]]},
     "/constraints(0)"),
])
def test_semantic_errors_answer_422_object_is_not_valid(msim: Sim, body: dict[str, object],
                                                        path: str) -> None:
    response = requests.post(f"{msim.url}/v2/apps", json=body, timeout=10)
    assert response.status_code == 422
    assert response.json()["message"] == "Object is not valid"
    assert response.json()["details"][0]["path"] == path


SCHEMA_VALID_APPS = [
    {"id": "legacy-docker", "cmd": "exec sleep 300", "cpus": 0, "mem": 8, "instances": 0,
     "container": {"type": "DOCKER", "docker": {
         "image": "kolla/keystone", "network": "BRIDGE", "privileged": False,
         "portMappings": [{"containerPort": 5000, "hostPort": 0, "protocol": "tcp"}],
         "parameters": [{"key": "volume", "value": "kolla_logs:/var/log/kolla"}]},
         "volumes": [{"containerPath": "/etc/x", "hostPath": "/tmp", "mode": "RO"}]},
     "uris": ["http://example.invalid/a.tgz"], "backoffFactor": 2,
     "healthChecks": [{"protocol": "TCP", "portIndex": 0}]},
    {"id": "/g/sub/ports", "args": ["sleep", "300"], "ports": [0, 0], "requirePorts": False,
     "instances": 0, "env": {"A": "b", "S": {"secret": "s1"}},
     "secrets": {"s1": {"source": "/x"}}, "executor": "//cmd", "labels": {"k": "v"},
     "constraints": [["hostname", "UNIQUE"], ["rack", "GROUP_BY", "2"]],
     "fetch": [{"uri": "http://example.invalid/b", "extract": False}],
     "unreachableStrategy": "disabled", "killSelection": "OLDEST_FIRST",
     "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0},
     "readinessChecks": [{"name": "ready", "protocol": "HTTP", "path": "/"}],
     "residency": {"relaunchEscalationTimeoutSeconds": 10},
     "ipAddress": {"networkName": "n"}, "dependencies": ["../other"],
     "taskKillGracePeriodSeconds": 1, "acceptedResourceRoles": ["*"], "gpus": 0,
     "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}}]},
    {"id": "withversion", "cmd": "exec sleep 300", "instances": 0,
     "version": "2020-01-01T00:00:00.000Z", "portDefinitions": [],
     "networks": [{"mode": "host"}], "user": "root"},
]


@pytest.mark.parametrize("body", SCHEMA_VALID_APPS, ids=lambda b: str(b["id"]))
def test_apps_valid_under_the_published_schema_are_accepted(msim: Sim,
                                                            body: dict[str, object]) -> None:
    response = requests.post(f"{msim.url}/v2/apps", json=body, timeout=10)
    assert response.status_code == 201, response.text
    app_id = response.json()["id"]
    app = msim.app(app_id)
    MarathonApp.from_json(app)
    assert "ports" not in app and "uris" not in app
    mappings = app.get("container", {}).get("portMappings", [])
    service = [p["port"] for p in app.get("portDefinitions", [])] + [
        m["servicePort"] for m in mappings]
    assert all(port >= 10000 for port in service)


def test_unknown_app_answers_404_and_duplicate_create_409(msim: Sim) -> None:
    response = requests.get(f"{msim.url}/v2/apps/nope", timeout=10)
    assert (response.status_code, response.json()) == (
        404, {"message": "App '/nope' does not exist"})
    assert requests.post(f"{msim.url}/v2/apps", json=sleeper("/dup", 0),
                         timeout=10).status_code == 201
    response = requests.post(f"{msim.url}/v2/apps", json=sleeper("dup", 0), timeout=10)
    assert (response.status_code, response.json()) == (
        409, {"message": "An app with id [/dup] already exists."})


def test_locked_app_answers_409_and_force_overrides(msim: Sim) -> None:
    never_healthy = sleeper("/locked", 1, healthChecks=[
        {"protocol": "COMMAND", "command": {"value": "false"}, "intervalSeconds": 1,
         "gracePeriodSeconds": 300}])
    created = requests.post(f"{msim.url}/v2/apps", json=never_healthy, timeout=10)
    first = created.headers["Marathon-Deployment-Id"]
    response = requests.put(f"{msim.url}/v2/apps/locked", json={"instances": 2}, timeout=10)
    assert response.status_code == 409
    assert response.json() == {
        "message": "App is locked by one or more deployments. Override with the option "
                   "'?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
        "deployments": [{"id": first}]}
    assert msim.app("/locked")["instances"] == 1
    assert msim.recorder.of("group_change_failed")
    forced = requests.put(f"{msim.url}/v2/apps/locked?force=true", json={"instances": 0},
                          timeout=10)
    assert forced.status_code == 200
    assert msim.deployment_done(first)["eventType"] == "deployment_failed"
    assert msim.deployment_done(forced.json()["deploymentId"])["eventType"] == \
        "deployment_success"
    assert msim.app("/locked")["instances"] == 0


def test_partial_update_scale_and_noop_keep_versions_and_tasks(msim: Sim) -> None:
    created = requests.post(f"{msim.url}/v2/apps", json=sleeper("/upd", 1, labels={"a": "1"}),
                            timeout=10)
    msim.deployment_done(created.headers["Marathon-Deployment-Id"])
    first = msim.app("/upd")
    task_ids = {t["id"] for t in first["tasks"]}

    noop = requests.put(f"{msim.url}/v2/apps/upd", json={"labels": {"a": "1"}}, timeout=10)
    assert noop.status_code == 200 and noop.json()["version"] == first["version"]
    msim.deployment_done(noop.json()["deploymentId"])
    assert {t["id"] for t in msim.app("/upd")["tasks"]} == task_ids

    scaled = requests.put(f"{msim.url}/v2/apps/upd", json={"instances": 2}, timeout=10).json()
    msim.deployment_done(scaled["deploymentId"])
    app = msim.app("/upd")
    assert app["versionInfo"]["lastScalingAt"] == scaled["version"]
    assert app["versionInfo"]["lastConfigChangeAt"] == first["version"]
    assert task_ids < {t["id"] for t in app["tasks"]} and app["labels"] == {"a": "1"}

    changed = requests.put(f"{msim.url}/v2/apps/upd", json={"env": {"X": "1"}},
                           timeout=10).json()
    msim.deployment_done(changed["deploymentId"])
    app = msim.app("/upd")
    assert app["versionInfo"]["lastConfigChangeAt"] == changed["version"]
    assert app["env"] == {"X": "1"} and app["labels"] == {"a": "1"} and app["instances"] == 2
    assert not task_ids & {t["id"] for t in app["tasks"]}

    versions = requests.get(f"{msim.url}/v2/apps/upd/versions", timeout=10).json()["versions"]
    assert versions == sorted({first["version"], scaled["version"], changed["version"]},
                              reverse=True)
    old = requests.get(f"{msim.url}/v2/apps/upd/versions/{first['version']}", timeout=10).json()
    assert old["instances"] == 1 and "env" not in old

    replaced = requests.put(f"{msim.url}/v2/apps/upd?partialUpdate=false",
                            json={"cmd": "exec sleep 300", "mem": 8, "cpus": 0.01},
                            timeout=10).json()
    msim.deployment_done(replaced["deploymentId"])
    app = msim.app("/upd")
    assert app["instances"] == 1 and app["labels"] == {} and "env" not in app


def test_put_creates_a_missing_app_with_201(msim: Sim) -> None:
    response = requests.put(f"{msim.url}/v2/apps/fresh", json=sleeper("/ignored", 0), timeout=10)
    assert response.status_code == 201
    assert set(response.json()) == {"deploymentId", "version"}
    assert msim.app("/fresh")["id"] == "/fresh"


def test_unplaceable_app_waits_in_queue_with_the_reason(msim: Sim) -> None:
    body = sleeper("/nowhere", 1, constraints=[["hostname", "LIKE", "no-such-host"]])
    created = requests.post(f"{msim.url}/v2/apps", json=body, timeout=10)
    queue = wait_for(lambda: requests.get(f"{msim.url}/v2/queue?embed=lastUnusedOffers",
                                      timeout=10).json()["queue"])
    item = queue[0]
    assert item["app"]["id"] == "/nowhere" and item["count"] == 1
    summary = {r["reason"]: r["declined"]
               for r in item["processedOffersSummary"]["rejectSummaryLastOffers"]}
    assert summary["UnfulfilledConstraint"] == 1
    assert item["lastUnusedOffers"][0]["reason"] == ["UnfulfilledConstraint"]
    deployments = requests.get(f"{msim.url}/v2/deployments", timeout=10).json()
    assert [d["id"] for d in deployments] == [created.headers["Marathon-Deployment-Id"]]


def test_system_endpoints(msim: Sim) -> None:
    ping = requests.get(f"{msim.url}/ping", timeout=10)
    assert (ping.status_code, ping.text) == (200, "pong")
    info = requests.get(f"{msim.url}/v2/info", timeout=10)
    assert info.json()["name"] == "marathon" and info.json()["version"].startswith("1.10")
    assert info.headers["X-Marathon-Leader"] == msim.url
    assert requests.get(f"{msim.url}/v2/leader", timeout=10).json()["leader"] == \
        msim.url.removeprefix("http://")
    assert requests.get(f"{msim.url}/v2/plugins", timeout=10).json() == {"plugins": []}
    metrics = requests.get(f"{msim.url}/metrics", timeout=10).json()
    assert set(metrics) == {"version", "counters", "gauges", "histograms", "meters", "timers"}
    assert requests.get(f"{msim.url}/v2/deployments", timeout=10).json() == []
    assert requests.get(f"{msim.url}/v2/queue", timeout=10).json() == {"queue": []}


def test_task_kill_errors(msim: Sim) -> None:
    created = requests.post(f"{msim.url}/v2/apps", json=sleeper("/k", 1), timeout=10)
    msim.deployment_done(created.headers["Marathon-Deployment-Id"])
    response = requests.delete(f"{msim.url}/v2/apps/k/tasks/k.instance-nope._app.1", timeout=10)
    assert (response.status_code, response.json()) == (
        404, {"message": "Task 'k.instance-nope._app.1' does not exist"})
    task_id = msim.app("/k")["tasks"][0]["id"]
    response = requests.delete(f"{msim.url}/v2/apps/k/tasks/{task_id}?scale=true&wipe=true",
                               timeout=10)
    assert response.status_code == 400
    response = requests.post(f"{msim.url}/v2/tasks/delete", json={"ids": ["garbage"]},
                             timeout=10)
    assert (response.status_code, response.json()) == (
        400, {"message": "Invalid task id 'garbage'"})
    unknown = requests.delete(f"{msim.url}/v2/deployments/nope", timeout=10)
    assert (unknown.status_code, unknown.json()) == (
        404, {"message": "DeploymentPlan nope does not exist"})


def test_http_health_check_marks_tasks_healthy(msim: Sim) -> None:
    created = requests.post(f"{msim.url}/v2/apps", json=http_app("/web", 1), timeout=10)
    msim.deployment_done(created.headers["Marathon-Deployment-Id"])
    app = msim.app("/web")
    assert (app["tasksRunning"], app["tasksHealthy"], app["tasksUnhealthy"]) == (1, 1, 0)
    result = app["tasks"][0]["healthCheckResults"][0]
    assert result["alive"] is True and "firstSuccess" in result
    assert msim.recorder.of("health_status_changed_event")[0]["alive"] is True


def test_rollback_to_a_stored_version_filters_and_patch(msim: Sim) -> None:
    created = requests.post(f"{msim.url}/v2/apps", json=sleeper("/rb", 1, labels={
        "tier": "db"}), timeout=10)
    msim.deployment_done(created.headers["Marathon-Deployment-Id"])
    first = msim.app("/rb")["version"]
    patched = requests.patch(f"{msim.url}/v2/apps/rb", json={"cmd": "exec sleep 301"},
                             timeout=10)
    assert patched.status_code == 200
    msim.deployment_done(patched.json()["deploymentId"])
    assert msim.app("/rb")["cmd"] == "exec sleep 301"
    back = requests.put(f"{msim.url}/v2/apps/rb", json={"version": first}, timeout=10).json()
    msim.deployment_done(back["deploymentId"])
    app = msim.app("/rb")
    assert app["cmd"] == "exec sleep 300" and app["version"] == back["version"] != first
    missing = requests.put(f"{msim.url}/v2/apps/rb", json={"version": "2000-01-01T00:00:00.000Z"},
                           timeout=10)
    assert missing.status_code == 422
    assert requests.patch(f"{msim.url}/v2/apps/none", json={"cpus": 1},
                          timeout=10).status_code == 404

    requests.post(f"{msim.url}/v2/apps", json=sleeper("/other", 0, labels={"tier": "web"}),
                  timeout=10).raise_for_status()

    def listed(query: str) -> list[str]:
        return [a["id"] for a in requests.get(f"{msim.url}/v2/apps?{query}",
                                              timeout=10).json()["apps"]]

    assert listed("label=tier==db") == ["/rb"]
    assert listed("label=tier!=db") == ["/other"]
    assert listed("label=tier in (db, web)") == ["/other", "/rb"]
    assert listed("id=OTH") == ["/other"]
    stats = requests.get(f"{msim.url}/v2/apps/rb?embed=app.taskStats", timeout=10).json()
    assert stats["app"]["tasksStats"]["totalSummary"]["stats"]["counts"]["running"] == 1


def test_group_create_conflicts_and_missing_group(msim: Sim) -> None:
    created = requests.post(f"{msim.url}/v2/groups", json={"id": "/g", "apps": [
        sleeper("a", 0)]}, timeout=10)
    assert created.status_code == 201 and created.headers["Location"].endswith("/v2/groups/g")
    again = requests.post(f"{msim.url}/v2/groups", json={"id": "g"}, timeout=10)
    assert (again.status_code, again.json()) == (
        409, {"message": "Group /g is already created. Use PUT to change this group."})
    clash = requests.post(f"{msim.url}/v2/groups", json={"id": "/g/a"}, timeout=10)
    assert (clash.status_code, clash.json()) == (
        409, {"message": "An app with the path /g/a already exists."})
    bad = requests.post(f"{msim.url}/v2/groups", json={"id": "/h", "apps": [{"cmd": "x"}]},
                        timeout=10)
    assert bad.status_code == 422
    assert bad.json()["details"] == [{"path": "/apps(0)/id", "errors": ["error.path.missing"]}]
    cycle = requests.post(f"{msim.url}/v2/groups", json={"id": "/c", "apps": [
        sleeper("x", 0, dependencies=["y"]), sleeper("y", 0, dependencies=["x"])]}, timeout=10)
    assert cycle.status_code == 422
    assert cycle.json()["details"][0]["errors"] == ["Dependency graph has cyclic dependencies."]
    assert requests.delete(f"{msim.url}/v2/groups/nope", timeout=10).json() == {
        "message": "Group '/nope' does not exist"}


def test_killing_all_tasks_without_scale_replaces_them(msim: Sim) -> None:
    created = requests.post(f"{msim.url}/v2/apps", json=sleeper("/many", 2), timeout=10)
    msim.deployment_done(created.headers["Marathon-Deployment-Id"])
    before = {t["id"] for t in msim.app("/many")["tasks"]}
    killed = requests.delete(f"{msim.url}/v2/apps/many/tasks", timeout=10).json()["tasks"]
    assert {t["id"] for t in killed} == before
    wait_for(lambda: (lambda app: app["tasksRunning"] == 2
                  and not before & {t["id"] for t in app["tasks"]})(msim.app("/many")))
    assert msim.app("/many")["instances"] == 2
