"""Pure checks over the dependency graph of every service's commands.

Nodes are ``service/command`` (``service/daemon`` for a daemon).  Edges are the declared
dependencies plus the implicit ones the runner enforces: a daemon starts after its own
service's in-task (non-job) commands.
"""

from __future__ import annotations

from collections.abc import Mapping

from kolla_mesos import errors
from kolla_mesos.definition import DAEMON, Definition


def edges(definitions: Mapping[str, Definition]) -> dict[str, list[str]]:
    """Adjacency list: node -> the nodes it waits for."""
    out: dict[str, list[str]] = {}
    for name, definition in sorted(definitions.items()):
        for cmd in definition.commands:
            out[f"{name}/{cmd.name}"] = [d.path for d in cmd.dependencies]
        if definition.daemon is not None:
            out[f"{name}/{DAEMON}"] = [d.path for d in definition.daemon.dependencies] + [
                f"{name}/{c.name}" for c in definition.commands if not c.job
            ]
    return out


def missing(definitions: Mapping[str, Definition]) -> list[str]:
    """One sentence per dependency that points at nothing."""
    problems = []
    graph = edges(definitions)
    for node, targets in graph.items():
        for target in targets:
            if target in graph:
                continue
            service, _, command = target.partition("/")
            if service not in definitions:
                problems.append(
                    f"{node} depends on {target}, but service {service!r} is not in the profile."
                )
            elif command == DAEMON:
                problems.append(f"{node} depends on {target}, but {service!r} has no daemon.")
            else:
                problems.append(
                    f"{node} depends on {target}, but {service!r} has no command {command!r}."
                )
    return problems


def cycles(definitions: Mapping[str, Definition]) -> list[str]:
    """One sentence per dependency cycle (each cycle reported once)."""
    graph = edges(definitions)
    state: dict[str, int] = {}
    stack: list[str] = []
    found: list[str] = []
    seen_cycles: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in graph.get(node, []):
            if target not in graph:
                continue
            if state.get(target) == 1:
                cycle = stack[stack.index(target):] + [target]
                key = frozenset(cycle)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    found.append("Dependency cycle: " + " -> ".join(cycle) + ".")
            elif state.get(target) is None:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    return found


def check(definitions: Mapping[str, Definition]) -> None:
    """Raise DefinitionError listing every missing dependency and every cycle."""
    problems = missing(definitions) + cycles(definitions)
    if problems:
        raise errors.DefinitionError(problems)


def order(definitions: Mapping[str, Definition]) -> list[str]:
    """Services in dependency order (dependencies first, then by name); assumes no cycle."""
    deps: dict[str, set[str]] = {name: set() for name in definitions}
    for node, targets in edges(definitions).items():
        service = node.partition("/")[0]
        for target in targets:
            other = target.partition("/")[0]
            if other != service and other in deps:
                deps[service].add(other)
    done: list[str] = []
    while len(done) < len(deps):
        ready = sorted(n for n in deps if n not in done and deps[n] <= set(done))
        if not ready:  # a cycle slipped through: keep a stable order anyway
            ready = sorted(n for n in deps if n not in done)[:1]
        done.extend(ready)
    return done
