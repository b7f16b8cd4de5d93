"""HAProxy on the VIP with TLS, end to end (issue 10), in one deployment of three agents.

Three load balancers (every agent runs HAProxy; the simulator's agents share one network
namespace, so the three bind the same VIP:port with SO_REUSEPORT, a VIP no agent owns), a
three-node Galera cluster behind kolla's MariaDB listener (one active backend, the others
backup) and Keystone on one agent, with kolla_enable_tls_internal (and so external: one
VIP) and kolla_enable_tls_backend (Keystone's uwsgi serves https; HAProxy verifies it against
the deployment's CA): a real ``openstack`` client trusting only the generated CA gets a token over
https://<VIP>:5000/v3, plain HTTP there fails, the catalog is https; token requests through
the VIP go on without one failure while a load balancer stops and Marathon brings it back;
MariaDB through the VIP takes writes again after its active backend restarts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from mesos_sim.simulator import Simulator

from kolla_mesos.testing.waiting import wait_for
from tests.functional.e2e.test_minimal import (  # the shared e2e machinery (not its tests)
    BIN,
    Deployment,
    _addresses,
    _cmdline,
    _sim_logs,
    _sql,
    _task_ids,
    _task_processes,
    _wsrep_cluster_size,
    cluster,  # noqa: F401 - the fixture
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def _three_load_balancers() -> tuple[dict[str, str], dict[str, list[str]]]:
    addresses = _addresses(3)
    three, one = list(addresses), ["agent1"]
    return addresses, {"control": three, "loadbalancer": three, "mariadb": three,
                       "memcached": one, "rabbitmq": one, "keystone": one}


def _vip(dep: Deployment) -> str:
    """An address of the agents' /24 that no agent owns."""
    return dep.addresses["agent1"].rsplit(".", 1)[0] + ".250"


def _enable_tls(dep: Deployment) -> None:
    path = dep.etc / "globals.yml"
    values = yaml.safe_load(path.read_text())
    values.update(kolla_internal_vip_address=_vip(dep), kolla_enable_tls_internal="yes",
                  kolla_enable_tls_backend="yes")
    path.write_text(yaml.safe_dump(values))


