"""Credentials files and ACL sets of the ZooKeeper store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kazoo.security import Permissions

from kolla_mesos import errors
from kolla_mesos.clients import zk_acl


def test_read_credentials(tmp_path: Path) -> None:
    path = tmp_path / "cred"
    zk_acl.write_credentials(path, ("deployer", "pa:ss"))
    assert zk_acl.read_credentials(path) == ("deployer", "pa:ss")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644])
def test_read_credentials_refuses_open_file(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "cred"
    zk_acl.write_credentials(path, ("u", "p"))
    os.chmod(path, mode)
    with pytest.raises(errors.ConfigError, match=f"{path} is accessible by group or others"):
        zk_acl.read_credentials(path)


@pytest.mark.parametrize("text", ["", "nopassword\n", ":p\n", "u:\n", "a:b\nc:d\n"])
def test_read_credentials_bad_content(tmp_path: Path, text: str) -> None:
    path = tmp_path / "cred"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(errors.ConfigError, match=str(path)):
        zk_acl.read_credentials(path)


def test_read_credentials_missing(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigError, match="missing.cred"):
        zk_acl.read_credentials(tmp_path / "missing.cred")


def test_acl_sets() -> None:
    dep, run = ("d", "x"), ("r", "y")
    read = {a.id.id.split(":")[0]: a.perms for a in zk_acl.read_acl(dep, run)}
    assert read == {"d": Permissions.ALL, "r": Permissions.READ}
    write = {a.id.id.split(":")[0]: a.perms for a in zk_acl.runner_write_acl(dep, run)}
    assert write["r"] == (Permissions.READ | Permissions.WRITE | Permissions.CREATE
                          | Permissions.DELETE)
    assert [a.id.id.split(":")[0] for a in zk_acl.deployer_only_acl(dep)] == ["d"]
    assert len(zk_acl.read_acl(dep, None)) == 1
    assert zk_acl.same_acl(zk_acl.read_acl(dep, run), list(reversed(zk_acl.read_acl(dep, run))))
    assert not zk_acl.same_acl(zk_acl.read_acl(dep, run), zk_acl.runner_write_acl(dep, run))


def test_deployer_and_runner_accept_the_same_credentials_files(tmp_path: Path) -> None:
    """runner_credentials_file (read by the deployer) and its copy on the agents (read by
    the runner) must be accepted or refused alike."""
    from kolla_mesos.runner import identity

    path = tmp_path / "cred"
    for text in ("# runners\nrunner:pw\n", "runner:p:w", "\n u:p \n", "", "a:b\nc:d\n",
                 "u:\n", ":p\n", "nopassword\n"):
        path.write_text(text)
        path.chmod(0o600)
        results = []
        for read in (zk_acl.read_credentials, identity.read_credentials):
            try:
                results.append(read(str(path)))
            except errors.ConfigError as exc:
                assert "c:d" not in str(exc) and "pw" not in str(exc)
                results.append(None)
        assert results[0] == results[1], text
