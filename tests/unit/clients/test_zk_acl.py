"""Credentials files and ACL sets of the ZooKeeper store."""

from __future__ import annotations

import os
import secrets
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


def _creds(user: str) -> tuple[str, str]:
    return user, secrets.token_hex(8)


def test_acl_sets() -> None:
    dep, run = _creds("d"), {"h1": _creds("r")}
    read = {a.id.id.split(":")[0]: a.perms for a in zk_acl.read_acl(dep, run)}
    assert read == {"d": Permissions.ALL, "r": Permissions.READ}
    write = {a.id.id.split(":")[0]: a.perms for a in zk_acl.runner_write_acl(dep, run)}
    assert write["r"] == (Permissions.READ | Permissions.WRITE | Permissions.CREATE
                          | Permissions.DELETE)
    assert [a.id.id.split(":")[0] for a in zk_acl.deployer_only_acl(dep)] == ["d"]
    assert len(zk_acl.read_acl(dep, None)) == 1
    assert zk_acl.same_acl(zk_acl.read_acl(dep, run), list(reversed(zk_acl.read_acl(dep, run))))
    assert not zk_acl.same_acl(zk_acl.read_acl(dep, run), zk_acl.runner_write_acl(dep, run))


def test_service_acl_names_only_the_hosts_of_the_group() -> None:
    dep = _creds("d")
    runners = {"h1": _creds("runner-h1"), "h2": _creds("runner-h2"), "h3": _creds("runner-h3")}
    acl = {a.id.id.split(":")[0]: a.perms for a in zk_acl.service_acl(dep, runners, ["h1", "h3"])}
    assert acl == {"d": Permissions.ALL, "runner-h1": Permissions.READ,
                   "runner-h3": Permissions.READ}
    # every runner reads the shared nodes and writes status/locks/members
    assert len(zk_acl.read_acl(dep, runners)) == len(zk_acl.runner_write_acl(dep, runners)) == 4


def test_generate_and_read_runner_credentials(tmp_path: Path) -> None:
    folder = tmp_path / "runners"
    assert zk_acl.generate_runner_credentials(folder, ["b", "a"]) == ["a", "b"]
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    first = zk_acl.read_runner_credentials(folder)
    assert set(first) == {"a", "b"} and first["a"][0] == "runner-a"
    assert first["a"][1] != first["b"][1] and len(first["a"][1]) >= 32
    # existing identities are kept, like genpwd keeps passwords
    assert zk_acl.generate_runner_credentials(folder, ["a", "b", "c"]) == ["c"]
    assert zk_acl.read_runner_credentials(folder)["a"] == first["a"]
    assert zk_acl.missing_runner_hosts(first, ["a", "x", "b", "w"]) == ["w", "x"]
    for path in folder.iterdir():
        assert path.stat().st_mode & 0o077 == 0


def test_two_hosts_may_not_share_one_identity(tmp_path: Path) -> None:
    same = _creds("runner")
    zk_acl.write_credentials(tmp_path / "a.cred", same)
    zk_acl.write_credentials(tmp_path / "b.cred", same)
    with pytest.raises(errors.ConfigError, match="same user 'runner'"):
        zk_acl.read_runner_credentials(tmp_path)


def test_deployer_and_runner_accept_the_same_credentials_files(tmp_path: Path) -> None:
    """A host's runner credentials (read by the deployer from runner_credentials_dir) and its
    copy on the agent (read by the runner) must be accepted or refused alike."""
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


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_runner_refuses_an_open_credentials_file_like_the_deployer(tmp_path: Path,
                                                                   mode: int) -> None:
    from kolla_mesos.runner import identity

    path = tmp_path / "cred"
    zk_acl.write_credentials(path, _creds("runner"))
    os.chmod(path, mode)
    messages = []
    for read in (zk_acl.read_credentials, identity.read_credentials):
        with pytest.raises(errors.ConfigError) as info:
            read(str(path))
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert f"{path} is accessible by group or others" in messages[0]


def test_runner_credentials_path_may_name_the_host() -> None:
    from kolla_mesos.runner import identity

    env = {"KOLLA_DEPLOYMENT": "d", "KOLLA_PROJECT": "p", "KOLLA_SERVICE": "s",
           "KOLLA_ZK_HOSTS": "127.0.0.1:2181", "KOLLA_HOSTNAME": "agent7",
           "KOLLA_ZK_CREDENTIALS_FILE": "/etc/kolla-mesos/runners/{host}.cred"}
    assert identity.from_env(env).credentials_file == "/etc/kolla-mesos/runners/agent7.cred"
