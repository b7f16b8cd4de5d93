"""Deployments of the simulated Marathon: rolling upgrades, health-check relaunches, backoff,
dependency layers, group updates that restart only changed apps, rollback and cancel."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from marathon_helpers import TIMEOUT, Sim, http_app, marathon_of

from mesos_sim.simulator import Simulator
from mesos_sim.testing import wait_for


@pytest.fixture
def msim(sim: Simulator) -> Iterator[Sim]:
    with marathon_of(sim) as running:
        yield running


def deploy(msim: Sim, method: str, path: str, body: Any) -> str:
    response = requests.request(method, f"{msim.url}{path}", json=body, timeout=10)
    assert response.status_code in (200, 201), response.text
    return str(response.json().get("deploymentId")
               or response.headers["Marathon-Deployment-Id"])


def task_ids(msim: Sim, app_id: str) -> set[str]:
    return {t["id"] for t in msim.app(app_id)["tasks"]}


@pytest.mark.parametrize(("min_health", "over"), [(0.5, 0.0), (1.0, 0.0)])
def test_rolling_upgrade_respects_minimum_health_capacity(msim: Sim, min_health: float,
                                                          over: float) -> None:
    instances = 4
    app = http_app("/roll", instances, upgradeStrategy={
        "minimumHealthCapacity": min_health, "maximumOverCapacity": over})
    msim.deployment_done(deploy(msim, "POST", "/v2/apps", app))
    old = task_ids(msim, "/roll")
    assert msim.app("/roll")["tasksHealthy"] == instances

    upgrade = deploy(msim, "PUT", "/v2/apps/roll", {"env": {"GENERATION": "2"}})
    samples: list[tuple[int, int]] = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        state = msim.app("/roll")
        running = [t for t in state["tasks"] if t["state"] == "TASK_RUNNING"]
        healthy = [t for t in running if t.get("healthCheckResults")
                   and all(h["alive"] for h in t["healthCheckResults"])]
        samples.append((len(healthy), len(running)))
        if not state["deployments"]:
            break
        time.sleep(0.02)
    final = msim.deployment_done(upgrade, timeout=1)
    assert final["eventType"] == "deployment_success"
    min_healthy = math.ceil(instances * min_health)
    max_capacity = math.floor(instances * (1 + over))
    if min_healthy == max_capacity:
        max_capacity += 1
    assert len(samples) > 3
    assert min(h for h, _ in samples) >= min_healthy, samples
    assert max(r for _, r in samples) <= max_capacity, samples
    if min_health < 1:
        assert min(h for h, _ in samples) < instances, "the upgrade never killed early"
    new = task_ids(msim, "/roll")
    assert len(new) == instances and not new & old
    assert msim.app("/roll")["tasksHealthy"] == instances


def test_failing_health_check_kills_and_relaunches_the_task(msim: Sim) -> None:
    app = {"id": "/flaky", "cmd": "touch ok && exec sleep 300", "cpus": 0.01, "mem": 8,
           "healthChecks": [{"protocol": "COMMAND", "command": {"value": "test -f ok"},
                             "intervalSeconds": 1, "gracePeriodSeconds": 1,
                             "maxConsecutiveFailures": 2, "timeoutSeconds": 2}]}
    msim.deployment_done(deploy(msim, "POST", "/v2/apps", app))
    (first,) = task_ids(msim, "/flaky")
    task = msim.cluster.task(first)
    assert task is not None
    (task.sandbox / "ok").unlink()
    killed = msim.recorder.wait_for(lambda e: e["eventType"] == "unhealthy_instance_kill_event")
    assert killed["taskId"] == first
    msim.recorder.wait_for(lambda e: e["eventType"] == "health_status_changed_event"
                           and e["alive"] and not first.startswith(e["instanceId"]))
    state = msim.app("/flaky")
    assert first not in task_ids(msim, "/flaky") and state["tasksHealthy"] == 1
    assert state["lastTaskFailure"]["taskId"] == first
    assert state["lastTaskFailure"]["state"] == "TASK_KILLED"
    failures = [e for e in msim.recorder.of("failed_health_check_event") if e["taskId"] == first]
    assert len(failures) >= 2


def test_exiting_task_is_relaunched_with_growing_backoff(msim: Sim) -> None:
    app = {"id": "/crash", "cmd": "exit 1", "cpus": 0.01, "mem": 8, "backoffSeconds": 1,
           "backoffFactor": 20, "maxLaunchDelaySeconds": 300}
    requests.post(f"{msim.url}/v2/apps", json=app, timeout=10).raise_for_status()

    def failures() -> list[dict[str, Any]]:
        return [e for e in msim.recorder.of("status_update_event")
                if e["appId"] == "/crash" and e["taskStatus"] == "TASK_FAILED"]

    def queue_delay() -> int:
        items = requests.get(f"{msim.url}/v2/queue", timeout=10).json()["queue"]
        return int(items[0]["delay"]["timeLeftSeconds"]) if items else 0

    msim.recorder.wait_for(lambda e: len(failures()) >= 2)
    assert failures()[0]["taskId"] != failures()[1]["taskId"]
    assert "exited with status 1" in failures()[0]["message"]
    long_delay = wait_for(queue_delay)
    assert long_delay > 1, "the second failure did not grow the delay"
    assert msim.app("/crash")["lastTaskFailure"]["state"] == "TASK_FAILED"
    reset = requests.delete(f"{msim.url}/v2/queue/crash/delay", timeout=10)
    assert reset.status_code == 204
    msim.recorder.wait_for(lambda e: len(failures()) >= 3, timeout=long_delay - 1)


def group_body(web_env: dict[str, str] | None = None) -> dict[str, Any]:
    return {"id": "/stack", "apps": [
        http_app("db"),
        http_app("api", dependencies=["db"]),
        http_app("web", dependencies=["/stack/api"], env=web_env or {}),
    ]}


def test_group_with_dependencies_deploys_in_layers(msim: Sim) -> None:
    created = requests.post(f"{msim.url}/v2/groups", json=group_body(), timeout=10)
    assert created.status_code == 201
    deployment_id = created.json()["deploymentId"]
    plan = next(d for d in requests.get(f"{msim.url}/v2/deployments", timeout=10).json()
                if d["id"] == deployment_id)
    assert [[(a["action"], a["app"]) for a in s["actions"]] for s in plan["steps"]] == [
        [("StartApplication", "/stack/api"), ("StartApplication", "/stack/db"),
         ("StartApplication", "/stack/web")],
        [("ScaleApplication", "/stack/db")], [("ScaleApplication", "/stack/api")],
        [("ScaleApplication", "/stack/web")]]
    assert msim.deployment_done(deployment_id)["eventType"] == "deployment_success"
    order = [e for e in msim.recorder.events
             if (e["eventType"] == "status_update_event" and e["taskStatus"] == "TASK_STAGING")
             or (e["eventType"] == "health_status_changed_event" and e["alive"])]
    sequence = [(e["eventType"][:6], e["appId"]) for e in order]
    assert sequence == [("status", "/stack/db"), ("health", "/stack/db"),
                        ("status", "/stack/api"), ("health", "/stack/api"),
                        ("status", "/stack/web"), ("health", "/stack/web")]
    group = requests.get(f"{msim.url}/v2/groups/stack", timeout=10).json()
    assert [a["id"] for a in group["apps"]] == ["/stack/api", "/stack/db", "/stack/web"]
    assert "tasksRunning" not in group["apps"][0]
    counted = requests.get(f"{msim.url}/v2/groups?embed=group.groups&embed=group.apps"
                           "&embed=group.apps.counts", timeout=10).json()
    assert counted["groups"][0]["apps"][0]["tasksHealthy"] == 1


def test_group_put_restarts_only_changed_apps(msim: Sim) -> None:
    msim.deployment_done(deploy(msim, "POST", "/v2/groups", group_body()))
    before = {a: task_ids(msim, f"/stack/{a}") for a in ("db", "api", "web")}
    versions = {a: msim.app(f"/stack/{a}")["version"] for a in ("db", "api", "web")}
    dry = requests.put(f"{msim.url}/v2/groups/stack?dryRun=true",
                       json=group_body({"X": "1"}), timeout=10).json()
    assert dry == {"steps": [{"actions": [{"action": "RestartApplication",
                                           "app": "/stack/web"}]}]}
    update = deploy(msim, "PUT", "/v2/groups/stack", group_body({"X": "1"}))
    assert msim.deployment_done(update)["eventType"] == "deployment_success"
    for name in ("db", "api"):
        assert task_ids(msim, f"/stack/{name}") == before[name]
        assert msim.app(f"/stack/{name}")["version"] == versions[name]
    assert not task_ids(msim, "/stack/web") & before["web"]
    assert msim.app("/stack/web")["env"] == {"X": "1"}

    scaled = deploy(msim, "PUT", "/v2/groups/stack", {"scaleBy": 2})
    msim.deployment_done(scaled)
    assert [msim.app(f"/stack/{a}")["instances"] for a in ("db", "api", "web")] == [2, 2, 2]
    assert before["db"] < task_ids(msim, "/stack/db")

    removed = deploy(msim, "DELETE", "/v2/groups/stack", None)
    msim.deployment_done(removed)
    assert requests.get(f"{msim.url}/v2/apps/stack/db", timeout=10).status_code == 404
    assert requests.get(f"{msim.url}/v2/groups/stack", timeout=10).json() == {
        "message": "Group '/stack' does not exist"}


def never_healthy(app_id: str) -> dict[str, Any]:
    return {"id": app_id, "cmd": "exec sleep 300", "cpus": 0.01, "mem": 8,
            "healthChecks": [{"protocol": "COMMAND", "command": {"value": "false"},
                              "intervalSeconds": 1, "gracePeriodSeconds": 300}]}


def test_deleting_a_deployment_rolls_back_and_force_only_cancels(msim: Sim) -> None:
    first = deploy(msim, "POST", "/v2/apps", never_healthy("/stuck"))
    wait_for(lambda: msim.app("/stuck")["tasksRunning"] == 1)
    rollback = requests.delete(f"{msim.url}/v2/deployments/{first}", timeout=10)
    assert rollback.status_code == 200
    assert rollback.headers["Marathon-Deployment-Id"] == rollback.json()["deploymentId"]
    assert msim.deployment_done(first)["eventType"] == "deployment_failed"
    assert msim.deployment_done(rollback.json()["deploymentId"])["eventType"] == \
        "deployment_success"
    assert requests.get(f"{msim.url}/v2/apps/stuck", timeout=10).status_code == 404

    second = deploy(msim, "POST", "/v2/apps", never_healthy("/kept"))
    wait_for(lambda: msim.app("/kept")["tasksRunning"] == 1)
    cancel = requests.delete(f"{msim.url}/v2/deployments/{second}?force=true", timeout=10)
    assert (cancel.status_code, cancel.content) == (202, b"")
    assert msim.deployment_done(second)["eventType"] == "deployment_failed"
    assert requests.get(f"{msim.url}/v2/deployments", timeout=10).json() == []
    assert msim.app("/kept")["tasksRunning"] == 1


def test_event_stream_frames_and_filters(msim: Sim) -> None:
    refused = requests.get(f"{msim.url}/v2/events", timeout=10)
    assert refused.status_code == 405
    wanted = ["deployment_info", "deployment_step_success", "deployment_success"]
    with requests.get(f"{msim.url}/v2/events", params={"event_type": wanted}, stream=True,
                      headers={"Accept": "text/event-stream"}, timeout=10) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        raw = stream.raw
        deployment_id = deploy(msim, "POST", "/v2/apps", {"id": "/ev", "cmd": "exec sleep 300",
                                                          "cpus": 0.01, "mem": 8})
        frames: list[bytes] = []
        buffer = b""
        while not any(b"event: deployment_success" in f for f in frames):
            chunk = raw.read1(65536) if hasattr(raw, "read1") else raw.read(1)
            assert chunk, "the stream ended early"
            buffer += chunk
            while b"\r\n\r\n" in buffer:
                frame, buffer = buffer.split(b"\r\n\r\n", 1)
                frames.append(frame.lstrip(b"\r\n"))
    names = [f.split(b"\r\n")[0].decode() for f in frames]
    assert names == ["event: deployment_info", "event: deployment_step_success",
                     "event: deployment_info", "event: deployment_step_success",
                     "event: deployment_success"]
    last = frames[-1].split(b"\r\n")
    assert last[1].startswith(b"data: {") and deployment_id.encode() in last[1]


def queued(msim: Sim) -> list[dict[str, Any]]:
    """``GET /v2/queue``'s entries (with the per-agent reasons embedded)."""
    return list(requests.get(f"{msim.url}/v2/queue?embed=lastUnusedOffers",
                             timeout=10).json()["queue"])


