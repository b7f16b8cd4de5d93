"""The clients one command needs, built from settings, and the few calls apply makes.

:class:`Clients` owns the ZooKeeper store and the Marathon, Chronos and Mesos clients for
one deployment; it is the seam between the apply/CLI layer and the I/O modules in
:mod:`kolla_mesos.clients`.
"""

from __future__ import annotations

import getpass
import socket
from pathlib import Path
from types import TracebackType
from typing import Any

from kolla_mesos import errors
from kolla_mesos.clients.chronos import ChronosClient
from kolla_mesos.clients.marathon import MarathonClient
from kolla_mesos.clients.mesos import MesosClient
from kolla_mesos.clients.zk_acl import read_runner_credentials
from kolla_mesos.clients.zookeeper import Store, read_credentials
from kolla_mesos.passwords import read_passwords
from kolla_mesos.secrets import Masker, certificate_key_lines, secret_values
from kolla_mesos.settings import Settings


class Clients:
    """Connected clients for one deployment (use as a context manager)."""

    def __init__(self, store: Store, marathon: MarathonClient, chronos: ChronosClient,
                 mesos: MesosClient, deployment_id: str, config_dir: str | None = None,
                 ) -> None:
        self.store = store
        self.marathon = marathon
        self.chronos = chronos
        self.mesos = mesos
        self.deployment_id = deployment_id
        self.config_dir = config_dir

    @classmethod
    def from_settings(cls, conf: Settings) -> Clients:
        """Build (not yet connected) clients from kolla-mesos settings."""
        zk = conf.zookeeper
        if not zk.credentials_file:
            raise errors.SettingsError(
                "[zookeeper] credentials_file is not set: the deployer needs digest "
                "credentials ('user:password' in a 0600 file)."
            )
        runner = read_runner_credentials(zk.runner_credentials_dir) \
            if zk.runner_credentials_dir else None
        store = Store(zk.hosts, zk.root, conf.kolla.deployment_id,
                      read_credentials(zk.credentials_file), runner, timeout=zk.timeout)
        marathon_creds = None
        if conf.marathon.credentials_file:
            marathon_creds = read_credentials(conf.marathon.credentials_file, "Marathon")
        marathon = MarathonClient(conf.marathon.url, timeout=conf.marathon.timeout,
                                  credentials=marathon_creds)
        chronos = ChronosClient(conf.chronos.url, timeout=conf.chronos.timeout)
        mesos = MesosClient(conf.mesos.url, timeout=conf.mesos.timeout)
        chronos.mesos = mesos
        return cls(store, marathon, chronos, mesos, conf.kolla.deployment_id,
                   conf.kolla.config_dir)

    def __enter__(self) -> Clients:
        self.store.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.store.close()
        self.marathon.close()
        self.chronos.close()
        self.mesos.close()

    # -- helpers used by commands ------------------------------------------------------------

    @staticmethod
    def identity() -> str:
        """``user@host`` recorded in manifests."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return f"{user}@{socket.gethostname()}"

    def http_writes(self) -> int:
        """Write requests sent to Marathon and Chronos so far."""
        return len(self.marathon.writes) + len(self.chronos.writes)

    def apps_in_group(self, group_id: str) -> dict[str, dict[str, Any]]:
        """Marathon apps under ``group_id`` by id (empty when the group does not exist)."""
        return {str(app["id"]): app for app in self.marathon.list_apps(group_id)}

    def generation_nodes(self, generation: int | None) -> tuple[int, dict[str, bytes]]:
        """(number, nodes) of a generation (default: current)."""
        number = generation if generation is not None else self.store.current_generation()
        if number is None:
            raise errors.ConfigError(
                f"Deployment {self.deployment_id!r} has no generation yet (run 'kolla-mesos "
                "deploy' first)."
            )
        if generation is not None:
            # the operator named it: a missing one is a bad input, as for 'rollback --to N'
            generations = self.store.list_generations()
            if number not in generations:
                raise errors.ConfigError(
                    f"Generation {number} does not exist (available: "
                    f"{', '.join(map(str, generations)) or 'none'})."
                )
        return number, self.store.read_generation(number)

    def masker(self) -> Masker:
        """A secret masker primed with the values of passwords.yml (when it exists).

        A passwords.yml that exists but cannot be parsed is a :class:`PasswordError`: masking
        without its values could show them, and PyYAML's own message would quote them.
        """
        values: list[str] = []
        if self.config_dir:
            path = Path(self.config_dir) / "passwords.yml"
            values = secret_values(read_passwords(path, must_exist=False, check_mode=False))
            values += certificate_key_lines(Path(self.config_dir) / "certificates")
        return Masker(values)
