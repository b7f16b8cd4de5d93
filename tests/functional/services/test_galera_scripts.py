"""The Galera start and bootstrap scripts decide who starts a new cluster: run the rendered
scripts against a scratch data directory, with a stand-in for mariadbd and real TCP peers on
loopback addresses."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kolla_mesos.plan.build import PlanSettings
from kolla_mesos.plan.loader import PlanInputs, load_plan
from kolla_mesos.testing.zookeeper import free_port

REPO = Path(__file__).resolve().parents[3]
HOSTS = {"db1": "127.0.1.51", "db2": "127.0.1.52", "db3": "127.0.1.53"}
UUID = "eb7873db-e8d2-11f1-a68f-7a44ba6e0dd6"
ZERO_UUID = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def wsrep_port() -> int:
    return free_port()


def _render(tmp: Path, hosts: dict[str, str], wsrep_port: int) -> dict[str, dict[str, str]]:
    """mariadb-start.sh and mariadb-bootstrap.sh of every host."""
    etc = tmp / "etc"
    etc.mkdir()
    shutil.copy(REPO / "etc/kolla-mesos/globals.yml", etc / "globals.yml")
    topology = {"networks": ["api"],
                "hosts": {h: {"addresses": {"api": a}, "interfaces": {"api": "lo"}}
                          for h, a in hosts.items()},
                "groups": {"control": list(hosts), "mariadb": list(hosts)}}
    (etc / "topology.yml").write_text(yaml.safe_dump(topology))
    passwords = yaml.safe_load((REPO / "etc/kolla-mesos/passwords.yml").read_text()) or {}
    (etc / "passwords.yml").write_text(yaml.safe_dump({k: "x" for k in passwords}))
    os.chmod(etc / "passwords.yml", 0o600)
    settings = PlanSettings("t", "minimal", "127.0.0.1:2181", "/kolla", "/kolla", "/cred",
                            ("kolla-mesos-start",))
    plan = load_plan(PlanInputs(REPO, etc, settings, {"mariadb_wsrep_port": wsrep_port}),
                     only=["mariadb"])
    files = {f.name: f for f in plan.service("mariadb").files}
    return {host: {name: files[name].for_host(host).decode()
                   for name in ("mariadb-start.sh", "mariadb-bootstrap.sh")}
            for host in hosts}


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory, wsrep_port: int,
            ) -> dict[str, dict[str, str]]:
    return _render(tmp_path_factory.mktemp("galera"), HOSTS, wsrep_port)


def _run(script: str, datadir: Path, tmp: Path) -> str:
    """Run a script with its data directory and binaries replaced by stand-ins that echo."""
    text = (script.replace("/var/lib/mysql", str(datadir))
                  .replace("/usr/sbin/mariadbd", "echo mariadbd")
                  .replace("mariadb-install-db --defaults-file", "echo install-db --defaults-file"))
    path = tmp / "script.sh"
    path.write_text(text)
    proc = subprocess.run(["bash", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _grastate(datadir: Path, uuid: str, safe: int) -> None:
    datadir.mkdir(exist_ok=True)
    (datadir / "grastate.dat").write_text(
        f"# GALERA saved state\nversion: 2.1\nuuid:    {uuid}\nseqno:   -1\n"
        f"safe_to_bootstrap: {safe}\n")


@pytest.fixture
def peer(wsrep_port: int) -> Iterator[None]:
    """db2 answers on its Galera port."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOSTS["db2"], wsrep_port))
        listener.listen(8)
        yield


def test_first_start_of_the_bootstrapped_node_creates_the_cluster(scripts, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "kolla-new-cluster").touch()
    assert "--wsrep-new-cluster" in _run(scripts["db1"]["mariadb-start.sh"], data, tmp_path)
    _grastate(data, ZERO_UUID, 0)            # written by Galera before it has a cluster
    assert "--wsrep-new-cluster" in _run(scripts["db1"]["mariadb-start.sh"], data, tmp_path)


def test_a_node_that_was_in_a_cluster_joins(scripts, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "kolla-new-cluster").touch()
    (data / "galera.cache").touch()         # Galera ran here
    _grastate(data, UUID, 0)
    out = _run(scripts["db1"]["mariadb-start.sh"], data, tmp_path)
    assert "mariadbd --defaults-file=/etc/mysql/my.cnf" in out
    assert "--wsrep-new-cluster" not in out
    # ... also after a crash that left grastate.dat zeroed: starting a new cluster here could
    # drop what a more advanced node committed (that is `kolla-mesos mariadb recovery`'s call)
    _grastate(data, ZERO_UUID, 0)
    assert "--wsrep-new-cluster" not in _run(scripts["db1"]["mariadb-start.sh"], data, tmp_path)
    # a node without the mark (a joiner) never starts a cluster on an empty volume
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "--wsrep-new-cluster" not in _run(scripts["db2"]["mariadb-start.sh"], empty, tmp_path)


def test_the_node_recovery_chose_starts_the_cluster_once(scripts, tmp_path, peer):
    data = tmp_path / "data"
    _grastate(data, ZERO_UUID, 0)
    (data / "galera.cache").touch()
    (data / "kolla-recovery-bootstrap").touch()
    # (even though db2 answers: it is a joiner waiting for this node)
    assert "--wsrep-new-cluster" in _run(scripts["db1"]["mariadb-start.sh"], data, tmp_path)
    assert not (data / "kolla-recovery-bootstrap").exists()
    assert "--wsrep-new-cluster" not in _run(scripts["db1"]["mariadb-start.sh"], data, tmp_path)


def test_the_node_that_left_last_restarts_the_cluster_unless_a_peer_runs(scripts, tmp_path):
    data = tmp_path / "data"
    _grastate(data, UUID, 1)
    assert "--wsrep-new-cluster" in _run(scripts["db1"]["mariadb-start.sh"], data, tmp_path)


def test_safe_to_bootstrap_joins_when_a_peer_answers(scripts, tmp_path, peer):
    data = tmp_path / "data"
    _grastate(data, UUID, 1)
    assert "--wsrep-new-cluster" not in _run(scripts["db1"]["mariadb-start.sh"], data, tmp_path)


def test_bootstrap_initialises_only_an_empty_volume_of_a_lone_cluster(scripts, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = _run(scripts["db1"]["mariadb-bootstrap.sh"], empty, tmp_path)
    assert "install-db" in out and "--init-file=/etc/mysql/bootstrap.sql" in out
    assert (empty / "kolla-new-cluster").exists()

    used = tmp_path / "used"
    _grastate(used, UUID, 0)
    out = _run(scripts["db1"]["mariadb-bootstrap.sh"], used, tmp_path)
    assert "install-db" not in out and not (used / "kolla-new-cluster").exists()


def test_bootstrap_leaves_an_existing_cluster_alone(scripts, tmp_path, peer):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = _run(scripts["db1"]["mariadb-bootstrap.sh"], empty, tmp_path)
    assert "db2 already runs a Galera node" in out
    assert "install-db" not in out and not (empty / "kolla-new-cluster").exists()


def test_a_single_node_cluster_is_always_safe_to_bootstrap(tmp_path, wsrep_port):
    scripts = _render(tmp_path, {"db1": HOSTS["db1"]}, wsrep_port)
    data = tmp_path / "data"
    _grastate(data, UUID, 0)                 # after a crash
    assert "--wsrep-new-cluster" in _run(scripts["db1"]["mariadb-start.sh"], data, tmp_path)
    assert "safe_to_bootstrap: 1" in (data / "grastate.dat").read_text()
