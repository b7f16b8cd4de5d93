"""Nothing the simulator spawns is left as a zombie: each task's first process reaps the
task's orphans (``task_init.py``), over many restarts of a real Marathon app."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests
from marathon_helpers import Sim, marathon_of

from mesos_sim.reaper import marked_processes, proc_stat
from mesos_sim.simulator import Simulator
from mesos_sim.testing import wait_for

RESTARTS = 100
#: Leaves an orphan that exits while the task runs (re-parented, then a zombie unless someone
#: reaps it), a daemon that double-forks, and fails so that Marathon restarts it at once.
ORPHANS = "(sleep 0.01 &); (sh -c 'sleep 0.02 & exit 0' &); sleep 0.05; exit 1"


@pytest.fixture
def msim(sim: Simulator) -> Iterator[Sim]:
    with marathon_of(sim) as running:
        yield running


def zombies(parents: set[int]) -> set[int]:
    """Zombies whose parent is one of ``parents``."""
    pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return {pid for pid in pids
            if (stat := proc_stat(pid)) is not None and stat[0] == "Z" and stat[1] in parents}


def simulator_and_tasks(msim: Sim) -> set[int]:
    """The simulator's own process and every live process of its tasks."""
    return {os.getpid(), *marked_processes(msim.cluster.master_id)}


@pytest.mark.slow
def test_no_zombie_after_100_task_restarts(msim: Sim) -> None:
    before = zombies(simulator_and_tasks(msim))
    app = {"id": "/orphans", "cmd": ORPHANS, "cpus": 0.01, "mem": 8, "backoffSeconds": 0}
    assert requests.post(f"{msim.url}/v2/apps", json=app, timeout=10).status_code == 201

    def failures() -> int:
        return len([e for e in msim.recorder.of("status_update_event")
                    if e["appId"] == "/orphans" and e["taskStatus"] == "TASK_FAILED"])

    msim.recorder.wait_for(lambda _e: failures() >= RESTARTS, timeout=180)
    deleted = requests.delete(f"{msim.url}/v2/apps/orphans", timeout=10)
    msim.deployment_done(deleted.json()["deploymentId"])
    assert marked_processes(msim.cluster.master_id) == []
    # a process that died a moment ago may still wait for its reaper: allow that moment only
    wait_for(lambda: not (zombies(simulator_and_tasks(msim)) - before), timeout=5,
             what="no zombie left by the restarted tasks")
