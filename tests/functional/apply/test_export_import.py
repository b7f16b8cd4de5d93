"""``deployment export`` / ``deployment import``: a ZooKeeper lost and replaced by an empty one
at the same address, with the test profile's apps running through it (real ZooKeeper, the
simulator over HTTP, the real CLI and runners)."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kazoo.exceptions import NoAuthError

from kolla_mesos import zkpaths
from kolla_mesos.secrets import secret_values
from kolla_mesos.testing.waiting import wait_for
from kolla_mesos.testing.zookeeper import ZookeeperServer
from tests.functional.deploy_helpers import DeployEnv, make_env

pytestmark = pytest.mark.timeout(600)


def _writes(stderr: str) -> tuple[int, int]:
    match = re.search(r"(\d+) ZooKeeper writes, (\d+) API writes", stderr)
    assert match, stderr
    return int(match.group(1)), int(match.group(2))


@pytest.fixture
def own_zk() -> Iterator[ZookeeperServer]:
    """A ZooKeeper of this test's own, that it can lose and replace at the same address."""
    server = ZookeeperServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def env(tmp_path: Path, own_zk: ZookeeperServer, zk_root: str, sim: Any) -> DeployEnv:
    return make_env(tmp_path, own_zk.hosts, zk_root, sim.urls(), sim_state=sim.state_dir)


def _replace(server: ZookeeperServer) -> None:
    """Lose the ZooKeeper (its directory with every snapshot and log is removed) and start a
    new, empty one at the same address."""
    server.stop()
    assert not server.base_dir.exists()
    server.start()


def _healthy(env: DeployEnv) -> dict[str, dict[str, Any]]:
    return {row["service"]: row for row in env.json("status")}


def _tree(server: ZookeeperServer, base: str) -> dict[str, tuple[bytes, list[object]]]:
    """Every node under BASE with its data and ACL (as the super user)."""
    client = server.admin_client()
    try:
        out = {}
        todo = [base]
        while todo:
            path = todo.pop()
            data, _ = client.get(path)
            acl, _ = client.get_acls(path)
            out[path] = (data, sorted(str(a) for a in acl))
            todo.extend(f"{path}/{child}" for child in client.get_children(path))
        return out
    finally:
        client.stop()
        client.close()


def test_export_then_import_into_a_new_empty_zookeeper(env: DeployEnv, own_zk: ZookeeperServer,
                                                        tmp_path: Path) -> None:
    first = env.run("deploy")
    assert first.returncode == 0, first.stderr + env.task_logs()
    deployment = zkpaths.deployment(env.zk_root, env.deployment_id)
    before = _tree(own_zk, deployment)
    passwords = yaml.safe_load((env.etc / "passwords.yml").read_text())
    values = [v for v in secret_values(passwords) if len(v) >= 8]
    assert values

    # the two exports: 0600; without --include-secrets no password is in the file
    plain, full = tmp_path / "plain.json", tmp_path / "full.json"
    out = env.run("deployment", "export", str(plain), check=True).stdout
    assert "current generation 1" in out and "without secrets" in out
    env.run("deployment", "export", str(full), "--include-secrets", check=True)
    for path in (plain, full):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = plain.read_text()
    for value in values:
        assert value not in text
    assert json.loads(full.read_text())["secrets"] is True

    # importing into the ZooKeeper that holds the deployment: refused, nothing changed
    again = env.run("deployment", "import", str(plain))
    assert again.returncode == 8, again.stderr
    assert [line for line in again.stderr.splitlines() if line.strip()] == [
        f"ZooKeeper already holds deployment '{env.deployment_id}' under {deployment}: import "
        "only restores a lost deployment; nothing was changed."]
    assert _tree(own_zk, deployment) == before

    # the ensemble is lost: a new, empty ZooKeeper at the same address
    _replace(own_zk)
    assert env.json("status") == [] or all(row["generation"] is None
                                           for row in env.json("status"))

    # bad inputs first: one sentence each, nothing written
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}')
    proc = env.run("deployment", "import", str(bad))
    assert proc.returncode == 3 and "is not a kolla-mesos export" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    other = json.loads(plain.read_text())
    other["deployment"] = "another"
    bad.write_text(json.dumps(other))
    proc = env.run("deployment", "import", str(bad))
    assert proc.returncode == 3 and "is an export of deployment 'another'" in proc.stderr
    # without secrets, the import re-renders: a changed password does not reproduce it
    changed = dict(passwords, store_password="not-the-exported-one")
    original = (env.etc / "passwords.yml").read_text()
    (env.etc / "passwords.yml").write_text(yaml.safe_dump(changed))
    proc = env.run("deployment", "import", str(plain))
    assert proc.returncode == 3, proc.stderr
    assert "does not reproduce generation 1" in proc.stderr and "store" in proc.stderr
    (env.etc / "passwords.yml").write_text(original)
    client = own_zk.admin_client()
    try:
        assert client.exists(deployment + "/current") is None
    finally:
        client.stop()
        client.close()

    # the import (re-rendered from passwords.yml): the same nodes, data and ACLs as before
    done = env.run("deployment", "import", str(plain), check=True)
    assert "current 1" in done.stdout, done.stdout
    after = _tree(own_zk, deployment)
    gen = zkpaths.generations(env.zk_root, env.deployment_id)
    for path, (data, acl) in before.items():
        if path.startswith(gen) or path.startswith(deployment + "/status"):
            assert after.get(path) == (data, acl), path
    anon = own_zk.client()
    try:
        with pytest.raises(NoAuthError):
            anon.get(zkpaths.current(env.zk_root, env.deployment_id))
    finally:
        anon.stop()
        anon.close()

    # a deploy right after writes nothing, and every app is healthy with its members back
    deploy = env.run("deploy")
    assert deploy.returncode == 0, deploy.stderr + env.task_logs()
    assert _writes(deploy.stderr) == (0, 0)
    wait_for(lambda: all(row["members"] == row["instances"]
                         for row in _healthy(env).values() if row["kind"] == "app"),
             timeout=180, what="runners registered again in the new ZooKeeper")
    for name in ("store", "web"):
        row = _healthy(env)[name]
        assert row["healthy"] == row["instances"] == 1, row
        assert row["generation"] == 1, row


def test_an_export_with_secrets_restores_every_generation(env: DeployEnv,
                                                           own_zk: ZookeeperServer,
                                                           tmp_path: Path) -> None:
    assert env.run("deploy").returncode == 0
    second = env.run("deploy", "-e", "web_workers=5")
    assert second.returncode == 0, second.stderr + env.task_logs()
    full = tmp_path / "full.json"
    env.run("deployment", "export", str(full), "--include-secrets", check=True)
    deployment = zkpaths.deployment(env.zk_root, env.deployment_id)
    before = _tree(own_zk, zkpaths.generations(env.zk_root, env.deployment_id))

    _replace(own_zk)
    # passwords.yml is not needed: the rendered files come from the export
    os.rename(env.etc / "passwords.yml", env.etc / "passwords.yml.away")
    done = env.run("deployment", "import", str(full), check=True)
    os.rename(env.etc / "passwords.yml.away", env.etc / "passwords.yml")
    assert "generation(s) 1, 2, current 2" in done.stdout, done.stdout
    assert _tree(own_zk, zkpaths.generations(env.zk_root, env.deployment_id)) == before
    assert env.json("deployment", "list")[0]["current generation"] == 2
    # a rollback to the imported older generation works like before the loss
    assert env.run("rollback", "--to", "1").returncode == 0
    client = own_zk.admin_client()
    try:
        assert client.get(deployment + "/current")[0] == b"1"
    finally:
        client.stop()
        client.close()
