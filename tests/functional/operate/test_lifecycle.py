"""``kolla-mesos stop`` and ``destroy`` through the real CLI (two-agent simulator, real
ZooKeeper); destroy with two deployments on one cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient
from mesos_sim.simulator import Simulator

from kolla_mesos.clients.chronos import ChronosClient
from kolla_mesos.clients.marathon import MarathonClient
from kolla_mesos.plan.payloads import LABEL_CONFIG_HASH
from tests.functional.operate.helpers import two_agent_env, two_agent_simulator

pytestmark = pytest.mark.timeout(400)
CONFIRM = "--yes-i-really-really-mean-it"


@pytest.fixture
def sim2(tmp_path: Path) -> Iterator[Simulator]:
    sim = two_agent_simulator(tmp_path / "sim")
    try:
        yield sim
    finally:
        sim.stop()


def _apps(sim: Simulator, deployment: str) -> dict[str, dict[str, Any]]:
    marathon = MarathonClient(sim.marathon_url)
    try:
        return {a["id"]: a for a in marathon.list_apps(
            f"/kolla/{deployment}", embed=("apps.tasks", "apps.counts"))}
    finally:
        marathon.close()


def _jobs(sim: Simulator, deployment: str) -> dict[str, dict[str, Any]]:
    chronos = ChronosClient(sim.chronos_url)
    try:
        return {j["name"]: j for j in chronos.list_jobs()
                if j["description"].startswith(f"kolla-mesos:{deployment}:")}
    finally:
        chronos.close()


def _one_sentence(proc: Any, code: int, words: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], proc.stderr


def _tree(zk: KazooClient, path: str) -> dict[str, bytes]:
    out = {path: zk.get(path)[0]}
    for child in zk.get_children(path):
        out.update(_tree(zk, f"{path}/{child}"))
    return out


def test_stop_then_deploy_brings_everything_back_unchanged(
        tmp_path: Path, zk_server: Any, zk_root: str, sim2: Simulator,
        zk_admin: KazooClient) -> None:
    env = two_agent_env(tmp_path, "d", zk_server.hosts, zk_root, sim2)
    env.run("deploy", check=True)
    before = _apps(sim2, "t1")
    current = zk_admin.get(f"{zk_root}/t1/current")[0]
    generations = zk_admin.get_children(f"{zk_root}/t1/generations")

    _one_sentence(env.run("stop", "--service", "nosuch"), 3,
                  "--service nosuch is not a service of deployment 't1'")
    rows = env.json("stop", "--service", "web")
    assert rows == [{"service": "web", "kind": "app", "name": "/kolla/t1/testing/web",
                     "action": "scaled 1 -> 0"}]
    apps = _apps(sim2, "t1")
    assert apps["/kolla/t1/testing/web"]["instances"] == 0
    assert apps["/kolla/t1/testing/web"]["tasksRunning"] == 0
    assert apps["/kolla/t1/testing/store"]["tasksRunning"] == 2

    env.run("stop", check=True)
    apps = _apps(sim2, "t1")
    assert {a: (app["instances"], app["tasksRunning"]) for a, app in apps.items()} == {
        "/kolla/t1/testing/store": (0, 0), "/kolla/t1/testing/web": (0, 0)}
    jobs = _jobs(sim2, "t1")
    assert jobs and all(j["disabled"] for j in jobs.values()), jobs
    # nothing of ZooKeeper changed: the same generation is current
    assert zk_admin.get(f"{zk_root}/t1/current")[0] == current
    assert zk_admin.get_children(f"{zk_root}/t1/generations") == generations
    status = {r["service"]: r for r in env.json("status")}
    assert status["store"]["running"] == 0 and status["web"]["running"] == 0

    deploy = env.run("deploy", check=True)
    assert "published generation" not in deploy.stderr, deploy.stderr
    after = _apps(sim2, "t1")
    assert {a: app["labels"][LABEL_CONFIG_HASH] for a, app in after.items()} == {
        a: app["labels"][LABEL_CONFIG_HASH] for a, app in before.items()}
    assert {a: (app["instances"], app["tasksHealthy"]) for a, app in after.items()} == {
        "/kolla/t1/testing/store": (2, 2), "/kolla/t1/testing/web": (1, 1)}
    assert zk_admin.get(f"{zk_root}/t1/current")[0] == current


def test_destroy_removes_one_of_two_deployments(
        tmp_path: Path, zk_server: Any, zk_root: str, sim2: Simulator,
        zk_admin: KazooClient) -> None:
    one = two_agent_env(tmp_path, "one", zk_server.hosts, zk_root, sim2, "t1",
                        store_hosts=("agent1",))
    two = two_agent_env(tmp_path, "two", zk_server.hosts, zk_root, sim2, "t2",
                        store_hosts=("agent1",))
    one.run("deploy", check=True)
    two.run("deploy", check=True)
    volumes = sim2.state_dir / "volumes" / "agent1"
    for name in ("t1_data", "t2_data", "shared_cache"):
        (volumes / name / "sub").mkdir(parents=True, exist_ok=True)
        (volumes / name / "sub" / "file").write_text(name)
    two_apps = _apps(sim2, "t2")
    two_tasks = {a: sorted(t["id"] for t in app["tasks"]) for a, app in two_apps.items()}
    two_jobs = _jobs(sim2, "t2")
    two_generations = _tree(zk_admin, f"{zk_root}/t2/generations")

    # without the flag: lists, refuses (exit 2), removes nothing
    refused = one.run("destroy", "--include-volumes", "-f", "value")
    assert refused.returncode == 2, refused.stderr
    assert "/kolla/t1/testing/store would remove" in refused.stdout
    assert "agent1:t1_data would remove" in refused.stdout
    assert "agent1:shared_cache kept: also used by t2" in refused.stdout
    assert "Refusing to destroy deployment 't1' without --yes-i-really-really-mean-it" \
        in refused.stderr
    assert _apps(sim2, "t1") and zk_admin.exists(f"{zk_root}/t1")

    proc = one.run("destroy", CONFIRM, "--include-volumes", "-f", "json", check=True)
    assert "removed" in proc.stdout
    assert _apps(sim2, "t1") == {}
    assert _jobs(sim2, "t1") == {}, "every job of t1 (and the volume jobs) is gone"
    assert zk_admin.exists(f"{zk_root}/t1") is None
    assert list((volumes / "t1_data").iterdir()) == []
    assert (volumes / "t2_data" / "sub" / "file").read_text() == "t2_data"
    assert (volumes / "shared_cache" / "sub" / "file").read_text() == "shared_cache"

    # the other deployment: same tasks (none restarted), jobs and ZooKeeper subtree
    after = _apps(sim2, "t2")
    assert {a: sorted(t["id"] for t in app["tasks"]) for a, app in after.items()} == \
        two_tasks
    assert all(app["tasksHealthy"] == app["instances"] for app in after.values())
    assert set(_jobs(sim2, "t2")) == set(two_jobs)
    assert _tree(zk_admin, f"{zk_root}/t2/generations") == two_generations
    assert {r["service"] for r in two.json("status")} == {"store", "web", "migrate"}

    _one_sentence(one.run("destroy", CONFIRM), 3,
                  f"Deployment 't1' does not exist: no ZooKeeper node {zk_root}/t1")
    assert zk_admin.exists(f"{zk_root}/t1") is None, "a refused destroy creates nothing"
    # and it can be created again, beside the other one
    one.run("deploy", check=True)
    assert {a: app["tasksHealthy"] for a, app in _apps(sim2, "t1").items()} == {
        "/kolla/t1/testing/store": 1, "/kolla/t1/testing/web": 1}
