"""``/v2/groups`` and ``/v2/deployments`` handlers.

Structural group bodies follow ``GroupConversion``: ``apps`` given replaces the group's direct
apps (missing ones are stopped), ``groups`` given replaces its sub-groups; omitted keys keep
what is there.  Relative ids resolve against the enclosing group.  An app whose definition is
unchanged keeps its version and tasks.
"""

from __future__ import annotations

from typing import Any

from mesos_sim.http import HttpProblem, Request, Response, Router
from mesos_sim.marathon.api_apps import deployment_response, qbool
from mesos_sim.marathon.core import MarathonCore, group_not_found
from mesos_sim.marathon.model import (
    ROOT_ID,
    GroupMeta,
    Root,
    canonical_path,
    is_within,
    normalize_app,
    parent_of,
    scaled_instances,
)
from mesos_sim.marathon.plan import revert_root
from mesos_sim.marathon.validate import (
    app_semantic_errors,
    group_errors,
    known_fields,
    parse_body,
    problem,
)

DEFAULT_GROUP_EMBED = {"groups", "apps", "pods"}


def group_embeds(request: Request) -> tuple[set[str], set[str]]:
    """(group parts, app parts) of ``embed=group.groups&embed=group.apps.counts...``."""
    raw = request.query.get("embed")
    if not raw:
        return set(DEFAULT_GROUP_EMBED), set()
    group_parts: set[str] = set()
    app_parts: set[str] = set()
    for item in raw:
        name = item.removeprefix("group.")
        if name.startswith("apps."):
            group_parts.add("apps")
            app_parts.add(name.removeprefix("apps."))
        else:
            group_parts.add(name)
    if "failures" in app_parts:
        app_parts |= {"tasks", "lastTaskFailure", "deployments"}
    return group_parts, app_parts


def apply_group(target: Root, group_id: str, body: dict[str, Any], prefix: str = "") -> None:
    """Apply a structural group body to ``target`` at ``group_id`` (recursively)."""
    old_meta = target.groups.get(group_id, GroupMeta())
    deps = body.get("dependencies")
    dependencies = old_meta.dependencies if deps is None else tuple(
        sorted({canonical_path(d, group_id) for d in deps}))
    target.put_group(group_id, GroupMeta(dependencies, old_meta.version,
                                         body.get("enforceRole", old_meta.enforce_role)))
    if body.get("apps") is not None:
        listed: set[str] = set()
        for index, raw in enumerate(body["apps"]):
            app_id = canonical_path(str(raw["id"]), group_id)
            errors = app_semantic_errors({**raw, "id": app_id}, f"{prefix}/apps({index})")
            if errors:
                raise problem("Object is not valid", errors)
            listed.add(app_id)
            target.put_app(normalize_app(known_fields(raw), app_id))
        for app_id in [a for a in target.apps if parent_of(a) == group_id and a not in listed]:
            del target.apps[app_id]
    if body.get("groups") is not None:
        listed = set()
        for index, raw in enumerate(body["groups"]):
            sub_id = canonical_path(str(raw["id"]), group_id)
            listed.add(sub_id)
            apply_group(target, sub_id, raw, f"{prefix}/groups({index})")
        for sub_id in [g for g in target.groups if g != ROOT_ID and parent_of(g) == group_id
                       and g not in listed]:
            target.remove_within(sub_id)


