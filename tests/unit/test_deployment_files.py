"""The shipped deployment files: they render for the sample topologies, their service
sections are valid definitions, their apps and jobs are what Marathon and Chronos accept, and
no secret reaches a command line, an app or a job."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from mesos_sim.chronos import jobs as chronos_jobs
from mesos_sim.marathon import validate as marathon_validate

from kolla_mesos import definition
from kolla_mesos.cli.app import main
from kolla_mesos.cli.passwords import configured_max_active_keys
from kolla_mesos.errors import PasswordError
from kolla_mesos.passwords import FERNET_REPOSITORY, new_value
from kolla_mesos.plan.build import PlanSettings, find_deployment_files, load_profile
from kolla_mesos.plan.loader import PlanInputs, load_plan
from kolla_mesos.plan.model import Plan

REPO = Path(__file__).resolve().parents[2]
ETC = REPO / "etc" / "kolla-mesos"
DEPLOYMENT_FILES = REPO / "deployment_files"
MINIMAL = ["mariadb", "memcached", "rabbitmq", "keystone"]
SECRETS = {"database_password": "db-secret-8c1f", "keystone_admin_password": "admin-secret-51a7",
           "keystone_database_password": "ksdb-secret-0e2b", "rabbitmq_password": "rmq-secret-7d3c",
           "rabbitmq_cluster_cookie": "cookie-secret-4a9d",
           "mariadb_monitor_password": "monitor-secret-9b6e"}


def _inputs(tmp_path: Path, topology: str, extra: dict[str, Any] | None = None,
            profile: str = "minimal") -> PlanInputs:
    etc = tmp_path / "etc"
    etc.mkdir()
    shutil.copy(ETC / "globals.yml", etc / "globals.yml")
    shutil.copy(ETC / topology, etc / "topology.yml")
    passwords = yaml.safe_load((ETC / "passwords.yml").read_text()) or {}
    passwords = {key: f"{key}-value" for key in passwords} | SECRETS
    passwords[FERNET_REPOSITORY] = new_value(FERNET_REPOSITORY)
    (etc / "passwords.yml").write_text(yaml.safe_dump(passwords))
    os.chmod(etc / "passwords.yml", 0o600)
    settings = PlanSettings("t1", profile, "127.0.0.1:2181", "/kolla", "/kolla",
                            "/etc/kolla-mesos/runner.cred", ("kolla-mesos-start",))
    return PlanInputs(REPO, etc, settings, extra or {})


#: HAProxy on a VIP no host owns, TLS on it (issue 10)
LB_TLS = {"kolla_internal_vip_address": "10.0.0.250", "kolla_enable_tls_internal": "yes"}


def _lb_inputs(tmp_path: Path, topology: str) -> PlanInputs:
    from kolla_mesos.certificates import generate, inputs

    source = _inputs(tmp_path, topology, LB_TLS, profile="minimal-lb")
    tls = inputs.load(source.base_dir, source.config_dir, source.extra_vars)
    generate.generate(inputs.certificates_dir(source.config_dir), tls)
    return source


@pytest.fixture(scope="module", params=["topology-single.yml", "topology.yml", "lb-tls"])
def plan(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Plan:
    if request.param == "lb-tls":
        return load_plan(_lb_inputs(tmp_path_factory.mktemp("plan"), "topology.yml"))
    return load_plan(_inputs(tmp_path_factory.mktemp("plan"), request.param))


def test_profiles_name_services():
    profiles = yaml.safe_load((DEPLOYMENT_FILES / "profiles.yml").read_text())
    assert load_profile(DEPLOYMENT_FILES, "minimal") == MINIMAL
    assert {"minimal", "default", "full"} <= set(profiles)
    for name, services in profiles.items():
        assert services and all(isinstance(s, str) for s in services), name
    assert set(profiles["minimal"]) <= set(profiles["default"]) <= set(profiles["full"])
    assert set(MINIMAL) <= set(find_deployment_files(DEPLOYMENT_FILES))


def test_every_service_renders_and_its_definition_validates(plan: Plan):
    assert [s.service for s in plan.services] == (
        [*MINIMAL, "haproxy"] if plan.profile == "minimal-lb" else MINIMAL)
    for svc in plan.services:
        raw = svc.definition.to_json()
        for cmd in [*raw["commands"].values(), raw["daemon"]]:
            if cmd is not None:
                cmd["inputs_hash"] = "0" * 64
        again = definition.from_json(json.loads(json.dumps(raw)), source=svc.service)
        assert again.dumps() == definition.from_json(raw).dumps()
        assert svc.definition.daemon is not None, svc.service
        assert svc.definition.daemon.ready, svc.service


def test_apps_are_valid_marathon_apps(plan: Plan):
    for app in plan.apps():
        marathon_validate.check_app(json.loads(json.dumps(app)))
        assert app["healthChecks"], app["id"]
        assert app["upgradeStrategy"]["maximumOverCapacity"] == 0
        assert ["hostname", "UNIQUE"] in app["constraints"]


def test_apps_validate_against_marathons_published_schema(plan: Plan):
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = REPO.parent / "shared/reference/marathon/schema/AppDefinition.json"
    if not schema_path.is_file():
        pytest.skip(f"{schema_path} is not beside this clone")
    schema = json.loads(schema_path.read_text())
    validator = jsonschema.Draft4Validator(schema)    # the schema's own dialect
    for app in plan.apps():
        problems = [f"{'/'.join(map(str, e.path))}: {e.message}"
                    for e in validator.iter_errors(json.loads(json.dumps(app)))]
        assert not problems, (app["id"], problems)


def test_jobs_are_valid_chronos_jobs(plan: Plan):
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    jobs = plan.jobs()
    assert {j.command for j in jobs} == {"create_db", "create_user", "db_sync", "bootstrap"}
    for job in jobs:
        body = {**job.body, "schedule": "R1//PT1M"}
        parsed = chronos_jobs.parse_job(body, dependent=False, legacy=False, now=now)
        chronos_jobs.validate_new(parsed, legacy=False, now=now)


def _argvs(plan: Plan) -> list[list[str]]:
    out = []
    for svc in plan.services:
        for cmd in [*svc.definition.commands, svc.definition.daemon]:
            if cmd is not None:
                out.append(cmd.argv())
    return out


def test_no_secret_on_a_command_line_or_in_app_or_job_json(plan: Plan):
    public = json.dumps(plan.group_json()) + json.dumps([j.body for j in plan.jobs()])
    public += json.dumps(_argvs(plan))
    for key, secret in SECRETS.items():
        assert secret not in public, key
    # ... while they do reach the files that need them (and the bootstrap's environment).
    keystone = plan.service("keystone")
    files = {f.name: f.content.decode() for f in keystone.files}
    assert SECRETS["keystone_database_password"] in files["keystone.conf"]
    assert SECRETS["database_password"] in files["db-admin.cnf"]
    boot = keystone.definition.command("bootstrap")
    assert boot.env_dict == {"OS_BOOTSTRAP_PASSWORD": SECRETS["keystone_admin_password"]}
    for name in ("db-admin.cnf", "keystone-db-user.sql"):
        spec = keystone.definition.files_dict[name]
        assert (spec.owner, spec.mode) == ("root", "0600")


def test_named_volumes_are_stable(plan: Plan):
    volumes = {}
    for app in plan.apps():
        for param in app["container"]["docker"].get("parameters", []):
            name, path = param["value"].split(":")[:2]
            volumes[path] = name
    assert volumes["/var/lib/mysql"] == "mariadb"
    assert volumes["/var/lib/rabbitmq/"] == "rabbitmq"
    # Keystone's Fernet keys come from the generation, not from a volume that would keep an
    # old repository's keys
    assert "/etc/keystone/fernet-keys" not in volumes
    for job in plan.jobs():
        for volume in job.body["container"]["volumes"]:
            assert not volume["hostPath"].startswith("/"), job.name


def test_shell_scripts_parse(plan: Plan, tmp_path: Path):
    scripts = [(svc.service, f) for svc in plan.services for f in svc.files
               if f.name.endswith(".sh")]
    assert len(scripts) >= 4
    for service, rendered in scripts:
        for host in ["", *(h for h, _ in rendered.host_variants)]:
            path = tmp_path / f"{service}-{rendered.name}-{host or 'common'}"
            path.write_bytes(rendered.for_host(host) if host else rendered.content)
            proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
            assert proc.returncode == 0, (path.name, proc.stderr)


def _three_controller_plan(tmp_path: Path) -> Plan:
    return load_plan(_inputs(tmp_path, "topology.yml"))


def test_galera_cluster_of_the_topology_group(tmp_path: Path):
    plan = _three_controller_plan(tmp_path)
    mariadb = plan.service("mariadb")
    assert mariadb.hosts == ("ctl1", "ctl2", "ctl3")
    assert mariadb.app is not None and mariadb.app["instances"] == 3
    # Marathon keeps ceil(3 * capacity) == 2 nodes healthy: one node restarts at a time.
    assert math.ceil(3 * mariadb.app["upgradeStrategy"]["minimumHealthCapacity"]) == 2
    galera = next(f for f in mariadb.files if f.name == "galera.cnf")
    for host, address in (("ctl1", "10.0.0.11"), ("ctl2", "10.0.0.12"), ("ctl3", "10.0.0.13")):
        text = galera.for_host(host).decode()
        assert f"wsrep_node_address={address}:4567" in text
        assert "gcomm://10.0.0.11:4567,10.0.0.12:4567,10.0.0.13:4567" in text
        start = next(f for f in mariadb.files if f.name == "mariadb-start.sh")
        peers = start.for_host(host).decode()
        assert f"/dev/tcp/{address}/" not in peers          # a node never probes itself
    boot = mariadb.definition.command("bootstrap")
    assert boot.run_once and not boot.job
    dep = mariadb.definition.daemon.dependencies if mariadb.definition.daemon else ()
    assert [d.path for d in dep] == ["mariadb/bootstrap"]


def test_rabbitmq_cluster_has_stable_node_names(tmp_path: Path):
    plan = _three_controller_plan(tmp_path)
    rabbitmq = plan.service("rabbitmq")
    conf = next(f for f in rabbitmq.files if f.name == "rabbitmq.conf").content.decode()
    for i, host in enumerate(("ctl1", "ctl2", "ctl3")):
        assert f"cluster_formation.classic_config.nodes.{i} = rabbit@{host}" in conf
    env = next(f for f in rabbitmq.files if f.name == "rabbitmq-env.conf")
    assert b"RABBITMQ_NODENAME=rabbit@ctl2" in env.for_host("ctl2")
    # no epmd: every node's distribution listens at its own address (rabbitmq-dist.conf)
    dist = next(f for f in rabbitmq.files if f.name == "rabbitmq-dist.conf")
    assert b"inet_dist_use_interface {10,0,0,12}" in dist.for_host("ctl2")
    assert b"-start_epmd false -erl_epmd_port ${RABBITMQ_DIST_PORT}" in dist.for_host("ctl2")
    cookie = rabbitmq.definition.files_dict["erlang.cookie"]
    assert (cookie.dest, cookie.owner, cookie.mode) == ("/var/lib/rabbitmq/.erlang.cookie",
                                                        "rabbitmq", "0400")


def test_keystone_jobs_depend_in_kollas_order(tmp_path: Path):
    plan = _three_controller_plan(tmp_path)
    keystone = plan.service("keystone").definition
    deps: dict[str, Any] = {c.name: [d.path for d in c.dependencies] for c in keystone.commands}
    assert deps == {"create_db": ["mariadb/daemon"], "create_user": ["keystone/create_db"],
                    "db_sync": ["keystone/create_user"],
                    "bootstrap": ["keystone/db_sync", "memcached/daemon"]}
    assert keystone.daemon is not None
    assert {d.path for d in keystone.daemon.dependencies} == {
        "keystone/bootstrap", "memcached/daemon"}
    assert all(c.job and c.run_once for c in keystone.commands)


def test_every_keystone_host_gets_the_same_fernet_keys(tmp_path: Path):
    """The repository of passwords.yml, as 0600 keystone files the daemon reads, the same
    on every host: a token issued by one instance validates on the others."""
    plan = _three_controller_plan(tmp_path)
    passwords = yaml.safe_load((tmp_path / "etc" / "passwords.yml").read_text())
    keys = passwords[FERNET_REPOSITORY]
    keystone = plan.service("keystone")
    specs = keystone.definition.files_dict
    assert keystone.definition.daemon is not None
    for index, key in keys.items():
        spec = specs[f"fernet-key-{index}"]
        assert (spec.dest, spec.owner, spec.mode, spec.per_host) == (
            f"/etc/keystone/fernet-keys/{index}", "keystone", "0600", False)
        assert f"fernet-key-{index}" in keystone.definition.daemon.files
    rendered = {f.name: f for f in keystone.files}
    for index, key in keys.items():
        assert rendered[f"fernet-key-{index}"].content == key.encode()
        assert not rendered[f"fernet-key-{index}"].host_variants


def test_commands_name_no_host_address(tmp_path: Path):
    """A definition is shared by every host of its group: a host's address in a command
    line would send every host to the first one's (it belongs in a per-host file)."""
    # (the sample's internal VIP is ctl1's address; a VIP is not a host's address)
    plan = load_plan(_inputs(tmp_path, "topology.yml", {"kolla_internal_vip_address": "10.9.9.9"}))
    addresses = ("10.0.0.11", "10.0.0.12", "10.0.0.13")
    for argv in _argvs(plan):
        assert not [a for a in argv if any(addr in a for addr in addresses)], argv
    memcached = plan.service("memcached")
    config = next(f for f in memcached.files if f.name == "config.json")
    for host, address in zip(("ctl1", "ctl2", "ctl3"), addresses, strict=True):
        command = json.loads(config.for_host(host))["command"]
        assert f"-l {address} -p 11211" in command


