"""The whole simulator in one object: cluster, Mesos master/agents, Marathon and Chronos.

::

    sim = Simulator("/tmp/sim-state")            # agents=None -> one agent 127.0.1.1
    sim.start()
    sim.marathon_url, sim.chronos_url, sim.mesos_url
    sim.reset()                                  # between tests: no apps, jobs or tasks
    sim.stop()                                   # every task is gone

``agents`` is a path to an agents file (see :mod:`mesos_sim.agents`) or a list of agent
mappings.  Ports 0 mean ephemeral; all servers listen on ``host`` (agents on their own
addresses).  ``chronos_failure_retry`` is Chronos's ``--failure_retry`` in seconds.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from mesos_sim.chronos.service import ChronosService
from mesos_sim.cluster import Cluster
from mesos_sim.http import ApiServer, Router
from mesos_sim.mesos.api import MesosApi

LOG = logging.getLogger(__name__)


class MarathonLike(Protocol):
    """What the simulator needs from the Marathon service."""

    router: Router
    mesos_leader_ui_url: str | None

    def stop(self) -> None:
        """Stop the service and kill its tasks."""


def _marathon(cluster: Cluster) -> MarathonLike | None:
    try:
        from mesos_sim.marathon.service import MarathonService
    except ImportError:  # the Marathon service is being written in parallel
        LOG.warning("mesos_sim.marathon.service is not available; Marathon API disabled")
        return None
    service: MarathonLike = MarathonService(cluster)
    return service


class Simulator:
    """Starts and stops every part of the simulator (see module doc)."""

    def __init__(self, state_dir: str | Path, agents: str | Path | list[dict[str, Any]] | None
                 = None, isolation: bool = False, host: str = "127.0.0.1",
                 marathon_port: int = 0, chronos_port: int = 0, mesos_port: int = 0,
                 chronos_failure_retry: float = 60.0) -> None:
        self.state_dir = Path(state_dir)
        self.agents = agents
        self.isolation = isolation
        self.host = host
        self.ports = {"marathon": marathon_port, "chronos": chronos_port, "mesos": mesos_port}
        self.chronos_failure_retry = chronos_failure_retry
        self.cluster: Cluster | None = None
        self.marathon: MarathonLike | None = None
        self.chronos: ChronosService | None = None
        self.mesos: MesosApi | None = None
        self._servers: dict[str, ApiServer] = {}

    def _url(self, name: str) -> str:
        server = self._servers.get(name)
        if server is None:
            raise RuntimeError(f"the simulator's {name} API is not running")
        return server.url

    @property
    def marathon_url(self) -> str:
        """Base URL of the Marathon API (``/v2/...``)."""
        return self._url("marathon")

    @property
    def chronos_url(self) -> str:
        """Base URL of the Chronos API (``/v1/scheduler/...`` and ``/scheduler/...``)."""
        return self._url("chronos")

    @property
    def mesos_url(self) -> str:
        """Base URL of the Mesos master (``/master/state``)."""
        return self._url("mesos")

    def urls(self) -> dict[str, str]:
        """The three base URLs by name (what ``kolla-mesos-sim`` prints)."""
        return {name: server.url for name, server in self._servers.items()}

    def start(self) -> None:
        """Start the cluster and every API; returns once all servers listen."""
        entries = self.agents if isinstance(self.agents, list) else None
        agents_file = None if isinstance(self.agents, list) else self.agents
        cluster = Cluster(self.state_dir, agents_file=agents_file, isolation=self.isolation,
                          agent_entries=entries)
        self.cluster = cluster
        try:
            self.mesos = MesosApi(cluster, host=self.host)
            mesos = ApiServer(self.mesos.router, self.host, self.ports["mesos"])
            self._servers["mesos"] = mesos
            self.mesos.port = mesos.port
            self.mesos.start_agents()
            mesos.start()
            self.chronos = ChronosService(cluster, failure_retry=self.chronos_failure_retry)
            chronos = ApiServer(self.chronos.router, self.host, self.ports["chronos"])
            self._servers["chronos"] = chronos
            self.chronos.leader = f"{self.host}:{chronos.port}"
            self.chronos.framework.webui_url = chronos.url
            self.chronos.start()
            chronos.start()
            self.marathon = _marathon(cluster)
            if self.marathon is not None:
                marathon = ApiServer(self.marathon.router, self.host, self.ports["marathon"])
                self._servers["marathon"] = marathon
                self.marathon.mesos_leader_ui_url = mesos.url + "/"
                framework = cluster.frameworks.get("marathon")
                if framework is not None:
                    framework.webui_url = marathon.url
                start = getattr(self.marathon, "start", None)
                if callable(start):
                    start()
                marathon.start()
        except BaseException:
            self.stop()
            raise
        LOG.info("simulator ready: %s", self.urls())

    def reset(self, wipe_volumes: bool = True) -> None:
        """Delete every app and job and stop every task (named volumes wiped by default)."""
        if self.marathon is not None:
            reset = getattr(self.marathon, "reset", None)
            if callable(reset):
                reset()
        if self.chronos is not None:
            self.chronos.reset()
        if self.cluster is not None:
            self.cluster.reset(wipe_volumes=wipe_volumes)

    def stop(self) -> None:
        """Stop every API and task; nothing the simulator started keeps running."""
        if self.marathon is not None:
            try:
                self.marathon.stop()
            except Exception:  # noqa: BLE001 - keep stopping the rest
                LOG.exception("stopping the Marathon service failed")
        if self.chronos is not None:
            self.chronos.stop()
        for server in self._servers.values():
            server.stop()
        if self.mesos is not None:
            self.mesos.stop_agents()
        if self.cluster is not None:
            self.cluster.shutdown()
        self._servers.clear()
        self.marathon = self.chronos = self.mesos = None
        self.cluster = None
