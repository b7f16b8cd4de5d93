"""Mount-namespace isolation for simulated tasks (Linux, root; stdlib only).

This file is run as a *script* (``python -I -S isolation.py MODE SPEC_JSON [-- ARGV...]``) in
the child process, before the task's program is exec'd, so that no threads exist when it calls
``unshare``/``setns``.  Modes:

``hold``
    One long-lived process per agent.  It creates a mount and UTS namespace, mounts a
    copy-on-write overlay over each of ``/etc``, ``/var/lib``, ``/var/log`` and ``/run`` (upper
    and work directories per agent under the simulator's state directory, so the agent's files
    survive task restarts), sets the host name to the agent's, adds every agent to the overlay's
    ``/etc/hosts``, prints ``ready`` and then waits until its stdin closes (the simulator exits).
``run``
    Joins the agent's namespaces (``join``: the holder's pid), unshares a private mount namespace
    of its own, bind-mounts the task's volumes at their container paths (``binds``: list of
    ``[source, target, "RW"|"RO"]``), changes to the sandbox and execs ARGV.  ``ready_fd`` (a
    pipe's write end) is closed by that exec, which tells the simulator the task runs inside
    its namespace.
``enter``
    Joins the namespaces of a running task (``join``: its pid), changes to ``chdir`` and execs
    ARGV (COMMAND health checks, ``Cluster.exec_in_task``).

Every failure is one line on stderr and exit status 127, before the task program starts.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
OVERLAY_TARGETS = ("/etc", "/var/lib", "/var/log", "/run")

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


def _private_namespace(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)


def _join(pid: int) -> None:
    for name, flag in (("mnt", CLONE_NEWNS), ("uts", CLONE_NEWUTS)):
        fd = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY)
        try:
            _check(_libc.setns(fd, flag), f"setns {name} of pid {pid}")
        finally:
            os.close(fd)


def _hold(spec: dict[str, Any]) -> None:
    _private_namespace(CLONE_NEWNS | CLONE_NEWUTS)
    for target, upper, work in spec["overlays"]:
        if not os.path.isdir(target):
            continue
        os.makedirs(upper, exist_ok=True)
        os.makedirs(work, exist_ok=True)
        _mount("overlay", target, "overlay", 0,
               f"lowerdir={target},upperdir={upper},workdir={work}")
    hostname = spec["hostname"].encode()
    _check(_libc.sethostname(hostname, len(hostname)), "sethostname")
    lines = [f"{address} {name}" for address, name in spec.get("hosts", [])]
    try:
        with open("/etc/hosts", encoding="utf-8") as handle:
            present = set(handle.read().splitlines())
    except FileNotFoundError:
        present = set()
    missing = [line for line in lines if line not in present]
    if missing:
        with open("/etc/hosts", "a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in missing))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while sys.stdin.buffer.read(4096):
        pass


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


def _run(spec: dict[str, Any], argv: list[str]) -> None:
    if spec.get("join"):
        _join(int(spec["join"]))
    _private_namespace(CLONE_NEWNS)
    for source, target, mode in spec.get("binds", []):
        _bind(source, target, mode)
    os.chdir(spec["chdir"])
    if spec.get("ready_fd") is not None:
        os.set_inheritable(int(spec["ready_fd"]), False)  # closed by exec: "namespace ready"
    os.execvp(argv[0], argv)  # noqa: S606 - the task argv, by design without a shell


def _enter(spec: dict[str, Any], argv: list[str]) -> None:
    _join(int(spec["join"]))
    os.chdir(spec["chdir"])
    os.execvp(argv[0], argv)  # noqa: S606 - the task argv, by design without a shell


def main(argv: list[str]) -> int:
    """Entry point of the script (see module doc)."""
    try:
        mode, spec = argv[0], json.loads(argv[1])
        rest = argv[3:] if len(argv) > 2 and argv[2] == "--" else []
        if mode == "hold":
            _hold(spec)
        elif mode == "run" and rest:
            _run(spec, rest)
        elif mode == "enter" and rest:
            _enter(spec, rest)
        else:
            raise ValueError(f"usage: isolation.py hold|run|enter SPEC [-- ARGV], got {argv!r}")
    except (OSError, ValueError, KeyError, IndexError) as exc:
        sys.stderr.write(f"kolla-mesos-sim isolation: {exc}\n")
        return 127
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
