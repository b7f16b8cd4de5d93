"""Helpers for the simulated Marathon's tests: an in-process Marathon on an ephemeral port and
waits driven by its event bus (no sleeping where an event exists)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from mesos_sim.cluster import Cluster
from mesos_sim.http import ApiServer
from mesos_sim.marathon.service import MarathonService
from mesos_sim.simulator import Simulator

TIMEOUT = 30.0


@dataclass
class Recorder:
    """Every event the bus published, with a condition to wait on."""

    events: list[dict[str, Any]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, event: dict[str, Any]) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool],
                 timeout: float = TIMEOUT) -> dict[str, Any]:
        """The first recorded event matching ``predicate`` (waits for it)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for an event; got "
                                         f"{[e['eventType'] for e in self.events][-20:]}")
                self.cond.wait(left)

    def of(self, event_type: str) -> list[dict[str, Any]]:
        """Recorded events of one type."""
        with self.cond:
            return [e for e in self.events if e["eventType"] == event_type]


@dataclass
class Sim:
    """A running simulated Marathon: base URL, service, cluster and event recorder."""

    url: str
    service: MarathonService
    cluster: Cluster
    recorder: Recorder

    def deployment_done(self, deployment_id: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Wait until ``deployment_id`` succeeded or failed; the final event."""
        return self.recorder.wait_for(
            lambda e: e["eventType"] in ("deployment_success", "deployment_failed")
            and e.get("id") == deployment_id, timeout)

    def app(self, app_id: str) -> dict[str, Any]:
        """``GET /v2/apps/{id}``'s app."""
        response = requests.get(f"{self.url}/v2/apps{app_id}", timeout=10)
        response.raise_for_status()
        return dict(response.json()["app"])


@contextlib.contextmanager
def marathon_of(simulator: Simulator) -> Iterator[Sim]:
    """The Marathon of the shared (reset) simulator fixture, with an event recorder."""
    service = simulator.marathon
    assert isinstance(service, MarathonService) and simulator.cluster is not None
    recorder = Recorder()
    service.events.listen(recorder)
    try:
        yield Sim(simulator.marathon_url, service, simulator.cluster, recorder)
    finally:
        service.events.unlisten(recorder)


@contextlib.contextmanager
def running_marathon(state_dir: Path) -> Iterator[Sim]:
    """A private Cluster + MarathonService + HTTP server on 127.0.0.1:0 (for tests that need
    their own cluster); everything is stopped after."""
    cluster = Cluster(state_dir)
    service = MarathonService(cluster)
    recorder = Recorder()
    service.events.listen(recorder)
    server = ApiServer(service.router)
    server.start()
    try:
        yield Sim(server.url, service, cluster, recorder)
    finally:
        server.stop()
        service.stop()
        cluster.shutdown()


HTTP_SERVER_CMD = "exec python3 -m http.server --bind $HOST $PORT0"


def http_app(app_id: str, instances: int = 1, **extra: Any) -> dict[str, Any]:
    """An app running ``python -m http.server`` on $PORT0 with a fast HTTP health check."""
    app: dict[str, Any] = {
        "id": app_id, "cmd": HTTP_SERVER_CMD, "cpus": 0.01, "mem": 16, "instances": instances,
        "healthChecks": [{"protocol": "HTTP", "path": "/", "intervalSeconds": 1,
                          "timeoutSeconds": 2, "gracePeriodSeconds": 10,
                          "maxConsecutiveFailures": 3}],
    }
    app.update(extra)
    return app
