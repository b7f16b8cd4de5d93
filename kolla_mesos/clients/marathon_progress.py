"""Progress and failure evaluation of Marathon apps during a deployment (pure).

Marathon's counts (reference marathon.md section 3): ``tasksRunning`` counts TASK_RUNNING
tasks, ``tasksHealthy`` those with at least one health result, all alive.  An app is *ready*
when it runs ``instances`` tasks and, if it has health checks, all of them are healthy.
Marathon deployments never time out and never fail on their own when tasks keep crashing,
so :class:`FailureTracker` counts distinct failed tasks of the app's current version seen
since the wait began; the waiter gives up after a few of them instead of waiting forever.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def marathon_timestamp(when: dt.datetime | None = None) -> str:
    """A timestamp in Marathon's format (UTC, milliseconds), comparable as a string."""
    when = when or dt.datetime.now(dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{when.microsecond // 1000:03d}Z"


def describe_failure(app: Mapping[str, Any]) -> str | None:
    """One line about an app's ``lastTaskFailure``, or None."""
    failure = app.get("lastTaskFailure")
    if not isinstance(failure, Mapping):
        return None
    message = str(failure.get("message") or "").strip() or "no message"
    return (f"task {failure.get('taskId', '?')} on {failure.get('host', '?')} ended "
            f"{failure.get('state', '?')} at {failure.get('timestamp', '?')}: {message}")


@dataclass(frozen=True)
class AppProgress:
    """Task counts of one app, as shown service by service while waiting."""

    app_id: str
    instances: int
    running: int
    healthy: int
    unhealthy: int
    staged: int
    health_checked: bool
    deploying: bool
    last_failure: str | None = None

    @property
    def ready(self) -> bool:
        """Running the wanted number of tasks, all healthy when health-checked."""
        if self.running < self.instances:
            return False
        return not self.health_checked or self.healthy >= self.instances

    def summary(self) -> str:
        """e.g. ``2/3 running, 1/3 healthy``."""
        text = f"{self.running}/{self.instances} running"
        if self.health_checked:
            text += f", {self.healthy}/{self.instances} healthy"
        if self.unhealthy:
            text += f", {self.unhealthy} unhealthy"
        return text


def app_progress(app: Mapping[str, Any]) -> AppProgress:
    """Progress of an AppInfo as returned by ``GET /v2/apps`` with counts embedded."""
    return AppProgress(
        app_id=str(app.get("id", "")),
        instances=int(app.get("instances") or 0),
        running=int(app.get("tasksRunning") or 0),
        # Marathon still counts a task that is being killed as healthy after it stopped
        # counting it as running; "0/1 running, 1/1 healthy" would mislead the operator
        healthy=min(int(app.get("tasksHealthy") or 0), int(app.get("tasksRunning") or 0)),
        unhealthy=int(app.get("tasksUnhealthy") or 0),
        staged=int(app.get("tasksStaged") or 0),
        health_checked=bool(app.get("healthChecks")),
        deploying=bool(app.get("deployments")),
        last_failure=describe_failure(app),
    )


def gone(app_id: str) -> AppProgress:
    """Progress of an app that no longer exists (stopped by the deployment)."""
    return AppProgress(app_id, 0, 0, 0, 0, 0, False, False)


@dataclass
class FailureTracker:
    """Distinct failed tasks per app since ``since`` (a Marathon timestamp)."""

    since: str
    failed: dict[str, set[str]] = field(default_factory=dict)

    def observe(self, app: Mapping[str, Any]) -> int:
        """Record the app's last task failure if it is new and of the current version."""
        app_id = str(app.get("id", ""))
        seen = self.failed.setdefault(app_id, set())
        failure = app.get("lastTaskFailure")
        if isinstance(failure, Mapping):
            stamp = str(failure.get("timestamp") or "")
            version = failure.get("version")
            current = app.get("version")
            if stamp >= self.since and (version is None or current is None
                                        or version == current):
                seen.add(str(failure.get("taskId") or stamp))
        return len(seen)


def deployment_summary(deployment: Mapping[str, Any]) -> str:
    """e.g. ``step 1/2: ScaleApplication /kolla/demo/keystone/keystone``."""
    actions = ", ".join(f"{a.get('action', '?')} {a.get('app', a.get('pod', '?'))}"
                        for a in deployment.get("currentActions") or [])
    return (f"step {deployment.get('currentStep', 0)}/{deployment.get('totalSteps', 0)}"
            + (f": {actions}" if actions else ""))
