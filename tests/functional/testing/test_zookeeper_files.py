"""The ZooKeeper that tests, tools/start-zookeeper and the quickstart start keeps its files
private and has no fixed super user (docs/zookeeper-layout.md, "ZooKeeper's own files")."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

import pytest
from kazoo.exceptions import NoAuthError
from kazoo.security import make_digest_acl

from kolla_mesos.testing.zookeeper import ZookeeperServer


def test_private_directory_random_super_user_kept_beside_the_data(tmp_path: Path) -> None:
    base = tmp_path / "zk"
    with ZookeeperServer(data_dir=str(base)) as server:
        client = server.admin_client()
        try:
            client.create("/probe", b"secret", acl=[make_digest_acl(
                "nobody", secrets.token_hex(8), all=True)])
            client.get("/probe")  # the super user reads whatever the ACL
            client.sync("/")
        finally:
            client.stop()
            client.close()
        anonymous = server.client()
        try:
            with pytest.raises(NoAuthError):
                anonymous.get("/probe")
        finally:
            anonymous.stop()
            anonymous.close()
        auth = server.super_auth
    entries = [base, *base.rglob("*")]
    assert any(p.name.startswith("log.") for p in entries), entries
    for path in entries:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert not mode & 0o077, f"{path} has mode {mode:04o}"
    assert (base / "super.cred").read_text().strip() == auth[1]
    # a restart in the same directory keeps the password; another directory gets another
    assert ZookeeperServer(data_dir=str(base)).super_auth == auth
    assert ZookeeperServer(data_dir=str(tmp_path / "other")).super_auth != auth
