"""Runners come back as soon as ZooKeeper does (issue 16 §6).

A private ZooKeeper server is stopped for longer than kazoo's default reconnect backoff
tolerates (it grows to minutes), then started again on the same port and data: the runner's
session reconnects within about a second of the server answering, so the session survives
and the member node never disappears; after an expiry the member is re-created at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.protocol.states import KazooState

from kolla_mesos.runner import identity as identity_mod
from kolla_mesos.runner.membership import Membership
from kolla_mesos.runner.session import Session
from kolla_mesos.testing.runner import TestDeployment, wait_node
from kolla_mesos.testing.zookeeper import ZookeeperServer, expire_session

pytestmark = pytest.mark.timeout(120)

#: How long ZooKeeper is down: kazoo's default backoff (0.1 s doubling) would then wait
#: up to 13 s more before its next attempt, and its session (10 s) would expire.
OUTAGE = 12.0


@pytest.fixture
def private_zk(tmp_path: Path) -> Iterator[ZookeeperServer]:
    server = ZookeeperServer(data_dir=str(tmp_path / "zk"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_runner_reconnects_and_keeps_its_member_when_zookeeper_returns(
        private_zk: ZookeeperServer, tmp_path: Path) -> None:
    dep = TestDeployment(private_zk.hosts, "/reconnect")
    env = dep.env(dep.write_credentials(str(tmp_path)), "p", "svc", "host1")
    session = Session.connect(identity_mod.from_env(env), session_timeout=10)
    member = Membership(session, "host1", "127.0.0.1")
    member.register(1, os.getpid())
    connected = threading.Event()
    lost = threading.Event()

    def listener(state: str) -> None:
        if state == KazooState.CONNECTED:
            connected.set()
        else:
            connected.clear()
            lost.set()

    session.client.add_listener(listener)
    try:
        private_zk.stop()
        assert lost.wait(10), "the runner never noticed that ZooKeeper went away"
        time.sleep(OUTAGE)  # the outage itself (the fault this test injects)
        private_zk.start()
        back = time.monotonic()
        assert connected.wait(10), "the runner did not reconnect"
        delay = time.monotonic() - back
        assert delay < 2.5, f"the runner reconnected {delay:.1f} s after ZooKeeper was back"
        admin = private_zk.admin_client()
        try:
            # the session survived: its member node was never deleted nor re-created
            data, stat = admin.get(member.path)
            assert stat.ephemeralOwner == session.client.client_id[0]
            assert member.registrations == 1
            # after an expiry (a longer outage) the member is re-created at once
            expire_session(private_zk.hosts, session.client)
            wait_node(admin, member.path,
                      lambda value: value is not None and value.get("pid") == os.getpid(),
                      timeout=5)
            assert admin.get(member.path)[1].ephemeralOwner == session.client.client_id[0]
        finally:
            admin.stop()
            admin.close()
    finally:
        session.client.remove_listener(listener)
        member.unregister()
        session.close()
        dep.close()
