"""Run commands and the daemon: argv, environment, privilege drop, signals, exit codes.

The child is started with ``subprocess.Popen(user=, group=, extra_groups=)``, which calls
setgroups, setgid and setuid in the child between fork and exec (no ``preexec_fn``, which is
unsafe in a threaded process such as one running a kazoo client).  The child inherits the
runner's stdout and stderr, so its output reaches the task's sandbox logs unbuffered by us.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pwd
import signal
import subprocess
import threading
from collections.abc import Mapping

from kolla_mesos import errors
from kolla_mesos.definition import Command
from kolla_mesos.runner import signals

LOG = logging.getLogger(__name__)

#: How long a child gets between SIGTERM and SIGKILL.
STOP_GRACE = 10.0


@dataclasses.dataclass(frozen=True)
class Account:
    """A user a child runs as."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str


def account(user: str) -> Account:
    """Resolve ``user`` (name or uid) with its supplementary groups."""
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError as exc:
        raise errors.ConfigError(
            f"The definition's user {user!r} does not exist on this host (image)."
        ) from exc
    groups = tuple(sorted(set(os.getgrouplist(entry.pw_name, entry.pw_gid))))
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir)


def child_env(task_env: Mapping[str, str], cmd_env: Mapping[str, str],
              acct: Account) -> dict[str, str]:
    """Pure: the definition's environment over the task's, with the user's identity."""
    env = dict(task_env)
    env.update({"HOME": acct.home, "USER": acct.name, "LOGNAME": acct.name})
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(cmd_env)
    return env


def probe(argv: list[str], user: str, task_env: Mapping[str, str], cwd: str,
          timeout: float) -> bool:
    """Run a readiness probe as ``user``: True when it exits 0 within ``timeout``."""
    acct = account(user)
    try:
        result = subprocess.run(  # type: ignore[call-overload]
            argv, env=child_env(task_env, {}, acct), cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, timeout=timeout, check=False,
            **drop_kwargs(acct, "the readiness probe"))
    except (OSError, subprocess.TimeoutExpired):
        return False
    return bool(result.returncode == 0)


def exit_status(returncode: int) -> int:
    """Shell-style exit status: 128 + signal number for a child killed by a signal."""
    return 128 - returncode if returncode < 0 else returncode


def drop_kwargs(acct: Account, what: str) -> dict[str, object]:
    """Popen arguments that run a child as ``acct`` (setgroups, setgid, setuid)."""
    if os.geteuid() == 0 and acct.uid != 0:
        return {"user": acct.uid, "group": acct.gid, "extra_groups": list(acct.groups)}
    if os.geteuid() not in (0, acct.uid):
        raise errors.ConfigError(
            f"The runner runs as uid {os.geteuid()} and cannot switch to user {acct.name!r} "
            f"for {what}: run it as root (it drops privileges itself)."
        )
    return {}


def spawn(cmd: Command, user: str, task_env: Mapping[str, str], cwd: str
          ) -> subprocess.Popen[bytes]:
    """Start ``cmd`` as ``user`` (privileges dropped when the runner is root)."""
    acct = account(user)
    argv = cmd.argv()
    env = child_env(task_env, cmd.env_dict, acct)
    kwargs = drop_kwargs(acct, cmd.name)
    LOG.info("Starting %s as %s: %s", cmd.name, acct.name, argv[0])
    try:
        with signals.unblocked_for_children():
            proc: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
                argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, close_fds=True, **kwargs)
        return proc
    except OSError as exc:
        raise errors.ConfigError(
            f"Cannot start {cmd.name} ({argv[0]}): {exc.strerror}."
        ) from exc


