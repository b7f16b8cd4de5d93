"""Runner app mode as a real subprocess: commands, daemon, membership, signals, privileges."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from kolla_mesos import zkpaths
from kolla_mesos.errors import ExitCode
from kolla_mesos.testing.runner import TestDeployment
from kolla_mesos.testing.zookeeper import free_port
from tests.functional.runner.helpers import (  # noqa: F401
    PROJECT,
    Procs,
    daemon_entry,
    fixture_procs,
    fixture_rdep,
    fixture_rdir,
    read_lines,
    service,
    sh,
    wait_file_lines,
    wait_node,
)


def _member(rdep: TestDeployment, svc: str, host: str) -> str:
    return zkpaths.members(rdep.root, rdep.deployment, svc, host)


def test_commands_then_daemon_then_member_and_sigterm_forwarded(
        rdep: TestDeployment, rdir: str, procs: Procs, zk_admin) -> None:
    order = os.path.join(rdir, "order")
    dlog = os.path.join(rdir, "daemon.log")
    port = free_port()
    rdep.publish(1, [service(
        "api",
        commands={
            # Dependency order wins over name order: b_prepare runs before a_seed.
            "a_seed": sh(f"echo a_seed >> {order}", inputs_hash="s",
                         dependencies=["api/b_prepare"]),
            "b_prepare": sh(f"echo b_prepare >> {order}", inputs_hash="p"),
            "job_only": sh(f"echo job_only >> {order}", job=True, inputs_hash="j")},
        daemon=daemon_entry(rdir, dlog, port, inputs_hash="d"))])
    creds = rdep.write_credentials(rdir)
    proc = procs.start(rdep.env(creds, PROJECT, "api", "host-a"))
    member = wait_node(zk_admin, _member(rdep, "api", "host-a"), lambda m: m is not None)
    lines = read_lines(dlog)
    assert lines and lines[0].startswith("start ")
    assert member == {"host": "host-a", "address": "127.0.0.1", "generation": 1,
                      "pid": int(lines[0].split()[1])}
    assert zk_admin.exists(_member(rdep, "api", "host-a")).ephemeralOwner != 0
    assert read_lines(order) == ["b_prepare", "a_seed"]
    proc.send_signal(signal.SIGTERM)
    assert procs.wait(proc, 30) == 0, procs.log(proc)  # the daemon's own exit status
    assert read_lines(dlog)[-1] == f"stop {member['pid']}"
    assert zk_admin.exists(_member(rdep, "api", "host-a")) is None
    record = json.loads(zk_admin.get(zkpaths.status(rdep.root, rdep.deployment, "api",
                                                    "daemon", "d", "host-a"))[0])
    assert record["state"] == "done" and record["exit_code"] == 0


def test_exit_status_of_the_daemon_is_the_runners(rdep: TestDeployment, rdir: str,
                                                  procs: Procs) -> None:
    rdep.publish(1, [
        service("five", daemon=sh("exit 5", inputs_hash="f")),
        service("killed", daemon=sh("kill -KILL $$", inputs_hash="k"))])
    creds = rdep.write_credentials(rdir)
    five = procs.start(rdep.env(creds, PROJECT, "five", "host-a"))
    killed = procs.start(rdep.env(creds, PROJECT, "killed", "host-a"))
    assert procs.wait(five, 60) == 5, procs.log(five)
    assert procs.wait(killed, 60) == 128 + signal.SIGKILL, procs.log(killed)


def test_daemon_runs_unprivileged_and_cannot_write_its_config(
        rdep: TestDeployment, rdir: str, procs: Procs) -> None:
    probe = (
        "import os\n"
        "print('ids', os.getuid(), os.geteuid(), os.getgid(), sorted(os.getgroups()))\n"
        "print('read', open('etc/app.conf').read().strip())\n"
        "try:\n"
        "    open('etc/app.conf', 'a').write('owned')\n"
        "    print('write ok')\n"
        "except PermissionError:\n"
        "    print('write denied')\n"
    )
    rdep.publish(1, [service(
        "api", user="nobody",
        files={"app.conf": {"dest": "etc/app.conf", "owner": "root", "group": "root",
                            "mode": "0644"}},
        contents={"app.conf": b"secret = only-root-writes\n"},
        daemon={"command": ["/usr/bin/python3", "-c", probe], "inputs_hash": "d"})])
    creds = rdep.write_credentials(rdir)
    proc = procs.start(rdep.env(creds, PROJECT, "api", "host-a"))
    assert procs.wait(proc, 60) == 0, procs.log(proc)
    log = procs.log(proc)
    nobody = subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True,
                            check=True).stdout.strip()
    nogroup = subprocess.run(["id", "-g", "nobody"], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert f"ids {nobody} {nobody} {nogroup} [{nogroup}]" in log
    assert "read secret = only-root-writes" in log
    assert "write denied" in log and "write ok" not in log
    st = os.stat(os.path.join(rdir, "etc", "app.conf"))
    assert (st.st_uid, oct(st.st_mode & 0o777)) == (0, "0o644")


def test_daemon_dependency_waits_for_a_member_on_another_host(
        rdep: TestDeployment, rdir: str, procs: Procs, zk_admin) -> None:
    db_port, api_port = free_port(), free_port()
    rdep.publish(1, [
        service("db", daemon=daemon_entry(rdir, os.path.join(rdir, "db.log"), db_port,
                                          inputs_hash="db")),
        service("api", daemon=daemon_entry(rdir, os.path.join(rdir, "api.log"), api_port,
                                           inputs_hash="api", dependencies=["db/daemon"]))])
    creds = rdep.write_credentials(rdir)
    api = procs.start(rdep.env(creds, PROJECT, "api", "host-b"))
    wait_node(zk_admin, zkpaths.status(rdep.root, rdep.deployment, "api", "daemon", "api",
                                       "host-b"),
              lambda rec: bool(rec) and rec["state"] == "waiting")
    assert read_lines(os.path.join(rdir, "api.log")) == []
    db = procs.start(rdep.env(creds, PROJECT, "db", "host-a"))
    wait_node(zk_admin, _member(rdep, "api", "host-b"), lambda m: m is not None)
    assert zk_admin.exists(_member(rdep, "db", "host-a")) is not None
    for proc in (api, db):
        proc.send_signal(signal.SIGTERM)
        assert procs.wait(proc, 30) == 0, procs.log(proc)
    wait_file_lines(os.path.join(rdir, "api.log"), 2)


def test_readiness_deadline_and_early_exit(rdep: TestDeployment, rdir: str,
                                           procs: Procs, zk_admin) -> None:
    port = free_port()
    pidfile = os.path.join(rdir, "slow.pid")
    rdep.publish(1, [
        service("slow", daemon={"command": ["/bin/sh", "-c",
                                            f"echo $$ > {pidfile}; exec sleep 60"],
                                "inputs_hash": "s", "ready": {"tcp": port, "timeout": 1}}),
        service("dies", daemon={"command": ["/bin/sh", "-c", "exit 9"], "inputs_hash": "d",
                                "ready": {"tcp": port, "timeout": 30}})])
    creds = rdep.write_credentials(rdir)
    slow = procs.start(rdep.env(creds, PROJECT, "slow", "host-a"))
    dies = procs.start(rdep.env(creds, PROJECT, "dies", "host-a"))
    assert procs.wait(slow, 60) == ExitCode.TIMEOUT, procs.log(slow)
    assert "slow daemon did not become ready" in procs.log(slow)
    assert procs.wait(dies, 60) == 9, procs.log(dies)
    assert "dies daemon exited with status 9 before it was ready" in procs.log(dies)
    for svc in ("slow", "dies"):
        assert zk_admin.exists(_member(rdep, svc, "host-a")) is None
    # the slow daemon was stopped (and reaped) by its runner
    with open(pidfile) as handle:
        daemon_pid = int(handle.read())
    with pytest.raises(ProcessLookupError):
        os.kill(daemon_pid, 0)


def test_sigterm_while_waiting_for_dependencies(rdep: TestDeployment, rdir: str,
                                                procs: Procs, zk_admin) -> None:
    rdep.publish(1, [
        service("db", commands={"create": sh("true", job=True, inputs_hash="c")}),
        service("api", dependency_timeout=120,
                daemon={"command": ["sleep", "60"], "inputs_hash": "a",
                        "dependencies": ["db/create"]})])
    creds = rdep.write_credentials(rdir)
    api = procs.start(rdep.env(creds, PROJECT, "api", "host-b"))
    wait_node(zk_admin, zkpaths.status(rdep.root, rdep.deployment, "api", "daemon", "a",
                                       "host-b"),
              lambda rec: bool(rec) and rec["state"] == "waiting")
    api.send_signal(signal.SIGTERM)
    assert procs.wait(api, 30) == 128 + signal.SIGTERM, procs.log(api)


def test_command_readiness_probe_runs_as_the_service_user(
        rdep: TestDeployment, rdir: str, procs: Procs, zk_admin) -> None:
    nobody = subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True,
                            check=True).stdout.strip()
    rdep.publish(1, [service("api", user="nobody", daemon={
        "command": ["sleep", "60"], "inputs_hash": "a",
        "ready": {"command": ["/bin/sh", "-c", f'test "$(id -u)" = {nobody}'],
                  "timeout": 5}})])
    proc = procs.start(rdep.env(rdep.write_credentials(rdir), PROJECT, "api", "host-a"))
    wait_node(zk_admin, _member(rdep, "api", "host-a"), lambda m: m is not None)
    proc.send_signal(signal.SIGTERM)
    assert procs.wait(proc, 30) == 128 + signal.SIGTERM, procs.log(proc)  # sleep dies of SIGTERM
