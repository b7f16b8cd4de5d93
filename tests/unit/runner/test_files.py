"""Atomic file materialization (real files in a temporary directory)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kolla_mesos import definition, errors
from kolla_mesos.runner import files


def _defn(spec: dict[str, object]) -> definition.Definition:
    return definition.from_json({"project": "p", "service": "s", "files": {"c.conf": spec},
                                 "directories": [{"path": "logs", "mode": "0750"}]})


def test_materialize_relative_dest_owner_mode_and_no_rewrite(tmp_path: Path) -> None:
    defn = _defn({"dest": "etc/c.conf", "mode": "0600"})
    fileset = files.build_fileset(defn, {"c.conf": b"a = 1\n"})
    files.make_directories(defn.directories, str(tmp_path))
    assert stat.S_IMODE((tmp_path / "logs").stat().st_mode) == 0o750
    dest = tmp_path / "etc" / "c.conf"
    assert files.materialize(fileset, str(tmp_path)) == [str(dest)]
    assert dest.read_bytes() == b"a = 1\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600 and dest.stat().st_uid == os.geteuid()
    inode = dest.stat().st_ino
    assert files.materialize(fileset, str(tmp_path)) == []  # identical: untouched
    assert dest.stat().st_ino == inode
    changed = files.build_fileset(defn, {"c.conf": b"a = 2\n"})
    assert files.materialize(changed, str(tmp_path)) == [str(dest)]
    assert dest.read_bytes() == b"a = 2\n" and dest.stat().st_ino != inode  # renamed over
    assert sorted(os.listdir(dest.parent)) == ["c.conf"]  # no temporary file left


def test_absolute_dest_and_unknown_owner(tmp_path: Path) -> None:
    assert files.resolve_dest("/etc/x", "/sandbox") == "/etc/x"
    assert files.resolve_dest("a/b", "/sandbox") == "/sandbox/a/b"
    defn = _defn({"dest": "c.conf", "owner": "no-such-user-kolla"})
    with pytest.raises(errors.ConfigError, match="owner 'no-such-user-kolla' is not a user"):
        files.materialize(files.build_fileset(defn, {"c.conf": b""}), str(tmp_path))


def test_unwritable_destination_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    defn = _defn({"dest": "file/c.conf"})
    with pytest.raises(errors.ConfigError, match=f"Cannot write {tmp_path}/file/c.conf"):
        files.materialize(files.build_fileset(defn, {"c.conf": b"x"}), str(tmp_path))


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_owner_and_group_are_applied(tmp_path: Path) -> None:
    import pwd

    nobody = pwd.getpwnam("nobody")
    defn = _defn({"dest": "c.conf", "owner": "nobody", "group": str(nobody.pw_gid),
                  "mode": "0400"})
    files.materialize(files.build_fileset(defn, {"c.conf": b"x"}), str(tmp_path))
    st = (tmp_path / "c.conf").stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == \
        (nobody.pw_uid, nobody.pw_gid, 0o400)


@pytest.mark.parametrize("dest", ["../escape.conf", "a/../../b", "/tmp/x.conf", "/etc/../x",
                                  "/etc", "/var/lib//x", "", "/usr/bin/python3"])
def test_a_destination_outside_the_sandbox_is_refused_again(tmp_path: Path, dest: str) -> None:
    """The planner refuses these; the runner (root) refuses them again before writing."""
    from kolla_mesos.definition import FileSpec

    spec = FileSpec(dest=dest)
    with pytest.raises(errors.DefinitionError, match="refusing to write it"):
        files.materialize({"c.conf": (spec, b"x")}, str(tmp_path / "sandbox"))
    assert not (tmp_path / "escape.conf").exists()
