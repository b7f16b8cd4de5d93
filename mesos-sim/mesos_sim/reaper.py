"""Child-process watching for the simulator: pidfds, a reaper thread, and escaped processes.

Every process the simulator starts carries ``KOLLA_SIM_ID=<cluster id>`` in its environment
(and tasks also ``MESOS_TASK_ID``), which survives double forks and ``setsid``.  Each task's
first process (:mod:`mesos_sim.task_init`) is the subreaper of the task's orphans and reaps
them; the simulator process is a subreaper too, as the backstop for what escapes a task's first
process (it was SIGKILLed before its children), instead of PID 1 (which does not reap promptly
on these machines).

:class:`Reaper` waits on one ``pidfd`` per watched process in a single thread (no polling), reaps
it with ``waitpid`` when it is our child, and calls the registered callback with the exit status.
Once a second it also adopts unwatched children carrying our marker (re-parented orphans), so
that their zombies are reaped too.  It never waits for a child it does not own: other code in the
same process (tests starting ZooKeeper, ``subprocess.run``) keeps its children.
"""

from __future__ import annotations

import ctypes
import logging
import os
import selectors
import signal
import threading
import time
from collections.abc import Callable, Iterable

LOG = logging.getLogger(__name__)
PR_SET_CHILD_SUBREAPER = 36
MARKER = "KOLLA_SIM_ID"

ExitCallback = Callable[[int | None], None]


def set_child_subreaper() -> bool:
    """Make this process the reaper of its descendants' orphans; False if the kernel refuses."""
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def _environ(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            raw = handle.read()
    except OSError:
        return {}
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state letter, ppid, start time) of ``pid``, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    return fields[0].decode(), int(fields[1]), int(fields[19])


def marked_processes(sim_id: str, task_id: str | None = None) -> list[int]:
    """Live pids whose environment carries our marker (and ``MESOS_TASK_ID`` if given)."""
    found = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        env = _environ(int(name))
        if env.get(MARKER) != sim_id:
            continue
        if task_id is not None and env.get("MESOS_TASK_ID") != task_id:
            continue
        found.append(int(name))
    return found


def signal_processes(pids: Iterable[int], pgid: int | None, sig: int) -> None:
    """Send ``sig`` to a process group and to single pids, ignoring the ones already gone."""
    if pgid is not None:
        try:
            os.killpg(pgid, sig)
        except OSError:
            pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


class Reaper:
    """One thread that waits for watched processes to exit (see module doc)."""

    def __init__(self, sim_id: str) -> None:
        self.sim_id = sim_id
        self.lock = threading.RLock()  # held by spawners around fork+watch
        self._selector = selectors.DefaultSelector()
        self._watched: dict[int, tuple[int, ExitCallback | None]] = {}
        self._remembered: dict[int, int] = {}
        self._wake_r, self._wake_w = os.pipe()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="sim-reaper", daemon=True)
        self._thread.start()

    def watch(self, pid: int, callback: ExitCallback | None) -> None:
        """Call ``callback(status)`` once ``pid`` exits (status is None if not our child).

        Call it with :attr:`lock` held right after starting the child, so the orphan scan
        cannot adopt it first.  A pid already watched gets the new callback.
        """
        with self._idle:
            if pid in self._watched:
                fd, _ = self._watched[pid]
                self._watched[pid] = (fd, callback)
                return
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                fd = -1
            self._watched[pid] = (fd, callback)
            if fd >= 0:
                self._selector.register(fd, selectors.EVENT_READ, pid)
        os.write(self._wake_w, b"x")
        if fd < 0:
            self._finish(pid)

    def watched(self) -> list[int]:
        """The pids still being watched."""
        with self._idle:
            return list(self._watched)

    def wait_idle(self, pids: Iterable[int], timeout: float) -> bool:
        """Wait until none of ``pids`` is watched any more; False on timeout."""
        wanted = set(pids)
        with self._idle:
            return self._idle.wait_for(lambda: not wanted & set(self._watched), timeout)

    def adopt(self, pids: Iterable[int]) -> None:
        """Remember ``pids`` (processes of ours) and watch those that are our children.

        A remembered process that turns into a zombie child of ours later (its parent died
        with it) is reaped by :meth:`sweep`.
        """
        me = os.getpid()
        with self.lock:
            known = set(self.watched())
            for pid in pids:
                stat = proc_stat(pid)
                if stat is None:
                    continue
                self._remembered[pid] = stat[2]
                if pid not in known and stat[1] == me:
                    LOG.debug("adopting orphan process %s", pid)
                    self.watch(pid, None)

    def sweep(self) -> int:
        """Reap remembered processes that became zombie children of ours; return how many of
        the remembered ones still exist."""
        me = os.getpid()
        with self.lock:
            watched = set(self.watched())
            for pid, started in list(self._remembered.items()):
                stat = proc_stat(pid)
                if stat is None or stat[2] != started:
                    del self._remembered[pid]
                elif stat[0] == "Z" and stat[1] == me and pid not in watched:
                    try:
                        os.waitpid(pid, os.WNOHANG)
                    except ChildProcessError:
                        pass
                    del self._remembered[pid]
            return len(self._remembered)

    def adopt_orphans(self) -> None:
        """Watch our children that carry the marker and are not watched yet."""
        me = os.getpid()
        watched = set(self.watched())
        children = [int(n) for n in os.listdir("/proc") if n.isdigit() and int(n) not in watched
                    and (proc_stat(int(n)) or ("", 0, 0))[1] == me]
        self.adopt(p for p in children if _environ(p).get(MARKER) == self.sim_id)

    def _finish(self, pid: int) -> None:
        with self._idle:
            fd, callback = self._watched.get(pid, (-1, None))
        status: int | None = None
        try:
            _, raw = os.waitpid(pid, 0)
            status = os.waitstatus_to_exitcode(raw)
        except ChildProcessError:
            status = None
        if callback is not None:
            try:
                callback(status)
            except Exception:  # noqa: BLE001 - a callback must not kill the reaper
                LOG.exception("exit callback for pid %s failed", pid)
        with self._idle:
            self._watched.pop(pid, None)
            if fd >= 0:
                self._selector.unregister(fd)
                os.close(fd)
            self._idle.notify_all()

    def _loop(self) -> None:
        next_scan = time.monotonic() + 1.0
        while not self._stop.is_set():
            events = self._selector.select(timeout=1.0)
            if time.monotonic() >= next_scan:
                next_scan = time.monotonic() + 1.0
                try:
                    self.adopt_orphans()
                    self.sweep()
                except Exception:  # noqa: BLE001 - the reaper thread must survive
                    LOG.exception("orphan scan failed")
            for key, _ in events:
                if key.data is None:
                    os.read(self._wake_r, 4096)
                else:
                    self._finish(int(key.data))

    def stop(self) -> None:
        """Stop the thread (watched processes are left alone)."""
        self._stop.set()
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)


def kill_marked(sim_id: str, task_id: str | None = None) -> list[int]:
    """SIGKILL every live process carrying our marker (and task id); return their pids."""
    pids = marked_processes(sim_id, task_id)
    signal_processes(pids, None, signal.SIGKILL)
    return pids
