"""Hot reload: watch ``current`` and apply a new generation's files to the running daemon.

On every new value of ``current`` (a new deploy or a rollback) the runner fetches its service's
files for this host from that generation and compares them with what it wrote.  Unchanged:
nothing happens.  Changed, by the definition's ``reload`` policy:

* ``sighup``: under ``locks/<service>/reload`` rewrite the files, SIGHUP the daemon and wait
  for readiness before the next instance takes its turn;
* ``none``: rewrite the files only;
* ``restart``: Marathon replaces the task (the files are in the app's config hash), so the
  runner leaves its process and files alone -- unless ``KOLLA_RELOAD_RESTART=runner``, where
  the runner restarts the daemon in place, once per change, under the same lock.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
from typing import Any, Protocol

from kazoo.exceptions import KazooException, LockTimeout

from kolla_mesos import errors, zkpaths
from kolla_mesos.runner import files, signals
from kolla_mesos.runner.identity import RESTART_BY_RUNNER
from kolla_mesos.runner.session import Session
from kolla_mesos.runner.store import GenerationReader, parse_current

LOG = logging.getLogger(__name__)

NOTHING = "nothing"
REWRITE = "rewrite"
SIGHUP = "sighup"
RESTART = "restart"
MARATHON = "marathon"
RELOAD_LOCK = "reload"


def decide(policy: str, restart_mode: str, changed: list[str]) -> str:
    """Pure: what to do about a new generation, given the changed file names."""
    if not changed:
        return NOTHING
    if policy == "sighup":
        return SIGHUP
    if policy == "none":
        return REWRITE
    return RESTART if restart_mode == RESTART_BY_RUNNER else MARATHON


class Target(Protocol):
    """What the watcher acts on (the runner's app mode)."""

    def apply_files(self, fileset: files.FileSet) -> None:
        """Write the files to disk."""

    def signal_daemon(self, signum: int) -> bool:
        """Send a signal to the daemon."""

    def restart_daemon(self) -> None:
        """Restart the daemon in place."""

    def wait_daemon_ready(self) -> None:
        """Block until the daemon passes its readiness check."""

    def generation_applied(self, number: int) -> None:
        """The daemon now runs with the files of generation ``number``."""


class ReloadWatcher:
    """Watches ``current`` and applies reload policies in its own thread."""

    def __init__(self, session: Session, target: Target, generation: int,
                 written: files.FileSet) -> None:
        self.session = session
        self.target = target
        self.generation = generation
        self.written = dict(written)
        self.history: list[tuple[int, str]] = []
        ident = session.identity
        self._current_path = zkpaths.current(ident.zk_root, ident.deployment)
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._stopped = threading.Event()
        self._cond = threading.Condition()
        self._seen = generation
        self._thread = threading.Thread(target=self._loop, name="reload", daemon=True)

    def start(self) -> None:
        """Begin watching ``current``."""
        with signals.blocked_for_new_threads():
            self._thread.start()
        self.session.client.DataWatch(self._current_path, self._on_current)

    def stop(self) -> None:
        """Stop watching (the runner is shutting down)."""
        self._stopped.set()
        self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=30)

    def wait_processed(self, number: int, timeout: float) -> bool:
        """Wait until generation ``number`` has been handled (for tests and tools)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: any(n == number for n, _ in self.history), timeout)

    def _on_current(self, data: bytes | None, _stat: Any, *_event: Any) -> bool | None:
        # kazoo's event thread: never block here.
        if self._stopped.is_set():
            return False
        if data is None:
            return None
        try:
            self._queue.put(parse_current(data, self._current_path))
        except errors.ZookeeperError as exc:
            LOG.error("Ignoring change of %s: %s", self._current_path, exc)
        return None

    def _loop(self) -> None:
        while True:
            number = self._queue.get()
            if number is None or self._stopped.is_set():
                return
            if number == self._seen:
                continue
            self._seen = number
            try:
                action = self._apply(number)
            except errors.KollaMesosError as exc:
                LOG.error("Could not apply generation %d: %s", number, exc)
                action = f"error: {exc}"
            except KazooException as exc:
                LOG.error("Could not apply generation %d: ZooKeeper error %s", number,
                          type(exc).__name__)
                action = f"error: {type(exc).__name__}"
            with self._cond:
                self.history.append((number, action))
                self._cond.notify_all()

    def _apply(self, number: int) -> str:
        ident = self.session.identity
        reader = GenerationReader(self.session, number)
        defn = reader.definition(ident.service, ident.project)
        if defn is None:
            LOG.warning("Generation %d has no service %s/%s: leaving the daemon alone",
                        number, ident.project, ident.service)
            return NOTHING
        new = files.build_fileset(defn, reader.files(defn, ident.hostname, defn.app_files()))
        changed = files.changed_files(self.written, new)
        action = decide(defn.reload, ident.restart_mode, changed)
        if action == NOTHING:
            LOG.info("Generation %d leaves the files of %s unchanged", number, ident.service)
            self.target.generation_applied(number)
        elif action == MARATHON:
            LOG.info("Generation %d changes %s of %s (reload policy restart): Marathon will "
                     "replace this task; leaving the running process alone", number,
                     ", ".join(changed), ident.service)
        elif action == REWRITE:
            self._write(new, number, changed)
            self.target.generation_applied(number)
        else:
            self._serialized(action, new, number, changed, defn.dependency_timeout)
        return action

    def _write(self, new: files.FileSet, number: int, changed: list[str]) -> None:
        LOG.info("Generation %d changes %s: rewriting", number, ", ".join(changed))
        self.target.apply_files(new)
        self.written = dict(new)

    def _serialized(self, action: str, new: files.FileSet, number: int, changed: list[str],
                    timeout: float) -> None:
        ident = self.session.identity
        lock = self.session.client.Lock(
            zkpaths.lock(ident.zk_root, ident.deployment, ident.service, RELOAD_LOCK),
            ident.hostname)
        try:
            if not lock.acquire(timeout=timeout):
                raise LockTimeout()
        except LockTimeout as exc:
            raise errors.DeadlineExceeded(
                f"Could not take the reload lock of {ident.service} within {timeout:g} s."
            ) from exc
        try:
            self._write(new, number, changed)
            if action == SIGHUP:
                LOG.info("Sending SIGHUP to %s", ident.service)
                self.target.signal_daemon(signal.SIGHUP)
            else:
                LOG.info("Restarting %s in place (KOLLA_RELOAD_RESTART=runner)", ident.service)
                self.target.restart_daemon()
            self.target.wait_daemon_ready()
            self.target.generation_applied(number)
        finally:
            try:
                lock.release()
            except KazooException:
                LOG.warning("Could not release the reload lock; it goes with the session")
