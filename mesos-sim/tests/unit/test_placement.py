"""Pure placement: Marathon constraint operators, resources, ports and the reject funnel."""

from __future__ import annotations

import pytest

from mesos_sim.agents import build_agents, parse_port_ranges
from mesos_sim.errors import ConfigError
from mesos_sim.placement import (
    AgentUsage,
    NoPlacement,
    Placement,
    PlacementRequest,
    place,
    reject_summary,
)

AGENTS = build_agents([
    {"hostname": "a1", "attributes": {"rack": "r1", "role": "control"}, "cpus": 2, "mem": 1024,
     "ports": "[31000-31001]"},
    {"hostname": "a2", "attributes": {"rack": "r1", "role": "compute"}, "cpus": 2, "mem": 1024},
    {"hostname": "a3", "attributes": {"rack": "r2"}, "cpus": 2, "mem": 1024},
], "M")
A1, A2, A3 = AGENTS


def hosts(constraints, placed=(), **kw):
    """Every agent that could take one more task, trying each in turn."""
    req = PlacementRequest("/app", cpus=0.1, mem=16,
                           constraints=tuple(tuple(c) for c in constraints), **kw)
    ok = []
    for agent in AGENTS:
        result = place([agent], {}, req, list(placed))
        if isinstance(result, Placement):
            ok.append(result.agent.hostname)
    return ok


def test_agents_defaults_and_ids() -> None:
    assert [a.address for a in AGENTS] == ["127.0.1.1", "127.0.1.2", "127.0.1.3"]
    assert [a.id for a in AGENTS] == ["M-S0", "M-S1", "M-S2"]
    assert A2.ports == ((31000, 32000),)
    assert parse_port_ranges("[1-2, 5-9]", "x") == ((1, 2), (5, 9))
    assert A1.port_ranges_text() == "[31000-31001]"


@pytest.mark.parametrize("entries, fragment", [
    ([], "empty"),
    ([{"address": "10.0.0.1"}], "loopback"),
    ([{"hostname": "x"}, {"hostname": "x"}], "used twice"),
    ([{"cpus": "many"}], "'cpus'"),
    ([{"colour": "red"}], "unknown key"),
    ([{"ports": "[5-1]"}], "ports range"),
])
def test_agent_validation_names_the_problem(entries, fragment) -> None:
    with pytest.raises(ConfigError, match=fragment):
        build_agents(entries, "M", "agents.yml")


def test_unique_and_cluster() -> None:
    assert hosts([["hostname", "UNIQUE"]], placed=[A1]) == ["a2", "a3"]
    assert hosts([["rack", "UNIQUE"]], placed=[A1]) == ["a3"]
    assert hosts([["rack", "CLUSTER", "r2"]]) == ["a3"]
    assert hosts([["rack", "CLUSTER"]], placed=[A2]) == ["a1", "a2"]
    assert hosts([["rack", "CLUSTER"]]) == ["a1", "a2", "a3"]


def test_like_unlike_is_and_missing_attribute() -> None:
    assert hosts([["role", "LIKE", "cont.*"]]) == ["a1"]
    assert hosts([["role", "LIKE", "cont"]]) == []  # full match only
    assert hosts([["role", "UNLIKE", "control"]]) == ["a2", "a3"]  # a3 lacks the attribute
    assert hosts([["role", "IS", "compute"]]) == ["a2"]
    assert hosts([["@hostname", "IS", "a3"]]) == ["a3"]
    assert hosts([["role", "EQUALS", "control"]]) == ["a1"]


def test_group_by_and_max_per() -> None:
    assert hosts([["rack", "GROUP_BY", "2"]], placed=[A1]) == ["a3"]
    assert hosts([["rack", "GROUP_BY", "2"]], placed=[A1, A3]) == ["a1", "a2", "a3"]
    assert hosts([["rack", "GROUP_BY", "2"]], placed=[A1, A2, A3]) == ["a3"]
    assert hosts([["rack", "GROUP_BY", "3"]], placed=[A1, A3]) == []  # fewer groups than asked
    assert hosts([["rack", "GROUP_BY"]], placed=[A1, A3, A3]) == ["a1", "a2"]
    assert hosts([["rack", "MAX_PER", "2"]], placed=[A1]) == ["a1", "a2", "a3"]
    assert hosts([["rack", "MAX_PER", "2"]], placed=[A1, A2]) == ["a3"]


def test_resources_ports_and_first_fit() -> None:
    usage = {A1.id: AgentUsage(cpus=1.5, ports={31000})}
    req = PlacementRequest("/x", cpus=0.5, mem=512, ports=(0,))
    got = place(AGENTS, usage, req, [])
    assert isinstance(got, Placement) and got.agent is A1 and got.ports == (31001,)
    req = PlacementRequest("/x", cpus=0.6, mem=512, ports=(0,))
    assert place(AGENTS, usage, req, []).agent is A2
    fixed = PlacementRequest("/x", cpus=0.1, mem=1, ports=(31000, 0))
    got = place(AGENTS, usage, fixed, [])
    assert got.agent is A2 and got.ports == (31000, 31001)
    vetoed = place(AGENTS, {}, fixed, [], busy_port=lambda agent, port: agent is A1)
    assert vetoed.agent is A2


def test_no_placement_reasons_and_funnel() -> None:
    req = PlacementRequest("/x", cpus=3, mem=16, constraints=(("rack", "IS", "r1"),))
    got = place(AGENTS, {}, req, [])
    assert isinstance(got, NoPlacement)
    assert got.reasons == {"a1": ["InsufficientCpus"], "a2": ["InsufficientCpus"],
                           "a3": ["UnfulfilledConstraint", "InsufficientCpus"]}
    summary = {s["reason"]: (s["declined"], s["processed"]) for s in got.summary}
    assert summary["UnfulfilledConstraint"] == (1, 3)
    assert summary["InsufficientCpus"] == (2, 2)
    assert summary["InsufficientMemory"] == (0, 0)
    assert [s["reason"] for s in got.summary][:2] == ["UnfulfilledRole", "UnfulfilledConstraint"]
    assert "a3: UnfulfilledConstraint" in got.message
    assert reject_summary([])[0] == {"reason": "UnfulfilledRole", "declined": 0, "processed": 0}
