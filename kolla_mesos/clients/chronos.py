"""Chronos client: one-shot and dependent jobs on Chronos 3.x and 2.x.

The API prefix is detected on first use: ``/v1/scheduler`` (3.x) or ``/scheduler`` (2.x)
(reference chronos_mesos.md section 1).  Chronos answers 400 (not 404) for an unknown job, with
a Java stack trace in ``message`` (3.x) or plain text (2.x); both become NotFoundError.
Completion is read from the job's counters (section 5): Chronos updates ``lastError`` only
after the final retry, so a job whose last state is ``failure`` has used up its retries.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kolla_mesos import errors
from kolla_mesos.clients.http import HttpClient, body_message, display_url
from kolla_mesos.clients.mesos import MesosClient
from kolla_mesos.clients.retry import RetryPolicy

LOG = logging.getLogger(__name__)

_JAVA_PREFIX = re.compile(r"^(?:[\w$.]+(?:Exception|Error): )?(?:requirement failed: )?")
_FIELDS = (("name", "name"), ("schedule", "schedule"), ("parent", "parents"),
           ("uri", "fetch"), ("fetch", "fetch"))


def chronos_message(body: Any) -> str:
    """The first line of a Chronos error body, without the Java exception prefix."""
    return _JAVA_PREFIX.sub("", body_message(body))


def map_error(status: int, body: Any, what: str) -> errors.HttpError:
    """Typed error for a Chronos error answer (pure)."""
    message = chronos_message(body)
    raw = str(body)[:2000]
    if isinstance(body, str) and body.lstrip().startswith("<"):
        message = ""  # Jetty's HTML error page: a deserialisation failure
    if status == 404 or (status == 400 and "not found" in message.lower()):
        return errors.NotFoundError(f"Chronos: {message or 'not found'} ({what}).",
                                    status=status, body=raw)
    if status == 400 or (status == 500 and "parent does not exist" in message):
        field = next((f for key, f in _FIELDS if key in message.lower()), "/")
        return errors.InvalidDefinitionError(
            f"Chronos rejected {what}: {message or 'invalid job'}", [(field, message)],
            status=status)
    if status >= 500:
        return errors.ServerError(
            f"Chronos answered HTTP {status} to {what}"
            + (f": {message}" if message else " (a malformed job makes Chronos fail this way)."),
            status=status, body=raw)
    return errors.HttpError(f"Chronos answered HTTP {status} to {what}: {message}",
                            status=status, body=raw)


def last_state(job: Mapping[str, Any]) -> str:
    """``fresh``, ``success`` or ``failure``, as Chronos' Exporter.getLastState computes it."""
    success = str(job.get("lastSuccess") or "")
    error = str(job.get("lastError") or "")
    if not success and not error:
        return "fresh"
    if success and (not error or success > error):
        return "success"
    return "failure"


@dataclass(frozen=True)
class JobProgress:
    """What :meth:`ChronosClient.wait_for_jobs` reports for one job."""

    name: str
    status: str  # fresh | success | failure | missing
    state: str  # idle | queued | "<n> running" | unknown
    success_count: int
    error_count: int