def test_haproxy_front_door(tmp_path: Path):
    """minimal-lb with TLS: HAProxy on every loadbalancer host with kolla's sections for the
    profile's services, the certificates as 0600 files, reload by SIGHUP; MariaDB's listener
    has one active backend; Keystone's catalog is https on the VIP; the database jobs wait
    for HAProxy, which waits for MariaDB."""
    plan = load_plan(_lb_inputs(tmp_path, "topology.yml"))
    services = {svc.service: svc for svc in plan.services}
    haproxy = services["haproxy"]
    assert haproxy.definition.reload == "sighup"
    files = {f.name: f for f in haproxy.files}
    assert set(files) == {"haproxy.cfg", "haproxy_run.sh", "keystone.cfg", "mariadb.cfg",
                          "rabbitmq.cfg", "haproxy.pem", "haproxy-internal.pem"}
    specs = haproxy.definition.files_dict
    assert specs["haproxy.pem"].dest == "/etc/haproxy/certificates/haproxy.pem"
    assert (specs["haproxy.pem"].owner, specs["haproxy.pem"].mode) == ("haproxy", "0600")
    assert specs["keystone.cfg"].dest == "/etc/haproxy/services.d/keystone.cfg"
    pem = (tmp_path / "etc" / "certificates" / "haproxy-internal.pem").read_bytes()
    assert files["haproxy-internal.pem"].content == pem
    keystone_cfg = files["keystone.cfg"].content.decode()
    assert ("bind 10.0.0.250:5000 ssl crt /etc/haproxy/certificates/haproxy-internal.pem"
            in keystone_cfg)
    mariadb_cfg = files["mariadb.cfg"].content.decode()
    servers = [line.split() for line in mariadb_cfg.splitlines()
               if line.strip().startswith("server ")]
    assert [s[1] for s in servers] == ["ctl1", "ctl2", "ctl3"]
    assert ["backup" in s for s in servers] == [False, True, True]
    assert "bind 10.0.0.250:3306" in mariadb_cfg
    keystone = services["keystone"].definition
    bootstrap = " ".join(next(c for c in keystone.commands if c.name == "bootstrap").command)
    assert "--bootstrap-internal-url https://10.0.0.250:5000" in bootstrap
    create_db = next(c for c in keystone.commands if c.name == "create_db")
    assert "haproxy/daemon" in {d.path for d in create_db.dependencies}
    assert "mariadb/daemon" in {d.path for d in haproxy.definition.daemon.dependencies}
    app = haproxy.app
    assert app["instances"] == 3


