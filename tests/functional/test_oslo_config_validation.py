"""Rendered oslo.config files pass oslo-config-validator against the real option schemas.

The schemas are YAML opt-data files generated once by tools/gen-opt-data from the real
service (keystone 30.0.0) and committed under tests/data/opt-data/, so CI validates without
installing the services.  Every synced template is classified: an oslo.config file with its
opt-data, or a file in another format; a new template must be added to one of the two.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from kolla_mesos import passwords
from kolla_mesos.render.templates import Renderer
from kolla_mesos.render.topology import load_topology
from kolla_mesos.render.variables import VariableSet

TOP = pathlib.Path(__file__).resolve().parents[2]
OPT_DATA = TOP / "tests" / "data" / "opt-data"
SOURCES = yaml.safe_load((TOP / "common_templates" / "sources.yml").read_text())
VALIDATOR = pathlib.Path(sys.executable).parent / "oslo-config-validator"

#: oslo.config files -> the opt-data of their service
OSLO_FILES = {("keystone", "keystone.conf.j2"): "keystone.yaml"}
#: files in other formats (MariaDB/RabbitMQ/cron/ssh/shell/JSON), not oslo.config
OTHER_FORMATS = {
    ("mariadb", "galera.cnf.j2"), ("mariadb", "healthcheck.cnf.j2"),
    ("mariadb", "hostname.j2"), ("mariadb", "mariadb.json.j2"),
    ("memcached", "memcached.json.j2"),
    ("rabbitmq", "advanced.config.j2"), ("rabbitmq", "definitions.json.j2"),
    ("rabbitmq", "enabled_plugins.j2"), ("rabbitmq", "erl_inetrc.j2"),
    ("rabbitmq", "rabbitmq-env.conf.j2"), ("rabbitmq", "rabbitmq.conf.j2"),
    ("rabbitmq", "rabbitmq.json.j2"),
    ("keystone", "crontab.j2"), ("keystone", "fernet-healthcheck.sh.j2"),
    ("keystone", "fernet-node-sync.sh.j2"), ("keystone", "fernet-push.sh.j2"),
    ("keystone", "fernet-rotate.sh.j2"), ("keystone", "keystone-fernet.json.j2"),
    ("keystone", "keystone-ssh.json.j2"), ("keystone", "keystone-startup.sh.j2"),
    ("keystone", "keystone.json.j2"), ("keystone", "ssh_config.j2"),
    ("keystone", "sshd_config.j2"),
}
#: options kolla-ansible 22.2.0's templates still set but the schemas (keystone 30.0.0 with
#: the newest oslo libraries) no longer have; oslo.config ignores unknown options at run
#: time.  We keep kolla-ansible's output (parity) and list them here, so a new one fails.
KNOWN_STALE = {
    # removed from oslo.messaging; kolla-ansible's keystone.conf.j2 still renders it
    "oslo_messaging_rabbit/heartbeat_in_pthread",
}
TEMPLATES = {(svc["role"], tpl): (svc.get("task_vars") or {}).get(tpl)
             for svc in SOURCES["services"].values() for tpl in svc["templates"]}


def validate(opt_data: pathlib.Path, conf: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VALIDATOR), "--opt-data", str(opt_data), "--input-file",
                           str(conf), "--fatal-warnings"], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> Renderer:
    cfg = tmp_path_factory.mktemp("oslo-config")
    shutil.copy(TOP / "etc" / "kolla-mesos" / "globals.yml", cfg / "globals.yml")
    passwords.genpwd(cfg / "passwords.yml", TOP / "common_templates" / "passwords.yml",
                     ssh_bits=1024)
    roles = sorted({role for role, _ in TEMPLATES})
    return Renderer(TOP, VariableSet.load(TOP, cfg, roles),
                    load_topology(TOP / "tests" / "data" / "topology-3ctl.yml"))


def test_every_template_is_classified() -> None:
    assert set(TEMPLATES) == set(OSLO_FILES) | OTHER_FORMATS


@pytest.mark.parametrize("role,name", sorted(OSLO_FILES))
def test_rendered_oslo_config_files_validate(renderer: Renderer, tmp_path: pathlib.Path,
                                             role: str, name: str) -> None:
    opt_data = OPT_DATA / OSLO_FILES[(role, name)]
    for host in renderer.topology.hosts:
        conf = tmp_path / f"{host}-{name[:-3]}"
        conf.write_text(renderer.render_template(role, name, host, TEMPLATES[(role, name)]))
        res = validate(opt_data, conf)
        reported = set(re.findall(r"validator:(\S+) is not part of the sample config",
                                  res.stderr))
        other = [line for line in res.stderr.splitlines()
                 if line.startswith(("ERROR", "WARNING")) and
                 "is not part of the sample config" not in line]
        assert reported <= KNOWN_STALE and not other, f"{conf.name}: {res.stderr}"
        assert res.returncode == (1 if reported else 0)


def test_validator_catches_an_unknown_option(renderer: Renderer, tmp_path: pathlib.Path) -> None:
    text = renderer.render_template("keystone", "keystone.conf.j2", "ctl1",
                                    TEMPLATES[("keystone", "keystone.conf.j2")])
    conf = tmp_path / "keystone.conf"
    conf.write_text(text.replace("provider = fernet", "provder = fernet"))
    res = validate(OPT_DATA / "keystone.yaml", conf)
    assert res.returncode == 1 and "token/provder is not part of the sample config" in res.stderr
