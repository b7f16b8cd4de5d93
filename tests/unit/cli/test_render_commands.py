"""CLI: templates list, genpwd, mergepwd (functions, and through the cliff app)."""

from __future__ import annotations

import json
import pathlib
import stat

import pytest
import yaml

from kolla_mesos.cli.app import main
from kolla_mesos.cli.templates import template_rows

TOP = pathlib.Path(__file__).resolve().parents[3]


def _tree(base: pathlib.Path) -> pathlib.Path:
    for rel, text in {
        "common_templates/roles/web/templates/a.conf.j2": "synced a\n",
        "common_templates/roles/web/templates/b.conf.j2": "synced b\n",
        "config/web/templates/b.conf.j2": "ours b\n",
        "config/web/templates/c.sh.j2": "only ours\n",
    }.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base


def test_template_rows(tmp_path: pathlib.Path) -> None:
    base = _tree(tmp_path)
    rows = template_rows(base)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("web", "a.conf.j2", "synced"), ("web", "b.conf.j2", "overridden"),
        ("web", "c.sh.j2", "local")]
    import hashlib

    assert rows[1][3] == hashlib.sha256(b"ours b\n").hexdigest()
    assert [r[1] for r in template_rows(base, overrides_only=True)] == ["b.conf.j2", "c.sh.j2"]


def test_templates_list_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates", "list", "-f", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {(r["Role"], r["Template"]): r for r in rows}
    assert names[("keystone", "keystone.conf.j2")]["Origin"] == "synced"
    assert len(names[("keystone", "keystone.conf.j2")]["SHA256"]) == 64


def test_genpwd_and_mergepwd_commands(tmp_path: pathlib.Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    template = tmp_path / "list.yml"
    template.write_text("database_password:\nrabbitmq_password:\n")
    target = tmp_path / "passwords.yml"
    assert main(["genpwd", str(target), "--template", str(template)]) == 0
    out = capsys.readouterr().out
    data = yaml.safe_load(target.read_text())
    # kolla-ansible's list, and kolla-mesos' own Fernet key repository
    assert set(data) == {"database_password", "rabbitmq_password", "keystone_fernet_keys"}
    assert set(data["keystone_fernet_keys"]) == {0, 1}
    assert data["database_password"] not in out and "3 value(s) generated" in out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    new = tmp_path / "new.yml"
    new.write_text("database_password: other\nkeystone_admin_password: k\n")
    assert main(["mergepwd", str(target), str(new)]) == 0
    merged = yaml.safe_load(new.read_text())
    assert merged["database_password"] == data["database_password"]
    assert merged["keystone_admin_password"] == "k"
