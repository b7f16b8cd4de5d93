"""The simulated Marathon 1.10: ``MarathonService(cluster)`` exposes ``.router`` and ``.stop()``.

Composition: :class:`~mesos_sim.marathon.scheduler.Scheduler` (tasks, backoff, rolling
restarts) over the cluster through :class:`~mesos_sim.marathon.backend.ClusterBackend`;
:class:`~mesos_sim.marathon.core.MarathonCore` (group tree, versions, deployments);
:class:`~mesos_sim.marathon.health.HealthChecker`; the SSE
:class:`~mesos_sim.marathon.events.EventBus`; and the API handler classes.  Every answer
carries Marathon's leader and cache headers.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from mesos_sim.cluster import Cluster
from mesos_sim.http import Handler, HttpProblem, Request, Response, Router
from mesos_sim.marathon.api_apps import AppsApi
from mesos_sim.marathon.api_groups import GroupsApi
from mesos_sim.marathon.api_tasks import TasksApi
from mesos_sim.marathon.backend import ClusterBackend
from mesos_sim.marathon.core import MarathonCore
from mesos_sim.marathon.events import EventBus
from mesos_sim.marathon.health import HealthChecker
from mesos_sim.marathon.model import Root, timestamp
from mesos_sim.marathon.scheduler import Scheduler

LOG = logging.getLogger(__name__)
VERSION = "1.10.26"
_NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
             "Expires": "0"}


class _MarathonRouter(Router):
    """A router whose handlers answer with Marathon's common headers."""

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        def wrapped(request: Request) -> Response:
            try:
                response = handler(request)
            except HttpProblem as problem:
                response = problem.response()
            host = request.header("host", "localhost")
            response.headers.setdefault("X-Marathon-Leader", f"http://{host}")
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("X-XSS-Protection", "1; mode=block")
            if response.stream is None:
                for name, value in _NO_CACHE.items():
                    response.headers.setdefault(name, value)
            return response
        super().add(method, pattern, wrapped)


class MarathonService:
    """One simulated Marathon on a :class:`Cluster` (framework ``marathon``)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        #: The Mesos master's UI URL (``http://host:port/``) that ``/v2/info`` reports as
        #: ``marathon_config.mesos_leader_ui_url``; the web UI builds its sandbox and
        #: stdout/stderr links from it.  Set by :class:`~mesos_sim.simulator.Simulator`.
        self.mesos_leader_ui_url: str | None = None
        self.events = EventBus()
        self.backend = ClusterBackend(cluster, self._on_status)
        self.scheduler = Scheduler(self.backend, self.events)
        self.core = MarathonCore(self.scheduler, self.events)
        self.health = HealthChecker(self.scheduler)
        self.router: Router = _MarathonRouter()
        apps = AppsApi(self.core)
        apps.register(self.router)
        GroupsApi(self.core).register(self.router)
        TasksApi(self.core, apps).register(self.router)
        self._register_system(self.router)
        self.scheduler.start()
        self.health.start()

    def _on_status(self, task_id: str, state: str, message: str) -> None:
        self.scheduler.on_status(task_id, state, message)

    @property
    def framework_id(self) -> str:
        """The Mesos framework id of this Marathon."""
        return self.backend.framework.id

    def reset(self) -> None:
        """Forget every app, group and deployment and kill their tasks (between tests)."""
        with self.scheduler.lock:
            for task in list(self.scheduler.tasks.values()):
                self.scheduler.kill_task(task, None)
            self.core.deployments.deployments.clear()
            self.scheduler.runtimes.clear()
            self.scheduler.tasks.clear()
            self.scheduler.root = Root(version=timestamp(self.scheduler.clock()))
            self.core.app_versions.clear()
            self.core.root_history.clear()

    def stop(self) -> None:
        """End event streams, health checks and the scheduler; kill Marathon's tasks."""
        self.events.close()
        self.health.stop()
        self.scheduler.stop()

    # --- system endpoints ------------------------------------------------------------------------

    def _register_system(self, router: Router) -> None:
        router.add("GET", r"/v2/info/?", self.info)
        router.add("GET", r"/v2/leader/?", self.leader)
        router.add("DELETE", r"/v2/leader/?", self.abdicate)
        router.add("GET", r"/v2/plugins/?", lambda r: Response(200, {"plugins": []}))
        router.add("GET", r"/v2/events/?", self.events.stream)
        router.add("GET", r"/ping/?", self.ping)
        router.add("GET", r"/metrics/?", self.metrics)
        router.add("GET", r"/", lambda r: Response(302, None, headers={"Location": "/ui/"}))

    def info(self, request: Request) -> Response:
        """``GET /v2/info``."""
        host = request.header("host", "localhost:8080") or "localhost:8080"
        hostname, _, port = host.rpartition(":")
        http_port = int(port) if port.isdigit() else 80
        body: dict[str, Any] = {
            "name": "marathon", "version": VERSION, "buildref": "kolla-mesos-sim",
            "elected": True, "leader": host, "frameworkId": self.framework_id,
            "marathon_config": {
                "checkpoint": True, "executor": "//cmd", "failover_timeout": 604800,
                "features": [], "framework_name": "marathon", "ha": True,
                "hostname": hostname or host, "leader_proxy_connection_timeout_ms": 5000,
                "leader_proxy_read_timeout_ms": 10000, "local_port_min": 10000,
                "local_port_max": 20000, "master": "local", "mesos_role": "*",
                "mesos_user": "root", "webui_url": None, "reconciliation_initial_delay": 15000,
                "reconciliation_interval": 600000, "task_launch_timeout": 300000,
                "task_reservation_timeout": 20000, "env_vars_prefix": None,
            },
            "zookeeper_config": {"zk": "zk://localhost:2181/marathon", "zk_timeout": 10000,
                                 "zk_session_timeout": 10000, "zk_max_versions": 50},
            "http_config": {"http_port": http_port, "https_port": 8443},
        }
        if self.mesos_leader_ui_url:
            body["marathon_config"]["mesos_leader_ui_url"] = self.mesos_leader_ui_url
        return Response(200, body)

    def leader(self, request: Request) -> Response:
        """``GET /v2/leader``."""
        return Response(200, {"leader": request.header("host", "localhost:8080")})

    def abdicate(self, request: Request) -> Response:
        """``DELETE /v2/leader``: the only Marathon is re-elected at once."""
        return Response(200, {"message": "Leadership abdicated"})

    def ping(self, request: Request) -> Response:
        """``GET /ping``: ``pong`` as text, ``"pong"`` for JSON clients."""
        accept = request.header("accept", "*/*") or "*/*"
        if re.search(r"(\*/\*|text/)", accept):
            return Response(200, "pong", content_type="text/plain")
        if "application/json" in accept:
            return Response(200, "\"pong\"", content_type="application/json")
        return Response(204, None)

    def metrics(self, request: Request) -> Response:
        """``GET /metrics``: Dropwizard-style, with app and task gauges."""
        with self.scheduler.lock:
            gauges = {"marathon.apps.active.gauge": {"value": len(self.core.root.apps)},
                      "marathon.tasks.running.gauge": {"value": sum(
                          1 for t in self.scheduler.tasks.values() if t.running)},
                      "marathon.deployments.active.gauge": {
                          "value": len(self.core.deployments.deployments)}}
        return Response(200, {"version": "4.0.0", "counters": {}, "gauges": gauges,
                              "histograms": {}, "meters": {}, "timers": {}})