class ChronosClient:
    """Thin client of the Chronos job API with typed errors and bounded retries."""

    def __init__(self, url: str, timeout: float = 10.0, deadline: float = 60.0,
                 mesos: MesosClient | None = None, poll_interval: float = 0.5,
                 api_prefix: str | None = None) -> None:
        #: the URL for messages (no password)
        self.url = display_url(url.rstrip("/"))
        self.http = HttpClient("Chronos", url, timeout,
                               retry=RetryPolicy(max_tries=6, deadline=deadline),
                               mapper=map_error)
        self.mesos = mesos
        self.poll_interval = poll_interval
        if api_prefix not in (None, "/v1/scheduler", "/scheduler"):
            raise ValueError("api_prefix must be '/v1/scheduler' or '/scheduler'")
        #: Forced with ``api_prefix``, else detected on first use.
        self._prefix: str | None = api_prefix
        self._stop = threading.Event()

    @property
    def writes(self) -> list[tuple[str, str]]:
        """State-changing requests sent so far (method, path)."""
        return self.http.writes

    def close(self) -> None:
        """Release connections."""
        self.http.close()

    @property
    def prefix(self) -> str:
        """``/v1/scheduler`` (Chronos 3.x) or ``/scheduler`` (2.x), detected once."""
        if self._prefix is None:
            for candidate in ("/v1/scheduler", "/scheduler"):
                try:
                    self.http.get_json(candidate + "/jobs")
                except errors.NotFoundError:
                    continue
                self._prefix = candidate
                LOG.debug("Chronos at %s serves its API under %s", self.url, candidate)
                break
            else:
                raise errors.NotFoundError(
                    f"{self.url} serves neither /v1/scheduler/jobs (Chronos 3.x) nor "
                    "/scheduler/jobs (Chronos 2.x): is this Chronos?", status=404)
        return self._prefix

    @property
    def is_v3(self) -> bool:
        """True for Chronos 3.x."""
        return self.prefix == "/v1/scheduler"

    # --- jobs -------------------------------------------------------------------------------

    def add_job(self, job: Mapping[str, Any]) -> None:
        """Create or replace a job: scheduled (``schedule``) or dependent (``parents``)."""
        if not job.get("name") or "command" not in job:
            raise errors.InvalidDefinitionError(
                "A Chronos job needs a 'name' and a 'command'.",
                [("name" if not job.get("name") else "command", "missing")], status=400)
        if job.get("schedule") and job.get("parents"):
            raise errors.InvalidDefinitionError(
                f"Chronos job {job['name']} has both 'schedule' and 'parents'.",
                [("parents", "only one of schedule or parents")], status=400)
        kind = "dependency" if job.get("parents") else "iso8601"
        self.http.request("POST", f"{self.prefix}/{kind}", body=dict(job), idempotent=True)

    update_job = add_job

    def list_jobs(self) -> list[dict[str, Any]]:
        """Every job."""
        return [dict(j) for j in self.http.get_json(f"{self.prefix}/jobs")]

    def search(self, name: str | None = None, command: str | None = None,
               any: str | None = None, limit: int | None = None,  # noqa: A002 - API name
               offset: int | None = None) -> list[dict[str, Any]]:
        """Jobs whose name/command contain the given strings (case-insensitive)."""
        params = {k: v for k, v in (("name", name), ("command", command), ("any", any),
                                    ("limit", limit), ("offset", offset)) if v is not None}
        return [dict(j) for j in self.http.get_json(f"{self.prefix}/jobs/search",
                                                    params=params)]

    def get_job(self, name: str) -> dict[str, Any]:
        """One job (NotFoundError when absent)."""
        if self.is_v3:
            return dict(self.http.get_json(f"{self.prefix}/job/{name}"))
        for job in self.search(name=name, limit=1000):
            if job.get("name") == name:
                return job
        raise errors.NotFoundError(f"Chronos: job {name!r} not found.", status=400)

    def delete_job(self, name: str) -> None:
        """Remove a job and kill its tasks."""
        self.http.request("DELETE", f"{self.prefix}/job/{name}")

    def disable_job(self, name: str) -> None:
        """Keep a job (and its counters) but let it start no run (idempotent)."""
        job = self.get_job(name)
        if not job.get("disabled"):
            self.add_job({**job, "disabled": True})

    def run_job(self, name: str, arguments: str | None = None) -> None:
        """Run a job now (silently ignored by Chronos when the job is disabled)."""
        params = {"arguments": arguments} if arguments else None
        self.http.request("PUT", f"{self.prefix}/job/{name}", params=params, idempotent=False)

    def kill_tasks(self, name: str) -> None:
        """Kill a job's running tasks (the job is kept)."""
        self.http.request("DELETE", f"{self.prefix}/task/kill/{name}")

    def summary(self) -> list[dict[str, Any]]:
        """``name, status (success|failure|fresh), state (idle|queued|N running)`` per job.

        Chronos 2.x has no summary endpoint: it is derived from the jobs (state unknown).
        """
        if self.is_v3:
            return [dict(j) for j in self.http.get_json(f"{self.prefix}/jobs/summary")["jobs"]]
        return [{"name": j.get("name"), "status": last_state(j), "state": "unknown",
                 "schedule": j.get("schedule", ""), "parents": j.get("parents", []),
                 "disabled": j.get("disabled", False)} for j in self.list_jobs()]

    # --- waiting --------------------------------------------------------------------------

    def log_location(self, name: str) -> str:
        """Where the last run of job ``name`` left its stderr (best effort)."""
        fallback = f"the Mesos sandbox of task ChronosTask:{name}"
        if self.mesos is None:
            return fallback
        try:
            tasks = self.mesos.find_tasks(framework="chronos", name=f"ChronosTask:{name}")
            tasks = tasks or self.mesos.find_tasks(framework="chronos", task_id=f":{name}:")
            if tasks:
                return self.mesos.log_location(tasks[-1])
        except errors.KollaMesosError as exc:
            LOG.warning("Cannot locate the log of Chronos job %s: %s", name, exc)
        return fallback

    def interrupt(self) -> None:
        """Make a running :meth:`wait_for_jobs` stop."""
        self._stop.set()

    def _progress(self, wanted: list[str]) -> tuple[dict[str, JobProgress], list[str]]:
        """Progress of ``wanted`` jobs and those of them stranded by a parent that ran early."""
        jobs = {str(j.get("name")): j for j in self.list_jobs()}
        states = {str(s.get("name")): str(s.get("state", "unknown"))
                  for s in self.summary()} if self.is_v3 else {}
        progress = {}
        for name in wanted:
            job = jobs.get(name)
            progress[name] = JobProgress(
                name, last_state(job) if job else "missing", states.get(name, "unknown"),
                int(job.get("successCount") or 0) if job else 0,
                int(job.get("errorCount") or 0) if job else 0)
        return progress, stranded(wanted, jobs, states)

    def wait_for_jobs(self, names: Iterable[str], deadline: float,
                      progress_callback: Callable[[dict[str, JobProgress]], None] | None = None,
                      stranded_grace: float = 2.0) -> dict[str, JobProgress]:
        """Wait until every job in ``names`` succeeded; ``deadline`` is in seconds.

        Chronos fires a dependent job only when a parent succeeds *after* the child was
        registered; a child whose parents all succeeded before it existed would wait forever.
        Such a child, still fresh and idle ``stranded_grace`` seconds after it was first seen
        stranded, is started once with "run now" (the runner's run_once record makes a
        duplicate run harmless).  Raises DeployFailed naming the first failed job and where
        its log is, or DeadlineExceeded naming the jobs still pending.
        """
        wanted = sorted(set(names))
        end = time.monotonic() + deadline
        last: dict[str, JobProgress] = {}
        stranded_since: dict[str, float] = {}
        started: set[str] = set()
        try:
            while True:
                progress, stuck = self._progress(wanted)
                if progress != last:
                    last = progress
                    if progress_callback:
                        progress_callback(dict(progress))
                for name, prog in progress.items():
                    if prog.status == "failure":
                        raise errors.DeployFailed(
                            f"Chronos job {name} failed ({prog.error_count} failed run(s) after "
                            f"its retries); its log is in {self.log_location(name)}.")
                pending = [n for n, p in progress.items() if p.status != "success"]
                if not pending:
                    return progress
                now = time.monotonic()
                stranded_since = {n: stranded_since.get(n, now) for n in stuck}
                for name in stuck:
                    if name not in started and now - stranded_since[name] >= stranded_grace:
                        LOG.warning("Chronos job %s was registered after its parents ran; "
                                    "starting it now", name)
                        self.run_job(name)
                        started.add(name)
                if now >= end:
                    raise errors.DeadlineExceeded(
                        f"Chronos jobs did not succeed within {deadline:g} s: "
                        + ", ".join(f"{n} ({progress[n].status}, {progress[n].state})"
                                    for n in pending) + ".")
                if self._stop.wait(min(self.poll_interval, max(0.0, end - time.monotonic()))):
                    raise errors.WaitInterrupted("Waiting for Chronos jobs was interrupted.")
        finally:
            self._stop.clear()


def stranded(names: Iterable[str], jobs: Mapping[str, Mapping[str, Any]],
             states: Mapping[str, str]) -> list[str]:
    """Dependent jobs among ``names`` that are fresh and idle while every parent succeeded."""
    out = []
    for name in names:
        job = jobs.get(name)
        parents = list(job.get("parents") or []) if job else []
        if not job or not parents or last_state(job) != "fresh":
            continue
        if states.get(name, "idle") not in ("idle", "unknown"):
            continue
        if all(p in jobs and last_state(jobs[p]) == "success" for p in parents):
            out.append(name)
    return out
