"""Pure deployment plans: what Marathon 1.10 does to get from one group tree to another.

Steps (``DeploymentPlan.scala``), empty steps dropped: one step stopping every removed app;
one step starting (at 0 instances) every new app; then one step per dependency layer
(dependencies first): a new app or a scale-only change is ``ScaleApplication``, a config
change or a restart request is ``RestartApplication``, an unchanged app does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mesos_sim.marathon.model import (
    Root,
    dependency_depths,
    dependency_edges,
    is_upgrade,
)

STOP = "StopApplication"
START = "StartApplication"
SCALE = "ScaleApplication"
RESTART = "RestartApplication"


@dataclass(frozen=True)
class Action:
    """One step action on one app."""

    action: str
    app: str

    def json(self) -> dict[str, str]:
        """``{"action": ..., "app": ...}``."""
        return {"action": self.action, "app": self.app}


@dataclass
class Plan:
    """A deployment plan: id, version, the roots it goes between, and its steps."""

    id: str
    version: str
    original: Root
    target: Root
    steps: list[list[Action]] = field(default_factory=list)

    @property
    def affected_apps(self) -> list[str]:
        """Every app id an action touches, sorted."""
        return sorted({a.app for step in self.steps for a in step})

    def steps_json(self) -> list[dict[str, Any]]:
        """``[{"actions": [...]}, ...]``."""
        return [{"actions": [a.json() for a in step]} for step in self.steps]

    def event_json(self) -> dict[str, Any]:
        """The ``plan`` object of deployment events (1.8+: id, steps, version)."""
        return {"id": self.id, "steps": self.steps_json(), "version": self.version}


def compute_steps(original: Root, target: Root,
                  restarts: Iterable[str] = ()) -> list[list[Action]]:
    """The steps that take ``original`` to ``target`` (``restarts``: forced restarts)."""
    forced = set(restarts)
    steps: list[list[Action]] = []
    stops = [Action(STOP, a) for a in sorted(original.apps) if a not in target.apps]
    starts = [Action(START, a) for a in sorted(target.apps) if a not in original.apps]
    layered: dict[int, list[Action]] = {}
    depths = dependency_depths(dependency_edges(target))
    for app_id in sorted(target.apps):
        new = target.apps[app_id]
        old = original.apps.get(app_id)
        if old is None:
            action = SCALE
        elif app_id in forced or is_upgrade(old, new):
            action = RESTART
        elif old.get("instances") != new.get("instances"):
            action = SCALE
        else:
            continue
        layered.setdefault(depths.get(app_id, 0), []).append(Action(action, app_id))
    for step in [stops, starts] + [layered[d] for d in sorted(layered)]:
        if step:
            steps.append(step)
    return steps


def revert_root(plan: Plan, current: Root) -> Root:
    """``current`` with exactly this plan's changes undone (``DeploymentPlanReverter``)."""
    result = current.copy()
    for app_id in plan.affected_apps:
        before = plan.original.apps.get(app_id)
        if before is None:
            result.apps.pop(app_id, None)
        else:
            result.put_app(before)
    for group_id in set(plan.target.groups) - set(plan.original.groups):
        if not any(a.startswith(group_id.rstrip("/") + "/") for a in result.apps):
            result.groups.pop(group_id, None)
    for group_id, meta in plan.original.groups.items():
        result.groups.setdefault(group_id, meta)
    return result
