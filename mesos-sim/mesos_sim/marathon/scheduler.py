"""Marathon's scheduler loop: launch, kill and relaunch tasks so every app has its instances.

One thread reconciles every app under one lock, woken by task status updates, health results,
new deployments and backoff timers.  It keeps ``target`` tasks per app (launching with backoff
after failures, killing the surplus by ``killSelection``), runs rolling restarts step by step
(:func:`restart_decision`) and lets :class:`~mesos_sim.marathon.deploy.DeploymentManager`
advance deployment steps.  Tasks run through a :class:`Backend` (the simulated cluster).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mesos_sim.marathon.events import EventBus
from mesos_sim.marathon.model import App, Root, service_ports, timestamp
from mesos_sim.marathon.queue import LaunchAttempt
from mesos_sim.marathon.tasks import (
    TERMINAL_STATES,
    AppRuntime,
    HealthResult,
    TaskRecord,
    new_task_ids,
    restart_decision,
)

LOG = logging.getLogger(__name__)
_TICK_SECONDS = 0.25


@dataclass(frozen=True)
class Launched:
    """Where a task was placed."""

    host: str
    agent_id: str
    address: str
    ports: tuple[int, ...]


@dataclass(frozen=True)
class Rejected:
    """No agent can take the task: one sentence and Marathon's reject funnel."""

    message: str
    summary: list[dict[str, Any]]
    reasons: dict[str, list[str]] = field(default_factory=dict)


class Backend(Protocol):
    """What the scheduler needs from the simulated cluster."""

    def launch(self, task_id: str, app: App) -> Launched | Rejected:
        """Place and start one task (its states reach :meth:`Scheduler.on_status`)."""

    def kill(self, task_id: str, grace_seconds: float) -> None:
        """SIGTERM the task, SIGKILL after the grace period; TASK_KILLED follows."""

    def exec_in_task(self, task_id: str, command: str, timeout: float) -> int:
        """Run ``command`` (shell) in the task's context; its exit code (124 = timeout)."""


def config_version(app: App) -> str:
    """The version whose change means new tasks (``versionInfo.lastConfigChangeAt``)."""
    return str((app.get("versionInfo") or {}).get("lastConfigChangeAt", app.get("version")))


