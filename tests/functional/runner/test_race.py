"""30 runners racing one run_once command, 20 trials: exactly one execution per trial.

The runners are in-process threads, each with its own ZooKeeper session (its own
KazooClient, so its own ephemeral lock node), released together by a barrier.  This is
sound for the property under test -- mutual exclusion comes from ZooKeeper sessions, not from
processes -- and it keeps 600 runner starts within a few seconds.  Executions are counted
through a side-effect file the command appends to.
"""

from __future__ import annotations

import os
import threading

from kolla_mesos.runner import identity as identity_mod
from kolla_mesos.runner.app import Runner
from kolla_mesos.runner.session import Session
from kolla_mesos.testing.runner import TestDeployment
from tests.functional.runner.helpers import (  # noqa: F401
    PROJECT,
    fixture_rdep,
    fixture_rdir,
    service,
    sh,
)

RUNNERS = 30
TRIALS = 20


def test_run_once_races(rdep: TestDeployment, rdir: str) -> None:
    creds = rdep.write_credentials(rdir)
    for trial in range(1, TRIALS + 1):
        out = os.path.join(rdir, f"executions-{trial}")
        rdep.publish(trial, [service("db", commands={
            "sync": sh(f"echo $KOLLA_HOSTNAME >> {out}", job=True, run_once=True,
                       inputs_hash=f"trial-{trial}")})])
        barrier = threading.Barrier(RUNNERS, timeout=60)
        results: list[object] = []
        lock = threading.Lock()

        def one(index: int, trial: int = trial, barrier: threading.Barrier = barrier) -> None:
            env = rdep.env(creds, PROJECT, "db", f"host-{index:02d}", KOLLA_COMMAND="sync")
            ident = identity_mod.from_env(env)
            session = Session.connect(ident)
            try:
                runner = Runner(ident, session, cwd=rdir, task_env=env)
                barrier.wait()
                result: object = runner.run_job()
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                result = exc
            finally:
                session.close()
            with lock:
                results.append(result)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(RUNNERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert results == [0] * RUNNERS, f"trial {trial}: {results}"
        with open(out) as handle:
            executions = handle.read().split()
        assert len(executions) == 1, f"trial {trial}: ran on {executions}"
