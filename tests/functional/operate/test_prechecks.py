"""``kolla-mesos prechecks`` through the real CLI: all ok, then a missing agent, a host
without the resources, a root with another ACL and a missing password, each named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kazoo.client import KazooClient
from kazoo.security import OPEN_ACL_UNSAFE
from mesos_sim.simulator import Simulator

from kolla_mesos.clients import zk_acl
from tests.functional.deploy_helpers import DEPLOYER, DeployEnv, write_private
from tests.functional.operate.helpers import set_topology, two_agent_env

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def small_agent2(tmp_path: Path) -> Iterator[Simulator]:
    agents = [{"hostname": "agent1", "address": "127.0.1.1"},
              {"hostname": "agent2", "address": "127.0.1.2", "cpus": 0.15, "mem": 100}]
    sim = Simulator(tmp_path / "sim", agents=agents)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def _report(env: DeployEnv) -> tuple[int, dict[str, tuple[str, str]], str]:
    proc = env.run("prechecks", "-f", "value", timeout=120)
    rows = {}
    for line in proc.stdout.splitlines():
        name, _, rest = line.partition(" ok ") if " ok " in line else line.partition(" failed ")
        rows[name] = ("ok" if " ok " in line else "failed", rest)
    return proc.returncode, rows, proc.stderr


def test_prechecks_pass_then_name_every_failure(tmp_path: Path, zk_server: Any, zk_root: str,
                                                small_agent2: Simulator,
                                                zk_admin: KazooClient) -> None:
    env = two_agent_env(tmp_path, "d", zk_server.hosts, zk_root, small_agent2,
                        store_hosts=("agent1",))
    code, rows, err = _report(env)
    assert code == 0, (rows, err)
    assert set(rows) == {"marathon", "chronos", "mesos", "zookeeper", "zookeeper root acl",
                         "passwords", "topology", "deployment files", "agent agent1",
                         "agent agent2", "resources agent1", "certificates"}, rows
    assert all(result == "ok" for result, _ in rows.values()), rows
    assert "TLS is off" in rows["certificates"][1]
    # the root as the first deploy creates it
    zk_admin.create(zk_root, b"", acl=zk_acl.root_acl(DEPLOYER))
    code, rows, err = _report(env)
    assert code == 0 and "the deployer has every right" in rows["zookeeper root acl"][1], err

    # a host that is no agent, a host too small for store, a root with another ACL
    (env.etc / "topology.yml").write_text(
        "hosts:\n  agent1: {addresses: {api: 127.0.1.1}}\n  agent2: {addresses: {api: 127.0.1.2}}"
        "\n  agent3: {addresses: {api: 127.0.1.3}}\ngroups:\n  store: [agent1, agent2]\n"
        "  web: [agent1, agent3]\n")
    zk_admin.set_acls(zk_root, OPEN_ACL_UNSAFE)
    code, rows, err = _report(env)
    failed = {name for name, (result, _) in rows.items() if result == "failed"}
    assert failed == {"agent agent3", "resources agent2", "zookeeper root acl"}, rows
    assert code == 3
    assert "not registered with the Mesos master" in rows["agent agent3"][1]
    assert "cpus needed, 0.15 offered" in rows["resources agent2"][1]
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("3 of 14 prechecks failed: "), err
    for name in failed:
        assert name in lines[0]

    # a password the templates use is missing
    set_topology(env, ("agent1",))
    passwords = yaml.safe_load((env.etc / "passwords.yml").read_text())
    del passwords["store_password"]
    write_private(env.etc / "passwords.yml", yaml.safe_dump(passwords or {"other": "x" * 20}))
    code, rows, err = _report(env)
    failed = {name for name, (result, _) in rows.items() if result == "failed"}
    assert failed == {"passwords", "deployment files", "zookeeper root acl"}, rows
    assert "has no store_password" in rows["passwords"][1]
