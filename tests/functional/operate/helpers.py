"""A two-agent simulator and a test-profile deployment spread over both agents.

The store service runs on agent1 and agent2 (so ``logs`` prefixes its lines with the host),
web on agent1.  Store mounts two named volumes: ``<deployment>_data`` and ``shared_cache``
(which every deployment of this base mounts).  The servers bind their agent's address
(``HOST``, set by the simulator as Mesos does) and print one line per HTTP request to stdout,
so that web's health checks (one GET per second) keep writing new lines for ``logs
--follow``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mesos_sim.simulator import Simulator

from kolla_mesos.clients import zk_acl
from tests.functional.deploy_helpers import DATA, DeployEnv, make_env

HOSTS = ("agent1", "agent2")


def two_agent_simulator(state: Path) -> Simulator:
    """A started simulator with agent1 (127.0.1.1) and agent2 (127.0.1.2)."""
    agents = [{"hostname": f"agent{i}", "address": f"127.0.1.{i}"} for i in (1, 2)]
    sim = Simulator(state, agents=agents, chronos_failure_retry=0.2)
    sim.start()
    return sim


def profile_base(tmp_path: Path) -> Path:
    """The test profile's base with servers that bind HOST and log each request."""
    base = tmp_path / "base"
    if not base.exists():
        shutil.copytree(DATA / "testbase", base)
        server = base / "config/testing/templates/server.py.j2"
        server.write_text(server.read_text().replace(
            'os.environ.get("KOLLA_BIND", "0.0.0.0")', 'os.environ.get("HOST", "0.0.0.0")'
        ).replace("    def log_message(self, *args):\n        pass",
                  "    def log_message(self, fmt, *args):\n"
                  "        print('request', fmt % args, flush=True)"))
        # one volume of each deployment's own and one that every deployment shares
        store = base / "deployment_files/testing/store.yml.j2"
        store.write_text(store.read_text().replace("app:\n", (
            "app:\n  container:\n    volumes:\n"
            '      - {containerPath: /data, hostPath: "{{ deployment_id }}_data", mode: RW}\n'
            "      - {containerPath: /cache, hostPath: shared_cache, mode: RW}\n"), 1))
    return base


def two_agent_env(tmp_path: Path, name: str, zk_hosts: str, zk_root: str, sim: Simulator,
                  deployment_id: str = "t1", store_hosts: tuple[str, ...] = HOSTS,
                  ) -> DeployEnv:
    """A deployment directory ``tmp_path/name`` for the two-agent simulator."""
    (tmp_path / name).mkdir()
    env = make_env(tmp_path / name, zk_hosts, zk_root, sim.urls(), deployment_id=deployment_id,
                   base_dir=profile_base(tmp_path), sim_state=sim.state_dir)
    set_topology(env, store_hosts)
    zk_acl.generate_runner_credentials(env.etc / "runners", list(HOSTS))
    return env


def set_topology(env: DeployEnv, store_hosts: tuple[str, ...]) -> None:
    """topology.yml with both agents, store on ``store_hosts`` and web on agent1."""
    (env.etc / "topology.yml").write_text(
        "hosts:\n" + "".join(f"  agent{i}: {{addresses: {{api: 127.0.1.{i}}}}}\n"
                             for i in (1, 2))
        + f"groups:\n  store: [{', '.join(store_hosts)}]\n  web: [agent1]\n")
