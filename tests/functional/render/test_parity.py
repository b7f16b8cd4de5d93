"""Parity: our plain-Jinja2 rendering equals ansible-core's for every synced config file.

For every template of every service in common_templates/sources.yml and every host of a
3-controller topology (IPv4, and again with an IPv6 api network), the file we render
equals the one ansible-core renders from the same template with the same variables, host,
groups and hostvars (tests/ansible_ref.py).
Task-set facts that kolla-ansible computes with a script (keystone's ``cron_jobs``) come,
on the Ansible side, from running that script as kolla-ansible does.
"""

from __future__ import annotations

import importlib.metadata
import json
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

from kolla_mesos import passwords
from kolla_mesos.render.templates import Renderer
from kolla_mesos.render.topology import load_topology
from kolla_mesos.render.variables import VariableSet

pytest.importorskip("ansible", reason="ansible-core (test extra) is required")

TOP = pathlib.Path(__file__).resolve().parents[3]
SOURCES = yaml.safe_load((TOP / "common_templates" / "sources.yml").read_text())
# haproxy-config's template needs a project's `service`: test_haproxy_sections_... below
CASES = [(svc["role"], tpl, (svc.get("task_vars") or {}).get(tpl))
         for svc in SOURCES["services"].values() for tpl in svc["templates"]
         if svc["role"] != "haproxy-config"]


def _cron_script() -> pathlib.Path:
    dist = importlib.metadata.distribution("kolla-ansible")
    for f in dist.files or []:
        if f.as_posix().endswith("roles/keystone/files/fernet_rotate_cron_generator.py"):
            return pathlib.Path(str(dist.locate_file(f)))
    raise RuntimeError("kolla-ansible's fernet_rotate_cron_generator.py is not installed")


@pytest.fixture(scope="module", params=["topology-3ctl.yml", "topology-3ctl-ipv6.yml"])
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    cfg = tmp_path_factory.mktemp("parity-config")
    shutil.copy(TOP / "etc" / "kolla-mesos" / "globals.yml", cfg / "globals.yml")
    passwords.genpwd(cfg / "passwords.yml", TOP / "common_templates" / "passwords.yml",
                     ssh_bits=1024)
    roles = sorted({role for role, _, _ in CASES})
    variables = VariableSet.load(TOP, cfg, roles, ["keystone_logging_debug=yes"])
    topology = load_topology(TOP / "tests" / "data" / request.param)
    from tests.ansible_ref import AnsibleRenderer

    return Renderer(TOP, variables, topology), AnsibleRenderer(TOP, variables, topology)


