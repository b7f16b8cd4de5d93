"""What the simulated cluster hands out: task specs, tasks, frameworks, status updates.

Re-exported by :mod:`mesos_sim.cluster`; import them from there.
"""

from __future__ import annotations

import subprocess
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesos_sim import volumes
from mesos_sim.agents import Agent
from mesos_sim.placement import Placement, PlacementRequest

TERMINAL_STATES = frozenset({"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST",
                             "TASK_ERROR", "TASK_DROPPED", "TASK_GONE"})
COMPLETED_TASKS_LIMIT = 1000


@dataclass(frozen=True)
class StatusUpdate:
    """One Mesos status update: ``state`` (``TASK_*``), ``timestamp`` (epoch seconds)."""

    task_id: str
    state: str
    timestamp: float
    message: str = ""


StatusCallback = Callable[["Task", StatusUpdate], None]


@dataclass
class TaskSpec:
    """What to launch.

    ``placement`` comes from :meth:`Cluster.place` for ``request`` (resources and group).
    ``cmd`` runs with ``/bin/sh -c``; ``args`` without a shell.  ``env`` is the caller's part
    of the environment (app ``env``, ``MARATHON_APP_ID``, ``CHRONOS_JOB_NAME``...); the Mesos
    variables (``MESOS_TASK_ID``, ``MESOS_SANDBOX``, ``HOST``, ``PORT0``..., ``PORTS``,
    ``KOLLA_HOSTNAME``) override it.  ``container`` is the Marathon/Chronos container object
    (only its volumes and docker ``volume`` parameters are used).  ``kill_grace`` is the default
    SIGTERM-to-SIGKILL delay of :meth:`Cluster.kill`.
    """

    task_id: str
    framework: str
    placement: Placement
    request: PlacementRequest
    cmd: str | None = None
    args: Sequence[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    container: Mapping[str, Any] | None = None
    name: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    kill_grace: float = 3.0


@dataclass
class Task:
    """A launched task.  Read its fields; only the cluster changes them."""

    id: str
    name: str
    framework: Framework
    agent: Agent
    spec: TaskSpec
    sandbox: Path
    container_id: str
    ports: tuple[int, ...]
    state: str = "TASK_STAGING"
    statuses: list[StatusUpdate] = field(default_factory=list)
    pid: int | None = None
    exit_code: int | None = None
    message: str = ""
    killing: bool = False
    env: dict[str, str] = field(default_factory=dict)
    volumes: list[volumes.VolumeBind] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        """True until the task reached a terminal state."""
        return self.state not in TERMINAL_STATES

    @property
    def staged_at(self) -> float:
        """Epoch seconds of TASK_STAGING."""
        return self.statuses[0].timestamp if self.statuses else 0.0

    @property
    def started_at(self) -> float | None:
        """Epoch seconds of TASK_RUNNING, if it ran."""
        return next((s.timestamp for s in self.statuses if s.state == "TASK_RUNNING"), None)


@dataclass
class Framework:
    """A registered framework (``marathon``, ``chronos``) and its tasks."""

    id: str
    name: str
    registered_time: float
    webui_url: str = ""
    on_status: StatusCallback | None = None
    tasks: dict[str, Task] = field(default_factory=dict)
    completed_tasks: deque[Task] = field(
        default_factory=lambda: deque(maxlen=COMPLETED_TASKS_LIMIT))


@dataclass(frozen=True)
class ExecResult:
    """Outcome of :meth:`Cluster.exec_in_task`: exit code (``None`` on timeout) and output."""

    returncode: int | None
    output: str
    timed_out: bool = False
