"""``/v2/apps`` handlers: list, create, update (partial, full, rollback), delete, restart,
versions, and the app's tasks."""

from __future__ import annotations

import re
from typing import Any

from mesos_sim.http import HttpProblem, Request, Response, Router
from mesos_sim.marathon.core import MarathonCore, app_not_found
from mesos_sim.marathon.model import (
    App,
    Root,
    app_json,
    canonical_path,
    is_within,
    normalize_app,
)
from mesos_sim.marathon.tasks import TaskRecord
from mesos_sim.marathon.validate import (
    check_app,
    known_fields,
    parse_body,
    problem,
)

EMPTY_HISTORY: dict[str, App] = {}
LIST_EMBED = {"counts", "deployments"}
ONE_EMBED = {"counts", "deployments", "tasks", "lastTaskFailure"}
_EMBED_PREFIX = re.compile(r"^(group\.apps\.|apps\.|app\.)")


def qbool(request: Request, name: str, default: bool) -> bool:
    """A boolean query parameter as JAX-RS reads it: only ``true`` (any case) is true."""
    value = request.arg(name)
    return default if value is None else value.strip().lower() == "true"


def embeds(request: Request, always: set[str]) -> set[str]:
    """Embed names without their ``apps.``/``app.``/``group.apps.`` prefix, plus ``always``."""
    result = set(always)
    for raw in request.query.get("embed", []):
        name = _EMBED_PREFIX.sub("", raw)
        if name == "failures":
            result |= {"tasks", "lastTaskFailure", "deployments"}
        elif name == "tasks":
            result |= {"tasks", "deployments"}
        else:
            result.add(name)
    return result


def deployment_response(core: MarathonCore, plan_id: str, version: str, status: int = 200,
                        headers: dict[str, str] | None = None) -> Response:
    """``{deploymentId, version}`` with the ``Marathon-Deployment-Id`` header."""
    return Response(status, {"deploymentId": plan_id, "version": version},
                    headers={"Marathon-Deployment-Id": plan_id, **(headers or {})})


def _label_selector(selector: str) -> list[tuple[str, str, list[str]]]:
    terms: list[tuple[str, str, list[str]]] = []
    for part in re.split(r",(?![^()]*\))", selector):
        part = part.strip()
        match = re.fullmatch(r"([^!=\s]+)\s*(==|!=|\s+in\s+|\s+notin\s+)\s*(.*)", part)
        if match is None:
            terms.append((part, "exists", []))
            continue
        values = [v.strip() for v in match.group(3).strip("()").split(",")]
        terms.append((match.group(1), match.group(2).strip(), values))
    return terms


def _label_match(app: App, terms: list[tuple[str, str, list[str]]]) -> bool:
    labels = app.get("labels", {})
    for key, op, values in terms:
        value = labels.get(key)
        if (op == "exists" and key not in labels) or (op in ("==", "in") and value not in values) \
                or (op in ("!=", "notin") and value in values):
            return False
    return True