def test_forced_deployments_keep_an_unplaceable_instance_queued(msim: Sim) -> None:
    # One agent, two UNIQUE instances: the second one waits in the queue.  Marathon keeps it
    # scheduled when a forced deployment supersedes the one that scaled the app, and when the
    # deployment is cancelled with force (the health gate's and an operator's rollback).
    app = {"id": "/uniq", "cmd": "exec sleep 300", "cpus": 0.01, "mem": 8, "instances": 2,
           "constraints": [["hostname", "UNIQUE"]]}
    first = deploy(msim, "POST", "/v2/apps", app)
    wait_for(lambda: [e["count"] for e in queued(msim)] == [1], what="the second instance queued")
    forced = requests.put(f"{msim.url}/v2/apps/uniq?force=true",
                          json={**app, "labels": {"gen": "2"}}, timeout=10)
    assert forced.status_code == 200
    second = forced.json()["deploymentId"]
    assert msim.deployment_done(first)["eventType"] == "deployment_failed"
    for _ in range(10):  # at no moment does the queue lose the app (the restart queues 2)
        entries = queued(msim)
        assert [e["app"]["id"] for e in entries] == ["/uniq"] and entries[0]["count"] >= 1
    cancel = requests.delete(f"{msim.url}/v2/deployments/{second}?force=true", timeout=10)
    assert cancel.status_code == 202
    msim.deployment_done(second)
    assert requests.get(f"{msim.url}/v2/deployments", timeout=10).json() == []
    entry = wait_for(lambda: (q := queued(msim)) and q[0]["count"] == 1 and q[0])
    assert entry["app"]["labels"] == {"gen": "2"}
    assert entry["lastUnusedOffers"][0]["reason"] == ["UnfulfilledConstraint"]
    assert msim.app("/uniq")["tasksRunning"] == 1 and msim.app("/uniq")["instances"] == 2


