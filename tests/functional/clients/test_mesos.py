"""The Mesos client against the simulator's master and agent over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mesos_sim.simulator import Simulator

from kolla_mesos import errors
from kolla_mesos.clients.chronos import ChronosClient
from kolla_mesos.clients.mesos import READ_CAP, MesosClient

# 200 000 bytes of numbered lines on stdout: more than three 64 KiB reads
LINES = 20_000
SCRIPT = f"python3 -c \"import sys; [sys.stdout.write('%09d\\n' % i) for i in range({LINES})]\""


@pytest.fixture
def ran_job(sim: Simulator) -> Iterator[MesosClient]:
    mesos = MesosClient(sim.mesos_url, timeout=10)
    chronos = ChronosClient(sim.chronos_url, timeout=10, poll_interval=0.1)
    try:
        chronos.add_job({"name": "mt-writer", "command": SCRIPT, "owner": "", "retries": 0,
                         "schedule": "R1//PT24H", "cpus": 0.01, "mem": 16})
        chronos.wait_for_jobs(["mt-writer"], 60)
        yield mesos
    finally:
        chronos.close()
        mesos.close()


def test_state_and_find_tasks(ran_job: MesosClient) -> None:
    state = ran_job.state()
    names = {fw["name"] for fw in state["frameworks"]}
    assert {"chronos", "marathon"} <= names
    tasks = ran_job.find_tasks(framework="chronos", name="ChronosTask:mt-writer")
    assert len(tasks) == 1
    assert tasks[0]["state"] == "TASK_FINISHED"
    assert tasks[0]["framework_name"] == "chronos"
    assert ran_job.find_tasks(framework="chronos", task_id=":mt-writer:") == tasks
    assert ran_job.find_tasks(framework="marathon", name="ChronosTask:mt-writer") == []
    assert ran_job.find_tasks(framework="chronos", name="ChronosTask:mt-writer",
                              completed=False) == []


def test_sandbox_and_reads(ran_job: MesosClient) -> None:
    task = ran_job.find_tasks(framework="chronos", name="ChronosTask:mt-writer")[0]
    agent, directory = ran_job.sandbox(task)
    assert agent.startswith("http://127.0.1.")
    path = f"{directory}/stdout"
    size = ran_job.file_size(agent, path)
    assert size == LINES * 10
    first, offset = ran_job.read_file(agent, path, 0, 20)
    assert (first, offset) == ("000000000\n000000001\n", 0)
    capped, _ = ran_job.read_file(agent, path, 0, -1)
    assert len(capped) == READ_CAP
    middle = ran_job.read(agent, path, 10 * 12_345, 30)
    assert middle == "000012345\n000012346\n000012347\n"
    whole = ran_job.task_log(task, "stdout")
    assert whole == "".join(f"{i:09d}\n" for i in range(LINES))
    assert ran_job.task_log(task, "stdout", tail=20) == "000019998\n000019999\n"
    assert ran_job.task_log(task, "stderr") == ""
    assert ran_job.log_location(task) == f"{directory}/stderr on agent {agent}"


def test_errors(ran_job: MesosClient) -> None:
    task = ran_job.find_tasks(framework="chronos", name="ChronosTask:mt-writer")[0]
    agent, directory = ran_job.sandbox(task)
    with pytest.raises(errors.NotFoundError):
        ran_job.read_file(agent, "/etc/passwd")
    with pytest.raises(errors.NotFoundError, match="not known"):
        ran_job.agent_url("no-such-agent")
    with pytest.raises(errors.NotFoundError, match="No sandbox"):
        ran_job.sandbox({**task, "id": "ct:0:0:nothing:"})
    with pytest.raises(ValueError):
        ran_job.task_log(task, "secrets")
