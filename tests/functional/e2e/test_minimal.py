"""The minimal profile end to end: real MariaDB (Galera), memcached, RabbitMQ and Keystone.

From empty state: a real ZooKeeper, the simulator with isolated agents (each its own
127.x.y.z address and copy-on-write /etc, /var/lib, /var/log, /run), the real CLI as a
subprocess, the real runner in every task, and the daemons tools/prepare-host installed.
The end is a real Keystone token.  docs/deployment-files.md, docs/host-as-image.md.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from mesos_sim.simulator import Simulator

from kolla_mesos import zkpaths
from kolla_mesos.definition import Definition
from kolla_mesos.definition import from_json as definition_from_json
from kolla_mesos.secrets import secret_values
from kolla_mesos.testing.waiting import wait_for
from kolla_mesos.testing.zookeeper import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
#: the series of the synced templates: tools/prepare-host builds its venvs under
#: <host_venv_prefix>/<release>/ (config/releases.yml)
RELEASE = yaml.safe_load((REPO / "common_templates/group_vars/all/common.yml").read_text())[
    "openstack_release"]
KEYSTONE_VENV = Path(yaml.safe_load((REPO / "config" / "all.yml").read_text())
                     ["host_venv_prefix"]) / RELEASE / "keystone-venv"
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
HOST_BINARIES = ("/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db", "/usr/bin/memcached",
                 "/usr/lib/rabbitmq/bin/rabbitmq-server", RABBITMQCTL,
                 str(KEYSTONE_VENV / "bin" / "uwsgi"),
                 str(KEYSTONE_VENV / "bin" / "keystone-manage"))
#: kolla's AMQP port without TLS (common_templates/group_vars/all/rabbitmq.yml)
AMQP_PORT = 5672
#: test-only globals: fast password hashing; small InnoDB redo log; rsync state transfers
#: (mariabackup's socat listens on 0.0.0.0:4444, which agents sharing one network
#: namespace cannot all do at once: docs/host-as-image.md); RabbitMQ's distribution port
#: is an ephemeral one (see Deployment)
TEST_GLOBALS = {"keystone_password_hash_rounds": 4, "mariadb_innodb_log_file_size_mb": 48,
                "mariadb_wsrep_sst_method": "rsync"}


def _missing_host_binaries() -> list[str]:
    return [path for path in HOST_BINARIES if not os.access(path, os.X_OK)]


@pytest.fixture(autouse=True)
def _host_prepared() -> None:
    missing = _missing_host_binaries()
    if missing:
        pytest.skip(f"tools/prepare-host has not run on this host (missing {', '.join(missing)})")
    if os.geteuid() != 0:
        pytest.skip("isolated simulator agents need root (mount namespaces)")


def _task_processes(zk_root: str) -> set[int]:
    """Live processes started by this test's tasks: every task (runner, daemon and their
    children) has this test's own KOLLA_ZK_ROOT in its environment."""
    marker = f"KOLLA_ZK_ROOT={zk_root}".encode()
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if stat[stat.rindex(")") + 2:].split()[0] != "Z" and marker in environ:
            pids.add(int(entry.name))
    return pids


def _cmdline(pid: int) -> bytes:
    """A process's argv (NUL-separated; empty when it has gone meanwhile)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class Deployment:
    """A deployment directory (conf, globals, passwords, topology) and the CLI to drive it."""

    def __init__(self, root: Path, zk_hosts: str, zk_root: str, sim: Simulator,
                 topology: dict[str, Any]) -> None:
        self.etc = root / "etc"
        self.etc.mkdir()
        self.zk_root = zk_root
        #: agent host name -> address
        self.addresses = {name: host["addresses"]["api"]
                          for name, host in topology["hosts"].items()}
        self.conf = self.etc / "kolla-mesos.conf"
        globals_yml = yaml.safe_load((REPO / "etc/kolla-mesos/globals.yml").read_text())
        first = next(iter(topology["hosts"].values()))["addresses"]["api"]
        # RabbitMQ runs without epmd: every node listens on the same distribution port at
        # its own address (rabbitmq-dist.conf), free on every address so that no other
        # run's node listens on it; nothing listens on the epmd port, where the nodes try to
        # register first (an ephemeral one keeps them off a host's epmd)
        globals_yml.update(TEST_GLOBALS, kolla_internal_vip_address=first,
                           rabbitmq_epmd_port=free_port(),
                           rabbitmq_cluster_port=free_port("0.0.0.0"))
        (self.etc / "globals.yml").write_text(yaml.safe_dump(globals_yml))
        (self.etc / "topology.yml").write_text(yaml.safe_dump(topology))
        shutil.copy(REPO / "etc/kolla-mesos/passwords.yml", self.etc / "passwords.yml")
        os.chmod(self.etc / "passwords.yml", 0o600)
        # random deployer credentials (no fixed credential in the repository); the runner
        # identities, one per agent, come from genpwd below
        deployer = os.open(self.etc / "deployer.cred", os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(deployer, "w") as out:
            out.write(f"kolla-deployer:{secrets.token_hex(16)}\n")
        self.conf.write_text(f"""[kolla]
