"""Wait for dependencies with ZooKeeper watches, bounded by a deadline.

A command dependency is met when its status for the dependency's inputs hash (from the
runner's generation) is ``done`` on any host (``global``, and always for ``run_once``
commands, which run on one host only) or on this host (``local``); a ``failed`` record fails
the waiter at once.  A daemon dependency is met by a child of ``members/<service>`` (global)
or ``members/<service>/<this host>`` (local).  Every evaluation re-registers one-shot watches
on the nodes it read; any watch firing, or any connection-state change, wakes the waiter.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from kazoo.exceptions import NoNodeError

from kolla_mesos import errors, zkpaths
from kolla_mesos.definition import DAEMON, Dependency
from kolla_mesos.runner import status
from kolla_mesos.runner.session import Session
from kolla_mesos.runner.store import GenerationReader

MET = "met"
PENDING = "pending"
FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class Target:
    """A resolved dependency: what to watch."""

    dep: Dependency
    path: str
    daemon: bool
    run_once: bool = False


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Outcome of one evaluation."""

    state: str
    host: str = ""
    detail: str = ""


def evaluate_records(records: dict[str, dict[str, Any]], scope: str, host: str,
                     run_once: bool) -> Verdict:
    """Pure: the verdict on a command dependency from its status records."""
    if scope == "local" and not run_once:
        records = {h: r for h, r in records.items() if h == host}
    for rec_host, record in sorted(records.items()):
        if record.get("state") == status.DONE:
            return Verdict(MET, rec_host)
    for rec_host, record in sorted(records.items()):
        if record.get("state") == status.FAILED:
            code = record.get("exit_code")
            detail = f"exit code {code}" if code is not None else "no exit code"
            if record.get("message"):
                detail += f": {record['message']}"
            return Verdict(FAILED, rec_host, detail)
    states = sorted({str(r.get("state")) for r in records.values()})
    return Verdict(PENDING, detail=", ".join(states) or "no status yet")


def evaluate_members(children: list[str], scope: str, host: str) -> Verdict:
    """Pure: the verdict on a daemon dependency from the member node names."""
    if scope == "local":
        return Verdict(MET, host) if host in children else Verdict(PENDING, detail="not running")
    if children:
        return Verdict(MET, sorted(children)[0])
    return Verdict(PENDING, detail="no member")


class DependencyWaiter:
    """Resolves and waits for the dependencies of one service's commands."""

    def __init__(self, session: Session, reader: GenerationReader, host: str) -> None:
        self.session = session
        self.reader = reader
        self.host = host

    def resolve(self, dep: Dependency, waiter: str) -> Target:
        """Where ``dep`` is recorded; a DefinitionError when it is not in the generation."""
        ident = self.session.identity
        summary = self.reader.summary(dep.service)
        if summary is None:
            raise errors.DefinitionError([
                f"Dependency {dep.path} of {waiter} does not exist: generation "
                f"{self.reader.number} has no service {dep.service!r}."])
        if dep.command == DAEMON:
            if not summary.daemon:
                raise errors.DefinitionError([
                    f"Dependency {dep.path} of {waiter} does not exist: service "
                    f"{dep.service!r} has no daemon in generation {self.reader.number}."])
            path = zkpaths.members(ident.zk_root, ident.deployment, dep.service)
            return Target(dep, path, daemon=True)
        if dep.command not in summary.commands:
            raise errors.DefinitionError([
                f"Dependency {dep.path} of {waiter} does not exist: service {dep.service!r} "
                f"has no command {dep.command!r} in generation {self.reader.number}."])
        inputs_hash, run_once = summary.commands[dep.command]
        key = status.key_for(inputs_hash, self.reader.number)
        path = zkpaths.status(ident.zk_root, ident.deployment, dep.service, dep.command, key)
        return Target(dep, path, daemon=False, run_once=run_once)

    def _check(self, target: Target, watch: Any) -> Verdict:
        client = self.session.client
        scope = target.dep.scope
        try:
            if target.daemon and scope == "local":
                stat = self.session.call(client.exists, zkpaths.join(target.path, self.host),
                                         watch=watch)
                return evaluate_members([self.host] if stat else [], scope, self.host)
            children = self.session.call(client.get_children, target.path, watch=watch)
        except NoNodeError:
            # exists() with a watch fires when the parent appears; re-check if it just did.
            if self.session.call(client.exists, target.path, watch=watch) is not None:
                return self._check(target, watch)
            return Verdict(PENDING, detail="no status yet")
        if target.daemon:
            return evaluate_members(list(children), scope, self.host)
        if scope == "local" and not target.run_once:
            children = [c for c in children if c == self.host]
        records = {}
        for child in sorted(children):
            record = status.parse_record(
                self.session.get_json(zkpaths.join(target.path, child), watch=watch))
            if record is not None:
                records[child] = record
                if record["state"] == status.DONE:
                    break
        return evaluate_records(records, scope, self.host, target.run_once)

    def wait(self, deps: tuple[Dependency, ...], waiter: str, timeout: float) -> None:
        """Block until every dependency is met; raise at the first failure or the deadline."""
        if not deps:
            return
        targets = [self.resolve(dep, waiter) for dep in deps]
        deadline = time.monotonic() + timeout
        event = threading.Event()

        def wake(_event: Any = None) -> None:
            event.set()

        self.session.add_waker(event)
        try:
            pending = targets
            last: dict[str, Verdict] = {}
            while True:
                event.clear()
                still = []
                for target in pending:
                    verdict = self._check(target, wake)
                    if verdict.state == FAILED:
                        raise errors.DependencyFailed(
                            f"Dependency {target.dep.path} of {waiter} failed on host "
                            f"{verdict.host} ({verdict.detail}); {waiter} on host {self.host} "
                            "cannot run.")
                    if verdict.state == PENDING:
                        still.append(target)
                        last[target.dep.path] = verdict
                pending = still
                if not pending:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not event.wait(remaining):
                    names = ", ".join(f"{t.dep.path} ({t.dep.scope}: "
                                      f"{last[t.dep.path].detail})" for t in pending)
                    raise errors.DeadlineExceeded(
                        f"{waiter} on host {self.host} waited {timeout:g} s for dependency "
                        f"{names} and gave up (dependency_timeout).")
        finally:
            self.session.remove_waker(event)
