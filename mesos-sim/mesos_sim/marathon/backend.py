"""Adapter from Marathon's scheduler to the simulated cluster: placement requests, the
environment Marathon gives a task, launch, kill and exec."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mesos_sim.cluster import Cluster, StatusUpdate, Task, TaskSpec
from mesos_sim.marathon.model import App
from mesos_sim.marathon.scheduler import Launched, Rejected
from mesos_sim.placement import NoPlacement, PlacementRequest

FRAMEWORK = "marathon"
DEFAULT_KILL_GRACE = 3.0


def host_ports(app: App) -> tuple[int, ...]:
    """The host ports a task asks for: 0 = any; fixed ones with ``requirePorts``."""
    modes = {n.get("mode") for n in app.get("networks", [{"mode": "host"}])}
    if modes == {"host"}:
        fixed = bool(app.get("requirePorts"))
        return tuple(int(p.get("port", 0)) if fixed else 0
                     for p in app.get("portDefinitions", []))
    mappings = (app.get("container") or {}).get("portMappings") or []
    return tuple(int(m.get("hostPort", 0)) for m in mappings if "hostPort" in m)


def port_names(app: App) -> list[str]:
    """Names of the app's ports in order (``""`` for unnamed)."""
    definitions = app.get("portDefinitions")
    if definitions is None:
        definitions = [m for m in (app.get("container") or {}).get("portMappings") or []
                       if "hostPort" in m]
    return [str(d.get("name") or "") for d in definitions]


def marathon_env(app: App, ports: tuple[int, ...]) -> dict[str, str]:
    """The app's ``env`` (plain values) plus the ``MARATHON_APP_*`` variables."""
    env = {k: v for k, v in (app.get("env") or {}).items() if isinstance(v, str)}
    labels = app.get("labels") or {}
    env.update({
        "MARATHON_APP_ID": app["id"],
        "MARATHON_APP_VERSION": str(app.get("version", "")),
        "MARATHON_APP_RESOURCE_CPUS": str(app.get("cpus")),
        "MARATHON_APP_RESOURCE_MEM": str(app.get("mem")),
        "MARATHON_APP_RESOURCE_DISK": str(app.get("disk")),
        "MARATHON_APP_RESOURCE_GPUS": str(app.get("gpus", 0)),
        "MARATHON_APP_LABELS": " ".join(sorted(labels)),
    })
    for key, value in labels.items():
        env[f"MARATHON_APP_LABEL_{key.upper().replace('-', '_').replace('.', '_')}"] = value
    image = ((app.get("container") or {}).get("docker") or {}).get("image")
    if image:
        env["MARATHON_APP_DOCKER_IMAGE"] = image
    for name, port in zip(port_names(app), ports, strict=False):
        if name:
            env[f"PORT_{name.upper().replace('-', '_')}"] = str(port)
    return env


def mesos_task_name(app_id: str) -> str:
    """Marathon names Mesos tasks by the reversed path (``/a/b`` -> ``b.a``)."""
    return ".".join(reversed([p for p in app_id.split("/") if p]))


class ClusterBackend:
    """Runs Marathon's tasks on a :class:`Cluster` as framework ``marathon``."""

    def __init__(self, cluster: Cluster, on_status: Callable[[str, str, str], None]) -> None:
        self.cluster = cluster
        self._on_status = on_status
        self.framework = cluster.register_framework(FRAMEWORK, on_status=self._status)

    def _status(self, task: Task, update: StatusUpdate) -> None:
        self._on_status(task.id, update.state, update.message)

    def launch(self, task_id: str, app: App) -> Launched | Rejected:
        """Place and start one task of ``app``."""
        request = PlacementRequest(
            group=app["id"], cpus=float(app.get("cpus", 1.0)), mem=float(app.get("mem", 128.0)),
            disk=float(app.get("disk", 0.0)), ports=host_ports(app),
            constraints=tuple(tuple(str(x) for x in c) for c in app.get("constraints", [])))
        placement = self.cluster.place(request)
        if isinstance(placement, NoPlacement):
            return Rejected(placement.message, list(placement.summary),
                            {k: list(v) for k, v in placement.reasons.items()})
        container: dict[str, Any] | None = app.get("container")
        grace = app.get("taskKillGracePeriodSeconds")
        task = self.cluster.launch(TaskSpec(
            task_id=task_id, framework=FRAMEWORK, placement=placement, request=request,
            cmd=app.get("cmd"), args=app.get("args"),
            env=marathon_env(app, placement.ports), container=container,
            name=mesos_task_name(app["id"]), labels=dict(app.get("labels") or {}),
            kill_grace=float(grace) if grace is not None else DEFAULT_KILL_GRACE))
        agent = placement.agent
        return Launched(agent.hostname, agent.id, agent.address, tuple(task.ports))

    def kill(self, task_id: str, grace_seconds: float) -> None:
        """SIGTERM now, SIGKILL after ``grace_seconds``."""
        self.cluster.kill(task_id, grace=grace_seconds)

    def exec_in_task(self, task_id: str, command: str, timeout: float) -> int:
        """Run a COMMAND health check; 124 when it timed out."""
        result = self.cluster.exec_in_task(task_id, command, timeout)
        return 124 if result.returncode is None else result.returncode