def test_keystone_backend_tls(tmp_path: Path):
    """kolla_enable_tls_backend: uwsgi serves https with this host's pair, written by the
    runner (0600 key); HAProxy verifies it against the deployment's CA; Marathon checks
    HTTPS; the readiness probe reads the https socket's address."""
    from kolla_mesos.certificates import generate, inputs

    extra = {**LB_TLS, "kolla_enable_tls_backend": "yes"}
    source = _inputs(tmp_path, "topology.yml", extra, profile="minimal-lb")
    tls = inputs.load(source.base_dir, source.config_dir, source.extra_vars)
    generate.generate(inputs.certificates_dir(source.config_dir), tls)
    plan = load_plan(source)
    services = {svc.service: svc for svc in plan.services}
    keystone = services["keystone"]
    files = {f.name: f for f in keystone.files}
    certs = tmp_path / "etc" / "certificates"
    assert files["keystone-cert.pem"].for_host("ctl2") == (certs / "ctl2-cert.pem").read_bytes()
    assert files["keystone-key.pem"].for_host("ctl3") == (certs / "ctl3-key.pem").read_bytes()
    specs = keystone.definition.files_dict
    assert (specs["keystone-key.pem"].dest, specs["keystone-key.pem"].mode) == (
        "/etc/keystone/certs/keystone-key.pem", "0600")
    uwsgi = files["keystone-uwsgi.ini"].for_host("ctl1").decode()
    assert ("https = 10.0.0.11:5000,/etc/keystone/certs/keystone-cert.pem,"
            "/etc/keystone/certs/keystone-key.pem") in uwsgi
    probe = " ".join(keystone.definition.daemon.ready["command"])
    line = "https = 10.0.0.11:5000,/etc/keystone/certs/keystone-cert.pem,/x.pem"
    sed = subprocess.run(["sed", "-n", probe.split("sed -n ", 1)[1].split(" /etc/")[0]
                          .strip("'")], input=line, capture_output=True, text=True)
    assert sed.stdout.strip() == "10.0.0.11:5000", sed
    assert keystone.app["healthChecks"][0]["protocol"] == "HTTPS"
    haproxy = {f.name: f for f in services["haproxy"].files}
    assert haproxy["ca.crt"].content == (certs / "ca" / "root.crt").read_bytes()
    section = haproxy["keystone.cfg"].content.decode()
    assert ("server ctl1 10.0.0.11:5000 check check-ssl inter 2000 rise 2 fall 5 ssl verify "
            "required ca-file /etc/haproxy/certificates/ca.crt") in section


