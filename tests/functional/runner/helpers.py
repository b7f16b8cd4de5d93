"""Fixtures and helpers shared by the runner's functional tests (tests/functional/runner/).

Import the fixtures into a test module with
``from tests.functional.runner.helpers import fixture_rdep, fixture_rdir  # noqa: F401``
(the fixtures are named ``rdep``, ``rdir`` and ``procs``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient

from kolla_mesos.testing.runner import (  # noqa: F401 - wait_node is re-exported
    ServiceFiles,
    TestDeployment,
    runner_process,
    wait_node,
)
from kolla_mesos.testing.waiting import wait_for, wait_watch

PROJECT = "proj"


@pytest.fixture(name="rdep")
def fixture_rdep(zk_hosts: str, zk_root: str) -> Iterator[TestDeployment]:
    """A deployment tree with least-privilege ACLs, written as the deployer."""
    dep = TestDeployment(zk_hosts, zk_root)
    try:
        yield dep
    finally:
        dep.close()


@pytest.fixture(name="rdir")
def fixture_rdir() -> Iterator[str]:
    """A scratch directory every user can traverse (the daemon may run as nobody)."""
    path = tempfile.mkdtemp(prefix="kolla-runner-test-", dir="/tmp")
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Procs:
    """Runner subprocesses started by a test; all are killed when it ends."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.started: list[tuple[subprocess.Popen[bytes], str]] = []

    def start(self, env: dict[str, str], cwd: str | None = None,
              name: str = "runner") -> subprocess.Popen[bytes]:
        """Start ``python -m kolla_mesos.runner.main``; its log is self.log(proc)."""
        log = os.path.join(self.workdir, f"{name}-{len(self.started)}.log")
        proc = runner_process(env, cwd or self.workdir, log)
        self.started.append((proc, log))
        return proc

    def log(self, proc: subprocess.Popen[bytes]) -> str:
        """Everything ``proc`` wrote so far."""
        for started, path in self.started:
            if started is proc:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    return handle.read()
        raise KeyError(proc)

    def wait(self, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
        """``proc``'s exit code; if it is still running after ``timeout``, its threads' stacks
        (the runner dumps them on SIGUSR2) and its log go into the AssertionError."""
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGUSR2)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(1.0)  # time to write the stacks; nothing to wait on but the dump
            raise AssertionError(f"runner {proc.pid} still runs after {timeout:g} s:\n"
                                 f"{self.log(proc)}") from None

    def cleanup(self) -> None:
        """Kill whatever still runs: each runner with its children (its process group)."""
        for proc, _log in self.started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture(name="procs")
def fixture_procs(rdir: str) -> Iterator[Procs]:
    """Runner subprocesses, killed at the end of the test."""
    tracker = Procs(rdir)
    try:
        yield tracker
    finally:
        tracker.cleanup()


def command(argv: list[str], **extra: Any) -> dict[str, Any]:
    """A command entry of a definition."""
    return {"command": argv, **extra}


def sh(script: str, **extra: Any) -> dict[str, Any]:
    """A shell command entry (``/bin/sh -c script``)."""
    return {"command": [script], "shell": True, **extra}


def python_cmd(code: str, **extra: Any) -> dict[str, Any]:
    """A command running ``code`` with this interpreter."""
    return {"command": [sys.executable, "-c", code], **extra}


def service(name: str, commands: dict[str, Any] | None = None,
            daemon: dict[str, Any] | None = None, files: dict[str, Any] | None = None,
            contents: dict[str, bytes] | None = None,
            host_contents: dict[tuple[str, str], bytes] | None = None,
            **extra: Any) -> ServiceFiles:
    """A service of a generation: definition plus rendered files."""
    raw: dict[str, Any] = {"schema": 1, "project": PROJECT, "service": name,
                           "user": "root", "reload": "none", "files": files or {},
                           "commands": commands or {}, "daemon": daemon,
                           "dependency_timeout": 20}
    raw.update(extra)
    return ServiceFiles(raw, dict(contents or {}), dict(host_contents or {}))




def wait_children(client: KazooClient, path: str, count: int, timeout: float = 20.0
                  ) -> list[str]:
    """Wait (with a children watch) until ``path`` has at least ``count`` children."""
    def read(watch: Any) -> list[str] | None:
        children = client.get_children(path, watch=watch) \
            if client.exists(path, watch=watch) else []
        return list(children) if len(children) >= count else None
    return wait_watch(read, timeout, f"{count} children of {path}")


def wait_file_lines(path: str, count: int, proc: subprocess.Popen[bytes] | None = None,
                    timeout: float = 20.0) -> list[str]:
    """Wait until ``path`` has ``count`` lines; fail early when ``proc`` exits.

    A daemon's side-effect file offers no event to wait on: polled (``wait_for``).
    """
    def read() -> list[str] | None:
        with contextlib.suppress(FileNotFoundError):
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
            return lines if len(lines) >= count else None
        return None
    return wait_for(read, timeout, f"{count} lines in {path}",
                    give_up=(lambda: proc.poll() is not None) if proc is not None else None)


DAEMON_SCRIPT = r'''
import os, signal, socket, sys
log = sys.argv[1].replace("{host}", os.environ.get("KOLLA_HOSTNAME", ""))
port = int(sys.argv[2])
def note(text):
    with open(log, "a") as handle:
        handle.write(text + "\n")
note("start %d" % os.getpid())
signal.signal(signal.SIGHUP, lambda *_: note("hup %d" % os.getpid()))
def stop(*_):
    note("stop %d" % os.getpid())
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(8)
while True:
    conn, _ = srv.accept()
    conn.close()
'''


def daemon_entry(workdir: str, log: str, port: int, **extra: Any) -> dict[str, Any]:
    """A daemon that logs start/hup/stop lines to ``log`` and listens on ``port``."""
    script = os.path.join(workdir, "daemon.py")
    if not os.path.exists(script):
        with open(script, "w") as handle:
            handle.write(DAEMON_SCRIPT)
        os.chmod(script, 0o644)
    entry: dict[str, Any] = {"command": [sys.executable, script, log, str(port)],
                             "ready": {"tcp": port, "timeout": 20}}
    entry.update(extra)
    return entry


def read_lines(path: str) -> list[str]:
    """Lines of ``path`` ([] when it does not exist)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().splitlines()
    except FileNotFoundError:
        return []
