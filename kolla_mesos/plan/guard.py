"""Refuse a plan that would put a secret where others can read it (pure).

DESIGN.md section 4: secrets never appear in Marathon or Chronos JSON (shown by their UIs and
APIs to anyone who can reach them) or on a command line (shown by ``ps`` to every user of
the agent).  A deployment file can still put one there, e.g. ``app: {env: {X: "{{
database_password }}"}}`` or ``command: [mysql, "-p{{ database_password }}"]``.  This check
finds every value of passwords.yml in the apps, the jobs and the argv of every command and
readiness probe, and names the service and field; it never prints the value.  Secrets reach a
task through its files (written by the runner, mode from the definition) or a command's
``env`` (stored in ZooKeeper under the deployment's ACL).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from kolla_mesos import errors
from kolla_mesos.plan.model import Plan, ServicePlan


def _leaves(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """(field path, text) of every string leaf (and mapping key) of a JSON value."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield where, str(key)
            yield from _leaves(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{where}[{index}]")


def _argvs(service: ServicePlan) -> Iterator[tuple[str, Any]]:
    """(field, argv) of every command and readiness probe of a service."""
    for cmd in service.definition.commands:
        yield f"service.commands.{cmd.name}.command", list(cmd.command)
    daemon = service.definition.daemon
    if daemon is not None:
        yield "service.daemon.command", list(daemon.command)
        if daemon.ready and "command" in daemon.ready:
            yield "service.daemon.ready.command", daemon.ready["command"]


def _places(service: ServicePlan) -> Iterator[tuple[str, Any]]:
    if service.app is not None:
        yield "app", dict(service.app)
    for job in service.jobs:
        yield f"jobs.{job.command}", dict(job.body)
    yield from _argvs(service)


def find_secrets(plan: Plan, values: Sequence[str]) -> list[str]:
    """One sentence per field of ``plan`` that carries a value of ``values``."""
    problems: list[str] = []
    for service in plan.services:
        source = f"deployment_files/{service.project}/{service.service}.yml.j2"
        for field, value in _places(service):
            for where, text in _leaves(value, field):
                if any(secret in text for secret in values):
                    problems.append(
                        f"{source}: {where} carries a value of passwords.yml or a line of a "
                        "private key under certificates/; a secret may "
                        "not appear in Marathon or Chronos JSON or on a command line "
                        "(write it into one of the service's files or a command's env).")
    return problems


def check_no_secrets(plan: Plan, values: Iterable[str]) -> None:
    """Raise :class:`~kolla_mesos.errors.DefinitionError` naming every leaking field."""
    problems = find_secrets(plan, sorted(set(values), key=len, reverse=True))
    if problems:
        raise errors.DefinitionError(problems)
