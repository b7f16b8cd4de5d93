"""One-shot commands: order, dependency waits, ``run_once`` under a lock, status records.

``run_once`` protocol (once per inputs hash across every host): a ``done`` record for the
hash skips the command without writing; otherwise the runner records ``waiting``, waits for
the dependencies, takes ``locks/<service>/<command>`` (identified by its host name), checks
the records again under the lock, and only then records ``running``, runs and records
``done`` or ``failed``.  A ``running`` record found under the lock belongs to a runner that
died (it would still hold the lock otherwise), so the command runs again.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable, Mapping

from kazoo.exceptions import KazooException, LockTimeout

from kolla_mesos import errors, zkpaths
from kolla_mesos.definition import Command, Definition
from kolla_mesos.runner import process, status
from kolla_mesos.runner.deps import DependencyWaiter
from kolla_mesos.runner.session import Session
from kolla_mesos.runner.store import GenerationReader

LOG = logging.getLogger(__name__)


class CommandFailed(errors.DeployFailed):
    """A command exited non-zero; the runner exits with the command's status."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.exit_code = status_code  # type: ignore[assignment]


def order(commands: Iterable[Command], service: str) -> list[Command]:
    """Pure: dependency order within ``service``, then name; a cycle is a DefinitionError."""
    by_name = {cmd.name: cmd for cmd in commands}
    needs = {name: {d.command for d in cmd.dependencies
                    if d.service == service and d.command in by_name and d.command != name}
             for name, cmd in by_name.items()}
    ready = [name for name, deps in needs.items() if not deps]
    heapq.heapify(ready)
    out: list[Command] = []
    while ready:
        name = heapq.heappop(ready)
        out.append(by_name[name])
        for other, deps in needs.items():
            if name in deps:
                deps.discard(name)
                if not deps:
                    heapq.heappush(ready, other)
    if len(out) != len(by_name):
        cycle = sorted(set(by_name) - {cmd.name for cmd in out})
        raise errors.DefinitionError([
            f"Commands {', '.join(f'{service}/{c}' for c in cycle)} depend on each other in "
            "a cycle."])
    return out


def app_commands(defn: Definition) -> list[Command]:
    """The commands a Marathon task runs before its daemon (every non-job command)."""
    return order([cmd for cmd in defn.commands if not cmd.job], defn.service)


class CommandRunner:
    """Runs the commands of one service definition on this host."""

    def __init__(self, session: Session, reader: GenerationReader, defn: Definition,
                 host: str, cwd: str, task_env: Mapping[str, str],
                 children: process.Children) -> None:
        self.session = session
        self.defn = defn
        self.host = host
        self.cwd = cwd
        self.task_env = dict(task_env)
        self.children = children
        self.book = status.StatusBook(session, host, reader.number)
        self.waiter = DependencyWaiter(session, reader, host)

    def wait_dependencies(self, cmd: Command, key: str) -> None:
        """Record ``waiting`` and wait; a failure is recorded before it propagates."""
        name = f"{self.defn.service}/{cmd.name}"
        self.book.write(self.defn.service, cmd.name, key, status.WAITING,
                        message=", ".join(d.path for d in cmd.dependencies))
        try:
            self.waiter.wait(cmd.dependencies, name, self.defn.dependency_timeout)
        except (errors.DependencyFailed, errors.DeadlineExceeded,
                errors.DefinitionError) as exc:
            self.book.write(self.defn.service, cmd.name, key, status.FAILED, message=str(exc))
            raise

    def run(self, cmd: Command) -> bool:
        """Run ``cmd`` (after its dependencies); False when run_once found it done."""
        key = status.inputs_key(cmd, self.book.generation)
        service = self.defn.service
        if cmd.run_once:
            done_on = self.book.done_by(service, cmd.name, key)
            if done_on:
                LOG.info("%s/%s already ran on %s for inputs %s: skipping", service, cmd.name,
                         done_on, key)
                return False
        self.wait_dependencies(cmd, key)
        if not cmd.run_once:
            self._execute(cmd, key)
            return True
        ident = self.session.identity
        lock = self.session.client.Lock(
            zkpaths.lock(ident.zk_root, ident.deployment, service, cmd.name), self.host)
        # The holder may be running the command: allow its timeout on top of the wait.
        lock_timeout = self.defn.dependency_timeout + float(cmd.timeout or 0)
        try:
            acquired = lock.acquire(timeout=lock_timeout)
        except LockTimeout:
            acquired = False
        if not acquired:
            message = (f"Could not take lock of run_once command {service}/{cmd.name} within "
                       f"{lock_timeout:g} s (held by "
                       f"{', '.join(lock.contenders()[:1]) or 'unknown'}).")
            self.book.write(service, cmd.name, key, status.FAILED, message=message)
            raise errors.DeadlineExceeded(message)
        try:
            done_on = self.book.done_by(service, cmd.name, key)
            if done_on:
                LOG.info("%s/%s ran on %s meanwhile: skipping", service, cmd.name, done_on)
                self.book.remove(service, cmd.name, key)
                return False
            self._execute(cmd, key)
            return True
        finally:
            try:
                lock.release()
            except KazooException:
                LOG.warning("Could not release lock of %s/%s; it goes with the session",
                            service, cmd.name)

    def _execute(self, cmd: Command, key: str) -> None:
        service = self.defn.service
        self.book.write(service, cmd.name, key, status.RUNNING)
        try:
            code, note = process.run_to_end(cmd, self.defn.user_for(cmd), self.task_env,
                                            self.cwd, self.children)
        except errors.KollaMesosError as exc:
            self.book.write(service, cmd.name, key, status.FAILED, message=str(exc))
            raise
        if code == 0:
            self.book.write(service, cmd.name, key, status.DONE, exit_code=0)
            LOG.info("%s/%s done", service, cmd.name)
            return
        message = f"{service}/{cmd.name} on host {self.host} {note}."
        self.book.write(service, cmd.name, key, status.FAILED, exit_code=code, message=message)
        raise CommandFailed(message, code)
