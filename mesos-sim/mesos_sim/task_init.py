"""The first process of every simulated task: its container (Linux; stdlib only).

Run as a *script* (``python -I -S task_init.py MODE SPEC_JSON -- ARGV...``), so that it is
single-threaded when it calls ``unshare``/``setns`` and imports nothing of the simulator.
Modes:

``run``
    Starts one task, as the Mesos executor and a Docker container's init do together:

    1. becomes the *child subreaper* of everything below it, so orphans of the task (daemons
       that double-fork, ``erl_child_setup``'s helpers, uwsgi workers) are re-parented to it
       and reaped here, never left as zombies;
    2. with ``isolate``, unshares a mount and UTS namespace of its own and mounts a private
       copy-on-write overlay over each of ``/etc``, ``/var/lib``, ``/var/log`` and ``/run``
       (``overlays``: ``[target, upper, work]``, fresh directories per task, as a container's
       writable layer), sets the agent's host name, lists every agent in ``/etc/hosts``
       (``hosts``) and bind-mounts the task's volumes (``binds``: ``[source, target, "RW"|"RO"]``)
       at their container paths: named volumes are the only state two tasks share;
    3. forks the task's ARGV in ``chdir`` and reaps every child until the task's own process
       exits; then it kills and reaps whatever is left (the container is destroyed with its
       command) and exits with the task's status (re-raising its signal).

    ``ready_fd``, a pipe's write end, is closed by the task's exec: that tells the simulator
    the task runs (inside its namespace).  A failure before the exec is written to it as one
    line, and the process exits 127.  SIGTERM is caught (and ignored) here so that the
    simulator's SIGTERM to the task's process group stops the task while this process stays
    to reap it.
``enter``
    Joins the namespaces of a running task (``join``: its first process), changes to ``chdir``
    and execs ARGV (COMMAND health checks, ``Cluster.exec_in_task``).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
from typing import Any, NoReturn

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_CHILD_SUBREAPER = 36
OVERLAY_TARGETS = ("/etc", "/var/lib", "/var/log", "/run")
#: How long destroying the container may take before this process leaves stragglers to the
#: simulator.
DESTROY_SECONDS = 10

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    def enc(value: str | None) -> bytes | None:
        return value.encode() if value is not None else None

    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags),
                       enc(data)), f"mount {target}")


def _join(pid: int) -> None:
    for name, flag in (("mnt", CLONE_NEWNS), ("uts", CLONE_NEWUTS)):
        fd = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY)
        try:
            _check(_libc.setns(fd, flag), f"setns {name} of pid {pid}")
        finally:
            os.close(fd)


def _bind(source: str, target: str, mode: str) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    elif not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "a", encoding="utf-8"):
            pass
    _mount(source, target, None, MS_BIND | MS_REC)
    if mode.upper() == "RO":
        _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def _add_hosts(hosts: list[list[str]]) -> None:
    lines = [f"{address} {name}" for address, name in hosts]
    try:
        with open("/etc/hosts", encoding="utf-8") as handle:
            present = set(handle.read().splitlines())
    except FileNotFoundError:
        present = set()
    missing = [line for line in lines if line not in present]
    if missing:
        with open("/etc/hosts", "a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in missing))


def _isolate(spec: dict[str, Any]) -> None:
    """The task's own root file system view (see module doc, step 2)."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for target, upper, work in spec["overlays"]:
        if not os.path.isdir(target):
            continue
        os.makedirs(upper, exist_ok=True)
        os.makedirs(work, exist_ok=True)
        _mount("overlay", target, "overlay", 0,
               f"lowerdir={target},upperdir={upper},workdir={work}")
    hostname = spec["hostname"].encode()
    _check(_libc.sethostname(hostname, len(hostname)), "sethostname")
    _add_hosts(spec.get("hosts", []))
    for source, target, mode in spec.get("binds", []):
        _bind(source, target, mode)


def _children() -> list[int]:
    """Pids whose parent is this process (orphans re-parented here included)."""
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        if int(data[data.rfind(b")") + 2:].split()[1]) == me:
            found.append(int(name))
    return found


def _give_up(_sig: int, _frame: object) -> None:
    raise TimeoutError


def _destroy() -> None:
    """SIGKILL and reap every process left below this one, orphans of orphans included.

    Bounded by an alarm (a process stuck in the kernel cannot hold the task's end forever);
    what is left then is re-parented to the simulator, which kills and reaps it.
    """
    signal.signal(signal.SIGALRM, _give_up)
    signal.alarm(DESTROY_SECONDS)
    try:
        while left := _children():
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            for _ in left:
                try:
                    os.waitpid(-1, 0)
                except ChildProcessError:
                    break
    except TimeoutError:
        pass
    finally:
        signal.alarm(0)


def _exit_like(raw: int) -> NoReturn:
    """Exit with the same status as the task's process (``raw`` from ``wait``)."""
    if os.WIFSIGNALED(raw):
        sig = os.WTERMSIG(raw)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(raw))


def _fail(ready_fd: int | None, message: str) -> NoReturn:
    """Report a failure before the task's exec (stderr and the ready pipe) and exit 127."""
    sys.stderr.write(f"kolla-mesos-sim: {message}\n")
    sys.stderr.flush()
    if ready_fd is not None:
        try:
            os.write(ready_fd, message.encode("utf-8", "replace"))
        except OSError:
            pass
    os._exit(127)


def _run(spec: dict[str, Any], argv: list[str]) -> NoReturn:
    ready_fd = spec.get("ready_fd")
    try:
        _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")
        if spec.get("isolate"):
            _isolate(spec)
        os.chdir(spec["chdir"])
    except (OSError, KeyError, ValueError, TypeError) as exc:
        _fail(ready_fd, f"cannot set up the task's container: {exc}")
    signal.signal(signal.SIGTERM, lambda _sig, _frame: None)
    child = os.fork()
    if child == 0:
        # Python ignores SIGPIPE and SIGXFSZ; a task starts with the default dispositions.
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        if ready_fd is not None:
            os.set_inheritable(ready_fd, False)  # closed by exec: "the task runs"
        try:
            os.execvp(argv[0], argv)  # noqa: S606 - the task argv, by design without a shell
        except OSError as exc:
            _fail(ready_fd, f"cannot execute {argv[0]}: {exc.strerror}")
    if ready_fd is not None:
        os.close(ready_fd)
    while True:
        try:
            pid, raw = os.wait()
        except ChildProcessError:  # cannot happen while the task's process is ours
            os._exit(127)
        if pid == child:
            break
    _destroy()
    _exit_like(raw)


def _enter(spec: dict[str, Any], argv: list[str]) -> None:
    _join(int(spec["join"]))
    os.chdir(spec["chdir"])
    os.execvp(argv[0], argv)  # noqa: S606 - the task argv, by design without a shell


def main(argv: list[str]) -> int:
    """Entry point of the script (see module doc)."""
    try:
        mode, spec = argv[0], json.loads(argv[1])
        rest = argv[3:] if len(argv) > 2 and argv[2] == "--" else []
        if mode == "run" and rest:
            _run(spec, rest)
        elif mode == "enter" and rest:
            _enter(spec, rest)
        else:
            raise ValueError(f"usage: task_init.py run|enter SPEC -- ARGV, got {argv!r}")
    except (OSError, ValueError, KeyError, IndexError) as exc:
        sys.stderr.write(f"kolla-mesos-sim task init: {exc}\n")
        return 127
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
