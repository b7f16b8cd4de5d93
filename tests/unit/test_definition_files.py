"""Which files a task writes (need to know) and where a file may go (DESIGN section 4)."""

from __future__ import annotations

import pytest

from kolla_mesos import definition, errors

KEYSTONE = {
    "project": "keystone", "service": "keystone",
    "files": {"keystone.conf": {"dest": "/etc/keystone/keystone.conf"},
              "db-admin.cnf": {"dest": "db-admin.cnf", "mode": "0600"},
              "user.sql": {"dest": "user.sql", "mode": "0600"},
              "extra.conf": {"dest": "/etc/keystone/extra.conf"}},
    "commands": {
        "create_db": {"command": ["mariadb"], "job": True, "files": ["db-admin.cnf"]},
        "create_user": {"command": ["mariadb"], "job": True,
                        "files": ["db-admin.cnf", "user.sql"]},
        "db_sync": {"command": ["keystone-manage"], "job": True, "files": ["keystone.conf"]},
        "everything": {"command": ["true"], "job": True},
        "prepare": {"command": ["true"], "files": ["extra.conf"]},
    },
    "daemon": {"command": ["uwsgi"], "files": ["keystone.conf"]},
}


def test_job_only_files_never_reach_the_app() -> None:
    defn = definition.from_json(KEYSTONE)
    assert defn.job_only_files() == {"db-admin.cnf", "user.sql"}
    assert defn.app_files() == ("extra.conf", "keystone.conf")
    # without 'prepare' nothing in the app needs extra.conf either
    raw = dict(KEYSTONE, commands={k: v for k, v in KEYSTONE["commands"].items()
                                   if k != "prepare"})
    assert definition.from_json(raw).job_only_files() == {"db-admin.cnf", "user.sql",
                                                           "extra.conf"}
    assert definition.from_json(raw).app_files() == ("keystone.conf",)
    assert defn.files_for([defn.command("create_user")]) == ("db-admin.cnf", "user.sql")
    assert defn.files_for([defn.command("create_db")]) == ("db-admin.cnf",)
    assert len(defn.files_for([defn.command("everything")])) == 4


def test_a_command_without_a_list_needs_every_file() -> None:
    raw = {"project": "p", "service": "s", "files": {"a": {"dest": "a"}, "b": {"dest": "b"}},
           "commands": {"job": {"command": ["x"], "job": True, "files": ["b"]}},
           "daemon": {"command": ["y"]}}
    defn = definition.from_json(raw)
    assert defn.job_only_files() == frozenset()
    assert defn.app_files() == ("a", "b")


@pytest.mark.parametrize("dest", ["/etc/keystone/keystone.conf", "/var/lib/kolla/x.sh",
                                  "/run/x/y", "/var/log/kolla/a", "db-admin.cnf", "sub/dir.conf"])
def test_allowed_destinations(dest: str) -> None:
    assert definition.dest_problem(dest) is None


@pytest.mark.parametrize("dest", ["../x", "a/../../x", "a//b", "/tmp/x", "/etc", "/etc/",
                                  "/etc/../root/.ssh/authorized_keys", "/usr/bin/x", "",
                                  "/etc/./x"])
def test_refused_destinations_name_the_file(dest: str) -> None:
    raw = {"project": "p", "service": "s", "files": {"f.conf": {"dest": dest}}}
    with pytest.raises(errors.DefinitionError) as info:
        definition.from_json(raw, source="deployment_files/p/s.yml.j2: service")
    assert "deployment_files/p/s.yml.j2: service.files.f.conf.dest" in str(info.value)
