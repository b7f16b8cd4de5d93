"""Marathon's task bookkeeping: task records, their JSON, counts, and launch backoff.

A :class:`TaskRecord` is what Marathon knows about one task (instance); :class:`AppRuntime`
holds an app's tasks-to-be: how many it should have, which definition new tasks are launched
from, the launch delay (backoff) and why the last launch did not fit.  All pure data and small
pure functions; the scheduler mutates them under its lock.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from mesos_sim.marathon.model import App, safe_task_prefix, timestamp
from mesos_sim.marathon.queue import LaunchAttempt

ACTIVE_STATES = ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING")
TERMINAL_STATES = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
                   "TASK_DROPPED", "TASK_GONE")


@dataclass
class HealthResult:
    """One health check's state for one task (Marathon's ``Health``)."""

    instance_id: str
    alive: bool = False
    consecutive_failures: int = 0
    first_success: float | None = None
    last_success: float | None = None
    last_failure: float | None = None
    last_failure_cause: str | None = None
    has_result: bool = False

    def json(self) -> dict[str, Any]:
        """Marathon 1.10's JSON (unset timestamps omitted)."""
        result: dict[str, Any] = {"alive": self.alive,
                                  "consecutiveFailures": self.consecutive_failures,
                                  "instanceId": self.instance_id}
        for key, value in (("firstSuccess", self.first_success),
                           ("lastSuccess", self.last_success),
                           ("lastFailure", self.last_failure)):
            if value is not None:
                result[key] = timestamp(value)
        if self.last_failure_cause is not None:
            result["lastFailureCause"] = self.last_failure_cause
        return result


@dataclass
class TaskRecord:
    """One task as Marathon tracks it."""

    id: str
    instance_id: str
    app_id: str
    version: str
    config_version: str
    staged_at: float
    state: str = "TASK_STAGING"
    host: str = ""
    slave_id: str = ""
    address: str = ""
    ports: list[int] = field(default_factory=list)
    service_ports: list[int] = field(default_factory=list)
    started_at: float | None = None
    health: list[HealthResult] = field(default_factory=list)
    kill_requested: bool = False
    kill_reason: str | None = None
    message: str = ""

    @property
    def active(self) -> bool:
        """Not terminal and not being killed by Marathon."""
        return self.state in ACTIVE_STATES and not self.kill_requested

    @property
    def running(self) -> bool:
        """Mesos reported TASK_RUNNING."""
        return self.state == "TASK_RUNNING"

    @property
    def healthy(self) -> bool:
        """Has at least one health result and every result is alive."""
        results = [h for h in self.health if h.has_result]
        return bool(results) and all(h.alive for h in results)

    @property
    def unhealthy(self) -> bool:
        """Any health result is not alive."""
        return any(h.has_result and not h.alive for h in self.health)

    def ready(self, has_checks: bool) -> bool:
        """Counts for a deployment: running, and healthy when the app has health checks."""
        return self.running and not self.kill_requested and (self.healthy or not has_checks)

    def json(self) -> dict[str, Any]:
        """Marathon 1.10's task JSON."""
        result: dict[str, Any] = {
            "appId": self.app_id, "id": self.id, "host": self.host, "slaveId": self.slave_id,
            "state": self.state, "stagedAt": timestamp(self.staged_at),
            "version": self.version, "ports": list(self.ports),
            "servicePorts": list(self.service_ports),
            "ipAddresses": [{"ipAddress": self.address, "protocol": "IPv4"}]
            if self.address else [],
            "localVolumes": [], "role": "*",
        }
        if self.started_at is not None:
            result["startedAt"] = timestamp(self.started_at)
        if self.health:
            result["healthCheckResults"] = [h.json() for h in self.health if h.has_result]
        return result


def new_task_ids(app_id: str) -> tuple[str, str]:
    """A fresh (task id, instance id) pair: ``a_b.instance-<uuid>._app.1``."""
    instance = f"{safe_task_prefix(app_id)}.instance-{uuid.uuid4()}"
    return f"{instance}._app.1", instance


@dataclass
class AppRuntime:
    """The scheduler's view of one app: its tasks' target and launch state."""

    app: App
    target: int = 0
    restart_to: App | None = None
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    backoff_count: int = 0
    delay_until: float = 0.0
    #: The launch attempt while instances are left to launch (``/v2/queue``), else None.
    launch: LaunchAttempt | None = None
    last_failure: dict[str, Any] | None = None
    removing: bool = False

    def active_tasks(self) -> list[TaskRecord]:
        """Tasks that are not terminal and not being killed, oldest first."""
        return sorted((t for t in self.tasks.values() if t.active), key=lambda t: t.staged_at)

    def add_backoff(self, now: float) -> None:
        """One more failure: the next launch waits ``backoffSeconds * factor^n`` (capped)."""
        seconds = float(self.app.get("backoffSeconds", 1))
        factor = float(self.app.get("backoffFactor", 1.15))
        cap = float(self.app.get("maxLaunchDelaySeconds", 300))
        delay = min(seconds * factor ** self.backoff_count, cap)
        self.backoff_count += 1
        self.delay_until = now + delay

    def reset_backoff(self) -> None:
        """Forget past failures (config change, ``DELETE /v2/queue/{id}/delay``)."""
        self.backoff_count = 0
        self.delay_until = 0.0

    def counts(self) -> dict[str, int]:
        """``tasksStaged``, ``tasksRunning``, ``tasksHealthy``, ``tasksUnhealthy``."""
        tasks = [t for t in self.tasks.values() if t.state in ACTIVE_STATES]
        return {
            "tasksStaged": sum(1 for t in tasks if t.state in ("TASK_STAGING", "TASK_STARTING")),
            "tasksRunning": sum(1 for t in tasks if t.running),
            "tasksHealthy": sum(1 for t in tasks if t.healthy),
            "tasksUnhealthy": sum(1 for t in tasks if t.unhealthy),
        }


def restart_decision(old: list[TaskRecord], new: list[TaskRecord], instances: int,
                     min_health_capacity: float, max_over_capacity: float,
                     has_checks: bool) -> tuple[list[TaskRecord], int]:
    """One round of a rolling restart (``TaskReplaceActor``): which old tasks to kill now and
    how many new tasks to start now.

    ``minHealthy = ceil(N * minimumHealthCapacity)`` tasks stay healthy (unhealthy old tasks
    go first); at most ``floor(N * (1 + maximumOverCapacity))`` tasks exist at once (one more
    when that equals ``minHealthy``, so the restart can progress).
    """
    min_healthy = math.ceil(instances * min_health_capacity - 1e-9)
    max_capacity = math.floor(instances * (1 + max_over_capacity) + 1e-9)
    if min_healthy == max_capacity and old:
        max_capacity += 1
    new_ready = sum(1 for t in new if t.ready(has_checks))
    kill: list[TaskRecord] = []
    remaining = sorted(old, key=lambda t: (t.ready(has_checks), t.staged_at))
    healthy_old = sum(1 for t in remaining if t.ready(has_checks))
    for task in remaining:
        if not task.ready(has_checks):
            kill.append(task)
        elif healthy_old - 1 + new_ready >= min_healthy:
            kill.append(task)
            healthy_old -= 1
    old_left = len(old) - len(kill)
    start = max(0, min(instances - len(new), max_capacity - old_left - len(new)))
    return kill, start
