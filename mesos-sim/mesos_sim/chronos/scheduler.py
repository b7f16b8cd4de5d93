"""Chronos's scheduler in the simulator: job store, queue, launches, retries and dependents.

:class:`ChronosScheduler` holds the jobs (dicts as :mod:`mesos_sim.chronos.jobs` parses them)
and runs them as tasks of framework ``chronos`` on the :class:`Cluster`;
:mod:`mesos_sim.chronos.service` adds the HTTP API on top.  Semantics are described there.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from mesos_sim.chronos import jobs as cj
from mesos_sim.cluster import Cluster, StatusUpdate, Task, TaskSpec
from mesos_sim.cluster_model import TERMINAL_STATES
from mesos_sim.placement import NoPlacement, PlacementRequest

LOG = logging.getLogger(__name__)
FRAMEWORK = "chronos"


@dataclass
class _Run:
    name: str
    due_ms: int
    attempt: int
    arguments: str
    not_before: float
    scheduled: bool


def now_utc() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


class ChronosScheduler:
    """Chronos's job store and scheduler loop over a :class:`Cluster` (no HTTP)."""

    def __init__(self, cluster: Cluster, failure_retry: float = 60.0) -> None:
        self.cluster = cluster
        self.failure_retry = failure_retry
        self.framework = cluster.register_framework(FRAMEWORK, self._on_status)
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._jobs: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, dict[str, Any]] = {}  # C3: dependent jobs awaiting parents
        self._queue: list[_Run] = []
        self._running: dict[str, set[str]] = {}
        self._runs: dict[str, _Run] = {}
        self._parents_done: dict[str, set[str]] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chronos", daemon=True)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the scheduler loop."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and kill the running job tasks."""
        self._stopped.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for task in self.cluster.tasks(FRAMEWORK):
            self.cluster.kill(task.id, grace=0.0)

    def reset(self) -> None:
        """Forget every job (their tasks are killed by the caller's cluster reset)."""
        with self._lock:
            self._jobs.clear()
            self._pending.clear()
            self._queue.clear()
            self._running.clear()
            self._runs.clear()
            self._parents_done.clear()

    def _state(self, name: str) -> str:
        running = len(self._running.get(name, ()))
        if running:
            return f"{running} running"
        if any(run.name == name for run in self._queue):
            return "queued"
        return "idle"

    # --- scheduling --------------------------------------------------------------------------

    def _enqueue(self, name: str, attempt: int, arguments: str, not_before: float,
                 scheduled: bool, due_ms: int | None = None) -> None:
        if any(r.name == name for r in self._queue):
            return
        due = due_ms if due_ms is not None else int(time.time() * 1000)
        self._queue.append(_Run(name, due, attempt, arguments, not_before, scheduled))
        self._wake.notify_all()

    def _loop(self) -> None:
        with self._wake:
            while not self._stopped.is_set():
                try:
                    delay = self._round()
                except Exception:  # noqa: BLE001 - the scheduler thread must never die
                    LOG.exception("chronos scheduler round failed; retrying in 1 s")
                    delay = 1.0
                self._wake.wait(timeout=min(delay, 60.0))

    def _round(self) -> float:
        """One scheduler pass; returns seconds until something is due."""
        now = now_utc()
        moment = now.timestamp()
        for name, job in list(self._pending.items()):
            if all(p in self._jobs for p in job.get("parents", [])):
                self._jobs[name] = self._pending.pop(name)
        next_due = math.inf
        for name, job in self._jobs.items():
            if job["disabled"] or "schedule" not in job:
                continue
            parsed = cj.parse_schedule(job["schedule"], now)
            if parsed is None or parsed[0] == 0:
                continue
            start = parsed[1].timestamp()
            if start <= moment:
                self._enqueue(name, 0, " ".join(str(a) for a in job["arguments"]), moment,
                              scheduled=True, due_ms=int(start * 1000))
            else:
                next_due = min(next_due, start - moment)
        for run in list(self._queue):
            if run.not_before > moment:
                next_due = min(next_due, run.not_before - moment)
                continue
            target = self._jobs.get(run.name)
            if target is None or target["disabled"] or (self._running.get(run.name)
                                                        and not target["concurrent"]):
                self._queue.remove(run)
                continue
            try:
                launched = self._launch(target, run)
            except ValueError as exc:  # e.g. a duplicate task id: drop this run, keep going
                LOG.warning("chronos job %s could not be launched: %s", run.name, exc)
                self._queue.remove(run)
                continue
            if launched:
                self._queue.remove(run)
        if self._queue:
            next_due = min(next_due, 1.0)  # waiting for resources that others may free
        return next_due

    def _advance(self, job: dict[str, Any], now: dt.datetime) -> None:
        parsed = cj.parse_schedule(job["schedule"], now)
        if parsed is None:
            return
        repetitions, start, period = parsed
        period_text = job["schedule"].rsplit("/", 1)[1]
        if period <= 0:
            new_start = start
        else:
            steps = max(1, math.ceil((now - start).total_seconds() / period))
            new_start = start + dt.timedelta(seconds=steps * period)
        if repetitions == 1:
            new_start = start + dt.timedelta(seconds=period)
        remaining = repetitions - 1 if repetitions > 0 else repetitions
        job["schedule"] = cj.format_schedule(remaining, new_start, period_text)

    def _launch(self, job: dict[str, Any], run: _Run) -> bool:
        name = job["name"]
        request = PlacementRequest(group=f"chronos:{name}", cpus=job["cpus"], mem=job["mem"],
                                   disk=job["disk"],
                                   constraints=tuple(tuple(str(x) for x in c)
                                                     for c in job["constraints"]))
        placement = self.cluster.place(request)
        if isinstance(placement, NoPlacement):
            LOG.debug("chronos job %s waits for resources: %s", name, placement.message)
            return False
        task_id = f"ct:{run.due_ms}:{run.attempt}:{name}:{run.arguments}"
        now = now_utc()
        env = {str(e["name"]): str(e["value"]) for e in job["environmentVariables"]}
        env.update({
            "mesos_task_id": task_id, "CHRONOS_JOB_OWNER": job["owner"],
            "CHRONOS_JOB_NAME": name, "CHRONOS_RESOURCE_MEM": str(job["mem"]),
            "CHRONOS_RESOURCE_CPU": str(job["cpus"]), "CHRONOS_RESOURCE_DISK": str(job["disk"]),
            "CHRONOS_JOB_RUN_TIME": cj.format_time(now),
            "CHRONOS_JOB_RUN_ATTEMPT": str(run.attempt),
        })
        cmd: str | None = None
        args: list[str] | None = None
        if job["shell"]:
            cmd = job["command"] + (" " + run.arguments if run.arguments else "")
        else:
            args = [job["command"], *[str(a) for a in job["arguments"]]]
        if run.scheduled and "schedule" in job:
            self._advance(job, now)
        self._runs[task_id] = run
        self._running.setdefault(name, set()).add(task_id)
        spec = TaskSpec(task_id, FRAMEWORK, placement, request, cmd=cmd, args=args, env=env,
                        container=job["container"], name=f"ChronosTask:{name}")
        self.cluster.launch(spec)
        return True

    # --- task status -------------------------------------------------------------------------

    def _on_status(self, task: Task, update: StatusUpdate) -> None:
        # Decide on the update itself, not on task.active: a fast task may already have
        # finished when its TASK_RUNNING update is delivered.
        if update.state in TERMINAL_STATES:
            with self._wake:
                self._finished(task, update)
                self._wake.notify_all()

    def _finished(self, task: Task, update: StatusUpdate) -> None:
        run = self._runs.pop(task.id, None)
        if run is None:
            return
        self._running.get(run.name, set()).discard(task.id)
        job = self._jobs.get(run.name)
        if job is None:
            return
        if update.state == "TASK_FINISHED":
            self._succeeded(job)
        elif update.state in ("TASK_FAILED", "TASK_LOST", "TASK_ERROR"):
            previous_ok = not job["lastError"] or job["lastSuccess"] > job["lastError"]
            if run.attempt < job["retries"] and previous_ok:
                self._enqueue(run.name, run.attempt + 1, run.arguments,
                              time.time() + self.failure_retry, scheduled=False)
                return
            job["errorCount"] += 1
            job["errorsSinceLastSuccess"] += 1
            job["lastError"] = cj.format_time(now_utc())
            if job["softError"]:
                self._fire_children(job["name"])

    def _succeeded(self, job: dict[str, Any]) -> None:
        job["successCount"] += 1
        job["errorsSinceLastSuccess"] = 0
        job["lastSuccess"] = cj.format_time(now_utc())
        parsed = cj.parse_schedule(job.get("schedule", ""), now_utc())
        if parsed is not None and parsed[0] == 0:
            job["disabled"] = True
        self._fire_children(job["name"])

    def _fire_children(self, parent: str) -> None:
        for name, child in self._jobs.items():
            parents = child.get("parents")
            if not parents or parent not in parents:
                continue
            done = self._parents_done.setdefault(name, set())
            done.add(parent)
            if done >= set(parents):
                self._parents_done[name] = set()
                arguments = " ".join(str(a) for a in child["arguments"])
                self._enqueue(name, 0, arguments, time.time(), scheduled=False)
