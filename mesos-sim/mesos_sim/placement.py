"""Pure task placement: Marathon's constraint operators and Mesos resources over fake agents.

:func:`place` looks at every agent as Marathon looks at an offer and picks the first agent (in
agent order) that satisfies every constraint and has enough cpus, mem, disk and ports.  When none
fits it returns :class:`NoPlacement` with, per agent, the reasons Marathon would record
(``UnfulfilledConstraint``, ``InsufficientCpus``, ...) and the ``rejectSummaryLastOffers``
funnel that ``/v2/queue`` shows in ``processedOffersSummary``.

Constraint semantics follow Marathon 1.10 (``mesosphere.mesos.Constraints``): the field is
``hostname``/``@hostname`` or an agent attribute; an agent without the attribute fails every
operator except ``UNLIKE``; ``LIKE``/``UNLIKE`` are full regex matches; ``GROUP_BY`` spreads
evenly over at least ``value`` groups (default 1); ``MAX_PER`` allows ``value`` tasks per group;
``CLUSTER`` without a value sticks to the value of the tasks already placed; ``EQUALS``
(Chronos's name) is ``IS``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from mesos_sim.agents import Agent

#: Marathon's reason funnel (``NoOfferMatchReason.reasonFunnel``), in order.
REASON_FUNNEL = (
    "UnfulfilledRole", "UnfulfilledConstraint", "NoCorrespondingReservationFound",
    "AgentMaintenance", "InsufficientCpus", "InsufficientMemory", "InsufficientDisk",
    "InsufficientGpus", "InsufficientPorts", "DeclinedScarceResources",
)
OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS", "EQUALS")


@dataclass(frozen=True)
class PlacementRequest:
    """What one task needs.

    ``group``: the run spec the task belongs to (Marathon app id, Chronos job name); constraints
    are evaluated against the other active tasks of the same group.  ``ports``: one entry per
    requested host port, ``0`` = any free port of the agent's range, else exactly that port.
    ``constraints``: ``[[field, OPERATOR(, value)], ...]`` as in Marathon's app JSON.
    """

    group: str
    cpus: float = 1.0
    mem: float = 128.0
    disk: float = 0.0
    ports: tuple[int, ...] = ()
    constraints: tuple[tuple[str, ...], ...] = ()


@dataclass
class AgentUsage:
    """Resources of one agent held by its active tasks."""

    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0
    ports: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Placement:
    """A successful placement: the agent and the host ports chosen (same order as requested)."""

    agent: Agent
    ports: tuple[int, ...]


@dataclass(frozen=True)
class NoPlacement:
    """No agent fits: per-agent reasons and Marathon's ``rejectSummaryLastOffers`` funnel."""

    reasons: dict[str, list[str]]
    summary: list[dict[str, object]]

    @property
    def message(self) -> str:
        """One sentence naming each agent and why it was declined."""
        parts = [f"{agent}: {', '.join(why)}" for agent, why in self.reasons.items()]
        return "No agent can run the task (" + "; ".join(parts) + ")."


def field_value(agent: Agent, name: str) -> str | None:
    """The value of constraint field ``name`` on ``agent`` (``None`` if it has no such field)."""
    if name in ("hostname", "@hostname"):
        return agent.hostname
    if name.startswith("@") and name not in agent.attributes:
        return agent.attributes.get(name[1:])
    return agent.attributes.get(name)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def constraint_ok(agent: Agent, constraint: Sequence[str], placed: Sequence[Agent]) -> bool:
    """Does ``agent`` satisfy one constraint, given the agents of the group's placed tasks?"""
    name, operator = constraint[0], constraint[1].upper()
    wanted = constraint[2] if len(constraint) > 2 else None
    value = field_value(agent, name)
    if operator == "UNLIKE":
        return value is None or wanted is None or re.fullmatch(wanted, value) is None
    if value is None:
        return False
    placed_values = [field_value(other, name) for other in placed]
    if operator == "UNIQUE":
        return value not in placed_values
    if operator == "CLUSTER":
        if wanted:
            return value == wanted
        return all(other == value for other in placed_values)
    if operator in ("IS", "EQUALS"):
        return value == wanted
    if operator == "LIKE":
        return wanted is not None and re.fullmatch(wanted, value) is not None
    counts = Counter(placed_values)
    if operator == "MAX_PER":
        return counts.get(value, 0) < _int(wanted, 1)
    if operator == "GROUP_BY":
        if value not in counts:
            return True
        return len(counts) >= _int(wanted, 1) and counts[value] == min(counts.values())
    return False