def _openstack(dep: Deployment, ca: Path, *args: str) -> Any:
    """The real ``openstack`` CLI against the VIP (password in its environment)."""
    env = {**os.environ, "OS_AUTH_URL": f"https://{_vip(dep)}:5000/v3",
           "OS_USERNAME": "admin", "OS_PROJECT_NAME": "admin",
           "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
           "OS_IDENTITY_API_VERSION": "3", "OS_INTERFACE": "internal",
           "OS_PASSWORD": dep.passwords["keystone_admin_password"]}
    proc = subprocess.run([str(BIN / "openstack"), "--os-cacert", str(ca), *args, "-f", "json"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _haproxy_master(dep: Deployment, host: str) -> int:
    """The HAProxy master process of HOST's task (its parent is the runner)."""
    for pid in _task_processes(dep.zk_root):
        argv = _cmdline(pid)
        if not argv.startswith(b"/usr/sbin/haproxy\0"):
            continue
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if _cmdline(ppid).startswith(b"/usr/sbin/haproxy\0"):
            continue  # a worker
        if f"KOLLA_HOSTNAME={host}".encode() in environ:
            return pid
    raise AssertionError(f"no HAProxy master of {host} found")


class TokenClient(threading.Thread):
    """Requests tokens through the VIP over verified HTTPS, one after another, counting."""

    def __init__(self, url: str, ca: Path, password: str) -> None:
        super().__init__(daemon=True)
        self.url, self.ca, self.password = url, ca, password
        self.ok = 0
        self.failures: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": self.password}}}}}
        while not self.stop.is_set():
            try:
                reply = requests.post(f"{self.url}/auth/tokens", json=body, timeout=30,
                                      verify=str(self.ca), headers={"Connection": "close"})
                if reply.status_code == 201:
                    self.ok += 1
                else:
                    self.failures.append(f"HTTP {reply.status_code}")
            except requests.RequestException as exc:
                self.failures.append(type(exc).__name__)


@pytest.mark.parametrize("cluster", [_three_load_balancers], indirect=True,
                         ids=["three-load-balancers"])
def test_tls_on_the_vip_three_load_balancers_and_mariadb_behind_them(
        cluster: tuple[Simulator, Deployment]) -> None:  # noqa: F811 - the fixture
    sim, dep = cluster
    vip = _vip(dep)
    _enable_tls(dep)
    made = dep.run("certificates", check=True)
    assert "haproxy.pem" in made.stdout
    ca = dep.etc / "certificates" / "ca" / "root.crt"
    started = time.monotonic()
    proc = dep.run("deploy", "--no-progress", "--profile", "minimal-lb")
    assert proc.returncode == 0, f"{proc.stderr}\n{_sim_logs(sim.state_dir)}"
    print(f"minimal-lb with TLS on three agents deployed in {time.monotonic() - started:.1f} s")
    status = {row["service"]: row for row in dep.json("status")}
    assert status["haproxy"]["healthy"] == status["haproxy"]["instances"] == 3, status

    # HAProxy marks Keystone up after two good checks (kolla's `rise 2`, 2 s apart), which
    # may be after Marathon found the app healthy
    wait_for(lambda: requests.get(f"https://{vip}:5000/v3", verify=str(ca),
                                  timeout=10).status_code == 200,
             timeout=30, interval=0.5, what="Keystone through the VIP")
    # a real client that trusts only the generated CA: a token over https://<VIP>:5000/v3
    token = _openstack(dep, ca, "token", "issue")
    assert token["id"] and token["project_id"]
    endpoints = _openstack(dep, ca, "endpoint", "list")
    urls = sorted(e["URL"] for e in endpoints)
    assert urls and all(u == f"https://{vip}:5000" for u in urls), urls
    # the certificate names the VIP (verified above, by address); plain HTTP is refused
    # on the VIP, and Keystone itself (backend TLS) serves https with its host's certificate
    keystone_address = dep.addresses["agent1"]
    assert requests.get(f"https://{keystone_address}:5000/v3", verify=str(ca),
                        timeout=10).status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://{vip}:5000/v3", timeout=10)
    # no key material in any app or job JSON
    key_line = (dep.etc / "certificates" / "haproxy.pem").read_text().splitlines()[-2]
    apps = requests.get(f"{sim.marathon_url}/v2/apps?embed=apps.tasks", timeout=10).text
    jobs = requests.get(f"{sim.chronos_url}/v1/scheduler/jobs", timeout=10).text
    assert key_line not in apps and key_line not in jobs

    # one of three load balancers stops (HAProxy's graceful stop, SIGUSR1) while a client
    # requests tokens through the VIP: not one request fails; Marathon starts it again
    before = _task_ids(sim, "/kolla/e2e/loadbalancer/haproxy")
    client = TokenClient(f"https://{vip}:5000/v3", ca, dep.passwords["keystone_admin_password"])
    client.start()
    wait_for(lambda: client.ok >= 5, timeout=60, what="five tokens through the VIP")
    os.kill(_haproxy_master(dep, "agent2"), signal.SIGUSR1)

    def replaced() -> bool:
        tasks = _task_ids(sim, "/kolla/e2e/loadbalancer/haproxy")
        row = {r["service"]: r for r in dep.json("status")}["haproxy"]
        return len(tasks) == 3 and len(tasks - before) == 1 and row["healthy"] == 3

    wait_for(replaced, timeout=120, interval=1, what="Marathon to replace the stopped HAProxy")
    served = client.ok
    wait_for(lambda: client.ok >= served + 5, timeout=60, what="tokens after the replacement")
    client.stop.set()
    client.join(timeout=60)
    print(f"{client.ok} tokens through the VIP while a load balancer stopped and came back, "
          f"{len(client.failures)} failed")
    assert client.failures == [], client.failures
    assert client.ok >= 10

    # MariaDB through the VIP: the active backend (agent1) restarts; clients reconnect
    # through the VIP and their next writes succeed (on a backup, then on every node)
    password = dep.passwords["database_password"]
    _sql(vip, password, "CREATE DATABASE e2e_vip; CREATE TABLE e2e_vip.t (n INT)")
    mariadb_before = _task_ids(sim, "/kolla/e2e/mariadb/mariadb")
    mariadbd = [pid for pid in _task_processes(dep.zk_root)
                if _cmdline(pid).startswith(b"/usr/sbin/mariadbd\0") and
                b"KOLLA_HOSTNAME=agent1" in
                Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")]
    assert len(mariadbd) == 1, mariadbd
    os.kill(mariadbd[0], signal.SIGKILL)

    def write_through_vip() -> bool:
        probe = subprocess.run(
            ["/usr/bin/mariadb", "--no-defaults", "-h", vip, "-u", "root",
             "--connect-timeout=5", "-e", "INSERT INTO e2e_vip.t VALUES (1)"],
            capture_output=True, text=True, timeout=30, env={**os.environ, "MYSQL_PWD": password})
        return probe.returncode == 0

    wait_for(write_through_vip, timeout=60, interval=1, what="a write through the VIP")

    def agent1_synced() -> bool:
        # a joiner opens its port once its state transfer is done
        probe = subprocess.run(
            ["/usr/bin/mariadb", "--no-defaults", "-h", dep.addresses["agent1"], "-u", "root",
             "-N", "-B", "--connect-timeout=5", "-e",
             "SHOW STATUS LIKE 'wsrep_local_state_comment'"],
            capture_output=True, text=True, timeout=30, env={**os.environ, "MYSQL_PWD": password})
        return probe.returncode == 0 and probe.stdout.split()[-1:] == ["Synced"]

    wait_for(lambda: len(_task_ids(sim, "/kolla/e2e/mariadb/mariadb") - mariadb_before) == 1
             and agent1_synced(), timeout=180, interval=2,
             what="agent1's MariaDB back in the cluster")
    assert _wsrep_cluster_size(dep.addresses["agent1"], password) == 3
    assert write_through_vip()
    for address in dep.addresses.values():
        rows = _sql(address, password, "SELECT COUNT(*) FROM e2e_vip.t").split()
        assert int(rows[0]) >= 2, (address, rows)
    # Keystone, whose database is behind the same VIP, still answers
    assert _openstack(dep, ca, "token", "issue")["id"]

    # a renewed certificate is a changed file of HAProxy's: its master reloads (new workers
    # serve the new certificate), no task is replaced
    lb_tasks = _task_ids(sim, "/kolla/e2e/loadbalancer/haproxy")
    served_before = _served_certificate(vip, ca)
    dep.run("certificates", "--renew", check=True)
    pem = (dep.etc / "certificates" / "haproxy-internal.pem").read_text()
    renewed = pem[:pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    assert renewed.strip() != served_before.strip()
    proc = dep.run("deploy", "--no-progress", "--profile", "minimal-lb")
    assert proc.returncode == 0, f"{proc.stderr}\n{_sim_logs(sim.state_dir)}"
    # every one of the three serves it (connections spread over them by SO_REUSEPORT)
    wait_for(lambda: all(_served_certificate(vip, ca).strip() == renewed.strip()
                         for _ in range(9)),
             timeout=60, interval=0.5, what="every HAProxy to serve the renewed certificate")
    assert _task_ids(sim, "/kolla/e2e/loadbalancer/haproxy") == lb_tasks
    # (Keystone's own backend certificate was renewed too: its reload policy is restart,
    # and HAProxy marks the new instance up after two good checks)
    wait_for(lambda: requests.get(f"https://{vip}:5000/v3", verify=str(ca),
                                  timeout=10).status_code == 200,
             timeout=60, interval=0.5, what="Keystone through the VIP after the renewal")
    assert _openstack(dep, ca, "token", "issue")["id"]


def _served_certificate(address: str, ca: Path) -> str:
    """The PEM certificate a TLS server at ADDRESS:5000 presents (verified against CA)."""
    import ssl

    return ssl.get_server_certificate((address, 5000), ca_certs=str(ca), timeout=10)
