"""genpwd / mergepwd: random values, kept values, mode 0600, kolla-mergepwd semantics."""

from __future__ import annotations

import pathlib
import stat
import uuid

import pytest
import yaml

from kolla_mesos import passwords
from kolla_mesos.cli.passwords import run_genpwd
from kolla_mesos.errors import PasswordError

TEMPLATE = """
database_password:
rbd_secret_uuid:
keystone_ssh_key:
  private_key:
  public_key:
docker_registry_password:
osprofiler_secret:
barbican_crypto_key:
prometheus_bcrypt_salt:
"""


@pytest.fixture
def template(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "list.yml"
    path.write_text(TEMPLATE)
    return path


def test_genpwd_fills_keeps_and_protects(tmp_path: pathlib.Path, template: pathlib.Path) -> None:
    target = tmp_path / "etc" / "passwords.yml"
    target.parent.mkdir()
    target.write_text("database_password: keep-me\nextra_key: x\n")
    target.chmod(0o644)
    generated = passwords.genpwd(target, template, ssh_bits=1024)
    assert "database_password" not in generated and "rbd_secret_uuid" in generated
    data = yaml.safe_load(target.read_text())
    assert data["database_password"] == "keep-me" and data["extra_key"] == "x"
    assert data["docker_registry_password"] is None
    uuid.UUID(data["rbd_secret_uuid"])
    assert len(data["osprofiler_secret"]) == 32
    assert data["keystone_ssh_key"]["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert data["keystone_ssh_key"]["public_key"].startswith("ssh-rsa ")
    assert len(data["prometheus_bcrypt_salt"]) == 22
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    # a second run generates nothing and changes nothing
    before = target.read_text()
    assert passwords.genpwd(target, template, ssh_bits=1024) == []
    assert target.read_text() == before
    assert not [p for p in target.parent.iterdir() if p.name != "passwords.yml"]


def test_random_values_are_strong_and_distinct() -> None:
    values = {passwords.random_password() for _ in range(50)}
    assert len(values) == 50
    assert all(len(v) == 40 and v.isalnum() for v in values)


def test_genpwd_summary_has_no_secret(tmp_path: pathlib.Path, template: pathlib.Path) -> None:
    target = tmp_path / "p.yml"
    msg = run_genpwd(target, template, ssh_bits=1024)
    secret = yaml.safe_load(target.read_text())["database_password"]
    assert secret not in msg and "generated" in msg


def test_mergepwd(tmp_path: pathlib.Path) -> None:
    old, new = tmp_path / "old.yml", tmp_path / "new.yml"
    old.write_text("a: old-a\ngone: g\n")
    new.write_text("a: new-a\nb: new-b\n")
    assert passwords.merge({"a": 1, "gone": 2}, {"a": 3, "b": 4}) == {"a": 1, "b": 4, "gone": 2}
    assert passwords.merge({"a": 1, "gone": 2}, {"a": 3, "b": 4}, clean=True) == {"a": 1, "b": 4}
    final = tmp_path / "final.yml"
    passwords.mergepwd(old, new, final, clean=True)
    assert yaml.safe_load(final.read_text()) == {"a": "old-a", "b": "new-b"}
    assert stat.S_IMODE(final.stat().st_mode) == 0o600
    passwords.mergepwd(old, new)
    assert yaml.safe_load(new.read_text()) == {"a": "old-a", "b": "new-b", "gone": "g"}


def test_bad_files(tmp_path: pathlib.Path) -> None:
    with pytest.raises(PasswordError, match="does not exist"):
        passwords.read_passwords(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("- a\n")
    with pytest.raises(PasswordError, match="must be a mapping"):
        passwords.read_passwords(bad)


def test_genpwd_creates_a_fernet_repository_and_keeps_it(tmp_path: pathlib.Path,
                                                         template: pathlib.Path) -> None:
    target = tmp_path / "passwords.yml"
    passwords.genpwd(target, template, ssh_bits=1024)
    repo = yaml.safe_load(target.read_text())[passwords.FERNET_REPOSITORY]
    keys = passwords.check_fernet_repository(repo, str(target))
    assert set(keys) == {0, 1} and keys[0] != keys[1]
    assert passwords.genpwd(target, template, ssh_bits=1024) == []
    assert yaml.safe_load(target.read_text())[passwords.FERNET_REPOSITORY] == repo


@pytest.mark.parametrize(("value", "says"), [
    ("a-string", "must be a mapping"),
    ({0: "not-a-key", 1: None}, "keystone_fernet_keys[0] is not a Fernet key"),
    ({"x": "abc"}, "has the index 'x'"),
    ({1: "placeholder"}, "is not a Fernet key"),
])
def test_a_bad_fernet_repository_is_one_sentence(value: object, says: str) -> None:
    with pytest.raises(PasswordError) as err:
        passwords.check_fernet_repository(value, "passwords.yml")
    assert says in str(err.value) and str(err.value).count(".") <= 3
    assert "not-a-key" not in str(err.value)


def test_a_repository_without_a_staged_key_is_refused() -> None:
    with pytest.raises(PasswordError, match="needs a staged key"):
        passwords.check_fernet_repository({1: passwords.fernet_key()}, "passwords.yml")


def test_rotation_promotes_the_staged_key_and_drops_the_oldest() -> None:
    keys = {0: passwords.fernet_key(), 1: passwords.fernet_key()}
    once = passwords.rotate_fernet_keys(keys, max_active=3)
    # the staged key is the new primary; a new staged key; the old primary stays secondary
    assert once[2] == keys[0] and once[1] == keys[1] and once[0] not in keys.values()
    twice = passwords.rotate_fernet_keys(once, max_active=3)
    assert sorted(twice) == [0, 2, 3] and twice[3] == once[0] and twice[2] == once[2]
    # what keystone-manage fernet_rotate leaves: at most max_active keys, 0 and the newest kept
    many = twice
    for _ in range(5):
        many = passwords.rotate_fernet_keys(many, max_active=4)
        assert len(many) <= 4 and 0 in many
    assert max(many) == 8
    with pytest.raises(PasswordError):
        passwords.rotate_fernet_keys(keys, max_active=1)
