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
    #: why Marathon cannot launch a task it wants (its launch queue), e.g. no agent fits
    waiting: str | None = None

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
        if self.waiting:
            text += f"; {self.waiting}"
        return text


def app_progress(app: Mapping[str, Any], waiting: str | None = None) -> AppProgress:
    """Progress of an AppInfo as returned by ``GET /v2/apps`` with counts embedded
    (``waiting``: the app's launch-queue reason, :func:`queue_reasons`)."""
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
        waiting=waiting,
    )


#: Marathon's offer-rejection reasons (``processedOffersSummary``) in the operator's words
REJECTION_TEXT = {
    "UnfulfilledRole": "no offer of the app's role",
    "UnfulfilledConstraint": "constraint {constraints} unsatisfied",
    "NoCorrespondingReservationFound": "no reservation",
    "AgentMaintenance": "agents in maintenance",
    "InsufficientCpus": "not enough cpus",
    "InsufficientMemory": "not enough memory",
    "InsufficientDisk": "not enough disk",
    "InsufficientGpus": "not enough GPUs",
    "InsufficientPorts": "no free ports",
    "DeclinedScarceResources": "scarce resources declined",
}


def queue_reasons(queue: Mapping[str, Any]) -> dict[str, str]:
    """App id -> why its queued launches find no agent, from ``GET /v2/queue`` (pure).

    Marathon counts, per reason, the offers it processed and declined in its last round
    (``rejectSummaryLastOffers``); the first reason that declined every offer it saw is why
    nothing launches, e.g. ``waiting for an agent: constraint hostname UNIQUE unsatisfied on
    every agent (1 offer)``.
    """
    reasons: dict[str, str] = {}
    for item in queue.get("queue") or []:
        app = item.get("app") or {}
        summary = item.get("processedOffersSummary") or {}
        if not app.get("id") or int(item.get("count") or 0) <= 0:
            continue
        for entry in summary.get("rejectSummaryLastOffers") or []:
            processed, declined = int(entry.get("processed") or 0), int(entry.get(
                "declined") or 0)
            if processed and declined == processed:
                constraints = ", ".join(" ".join(str(p) for p in c)
                                        for c in app.get("constraints") or []) or "?"
                text = REJECTION_TEXT.get(str(entry.get("reason")), str(entry.get("reason")))
                reasons[str(app["id"])] = (
                    f"waiting for an agent: {text.format(constraints=constraints)} on every "
                    f"agent ({processed} offer{'s' if processed != 1 else ''})")
                break
    return reasons


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
