"""``/v2/tasks``, ``/v2/tasks/delete`` and ``/v2/queue`` handlers."""

from __future__ import annotations

import re

from mesos_sim.http import HttpProblem, Request, Response, Router
from mesos_sim.marathon.api_apps import AppsApi
from mesos_sim.marathon.core import MarathonCore
from mesos_sim.marathon.model import app_json, canonical_path, timestamp
from mesos_sim.marathon.scheduler import Rejected
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
        """``GET /v2/queue``: apps waiting for tasks, their delay and why offers did not fit."""
        now = self.core.scheduler.clock()
        items = []
        with self.core.scheduler.lock:
            for _app_id, rt in sorted(self.core.scheduler.runtimes.items()):
                if rt.removing or rt.queued_since is None:
                    continue
                app = rt.restart_to or rt.app
                missing = max(0, int(app["instances"]) - len(rt.active_tasks()))
                if rt.restart_to is None:
                    missing = max(0, rt.target - len(rt.active_tasks()))
                if missing == 0:
                    continue
                left = max(0.0, rt.delay_until - now)
                reject = rt.last_reject if isinstance(rt.last_reject, Rejected) else None
                summary = reject.summary if reject else []
                processed = int(summary[0]["processed"]) if summary else 0
                offers: dict[str, object] = {
                    "processedOffersCount": processed,
                    "unusedOffersCount": processed if reject else 0,
                    "rejectSummaryLastOffers": summary, "rejectSummaryLaunchAttempt": summary}
                if reject:
                    offers["lastUnusedOfferAt"] = timestamp(now)
                item = {
                    "app": app_json(app), "count": missing, "role": app.get("role", "*"),
                    "delay": {"timeLeftSeconds": int(left + 0.999), "overdue": left <= 0},
                    "since": timestamp(rt.queued_since), "processedOffersSummary": offers}
                if "lastUnusedOffers" in request.query.get("embed", []):
                    item["lastUnusedOffers"] = [
                        {"offer": {"hostname": host}, "timestamp": timestamp(now),
                         "reason": reasons}
                        for host, reasons in (reject.reasons.items() if reject else [])]
                items.append(item)
        return Response(200, {"queue": items})

    def reset_delay(self, request: Request) -> Response:
        """``DELETE /v2/queue/{id}/delay``: launch again without waiting."""
        app_id = canonical_path(request.params["app_id"])
        with self.core.scheduler.lock:
            rt = self.core.scheduler.runtimes.get(app_id)
            if rt is None or rt.queued_since is None:
                raise HttpProblem(404, {"message": f"Application {app_id} not found in tasks "
                                                   "queue."})
            rt.reset_backoff()
        self.core.scheduler.poke()
        return Response(204, None)
