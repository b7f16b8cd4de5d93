"""pytest fixtures: a real ZooKeeper server and per-test deployment roots.

Loaded by ``tests/conftest.py`` with ``pytest_plugins``.  The simulator's fixtures live in
:mod:`kolla_mesos.testing.sim`.
"""

from __future__ import annotations

import itertools
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest
from kazoo.client import KazooClient

from kolla_mesos.testing.zookeeper import ZookeeperEnsemble, ZookeeperServer

_counter = itertools.count()


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """A SIGTERM (a CI time limit, ``kill``) stops the run as Ctrl-C does, so the fixtures'
    teardown runs: without it Python dies at once and every ZooKeeper server, simulator and
    task process the run started keeps running (measured: 136 processes, MariaDB, RabbitMQ
    and HAProxy among them, left by three stopped runs)."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


@pytest.fixture(scope="session")
def zk_server() -> Iterator[ZookeeperServer]:
    """One real ZooKeeper server (Debian's package) for the whole test session."""
    server = ZookeeperServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def zk_ensemble() -> Iterator[ZookeeperEnsemble]:
    """Three real ZooKeeper servers forming one quorum, for the tests of one module that
    kill and restart its members (each test leaves all three serving)."""
    ensemble = ZookeeperEnsemble(3)
    ensemble.start()
    try:
        yield ensemble
    finally:
        ensemble.stop()


@pytest.fixture
def zk_hosts(zk_server: ZookeeperServer) -> str:
    """Connection string of the session's ZooKeeper."""
    return zk_server.hosts


@pytest.fixture
def zk_root(zk_server: ZookeeperServer, request: pytest.FixtureRequest) -> str:
    """A fresh root path (instead of /kolla) unique to this test."""
    name = "".join(ch if ch.isalnum() else "_" for ch in request.node.name)[:60]
    return f"/t{next(_counter)}_{name}"


@pytest.fixture
def zk_admin(zk_server: ZookeeperServer) -> Iterator[KazooClient]:
    """A client authenticated as ZooKeeper's super user: reads everything."""
    client = zk_server.admin_client()
    try:
        yield client
    finally:
        client.stop()
        client.close()
