"""``kolla-mesos diagnose`` through the real CLI: every part, and no secret."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from mesos_sim.simulator import Simulator

from kolla_mesos.testing.waiting import wait_for
from tests.functional.operate.helpers import two_agent_env, two_agent_simulator

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def sim2(tmp_path: Path) -> Iterator[Simulator]:
    sim = two_agent_simulator(tmp_path / "sim")
    try:
        yield sim
    finally:
        sim.stop()


def test_diagnose_bundle_has_every_part_and_no_secret(tmp_path: Path, zk_server: Any,
                                                      zk_root: str, sim2: Simulator) -> None:
    env = two_agent_env(tmp_path, "d", zk_server.hosts, zk_root, sim2)
    env.run("deploy", check=True)
    password = yaml.safe_load((env.etc / "passwords.yml").read_text())["store_password"]
    # a password that reaches a task's log: web prints every request's path
    web = f"http://127.0.1.1:{env.web_port}"
    requests.get(f"{web}/{password}", timeout=5)
    proc_logs = wait_for(lambda: (p := env.run("logs", "web")).stdout.count("/") and
                         "********" in p.stdout and p, timeout=20, interval=0.5,
                         what="the request in web's log")
    assert password not in proc_logs.stdout, "logs masks passwords too"

    out = tmp_path / "bundle.tgz"
    proc = env.run("diagnose", "-o", str(out), check=True)
    assert str(out) in proc.stdout and "problems collecting: none" in proc.stdout, proc.stdout
    assert os.stat(out).st_mode & 0o777 == 0o600
    with tarfile.open(out) as tar:
        members = {m.name.split("/", 1)[1]: tar.extractfile(m).read().decode()  # type: ignore[union-attr]
                   for m in tar.getmembers() if m.isfile()}
    for part in ("versions.json", "status.txt", "status.json", "marathon/apps.json",
                 "marathon/deployments.json", "marathon/queue.json", "chronos/jobs.json",
                 "chronos/summary.json", "mesos/state-summary.json", "mesos/agents.json",
                 "zookeeper/manifest.json", "errors.txt"):
        assert part in members, (part, sorted(members))
    assert members["errors.txt"] == "none\n"
    assert '"mesos"' in members["versions.json"] and '"marathon"' in members["versions.json"]
    assert "store" in members["status.txt"] and "healthy" in members["status.txt"]
    store_conf = [n for n in members if n.endswith("services/testing/store/files/store.conf")]
    assert store_conf and "password = ********" in members[store_conf[0]]
    logs = {n: t for n, t in members.items() if n.startswith("logs/")}
    assert any(n.startswith("logs/store/agent2-") and "store listening" in t
               for n, t in logs.items()), sorted(logs)
    assert any(n.startswith("logs/migrate/migrate/") and "migrating schema" in t
               for n, t in logs.items()), sorted(logs)
    assert any(n.startswith("logs/web/") and "GET /********" in t for n, t in logs.items())
    # no value of passwords.yml, no credentials file content, no private key
    secrets = [password]
    for cred in [env.etc / "deployer.cred", *(env.etc / "runners").glob("*.cred")]:
        secrets.append(cred.read_text().strip().split(":", 1)[1])
    everything = "\n".join(members.values())
    for secret in secrets:
        assert secret not in everything
    assert "PRIVATE KEY" not in everything