class GroupsApi:
    """The ``/v2/groups`` and ``/v2/deployments`` routes over a :class:`MarathonCore`."""

    def __init__(self, core: MarathonCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        """Add the routes."""
        group = r"/v2/groups(?P<group_id>(/.+?)?)"
        router.add("GET", group + r"/versions/(?P<version>[^/]+)/?", self.version)
        router.add("GET", group + r"/versions/?", self.versions)
        router.add("GET", group + r"/?", self.get_group)
        router.add("POST", group + r"/?", self.create)
        router.add("PUT", group + r"/?", self.update)
        router.add("DELETE", group + r"/?", self.delete)
        router.add("GET", r"/v2/deployments/?", self.list_deployments)
        router.add("DELETE", r"/v2/deployments/(?P<deployment_id>[^/]+)/?", self.cancel)

    def _group_id(self, request: Request) -> str:
        return canonical_path(request.params.get("group_id") or ROOT_ID)

    def get_group(self, request: Request) -> Response:
        """``GET /v2/groups[/{id}]``."""
        group_id = self._group_id(request)
        group_parts, app_parts = group_embeds(request)
        with self.core.scheduler.lock:
            if group_id not in self.core.root.groups:
                raise group_not_found(group_id)
            return Response(200, self.core.group_json(group_id, group_parts, app_parts))

    def versions(self, request: Request) -> Response:
        """``GET /v2/groups/{id}/versions``: the versions of the tree holding the group."""
        group_id = self._group_id(request)
        with self.core.scheduler.lock:
            if group_id not in self.core.root.groups:
                raise group_not_found(group_id)
            found = {r.groups[group_id].version for r in self.core.root_history.values()
                     if group_id in r.groups and r.groups[group_id].version}
        return Response(200, sorted(found, reverse=True))

    def version(self, request: Request) -> Response:
        """``GET /v2/groups/{id}/versions/{version}``."""
        group_id = self._group_id(request)
        wanted = request.params["version"]
        with self.core.scheduler.lock:
            for root in reversed(self.core.root_history.values()):
                meta = root.groups.get(group_id)
                if meta is not None and meta.version == wanted:
                    return Response(200, self.core.group_json(group_id, DEFAULT_GROUP_EMBED,
                                                              set(), root))
        raise group_not_found(group_id)

    def _body(self, request: Request) -> dict[str, Any]:
        raw = parse_body(request.body)
        errors = group_errors(raw)
        if errors:
            raise problem("Invalid JSON", errors)
        assert isinstance(raw, dict)
        return raw

    def create(self, request: Request) -> Response:
        """``POST /v2/groups[/{id}]``: 201 with ``Location`` and the deployment."""
        base = self._group_id(request)
        raw = self._body(request)
        group_id = canonical_path(str(raw.get("id", "")), base) if raw.get("id") else base
        with self.core.scheduler.lock:
            if group_id in self.core.root.apps:
                raise HttpProblem(409, {"message": f"An app with the path {group_id} already "
                                                   "exists."})
            if group_id in self.core.root.groups and group_id != ROOT_ID:
                raise HttpProblem(409, {"message": f"Group {group_id} is already created. Use "
                                                   "PUT to change this group."})
            target = self.core.root.copy()
            apply_group(target, group_id, raw)
            plan = self.core.deploy(target, qbool(request, "force", False))
        host = request.header("host", "localhost")
        return deployment_response(self.core, plan.id, plan.version, 201,
                                   {"Location": f"http://{host}/v2/groups{group_id}"})

    def update(self, request: Request) -> Response:
        """``PUT /v2/groups[/{id}]``: structure, ``scaleBy`` or ``version``; ``dryRun``."""
        group_id = self._group_id(request)
        raw = self._body(request)
        if group_id == ROOT_ID and raw.get("id") not in (None, "", "/"):
            group_id = canonical_path(str(raw["id"]))
        with self.core.scheduler.lock:
            target = self.core.root.copy()
            if "version" in raw and set(raw) <= {"id", "version"}:
                self._rollback(target, group_id, str(raw["version"]))
            elif "scaleBy" in raw:
                if group_id not in target.groups:
                    raise group_not_found(group_id)
                for app in target.apps_within(group_id):
                    target.apps[app["id"]] = {**app, "instances": scaled_instances(
                        app["instances"], float(raw["scaleBy"]))}
            else:
                apply_group(target, group_id, raw)
            if qbool(request, "dryRun", False):
                plan = self.core.prepare(target)[0]
                return Response(200, {"steps": plan.steps_json()})
            plan = self.core.deploy(target, qbool(request, "force", False))
        return deployment_response(self.core, plan.id, plan.version)

    def _rollback(self, target: Root, group_id: str, version: str) -> None:
        source = next((r for r in reversed(self.core.root_history.values())
                       if group_id in r.groups and r.groups[group_id].version == version), None)
        if source is None:
            raise HttpProblem(422, {"message": f"Group {group_id} does not exist in version "
                                               f"{version}"})
        target.remove_within(group_id)
        for gid, meta in source.groups.items():
            if is_within(gid, group_id):
                target.put_group(gid, meta)
        for app in source.apps_within(group_id):
            target.put_app(app)

    def delete(self, request: Request) -> Response:
        """``DELETE /v2/groups[/{id}]`` (``force`` defaults to false)."""
        group_id = self._group_id(request)
        with self.core.scheduler.lock:
            if group_id not in self.core.root.groups:
                raise group_not_found(group_id)
            target = self.core.root.copy()
            target.remove_within(group_id)
            target.groups.setdefault(ROOT_ID, GroupMeta())
            plan = self.core.deploy(target, qbool(request, "force", False))
        return deployment_response(self.core, plan.id, plan.version)

    def list_deployments(self, request: Request) -> Response:
        """``GET /v2/deployments``."""
        with self.core.scheduler.lock:
            items = [d.json() for d in self.core.deployments.deployments.values()]
        return Response(200, items)

    def cancel(self, request: Request) -> Response:
        """``DELETE /v2/deployments/{id}``: rollback deployment, or with ``force`` cancel only."""
        deployment_id = request.params["deployment_id"]
        with self.core.scheduler.lock:
            deployment = self.core.deployments.deployments.get(deployment_id)
            if deployment is None:
                raise HttpProblem(404, {"message": f"DeploymentPlan {deployment_id} does not "
                                                   "exist"})
            if qbool(request, "force", False):
                self.core.deployments.cancel(deployment, "The deployment was cancelled")
                return Response(202, None)
            target = revert_root(deployment.plan, self.core.root)
            plan = self.core.deploy(target, True)
        return deployment_response(self.core, plan.id, plan.version)
