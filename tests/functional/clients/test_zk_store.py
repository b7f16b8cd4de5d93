"""The ZooKeeper store against a real ZooKeeper: ACLs, generations, batching, crash safety."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError

from kolla_mesos import errors, zkpaths
from kolla_mesos.clients import zk_acl, zk_batch
from kolla_mesos.clients.zookeeper import Store
from kolla_mesos.testing.zookeeper import ZookeeperServer, free_port

# Random per run: no fixed credential in the repository (tests/unit/test_no_fixed_credentials).
DEPLOYER = ("deployer", secrets.token_hex(16))
RUNNER = ("runner", secrets.token_hex(16))
#: the one host (node1) of these tests, with its runner identity
RUNNERS = {"node1": RUNNER}
DEP = "demo"
ROOT_DIR = Path(__file__).resolve().parents[3]


@pytest.fixture
def store(zk_hosts: str, zk_root: str) -> Iterator[Store]:
    with Store(zk_hosts, zk_root, DEP, DEPLOYER, RUNNERS, timeout=10) as st:
        st.ensure_deployment({"id": DEP})
        yield st


def client(server: ZookeeperServer, creds: tuple[str, str] | None) -> KazooClient:
    return server.client(auth=zk_acl.auth_data(creds) if creds else None)


def small_generation(tag: str) -> dict[str, bytes]:
    return {
        "manifest": json.dumps({"tag": tag}).encode(),
        "services/keystone/keystone/definition": b'{"schema": 1}',
        "services/keystone/keystone/files/keystone.conf": f"[DEFAULT]\n# {tag}\n".encode(),
        "services/keystone/keystone/files/wsgi.conf": b"common",
        "services/keystone/keystone/files/wsgi.conf/hosts/node1": b"node1 variant",
        "services/keystone/keystone/files/empty.conf": b"",
    }


def test_write_switch_read_and_gc(store: Store) -> None:
    assert store.current_generation() is None
    assert store.list_generations() == []
    numbers = []
    for i in range(4):
        n = store.write_generation(small_generation(str(i)))
        assert store.current_generation() == (numbers[-1] if numbers else None)
        store.switch_current(n, numbers[-1] if numbers else None)
        numbers.append(n)
    assert numbers == [1, 2, 3, 4]
    assert store.current_generation() == 4
    assert store.read_generation(3) == small_generation("2")
    writes = store.writes
    assert store.gc(keep=2) == [1, 2]
    assert store.list_generations() == [3, 4]
    # garbage collection is counted apart from the writes a deploy reports
    assert store.writes == writes and store.gc_deletes == 2 * (len(small_generation("")) + 6)
    # current is never collected, even when it is older than the newest `keep`
    store.switch_current(3, 4)
    store.write_generation(small_generation("5"))
    assert store.gc(keep=1) == [4]
    assert store.list_generations() == [3, 5]


def test_switch_detects_concurrent_deployer(store: Store, zk_hosts: str, zk_root: str) -> None:
    first = store.write_generation(small_generation("a"))
    store.switch_current(first, None)
    second = store.write_generation(small_generation("b"))
    with Store(zk_hosts, zk_root, DEP, DEPLOYER, RUNNERS) as other:
        third = other.write_generation(small_generation("c"))
        other.switch_current(third, first)
    with pytest.raises(errors.LockedError, match="expected 1"):
        store.switch_current(second, first)
    assert store.current_generation() == third
    with pytest.raises(errors.LockedError):
        store.switch_current(second, None)


def test_generation_number_taken_meanwhile(store: Store, zk_hosts: str, zk_root: str) -> None:
    assert store.list_generations() == []
    with Store(zk_hosts, zk_root, DEP, DEPLOYER, RUNNERS) as other:
        assert other.write_generation(small_generation("other")) == 1
    # store still believes 0 is the highest number: its first transaction fails atomically
    assert store.write_generation(small_generation("mine")) == 2
    assert store.read_generation(1) == small_generation("other")
    assert store.read_generation(2) == small_generation("mine")


def test_switch_refuses_incomplete_generation(store: Store, zk_admin: KazooClient) -> None:
    n = store.write_generation(small_generation("a"))
    zk_admin.delete(zkpaths.manifest(zkpaths.generation(store.root, DEP, n)))
    with pytest.raises(errors.ZookeeperError, match="incomplete"):
        store.switch_current(n, None)
    assert store.current_generation() is None


def test_ensure_deployment_is_idempotent(store: Store) -> None:
    before = store.writes
    store.ensure_deployment({"id": DEP})
    assert store.writes == before
    store.ensure_deployment({"id": DEP, "changed": True})
    assert store.writes == before + 1
    metadata = store.metadata() or {}
    runner_acl = metadata.pop("runner_acl")
    assert metadata == {"id": DEP, "changed": True}
    # the ACL runners put on the nodes they create (they cannot read digests themselves)
    assert {entry["id"].split(":")[0] for entry in runner_acl} == {"deployer", "runner"}


def test_acls(store: Store, zk_server: ZookeeperServer) -> None:
    n = store.write_generation(small_generation("a"))
    store.switch_current(n, None)
    runner = client(zk_server, RUNNER)
    anon = client(zk_server, None)
    stranger = client(zk_server, ("deployer", secrets.token_hex(8)))
    base = store.path
    gen = zkpaths.generation(store.root, DEP, n)
    try:
        runner_acl = zk_acl.runner_write_acl(DEPLOYER, RUNNERS)
        status = zkpaths.status(store.root, DEP, "keystone", "db_sync", "abc", "node1")
        runner.create(status, b'{"state": "done"}', acl=runner_acl, makepath=True)
        lock = zkpaths.lock(store.root, DEP, "keystone", "db_sync")
        runner.create(lock, b"", acl=runner_acl, makepath=True)
        member = zkpaths.members(store.root, DEP, "keystone", "node1")
        runner.create(member, b"{}", acl=runner_acl, makepath=True, ephemeral=True)
        runner.set(status, b'{"state": "failed"}')
        runner.delete(lock)
        # runners read the deployment, current and the generation
        assert runner.get(zkpaths.current(store.root, DEP))[0] == str(n).encode()
        assert runner.get(gen + "/services/keystone/keystone/files/keystone.conf")[0]
        assert runner.get_children(base)
        # ... but cannot change them
        for path, op in [
            (zkpaths.current(store.root, DEP), lambda p: runner.set(p, b"99")),
            (gen, lambda p: runner.set(p, b"x")),
            (gen + "/extra", lambda p: runner.create(p, b"x")),
            (gen + "/manifest", lambda p: runner.delete(p)),
            (zkpaths.generations(store.root, DEP) + "/0000000099",
             lambda p: runner.create(p, b"")),
            (base + "/other", lambda p: runner.create(p, b"")),
            (zkpaths.deploy_lock(store.root, DEP), lambda p: runner.get_children(p)),
        ]:
            with pytest.raises(NoAuthError):
                op(path)
        every_kind = [
            base, zkpaths.current(store.root, DEP), zkpaths.generations(store.root, DEP), gen,
            zkpaths.manifest(gen), gen + "/services", gen + "/services/keystone/keystone",
            gen + "/services/keystone/keystone/definition",
            gen + "/services/keystone/keystone/files/keystone.conf",
            gen + "/services/keystone/keystone/files/wsgi.conf/hosts/node1",
            base + "/status", status, base + "/locks", base + "/members", member,
            zkpaths.deploy_lock(store.root, DEP),
        ]
        for other in (anon, stranger):
            for path in every_kind:
                with pytest.raises(NoAuthError):
                    other.get(path)
                with pytest.raises(NoAuthError):
                    other.get_children(path)
        # the root only reveals deployment names
        assert anon.get_children(store.root) == [DEP]
    finally:
        for c in (runner, anon, stranger):
            c.stop()
            c.close()


def test_wrong_credentials_name_the_path(store: Store, zk_hosts: str, zk_root: str) -> None:
    store.switch_current(store.write_generation(small_generation("a")), None)
    with Store(zk_hosts, zk_root, DEP, ("deployer", secrets.token_hex(8))) as bad:
        with pytest.raises(errors.ZookeeperError, match=rf"'deployer'.*{zk_root}/{DEP}"):
            bad.current_generation()
        with pytest.raises(errors.ZookeeperError, match="credentials are wrong"):
            bad.write_generation(small_generation("x"))


def test_unreachable_hosts() -> None:
    hosts = f"127.0.0.1:{free_port()}"
    setting = r"\(the setting \[zookeeper\] hosts\)"
    with pytest.raises(errors.ZookeeperError, match=rf"no server of {hosts} {setting}"):
        Store(hosts, "/kolla", DEP, DEPLOYER, timeout=1).connect()


def test_deploy_lock_is_exclusive(store: Store, zk_hosts: str, zk_root: str) -> None:
    with store.deploy_lock():
        with Store(zk_hosts, zk_root, DEP, DEPLOYER) as other:
            with pytest.raises(errors.LockedError, match="holds"):
                with other.deploy_lock(timeout=0.5):
                    pass
    with Store(zk_hosts, zk_root, DEP, DEPLOYER) as other, other.deploy_lock(timeout=5):
        pass


def test_status_and_members(store: Store, zk_server: ZookeeperServer) -> None:
    runner = client(zk_server, RUNNER)
    acl = zk_acl.runner_write_acl(DEPLOYER, RUNNERS)
    try:
        for host in ("node1", "node2"):
            runner.create(zkpaths.status(store.root, DEP, "keystone", "db_sync", "h1", host),
                          json.dumps({"state": "done", "host": host}).encode(), acl=acl,
                          makepath=True)
        runner.create(zkpaths.members(store.root, DEP, "keystone", "node1"),
                      b'{"host": "node1"}', acl=acl, makepath=True, ephemeral=True)
        status = store.read_status()
        assert status["keystone"]["db_sync"]["h1"]["node2"] == {"state": "done",
                                                                 "host": "node2"}
        assert store.members() == {"keystone": {"node1": {"host": "node1"}}}
    finally:
        runner.stop()
        runner.close()


def test_batching_many_small_nodes(store: Store) -> None:
    nodes = {f"services/p/s{i % 40}/files/f{i}": os.urandom(700) for i in range(3000)}
    before = store.writes
    n = store.write_generation(nodes)
    read = store.read_generation(n)
    assert {k: v for k, v in read.items() if k != "manifest"} == nodes
    # 3000 files, 40 services + their files dirs + services/p + gen root + manifest
    assert store.writes - before == 3000 + 40 * 2 + 2 + 2


def test_batching_large_nodes_with_exact_limit(zk_hosts: str, zk_root: str) -> None:
    # Without margin: if the size were under-counted, ZooKeeper would drop the request.
    with Store(zk_hosts, zk_root, DEP, DEPLOYER, batch_limit=zk_batch.ZK_MAX_REQUEST) as st:
        st.ensure_deployment({})
        size = 340_000
        nodes = {f"big/n{i}": bytes([i]) * size for i in range(7)}
        ops = zk_batch.tree_create_ops("/x", nodes, zk_acl.read_acl(DEPLOYER, None))
        assert len(zk_batch.plan_batches(ops, zk_batch.ZK_MAX_REQUEST)) >= 3
        n = st.write_generation(nodes)
        assert st.read_generation(n)["big/n6"] == bytes([6]) * size
        # A node whose transaction is exactly at the limit is accepted by the server
        # (so sizes are counted exactly), one byte more is refused before sending.
        path = zkpaths.generation(st.root, DEP, n + 1) + "/exact"
        acl = zk_acl.read_acl(DEPLOYER, None)
        fill = zk_batch.ZK_MAX_REQUEST - zk_batch.batch_size([zk_batch.create(path, b"", acl)])
        assert st.write_generation({"exact": b"e" * fill}) == n + 1
        assert len(st.read_generation(n + 1)["exact"]) == fill
        with pytest.raises(errors.ConfigError, match="/exact is too large"):
            st.write_generation({"exact": b"e" * (fill + 1)})


def test_killed_deployer_leaves_previous_generation_current(
        store: Store, zk_admin: KazooClient, tmp_path: Path) -> None:
    first = store.write_generation(small_generation("complete"))
    store.switch_current(first, None)
    cred = tmp_path / "deployer.cred"
    zk_acl.write_credentials(cred, DEPLOYER)
    gen = zkpaths.generation(store.root, DEP, first + 1)
    # 120 services x 300 KB = ~36 MB: about 40 transactions.  Kill once the third
    # transaction (svc0006's file) has committed, seen through a ZooKeeper watch.
    marker = gen + "/services/proj/svc0006/files/big.conf"
    seen = threading.Event()

    def watcher(data: bytes | None, stat: object, event: object = None) -> bool:
        if stat is not None:
            seen.set()
            return False
        return True

    zk_admin.DataWatch(marker, watcher)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.functional.clients.zk_writer_proc", store.hosts, store.root,
         DEP, str(cred), "120", "300000"], cwd=ROOT_DIR)
    try:
        assert seen.wait(60), "the subprocess deployer never committed its third batch"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert zk_admin.exists(gen) is not None
    assert zk_admin.exists(zkpaths.manifest(gen)) is None, "the write finished before the kill"
    assert store.current_generation() == first
    assert store.read_generation(first) == small_generation("complete")
    assert store.list_generations() == [first]
    assert store.incomplete_generations() == [first + 1]
    nxt = store.write_generation(small_generation("next"))
    assert nxt == first + 2
    store.switch_current(nxt, first)
    assert store.gc(keep=5) == [first + 1]
    assert zk_admin.exists(gen) is None
    assert store.list_generations() == [first, nxt]