class Children:
    """The runner's current child processes; signals are forwarded to all of them."""

    def __init__(self) -> None:
        # Re-entrant: forward() runs in a signal handler on the main thread, which may be
        # inside add() or discard() at that moment.
        self._lock = threading.RLock()
        self._procs: set[subprocess.Popen[bytes]] = set()

    def add(self, proc: subprocess.Popen[bytes]) -> None:
        """Track ``proc``."""
        with self._lock:
            self._procs.add(proc)

    def discard(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop tracking ``proc``."""
        with self._lock:
            self._procs.discard(proc)

    def forward(self, signum: int) -> int:
        """Send ``signum`` to every tracked child that still runs; returns how many."""
        with self._lock:
            procs = [p for p in self._procs if p.poll() is None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signum)
        return len(procs)


def terminate(proc: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> int:
    """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit status."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            LOG.warning("pid %d ignored SIGTERM for %g s: killing it", proc.pid, grace)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
    return exit_status(proc.returncode)


def run_to_end(cmd: Command, user: str, task_env: Mapping[str, str], cwd: str,
               children: Children) -> tuple[int, str]:
    """Run a one-shot command to its end, bounded by its ``timeout``; (exit status, note)."""
    proc = spawn(cmd, user, task_env, cwd)
    children.add(proc)
    try:
        try:
            proc.wait(cmd.timeout)
        except subprocess.TimeoutExpired:
            LOG.error("%s ran longer than its timeout of %g s: stopping it", cmd.name,
                      cmd.timeout)
            code = terminate(proc)
            return code or 1, f"timed out after {cmd.timeout:g} s"
    finally:
        children.discard(proc)
    code = exit_status(proc.returncode)
    return code, "" if code == 0 else f"exited with status {code}"


class Supervisor:
    """The daemon process: start, signal, restart in place, and wait for its final exit."""

    def __init__(self, cmd: Command, user: str, task_env: Mapping[str, str], cwd: str,
                 children: Children) -> None:
        self.cmd = cmd
        self.user = user
        self.task_env = dict(task_env)
        self.cwd = cwd
        self.children = children
        self.restarts = 0
        self._cond = threading.Condition()
        self._proc: subprocess.Popen[bytes] | None = None
        self._restarting = False
        self._stopping = False

    def start(self) -> int:
        """Start the daemon; returns its pid."""
        proc = spawn(self.cmd, self.user, self.task_env, self.cwd)
        self.children.add(proc)
        with self._cond:
            self._proc = proc
        return proc.pid

    @property
    def pid(self) -> int | None:
        """pid of the current daemon process."""
        proc = self._proc
        return proc.pid if proc else None

    def alive(self) -> bool:
        """True while the current daemon process runs."""
        proc = self._proc
        return proc is not None and proc.poll() is None

    def send(self, signum: int) -> bool:
        """Send ``signum`` to the daemon; False when it is not running."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return False
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)
            return True
        return False

    def restart(self, grace: float = STOP_GRACE) -> bool:
        """Stop the daemon and start it again (in-place restart); False when stopping."""
        with self._cond:
            if self._stopping or self._proc is None:
                return False
            self._restarting = True
            old = self._proc
        try:
            code = terminate(old, grace)
            self.children.discard(old)
            LOG.info("%s stopped for restart (status %d)", self.cmd.name, code)
            new = spawn(self.cmd, self.user, self.task_env, self.cwd)
            self.children.add(new)
            with self._cond:
                self._proc = new
                stopping = self._stopping
            self.restarts += 1
            if stopping:  # SIGTERM arrived during the restart: it was meant for this one too
                terminate(new)
            return True
        finally:
            with self._cond:
                self._restarting = False
                self._cond.notify_all()

    def stop_requested(self) -> None:
        """The runner is shutting down: refuse further in-place restarts."""
        with self._cond:
            self._stopping = True

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop the daemon for good (the runner is shutting down)."""
        with self._cond:
            self._stopping = True
            while self._restarting:
                self._cond.wait()
            proc = self._proc
        if proc is not None:
            terminate(proc, grace)

    def wait(self) -> int:
        """Block until the daemon exits other than by an in-place restart; its exit status."""
        while True:
            with self._cond:
                proc = self._proc
            if proc is None:
                raise RuntimeError("wait() called before start()")
            proc.wait()
            with self._cond:
                while self._restarting:
                    self._cond.wait()
                if self._proc is proc:
                    self.children.discard(proc)
                    return exit_status(proc.returncode)
