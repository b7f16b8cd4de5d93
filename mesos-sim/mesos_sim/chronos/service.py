"""The Chronos API of the simulator: ``/v1/scheduler`` (3.x) and ``/scheduler`` (2.x).

``ChronosService(cluster, failure_retry=60.0)`` exposes ``router`` and ``start()``/``stop()``/
``reset()``.  Jobs run as tasks of the framework ``chronos`` on the :class:`Cluster`, with task
ids ``ct:<dueMs>:<attempt>:<name>:<args>`` as Chronos names them.  Semantics (see
``chronos_mesos.md`` sections 2-5): POST creates or replaces (204; counters come from the body);
``R1``/no-schedule jobs become ``R0`` at launch and ``disabled`` after success; failed runs are
retried ``retries`` times after ``failure_retry`` seconds when the previous run did not fail;
dependent jobs run once all their parents succeeded since their own last run; a PUT run of a
disabled job, or of a running non-concurrent one, is silently dropped; unknown names are 400.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from mesos_sim.chronos import jobs as cj
from mesos_sim.chronos.scheduler import FRAMEWORK, ChronosScheduler, now_utc
from mesos_sim.cluster import Cluster
from mesos_sim.http import HttpProblem, Request, Response, Router

LOG = logging.getLogger(__name__)
__all__ = ["FRAMEWORK", "ChronosService"]


class ChronosService(ChronosScheduler):
    """Chronos REST API (``router``) and scheduler loop over a :class:`Cluster`."""

    def __init__(self, cluster: Cluster, failure_retry: float = 60.0,
                 leader: str = "127.0.0.1:4400") -> None:
        super().__init__(cluster, failure_retry)
        self.leader = leader
        self.router = Router()
        self._add_routes()

    # --- routes ------------------------------------------------------------------------------

    def _add_routes(self) -> None:
        add = self.router.add
        add("GET", r"/ping", lambda _r: Response(200, "pong\n"))
        add("GET", r"/metrics", lambda _r: Response(200, {
            "version": "3.0.0", "gauges": {}, "counters": {}, "histograms": {}, "meters": {},
            "timers": {}}))
        for prefix, legacy in (("/v1/scheduler", False), ("/scheduler", True)):
            def bind(handler: Any, legacy: bool = legacy) -> Any:
                return lambda request: handler(request, legacy)

            name = r"(?P<name>[^/]+)"
            add("POST", prefix + r"/iso8601", bind(self._post_schedule))
            add("POST", prefix + r"/dependency", bind(self._post_dependency))
            add("GET", prefix + r"/jobs", bind(self._list))
            add("GET", prefix + r"/jobs/search", bind(self._search))
            add("PUT", prefix + r"/job/" + name, bind(self._run_now))
            add("DELETE", prefix + r"/job/" + name, bind(self._delete))
            add("DELETE", prefix + r"/task/kill/" + name, bind(self._kill))
            add("PUT", prefix + r"/job/success/" + name, bind(self._mark_success))
            add("GET", prefix + r"/job/stat/" + name, bind(self._stat))
            add("GET", prefix + r"/graph/csv", bind(self._graph_csv))
            add("GET", prefix + r"/graph/dot", bind(self._graph_dot))
            add("GET", prefix + r"/leader", lambda _r: Response(200, {"leader": self.leader}))
            if legacy:
                add("PUT", prefix + r"/iso8601", bind(self._post_schedule))
                add("PUT", prefix + r"/dependency", bind(self._post_dependency))
            else:
                add("GET", prefix + r"/jobs/summary", bind(self._summary))
                add("GET", prefix + r"/job/" + name, bind(self._get))

    @staticmethod
    def _body(request: Request) -> Any:
        if "json" not in (request.header("content-type") or ""):
            raise HttpProblem(415, "")
        try:
            return request.json()
        except HttpProblem:
            raise cj.server_error() from None

    def _job(self, name: str, legacy: bool, what: str = "Job") -> dict[str, Any]:
        job = self._jobs.get(name)
        if job is None:
            raise cj.bad_request(f"{what} '{name}' not found", legacy)
        return job

    def _post_schedule(self, request: Request, legacy: bool) -> Response:
        return self._post(request, legacy)

    def _post_dependency(self, request: Request, legacy: bool) -> Response:
        return self._post(request, legacy)

    def _post(self, request: Request, legacy: bool) -> Response:
        now = now_utc()
        job = cj.parse_job(self._body(request), dependent=False, legacy=legacy, now=now)
        name = job["name"]
        with self._wake:
            old = self._jobs.get(name)
            if old is None:
                cj.validate_new(job, legacy=legacy, now=now)
            else:
                cj.validate_schedule(job, legacy=legacy, now=now)
            parents = job.get("parents")
            if parents is not None:
                missing = [p for p in parents if p not in self._jobs]
                if old is None and not parents:
                    raise cj.bad_request("Error, parent does not exist", legacy,
                                         java=not legacy, status=500)
                if missing and (old is not None or legacy):
                    label = "JobSchedule" if old is not None else "Job"
                    raise cj.bad_request(f"{label} {name} does not have all parents defined!",
                                         legacy)
                if missing:
                    self._pending[name] = job
                    return Response(204)
            self._pending.pop(name, None)
            self._jobs[name] = job
            self._wake.notify_all()
        return Response(204)

    def _list(self, request: Request, legacy: bool) -> Response:
        with self._lock:
            jobs = [cj.serialize(j, cross_fill=True, legacy=legacy) for j in self._jobs.values()]
        return Response(200, jobs)

    def _search(self, request: Request, legacy: bool) -> Response:
        name = (request.arg("name") or "").lower()
        command = (request.arg("command") or "").lower()
        anything = (request.arg("any") or "").lower()
        try:
            limit = int(request.arg("limit") or 10)
            offset = int(request.arg("offset") or 0)
        except ValueError:
            raise HttpProblem(400, "") from None
        with self._lock:
            jobs = list(self._jobs.values())
        hits = []
        for job in jobs:
            text = [job["name"].lower(), job["command"].lower()]
            match = (not name or name in text[0]) and (not command or command in text[1])
            if anything and any(anything in t for t in text + [job["description"].lower()]):
                match = True
            if match:
                hits.append(cj.serialize(job, cross_fill=False, legacy=legacy))
        return Response(200, hits[offset:offset + limit])

    def _summary(self, request: Request, legacy: bool) -> Response:
        with self._lock:
            jobs = [{"name": n, "status": cj.last_status(j), "state": self._state(n),
                     "schedule": j.get("schedule", ""), "parents": list(j.get("parents", [])),
                     "disabled": j["disabled"]} for n, j in self._jobs.items()]
        return Response(200, {"jobs": jobs})

    def _get(self, request: Request, legacy: bool) -> Response:
        with self._lock:
            job = self._job(request.params["name"], legacy)
            return Response(200, cj.serialize(job, cross_fill=False, legacy=legacy))

    def _run_now(self, request: Request, legacy: bool) -> Response:
        name = request.params["name"]
        with self._wake:
            job = self._job(name, legacy)
            arguments = request.arg("arguments")
            if arguments is None:
                arguments = " ".join(str(a) for a in job["arguments"])
            self._enqueue(name, 0, arguments.replace(";", ""), time.time(), scheduled=False)
        return Response(204)

    def _delete(self, request: Request, legacy: bool) -> Response:
        name = request.params["name"]
        with self._wake:
            job = self._job(name, legacy, "JobSchedule")
            del self._jobs[name]
            self._queue = [r for r in self._queue if r.name != name]
            for child in self._jobs.values():
                if name in child.get("parents", []):
                    child["parents"] = [p for p in child["parents"] if p != name]
                    if not child["parents"]:
                        del child["parents"]
                        if "schedule" in job:
                            child["schedule"] = job["schedule"]
                            child["scheduleTimeZone"] = job.get("scheduleTimeZone", "")
                        else:
                            child["parents"] = list(job.get("parents", []))
            tasks = list(self._running.get(name, ()))
        for task_id in tasks:
            self.cluster.kill(task_id)
        return Response(204)

    def _kill(self, request: Request, legacy: bool) -> Response:
        name = request.params["name"]
        with self._lock:
            self._job(name, legacy, "JobSchedule")
            tasks = list(self._running.get(name, ()))
        for task_id in tasks:
            self.cluster.kill(task_id)
        return Response(204)

    def _mark_success(self, request: Request, legacy: bool) -> Response:
        name = request.params["name"]
        with self._wake:
            job = self._job(name, legacy)
            self._succeeded(job)
        return Response(200, f"marked job {name} as successful: true")

    def _stat(self, request: Request, legacy: bool) -> Response:
        with self._lock:
            self._job(request.params["name"], legacy)
        histogram = {k: 0.0 for k in ("75thPercentile", "95thPercentile", "98thPercentile",
                                      "99thPercentile", "median", "mean")}
        histogram["count"] = 0
        return Response(200, {"histogram": histogram, "taskStatHistory": []})

    def _graph_csv(self, request: Request, legacy: bool) -> Response:
        with self._lock:
            lines = []
            for name, job in self._jobs.items():
                state = self._state(name)
                current = "running" if state.endswith("running") else state
                lines.append(f"node,{name},{cj.last_status(job)},{current}")
            for name, job in self._jobs.items():
                lines.extend(f"link,{parent},{name}" for parent in job.get("parents", []))
        return Response(200, "".join(line + "\n" for line in lines))

    def _graph_dot(self, request: Request, legacy: bool) -> Response:
        with self._lock:
            edges = [f'"{p}"->"{n}";' for n, j in self._jobs.items() for p in j.get("parents", [])]
        return Response(200, "digraph G {\n" + "\n".join(edges) + "\n}\n")
