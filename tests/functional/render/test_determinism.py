"""Rendering is deterministic: same inputs, same bytes, in any process (hash seeds)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from kolla_mesos import passwords

TOP = pathlib.Path(__file__).resolve().parents[3]

SCRIPT = """
import hashlib, pathlib, sys, yaml
from kolla_mesos.render.templates import Renderer
from kolla_mesos.render.topology import load_topology
from kolla_mesos.render.variables import VariableSet
top, cfg = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
src = yaml.safe_load((top / "common_templates" / "sources.yml").read_text())
# (haproxy-config's template needs a project's `service`; keepalived.conf renders only on
# the loadbalancer hosts: as in the parity test)
pairs = [(s["role"], t, (s.get("task_vars") or {}).get(t))
         for s in src["services"].values() for t in s["templates"]
         if s["role"] != "haproxy-config"]
r = Renderer(top, VariableSet.load(top, cfg, sorted({p[0] for p in pairs})),
             load_topology(top / "tests" / "data" / "topology-3ctl.yml"))
digest = hashlib.sha256()
count = 0
for role, name, task_vars in pairs:
    for host in r.topology.hosts:
        if role == "loadbalancer" and host not in r.topology.hosts_of("loadbalancer"):
            continue
        digest.update(r.render_template(role, name, host, task_vars).encode())
        count += 1
print(count, digest.hexdigest())
"""


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("determinism")
    shutil.copy(TOP / "etc" / "kolla-mesos" / "globals.yml", path / "globals.yml")
    passwords.genpwd(path / "passwords.yml", TOP / "common_templates" / "passwords.yml",
                     ssh_bits=1024)
    return path


def test_same_bytes_across_processes_and_hash_seeds(cfg: pathlib.Path) -> None:
    outputs = set()
    for seed in ("1", "2", "random"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        res = subprocess.run([sys.executable, "-c", SCRIPT, str(TOP), str(cfg)], env=env,
                             capture_output=True, text=True, timeout=120, check=True)
        outputs.add(res.stdout.strip())
    assert len(outputs) == 1, outputs
    count = int(next(iter(outputs)).split()[0])
    assert count >= 200
