#!/usr/bin/env python3
"""Benchmark P3: dependency wake-up latency of the runner (watches vs the ancestor's polling).

Against a real ZooKeeper (Debian's, started on an ephemeral port) with least-privilege ACLs:
service ``api`` has a command ``sync`` that depends on ``db/create``.  For every trial a new
generation is published, the dependent runner (its own session, like a real task) starts
``api/sync`` and blocks in its dependency wait; once its ``waiting`` record is visible and a
random 0-20 ms has passed, another runner session marks ``db/create`` done.  Measured from
just before that write is issued:

* ``watch wake-up``: until :class:`DependencyWaiter` returns in the dependent runner;
* ``watch command start``: until the dependent command (``/bin/sh -c 'date ...'``) has
  started -- the runner has written its ``running`` record and forked/exec'ed the command,
  which stamps its own wall-clock time;
* ``ancestor polling``: the old runner's loop (read the state; if not done,
  ``sleep(ceil(20 / (1 + queue)))``, queue = 1: the daemon always waits behind the command)
  on the same ZooKeeper and records.  Its time unit is scaled from 1 s to ``--unit`` seconds
  (default 0.01, so the 10 s poll period becomes 100 ms); the real-time equivalent is the
  scaled result divided by the unit (the ZooKeeper read itself is not scaled, so that
  estimate is slightly pessimistic for the ancestor).

Usage: .venv/bin/python benchmarks/runner_wakeup.py [--trials 200] [--poll-trials 50]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kolla_mesos import zkpaths  # noqa: E402
from kolla_mesos.runner import commands, identity, status  # noqa: E402
from kolla_mesos.runner.process import Children  # noqa: E402
from kolla_mesos.runner.session import Session  # noqa: E402
from kolla_mesos.runner.store import GenerationReader  # noqa: E402
from kolla_mesos.testing.runner import ServiceFiles, TestDeployment, wait_node  # noqa: E402
from kolla_mesos.testing.zookeeper import ZookeeperServer  # noqa: E402


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def services(stamp_file: str, key: str) -> list[ServiceFiles]:
    """db/create and api/sync (depends on db/create) with per-trial inputs hashes."""
    db = {"project": "bench", "service": "db", "commands": {
        "create": {"command": ["true"], "job": True, "inputs_hash": f"create-{key}"}}}
    api = {"project": "bench", "service": "api", "dependency_timeout": 30, "commands": {
        "sync": {"command": [f"date +%s.%N > {stamp_file}"], "shell": True, "job": True,
                 "inputs_hash": f"sync-{key}", "dependencies": ["db/create"]}}}
    return [ServiceFiles(db), ServiceFiles(api)]


def watch_trial(dep: TestDeployment, waiter_session: Session, marker: Session, number: int,
                workdir: str) -> tuple[float, float]:
    """One trial of the runner's watch-based wait: (wake-up, command start) in seconds."""
    stamp = os.path.join(workdir, f"stamp-{number}")
    dep.publish(number, services(stamp, str(number)))
    reader = GenerationReader(waiter_session, number)
    defn = reader.require_definition("bench", "api")
    runner = commands.CommandRunner(waiter_session, reader, defn, "host-api", workdir,
                                    {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                                    Children())
    woke: list[float] = []
    original = runner.waiter.wait

    def timed_wait(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        woke.append(time.time())

    runner.waiter.wait = timed_wait  # type: ignore[method-assign]
    thread = threading.Thread(target=runner.run, args=(defn.command("sync"),))
    thread.start()
    record = zkpaths.status(dep.root, dep.deployment, "api", "sync", f"sync-{number}",
                            "host-api")
    wait_node(dep.client, record, lambda rec: bool(rec) and rec["state"] == "waiting")
    time.sleep(random.uniform(0, 0.02))  # random phase, as in a real deployment
    book = status.StatusBook(marker, "host-db", number)
    t0 = time.time()
    book.write("db", "create", f"create-{number}", status.DONE, exit_code=0)
    thread.join(30)
    with open(stamp) as handle:
        started = float(handle.read())
    return woke[0] - t0, started - t0


def polling_trial(dep: TestDeployment, poller: Session, marker: Session, number: int,
                  unit: float, queue: int) -> float:
    """One trial of the ancestor's polling loop (scaled time unit); wake-up in seconds."""
    key = f"poll-{number}"
    path = zkpaths.status(dep.root, dep.deployment, "db", "create", key, "host-db")
    woke: list[float] = []
    ready = threading.Event()

    def poll() -> None:
        ready.set()
        while True:
            done = poller.get_json(path)
            if done and done.get("state") == status.DONE:
                woke.append(time.time())
                return
            time.sleep(math.ceil(20 / (1 + queue)) * unit)

    thread = threading.Thread(target=poll)
    thread.start()
    ready.wait()
    time.sleep(random.uniform(0, math.ceil(20 / (1 + queue)) * unit))
    book = status.StatusBook(marker, "host-db", number)
    t0 = time.time()
    book.write("db", "create", key, status.DONE, exit_code=0)
    thread.join(30)
    return woke[0] - t0


def summary(name: str, values: list[float], scale: float = 1.0) -> dict[str, Any]:
    """p50/p99/max in milliseconds (divided by ``scale`` for the real-time equivalent)."""
    ms = [v * 1000 / scale for v in values]
    return {"name": name, "trials": len(ms), "p50_ms": round(statistics.median(ms), 2),
            "p99_ms": round(percentile(ms, 99), 2), "max_ms": round(max(ms), 2)}


def main() -> None:
    """Run both variants and print a table and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--poll-trials", type=int, default=50)
    parser.add_argument("--unit", type=float, default=0.01,
                        help="seconds standing for the ancestor's 1 s sleep unit")
    parser.add_argument("--queue", type=int, default=1)
    args = parser.parse_args()
    with ZookeeperServer() as server, tempfile.TemporaryDirectory() as workdir:
        dep = TestDeployment(server.hosts, "/bench")
        creds = dep.write_credentials(workdir)

        def session(host: str, svc: str) -> Session:
            env = dep.env(creds, "bench", svc, host, KOLLA_COMMAND="x")
            return Session.connect(identity.from_env(env))

        waiter, marker = session("host-api", "api"), session("host-db", "db")
        wake, start = [], []
        for number in range(1, args.trials + 1):
            w, s = watch_trial(dep, waiter, marker, number, workdir)
            wake.append(w)
            start.append(s)
        polls = [polling_trial(dep, waiter, marker, n, args.unit, args.queue)
                 for n in range(1, args.poll_trials + 1)]
        for sess in (waiter, marker):
            sess.close()
        dep.close()
    period = math.ceil(20 / (1 + args.queue))
    rows = [summary("watch wake-up", wake), summary("watch command start", start),
            summary(f"ancestor polling (scaled, {period} x {args.unit:g} s)", polls),
            summary(f"ancestor polling (real-time equivalent, {period} s)", polls, args.unit)]
    for row in rows:
        print(f"{row['name']:<52} n={row['trials']:<4} p50 {row['p50_ms']:>9.2f} ms  "
              f"p99 {row['p99_ms']:>9.2f} ms  max {row['max_ms']:>9.2f} ms")
    ratio = statistics.median(polls) / statistics.median(wake)
    print(f"scaled polling p50 / watch wake-up p50 = {ratio:.0f}x "
          f"(real-time: {ratio / args.unit:.0f}x)")
    print(json.dumps({"rows": rows}, sort_keys=True))


if __name__ == "__main__":
    main()
