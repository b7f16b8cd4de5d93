"""Per-host runner identities on a real ZooKeeper: a host reads only its own services' files.

The deployer's real store writes a generation with two services: ``mariadb`` (group: node1)
and ``memcached`` (group: node1, node2).  The runner identity of node2, a host outside
mariadb's group, is refused every node of mariadb's subtree -- its definition and its files
with their secrets -- through a raw client and through the real runner, while it still reads
the shared nodes and writes status, locks and members.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import Permissions

from kolla_mesos import definition, errors, zkpaths
from kolla_mesos.clients import zk_acl
from kolla_mesos.clients.zookeeper import Store
from kolla_mesos.runner import identity
from kolla_mesos.runner.session import Session
from kolla_mesos.runner.store import GenerationReader
from kolla_mesos.testing.zookeeper import ZookeeperServer

DEP = "ntk"
SECRET = secrets.token_hex(16)


def _definition(service: str, daemon: bool = True) -> bytes:
    raw = {"project": service, "service": service,
           "files": {"root.cnf": {"dest": "root.cnf", "mode": "0600"}},
           "commands": {"bootstrap": {"command": ["true"], "run_once": True}},
           "daemon": {"command": ["sleep", "60"]} if daemon else None}
    return definition.from_json(raw).dumps()


@pytest.fixture
def published(zk_server: ZookeeperServer, zk_root: str, tmp_path: Path,
              ) -> Iterator[tuple[Store, dict[str, tuple[str, str]], int]]:
    deployer = ("deployer", secrets.token_hex(16))
    zk_acl.generate_runner_credentials(tmp_path / "runners", ["node1", "node2"])
    runners = zk_acl.read_runner_credentials(tmp_path / "runners")
    nodes = {
        "index": json.dumps({"mariadb": {"project": "mariadb", "daemon": True, "commands": {
            "bootstrap": {"inputs_hash": "h", "run_once": True}}}}).encode(),
        "services/mariadb/mariadb/definition": _definition("mariadb"),
        "services/mariadb/mariadb/files/root.cnf": f"password = {SECRET}\n".encode(),
        "services/mariadb/mariadb/files/root.cnf/hosts/node1": f"pw = {SECRET}\n".encode(),
        "services/memcached/memcached/definition": _definition("memcached"),
        "services/memcached/memcached/files/root.cnf": b"no secret\n",
    }
    with Store(zk_server.hosts, zk_root, DEP, deployer, runners, timeout=10) as store:
        store.ensure_deployment({"deployment": DEP})
        number = store.write_generation(nodes, {"services/mariadb/mariadb": ["node1"],
                                                "services/memcached/memcached": ["node1",
                                                                                 "node2"]})
        store.switch_current(number, None)
        yield store, runners, number


def _client(server: ZookeeperServer, creds: tuple[str, str]) -> KazooClient:
    return server.client(auth=zk_acl.auth_data(creds))


def test_a_host_outside_a_group_is_denied_that_services_files(
        published: tuple[Store, dict[str, tuple[str, str]], int],
        zk_server: ZookeeperServer) -> None:
    store, runners, number = published
    gen = zkpaths.generation(store.root, DEP, number)
    node1, node2 = _client(zk_server, runners["node1"]), _client(zk_server, runners["node2"])
    try:
        mariadb = zkpaths.service(gen, "mariadb", "mariadb")
        private = [mariadb, zkpaths.definition(gen, "mariadb", "mariadb"),
                   zkpaths.file(gen, "mariadb", "mariadb", "root.cnf"),
                   zkpaths.host_file(gen, "mariadb", "mariadb", "root.cnf", "node1")]
        for path in private:
            with pytest.raises(NoAuthError):
                node2.get(path)
            node1.get(path)
        assert SECRET.encode() in node1.get(private[2])[0]
        with pytest.raises(NoAuthError):
            node2.get_children(zkpaths.join(mariadb, zkpaths.FILES))
        # both hosts run memcached: both read it
        for client in (node1, node2):
            client.get(zkpaths.file(gen, "memcached", "memcached", "root.cnf"))
            # the shared nodes: current, the generation, its index and manifest, the names
            for path in (zkpaths.current(store.root, DEP), gen, zkpaths.manifest(gen),
                         zkpaths.join(gen, zkpaths.INDEX), zkpaths.join(gen, zkpaths.SERVICES),
                         zkpaths.join(gen, zkpaths.SERVICES, "mariadb")):
                client.get(path)
        # the ACL is the documented one: deployer ALL, node1's runner READ, nobody else
        acl, _ = store.client.get_acls(zkpaths.file(gen, "mariadb", "mariadb", "root.cnf"))
        ids = {(a.id.id.split(":")[0], a.perms) for a in acl}
        assert ids == {("deployer", Permissions.ALL), ("runner-node1", Permissions.READ)}
    finally:
        for client in (node1, node2):
            client.stop()
            client.close()


def test_the_runner_of_a_host_outside_the_group_stops_with_a_clear_error(
        published: tuple[Store, dict[str, tuple[str, str]], int], tmp_path: Path,
        zk_server: ZookeeperServer) -> None:
    store, runners, number = published
    creds_dir = tmp_path / "runners"
    env = {"KOLLA_DEPLOYMENT": DEP, "KOLLA_PROJECT": "mariadb", "KOLLA_SERVICE": "mariadb",
           "KOLLA_ZK_HOSTS": zk_server.hosts, "KOLLA_ZK_ROOT": store.root,
           "KOLLA_ZK_CREDENTIALS_FILE": f"{creds_dir}/{{host}}.cred"}
    outsider = Session.connect(identity.from_env({**env, "KOLLA_HOSTNAME": "node2"}))
    insider = Session.connect(identity.from_env({**env, "KOLLA_HOSTNAME": "node1"}))
    try:
        with pytest.raises(errors.ZookeeperError, match="refused the runner's credentials"):
            GenerationReader(outsider, number).require_definition("mariadb", "mariadb")
        assert GenerationReader(insider, number).require_definition(
            "mariadb", "mariadb").service == "mariadb"
        # a waiter outside the group still resolves its dependency on mariadb (index node)
        summary = GenerationReader(outsider, number).summary("mariadb")
        assert summary is not None and summary.daemon
        assert summary.commands == {"bootstrap": ("h", True)}
        # and writes its status like any runner
        path = zkpaths.status(store.root, DEP, "memcached", "bootstrap", "h", "node2")
        outsider.put(path, b'{"state": "done"}', zkpaths.STATUS)
        assert store.read_status()["memcached"]["bootstrap"]["h"]["node2"]["state"] == "done"
    finally:
        outsider.close()
        insider.close()
