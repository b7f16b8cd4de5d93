"""P4: render the synced template set for 200 hosts; compare with ansible-core's templar.

Renders every template of every service in common_templates/sources.yml for every host of
a 200-host topology (3 controllers, 197 compute agents; kolla-ansible's service groups), with the
kolla-mesos renderer, then (if deployment_files/profiles.yml exists) builds the plan of the
profile, then renders the same (template, host) pairs with ansible-core's Templar
(tests/ansible_ref.py, the parity reference).  Prints times, the ratio and peak memory.

Usage: .venv/bin/python benchmarks/render_200_hosts.py [--hosts 200] [--ansible-hosts N]
(``--ansible-hosts`` renders the Ansible side for the first N hosts only and extrapolates;
default: all hosts, the same work as ours).
"""

from __future__ import annotations

import argparse
import pathlib
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc

import yaml

TOP = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP))

from kolla_mesos import passwords  # noqa: E402
from kolla_mesos.render.templates import Renderer  # noqa: E402
from kolla_mesos.render.topology import Topology, parse_topology  # noqa: E402
from kolla_mesos.render.variables import VariableSet  # noqa: E402


def topology_data(n: int) -> dict:
    """N hosts: 3 controllers, the rest compute agents; the service groups (kolla-ansible's
    multinode layout) of the parity test topology."""
    hosts = {f"node{i:03d}": {"addresses": {"api": f"10.0.{i // 250}.{i % 250 + 1}",
                                            "tunnel": f"10.2.{i // 250}.{i % 250 + 1}"}}
             for i in range(n)}
    names = list(hosts)
    groups = yaml.safe_load((TOP / "tests" / "data" / "topology-3ctl.yml").read_text())["groups"]
    groups["control"] = names[:3]
    groups["compute"] = names[3:]
    return {"networks": ["api", "tunnel"], "hosts": hosts, "groups": groups}


def cases() -> list[tuple[str, str]]:
    src = yaml.safe_load((TOP / "common_templates" / "sources.yml").read_text())
    return [(s["role"], t) for s in src["services"].values() for t in s["templates"]]


def render_ours(cfg: pathlib.Path, topo: Topology, pairs: list[tuple[str, str]]) -> int:
    variables = VariableSet.load(TOP, cfg, sorted({r for r, _ in pairs}))
    renderer = Renderer(TOP, variables, topo)
    size = 0
    for role, name in pairs:
        for host in topo.hosts:
            size += len(renderer.render_template(role, name, host))
    return size


def plan(cfg: pathlib.Path) -> str | None:
    """Build the plan of the largest profile that has deployment files (default, then
    minimal); None without deployment_files/profiles.yml."""
    files = TOP / "deployment_files" / "profiles.yml"
    if not files.is_file():
        return None
    from kolla_mesos.errors import KollaMesosError
    from kolla_mesos.plan.build import PlanSettings
    from kolla_mesos.plan.loader import PlanInputs, load_plan

    profiles = yaml.safe_load(files.read_text())
    failures = []
    for profile in [p for p in ("default", "minimal") if p in profiles]:
        settings = PlanSettings(deployment_id="bench", profile=profile,
                                zk_hosts="127.0.0.1:1", zk_root="/kolla",
                                marathon_root="/kolla",
                                runner_credentials_path="/etc/kolla-mesos/runner.cred",
                                runner_command=("kolla-mesos-start",))
        t0 = time.perf_counter()
        try:
            load_plan(PlanInputs(TOP, cfg, settings, {}))
        except KollaMesosError as exc:
            failures.append(f"profile {profile}: {exc}")
            continue
        return f"profile {profile} ({len(profiles[profile])} services) planned in " \
               f"{time.perf_counter() - t0:.2f} s"
    return "no plan: " + " ".join(failures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--ansible-hosts", type=int, default=None)
    args = parser.parse_args()
    pairs = cases()
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        cfg = pathlib.Path(tmp)
        shutil.copy(TOP / "etc" / "kolla-mesos" / "globals.yml", cfg / "globals.yml")
        passwords.genpwd(cfg / "passwords.yml", TOP / "common_templates" / "passwords.yml",
                         ssh_bits=1024)
        data = topology_data(args.hosts)
        (cfg / "topology.yml").write_text(yaml.safe_dump(data))
        topo, problems = parse_topology(data)
        assert topo is not None, problems
        renders = len(pairs) * len(topo.hosts)

        t0 = time.perf_counter()
        size = render_ours(cfg, topo, pairs)
        ours = time.perf_counter() - t0
        rss_ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tracemalloc.start()
        render_ours(cfg, topo, pairs)
        heap_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(f"kolla-mesos: {renders} files ({len(pairs)} templates x {len(topo.hosts)} "
              f"hosts, {size / 2**20:.1f} MiB) in {ours:.2f} s; peak RSS {rss_ours:.0f} MiB, "
              f"peak Python heap {heap_peak:.0f} MiB")
        planned = plan(cfg)
        if planned:
            print(f"plan: {planned}")

        from tests.ansible_ref import AnsibleRenderer

        variables = VariableSet.load(TOP, cfg, sorted({r for r, _ in pairs}))
        task_vars = Renderer(TOP, variables, topo).task_vars
        n_ans = min(args.ansible_hosts or len(topo.hosts), len(topo.hosts))
        t0 = time.perf_counter()
        ref = AnsibleRenderer(TOP, variables, topo)
        for role, name in pairs:
            for host in list(topo.hosts)[:n_ans]:
                ref.render_template(role, name, host, task_vars.get((role, name)),
                                    {"cron_jobs": []} if role == "keystone" else None)
        ansible = (time.perf_counter() - t0) * len(topo.hosts) / n_ans
        rss_all = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        note = "" if n_ans == len(topo.hosts) else f" (extrapolated from {n_ans} hosts)"
        print(f"ansible-core: {renders} files in {ansible:.2f} s{note}; process peak RSS "
              f"{rss_all:.0f} MiB")
        print(f"ratio: kolla-mesos is {ansible / ours:.1f}x faster than ansible-core "
              f"(target >= 5x); kolla-mesos time {ours:.2f} s (target < 10 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
