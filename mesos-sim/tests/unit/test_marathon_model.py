"""Pure parts of the simulated Marathon: ids, normalisation, plans, rolling-restart rounds,
validation paths."""

from __future__ import annotations

from typing import Any

import pytest

from mesos_sim.marathon.model import (
    GroupMeta,
    Root,
    app_json,
    canonical_path,
    dependency_depths,
    dependency_edges,
    find_cycle,
    is_upgrade,
    normalize_app,
    timestamp,
)
from mesos_sim.marathon.plan import compute_steps
from mesos_sim.marathon.tasks import HealthResult, TaskRecord, restart_decision
from mesos_sim.marathon.validate import app_semantic_errors, app_type_errors


@pytest.mark.parametrize(("raw", "base", "expected"), [
    ("a", "/", "/a"), ("/a/b/", "/x", "/a/b"), ("b", "/g", "/g/b"), ("../c", "/g/h", "/g/c"),
    ("./d", "/g", "/g/d"), ("", "/", "/"),
])
def test_canonical_path(raw: str, base: str, expected: str) -> None:
    assert canonical_path(raw, base) == expected


def test_timestamp_has_milliseconds_and_z() -> None:
    assert timestamp(0.5) == "1970-01-01T00:00:00.500Z"


def app(app_id: str, **extra: Any) -> dict[str, Any]:
    normalized = normalize_app({"cmd": "sleep 1", **extra}, app_id)
    return {**normalized, "version": "v", "versionInfo": {"lastConfigChangeAt": "v"}}


def root(*apps: dict[str, Any], groups: dict[str, GroupMeta] | None = None) -> Root:
    tree = Root()
    for item in apps:
        tree.put_app(item)
    for gid, meta in (groups or {}).items():
        tree.put_group(gid, meta)
    return tree


def names(steps: list[Any]) -> list[list[tuple[str, str]]]:
    return [[(a.action, a.app) for a in step] for step in steps]


def test_normalize_fills_defaults_and_converts_legacy_fields() -> None:
    normalized = normalize_app({"cmd": "x", "ports": [0, 0], "uris": ["http://u"],
                                "dependencies": ["db", "/abs"]}, "/g/a")
    assert normalized["portDefinitions"] == [{"port": 0, "protocol": "tcp"}] * 2
    assert normalized["fetch"][0]["uri"] == "http://u" and "uris" not in normalized
    assert normalized["dependencies"] == ["/abs", "/g/db"]
    assert normalized["upgradeStrategy"] == {"minimumHealthCapacity": 1.0,
                                             "maximumOverCapacity": 1.0}
    bridge = normalize_app({"cmd": "x", "container": {"docker": {
        "image": "i", "network": "BRIDGE", "portMappings": [{"containerPort": 80}]}}}, "/b")
    assert bridge["networks"] == [{"mode": "container/bridge"}]
    assert bridge["container"]["portMappings"][0]["containerPort"] == 80
    assert "portDefinitions" not in bridge


def test_plan_steps_for_create_scale_restart_delete_and_noop() -> None:
    a, b = app("/a"), app("/b")
    assert names(compute_steps(Root(), root(a))) == [[("StartApplication", "/a")],
                                                     [("ScaleApplication", "/a")]]
    assert names(compute_steps(root(a), root({**a, "instances": 3}))) == [
        [("ScaleApplication", "/a")]]
    assert names(compute_steps(root(a), root({**a, "env": {"X": "1"}}))) == [
        [("RestartApplication", "/a")]]
    assert names(compute_steps(root(a, b), root(a))) == [[("StopApplication", "/b")]]
    assert compute_steps(root(a), root(a)) == []
    assert names(compute_steps(root(a), root(a), restarts=["/a"])) == [
        [("RestartApplication", "/a")]]


