"""``/v2/tasks``, ``/v2/tasks/delete`` and ``/v2/queue`` handlers."""

from __future__ import annotations

import re

from mesos_sim.http import HttpProblem, Request, Response, Router
from mesos_sim.marathon.api_apps import AppsApi
from mesos_sim.marathon.core import MarathonCore
from mesos_sim.marathon.model import app_json, canonical_path
from mesos_sim.marathon.queue import queue_item
from mesos_sim.marathon.validate import parse_body

_TASK_ID = re.compile(r"^(.+)[._](instance-|marathon-)?[0-9a-f-]{36}(\._app\.\d+|[._].*)?$")
_STATUS = {"running": ("TASK_RUNNING",), "staging": ("TASK_STAGING", "TASK_STARTING")}


class TasksApi:
    """Cluster-wide task routes and the launch queue."""

    def __init__(self, core: MarathonCore, apps: AppsApi) -> None:
        self.core = core
        self.apps = apps

    def register(self, router: Router) -> None:
        """Add the routes."""
        router.add("GET", r"/v2/tasks/?", self.list_tasks)
        router.add("POST", r"/v2/tasks/delete/?", self.delete_tasks)
        router.add("GET", r"/v2/queue/?", self.queue)
        router.add("DELETE", r"/v2/queue/(?P<app_id>.+)/delay/?", self.reset_delay)

    def list_tasks(self, request: Request) -> Response:
        """``GET /v2/tasks[?status=running|staging]``."""
        wanted: set[str] = set()
        for status in request.query.get("status", []) + request.query.get("status[]", []):
            wanted.update(_STATUS.get(status.lower(), ()))
        with self.core.scheduler.lock:
            tasks = [t.json() for app_id in sorted(self.core.scheduler.runtimes)
                     for t in self.core.scheduler.app_tasks(app_id)
                     if not wanted or t.state in wanted]
        return Response(200, {"tasks": tasks})

    def delete_tasks(self, request: Request) -> Response:
        """``POST /v2/tasks/delete`` with ``{"ids": [...]}``; unknown ids are ignored."""
        raw = parse_body(request.body)
        ids = raw.get("ids") if isinstance(raw, dict) else None
        if not isinstance(ids, list):
            raise HttpProblem(422, {"message": "Invalid JSON", "details": [
                {"path": "/ids", "errors": ["error.path.missing"]}]})
        for task_id in ids:
            if not isinstance(task_id, str) or not _TASK_ID.match(task_id):
                raise HttpProblem(400, {"message": f"Invalid task id '{task_id}'"})
        with self.core.scheduler.lock:
            victims = [self.core.scheduler.tasks[t] for t in ids if t in self.core.scheduler.tasks]
            bodies = [t.json() for t in victims]
            scaled = self.apps.kill_and_scale(request, victims)
        return scaled or Response(200, {"tasks": bodies})

    def queue(self, request: Request) -> Response:
        """``GET /v2/queue``: apps with instances left to launch, their delay and why offers
        did not fit (see :mod:`mesos_sim.marathon.queue`)."""
        now = self.core.scheduler.clock()
        embed = "lastUnusedOffers" in request.query.get("embed", [])
        with self.core.scheduler.lock:
            items = [queue_item(app_json(rt.restart_to or rt.app), rt.launch, rt.delay_until,
                                now, embed)
                     for _app_id, rt in sorted(self.core.scheduler.runtimes.items())
                     if not rt.removing and rt.launch is not None and rt.launch.count > 0]
        return Response(200, {"queue": items})

    def reset_delay(self, request: Request) -> Response:
        """``DELETE /v2/queue/{id}/delay``: launch again without waiting."""
        app_id = canonical_path(request.params["app_id"])
        with self.core.scheduler.lock:
            rt = self.core.scheduler.runtimes.get(app_id)
            if rt is None or rt.launch is None:
                raise HttpProblem(404, {"message": f"Application {app_id} not found in tasks "
                                                   "queue."})
            rt.reset_backoff()
        self.core.scheduler.poke()
        return Response(204, None)