class Scheduler:
    """Owns the task state of every app and the thread that reconciles it."""

    def __init__(self, backend: Backend, events: EventBus,
                 clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.events = events
        self.clock = clock
        self.lock = threading.RLock()
        self._wake = threading.Event()
        self._updates: queue.SimpleQueue[tuple[str, str, str]] = queue.SimpleQueue()
        self._pending: list[tuple[AppRuntime, TaskRecord, App]] = []
        self.root = Root(version=timestamp(clock()))
        self.runtimes: dict[str, AppRuntime] = {}
        self.tasks: dict[str, TaskRecord] = {}
        self.step_hook: Callable[[], None] = lambda: None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="marathon-scheduler",
                                        daemon=True)

    def start(self) -> None:
        """Start the reconcile thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop reconciling and kill every task Marathon started."""
        self._stopped.set()
        self._wake.set()
        self._thread.join(timeout=5)
        with self.lock:
            tasks = [t for t in self.tasks.values() if t.state not in TERMINAL_STATES]
        for task in tasks:
            try:
                self.backend.kill(task.id, 0.0)
            except Exception:  # noqa: BLE001 - best effort at shutdown
                LOG.debug("cannot kill %s at shutdown", task.id)

    def poke(self) -> None:
        """Wake the reconcile thread now."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(_TICK_SECONDS)
            self._wake.clear()
            try:
                self.run_round()
            except Exception:  # noqa: BLE001 - keep the scheduler alive, log the bug
                LOG.exception("marathon scheduler round failed")

    def run_round(self) -> None:
        """Apply queued status updates, advance deployments, reconcile every app."""
        with self.lock:
            self._drain_updates()
            self.step_hook()
            for app_id in list(self.runtimes):
                self._reconcile(self.runtimes[app_id])
            self._drain_updates()
        self._launch_pending()

    def _drain_updates(self) -> None:
        while True:
            try:
                task_id, state, message = self._updates.get_nowait()
            except queue.Empty:
                return
            self._apply_status(task_id, state, message)

    # --- reconciliation ----------------------------------------------------------------------

    def _reconcile(self, rt: AppRuntime) -> None:
        active = rt.active_tasks()
        if rt.removing:
            for task in active:
                self.kill_task(task, None)
            return
        if rt.restart_to is not None:
            version = config_version(rt.restart_to)
            old = [t for t in active if t.config_version != version]
            new = [t for t in active if t.config_version == version]
            kill, start = restart_decision(
                old, new, int(rt.restart_to["instances"]),
                rt.restart_to["upgradeStrategy"]["minimumHealthCapacity"],
                rt.restart_to["upgradeStrategy"]["maximumOverCapacity"],
                bool(rt.restart_to.get("healthChecks")))
            for task in kill:
                self.kill_task(task, None)
            self._launch(rt, start)
            return
        if len(active) < rt.target:
            self._launch(rt, rt.target - len(active))
        elif len(active) > rt.target:
            newest_first = rt.app.get("killSelection", "YOUNGEST_FIRST") == "YOUNGEST_FIRST"
            order = sorted(active, key=lambda t: t.staged_at, reverse=newest_first)
            for task in order[:len(active) - rt.target]:
                self.kill_task(task, None)
        else:
            rt.launch = None

    def _launch(self, rt: AppRuntime, count: int) -> None:
        """Queue ``count`` launches of ``rt`` for this round (none while backing off)."""
        if count <= 0:
            rt.launch = None
            return
        now = self.clock()
        if rt.launch is None:
            rt.launch = LaunchAttempt(since=now)
        rt.launch.count = count
        if now < rt.delay_until:
            return
        app = rt.restart_to or rt.app
        for _ in range(count):
            task_id, instance_id = new_task_ids(app["id"])
            task = TaskRecord(id=task_id, instance_id=instance_id, app_id=app["id"],
                              version=app["version"], config_version=config_version(app),
                              staged_at=now)
            task.service_ports = service_ports(app)
            task.health = [HealthResult(instance_id) for _ in app.get("healthChecks", [])]
            rt.tasks[task_id] = task
            self.tasks[task_id] = task
            self._pending.append((rt, task, app))

    def _launch_pending(self) -> None:
        """Start the tasks decided in the last round, without holding the lock (process
        creation is slow; API requests must not wait for it)."""
        pending, self._pending = self._pending, []
        rejected: set[int] = set()
        for rt, task, app in pending:
            if id(rt) in rejected:
                result: Launched | Rejected = Rejected("an earlier task did not fit", [])
            else:
                try:
                    result = self.backend.launch(task.id, app)
                except Exception as exc:  # noqa: BLE001 - a launch failure is a task failure
                    LOG.warning("cannot launch a task of %s: %s", app["id"], exc)
                    result = Rejected(str(exc), [])
            with self.lock:
                if isinstance(result, Rejected):
                    rt.tasks.pop(task.id, None)
                    self.tasks.pop(task.id, None)
                    if id(rt) not in rejected and rt.launch is not None:
                        rt.launch.rejected(result.message, result.summary, result.reasons,
                                           self.clock())
                    rejected.add(id(rt))
                    continue
                task.host, task.slave_id = result.host, result.agent_id
                task.address, task.ports = result.address, list(result.ports)
                if rt.launch is not None:
                    rt.launch.launched(self.clock())
                    if rt.launch.count == 0:
                        rt.launch = None
                if task.kill_requested or self.tasks.get(task.id) is not task:
                    self.backend.kill(task.id, 0.0)

    def kill_task(self, task: TaskRecord, reason: str | None) -> None:
        """Ask the backend to kill ``task`` (``reason`` set = counts as a failure)."""
        if task.kill_requested or task.state in TERMINAL_STATES:
            return
        task.kill_requested = True
        task.kill_reason = reason
        rt = self.runtimes.get(task.app_id)
        grace = float((rt.app if rt else {}).get("taskKillGracePeriodSeconds") or 3)
        if task.state != "TASK_STAGING" or task.host:
            task.state = "TASK_KILLING"
        try:
            self.backend.kill(task.id, grace)
        except Exception:  # noqa: BLE001 - the task may be gone already
            LOG.debug("kill of %s failed", task.id, exc_info=True)

    # --- status updates ----------------------------------------------------------------------

    def on_status(self, task_id: str, state: str, message: str = "") -> None:
        """A Mesos status update for ``task_id`` (queued; never blocks the caller)."""
        self._updates.put((task_id, state, message))
        self._wake.set()

    def _apply_status(self, task_id: str, state: str, message: str) -> None:
        task = self.tasks.get(task_id)
        if task is None:
            return
        if task.kill_requested and state not in TERMINAL_STATES:
            state = "TASK_KILLING"
        task.state = state
        task.message = message
        now = self.clock()
        if state == "TASK_RUNNING" and task.started_at is None:
            task.started_at = now
        self.events.publish(
            "status_update_event", slaveId=task.slave_id, taskId=task.id, taskStatus=state,
            message=message, appId=task.app_id, host=task.host,
            ipAddresses=[{"ipAddress": task.address, "protocol": "IPv4"}],
            ports=list(task.ports), version=task.version)
        self.events.publish(
            "instance_changed_event", instanceId=task.instance_id,
            condition=state.removeprefix("TASK_").capitalize(), runSpecId=task.app_id,
            agentId=task.slave_id, host=task.host, runSpecVersion=task.version)
        if state in TERMINAL_STATES:
            self._terminated(task, state, message, now)

    def _terminated(self, task: TaskRecord, state: str, message: str, now: float) -> None:
        self.tasks.pop(task.id, None)
        rt = self.runtimes.get(task.app_id)
        if rt is None:
            return
        rt.tasks.pop(task.id, None)
        if task.kill_requested and task.kill_reason is None:
            return
        rt.add_backoff(now)
        rt.last_failure = {
            "appId": task.app_id, "host": task.host, "message": message or task.kill_reason
            or "", "state": state, "taskId": task.id, "timestamp": timestamp(now),
            "version": task.version, "slaveId": task.slave_id}

    # --- queries -------------------------------------------------------------------------------

    def app_tasks(self, app_id: str) -> list[TaskRecord]:
        """Non-terminal tasks of ``app_id``, oldest first."""
        rt = self.runtimes.get(app_id)
        if rt is None:
            return []
        return sorted(rt.tasks.values(), key=lambda t: t.staged_at)
