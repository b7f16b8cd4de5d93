"""How a simulated task is started: sandbox, environment, argv, and its container.

The Mesos command executor runs a task's ``cmd`` with ``/bin/sh -c`` or its ``args`` without a
shell, in the sandbox directory ``<state>/slaves/<agent id>/frameworks/<framework id>/executors/
<task id>/runs/<container id>`` (``runs/latest`` links to it), with ``stdout`` and ``stderr``
files there.  Every task's argv is wrapped in ``task_init.py run`` (see that module): a first
process per task that reaps the task's orphans and, with isolation, gives the task its own
copy-on-write ``/etc``, ``/var/lib``, ``/var/log`` and ``/run`` under
``<state>/containers/<container id>/`` (removed when the task ends).
"""

from __future__ import annotations

import json
import logging
import os
import select
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from mesos_sim.agents import Agent
from mesos_sim.errors import IsolationError
from mesos_sim.reaper import MARKER
from mesos_sim.task_init import OVERLAY_TARGETS
from mesos_sim.volumes import VolumeBind

LOG = logging.getLogger(__name__)
TASK_INIT = str(Path(__file__).with_name("task_init.py"))
_BASE_ENV_KEYS = ("LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV")


def sandbox_dir(state_dir: Path, agent_id: str, framework_id: str, executor_id: str,
                container_id: str) -> Path:
    """Create the Mesos sandbox of one run (and the ``runs/latest`` link); return it."""
    runs = (state_dir / "slaves" / agent_id / "frameworks" / framework_id / "executors"
            / executor_id / "runs")
    sandbox = runs / container_id
    sandbox.mkdir(parents=True, exist_ok=True)
    latest = runs / "latest"
    try:
        if latest.is_symlink():
            latest.unlink()
        latest.symlink_to(container_id)
    except OSError:
        LOG.debug("cannot update %s", latest)
    return sandbox


def base_environment() -> dict[str, str]:
    """What every task inherits from the host ("the image"): PATH (with this Python's bin
    directory first, so the project's console scripts are found), HOME and the locale."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env = {"PATH": bindir + os.pathsep + path if bindir not in path.split(os.pathsep) else path,
           "HOME": os.environ.get("HOME", "/root")}
    env.update({k: os.environ[k] for k in _BASE_ENV_KEYS if k in os.environ})
    return env


def task_environment(*, sim_id: str, task_id: str, agent: Agent, sandbox: Path,
                     framework_id: str, agent_endpoint: str, ports: Sequence[int],
                     extra: Mapping[str, str]) -> dict[str, str]:
    """Host base < caller's ``extra`` (app env, MARATHON_*/CHRONOS_*) < Mesos built-ins."""
    env = base_environment()
    env.update(extra)
    env.update({
        "MESOS_TASK_ID": task_id,
        "MESOS_EXECUTOR_ID": task_id,
        "MESOS_FRAMEWORK_ID": framework_id,
        "MESOS_AGENT_ID": agent.id,
        "MESOS_SLAVE_ID": agent.id,
        "MESOS_SANDBOX": str(sandbox),
        "MESOS_DIRECTORY": str(sandbox),
        "MESOS_AGENT_ENDPOINT": agent_endpoint,
        "HOST": agent.address,
        "KOLLA_HOSTNAME": agent.hostname,
        MARKER: sim_id,
    })
    if ports:
        env["PORTS"] = ",".join(str(p) for p in ports)
        env["PORT"] = str(ports[0])
        for index, port in enumerate(ports):
            env[f"PORT{index}"] = str(port)
    return env


def task_argv(cmd: str | None, args: Sequence[str] | None) -> list[str]:
    """``/bin/sh -c cmd`` or ``args`` (``cmd`` wins when both are given, as in Mesos)."""
    if cmd:
        return ["/bin/sh", "-c", cmd]
    if args:
        return [str(a) for a in args]
    raise ValueError("a task needs 'cmd' or 'args'")


def container_dir(state_dir: Path, container_id: str) -> Path:
    """Where a task's private file system layers live (with isolation)."""
    return state_dir / "containers" / container_id


def container_argv(argv: Sequence[str], *, chdir: Path, ready_fd: int,
                   isolation: dict[str, object] | None = None) -> list[str]:
    """``argv`` wrapped in the task's first process (``task_init.py run``); ``isolation`` is
    what :func:`isolation_spec` returns, or None to share the host's file system."""
    spec: dict[str, object] = {"chdir": str(chdir), "ready_fd": ready_fd,
                               "isolate": isolation is not None, **(isolation or {})}
    return [sys.executable, "-I", "-S", TASK_INIT, "run", json.dumps(spec), "--", *argv]


def isolation_spec(layers: Path, agent: Agent, all_agents: Sequence[Agent],
                   binds: Sequence[VolumeBind]) -> dict[str, object]:
    """The task's own overlays (upper and work directories under ``layers``), host name,
    ``/etc/hosts`` entries and volume binds."""
    overlays = []
    for target in OVERLAY_TARGETS:
        base = layers / target.strip("/").replace("/", "_")
        overlays.append([target, str(base / "upper"), str(base / "work")])
    return {"hostname": agent.hostname, "overlays": overlays,
            "hosts": [[a.address, a.hostname] for a in all_agents if a.hostname != a.address],
            "binds": [[str(b.source), b.target, b.mode] for b in binds
                      if b.target.startswith("/")]}


def enter_argv(argv: Sequence[str], *, pid: int, chdir: Path) -> list[str]:
    """``argv`` wrapped so that it runs inside the namespaces of the task process ``pid``."""
    spec = {"join": pid, "chdir": str(chdir)}
    return [sys.executable, "-I", "-S", TASK_INIT, "enter", json.dumps(spec), "--", *argv]


def check_isolation_state_dir(state_dir: Path) -> None:
    """Overlay layers may not nest: the state directory must lie outside the overlaid trees."""
    real = os.path.realpath(state_dir)
    for target in OVERLAY_TARGETS:
        if real == target or real.startswith(target + "/"):
            raise IsolationError(f"--state-dir {state_dir} lies under {target}, which isolation "
                                 "overlays; choose a state directory elsewhere (e.g. /srv).")


def wait_ready(read_fd: int, timeout: float = 30.0) -> str:
    """Wait until the write end of this pipe is closed everywhere (the task's exec done or
    failed); return what was written to it: why the task could not start (``""`` = it runs)."""
    deadline = time.monotonic() + timeout
    written = b""
    try:
        while True:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([read_fd], [], [], max(left, 0))
            if not readable:
                return written.decode("utf-8", "replace")
            chunk = os.read(read_fd, 4096)
            if not chunk:
                return written.decode("utf-8", "replace")
            written += chunk
    finally:
        os.close(read_fd)