deployment_id = e2e
profile = minimal
config_dir = {self.etc}
base_dir = {REPO}
runner_command = {BIN / "kolla-mesos-start"}
deploy_timeout = 600

[zookeeper]
hosts = {zk_hosts}
root = {zk_root}
credentials_file = {self.etc / "deployer.cred"}
runner_credentials_dir = {self.etc / "runners"}
runner_credentials_path = {self.etc / "runners"}/{{host}}.cred
timeout = 10

[marathon]
url = {sim.marathon_url}

[chronos]
url = {sim.chronos_url}

[mesos]
url = {sim.mesos_url}
""")
        self.run("genpwd", str(self.etc / "passwords.yml"), check=True)
        self.passwords = yaml.safe_load((self.etc / "passwords.yml").read_text())
        self._ctl_env = self._rabbitmqctl_env(root / "rabbitmqctl",
                                              globals_yml["rabbitmq_cluster_port"])

    def _rabbitmqctl_env(self, home: Path, dist_port: int) -> dict[str, str]:
        """rabbitmqctl's environment on this host: the cluster's cookie (a 0400 file), the
        agents' names (an inetrc: they are only in the agents' /etc/hosts) and Erlang
        distribution without epmd, as the nodes' rabbitmq-dist.conf sets it."""
        home.mkdir()
        cookie = home / ".erlang.cookie"
        cookie.write_text(self.passwords["rabbitmq_cluster_cookie"])
        os.chmod(cookie, 0o400)
        (home / "inetrc").write_text("".join(
            f'{{host, {{{address.replace(".", ",")}}}, ["{name}"]}}.\n'
            for name, address in self.addresses.items()) + "{lookup, [file, native]}.\n")
        (home / "rabbitmq-env.conf").write_text("")  # (not this host's /etc/rabbitmq one)
        return {**os.environ, "HOME": str(home), "ERL_INETRC": str(home / "inetrc"),
                "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf"),
                "ERL_ZFLAGS": f"-start_epmd false -erl_epmd_port {dist_port} -dist_listen false"}

    def rabbitmqctl(self, host: str, *args: str) -> str:
        """``rabbitmqctl -n rabbit@HOST ARGS``'s stdout (it must succeed)."""
        proc = subprocess.run([RABBITMQCTL, "-n", f"rabbit@{host}", *args], capture_output=True,
                              text=True, timeout=60, env=self._ctl_env)
        assert proc.returncode == 0, f"rabbitmqctl {' '.join(args)} on {host}:\n{proc.stderr}"
        return proc.stdout

    def run(self, *args: str, timeout: float = 600, check: bool = False,
            ) -> subprocess.CompletedProcess[str]:
        """``kolla-mesos --config-file CONF ARGS`` as a subprocess."""
        cmd = [str(BIN / "kolla-mesos"), "--config-file", str(self.conf), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> Any:
        """A list/show command's ``-f json`` output."""
        return json.loads(self.run(*args, "-f", "json", check=True).stdout)


def _sim_logs(state: Path) -> str:
    """The tail of every task's stderr, for a failing test's message."""
    out = []
    for path in sorted(state.rglob("stderr"))[-40:]:
        text = path.read_text(errors="replace").strip().splitlines()[-15:]
        out.append(f"--- {path.relative_to(state)}\n" + "\n".join(text))
    return "\n".join(out)


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path, zk_server: Any, zk_root: str,
            ) -> Iterator[tuple[Simulator, Deployment]]:
    """A simulator with isolated agents (``agents`` parameter) and a deployment for it."""
    hosts, groups = request.param()
    state = tmp_path / "sim"
    agents = [{"hostname": name, "address": address} for name, address in hosts.items()]
    sim = Simulator(state, agents=agents, isolation=True, chronos_failure_retry=0.5)
    sim.start()
    try:
        topology = {"networks": ["api"],
                    "defaults": {"processor_vcpus": 2, "memtotal_mb": 2048},
                    "hosts": {name: {"addresses": {"api": address}, "interfaces": {"api": "lo"}}
                              for name, address in hosts.items()},
                    "groups": groups}
        deployment = Deployment(tmp_path, zk_server.hosts, zk_root, sim, topology)
        yield sim, deployment
        # (the check below sees the tasks' processes while they run)
        assert _task_processes(zk_root), "no process of this test's tasks is visible"
    finally:
        sim.stop()
    # every process the test started is gone
    deadline = time.monotonic() + 30
    left = _task_processes(zk_root)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _task_processes(zk_root)
    assert not left, f"processes left behind: {sorted(left)}"


