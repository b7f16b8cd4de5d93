"""The compute profile's deployment files (Glance, Placement, Nova): they render for the sample
topologies from the synced kolla-ansible templates, their apps and jobs are what Marathon and
Chronos accept, their binaries come from the venvs of the templates' series, and no secret
reaches a command line, an app or a job."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from mesos_sim.chronos import jobs as chronos_jobs
from mesos_sim.marathon import validate as marathon_validate

from kolla_mesos.plan.build import find_deployment_files, load_profile
from kolla_mesos.plan.loader import load_plan
from kolla_mesos.plan.model import Plan
from tests.unit.test_deployment_files import DEPLOYMENT_FILES, REPO, SECRETS, _argvs, _inputs

COMPUTE = ["mariadb", "memcached", "rabbitmq", "keystone", "glance-api", "placement-api",
           "nova-api", "nova-metadata", "nova-scheduler", "nova-conductor", "nova-compute",
           "horizon"]
NEW_SECRETS = {"glance_database_password": "gdb-secret-1b7e",
               "glance_keystone_password": "gks-secret-6a2f",
               "placement_database_password": "pdb-secret-2c4d",
               "placement_keystone_password": "pks-secret-9e1a",
               "nova_database_password": "ndb-secret-3f5b",
               "nova_api_database_password": "nadb-secret-8d0c",
               "nova_keystone_password": "nks-secret-4b6e",
               "metadata_secret": "meta-secret-7a3d"}
RELEASE = yaml.safe_load((REPO / "common_templates/group_vars/all/common.yml").read_text())[
    "openstack_release"]


def _compute_plan(tmp_path: Path, topology: str) -> Plan:
    inputs = _inputs(tmp_path, topology)
    passwords = yaml.safe_load((inputs.config_dir / "passwords.yml").read_text())
    (inputs.config_dir / "passwords.yml").write_text(yaml.safe_dump(passwords | NEW_SECRETS))
    return load_plan(inputs, only=load_profile(DEPLOYMENT_FILES, "compute"))


@pytest.fixture(scope="module", params=["topology-single.yml", "topology.yml"])
def plan(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return _compute_plan(tmp_path_factory.mktemp("plan"), request.param)


def _files(plan: Plan, service: str) -> dict[str, str]:
    return {f.name: f.content.decode() for f in plan.service(service).files}


def test_the_compute_profile_is_minimal_plus_glance_placement_and_nova():
    assert load_profile(DEPLOYMENT_FILES, "compute") == COMPUTE


def test_apps_and_jobs_are_what_marathon_and_chronos_accept(plan: Plan):
    assert [s.service for s in plan.services] == COMPUTE
    for app in plan.apps():
        marathon_validate.check_app(json.loads(json.dumps(app)))
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    for job in plan.jobs():
        parsed = chronos_jobs.parse_job({**job.body, "schedule": "R1//PT1M"}, dependent=False,
                                        legacy=False, now=now)
        chronos_jobs.validate_new(parsed, legacy=False, now=now)
    commands = {(j.service, j.command) for j in plan.jobs()}
    assert {("glance-api", "db_sync"), ("glance-api", "register"),
            ("placement-api", "db_sync"), ("placement-api", "register"),
            ("nova-api", "api_db_sync"), ("nova-api", "register"),
            ("nova-conductor", "map_cell0"), ("nova-conductor", "db_sync"),
            ("nova-conductor", "create_cell"), ("nova-conductor", "discover_hosts")} <= commands


def test_no_secret_on_a_command_line_or_in_app_or_job_json(plan: Plan):
    public = json.dumps(plan.group_json()) + json.dumps([j.body for j in plan.jobs()])
    public += json.dumps(_argvs(plan))
    for key, secret in (SECRETS | NEW_SECRETS).items():
        assert secret not in public, key
    # the registration jobs read theirs from job-only 0600 files, root's
    for service in ("glance-api", "placement-api", "nova-api"):
        defn = plan.service(service).definition
        register = defn.command("register")
        assert set(register.files) == {"ks-register.json", "clouds.yaml"}
        for name in register.files:
            spec = defn.files_dict[name]
            assert (spec.owner, spec.mode) == ("root", "0600")
            assert not spec.dest.startswith("/")
        assert name in defn.job_only_files()
        files = _files(plan, service)
        assert SECRETS["keystone_admin_password"] in files["clouds.yaml"]
        spec = json.loads(files["ks-register.json"])
        project = service.split("-")[0]
        assert spec["users"][0]["password"] == NEW_SECRETS[f"{project}_keystone_password"]


def test_binaries_come_from_the_venvs_of_the_templates_series(plan: Plan):
    prefix = f"/opt/kolla-mesos/{RELEASE}/"
    for svc in plan.services[4:]:
        defn = svc.definition
        argv0 = [c.argv()[0] for c in [*defn.commands, defn.daemon] if c is not None]
        venv_paths = [a for a in argv0 if a.startswith("/opt/")]
        assert all(a.startswith(prefix) for a in venv_paths), (svc.service, argv0)
        path = dict(defn.daemon.env).get("PATH", "") if defn.daemon else ""
        assert venv_paths or path.startswith(prefix), svc.service
        # the image still names the kolla image of that release
        assert f":{RELEASE}-" in defn.image, defn.image


def test_nova_compute_runs_the_fake_driver_as_its_own_host(plan: Plan):
    compute = plan.service("nova-compute")
    for host in compute.hosts:
        rendered = next(f for f in compute.files if f.name == "nova.conf").for_host(host)
        conf = rendered.decode()
        assert "compute_driver = fake.FakeDriver" in conf
        assert f"host = {host}_nova-compute" in conf
        assert "[database]" not in conf    # computes reach the database through conductor


def test_cell_commands_parse_and_keep_passwords_off_argv(plan: Plan, tmp_path: Path):
    defn = plan.service("nova-conductor").definition
    assert "--database_connection" not in json.dumps(defn.command("map_cell0").argv())
    for name in ("create_cell", "discover_hosts"):
        script = defn.command(name).argv()[-1]
        path = tmp_path / name
        path.write_text(script)
        proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, (name, proc.stderr)
    want = len(plan.service("nova-compute").hosts)
    assert f"want={want};" in defn.command("discover_hosts").argv()[-1]


def test_glance_keeps_its_images_on_a_named_volume(plan: Plan):
    app: dict[str, Any] = next(a for a in plan.apps() if a["id"].endswith("/glance-api"))
    volumes = [p["value"] for p in app["container"]["docker"]["parameters"]]
    assert "glance:/var/lib/glance/" in volumes
    assert "filesystem_store_datadir = /var/lib/glance/images/" in \
        _files(plan, "glance-api")["glance-api.conf"]


def test_the_default_profile_has_a_deployment_file_for_every_service():
    # (Neutron comes with a later issue; until then `default` is `compute` behind HAProxy)
    known = find_deployment_files(DEPLOYMENT_FILES)
    default = load_profile(DEPLOYMENT_FILES, "default")
    assert default == [*load_profile(DEPLOYMENT_FILES, "compute"), "haproxy"]
    assert [name for name in default if name not in known] == []
