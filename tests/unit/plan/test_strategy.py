"""The upgradeStrategy rule (docs/upgrade.md): derived from the placement, overrides checked."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from kolla_mesos import errors
from kolla_mesos.plan import strategy
from kolla_mesos.plan.loader import load_plan
from kolla_mesos.plan.payloads import host_constraints
from tests.unit.plan.test_build import DATA, make_inputs

HOSTS = ("agent1", "agent2", "agent3")


def app(instances: int, hosts: tuple[str, ...] = HOSTS, **extra: object) -> dict[str, object]:
    return {"id": "/kolla/d/p/svc", "instances": instances,
            "constraints": host_constraints(hosts), **extra}


@pytest.mark.parametrize("n", range(1, 200))
def test_one_down_capacity_lets_exactly_one_instance_stop(n: int) -> None:
    capacity = strategy.one_down_capacity(n)
    assert 0 <= capacity < 1
    assert math.ceil(n * capacity) == n - 1


@pytest.mark.parametrize(("n", "expected"), [(1, 0.0), (2, 0.5), (4, 0.75)])
def test_pinned_one_per_host_stops_one_before_starting_its_replacement(n: int,
                                                                      expected: float) -> None:
    hosts = tuple(f"h{i}" for i in range(n))
    assert strategy.derived(app(n, hosts), hosts) == {"minimumHealthCapacity": expected,
                                                      "maximumOverCapacity": 0.0}


def test_three_pinned_instances_keep_two_healthy() -> None:
    derived = strategy.derived(app(3), HOSTS)
    assert math.ceil(3 * derived["minimumHealthCapacity"]) == 2
    assert derived["maximumOverCapacity"] == 0


def test_room_for_an_extra_instance_keeps_the_default() -> None:
    # two instances, three hosts the pin allows: Marathon may start the extra one
    assert strategy.derived(app(2), HOSTS) == strategy.DEFAULT
    # not unique per host: no pin limits the extra instance
    unpinned = {"id": "/a", "instances": 1, "constraints": [["hostname", "LIKE", "agent1"]]}
    assert strategy.derived(unpinned, HOSTS) == strategy.DEFAULT
    assert strategy.derived({"id": "/a", "instances": 1}, HOSTS) == strategy.DEFAULT


def test_a_narrower_pin_counts_only_the_hosts_it_matches() -> None:
    narrowed = app(1, constraints=[["hostname", "UNIQUE"], ["hostname", "LIKE", "agent[12]"],
                                   ["hostname", "CLUSTER", "agent2"]])
    assert strategy.placement(narrowed, HOSTS) is not None
    assert strategy.placement(narrowed, HOSTS).hosts == ("agent2",)  # type: ignore[union-attr]
    assert strategy.derived(narrowed, HOSTS)["minimumHealthCapacity"] == 0.0


def test_a_satisfiable_override_wins() -> None:
    got = strategy.for_app(app(3), HOSTS, "svc", {"minimumHealthCapacity": 0.34})
    assert got == {"minimumHealthCapacity": 0.34, "maximumOverCapacity": 0.0}
    got = strategy.for_app(app(2), HOSTS, "svc", {"minimumHealthCapacity": 1.0,
                                                  "maximumOverCapacity": 0.5})
    assert got["minimumHealthCapacity"] == 1.0  # a third host can take the extra instance


@pytest.mark.parametrize(("n", "override"), [
    (1, {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}),
    (3, {"minimumHealthCapacity": 0.7}),
    (3, {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0}),
])
def test_an_override_the_placement_cannot_satisfy_is_one_sentence(n: int,
                                                                  override: dict) -> None:
    hosts = HOSTS[:n]
    with pytest.raises(errors.UpgradeStrategyError) as info:
        strategy.for_app(app(n, hosts), hosts, "svc", override)
    message = str(info.value)
    assert message.count(". ") == 0 and message.endswith(".")
    assert "/kolla/d/p/svc" in message and "hostname UNIQUE" in message
    assert "hostname LIKE" in message
    assert info.value.exit_code == errors.ExitCode.CONFIG


def test_a_non_mapping_override_is_refused() -> None:
    with pytest.raises(errors.UpgradeStrategyError, match="must be a mapping"):
        strategy.for_app(app(1, HOSTS[:1]), HOSTS[:1], "svc", 0.5)


def test_the_test_profile_gets_the_derived_strategy(tmp_path: Path) -> None:
    plan = load_plan(make_inputs(tmp_path))
    for service in ("store", "web"):
        got = plan.service(service).app
        assert got is not None
        assert got["upgradeStrategy"] == {"minimumHealthCapacity": 0.0,
                                          "maximumOverCapacity": 0.0}


def test_plan_refuses_an_unsatisfiable_deployment_file_override(tmp_path: Path) -> None:
    base = tmp_path / "base"
    shutil.copytree(DATA / "testbase", base)
    store = base / "deployment_files/testing/store.yml.j2"
    store.write_text(store.read_text().replace(
        "app:\n", "app:\n  upgradeStrategy: {minimumHealthCapacity: 0.5}\n", 1))
    with pytest.raises(errors.UpgradeStrategyError, match=r"testing/store.*hostname UNIQUE"):
        load_plan(make_inputs(tmp_path, base=base))
