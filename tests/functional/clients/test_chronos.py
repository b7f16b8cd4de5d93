"""The Chronos client against the simulator over real HTTP (3.x and 2.x API prefixes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mesos_sim.simulator import Simulator

from kolla_mesos import errors
from kolla_mesos.clients.chronos import ChronosClient, JobProgress
from kolla_mesos.clients.mesos import MesosClient
from kolla_mesos.testing.waiting import wait_for

WAIT = 60.0
FUTURE = "R1/2099-01-01T00:00:00Z/PT24H"


@pytest.fixture
def mesos(sim: Simulator) -> Iterator[MesosClient]:
    client = MesosClient(sim.mesos_url, timeout=10)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def chronos(sim: Simulator, mesos: MesosClient) -> Iterator[ChronosClient]:
    client = ChronosClient(sim.chronos_url, timeout=10, deadline=10, mesos=mesos,
                           poll_interval=0.1)
    try:
        yield client
    finally:
        client.close()


def job(name: str, command: str, **kw: Any) -> dict[str, Any]:
    body = {"name": name, "command": command, "owner": "ops@example.com", "retries": 0,
            "cpus": 0.01, "mem": 16, "disabled": False, "schedule": "R1//PT24H"}
    body.update(kw)
    if "parents" in kw:
        body.pop("schedule")
    return body


def wait_state(chronos: ChronosClient, name: str, predicate: Any) -> dict[str, Any]:
    """Poll the summary (Chronos has no event stream) until ``predicate`` holds."""
    return wait_for(lambda: next((e for e in chronos.summary()
                                  if e["name"] == name and predicate(e)), None),
                    WAIT, f"job {name} to reach the expected state", interval=0.05)


def test_detects_v3_prefix(chronos: ChronosClient) -> None:
    assert chronos.prefix == "/v1/scheduler"
    assert chronos.is_v3


def test_one_shot_and_dependent_jobs_succeed(chronos: ChronosClient) -> None:
    reports: list[dict[str, JobProgress]] = []
    # Chronos fires a child only when a parent succeeds after the child exists, so the
    # parent is held back (future schedule) until its child is registered, then run.
    chronos.add_job(job("ct-create-db", "echo created", schedule=FUTURE))
    chronos.add_job(job("ct-db-sync", "echo synced", parents=["ct-create-db"]))
    chronos.run_job("ct-create-db")
    final = chronos.wait_for_jobs(["ct-create-db", "ct-db-sync"], WAIT, reports.append)
    assert {n: p.status for n, p in final.items()} == {"ct-create-db": "success",
                                                        "ct-db-sync": "success"}
    assert final["ct-db-sync"].success_count == 1
    assert reports and reports[-1] == final
    assert chronos.get_job("ct-db-sync")["parents"] == ["ct-create-db"]
    assert {j["name"] for j in chronos.list_jobs()} == {"ct-create-db", "ct-db-sync"}
    assert [j["name"] for j in chronos.search(name="db-sync")] == ["ct-db-sync"]
    summary = {s["name"]: s for s in chronos.summary()}
    assert summary["ct-create-db"]["status"] == "success"
    assert ("POST", "/v1/scheduler/dependency") in chronos.writes


def test_failed_job_stops_the_wait_with_its_log_location(
        chronos: ChronosClient, mesos: MesosClient) -> None:
    chronos.add_job(job("ct-broken", "echo 'cannot reach database' >&2; exit 2",
                        schedule=FUTURE))
    chronos.add_job(job("ct-after", "echo never", parents=["ct-broken"]))
    chronos.run_job("ct-broken")
    with pytest.raises(errors.DeployFailed, match="Chronos job ct-broken failed") as info:
        chronos.wait_for_jobs(["ct-broken", "ct-after"], WAIT)
    message = str(info.value)
    assert "/stderr on agent http://" in message
    tasks = mesos.find_tasks(framework="chronos", name="ChronosTask:ct-broken")
    assert tasks and "cannot reach database" in mesos.task_log(tasks[-1], "stderr")
    _, directory = mesos.sandbox(tasks[-1])
    assert directory in message


def test_errors(chronos: ChronosClient) -> None:
    with pytest.raises(errors.NotFoundError, match="not found"):
        chronos.get_job("ct-missing")
    with pytest.raises(errors.NotFoundError):
        chronos.delete_job("ct-missing")
    with pytest.raises(errors.InvalidDefinitionError) as info:
        chronos.add_job(job("ct bad name", "true"))
    assert info.value.details[0][0] == "name"
    with pytest.raises(errors.InvalidDefinitionError) as info:
        chronos.add_job(job("ct-bad-schedule", "true", schedule="every day"))
    assert info.value.details[0][0] == "schedule"
    with pytest.raises(errors.InvalidDefinitionError, match="'name'"):
        chronos.add_job({"command": "true"})


def test_run_now_kill_and_delete(chronos: ChronosClient) -> None:
    chronos.add_job(job("ct-later", "echo ran", schedule=FUTURE))
    chronos.run_job("ct-later")
    assert chronos.wait_for_jobs(["ct-later"], WAIT)["ct-later"].status == "success"
    chronos.add_job(job("ct-long", "sleep 600", schedule=FUTURE))
    chronos.run_job("ct-long")
    wait_state(chronos, "ct-long", lambda s: "running" in s["state"])
    chronos.kill_tasks("ct-long")
    entry = wait_state(chronos, "ct-long", lambda s: s["state"] == "idle")
    assert entry["status"] == "fresh"  # a kill records no error
    chronos.delete_job("ct-long")
    with pytest.raises(errors.NotFoundError):
        chronos.get_job("ct-long")


def test_legacy_prefix(sim: Simulator) -> None:
    client = ChronosClient(sim.chronos_url, timeout=10, api_prefix="/scheduler",
                           poll_interval=0.1)
    try:
        assert not client.is_v3
        client.add_job(job("ct-legacy", "echo old"))
        assert client.get_job("ct-legacy")["name"] == "ct-legacy"
        assert client.wait_for_jobs(["ct-legacy"], WAIT)["ct-legacy"].status == "success"
        assert client.summary()[0]["status"] == "success"
        with pytest.raises(errors.NotFoundError):
            client.get_job("ct-nope")
    finally:
        client.close()


def test_wait_deadline_names_pending_jobs(chronos: ChronosClient) -> None:
    chronos.add_job(job("ct-slow", "sleep 600"))
    with pytest.raises(errors.DeadlineExceeded, match="ct-slow"):
        chronos.wait_for_jobs(["ct-slow"], 0.5)
    chronos.kill_tasks("ct-slow")


def test_child_registered_after_its_parent_ran_is_started(chronos: ChronosClient) -> None:
    chronos.add_job(job("ct-early", "echo parent"))
    assert chronos.wait_for_jobs(["ct-early"], WAIT)["ct-early"].status == "success"
    chronos.add_job(job("ct-late-child", "echo child", parents=["ct-early"]))
    final = chronos.wait_for_jobs(["ct-early", "ct-late-child"], WAIT, stranded_grace=0.2)
    assert final["ct-late-child"].status == "success"
    assert ("PUT", "/v1/scheduler/job/ct-late-child") in chronos.writes
