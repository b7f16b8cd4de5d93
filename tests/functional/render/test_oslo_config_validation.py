"""Rendered oslo.config files pass oslo-config-validator against the real option schemas.

The schemas are YAML opt-data files generated once by tools/gen-opt-data from the real
service (keystone 30.0.0) and committed under tests/data/opt-data/, so CI validates without
installing the services.  Every synced template is classified: an oslo.config file with its
opt-data, or a file in another format; a new template must be added to one of the two.
"""

from __future__ import annotations

import configparser
import io
import logging
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

TOP = pathlib.Path(__file__).resolve().parents[3]
OPT_DATA = TOP / "tests" / "data" / "opt-data"
SOURCES = yaml.safe_load((TOP / "common_templates" / "sources.yml").read_text())
VALIDATOR = pathlib.Path(sys.executable).parent / "oslo-config-validator"

#: oslo.config files -> the opt-data of their service
OSLO_FILES = {
    ("keystone", "keystone.conf.j2"): "keystone.yaml",
    ("glance", "glance-api.conf.j2"): "glance.yaml",
    ("glance", "glance-cache.conf.j2"): "glance.yaml",
    ("placement", "placement.conf.j2"): "placement.yaml",
    ("nova", "nova.conf.j2"): "nova.yaml",
    ("nova-cell", "nova.conf.j2"): "nova.yaml",
    ("neutron", "neutron.conf.j2"): "neutron.yaml",
    ("neutron", "ml2_conf.ini.j2"): "neutron.yaml",
    ("neutron", "openvswitch_agent.ini.j2"): "neutron.yaml",
    ("neutron", "dhcp_agent.ini.j2"): "neutron.yaml",
    ("neutron", "l3_agent.ini.j2"): "neutron.yaml",
    ("neutron", "metadata_agent.ini.j2"): "neutron.yaml",
    ("heat", "heat.conf.j2"): "heat.yaml",
}
#: files in other formats (MariaDB/RabbitMQ/libvirt/dnsmasq/cron/ssh/shell/Python/JSON),
#: and fragments included by an oslo.config file (validated as part of it)
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
    ("glance", "glance-api.json.j2"),
    ("placement", "migrate-db.rc.j2"), ("placement", "placement-api.json.j2"),
    ("nova", "nova-api-bootstrap.json.j2"), ("nova", "nova-api.json.j2"),
    ("nova", "nova-metadata.json.j2"), ("nova", "nova-scheduler.json.j2"),
    ("nova", "nova-super-conductor.json.j2"),
    ("nova-cell", "libvirtd.conf.j2"), ("nova-cell", "nova-compute.json.j2"),
    ("nova-cell", "nova-conductor.json.j2"), ("nova-cell", "nova-libvirt.json.j2"),
    ("nova-cell", "nova-novncproxy.json.j2"), ("nova-cell", "nova.conf.d/libvirt.conf.j2"),
    ("nova-cell", "qemu.conf.j2"), ("nova-cell", "sasl.conf.j2"),
    ("neutron", "dnsmasq.conf.j2"), ("neutron", "neutron-dhcp-agent.json.j2"),
    ("neutron", "neutron-l3-agent-wrapper.sh.j2"), ("neutron", "neutron-l3-agent.json.j2"),
    ("neutron", "neutron-metadata-agent.json.j2"),
    ("neutron", "neutron-openvswitch-agent.json.j2"), ("neutron", "neutron-server.json.j2"),
    ("heat", "heat-api-cfn.json.j2"), ("heat", "heat-api.json.j2"),
    ("heat", "heat-engine.json.j2"),
    ("horizon", "_9998-kolla-settings.py.j2"), ("horizon", "_9999-custom-settings.py.j2"),
    ("horizon", "horizon.json.j2"),
    # fluentd's configuration and the fragments fluentd.conf includes (docs/logging.md)
    *{("fluentd", tpl) for tpl in SOURCES["services"]["fluentd"]["templates"]},
}
#: Options the validator reports that we accept, each with the reason.  We keep
#: kolla-ansible 22.2.0's output (parity) and list them here, so any new one fails the test.
#: oslo.config ignores unknown options at run time.
KNOWN_STALE = {
    # removed upstream (the schemas are the newest releases), still set by kolla-ansible:
    "oslo_messaging_rabbit/heartbeat_in_pthread",  # oslo.messaging dropped it
    "DEFAULT/bind_host", "DEFAULT/bind_port",  # glance 33 / neutron 29: no eventlet server,
    "DEFAULT/workers", "DEFAULT/api_workers",  # the API runs under uWSGI
    "DEFAULT/admin_password", "DEFAULT/admin_tenant_name", "DEFAULT/admin_user",
    "DEFAULT/auth_url",  # glance-cache.conf: the registry client options are gone
    "DEFAULT/filesystem_store_datadir",  # glance-cache.conf: now only in [glance_store]
    "ec2authtoken/auth_uri",  # heat: replaced by [ec2authtoken] www_authenticate_uri
    # registered at run time, so absent from oslo-config-generator's data:
    "os_glance_staging_store/filesystem_store_datadir",  # glance's reserved stores
    "os_glance_tasks_store/filesystem_store_datadir",
    "privsep_entrypoint/helper_command",  # one oslo.privsep group per privsep context
    "service_user/region_name",  # keystoneauth adapter options of [service_user]
    "service_user/valid_interfaces",
}
#: deprecated options kolla-ansible still sets (the validator warns; --fatal-warnings)
KNOWN_DEPRECATED = {
    "ml2/tenant_network_types",  # neutron: renamed project_network_types
}
TEMPLATES = {(svc["role"], tpl): (svc.get("task_vars") or {}).get(tpl)
             for svc in SOURCES["services"].values() for tpl in svc["templates"]}