def _token(address: str, password: str) -> requests.Response:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    # a fresh connection per request: kolla's uwsgi.ini sends "Connection: close"
    return requests.post(f"http://{address}:5000/v3/auth/tokens", json=body, timeout=30,
                         headers={"Connection": "close"})


def _task_ids(sim: Simulator, app_id: str) -> set[str]:
    reply = requests.get(f"{sim.marathon_url}/v2/apps{app_id}/tasks", timeout=10)
    reply.raise_for_status()
    return {task["id"] for task in reply.json()["tasks"]}


def _writes(stderr: str) -> tuple[int, int]:
    match = re.search(r"(\d+) ZooKeeper writes, (\d+) API writes", stderr)
    assert match, stderr
    return int(match.group(1)), int(match.group(2))


def _addresses(count: int) -> dict[str, str]:
    """Agent addresses in a loopback /24 of their own (127.x.y.1-n): the daemons listen on
    their well-known ports, so two runs of these tests at once must not share addresses."""
    rng = random.SystemRandom()
    net = f"127.{rng.randrange(100, 250)}.{rng.randrange(0, 256)}"
    return {f"agent{i}": f"{net}.{i}" for i in range(1, count + 1)}


def _one_agent() -> tuple[dict[str, str], dict[str, list[str]]]:
    one = ["agent1"]
    return _addresses(1), {"control": one, "mariadb": one, "memcached": one,
                           "rabbitmq": one, "keystone": one}


def _three_agents() -> tuple[dict[str, str], dict[str, list[str]]]:
    three = ["agent1", "agent2", "agent3"]
    return _addresses(3), {"control": three, "mariadb": three, "memcached": three,
                           "rabbitmq": three, "keystone": three}


def _definitions(dep: Deployment) -> dict[str, Definition]:
    """Every service's stored definition of the current generation (as the deployer)."""
    out = {}
    for row in dep.json("config", "list"):
        if row["path"].endswith("/" + zkpaths.DEFINITION):
            shown = dep.json("config", "show", "--show-secrets", row["path"])
            defn = definition_from_json(json.loads(shown["content"]))
            out[defn.service] = defn
    return out