def test_dependency_layers_include_group_dependencies() -> None:
    db = app("/infra/db")
    api = app("/svc/api", dependencies=["/infra/db"])
    web = app("/front/web")
    tree = root(db, api, web, groups={"/front": GroupMeta(dependencies=("/svc",))})
    edges = dependency_edges(tree)
    assert edges["/front/web"] == {"/svc/api"}
    assert dependency_depths(edges) == {"/infra/db": 0, "/svc/api": 1, "/front/web": 2}
    assert names(compute_steps(Root(), tree))[1:] == [
        [("ScaleApplication", "/infra/db")], [("ScaleApplication", "/svc/api")],
        [("ScaleApplication", "/front/web")]]
    assert not find_cycle(edges)
    assert find_cycle({"/a": {"/b"}, "/b": {"/a"}})


def tasks(count: int, healthy: bool, version: str) -> list[TaskRecord]:
    result = []
    for i in range(count):
        task = TaskRecord(id=f"{version}{i}", instance_id=f"{version}{i}", app_id="/a",
                          version=version, config_version=version, staged_at=float(i),
                          state="TASK_RUNNING")
        task.health = [HealthResult(task.instance_id, alive=healthy, has_result=True)]
        result.append(task)
    return result


@pytest.mark.parametrize(("min_health", "over", "kill", "start"), [
    (1.0, 1.0, 0, 4), (0.5, 0.0, 2, 2), (1.0, 0.0, 0, 1), (0.0, 0.0, 4, 4),
])
def test_first_round_of_a_rolling_restart(min_health: float, over: float, kill: int,
                                          start: int) -> None:
    killed, started = restart_decision(tasks(4, True, "old"), [], 4, min_health, over, True)
    assert (len(killed), started) == (kill, start)


def test_rolling_restart_kills_one_old_per_healthy_new_task() -> None:
    old, new = tasks(4, True, "old"), tasks(1, True, "new")
    killed, started = restart_decision(old, new, 4, 1.0, 0.0, True)
    assert len(killed) == 1 and started == 1
    unhealthy_new = tasks(1, False, "new")
    killed, started = restart_decision(old, unhealthy_new, 4, 1.0, 0.0, True)
    assert killed == [] and started == 0


@pytest.mark.parametrize(("body", "path"), [
    ({"id": "/a", "env": {"A": 1}}, "/env/A"),
    ({"id": "/a", "container": {"docker": {}}}, "/container/docker/image"),
    ({"id": "/a", "portDefinitions": [{"port": 70000}]}, "/portDefinitions(0)/port"),
    ({"id": "/a", "fetch": [{}]}, "/fetch(0)/uri"),
])
def test_type_errors_carry_marathon_paths(body: dict[str, Any], path: str) -> None:
    assert [p for p, _ in app_type_errors(body)] == [path]


def test_semantic_errors() -> None:
    assert app_semantic_errors({"id": "/a", "cmd": "x"}) == []
    assert app_semantic_errors({"id": "/a/versions", "cmd": "x"})[0][0] == "/id"
    errors = app_semantic_errors({"id": "/a", "cmd": "x",
                                  "constraints": [["rack", "MAX_PER", "two"]]})
    assert errors == [("/constraints(0)", "Value was not an integer.")]


@pytest.mark.parametrize("body", [
    {"cmd": "x", "ports": [0], "uris": ["http://u"], "env": {"A": "1"}},
    {"args": ["a"], "container": {"type": "DOCKER", "docker": {
        "image": "i", "network": "BRIDGE", "portMappings": [{"containerPort": 80}]}}},
    {"cmd": "x", "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}},
                                  {"protocol": "TCP", "port": 80}],
     "unreachableStrategy": "disabled", "constraints": [["hostname", "UNIQUE"]]},
])
def test_normalising_the_served_json_again_changes_nothing(body: dict[str, Any]) -> None:
    first = normalize_app(body, "/g/a")
    again = normalize_app(app_json(first), "/g/a")
    assert again == first and not is_upgrade(first, again)