_BOOLS = {"true", "false", "yes", "no", "1", "0", "on", "off"}


def type_errors(opt_data: dict, text: str) -> list[str]:
    """Values that do not fit their option's type, choices or range (what the validator
    does not check)."""
    parser = configparser.RawConfigParser(strict=False, interpolation=None,
                                          allow_no_value=True, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    errors = []
    sections = [("DEFAULT", parser.defaults())] + [(s, parser[s]) for s in parser.sections()]
    for section, items in sections:
        opts = {o.get("dest", o["name"]): o for o in
                opt_data["options"].get(section, {}).get("opts", [])}
        opts.update({o["name"]: o for o in opt_data["options"].get(section, {}).get("opts", [])})
        for key, value in items.items():
            opt = opts.get(key)
            if opt is None or value is None or "$" in value or (
                    section != "DEFAULT" and key in parser.defaults()):
                continue
            kind, where = opt.get("type", ""), f"{section}/{key} = {value!r}"
            try:
                if kind in ("integer value", "port value"):
                    number = int(value)
                    low, high = opt.get("min"), opt.get("max")
                    if (low is not None and number < low) or (high is not None and
                                                              number > high):
                        errors.append(f"{where} is outside [{low}, {high}]")
                elif kind == "floating point value":
                    float(value)
                elif kind == "boolean value" and value.lower() not in _BOOLS:
                    errors.append(f"{where} is not a boolean")
                elif kind == "string value" and opt.get("choices") and \
                        value not in [str(c) for c in opt["choices"]]:
                    errors.append(f"{where} is not one of {opt['choices']}")
            except ValueError:
                errors.append(f"{where} is not a {kind}")
    return errors


def validate(opt_data: pathlib.Path, conf: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VALIDATOR), "--opt-data", str(opt_data), "--input-file",
                           str(conf), "--fatal-warnings"], capture_output=True, text=True,
                          timeout=120)


_OPT_DATA_CACHE: dict[str, dict] = {}


def load_opt_data(path: str | pathlib.Path) -> dict:
    """Parsed opt-data, cached (libyaml when available)."""
    key = str(path)
    if key not in _OPT_DATA_CACHE:
        _OPT_DATA_CACHE[key] = yaml.load(  # noqa: S506 - a safe loader
            pathlib.Path(path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return _OPT_DATA_CACHE[key]


def validate_in_process(opt_data: pathlib.Path, conf_path: pathlib.Path,
                        monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """oslo-config-validator's own code (validator._validate), run in this process with the
    parsed opt-data cached across files (parsing it dominates the CLI's run time)."""
    from oslo_config import cfg, validator

    monkeypatch.setattr(validator, "load_opt_data", lambda conf: load_opt_data(conf.opt_data))
    conf = cfg.ConfigOpts()
    validator._register_cli_opts(conf)
    conf(["--opt-data", str(opt_data), "--input-file", str(conf_path), "--fatal-warnings"],
         default_config_files=[], default_config_dirs=[])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    log = logging.getLogger("oslo_config.validator")
    log.addHandler(handler)
    try:
        rc = validator._validate(conf)
    finally:
        log.removeHandler(handler)
    return rc, stream.getvalue()


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
                                             monkeypatch: pytest.MonkeyPatch,
                                             role: str, name: str) -> None:
    opt_data = OPT_DATA / OSLO_FILES[(role, name)]
    checked: list[str] = []
    for host in renderer.topology.hosts:
        conf = tmp_path / f"{host}-{role}-{name[:-3]}"
        conf.write_text(renderer.render_template(role, name, host, TEMPLATES[(role, name)]))
        returncode, stderr = validate_in_process(opt_data, conf, monkeypatch)
        reported = set(re.findall(r"validator:(\S+) is not part of the sample config",
                                  stderr))
        deprecated = set(re.findall(r"Deprecated opt (\S+) found", stderr))
        other = [line for line in stderr.splitlines()
                 if line.startswith(("ERROR", "WARNING")) and
                 "is not part of the sample config" not in line and
                 "Deprecated opt" not in line]
        assert not other, f"{conf.name}: {stderr}"
        assert reported <= KNOWN_STALE, f"{conf.name}: {sorted(reported - KNOWN_STALE)}"
        assert deprecated <= KNOWN_DEPRECATED, \
            f"{conf.name}: {sorted(deprecated - KNOWN_DEPRECATED)}"
        assert returncode == (1 if reported or deprecated else 0)
        checked.append(conf.name)
        assert not type_errors(load_opt_data(opt_data), conf.read_text())
    assert len(checked) == len(renderer.topology.hosts)


def test_validator_cli_catches_an_unknown_option(renderer: Renderer,
                                                 tmp_path: pathlib.Path) -> None:
    text = renderer.render_template("keystone", "keystone.conf.j2", "ctl1",
                                    TEMPLATES[("keystone", "keystone.conf.j2")])
    conf = tmp_path / "keystone.conf"
    conf.write_text(text.replace("provider = fernet", "provder = fernet"))
    res = validate(OPT_DATA / "keystone.yaml", conf)
    assert res.returncode == 1 and "token/provder is not part of the sample config" in res.stderr
    opt_data = load_opt_data(OPT_DATA / "keystone.yaml")
    bad = text.replace("max_pool_size = 1", "max_pool_size = lots").replace(
        "enabled = true", "enabled = maybe")
    assert type_errors(opt_data, bad) == [
        "database/max_pool_size = 'lots' is not a integer value",
        "cache/enabled = 'maybe' is not a boolean"]