def _sweep_sandboxes(sim: Simulator, dep: Deployment) -> None:
    """No value of passwords.yml in a daemon's sandbox file that its daemon does not need,
    and no job-only file left in a Chronos job's sandbox."""
    defs = _definitions(dep)
    values = [v for v in secret_values(dep.passwords) if len(v) >= 12]
    assert values
    # file name in the sandbox -> services whose app writes it there
    app_names: dict[str, set[str]] = {}
    job_only: set[str] = set()
    for name, defn in defs.items():
        specs = defn.files_dict
        for fname in defn.app_files():
            if not specs[fname].dest.startswith("/"):
                app_names.setdefault(os.path.basename(specs[fname].dest), set()).add(name)
        job_only |= {os.path.basename(specs[f].dest) for f in defn.job_only_files()}
    assert {"db-admin.cnf", "keystone-db-user.sql"} <= job_only
    swept: set[str] = set()
    for executor in sim.state_dir.glob("slaves/*/frameworks/*/executors/*"):
        is_job = executor.name.startswith("ct:")
        service = executor.name.rstrip(":").split(":")[-1].split("-")[1] if is_job else \
            executor.name.split(".")[0].rsplit("_", 1)[-1]
        swept.add(f"{'job' if is_job else 'app'} {service}")
        for path in executor.glob("runs/*/**/*"):
            if not path.is_file() or path.is_symlink() or "latest" in path.parts:
                continue
            if path.name in ("stdout", "stderr"):
                continue  # (checked above with the logs)
            if is_job:
                assert path.name not in job_only, f"a job left its secret behind: {path}"
                continue
            if service in app_names.get(path.name, set()):
                continue  # the daemon's own file: it needs its secrets
            data = path.read_bytes()
            for value in values:
                assert value.encode() not in data, (path, "holds a secret it does not need")
    # the Keystone API's sandbox and the jobs that had db-admin.cnf were swept
    assert {"app keystone", "job keystone", "app mariadb"} <= swept, swept


def _sweep_zookeeper_files(base: Path) -> None:
    """ZooKeeper's snapshots and logs hold every secret: nothing under its directory is
    accessible by group or others."""
    entries = [base, *base.rglob("*")]
    assert any(p.name.startswith(("log.", "snapshot.")) for p in entries), entries
    for path in entries:
        mode = path.lstat().st_mode
        assert not mode & 0o077, f"{path} has mode {stat.S_IMODE(mode):04o}"


