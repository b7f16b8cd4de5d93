"""Test helpers for the runner: a least-privilege deployment tree and published generations.

:class:`TestDeployment` plays the deployer with its own digest credentials: it creates the
deployment node and ``current`` with ACL ``[deployer: ALL, runner: READ]``, ``status``,
``locks`` and ``members`` with ``[deployer: ALL, runner: READ|WRITE|CREATE|DELETE]``, and
publishes generations (definition + files, per-host variants) the way
docs/service-definition.md lays them out.  It does not use the deployer's real store
(kolla_mesos/clients/zookeeper.py), so runner tests depend on the documented layout only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError
from kazoo.security import make_digest_acl

from kolla_mesos import definition, zkpaths
from kolla_mesos.runner import identity as identity_mod
from kolla_mesos.runner.app import Runner
from kolla_mesos.runner.session import Session, acl_to_json
from kolla_mesos.testing.waiting import wait_watch

# Random per process: no fixed credential exists in the repository (DESIGN section 4).
DEPLOYER = ("deployer", secrets.token_hex(16))
RUNNER = ("runner", secrets.token_hex(16))


@dataclasses.dataclass
class ServiceFiles:
    """One service of a generation: its definition (raw JSON) and its rendered files."""

    definition: dict[str, Any]
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    host_files: dict[tuple[str, str], bytes] = dataclasses.field(default_factory=dict)


def deployer_acl() -> list[Any]:
    """ACL of generations and ``current``: deployer ALL, runner READ."""
    return [make_digest_acl(*DEPLOYER, all=True), make_digest_acl(*RUNNER, read=True)]


def runner_write_acl() -> list[Any]:
    """ACL of status, locks and members: deployer ALL, runner READ|WRITE|CREATE|DELETE."""
    return [make_digest_acl(*DEPLOYER, all=True),
            make_digest_acl(*RUNNER, read=True, write=True, create=True, delete=True)]


class TestDeployment:
    """A deployment tree in a real ZooKeeper, written as the deployer."""

    __test__ = False  # not a pytest class

    def __init__(self, zk_hosts: str, root: str, deployment: str = "test") -> None:
        self.zk_hosts = zk_hosts
        self.root = root
        self.deployment = deployment
        self.client = KazooClient(hosts=zk_hosts, timeout=10,
                                  auth_data=[("digest", f"{DEPLOYER[0]}:{DEPLOYER[1]}")])
        self.client.start(timeout=15)
        base = zkpaths.deployment(root, deployment)
        self._create(root, b"", deployer_acl())
        meta = {"runner_acl": acl_to_json(runner_write_acl())}
        self._create(base, json.dumps(meta).encode(), deployer_acl())
        for area in (zkpaths.STATUS, zkpaths.LOCKS, zkpaths.MEMBERS):
            self._create(zkpaths.join(base, area), b"", runner_write_acl())
        self._create(zkpaths.join(base, zkpaths.GENERATIONS), b"", deployer_acl())

    def _create(self, path: str, data: bytes, acl: list[Any]) -> None:
        try:
            self.client.create(path, data, acl=acl, makepath=True)
        except NodeExistsError:
            self.client.set(path, data)

    def publish(self, number: int, services: list[ServiceFiles],
                make_current: bool = True) -> int:
        """Write generation ``number`` (validating each definition) and switch to it."""
        gen = zkpaths.generation(self.root, self.deployment, number)
        acl = deployer_acl()
        self._create(gen, b"", acl)
        self._create(zkpaths.manifest(gen), json.dumps(
            {"services": sorted(s.definition["service"] for s in services)}).encode(), acl)
        for svc in services:
            defn = definition.from_json(svc.definition)
            self._create(zkpaths.definition(gen, defn.project, defn.service), defn.dumps(), acl)
            for name, content in svc.files.items():
                self._create(zkpaths.file(gen, defn.project, defn.service, name), content, acl)
            for (name, host), content in svc.host_files.items():
                self._create(zkpaths.host_file(gen, defn.project, defn.service, name, host),
                             content, acl)
        if make_current:
            self.set_current(number)
        return number

    def set_current(self, number: int) -> None:
        """Point ``current`` at generation ``number`` (one atomic write)."""
        self._create(zkpaths.current(self.root, self.deployment), str(number).encode(),
                     deployer_acl())

    def path(self, *parts: str) -> str:
        """A path below the deployment node."""
        return zkpaths.join(zkpaths.deployment(self.root, self.deployment), *parts)

    def write_credentials(self, directory: str) -> str:
        """Write the runner's credentials file (mode 0600) and return its path."""
        path = os.path.join(directory, "zk-runner-credentials")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{RUNNER[0]}:{RUNNER[1]}\n")
        return path

    def env(self, credentials_file: str, project: str, service: str, host: str,
            **extra: str) -> dict[str, str]:
        """A task environment for a runner of ``project/service`` on ``host``."""
        env = {"KOLLA_DEPLOYMENT": self.deployment, "KOLLA_PROJECT": project,
               "KOLLA_SERVICE": service, "KOLLA_ZK_HOSTS": self.zk_hosts,
               "KOLLA_ZK_ROOT": self.root, "KOLLA_ZK_CREDENTIALS_FILE": credentials_file,
               "KOLLA_HOSTNAME": host, "KOLLA_ADDRESS": "127.0.0.1"}
        env.update(extra)
        return env

    def close(self) -> None:
        """Close the deployer's session."""
        self.client.stop()
        self.client.close()


def runner_process(env: Mapping[str, str], cwd: str, log_path: str,
                   ) -> subprocess.Popen[bytes]:
    """Start ``python -m kolla_mesos.runner.main`` with ``env`` (plus PATH) in ``cwd``."""
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the child
    try:
        # Its own session, so a test can kill the runner and its children as one group.
        return subprocess.Popen([sys.executable, "-m", "kolla_mesos.runner.main"], env=full,
                                cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        log.close()


class ThreadRunner:
    """A runner in a thread of this process, with its own ZooKeeper session."""

    def __init__(self, env: Mapping[str, str], cwd: str) -> None:
        self.identity = identity_mod.from_env(env)
        self.session = Session.connect(self.identity)
        self.runner = Runner(self.identity, self.session, cwd=cwd, task_env=env)
        self.result: int | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            if self.identity.job_mode:
                self.result = self.runner.run_job()
            else:
                self.result = self.runner.run_app()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
        finally:
            self.done.set()

    def start(self) -> ThreadRunner:
        """Start the thread."""
        self._thread.start()
        return self

    def join(self, timeout: float) -> bool:
        """Wait for the runner to finish."""
        return self.done.wait(timeout)

    def close(self) -> None:
        """Stop the daemon if any, wait for the thread and end the session."""
        self.runner.stop()
        self.done.wait(30)
        self.session.close()


def wait_node(client: KazooClient, path: str, predicate: Callable[[Any], bool],
              timeout: float = 20.0) -> Any:
    """Wait (with a watch) until ``path``'s JSON data (None while it does not exist)
    satisfies ``predicate``; return that data."""
    def read(watch: Callable[[Any], None]) -> tuple[Any] | None:
        value = None
        if client.exists(path, watch=watch) is not None:
            try:
                data, _ = client.get(path, watch=watch)
            except NoNodeError:
                data = b""
            value = json.loads(data.decode() or "null") if data else None
        return (value,) if predicate(value) else None
    return wait_watch(read, timeout, f"{path} to reach the expected state")[0]
