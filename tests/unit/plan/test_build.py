"""Building a plan from deployment files: determinism, per-host variants, clear errors."""

import os
import shutil
from pathlib import Path

import pytest

from kolla_mesos import errors
from kolla_mesos.plan.build import PlanSettings
from kolla_mesos.plan.loader import PlanInputs, load_plan

DATA = Path(__file__).resolve().parents[2] / "data"


def make_inputs(tmp_path, topology=None, base=None, profile="test", extra=None):
    cfg = tmp_path / "etc"
    cfg.mkdir(exist_ok=True)
    for name in ("globals.yml", "passwords.yml", "topology.yml"):
        shutil.copy(DATA / "testconfig" / name, cfg / name)
    os.chmod(cfg / "passwords.yml", 0o600)
    if topology is not None:
        (cfg / "topology.yml").write_text(topology)
    settings = PlanSettings("dep", profile, "127.0.0.1:2181", "/kolla", "/kolla",
                            "/etc/kolla-mesos/runner.cred", ("kolla-mesos-start",))
    return PlanInputs(base or DATA / "testbase", cfg, settings, extra or {})


def test_render_twice_gives_identical_bytes(tmp_path):
    inputs = make_inputs(tmp_path)
    a, b = load_plan(inputs), load_plan(inputs)
    assert a.zk_nodes() == b.zk_nodes()
    assert a.fingerprint() == b.fingerprint()
    assert a.group_json() == b.group_json()


def test_variables_reach_files_and_precedence(tmp_path):
    plan = load_plan(make_inputs(tmp_path, extra={"web_port": 19999}))
    web = plan.service("web")
    conf = next(f for f in web.files if f.name == "web.conf").content.decode()
    assert "port = 19999" in conf           # -e wins
    assert "workers = 3" in conf            # globals.yml over config/testing/defaults
    assert "store_password = test-store-secret-42" in conf   # passwords.yml


def test_no_secret_in_app_or_job_json(tmp_path):
    plan = load_plan(make_inputs(tmp_path))
    import json
    text = json.dumps(plan.group_json()) + json.dumps([j.body for j in plan.jobs()])
    assert "test-store-secret-42" not in text


def test_per_host_variants_are_stored_only_where_they_differ(tmp_path):
    topo = ("hosts:\n  a1: {addresses: {api: 127.0.1.1}}\n  a2: {addresses: {api: 127.0.1.2}}\n"
            "  a3: {addresses: {api: 127.0.1.3}}\n"
            "groups:\n  store: [a1, a2]\n  web: [a1, a2, a3]\n")
    plan = load_plan(make_inputs(tmp_path, topology=topo))
    web = plan.service("web")
    conf = next(f for f in web.files if f.name == "web.conf")
    assert {h for h, _ in conf.host_variants} == {"a2", "a3"}
    assert b"host = a1" in conf.content
    assert web.definition.files_dict["web.conf"].per_host
    assert not web.definition.files_dict["server.py"].per_host
    assert web.app["instances"] == 3
    nodes = plan.zk_nodes()
    assert "services/testing/web/files/web.conf/hosts/a2" in nodes
    assert "services/testing/web/files/server.py/hosts/a2" not in nodes


def test_unknown_profile_is_named(tmp_path):
    with pytest.raises(errors.ConfigError, match="Profile 'nope' is not defined"):
        load_plan(make_inputs(tmp_path, profile="nope"))


def test_undefined_variable_names_template_and_line(tmp_path):
    base = tmp_path / "base"
    shutil.copytree(DATA / "testbase", base)
    tpl = base / "config/testing/templates/web.conf.j2"
    tpl.write_text(tpl.read_text() + "extra = {{ no_such_variable }}\n")
    with pytest.raises(errors.ConfigError) as info:
        load_plan(make_inputs(tmp_path, base=base))
    message = str(info.value)
    assert "no_such_variable" in message and "web.conf.j2" in message and "line 6" in message


def test_bad_dependency_reports_every_problem(tmp_path):
    base = tmp_path / "base"
    shutil.copytree(DATA / "testbase", base)
    f = base / "deployment_files/testing/web.yml.j2"
    f.write_text(f.read_text().replace("path: migrate/seed", "path: migrate/nothing")
                 .replace("path: store/daemon", "path: ghost/daemon"))
    with pytest.raises(errors.DefinitionError) as info:
        load_plan(make_inputs(tmp_path, base=base))
    assert len(info.value.problems) == 2


def test_passwords_file_must_be_private(tmp_path):
    inputs = make_inputs(tmp_path)
    os.chmod(inputs.config_dir / "passwords.yml", 0o644)
    with pytest.raises(errors.PasswordError, match="chmod 600"):
        load_plan(inputs)


def _config_json_base(tmp_path, command):
    base = tmp_path / "base"
    shutil.copytree(DATA / "testbase", base)
    (base / "config/testing/templates/store.json.j2").write_text(
        '{"command": "' + command + '", "config_files": [{"source": '
        '"/var/lib/kolla/config_files/store.conf", "dest": "/etc/store.conf", '
        '"owner": "store:store", "perm": "0640"}], '
        '"permissions": [{"path": "/var/log/kolla/store", "owner": "store:store"}]}')
    f = base / "deployment_files/testing/store.yml.j2"
    text = f.read_text().replace("  files:\n    store.conf: {template: testing/store.conf.j2, "
                                 "dest: store.conf, mode: \"0600\"}\n",
                                 "  config_json: testing/store.json.j2\n  files:\n")
    text = text.replace('    command: ["{{ python }}", "server.py", "store.conf"]\n', "")
    f.write_text(text)
    return base


TWO_HOSTS = ("hosts:\n  a1: {addresses: {api: 127.0.1.1}}\n  a2: {addresses: {api: 127.0.1.2}}\n"
             "groups:\n  store: [a1, a2]\n  web: [a1]\n")


def test_config_json_supplies_command_files_and_directories(tmp_path):
    base = _config_json_base(tmp_path, "store-server --port 1")
    plan = load_plan(make_inputs(tmp_path, base=base, topology=TWO_HOSTS))
    store = plan.service("store").definition
    assert store.daemon.command == ("store-server", "--port", "1")
    spec = store.files_dict["store.conf"]
    assert (spec.dest, spec.owner, spec.group, spec.mode) == ("/etc/store.conf", "store",
                                                              "store", "0640")
    assert store.directories[0].path == "/var/log/kolla/store"


def test_config_json_command_that_differs_per_host_is_refused(tmp_path):
    base = _config_json_base(tmp_path, "store-server --host {{ inventory_hostname }}")
    with pytest.raises(errors.DefinitionError, match="different command on different hosts"):
        load_plan(make_inputs(tmp_path, base=base, topology=TWO_HOSTS))