def test_fernet_rotate_keeps_keystones_max_active_keys(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]):
    """`kolla-mesos fernet rotate` keeps as many keys as the rendered keystone.conf accepts
    (kolla's formula: expiry + allowed window over the rotation interval, plus 2), rewrites
    passwords.yml 0600 and prints no key."""
    inputs = _inputs(tmp_path, "topology.yml")
    assert configured_max_active_keys(load_plan(inputs)) == 3
    path = inputs.config_dir / "passwords.yml"
    before = yaml.safe_load(path.read_text())[FERNET_REPOSITORY]
    conf = tmp_path / "kolla-mesos.conf"
    conf.write_text(f"[kolla]\nconfig_dir = {inputs.config_dir}\nbase_dir = {REPO}\n"
                    "profile = minimal\n")
    for expected in ([0, 1, 2], [0, 2, 3], [0, 3, 4]):
        assert main(["--config-file", str(conf), "fernet", "rotate"]) == 0
        keys = yaml.safe_load(path.read_text())[FERNET_REPOSITORY]
        assert sorted(keys) == expected
        assert os.stat(path).st_mode & 0o777 == 0o600
    out = capsys.readouterr().out
    assert "primary 4, staged 0, at most 3" in out
    for key in [*before.values(), *keys.values()]:
        assert key not in out
    assert keys[3] != before[0] and keys[4] not in before.values()


@pytest.mark.parametrize(("value", "says"), [
    (None, "has no keystone_fernet_keys (kolla-mesos' own key, needed by keystone); run "
           "'kolla-mesos genpwd"),
    ({0: "short", 1: "short"}, "keystone_fernet_keys[0] is not a Fernet key"),
])
def test_a_missing_or_bad_fernet_repository_is_refused_before_rendering(
        tmp_path: Path, value: Any, says: str):
    inputs = _inputs(tmp_path, "topology-single.yml")
    path = inputs.config_dir / "passwords.yml"
    passwords = yaml.safe_load(path.read_text())
    if value is None:
        del passwords[FERNET_REPOSITORY]
    else:
        passwords[FERNET_REPOSITORY] = value
    path.write_text(yaml.safe_dump(passwords))
    with pytest.raises(PasswordError) as err:
        load_plan(inputs)
    assert says in str(err.value) and str(path) in str(err.value)
    # a profile without keystone does not need the repository
    load_plan(inputs, only=["mariadb"])
