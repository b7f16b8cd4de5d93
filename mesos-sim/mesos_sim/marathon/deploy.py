"""Running deployments: steps in order, locking, force, cancel and rollback.

A deployment advances one step at a time (``deployment_info`` before a step,
``deployment_step_success`` after it, ``deployment_success`` at the end).  A step is done when
every action is: Start at once; Scale when the app has exactly ``instances`` tasks and that
many are running (and healthy, if it has health checks); Restart when no task of an old
configuration is left (killed tasks count until they are gone) and ``instances`` new ones are
ready; Stop when every task is gone.
Deployments never time out, as in Marathon.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from mesos_sim.marathon.model import timestamp
from mesos_sim.marathon.plan import RESTART, START, STOP, Action, Plan
from mesos_sim.marathon.scheduler import Scheduler, config_version
from mesos_sim.marathon.tasks import ACTIVE_STATES, AppRuntime

LOG = logging.getLogger(__name__)
#: A deployment with steps stays listed at least this long (clients poll for it, as they can
#: on a real Marathon where launching through offers takes a while).
MIN_VISIBLE_SECONDS = 0.5
#: Marathon's ``--scale_apps_initial_delay`` and ``--scale_apps_interval`` (seconds).
SCALE_CHECK_DELAY = 15.0
SCALE_CHECK_SECONDS = 300.0


class AppLocked(Exception):
    """A new plan touches apps that running deployments hold (HTTP 409 without force)."""

    def __init__(self, deployment_ids: list[str]) -> None:
        super().__init__(", ".join(deployment_ids))
        self.deployment_ids = deployment_ids


@dataclass
class Deployment:
    """A plan being executed."""

    plan: Plan
    step: int = 0
    started: bool = False
    accepted: float = field(default_factory=time.monotonic)

    def current_actions(self) -> list[Action]:
        """The actions of the step in progress (none before the first step started)."""
        if not self.started or self.step >= len(self.plan.steps):
            return []
        return self.plan.steps[self.step]

    def json(self) -> dict[str, Any]:
        """``GET /v2/deployments`` item."""
        return {
            "id": self.plan.id, "version": self.plan.version,
            "affectedApps": self.plan.affected_apps, "affectedPods": [],
            "steps": self.plan.steps_json(),
            "currentActions": [{**a.json(), "readinessCheckResults": []}
                               for a in self.current_actions()],
            "currentStep": self.step + 1 if self.started else 0,
            "totalSteps": len(self.plan.steps),
        }


class DeploymentManager:
    """Holds the running deployments and advances them from the scheduler thread."""

    def __init__(self, scheduler: Scheduler, scale_check_seconds: float = SCALE_CHECK_SECONDS,
                 scale_check_delay: float = SCALE_CHECK_DELAY) -> None:
        self.scheduler = scheduler
        self.deployments: dict[str, Deployment] = {}
        self.scale_check_seconds = scale_check_seconds
        self._next_scale_check = time.monotonic() + scale_check_delay
        scheduler.step_hook = self.advance

    def deployments_of(self, app_id: str) -> list[str]:
        """Ids of running deployments that affect ``app_id``."""
        return [d.plan.id for d in self.deployments.values() if app_id in d.plan.affected_apps]

    def conflicts(self, plan: Plan) -> list[Deployment]:
        """Running deployments sharing an affected app with ``plan``."""
        affected = set(plan.affected_apps)
        return [d for d in self.deployments.values()
                if affected & set(d.plan.affected_apps)]

    def submit(self, plan: Plan, force: bool) -> Deployment:
        """Accept ``plan`` (raise :class:`AppLocked` on conflict without force) and store its
        target root.  Call with the scheduler lock held."""
        events = self.scheduler.events
        conflicting = self.conflicts(plan)
        if conflicting and not force:
            events.publish("deployment_failed", id=plan.id, plan=plan.event_json(),
                           reason="App is locked by another deployment")
            raise AppLocked([d.plan.id for d in conflicting])
        for other in conflicting:
            self.cancel(other, f"Deployment was cancelled by a forced deployment {plan.id}")
        self.scheduler.root = plan.target
        for app_id, app in plan.target.apps.items():
            rt = self.scheduler.runtimes.get(app_id)
            if rt is not None and app_id not in plan.affected_apps and not rt.removing:
                rt.app = app
        deployment = Deployment(plan)
        self.deployments[plan.id] = deployment
        if not plan.steps:
            self._finish(deployment)
        self.scheduler.poke()
        return deployment

    def cancel(self, deployment: Deployment, reason: str) -> None:
        """Stop driving ``deployment``; its apps keep the tasks they have now, and the
        instances already scheduled stay in the launch queue (as Marathon 1.10 keeps its
        ``Scheduled`` instances when a forced deployment supersedes the one that made them).
        A cancelled restart stops replacing old tasks and keeps its queued replacements up to
        the app's ``instances``: what is left over is mended by the next deployment or the
        scale check."""
        if self.deployments.pop(deployment.plan.id, None) is None:
            return
        for action in deployment.current_actions():
            rt = self.scheduler.runtimes.get(action.app)
            if rt is None or rt.removing or action.action != RESTART:
                continue
            rt.restart_to = None
            queued = rt.launch.count if rt.launch is not None else 0
            active = len(rt.active_tasks())
            rt.target = max(active, min(int(rt.app["instances"]), active + queued))
        self.scheduler.events.publish("deployment_failed", id=deployment.plan.id,
                                      plan=deployment.plan.event_json(), reason=reason)

    def scale_check(self) -> None:
        """Marathon's periodic scale check: an app no deployment works on gets back to
        ``instances`` tasks (after a cancelled deployment left it part-way)."""
        busy = {a for d in self.deployments.values() for a in d.plan.affected_apps}
        for app_id, rt in self.scheduler.runtimes.items():
            if app_id in busy or rt.removing or app_id not in self.scheduler.root.apps:
                continue
            rt.app = self.scheduler.root.apps[app_id]
            rt.restart_to = None
            rt.target = int(rt.app["instances"])

    def advance(self) -> None:
        """Start, check and finish steps of every deployment (scheduler lock held); run the
        scale check when it is due."""
        if time.monotonic() >= self._next_scale_check:
            self._next_scale_check = time.monotonic() + self.scale_check_seconds
            self.scale_check()
        for deployment in list(self.deployments.values()):
            while deployment.plan.id in self.deployments:
                if deployment.step >= len(deployment.plan.steps):
                    if time.monotonic() - deployment.accepted >= MIN_VISIBLE_SECONDS:
                        self._finish(deployment)
                    break
                step = deployment.plan.steps[deployment.step]
                if not deployment.started:
                    deployment.started = True
                    self._publish_step("deployment_info", deployment, step)
                    for action in step:
                        self._start_action(deployment.plan, action)
                if not all(self._action_done(deployment.plan, a) for a in step):
                    break
                self._publish_step("deployment_step_success", deployment, step)
                deployment.step += 1
                deployment.started = False

    def _publish_step(self, kind: str, deployment: Deployment, step: list[Action]) -> None:
        self.scheduler.events.publish(kind, plan=deployment.plan.event_json(),
                                      currentStep={"actions": [a.json() for a in step]})

    def _finish(self, deployment: Deployment) -> None:
        self.deployments.pop(deployment.plan.id, None)
        self.scheduler.events.publish("deployment_success", id=deployment.plan.id,
                                      plan=deployment.plan.event_json())

    def _start_action(self, plan: Plan, action: Action) -> None:
        sched = self.scheduler
        target = plan.target.apps.get(action.app)
        rt = sched.runtimes.get(action.app)
        if action.action == STOP:
            if rt is not None:
                rt.removing, rt.target, rt.restart_to = True, 0, None
            return
        assert target is not None
        if rt is None or rt.removing:
            rt = sched.runtimes[action.app] = AppRuntime(app=target)
        if action.action == START:
            rt.app = target
            return
        if config_version(rt.app) != config_version(target):
            rt.reset_backoff()
        rt.app = target
        rt.target = int(target["instances"])
        rt.restart_to = target if action.action == RESTART else None

    def _action_done(self, plan: Plan, action: Action) -> bool:
        sched = self.scheduler
        rt = sched.runtimes.get(action.app)
        if action.action == START:
            return True
        if action.action == STOP:
            if rt is None:
                return True
            if any(t.state in ACTIVE_STATES for t in rt.tasks.values()):
                return False
            if action.app not in sched.root.apps:
                del sched.runtimes[action.app]
                sched.events.publish("app_terminated_event", appId=action.app)
            return True
        if rt is None:
            return False
        target = plan.target.apps[action.app]
        instances = int(target["instances"])
        has_checks = bool(target.get("healthChecks"))
        alive = list(rt.tasks.values())  # not terminal, including those being killed
        if action.action == RESTART:
            version = config_version(target)
            if any(t.config_version != version for t in alive):
                return False
        ready = sum(1 for t in alive if t.ready(has_checks))
        done = len(alive) <= instances and ready >= instances
        if done and action.action == RESTART and rt.restart_to is not None:
            rt.restart_to = None
            rt.target = instances
        return done


class VersionClock:
    """Hands out strictly increasing version timestamps (millisecond resolution)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self._last_ms = 0

    def next(self) -> str:
        """A fresh version, later than every one handed out before."""
        millis = max(int(self.scheduler.clock() * 1000), self._last_ms + 1)
        self._last_ms = millis
        return timestamp(millis / 1000.0)