def _ansible_facts(role: str, host: str, ours: Renderer) -> dict:
    """set_fact results kolla-ansible's tasks compute with a script, computed the same way."""
    if role != "keystone":
        return {}
    ctx = ours.context(host, role)
    hosts = ours.topology.groups["keystone"]
    if host not in hosts:
        return {"cron_jobs": []}  # kolla-ansible runs the script only on keystone hosts
    out = subprocess.run(
        [sys.executable, str(_cron_script()), "-t",
         str(int(ctx.resolve("fernet_key_rotation_interval")) // 60),
         "-i", str(hosts.index(host)), "-n", str(len(hosts))],
        check=True, capture_output=True, text=True).stdout
    return {"cron_jobs": json.loads(out)["cron_jobs"]}


def test_every_synced_template_renders_like_ansible(setup: tuple) -> None:
    ours, theirs = setup
    hosts = list(ours.topology.hosts)
    compared, mismatches, skipped = 0, [], 0
    for role, name, task_vars in CASES:
        for host in hosts:
            if role == "loadbalancer" and host not in ours.topology.hosts_of("loadbalancer"):
                skipped += 1  # keepalived.conf indexes its host in the group, as kolla
                continue      # renders it only there
            mine = ours.render_template(role, name, host, task_vars)
            ref = theirs.render_template(role, name, host, task_vars,
                                         _ansible_facts(role, host, ours))
            compared += 1
            if mine != ref:
                mismatches.append(f"{role}/{name} for {host}")
    print(f"parity: compared {compared} rendered files ({len(CASES)} templates x "
          f"{len(hosts)} hosts), {len(mismatches)} differ")
    assert compared + skipped == len(CASES) * len(hosts) and compared >= 60
    assert not mismatches, "differ from ansible-core: " + ", ".join(mismatches)


def test_per_service_variants_render_like_ansible(setup: tuple) -> None:
    """Templates kolla-ansible renders once per service (``service_name: item.key``), for
    every service of the role (on one controller: host dependence is covered above)."""
    ours, theirs = setup
    compared, mismatches = 0, []
    for role, name, task_vars in CASES:
        if not task_vars or "service_name" not in task_vars:
            continue
        services = ours.context(next(iter(ours.topology.hosts)), role).resolve(
            f"{role.replace('-', '_')}_services")
        assert services, role
        for service in services:
            variant = dict(task_vars, service_name=service)
            for host in list(ours.topology.hosts)[:1]:
                mine = ours.render_template(role, name, host, variant)
                ref = theirs.render_template(role, name, host, variant,
                                             _ansible_facts(role, host, ours))
                compared += 1
                if mine != ref:
                    mismatches.append(f"{role}/{name} for {service} on {host}")
    print(f"parity: compared {compared} per-service variants, {len(mismatches)} differ")
    assert compared >= 30
    assert not mismatches, "differ from ansible-core: " + ", ".join(mismatches)


HAPROXY_SWITCHES = {
    "plain": ["enable_external_mariadb_load_balancer=yes"],
    # TLS on every layer, a separate external VIP (external listeners), MariaDB's listener
    "tls": ["enable_external_mariadb_load_balancer=yes", "kolla_enable_tls_internal=yes",
            "kolla_enable_tls_external=yes", "kolla_enable_tls_backend=yes",
            "kolla_internal_vip_address=10.0.0.250", "kolla_external_vip_address=10.0.9.250",
            "kolla_external_fqdn=api.example.test", "haproxy_keystone_internal_weight=7"],
}


@pytest.mark.parametrize("switches", sorted(HAPROXY_SWITCHES))
def test_haproxy_sections_render_like_ansible(switches: str,
                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every project's services.d/<service>.cfg (haproxy-config's template, with the
    project's variables and `service` its <project>_services entry, as the haproxy-config
    role renders it) and haproxy.cfg, on every host, plain and with TLS on every layer."""
    cfg = tmp_path_factory.mktemp("haproxy-parity")
    shutil.copy(TOP / "etc" / "kolla-mesos" / "globals.yml", cfg / "globals.yml")
    passwords.genpwd(cfg / "passwords.yml", TOP / "common_templates" / "passwords.yml",
                     ssh_bits=1024)
    projects = sorted({svc["role"] for svc in SOURCES["services"].values()} -
                      {"haproxy-config", "loadbalancer", "nova-cell"})
    variables = VariableSet.load(TOP, cfg, [*projects, "haproxy-config", "loadbalancer"],
                                 HAPROXY_SWITCHES[switches])
    topology = load_topology(TOP / "tests" / "data" / "topology-3ctl.yml")
    from tests.ansible_ref import AnsibleRenderer

    ours, theirs = Renderer(TOP, variables, topology), AnsibleRenderer(TOP, variables, topology)
    hosts = list(topology.hosts)
    compared, mismatches, listeners = 0, [], 0
    for project in projects:
        scope = f"haproxy-config+{project}"
        services = ours.context(hosts[0], scope).resolve(f"{project.replace('-', '_')}_services")
        for key, service in services.items():
            if "haproxy" not in service:
                continue
            task_vars = {"service": f"{{{{ {project.replace('-', '_')}_services['{key}'] }}}}"}
            for host in hosts:
                mine = ours.render_template(scope, "haproxy_single_service_split.cfg.j2", host,
                                            task_vars)
                ref = theirs.render_template(scope, "haproxy_single_service_split.cfg.j2",
                                             host, task_vars)
                compared += 1
                listeners += mine.count("\nbackend ")
                if mine != ref:
                    mismatches.append(f"{project}/{key} for {host}")
    for host in hosts:
        for name in ("haproxy/haproxy_main.cfg.j2", "haproxy/haproxy_run.sh.j2"):
            compared += 1
            if ours.render_template("loadbalancer", name, host) != theirs.render_template(
                    "loadbalancer", name, host):
                mismatches.append(f"loadbalancer/{name} for {host}")
    print(f"haproxy parity ({switches}): compared {compared} files, {listeners} backends, "
          f"{len(mismatches)} differ")
    assert listeners >= 12 and compared >= 40
    assert not mismatches, "differ from ansible-core: " + ", ".join(mismatches)
