"""tools/sync-common-templates: --check detects drift, missing files and version mismatch."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

TOP = pathlib.Path(__file__).resolve().parents[3]
TOOL = TOP / "tools" / "sync-common-templates"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def copy(tmp_path: pathlib.Path) -> pathlib.Path:
    """A synced copy of common_templates/ in a temp dir (the tree's copy stays untouched)."""
    assert run("--quiet").returncode == 0
    dest = tmp_path / "common_templates"
    shutil.copytree(TOP / "common_templates", dest)
    return dest


def test_check_passes_on_a_fresh_sync(copy: pathlib.Path) -> None:
    res = run("--check", "--dir", str(copy))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "match lock.json" in res.stdout


def test_check_reports_drift_with_a_diff(copy: pathlib.Path) -> None:
    path = copy / "roles" / "keystone" / "templates" / "keystone.conf.j2"
    path.write_text(path.read_text().replace("provider = fernet", "provider = uuid"))
    res = run("--check", "--dir", str(copy))
    assert res.returncode == 1
    assert "roles/keystone/templates/keystone.conf.j2 drifted from lock.json" in res.stdout
    assert "-provider = fernet" in res.stdout and "+provider = uuid" in res.stdout
    assert "not in sync" in res.stderr


def test_check_reports_a_missing_file(copy: pathlib.Path) -> None:
    (copy / "group_vars" / "all" / "common.yml").unlink()
    res = run("--check", "--dir", str(copy))
    assert res.returncode == 1
    assert "group_vars/all/common.yml is missing from common_templates/." in res.stdout


def test_check_reports_a_version_mismatch(copy: pathlib.Path) -> None:
    sources = copy / "sources.yml"
    sources.write_text(sources.read_text().replace("version: 22.2.0", "version: 22.1.0"))
    res = run("--check", "--dir", str(copy))
    assert res.returncode == 1
    assert "version mismatch: sources.yml pins kolla-ansible 22.1.0 but lock.json records " \
           "kolla-ansible 22.2.0." in res.stdout


def test_sync_refuses_a_distribution_that_differs_from_the_lock(copy: pathlib.Path) -> None:
    lock = copy / "lock.json"
    lock.write_text(lock.read_text().replace(
        '"roles/memcached/templates/memcached.json.j2": "',
        '"roles/memcached/templates/memcached.json.j2": "0'))
    res = run("--quiet", "--dir", str(copy))
    assert res.returncode == 1
    assert "differs from lock.json in roles/memcached/templates/memcached.json.j2" in res.stderr


def test_sync_restores_a_drifted_copy(copy: pathlib.Path) -> None:
    (copy / "roles" / "memcached" / "templates" / "memcached.json.j2").write_text("x")
    assert run("--quiet", "--dir", str(copy)).returncode == 0
    assert run("--check", "--quiet", "--dir", str(copy)).returncode == 0


def test_update_reports_changes_file_by_file(copy: pathlib.Path) -> None:
    # pretend the lock came from another release: one file differs, one is new, one is gone
    import json

    lock_path = copy / "lock.json"
    lock = json.loads(lock_path.read_text())
    conf = copy / "roles" / "memcached" / "templates" / "memcached.json.j2"
    conf.write_text(conf.read_text().replace("-v", "-vv"))
    lock["files"]["roles/memcached/templates/memcached.json.j2"] = "0" * 64
    del lock["files"]["roles/keystone/templates/crontab.j2"]
    lock["files"]["roles/keystone/templates/gone.j2"] = "1" * 64
    lock["version"] = "22.1.0"
    lock_path.write_text(json.dumps(lock))
    res = run("--update", "22.2.0", "--quiet", "--dir", str(copy))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "kolla-ansible 22.1.0 -> 22.2.0"
    assert "changed  roles/memcached/templates/memcached.json.j2 (+1 -1)" in lines
    assert "added    roles/keystone/templates/crontab.j2" in lines
    assert "removed  roles/keystone/templates/gone.j2" in lines
    assert run("--check", "--quiet", "--dir", str(copy)).returncode == 0
