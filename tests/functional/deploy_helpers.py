"""Helpers for the deploy pipeline's functional tests: a deployment directory and the CLI.

Each test gets its own kolla-mesos.conf, random digest credentials (mode 0600: the
deployer's and one runner identity per host), globals, passwords and topology, pointing at
the session's real ZooKeeper and at the simulator's Marathon, Chronos and Mesos APIs.  The
CLI runs as a real subprocess (``kolla-mesos ...``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from kolla_mesos.clients import zk_acl
from kolla_mesos.testing.zookeeper import free_port

DATA = Path(__file__).resolve().parents[1] / "data"
BIN = Path(sys.executable).parent
# Random per run: no fixed credential exists in the repository (DESIGN section 4).
DEPLOYER = ("kolla-deployer", secrets.token_hex(16))


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600."""
    path.write_text(text)
    os.chmod(path, 0o600)


@dataclasses.dataclass
class DeployEnv:
    """One test deployment: its directory, settings file and ports."""

    root: Path
    conf: Path
    etc: Path
    deployment_id: str
    zk_root: str
    store_port: int
    web_port: int
    sim_state: Path | None = None

    def task_logs(self, limit: int = 3000) -> str:
        """The tail of every task's stderr in the simulator (for failure messages)."""
        if self.sim_state is None:
            return ""
        out = []
        for path in sorted(self.sim_state.glob("slaves/**/runs/*/stderr")):
            if path.parent.name == "latest":
                continue
            text = path.read_text(errors="replace")[-limit:]
            out.append(f"--- {path.parts[-4][:70]}\n{text}")
        return "\n".join(out)

    def run(self, *args: str, timeout: float = 240, check: bool = False,
            ) -> subprocess.CompletedProcess[str]:
        """Run ``kolla-mesos --config-file CONF ARGS`` and return the completed process."""
        cmd = [str(BIN / "kolla-mesos"), "--config-file", str(self.conf),
               "-e", f"store_port={self.store_port}", "-e", f"web_port={self.web_port}",
               "-e", f"python={sys.executable}", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
                f"stderr:\n{proc.stderr}\ntask logs:\n{self.task_logs()}")
        return proc

    def json(self, *args: str, timeout: float = 240) -> Any:
        """Run a list/show command with ``-f json`` and parse its output."""
        return json.loads(self.run(*args, "-f", "json", timeout=timeout, check=True).stdout)


def make_env(tmp_path: Path, zk_hosts: str, zk_root: str, urls: dict[str, str],
             deployment_id: str = "t1", profile: str = "test",
             base_dir: Path | None = None, sim_state: Path | None = None) -> DeployEnv:
    """Lay out a deployment directory for the test profile."""
    etc = tmp_path / "etc"
    etc.mkdir()
    for name in ("globals.yml", "topology.yml"):
        shutil.copy(DATA / "testconfig" / name, etc / name)
    write_private(etc / "passwords.yml", (DATA / "testconfig" / "passwords.yml").read_text())
    write_private(etc / "deployer.cred", ":".join(DEPLOYER) + "\n")
    # one runner identity per topology host, as 'kolla-mesos genpwd' creates them; the
    # simulator's agents share this file system, so each finds its own through '{host}'
    hosts = yaml.safe_load((etc / "topology.yml").read_text())["hosts"]
    zk_acl.generate_runner_credentials(etc / "runners", hosts)
    conf = etc / "kolla-mesos.conf"
    conf.write_text(f"""[kolla]
deployment_id = {deployment_id}
profile = {profile}
config_dir = {etc}
base_dir = {base_dir or DATA / "testbase"}
runner_command = {BIN / "kolla-mesos-start"}
deploy_timeout = 120

[zookeeper]
hosts = {zk_hosts}
root = {zk_root}
credentials_file = {etc / "deployer.cred"}
runner_credentials_dir = {etc / "runners"}
runner_credentials_path = {etc / "runners"}/{{host}}.cred
timeout = 10

[marathon]
url = {urls["marathon"]}

[chronos]
url = {urls["chronos"]}

[mesos]
url = {urls["mesos"]}
""")
    return DeployEnv(root=tmp_path, conf=conf, etc=etc, deployment_id=deployment_id,
                     zk_root=zk_root, store_port=free_port(), web_port=free_port(),
                     sim_state=sim_state)
