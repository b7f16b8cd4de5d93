"""How a simulated task is started: sandbox, environment, argv, and per-agent namespaces.

The Mesos command executor runs a task's ``cmd`` with ``/bin/sh -c`` or its ``args`` without a
shell, in the sandbox directory ``<state>/slaves/<agent id>/frameworks/<framework id>/executors/
<task id>/runs/<container id>`` (``runs/latest`` links to it), with ``stdout`` and ``stderr``
files there.  With isolation the argv is wrapped in ``isolation.py run`` (see that module),
which joins the agent's namespace held by an :class:`AgentNamespace` process.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from mesos_sim.agents import Agent
from mesos_sim.errors import IsolationError
from mesos_sim.isolation import OVERLAY_TARGETS
from mesos_sim.reaper import MARKER, Reaper
from mesos_sim.volumes import VolumeBind

LOG = logging.getLogger(__name__)
ISOLATION_SCRIPT = str(Path(__file__).with_name("isolation.py"))
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


def isolated_argv(argv: Sequence[str], *, join: int, binds: Sequence[VolumeBind],
                  chdir: Path, ready_fd: int | None = None) -> list[str]:
    """``argv`` wrapped so that it runs in the agent's namespace with its volumes mounted."""
    spec: dict[str, object] = {
        "join": join, "chdir": str(chdir), "ready_fd": ready_fd,
        "binds": [[str(b.source), b.target, b.mode] for b in binds if b.target.startswith("/")]}
    return [sys.executable, "-I", "-S", ISOLATION_SCRIPT, "run", json.dumps(spec), "--", *argv]


def enter_argv(argv: Sequence[str], *, pid: int, chdir: Path) -> list[str]:
    """``argv`` wrapped so that it runs inside the namespaces of the task process ``pid``."""
    spec = {"join": pid, "chdir": str(chdir)}
    return [sys.executable, "-I", "-S", ISOLATION_SCRIPT, "enter", json.dumps(spec), "--", *argv]


def check_isolation_state_dir(state_dir: Path) -> None:
    """Overlay layers may not nest: the state directory must lie outside the overlaid trees."""
    real = os.path.realpath(state_dir)
    for target in OVERLAY_TARGETS:
        if real == target or real.startswith(target + "/"):
            raise IsolationError(f"--state-dir {state_dir} lies under {target}, which isolation "
                                 "overlays; choose a state directory elsewhere (e.g. /srv).")


def wait_ready(read_fd: int, timeout: float = 30.0) -> None:
    """Wait until the write end of this pipe is closed everywhere (exec done or failed)."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([read_fd], [], [], max(left, 0))
            if not readable or not os.read(read_fd, 4096):
                return
    finally:
        os.close(read_fd)


class AgentNamespace:
    """The process that holds one agent's mount/UTS namespace with its overlays."""

    def __init__(self, state_dir: Path, agent: Agent, all_agents: Sequence[Agent],
                 sim_id: str, reaper: Reaper) -> None:
        base = state_dir / "agents" / agent.hostname / "overlay"
        overlays = [[t, str(base / t.strip("/").replace("/", "_") / "upper"),
                     str(base / t.strip("/").replace("/", "_") / "work")] for t in OVERLAY_TARGETS]
        spec = {"hostname": agent.hostname, "overlays": overlays,
                "hosts": [[a.address, a.hostname] for a in all_agents if a.hostname != a.address]}
        log_path = state_dir / "agents" / agent.hostname / "isolation.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = base_environment()
        env[MARKER] = sim_id
        with open(log_path, "ab") as log, reaper.lock:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", ISOLATION_SCRIPT, "hold", json.dumps(spec)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
                cwd=str(log_path.parent), start_new_session=True)
            reaper.watch(self._proc.pid, self._exited)
        assert self._proc.stdout is not None
        ready = self._proc.stdout.readline()
        if ready.strip() != b"ready":
            self.stop()
            detail = log_path.read_text(errors="replace").strip().splitlines()
            raise IsolationError(f"isolation for agent {agent.hostname} failed: "
                                 f"{detail[-1] if detail else 'no output'} (see {log_path}).")
        self.pid = self._proc.pid

    def _exited(self, status: int | None) -> None:
        self._proc.returncode = status if status is not None else -9

    def stop(self) -> None:
        """End the holder (tasks already inside the namespace keep it alive until they exit)."""
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        if self._proc.returncode is None:
            try:
                os.kill(self._proc.pid, signal.SIGKILL)
            except OSError:
                pass
