"""The simulated Marathon driven by the ``marathon`` client library from PyPI."""

from __future__ import annotations

import collections
import collections.abc
import threading
from collections.abc import Iterator

import pytest
from marathon import MarathonClient
from marathon.models import MarathonApp, MarathonGroup, MarathonHealthCheck
from marathon_helpers import HTTP_SERVER_CMD, Sim, marathon_of

from mesos_sim.simulator import Simulator


@pytest.fixture
def msim(sim: Simulator) -> Iterator[Sim]:
    with marathon_of(sim) as running:
        yield running


def ids(client: MarathonClient, app_id: str) -> set[str]:
    return {t.id for t in client.list_tasks(app_id)}


def test_app_lifecycle_with_the_marathon_client(msim: Sim) -> None:
    client = MarathonClient(msim.url)
    assert client.get_info().name == "marathon"
    created = client.create_app("trivial", MarathonApp(cmd="exec sleep 300", mem=8, cpus=0.01,
                                                       instances=3))
    assert created.id == "/trivial" and created.instances == 3
    deployments = client.list_deployments()
    assert len(deployments) == 1 and deployments[0].affected_apps == ["/trivial"]
    msim.deployment_done(deployments[0].id)
    app = client.get_app("trivial", embed_tasks=True)
    assert app.tasks_running == 3 and len(app.tasks) == 3 and app.deployments == []
    assert [a.id for a in client.list_apps(embed_counts=True)] == ["/trivial"]

    scaled = client.scale_app("trivial", instances=5)
    msim.deployment_done(scaled["deploymentId"])
    before = ids(client, "/trivial")
    assert len(before) == 5

    victim = sorted(before)[0]
    result = client.kill_task("trivial", victim, scale=True)
    msim.deployment_done(result["deploymentId"])
    assert client.get_app("trivial").instances == 4
    assert ids(client, "/trivial") == before - {victim}

    pair = sorted(before - {victim})[:2]
    assert client.kill_given_tasks(pair, scale=False)

    def states(state: str) -> set[str]:
        return {x["taskId"] for x in msim.recorder.of("status_update_event")
                if x["taskStatus"] == state}

    msim.recorder.wait_for(lambda e: len(states("TASK_RUNNING") - before) >= 2
                           and set(pair) <= states("TASK_KILLED"))
    after = ids(client, "/trivial")
    assert len(after) == 4 and not after & set(pair)

    restarted = client.restart_app("trivial")
    msim.deployment_done(restarted["deploymentId"])
    assert not ids(client, "/trivial") & after

    updated = client.update_app("trivial", MarathonApp(cmd="exec sleep 301", mem=8, cpus=0.01,
                                                       instances=1))
    msim.deployment_done(updated["deploymentId"])
    app = client.get_app("trivial")
    assert app.cmd == "exec sleep 301" and app.instances == 1
    assert len(client.list_versions("trivial")) >= 4

    deleted = client.delete_app("trivial", force=True)
    msim.deployment_done(deleted["deploymentId"])
    assert client.list_apps() == []
    assert client.list_queue() == []


def test_groups_and_health_with_the_marathon_client(msim: Sim,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # marathon 0.13.0 serialises nested objects through collections.Iterable (gone in 3.10).
    monkeypatch.setattr(collections, "Iterable", collections.abc.Iterable, raising=False)
    client = MarathonClient(msim.url)
    check = MarathonHealthCheck(protocol="HTTP", path="/", interval_seconds=1,
                                grace_period_seconds=10, timeout_seconds=2,
                                max_consecutive_failures=3)
    group = MarathonGroup(id="/grp", apps=[
        MarathonApp(id="web", cmd=HTTP_SERVER_CMD, mem=16, cpus=0.01, instances=2,
                    health_checks=[check]),
        MarathonApp(id="worker", cmd="exec sleep 300", mem=8, cpus=0.01,
                    dependencies=["web"]),
    ])
    result = client.create_group(group)
    msim.deployment_done(result["deploymentId"])
    fetched = client.get_group("/grp")
    assert sorted(a.id for a in fetched.apps) == ["/grp/web", "/grp/worker"]
    web = client.get_app("/grp/web")
    assert web.tasks_healthy == 2 and web.tasks[0].health_check_results[0].alive
    assert client.get_app("/grp/worker").dependencies == ["/grp/web"]
    deleted = client.delete_group("/grp", force=True)
    msim.deployment_done(deleted["deploymentId"])
    assert client.list_apps() == [] and client.list_tasks() == []


def test_event_stream_with_the_marathon_client(msim: Sim) -> None:
    client = MarathonClient(msim.url)
    received: list[str] = []
    attached = threading.Event()
    seen = threading.Event()

    def reader() -> None:
        for raw in client.event_stream(raw=True, event_types=["event_stream_attached",
                                                              "status_update_event"]):
            received.append(raw)
            attached.set()
            if "TASK_RUNNING" in raw:
                seen.set()
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    assert attached.wait(30)
    created = client.create_app("streamed", MarathonApp(cmd="exec sleep 300", mem=8,
                                                        cpus=0.01))
    assert created.id == "/streamed"
    assert seen.wait(30), received
    thread.join(timeout=5)
    assert '"eventType":"event_stream_attached"' in received[0]
    assert any('"appId":"/streamed"' in r for r in received[1:])