def test_restart_that_needs_an_extra_task_no_agent_can_take_shows_why(msim: Sim) -> None:
    # minimumHealthCapacity 0.5 keeps the one running instance until its replacement is
    # healthy; hostname UNIQUE on the only agent rejects that replacement.  The queue shows
    # it although instances == running tasks, with Marathon's reject funnel.
    app = {"id": "/one", "cmd": "exec sleep 300", "cpus": 0.01, "mem": 8, "instances": 1,
           "constraints": [["hostname", "UNIQUE"]],
           "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}}
    assert msim.deployment_done(deploy(msim, "POST", "/v2/apps", app))["eventType"] == \
        "deployment_success"
    assert queued(msim) == []
    restart = deploy(msim, "PUT", "/v2/apps/one", {**app, "env": {"GEN": "2"}})
    entry = wait_for(lambda: (q := queued(msim)) and q[0]["processedOffersSummary"][
        "processedOffersCount"] >= 2 and q[0])
    assert entry["app"]["id"] == "/one" and entry["app"]["env"] == {"GEN": "2"}
    assert entry["count"] == 1 and entry["role"] == "*"
    assert entry["delay"] == {"timeLeftSeconds": 0, "overdue": True}
    offers = entry["processedOffersSummary"]
    assert offers["unusedOffersCount"] == offers["processedOffersCount"] >= 2
    assert "lastUnusedOfferAt" in offers and "lastUsedOfferAt" not in offers
    last = {r["reason"]: (r["declined"], r["processed"])
            for r in offers["rejectSummaryLastOffers"]}
    assert last["UnfulfilledRole"] == (0, 1) and last["UnfulfilledConstraint"] == (1, 1)
    assert last["InsufficientCpus"] == (0, 0)
    attempt = {r["reason"]: r for r in offers["rejectSummaryLaunchAttempt"]}
    assert attempt["UnfulfilledConstraint"]["declined"] == offers["processedOffersCount"]
    assert entry["lastUnusedOffers"] == [{
        "offer": {"hostname": "agent1"}, "timestamp": offers["lastUnusedOfferAt"],
        "reason": ["UnfulfilledConstraint"]}]
    assert [d["id"] for d in requests.get(f"{msim.url}/v2/deployments",
                                          timeout=10).json()] == [restart]
    # the way out: a strategy that stops the old task before starting its replacement
    fixed = {**app, "env": {"GEN": "2"},
             "upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}}
    mended = requests.put(f"{msim.url}/v2/apps/one?force=true", json=fixed, timeout=10)
    assert msim.deployment_done(mended.json()["deploymentId"])["eventType"] == \
        "deployment_success"
    assert queued(msim) == [] and msim.app("/one")["tasksRunning"] == 1