class AppsApi:
    """The ``/v2/apps`` routes over a :class:`MarathonCore`."""

    def __init__(self, core: MarathonCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        """Add the routes (specific paths first)."""
        app = r"/v2/apps/(?P<app_id>.+?)"
        router.add("GET", r"/v2/apps/?", self.list_apps)
        router.add("POST", r"/v2/apps/?", self.create)
        router.add("PUT", r"/v2/apps/?", self.update_many)
        router.add("PATCH", r"/v2/apps/?", self.update_many)
        router.add("POST", app + r"/restart/?", self.restart)
        router.add("GET", app + r"/tasks/?", self.tasks)
        router.add("DELETE", app + r"/tasks/(?P<task_id>[^/]+)/?", self.kill_task)
        router.add("DELETE", app + r"/tasks/?", self.kill_tasks)
        router.add("GET", app + r"/versions/(?P<version>[^/]+)/?", self.version)
        router.add("GET", app + r"/versions/?", self.versions)
        router.add("GET", r"/v2/apps(?P<group>(/.+)?)/\*/?", self.group_apps)
        router.add("GET", app + r"/?", self.get_app)
        router.add("PUT", app + r"/?", self.update)
        router.add("PATCH", app + r"/?", self.patch)
        router.add("DELETE", app + r"/?", self.delete)

    # --- reads ---------------------------------------------------------------------------------

    def list_apps(self, request: Request) -> Response:
        """``GET /v2/apps`` with ``id``, ``cmd``, ``label`` filters and ``embed``."""
        wanted = embeds(request, LIST_EMBED)
        id_filter = (request.arg("id") or "").lower()
        cmd_filter = request.arg("cmd") or ""
        terms = _label_selector(request.arg("label") or "") if request.arg("label") else []
        with self.core.scheduler.lock:
            apps = [self.core.app_info(a, wanted)
                    for _, a in sorted(self.core.root.apps.items())
                    if id_filter in a["id"].lower() and cmd_filter in (a.get("cmd") or "")
                    and _label_match(a, terms)]
        return Response(200, {"apps": apps})

    def group_apps(self, request: Request) -> Response:
        """``GET /v2/apps/{group}/*``: every app below a group."""
        group = canonical_path(request.params.get("group") or "/")
        wanted = embeds(request, LIST_EMBED)
        with self.core.scheduler.lock:
            apps = [self.core.app_info(a, wanted) for _, a in sorted(self.core.root.apps.items())
                    if is_within(a["id"], group)]
        return Response(200, {"*": apps})

    def _app(self, request: Request) -> App:
        app_id = canonical_path(request.params["app_id"])
        app = self.core.root.apps.get(app_id)
        if app is None:
            raise app_not_found(app_id)
        return app

    def get_app(self, request: Request) -> Response:
        """``GET /v2/apps/{id}``."""
        with self.core.scheduler.lock:
            app = self._app(request)
            return Response(200, {"app": self.core.app_info(app, embeds(request, ONE_EMBED))})

    def versions(self, request: Request) -> Response:
        """``GET /v2/apps/{id}/versions``: newest first."""
        with self.core.scheduler.lock:
            app = self._app(request)
            history = self.core.app_versions.get(app["id"], EMPTY_HISTORY)
            return Response(200, {"versions": sorted(history, reverse=True)})

    def version(self, request: Request) -> Response:
        """``GET /v2/apps/{id}/versions/{version}``: that definition, unwrapped."""
        with self.core.scheduler.lock:
            app = self._app(request)
            history = self.core.app_versions.get(app["id"], EMPTY_HISTORY)
            stored = history.get(request.params["version"])
            if stored is None:
                raise HttpProblem(404, {"message": f"App '{app['id']}' does not exist in "
                                                   f"version {request.params['version']}"})
            return Response(200, app_json(stored))

    def tasks(self, request: Request) -> Response:
        """``GET /v2/apps/{id}/tasks`` (``{group}/*/tasks`` for every app of a group)."""
        raw = request.params["app_id"]
        with self.core.scheduler.lock:
            if raw.rstrip("/").endswith("*"):
                group = canonical_path(raw.rstrip("/")[:-1] or "/")
                ids = [a for a in self.core.root.apps if is_within(a, group)]
            else:
                ids = [self._app(request)["id"]]
            tasks = [t.json() for a in ids for t in self.core.scheduler.app_tasks(a)]
        return Response(200, {"tasks": tasks})

    # --- writes --------------------------------------------------------------------------------

    def _post_event(self, request: Request, app: App) -> None:
        self.core.events.publish("api_post_event", clientIp=request.client_address,
                                 uri=request.path, appDefinition=app_json(app))

    def create(self, request: Request) -> Response:
        """``POST /v2/apps``: 201, ``Location``, the submitted AppInfo."""
        raw = parse_body(request.body)
        check_app(raw)
        app_id = canonical_path(raw["id"])
        app = normalize_app(known_fields(raw), app_id)
        with self.core.scheduler.lock:
            if app_id in self.core.root.apps:
                raise HttpProblem(409, {"message": f"An app with id [{app_id}] already exists."})
            target = self.core.root.copy()
            target.put_app(app)
            plan = self.core.deploy(target, qbool(request, "force", False))
            self._post_event(request, target.apps[app_id])
            body = {**self.core.app_info(app, set()), "version": plan.version,
                    "tasksStaged": 0, "tasksRunning": 0, "tasksHealthy": 0,
                    "tasksUnhealthy": 0, "deployments": [{"id": plan.id}]}
        host = request.header("host", "localhost")
        return Response(201, body, headers={"Location": f"http://{host}{app_id}",
                                            "Marathon-Deployment-Id": plan.id})

    def _updated(self, current: App | None, app_id: str, body: dict[str, Any],
                 partial: bool) -> App:
        if set(body) == {"version"} or (set(body) <= {"id", "version"} and "version" in body):
            stored = self.core.app_versions.get(app_id, EMPTY_HISTORY).get(str(body["version"]))
            if stored is None:
                raise problem("Object is not valid", [(
                    "/version", f"App {app_id} does not exist in version {body['version']}")])
            return normalize_app(app_json(stored), app_id)
        check_app(body, require_id=False)
        merged = {**app_json(current), **body} if (partial and current) else dict(body)
        for key in ("version", "versionInfo"):
            merged.pop(key, None)
        merged["id"] = app_id
        check_app(merged)
        return normalize_app(known_fields(merged), app_id)

    def update(self, request: Request) -> Response:
        """``PUT /v2/apps/{id}`` (creates when missing: 201)."""
        return self._update(request, qbool(request, "partialUpdate", True))

    def patch(self, request: Request) -> Response:
        """``PATCH /v2/apps/{id}``: partial update of an existing app."""
        with self.core.scheduler.lock:
            self._app(request)
        return self._update(request, True)

    def _update(self, request: Request, partial: bool) -> Response:
        raw = parse_body(request.body)
        if not isinstance(raw, dict):
            raise problem("Invalid JSON", [("/", "error.expected.jsobject")])
        app_id = canonical_path(request.params["app_id"])
        with self.core.scheduler.lock:
            current = self.core.root.apps.get(app_id)
            app = self._updated(current, app_id, raw, partial)
            target = self.core.root.copy()
            target.put_app(app)
            plan = self.core.deploy(target, qbool(request, "force", False))
            self._post_event(request, target.apps[app_id])
        if current is None:
            host = request.header("host", "localhost")
            return deployment_response(self.core, plan.id, plan.version, 201,
                                       {"Location": f"http://{host}{app_id}"})
        return deployment_response(self.core, plan.id, plan.version)

    def update_many(self, request: Request) -> Response:
        """``PUT``/``PATCH /v2/apps``: an array of (partial) apps in one deployment."""
        raw = parse_body(request.body)
        if not isinstance(raw, list):
            raise problem("Invalid JSON", [("/", "error.expected.jsarray")])
        partial = request.method == "PATCH" or qbool(request, "partialUpdate", True)
        with self.core.scheduler.lock:
            target = self.core.root.copy()
            for index, body in enumerate(raw):
                if not isinstance(body, dict) or "id" not in body:
                    raise problem("Invalid JSON", [(f"/({index})/id", "error.path.missing")])
                app_id = canonical_path(str(body["id"]))
                target.put_app(self._updated(target.apps.get(app_id), app_id, body, partial))
            plan = self.core.deploy(target, qbool(request, "force", False))
        return deployment_response(self.core, plan.id, plan.version)

    def delete(self, request: Request) -> Response:
        """``DELETE /v2/apps/{id}`` (``force`` defaults to true)."""
        with self.core.scheduler.lock:
            app = self._app(request)
            target = self.core.root.copy()
            del target.apps[app["id"]]
            plan = self.core.deploy(target, qbool(request, "force", True))
        return deployment_response(self.core, plan.id, plan.version)

    def restart(self, request: Request) -> Response:
        """``POST /v2/apps/{id}/restart``: a rolling restart."""
        with self.core.scheduler.lock:
            app = self._app(request)
            plan = self.core.deploy(self.core.root.copy(), qbool(request, "force", False),
                                    restarts=[app["id"]])
        return deployment_response(self.core, plan.id, plan.version)

    # --- killing tasks ---------------------------------------------------------------------------

    def kill_and_scale(self, request: Request, victims: list[TaskRecord]) -> Response | None:
        """Kill ``victims``; with ``scale=true`` also lower ``instances`` in one deployment
        (the response), else ``None`` (the caller answers with the killed tasks)."""
        scale = qbool(request, "scale", False)
        if scale and qbool(request, "wipe", False):
            raise HttpProblem(400, {"message": "You cannot use scale and wipe at the same "
                                               "time."})
        sched = self.core.scheduler
        for task in victims:
            sched.kill_task(task, None)
        sched.poke()
        if not scale:
            return None
        target: Root = self.core.root.copy()
        for app_id in sorted({t.app_id for t in victims}):
            app = target.apps.get(app_id)
            if app is not None:
                gone = sum(1 for t in victims if t.app_id == app_id)
                target.apps[app_id] = {**app, "instances": max(0, app["instances"] - gone)}
        plan = self.core.deploy(target, qbool(request, "force", False))
        return deployment_response(self.core, plan.id, plan.version)

    def kill_task(self, request: Request) -> Response:
        """``DELETE /v2/apps/{id}/tasks/{taskId}``."""
        with self.core.scheduler.lock:
            app = self._app(request)
            task_id = request.params["task_id"]
            task = next((t for t in self.core.scheduler.app_tasks(app["id"])
                         if task_id in (t.id, t.instance_id)), None)
            if task is None:
                raise HttpProblem(404, {"message": f"Task '{task_id}' does not exist"})
            body = task.json()
            scaled = self.kill_and_scale(request, [task])
        return scaled or Response(200, {"task": body})

    def kill_tasks(self, request: Request) -> Response:
        """``DELETE /v2/apps/{id}/tasks[?host=]``."""
        with self.core.scheduler.lock:
            app = self._app(request)
            host = request.arg("host")
            victims = [t for t in self.core.scheduler.app_tasks(app["id"])
                       if host in (None, "*", t.host) and t.state in
                       ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING")]
            bodies = [t.json() for t in victims]
            scaled = self.kill_and_scale(request, victims)
        return scaled or Response(200, {"tasks": bodies})
