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

import datetime as dt
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from kolla_mesos.sim import chronos_jobs as cj
from kolla_mesos.sim.cluster import Cluster, StatusUpdate, Task, TaskSpec
from kolla_mesos.sim.http import HttpProblem, Request, Response, Router
from kolla_mesos.sim.placement import NoPlacement, PlacementRequest

LOG = logging.getLogger(__name__)
FRAMEWORK = "chronos"


@dataclass
class _Run:
    name: str
    due_ms: int
    attempt: int
    arguments: str
    not_before: float
    scheduled: bool


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ChronosService:
    """Chronos REST API and scheduler loop over a :class:`Cluster`."""

    def __init__(self, cluster: Cluster, failure_retry: float = 60.0,
                 leader: str = "127.0.0.1:4400") -> None:
        self.cluster = cluster
        self.failure_retry = failure_retry
        self.leader = leader
        self.framework = cluster.register_framework(FRAMEWORK, self._on_status)
        self.router = Router()
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._jobs: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, dict[str, Any]] = {}  # C3: dependent jobs awaiting parents
        self._queue: list[_Run] = []
        self._running: dict[str, set[str]] = {}
        self._runs: dict[str, _Run] = {}
        self._parents_done: dict[str, set[str]] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chronos", daemon=True)
        self._add_routes()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the scheduler loop."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and kill the running job tasks."""
        self._stopped.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for task in self.cluster.tasks(FRAMEWORK):
            self.cluster.kill(task.id, grace=0.0)

    def reset(self) -> None:
        """Forget every job (their tasks are killed by the caller's cluster reset)."""
        with self._lock:
            self._jobs.clear()
            self._pending.clear()
            self._queue.clear()
            self._running.clear()
            self._runs.clear()
            self._parents_done.clear()

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
        now = _now()
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

    def _state(self, name: str) -> str:
        running = len(self._running.get(name, ()))
        if running:
            return f"{running} running"
        if any(run.name == name for run in self._queue):
            return "queued"
        return "idle"

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

    # --- scheduling --------------------------------------------------------------------------

    def _enqueue(self, name: str, attempt: int, arguments: str, not_before: float,
                 scheduled: bool, due_ms: int | None = None) -> None:
        if any(r.name == name for r in self._queue):
            return
        due = due_ms if due_ms is not None else int(time.time() * 1000)
        self._queue.append(_Run(name, due, attempt, arguments, not_before, scheduled))
        self._wake.notify_all()

    def _loop(self) -> None:
        with self._wake:
            while not self._stopped.is_set():
                delay = self._round()
                self._wake.wait(timeout=min(delay, 60.0))

    def _round(self) -> float:
        """One scheduler pass; returns seconds until something is due."""
        now = _now()
        moment = now.timestamp()
        for name, job in list(self._pending.items()):
            if all(p in self._jobs for p in job.get("parents", [])):
                self._jobs[name] = self._pending.pop(name)
        next_due = math.inf
        for name, job in self._jobs.items():
            if job["disabled"] or "schedule" not in job:
                continue
            parsed = cj.parse_schedule(job["schedule"], now)
            if parsed is None or parsed[0] == 0:
                continue
            start = parsed[1].timestamp()
            if start <= moment:
                self._enqueue(name, 0, " ".join(str(a) for a in job["arguments"]), moment,
                              scheduled=True, due_ms=int(start * 1000))
            else:
                next_due = min(next_due, start - moment)
        for run in list(self._queue):
            if run.not_before > moment:
                next_due = min(next_due, run.not_before - moment)
                continue
            target = self._jobs.get(run.name)
            if target is None or target["disabled"] or (self._running.get(run.name)
                                                        and not target["concurrent"]):
                self._queue.remove(run)
                continue
            if self._launch(target, run):
                self._queue.remove(run)
        if self._queue:
            next_due = min(next_due, 1.0)  # waiting for resources that others may free
        return next_due

    def _advance(self, job: dict[str, Any], now: dt.datetime) -> None:
        parsed = cj.parse_schedule(job["schedule"], now)
        if parsed is None:
            return
        repetitions, start, period = parsed
        period_text = job["schedule"].rsplit("/", 1)[1]
        if period <= 0:
            new_start = start
        else:
            steps = max(1, math.ceil((now - start).total_seconds() / period))
            new_start = start + dt.timedelta(seconds=steps * period)
        if repetitions == 1:
            new_start = start + dt.timedelta(seconds=period)
        remaining = repetitions - 1 if repetitions > 0 else repetitions
        job["schedule"] = cj.format_schedule(remaining, new_start, period_text)

    def _launch(self, job: dict[str, Any], run: _Run) -> bool:
        name = job["name"]
        request = PlacementRequest(group=f"chronos:{name}", cpus=job["cpus"], mem=job["mem"],
                                   disk=job["disk"],
                                   constraints=tuple(tuple(str(x) for x in c)
                                                     for c in job["constraints"]))
        placement = self.cluster.place(request)
        if isinstance(placement, NoPlacement):
            LOG.debug("chronos job %s waits for resources: %s", name, placement.message)
            return False
        task_id = f"ct:{run.due_ms}:{run.attempt}:{name}:{run.arguments}"
        now = _now()
        env = {str(e["name"]): str(e["value"]) for e in job["environmentVariables"]}
        env.update({
            "mesos_task_id": task_id, "CHRONOS_JOB_OWNER": job["owner"],
            "CHRONOS_JOB_NAME": name, "CHRONOS_RESOURCE_MEM": str(job["mem"]),
            "CHRONOS_RESOURCE_CPU": str(job["cpus"]), "CHRONOS_RESOURCE_DISK": str(job["disk"]),
            "CHRONOS_JOB_RUN_TIME": cj.format_time(now),
            "CHRONOS_JOB_RUN_ATTEMPT": str(run.attempt),
        })
        cmd: str | None = None
        args: list[str] | None = None
        if job["shell"]:
            cmd = job["command"] + (" " + run.arguments if run.arguments else "")
        else:
            args = [job["command"], *[str(a) for a in job["arguments"]]]
        if run.scheduled and "schedule" in job:
            self._advance(job, now)
        self._runs[task_id] = run
        self._running.setdefault(name, set()).add(task_id)
        spec = TaskSpec(task_id, FRAMEWORK, placement, request, cmd=cmd, args=args, env=env,
                        container=job["container"], name=f"ChronosTask:{name}")
        self.cluster.launch(spec)
        return True

    # --- task status -------------------------------------------------------------------------

    def _on_status(self, task: Task, update: StatusUpdate) -> None:
        if not task.active:
            with self._wake:
                self._finished(task, update)
                self._wake.notify_all()

    def _finished(self, task: Task, update: StatusUpdate) -> None:
        run = self._runs.pop(task.id, None)
        if run is None:
            return
        self._running.get(run.name, set()).discard(task.id)
        job = self._jobs.get(run.name)
        if job is None:
            return
        if update.state == "TASK_FINISHED":
            self._succeeded(job)
        elif update.state in ("TASK_FAILED", "TASK_LOST", "TASK_ERROR"):
            previous_ok = not job["lastError"] or job["lastSuccess"] > job["lastError"]
            if run.attempt < job["retries"] and previous_ok:
                self._enqueue(run.name, run.attempt + 1, run.arguments,
                              time.time() + self.failure_retry, scheduled=False)
                return
            job["errorCount"] += 1
            job["errorsSinceLastSuccess"] += 1
            job["lastError"] = cj.format_time(_now())
            if job["softError"]:
                self._fire_children(job["name"])

    def _succeeded(self, job: dict[str, Any]) -> None:
        job["successCount"] += 1
        job["errorsSinceLastSuccess"] = 0
        job["lastSuccess"] = cj.format_time(_now())
        parsed = cj.parse_schedule(job.get("schedule", ""), _now())
        if parsed is not None and parsed[0] == 0:
            job["disabled"] = True
        self._fire_children(job["name"])

    def _fire_children(self, parent: str) -> None:
        for name, child in self._jobs.items():
            parents = child.get("parents")
            if not parents or parent not in parents:
                continue
            done = self._parents_done.setdefault(name, set())
            done.add(parent)
            if done >= set(parents):
                self._parents_done[name] = set()
                arguments = " ".join(str(a) for a in child["arguments"])
                self._enqueue(name, 0, arguments, time.time(), scheduled=False)
