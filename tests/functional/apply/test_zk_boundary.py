"""One ZooKeeper boundary: status, rollback and deployment list reach ZooKeeper only through
the store, so a ZooKeeper outage in the middle of them is exit 4 with one sentence."""

from __future__ import annotations

import ast
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from kolla_mesos import errors
from kolla_mesos.apply.clients import Clients
from kolla_mesos.apply.rollback import rollback
from kolla_mesos.apply.status import service_status
from kolla_mesos.clients.chronos import ChronosClient
from kolla_mesos.clients.marathon import MarathonClient
from kolla_mesos.clients.mesos import MesosClient
from kolla_mesos.clients.zookeeper import Store
from kolla_mesos.testing.zookeeper import ZookeeperServer

PACKAGE = Path(__file__).resolve().parents[3] / "kolla_mesos"
#: the modules allowed to talk to kazoo: the deployer's store, the runner's own session (the
#: container side), and the test fixtures
KAZOO_ALLOWED = ("clients/zookeeper.py", "clients/zk_", "runner/", "testing/")


def test_no_module_outside_the_store_imports_kazoo() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(KAZOO_ALLOWED):
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{rel}: {n}" for n in names if n.split(".")[0] == "kazoo"]
            if isinstance(node, ast.Attribute) and node.attr == "client" and isinstance(
                    node.value, ast.Attribute) and node.value.attr == "store":
                offenders.append(f"{rel}:{node.lineno}: store.client")
    assert offenders == []


@pytest.fixture
def outage() -> Iterator[tuple[Clients, ZookeeperServer]]:
    """Clients connected to a ZooKeeper that the test then stops (Marathon is not needed:
    every call under test reads ZooKeeper first)."""
    server = ZookeeperServer().start()
    creds = ("deployer", secrets.token_urlsafe(12))
    store = Store(server.hosts, "/kolla", "outage", creds, timeout=2.0)
    nowhere = "http://127.0.0.1:9"
    clients = Clients(store, MarathonClient(nowhere, timeout=1), ChronosClient(nowhere, timeout=1),
                      MesosClient(nowhere, timeout=1), "outage")
    try:
        with clients:
            store.ensure_deployment({"deployment": "outage"})
            assert store.current_generation() is None  # connected and answering
            server.stop()
            yield clients, server
    finally:
        server.stop()


@pytest.mark.parametrize("call", ["status", "rollback", "deployment list"])
def test_zookeeper_outage_is_exit_4_in_one_sentence(outage: tuple[Clients, ZookeeperServer],
                                                    call: str) -> None:
    clients, _ = outage
    with pytest.raises(errors.KollaMesosError) as info:
        if call == "status":
            service_status(clients)
        elif call == "rollback":
            rollback(clients, "/kolla/outage", None, timeout=2.0)
        else:
            clients.store.deployments()
    assert isinstance(info.value, errors.ZookeeperError), repr(info.value)
    assert info.value.exit_code == errors.ExitCode.REMOTE == 4
    message = str(info.value)
    assert "\n" not in message and "ZooKeeper" in message, message