def _free_ports(agent: Agent, used: set[int], wanted: Sequence[int],
                busy: Callable[[Agent, int], bool] | None) -> tuple[int, ...] | None:
    chosen: list[int] = []
    taken = set(used)
    fixed = [p for p in wanted if p]
    for port in fixed:
        if port in taken or not agent.has_port(port) or (busy is not None and busy(agent, port)):
            return None
        taken.add(port)
    candidates = (p for begin, end in agent.ports for p in range(begin, end + 1))
    for port in wanted:
        if port:
            chosen.append(port)
            continue
        for candidate in candidates:
            if candidate not in taken and not (busy is not None and busy(agent, candidate)):
                taken.add(candidate)
                chosen.append(candidate)
                break
        else:
            return None
    return tuple(chosen)


def agent_reasons(agent: Agent, usage: AgentUsage, request: PlacementRequest,
                  placed: Sequence[Agent]) -> list[str]:
    """The reasons ``agent`` cannot take the task, in funnel order (empty = it fits)."""
    reasons: list[str] = []
    if not all(constraint_ok(agent, c, placed) for c in request.constraints):
        reasons.append("UnfulfilledConstraint")
    epsilon = 1e-9
    if usage.cpus + request.cpus > agent.cpus + epsilon:
        reasons.append("InsufficientCpus")
    if usage.mem + request.mem > agent.mem + epsilon:
        reasons.append("InsufficientMemory")
    if usage.disk + request.disk > agent.disk + epsilon:
        reasons.append("InsufficientDisk")
    if request.ports and _free_ports(agent, usage.ports, request.ports, None) is None:
        reasons.append("InsufficientPorts")
    return reasons


def reject_summary(reasons: Sequence[Sequence[str]]) -> list[dict[str, object]]:
    """Marathon's funnel: per reason, offers still in play (``processed``) and ``declined``."""
    remaining = [set(r) for r in reasons]
    summary: list[dict[str, object]] = []
    for reason in REASON_FUNNEL:
        declined = [r for r in remaining if reason in r]
        summary.append({"reason": reason, "declined": len(declined),
                        "processed": len(remaining)})
        remaining = [r for r in remaining if reason not in r]
    return summary


def place(agents: Sequence[Agent], usage: Mapping[str, AgentUsage], request: PlacementRequest,
          placed: Sequence[Agent],
          busy_port: Callable[[Agent, int], bool] | None = None) -> Placement | NoPlacement:
    """Pick the first agent that fits ``request`` (see module doc).

    ``usage`` maps agent id to what its active tasks hold; ``placed`` lists the agent of each
    active task of ``request.group``; ``busy_port(agent, port)`` may veto ports that something
    outside the simulator already uses (the only impure input; ``None`` = no such check).
    """
    per_agent: dict[str, list[str]] = {}
    for agent in agents:
        held = usage.get(agent.id, AgentUsage())
        reasons = agent_reasons(agent, held, request, placed)
        if not reasons:
            ports = _free_ports(agent, held.ports, request.ports, busy_port)
            if ports is not None:
                return Placement(agent, ports)
            reasons = ["InsufficientPorts"]
        per_agent[agent.hostname] = reasons
    return NoPlacement(per_agent, reject_summary(list(per_agent.values())))
