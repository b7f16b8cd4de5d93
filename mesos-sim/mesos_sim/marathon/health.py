"""Marathon health checks (HTTP, HTTPS, TCP, COMMAND and their MESOS_ variants).

Each running task's checks run every ``intervalSeconds`` (the first right after
TASK_RUNNING), each bounded by ``timeoutSeconds``.  HTTP passes on status 200-399 (1xx too
with ``ignoreHttp1xx``), TCP on a connect, COMMAND on exit code 0.  Failures before the first
success are ignored during ``gracePeriodSeconds``; after ``maxConsecutiveFailures`` (> 0)
consecutive failures the task is killed (``unhealthy_instance_kill_event``) and relaunched with
backoff by the scheduler.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mesos_sim.marathon.scheduler import Scheduler, config_version
from mesos_sim.marathon.tasks import TaskRecord

LOG = logging.getLogger(__name__)
_POLL_SECONDS = 0.05
_MIN_INTERVAL = 0.1


def http_check(address: str, port: int, path: str, timeout: float, https: bool,
               ignore_1xx: bool) -> tuple[bool, str]:
    """GET ``path``; healthy on 200-399."""
    conn: http.client.HTTPConnection
    if https:
        context = ssl._create_unverified_context()  # noqa: S323 - tasks use self-signed certs
        conn = http.client.HTTPSConnection(address, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", path or "/")
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if 200 <= status < 400 or (ignore_1xx and 100 <= status < 200):
        return True, ""
    return False, f"HTTP status {status}"


def tcp_check(address: str, port: int, timeout: float) -> tuple[bool, str]:
    """Healthy when a TCP connection to ``address:port`` succeeds."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True, ""
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"


class HealthChecker:
    """Runs every app's health checks against its running tasks."""

    def __init__(self, scheduler: Scheduler, workers: int = 16) -> None:
        self.scheduler = scheduler
        self._due: dict[tuple[str, int], float] = {}
        self._in_flight: set[tuple[str, int]] = set()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="health")
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="marathon-health", daemon=True)

    def start(self) -> None:
        """Start checking."""
        self._thread.start()

    def stop(self) -> None:
        """Stop checking (running checks finish within their timeout)."""
        self._stopped.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stopped.wait(_POLL_SECONDS):
            try:
                self._dispatch_due()
            except Exception:  # noqa: BLE001 - keep checking, log the bug
                LOG.exception("health check round failed")

    def _dispatch_due(self) -> None:
        now = time.monotonic()
        jobs: list[tuple[TaskRecord, int, dict[str, Any]]] = []
        with self.scheduler.lock:
            live: set[tuple[str, int]] = set()
            for task in self.scheduler.tasks.values():
                if not task.running or task.kill_requested or not task.health:
                    continue
                rt = self.scheduler.runtimes.get(task.app_id)
                app = rt.app if rt else None
                checks = self._checks_of(task, app)
                for index, check in enumerate(checks[:len(task.health)]):
                    key = (task.id, index)
                    live.add(key)
                    if key in self._in_flight or self._due.get(key, 0.0) > now:
                        continue
                    interval = max(float(check.get("intervalSeconds", 60)), _MIN_INTERVAL)
                    self._due[key] = now + interval
                    self._in_flight.add(key)
                    jobs.append((task, index, check))
            for key in set(self._due) - live:
                del self._due[key]
        for task, index, check in jobs:
            self._pool.submit(self._run, task, index, check)

    def _checks_of(self, task: TaskRecord, app: dict[str, Any] | None) -> list[dict[str, Any]]:
        if app is None:
            return []
        rt = self.scheduler.runtimes.get(task.app_id)
        for candidate in (app, rt.restart_to if rt else None):
            if candidate is not None and config_version(candidate) == task.config_version:
                return list(candidate.get("healthChecks", []))
        return list(app.get("healthChecks", []))

    def _run(self, task: TaskRecord, index: int, check: dict[str, Any]) -> None:
        try:
            ok, cause = self.probe(task, check)
        except Exception as exc:  # noqa: BLE001 - a broken probe is a failed check
            ok, cause = False, f"{type(exc).__name__}: {exc}"
        finally:
            self._in_flight.discard((task.id, index))
        self.record(task.id, index, check, ok, cause)

    def probe(self, task: TaskRecord, check: dict[str, Any]) -> tuple[bool, str]:
        """Run one check against ``task`` once."""
        protocol = str(check.get("protocol", "HTTP"))
        timeout = max(float(check.get("timeoutSeconds", 20)), 0.1)
        if protocol == "COMMAND":
            command = str((check.get("command") or {}).get("value", ""))
            code = self.scheduler.backend.exec_in_task(task.id, command, timeout)
            return code == 0, "" if code == 0 else f"Command exited with status {code}"
        port = check.get("port")
        if not port:
            index = int(check.get("portIndex", 0))
            if index >= len(task.ports):
                return False, f"portIndex {index} is out of range for task ports {task.ports}"
            port = task.ports[index]
        if protocol in ("TCP", "MESOS_TCP"):
            return tcp_check(task.address, int(port), timeout)
        return http_check(task.address, int(port), str(check.get("path", "/")), timeout,
                          protocol.endswith("HTTPS"), bool(check.get("ignoreHttp1xx")))

    def record(self, task_id: str, index: int, check: dict[str, Any], ok: bool,
               cause: str) -> None:
        """Apply one result: health state, events, and the kill of an unhealthy task."""
        sched = self.scheduler
        with sched.lock:
            task = sched.tasks.get(task_id)
            if task is None or task.kill_requested or index >= len(task.health):
                return
            health = task.health[index]
            now = sched.clock()
            before = health.alive if health.has_result else None
            if ok:
                health.alive, health.consecutive_failures = True, 0
                health.first_success = health.first_success or now
                health.last_success = now
            else:
                grace = float(check.get("gracePeriodSeconds", 300))
                if health.first_success is None and now < (task.started_at or now) + grace:
                    return
                health.alive = False
                health.consecutive_failures += 1
                health.last_failure, health.last_failure_cause = now, cause
                sched.events.publish("failed_health_check_event", appId=task.app_id,
                                     taskId=task.id, instanceId=task.instance_id,
                                     healthCheck=check)
            health.has_result = True
            if before != health.alive:
                sched.events.publish("health_status_changed_event", appId=task.app_id,
                                     instanceId=task.instance_id, version=task.version,
                                     alive=health.alive)
            limit = int(check.get("maxConsecutiveFailures", 3))
            if not ok and limit > 0 and health.consecutive_failures >= limit:
                sched.events.publish("unhealthy_instance_kill_event", appId=task.app_id,
                                     taskId=task.id, instanceId=task.instance_id,
                                     version=task.version, reason=cause, host=task.host,
                                     slaveId=task.slave_id)
                sched.kill_task(task, f"{check.get('protocol', 'HTTP')} health check "
                                      f"failed {health.consecutive_failures} times: {cause}")
            elif ok and task.healthy:
                rt = sched.runtimes.get(task.app_id)
                if rt is not None:
                    rt.reset_backoff()
        sched.poke()