@pytest.mark.parametrize("cluster", [_one_agent], indirect=True, ids=["one-agent"])
def test_minimal_profile_up_to_a_keystone_token(cluster: tuple[Simulator, Deployment],
                                                zk_server: Any):
    sim, dep = cluster
    address = dep.addresses["agent1"]
    started = time.monotonic()
    first = dep.run("deploy", "--no-progress")
    elapsed = time.monotonic() - started
    assert first.returncode == 0, f"{first.stderr}\n{_sim_logs(sim.state_dir)}"
    print(f"minimal profile deployed in {elapsed:.1f} s")

    token = _token(address, dep.passwords["keystone_admin_password"])
    assert token.status_code == 201, token.text
    assert token.headers["X-Subject-Token"]
    catalog = {entry["type"] for entry in token.json()["token"]["catalog"]}
    assert "identity" in catalog
    assert _token(address, "not-the-password").status_code == 401

    status = {row["service"]: row for row in dep.json("status")}
    assert set(status) == {"mariadb", "memcached", "rabbitmq", "keystone"}
    for name, row in status.items():
        assert row["kind"] == "app", row
        assert row["healthy"] == row["instances"] == 1, row
    assert status["keystone"]["jobs"] == 4
    assert status["keystone"]["last job result"] == "success", status["keystone"]

    # no secret reached an app, a job or a task's command line
    apps = requests.get(f"{sim.marathon_url}/v2/apps?embed=apps.tasks", timeout=10).text
    jobs = requests.get(f"{sim.chronos_url}/v1/scheduler/jobs", timeout=10).text
    assert "keystone" in jobs
    for key in ("database_password", "keystone_admin_password", "rabbitmq_password",
                "keystone_database_password", "rabbitmq_cluster_cookie"):
        assert dep.passwords[key] not in apps, key
        assert dep.passwords[key] not in jobs, key
    argvs = {pid: _cmdline(pid) for pid in _task_processes(dep.zk_root)}
    assert any(b"mariadbd" in argv for argv in argvs.values()), "no daemon's argv was seen"
    for pid, argv in argvs.items():
        for key in ("database_password", "keystone_admin_password", "rabbitmq_password",
                    "keystone_database_password", "rabbitmq_cluster_cookie"):
            assert dep.passwords[key].encode() not in argv, (key, pid, argv.split(b"\0")[0])

    # ... nor any log: the tasks' stdout/stderr and the services' own logs
    logs = [p for p in sim.state_dir.rglob("*")
            if p.is_file() and (p.name in ("stdout", "stderr") or p.suffix == ".log")]
    assert any(p.name == "keystone.log" for p in logs) and any(p.name == "stderr" for p in logs)
    for path in logs:
        text = path.read_bytes()
        for key in ("database_password", "keystone_admin_password", "rabbitmq_password",
                    "keystone_database_password", "rabbitmq_cluster_cookie"):
            assert dep.passwords[key].encode() not in text, (key, path)

    # need to know (issue 17): a daemon's sandbox holds only its own files, jobs left none
    # of theirs behind, and ZooKeeper's own files are private
    _sweep_sandboxes(sim, dep)
    _sweep_zookeeper_files(Path(zk_server.base_dir))

    # a second deploy with the same inputs changes nothing
    assert dep.json("plan") == []
    second = dep.run("deploy", "--no-progress")
    assert second.returncode == 0, second.stderr
    assert _writes(second.stderr) == (0, 0)
    assert _token(address, dep.passwords["keystone_admin_password"]).status_code == 201

    # a changed my.cnf restarts MariaDB (Marathon rolls the app) on its named volume: the
    # node restarts the cluster from its own data, and Keystone's data is still there
    tasks_before = _task_ids(sim, "/kolla/e2e/mariadb/mariadb")
    changed = dep.run("deploy", "--no-progress", "-e", "mariadb_innodb_log_file_size_mb=64")
    assert changed.returncode == 0, f"{changed.stderr}\n{_sim_logs(sim.state_dir)}"
    tasks_after = _task_ids(sim, "/kolla/e2e/mariadb/mariadb")
    assert len(tasks_after) == 1 and not tasks_after & tasks_before
    status = {row["service"]: row for row in dep.json("status")}
    assert status["mariadb"]["generation"] == 2
    assert status["mariadb"]["healthy"] == 1, status["mariadb"]
    assert _token(address, dep.passwords["keystone_admin_password"]).status_code == 201

    # a changed keystone.conf restarts Keystone's one instance (the derived upgradeStrategy
    # lets Marathon stop it before starting its replacement: docs/upgrade.md) with the new
    # file live, and the same inputs again write nothing
    def keystone_debug_lines() -> int:
        return sum(p.read_bytes().count(b" DEBUG ") for p in sim.state_dir.rglob("keystone.log"))

    assert keystone_debug_lines() == 0
    inputs = ("-e", "mariadb_innodb_log_file_size_mb=64", "-e", "openstack_logging_debug=True")
    keystone_before = _task_ids(sim, "/kolla/e2e/keystone/keystone")
    started = time.monotonic()
    changed = dep.run("deploy", "--no-progress", *inputs)
    assert changed.returncode == 0, f"{changed.stderr}\n{_sim_logs(sim.state_dir)}"
    print(f"keystone.conf change applied in {time.monotonic() - started:.1f} s")
    keystone_after = _task_ids(sim, "/kolla/e2e/keystone/keystone")
    assert len(keystone_after) == 1 and not keystone_after & keystone_before
    assert _token(address, dep.passwords["keystone_admin_password"]).status_code == 201
    assert keystone_debug_lines() > 0, "the restarted Keystone does not run with debug = True"
    again = dep.run("deploy", "--no-progress", *inputs)
    assert again.returncode == 0, again.stderr
    assert _writes(again.stderr) == (0, 0)
    assert _task_ids(sim, "/kolla/e2e/keystone/keystone") == keystone_after

    # the same for memcached (reload: restart, one instance on the one agent): a changed
    # connection limit replaces its task, the new limit is live, and a re-run writes nothing
    memcached_before = _task_ids(sim, "/kolla/e2e/memcached/memcached")
    inputs = (*inputs, "-e", "memcached_connection_limit=2048")
    changed = dep.run("deploy", "--no-progress", *inputs)
    assert changed.returncode == 0, f"{changed.stderr}\n{_sim_logs(sim.state_dir)}"
    memcached_after = _task_ids(sim, "/kolla/e2e/memcached/memcached")
    assert len(memcached_after) == 1 and not memcached_after & memcached_before
    with socket_to(address, 11211) as conn:
        conn.sendall(b"stats settings\r\nquit\r\n")
        settings = b""
        while not settings.endswith(b"END\r\n"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            settings += chunk
    assert b"STAT maxconns 2048\r\n" in settings, settings
    again = dep.run("deploy", "--no-progress", *inputs)
    assert again.returncode == 0, again.stderr
    assert _writes(again.stderr) == (0, 0)
    assert _task_ids(sim, "/kolla/e2e/memcached/memcached") == memcached_after


def _sql(address: str, password: str, statement: str) -> str:
    """Run one statement as root over TCP (the password through MYSQL_PWD, not argv)."""
    proc = subprocess.run(
        ["/usr/bin/mariadb", "--no-defaults", "-h", address, "-u", "root", "-N", "-B", "-e",
         statement],
        capture_output=True, text=True, timeout=30, env={**os.environ, "MYSQL_PWD": password})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _cluster_size_or_none(address: str, password: str) -> int | None:
    """The node's cluster size, or None while it does not answer."""
    try:
        return _wsrep_cluster_size(address, password)
    except AssertionError:
        return None


def _wsrep_cluster_size(address: str, password: str) -> int:
    return int(_sql(address, password, "SHOW STATUS LIKE 'wsrep_cluster_size'").split()[1])


class MarathonEvents:
    """Marathon's event stream (``GET /v2/events``) recorded in a thread: task status updates
    and health changes, in the order Marathon sent them."""

    def __init__(self, marathon_url: str) -> None:
        self.events: list[dict[str, Any]] = []
        self._reply = requests.get(f"{marathon_url}/v2/events", stream=True, timeout=(10, 60),
                                   headers={"Accept": "text/event-stream"})
        self._reply.raise_for_status()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for line in self._reply.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    self.events.append(json.loads(line[5:]))
        except (requests.RequestException, AttributeError):
            pass  # (closed by stop())

    def stop(self) -> list[dict[str, Any]]:
        self._reply.close()
        self._thread.join(10)
        return list(self.events)


def _rolling_order(events: list[dict[str, Any]], app_id: str, old: set[str]) -> list[str]:
    """Check that an app of one instance per host was replaced one instance at a time, and
    return what happened, in order ("kill X", "healthy Y").

    From Marathon's own events: an old instance is killed only when every instance started
    before it is healthy, so that at most one instance is ever down; and no extra instance
    is ever started (there is no agent for it)."""
    healthy = {task.split("._app")[0] for task in old}
    instances = len(healthy)
    live = set(healthy)
    order = []
    for event in events:
        if event.get("appId") != app_id:
            continue
        if event["eventType"] == "status_update_event":
            instance = event["taskId"].split("._app")[0]
            if event["taskStatus"] in ("TASK_KILLING", "TASK_KILLED", "TASK_FINISHED",
                                       "TASK_FAILED", "TASK_LOST"):
                if instance in live:
                    live.discard(instance)
                    healthy.discard(instance)
                    order.append(f"kill {instance[-8:]}")
                    assert len(healthy) >= instances - 1, (order, "two instances down at once")
            else:
                live.add(instance)
                assert len(live) <= instances, (order, "an extra instance was started")
        elif event["eventType"] == "health_status_changed_event" and event["alive"]:
            if event["instanceId"] not in healthy:
                healthy.add(event["instanceId"])
                order.append(f"healthy {event['instanceId'][-8:]}")
    return order


@pytest.mark.parametrize("cluster", [_three_agents], indirect=True, ids=["three-agents"])
def test_three_memcached_and_a_three_node_galera_cluster(cluster: tuple[Simulator, Deployment]):
    sim, dep = cluster
    started = time.monotonic()
    proc = dep.run("deploy", "--no-progress")
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, f"{proc.stderr}\n{_sim_logs(sim.state_dir)}"
    print(f"minimal profile on three agents (three-node Galera and RabbitMQ, three memcached "
          f"and Keystone) deployed in {elapsed:.1f} s")

    status = {row["service"]: row for row in dep.json("status")}
    for name in ("mariadb", "memcached", "rabbitmq", "keystone"):
        assert status[name]["healthy"] == status[name]["instances"] == 3, status[name]
    for address in dep.addresses.values():
        assert _wsrep_cluster_size(address, dep.passwords["database_password"]) == 3
        with socket_to(address, 11211) as conn:
            conn.sendall(b"version\r\n")
            assert conn.recv(64).startswith(b"VERSION ")

    # one RabbitMQ cluster of the three agents' nodes, seen from each node, on one machine
    # (no epmd: docs/host-as-image.md); a message published on one node is consumed on another
    nodes = {f"rabbit@{host}" for host in dep.addresses}
    for host in dep.addresses:
        cluster_status = json.loads(dep.rabbitmqctl(host, "cluster_status", "--formatter", "json"))
        assert set(cluster_status["running_nodes"]) == nodes, (host, cluster_status)
    body = f"e2e-{random.SystemRandom().getrandbits(64):x}"
    assert _amqp_round_trip(dep, dep.addresses["agent1"], dep.addresses["agent3"], body) == body
    # no epmd runs, nor does the servers' keep-epmd-alive VM (every minute; forced here) start one
    for host in dep.addresses:
        assert dep.rabbitmqctl(host, "eval", "rabbit_nodes:ensure_epmd().").strip() == "ok"
    argv0 = [_cmdline(pid).split(b"\0")[0] for pid in _task_processes(dep.zk_root)]
    assert any(os.path.basename(arg) == b"beam.smp" for arg in argv0), argv0
    assert not [arg for arg in argv0 if os.path.basename(arg) == b"epmd"], argv0

    # a changed my.cnf: Marathon restarts one node at a time, each rejoins the cluster on its
    # own volume, and what was written before is on every node after
    password = dep.passwords["database_password"]
    first = dep.addresses["agent1"]
    _sql(first, password, "CREATE DATABASE e2e_probe")
    before = _task_ids(sim, "/kolla/e2e/mariadb/mariadb")
    started = time.monotonic()
    proc = dep.run("deploy", "--no-progress", "--profile", "infra",
                   "-e", "mariadb_innodb_log_file_size_mb=64")
    assert proc.returncode == 0, f"{proc.stderr}\n{_sim_logs(sim.state_dir)}"
    print(f"rolling restart of the Galera cluster in {time.monotonic() - started:.1f} s")
    after = _task_ids(sim, "/kolla/e2e/mariadb/mariadb")
    assert len(after) == 3 and not after & before
    for address in dep.addresses.values():
        assert _wsrep_cluster_size(address, password) == 3
        assert "e2e_probe" in _sql(address, password, "SHOW DATABASES").split()

    # three Keystone instances share one Fernet key repository: a token issued by one
    # validates on the others
    admin = dep.passwords["keystone_admin_password"]
    _assert_tokens_validate_everywhere(dep, admin)

    # a changed keystone.conf rolls the three instances one at a time (the derived strategy:
    # keep 2 of 3 healthy, never start a fourth), each with the new file, and tokens issued
    # before the roll still validate on every instance
    earlier = _token(dep.addresses["agent1"], admin).headers["X-Subject-Token"]
    app_id = "/kolla/e2e/keystone/keystone"
    before = _task_ids(sim, app_id)
    events = MarathonEvents(sim.marathon_url)
    started = time.monotonic()
    proc = dep.run("deploy", "--no-progress", "-e", "mariadb_innodb_log_file_size_mb=64",
                   "-e", "openstack_logging_debug=True")
    recorded = events.stop()
    assert proc.returncode == 0, f"{proc.stderr}\n{_sim_logs(sim.state_dir)}"
    print(f"rolling restart of three Keystone instances in {time.monotonic() - started:.1f} s")
    after = _task_ids(sim, app_id)
    assert len(after) == 3 and not after & before
    order = _rolling_order(recorded, app_id, before)
    assert [step.split()[0] for step in order] == ["kill", "healthy"] * 3, order
    # (each agent's kolla_logs volume: <state>/volumes/<agent>/kolla_logs)
    debug = [p for p in (sim.state_dir / "volumes").glob("*/kolla_logs/keystone/keystone.log")
             if b" DEBUG " in p.read_bytes()]
    assert len(debug) == 3, debug
    _assert_tokens_validate_everywhere(dep, admin, earlier)

    # every Galera node dies at once (kill -9) and loses its view state (gvwstate.dat: with it,
    # Galera's pc.recovery restarts the cluster by itself when every node comes back, as the
    # restarted tasks do here): no node may start the cluster, status says so, and
    # `kolla-mesos mariadb recovery` restarts it from the most advanced node with every
    # acknowledged row (docs/operations.md)
    _sql(first, password, "CREATE TABLE e2e_probe.t (i INT PRIMARY KEY)")
    _sql(first, password, "INSERT INTO e2e_probe.t VALUES (1), (2), (3)")
    refused = dep.run("mariadb", "recovery", "--no-progress")
    assert refused.returncode == 3 and "healthy node(s)" in refused.stderr, refused.stderr
    views = sorted((sim.state_dir / "volumes").glob("*/mariadb/gvwstate.dat"))
    assert len(views) == 3, views
    daemons = [pid for pid in _task_processes(dep.zk_root)
               if os.path.basename(_cmdline(pid).split(b"\0")[0]) == b"mariadbd"]
    assert len(daemons) == 3, daemons
    for pid in daemons:
        os.kill(pid, signal.SIGKILL)
    for view in views:
        view.unlink(missing_ok=True)
    wait_for(lambda: "MariaDB cluster down" in dep.run("status").stderr, timeout=300,
             what="status to report the MariaDB cluster down", interval=2)
    started = time.monotonic()
    recovered = dep.run("mariadb", "recovery", "-f", "json", "--no-progress")
    assert recovered.returncode == 0, f"{recovered.stderr}\n{_sim_logs(sim.state_dir)}"
    print(f"Galera recovery after a full crash in {time.monotonic() - started:.1f} s")
    roles = {row["host"]: row["role"] for row in json.loads(recovered.stdout)}
    assert sorted(roles.values()) == ["joined", "joined", "started the cluster"], roles
    for address in dep.addresses.values():
        wait_for(lambda address=address: _cluster_size_or_none(address, password) == 3,
                 timeout=120, what=f"{address} back in a cluster of three", interval=1)
        assert _sql(address, password, "SELECT i FROM e2e_probe.t ORDER BY i").split() == [
            "1", "2", "3"]
    assert "MariaDB cluster down" not in dep.run("status").stderr


def _assert_tokens_validate_everywhere(dep: Deployment, password: str,
                                       *tokens: str) -> None:
    """A token issued by each Keystone instance (and TOKENS) validates on every instance."""
    issued = [_token(address, password) for address in dep.addresses.values()]
    assert all(reply.status_code == 201 for reply in issued), [r.text for r in issued]
    for token in [*(reply.headers["X-Subject-Token"] for reply in issued), *tokens]:
        for address in dep.addresses.values():
            check = requests.get(f"http://{address}:5000/v3/auth/tokens", timeout=30,
                                 headers={"X-Auth-Token": issued[0].headers["X-Subject-Token"],
                                          "X-Subject-Token": token, "Connection": "close"})
            assert check.status_code == 200, (address, check.status_code, check.text)


_AMQP_PROBE = """
import os, kombu
def url(address):
    return "amqp://%s:%s@%s:%s//" % (os.environ["AMQP_USER"], os.environ["AMQP_PASSWORD"],
                                     address, os.environ["AMQP_PORT"])
with kombu.Connection(url(os.environ["PUBLISH_TO"])) as conn:
    queue = conn.SimpleQueue("e2e-probe")
    queue.put({"body": os.environ["BODY"]})
    queue.close()
with kombu.Connection(url(os.environ["CONSUME_FROM"])) as conn:
    queue = conn.SimpleQueue("e2e-probe")
    message = queue.get(block=True, timeout=30)
    message.ack()
    queue.close()
print(message.payload["body"])
"""


def _amqp_round_trip(dep: Deployment, publish_to: str, consume_from: str, body: str) -> str:
    """Publish BODY to a queue through one node and consume it through another: kombu of the
    Keystone virtualenv (the password through the environment, not argv)."""
    user = yaml.safe_load((REPO / "common_templates/group_vars/all/rabbitmq.yml").read_text())[
        "rabbitmq_user"]
    proc = subprocess.run(
        [str(KEYSTONE_VENV / "bin" / "python"), "-c", _AMQP_PROBE], capture_output=True,
        text=True, timeout=90,
        env={**os.environ, "AMQP_USER": user, "AMQP_PASSWORD": dep.passwords["rabbitmq_password"],
             "AMQP_PORT": str(AMQP_PORT), "PUBLISH_TO": publish_to,
             "CONSUME_FROM": consume_from, "BODY": body})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def socket_to(address: str, port: int) -> Any:
    """A connected TCP socket (context manager)."""
    import socket
    return socket.create_connection((address, port), timeout=10)
