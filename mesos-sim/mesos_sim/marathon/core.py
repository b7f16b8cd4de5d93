"""The Marathon service state the API handlers share: deploy a new root, versions, JSON views.

:meth:`MarathonCore.deploy` is the one way the group tree changes: it checks dependencies,
keeps service ports, stamps versions and ``versionInfo``, computes the plan, submits it
(409 when locked), records version history and publishes ``group_change_success``.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from mesos_sim.http import HttpProblem
from mesos_sim.marathon.deploy import AppLocked, DeploymentManager, VersionClock
from mesos_sim.marathon.events import EventBus
from mesos_sim.marathon.model import (
    ROOT_ID,
    App,
    GroupMeta,
    Root,
    ancestors,
    app_json,
    dependency_edges,
    find_cycle,
    is_upgrade,
    service_ports,
)
from mesos_sim.marathon.plan import Plan, compute_steps
from mesos_sim.marathon.scheduler import Scheduler
from mesos_sim.marathon.validate import problem

LOG = logging.getLogger(__name__)
HISTORY_LIMIT = 50
SERVICE_PORT_RANGE = (10000, 20000)
LOCKED_MESSAGE = ("App is locked by one or more deployments. Override with the option "
                  "'?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.")


def app_not_found(app_id: str) -> HttpProblem:
    """404 ``App '/x' does not exist``."""
    return HttpProblem(404, {"message": f"App '{app_id}' does not exist"})


def group_not_found(group_id: str) -> HttpProblem:
    """404 ``Group '/x' does not exist``."""
    return HttpProblem(404, {"message": f"Group '{group_id}' does not exist"})


class MarathonCore:
    """Scheduler, deployments, events and version history of one simulated Marathon."""

    def __init__(self, scheduler: Scheduler, events: EventBus) -> None:
        self.scheduler = scheduler
        self.events = events
        self.deployments = DeploymentManager(scheduler)
        self.clock = VersionClock(scheduler)
        self.app_versions: dict[str, OrderedDict[str, App]] = {}
        self.root_history: OrderedDict[str, Root] = OrderedDict()
        self._service_ports = itertools.count(SERVICE_PORT_RANGE[0])

    @property
    def root(self) -> Root:
        """The current group tree."""
        return self.scheduler.root

    # --- the one mutation ----------------------------------------------------------------------

    def deploy(self, target: Root, force: bool, restarts: Iterable[str] = ()) -> Plan:
        """Turn the tree into ``target`` through a deployment; the accepted plan.

        Call with ``scheduler.lock`` held.  ``target`` holds normalised apps without
        versions; unchanged apps keep their stored dict (and so their version and tasks).
        """
        plan, removed, changed = self.prepare(target, restarts)
        try:
            self.deployments.submit(plan, force)
        except AppLocked as locked:
            self.events.publish("group_change_failed", groupId=ROOT_ID, version=plan.version,
                                reason="App is locked by one or more deployments.")
            raise HttpProblem(409, {"message": LOCKED_MESSAGE, "deployments": [
                {"id": d} for d in locked.deployment_ids]}) from locked
        self._record(plan.target, removed)
        if changed:
            self.events.publish("group_change_success", groupId=ROOT_ID, version=plan.version)
        return plan

    def prepare(self, target: Root, restarts: Iterable[str] = ()) -> tuple[Plan, set[str], bool]:
        """Stamp versions and service ports on ``target`` and compute the plan (nothing is
        submitted: ``dryRun`` uses this alone).  Returns (plan, removed app ids, changed)."""
        restart_set = set(restarts)
        current = self.root
        if set(target.apps) & set(g for g in target.groups if g != ROOT_ID):
            raise problem("Object is not valid", [(
                "/", "Groups and Applications may not have the same identifier.")])
        if find_cycle(dependency_edges(target)):
            raise problem("Object is not valid", [("/", "Dependency graph has cyclic "
                                                        "dependencies.")])
        version = self.clock.next()
        changed: set[str] = set()
        for app_id, app in list(target.apps.items()):
            old = current.apps.get(app_id)
            if old is not None and app is old and app_id not in restart_set:
                continue
            app = self._with_service_ports(app, old)
            if old is None or app_id in restart_set or is_upgrade(old, app):
                info = {"lastScalingAt": version, "lastConfigChangeAt": version}
            elif old.get("instances") != app.get("instances"):
                info = {"lastScalingAt": version,
                        "lastConfigChangeAt": old["versionInfo"]["lastConfigChangeAt"]}
            else:
                target.apps[app_id] = old
                continue
            target.apps[app_id] = {**app, "version": version, "versionInfo": info}
            changed.update(ancestors(app_id))
        removed = set(current.apps) - set(target.apps)
        for app_id in removed:
            changed.update(ancestors(app_id))
        changed.update(set(target.groups) ^ set(current.groups))
        if changed:
            changed.add(ROOT_ID)
        for group_id in changed & set(target.groups):
            meta = target.groups[group_id]
            target.groups[group_id] = GroupMeta(meta.dependencies, version, meta.enforce_role)
        target.version = version if changed else current.version
        steps = compute_steps(current, target, restart_set)
        plan = Plan(str(uuid.uuid4()), target.version, current, target, steps)
        return plan, removed, bool(changed)

    def _with_service_ports(self, app: App, old: App | None) -> App:
        """Give every port with service port 0 a unique one (kept from ``old`` by index)."""
        used = {port for a in self.root.apps.values() if a is not old
                for port in service_ports(a)}
        old_ports = service_ports(old) if old is not None else []

        def assign(index: int, current: int) -> int:
            if current:
                used.add(current)
                return current
            port = old_ports[index] if index < len(old_ports) else 0
            while not port or port in used:
                port = next(self._service_ports)
            used.add(port)
            return port

        if "portDefinitions" in app:
            app = {**app, "portDefinitions": [
                d if app.get("requirePorts") and d.get("port") else
                {**d, "port": assign(i, int(d.get("port", 0)))}
                for i, d in enumerate(app["portDefinitions"])]}
        mappings = (app.get("container") or {}).get("portMappings")
        if mappings:
            app = {**app, "container": {**app["container"], "portMappings": [
                {**m, "servicePort": assign(i, int(m.get("servicePort", 0)))}
                for i, m in enumerate(mappings)]}}
        return app

    def _record(self, target: Root, removed: set[str]) -> None:
        for app_id in removed:
            self.app_versions.pop(app_id, None)
        for app_id, app in target.apps.items():
            history = self.app_versions.setdefault(app_id, OrderedDict())
            if app["version"] not in history:
                history[app["version"]] = app
                while len(history) > HISTORY_LIMIT:
                    history.popitem(last=False)
        self.root_history[target.version] = target.copy()
        while len(self.root_history) > HISTORY_LIMIT:
            self.root_history.popitem(last=False)

    # --- views ---------------------------------------------------------------------------------

    def app_info(self, app: App, embed: set[str]) -> dict[str, Any]:
        """AppInfo: the app plus what ``embed`` asks for (``counts``, ``deployments``,
        ``tasks``, ``lastTaskFailure``, ``readiness``)."""
        info = app_json(app)
        rt = self.scheduler.runtimes.get(app["id"])
        if "counts" in embed:
            info.update(rt.counts() if rt else {"tasksStaged": 0, "tasksRunning": 0,
                                                 "tasksHealthy": 0, "tasksUnhealthy": 0})
        if "deployments" in embed:
            info["deployments"] = [{"id": d} for d in
                                   self.deployments.deployments_of(app["id"])]
        if "tasks" in embed:
            info["tasks"] = [t.json() for t in self.scheduler.app_tasks(app["id"])]
        if "lastTaskFailure" in embed and rt is not None and rt.last_failure:
            info["lastTaskFailure"] = dict(rt.last_failure)
        if "readiness" in embed:
            info["readinessCheckResults"] = []
        if "taskStats" in embed:
            info["tasksStats"] = self._task_stats(app)
        return info

    def _task_stats(self, app: App) -> dict[str, Any]:
        """``tasksStats`` (1.9+): counts of all tasks and of those with the latest config."""
        rt = self.scheduler.runtimes.get(app["id"])
        tasks = list(rt.tasks.values()) if rt else []
        latest = str(app["versionInfo"]["lastConfigChangeAt"]) if "versionInfo" in app else ""
        result: dict[str, Any] = {}
        for key, chosen in (("totalSummary", tasks),
                            ("withLatestConfig", [t for t in tasks
                                                  if t.config_version == latest]),
                            ("withOutdatedConfig", [t for t in tasks
                                                    if t.config_version != latest])):
            if chosen:
                result[key] = {"stats": {"counts": {
                    "staged": sum(1 for t in chosen if not t.running),
                    "running": sum(1 for t in chosen if t.running),
                    "healthy": sum(1 for t in chosen if t.healthy),
                    "unhealthy": sum(1 for t in chosen if t.unhealthy)}}}
        return result

    def group_json(self, group_id: str, embed: set[str], app_embed: set[str],
                   root: Root | None = None) -> dict[str, Any]:
        """GroupInfo of ``group_id`` with nested groups/apps as ``embed`` asks."""
        tree = root or self.root
        meta = tree.groups[group_id]
        app_ids, group_ids = tree.children(group_id)
        result: dict[str, Any] = {"id": group_id}
        if "apps" in embed:
            result["apps"] = [self.app_info(tree.apps[a], app_embed) for a in app_ids]
        if "groups" in embed:
            result["groups"] = [self.group_json(g, embed, app_embed, tree) for g in group_ids]
        if "pods" in embed:
            result["pods"] = []
        result["dependencies"] = list(meta.dependencies)
        result["version"] = meta.version or tree.version
        if meta.enforce_role is not None:
            result["enforceRole"] = meta.enforce_role
        return result

    def deployment_result(self, plan: Plan) -> dict[str, str]:
        """``{"deploymentId", "version"}``."""
        return {"deploymentId": plan.id, "version": plan.version}
