"""Runner dependencies across runners and hosts, awaited with ZooKeeper watches."""

from __future__ import annotations

import json
import os

from kolla_mesos import zkpaths
from kolla_mesos.errors import ExitCode
from kolla_mesos.testing.runner import TestDeployment, ThreadRunner
from kolla_mesos.testing.zookeeper import ZookeeperServer, expire_session
from tests.functional.runner.helpers import (  # noqa: F401
    PROJECT,
    Procs,
    fixture_procs,
    fixture_rdep,
    fixture_rdir,
    service,
    sh,
    wait_node,
)


def _job(rdep: TestDeployment, creds: str, svc: str, cmd: str, host: str) -> dict[str, str]:
    return rdep.env(creds, PROJECT, svc, host, KOLLA_COMMAND=cmd)


def test_dependency_chain_across_runners_and_hosts(rdep: TestDeployment, rdir: str,
                                                   procs: Procs, zk_admin) -> None:
    log = os.path.join(rdir, "order")
    rdep.publish(1, [
        service("db", commands={"create": sh(f"echo db/create >> {log}", job=True,
                                             run_once=True, inputs_hash="c1")}),
        service("api", commands={
            "sync": sh(f"echo api/sync >> {log}", job=True, run_once=True, inputs_hash="s1",
                       dependencies=["db/create"]),
            "warm": sh(f"echo api/warm >> {log}", job=True, inputs_hash="w1",
                       dependencies=[{"path": "api/sync", "scope": "global"}])}),
        service("ui", commands={"register": sh(f"echo ui/register >> {log}", job=True,
                                               inputs_hash="r1",
                                               dependencies=["api/warm"])}),
    ])
    creds = rdep.write_credentials(rdir)
    # Start the end of the chain first, each on its own host.
    last = procs.start(_job(rdep, creds, "ui", "register", "host-c"))
    warm = procs.start(_job(rdep, creds, "api", "warm", "host-b"))
    sync = procs.start(_job(rdep, creds, "api", "sync", "host-b"))
    # Wait until the dependents really wait (their waiting records exist), then start the root.
    for svc, cmd, key, host in (("ui", "register", "r1", "host-c"),
                                ("api", "warm", "w1", "host-b"),
                                ("api", "sync", "s1", "host-b")):
        wait_node(zk_admin, zkpaths.status(rdep.root, rdep.deployment, svc, cmd, key, host),
                  lambda rec: bool(rec) and rec["state"] == "waiting")
    first = procs.start(_job(rdep, creds, "db", "create", "host-a"))
    for proc in (first, sync, warm, last):
        assert procs.wait(proc, 60) == 0, procs.log(proc)
    with open(log) as handle:
        assert handle.read().split() == ["db/create", "api/sync", "api/warm", "ui/register"]


def test_local_scope_waits_for_this_hosts_record(rdep: TestDeployment, rdir: str,
                                                 procs: Procs, zk_admin) -> None:
    log = os.path.join(rdir, "order")
    rdep.publish(1, [
        service("agent", commands={
            "prep": sh(f"echo prep-$KOLLA_HOSTNAME >> {log}", job=True, inputs_hash="p"),
            "use": sh(f"echo use-$KOLLA_HOSTNAME >> {log}", job=True, inputs_hash="u",
                      dependencies=[{"path": "agent/prep", "scope": "local"}])})])
    creds = rdep.write_credentials(rdir)
    prep_a = procs.start(_job(rdep, creds, "agent", "prep", "host-a"))
    assert procs.wait(prep_a, 60) == 0, procs.log(prep_a)
    use_b = procs.start(_job(rdep, creds, "agent", "use", "host-b"))
    wait_node(zk_admin, zkpaths.status(rdep.root, rdep.deployment, "agent", "use", "u",
                                       "host-b"),
              lambda rec: bool(rec) and rec["state"] == "waiting")
    # host-a's prep does not satisfy host-b's local dependency; host-b's own prep does.
    prep_b = procs.start(_job(rdep, creds, "agent", "prep", "host-b"))
    assert procs.wait(prep_b, 60) == 0 and procs.wait(use_b, 60) == 0, procs.log(use_b)
    with open(log) as handle:
        assert handle.read().split() == ["prep-host-a", "prep-host-b", "use-host-b"]


def test_failed_dependency_fails_the_waiter_naming_it(rdep: TestDeployment, rdir: str,
                                                      procs: Procs, zk_admin) -> None:
    rdep.publish(1, [
        service("db", commands={"create": sh("exit 4", job=True, inputs_hash="c1")}),
        service("api", dependency_timeout=120, commands={
            "sync": sh("echo must-not-run", job=True, inputs_hash="s1",
                       dependencies=["db/create"])})])
    creds = rdep.write_credentials(rdir)
    waiter = procs.start(_job(rdep, creds, "api", "sync", "host-b"))
    wait_node(zk_admin, zkpaths.status(rdep.root, rdep.deployment, "api", "sync", "s1",
                                       "host-b"),
              lambda rec: bool(rec) and rec["state"] == "waiting")
    failing = procs.start(_job(rdep, creds, "db", "create", "host-a"))
    assert failing.wait(60) == 4
    # DEPENDENCY_FAILED (not TIMEOUT): it failed at once, long before its 120 s deadline.
    assert waiter.wait(60) == ExitCode.DEPENDENCY_FAILED
    log = procs.log(waiter)
    assert "Dependency db/create of api/sync failed on host host-a (exit code 4" in log
    assert "must-not-run" not in log
    record = json.loads(zk_admin.get(zkpaths.status(rdep.root, rdep.deployment, "api", "sync",
                                                    "s1", "host-b"))[0])
    assert record["state"] == "failed" and "db/create" in record["message"]


def test_dependency_deadline_expires(rdep: TestDeployment, rdir: str, procs: Procs) -> None:
    rdep.publish(1, [
        service("db", commands={"create": sh("true", job=True, inputs_hash="c1")}),
        service("api", dependency_timeout=1, commands={
            "sync": sh("echo must-not-run", job=True, inputs_hash="s1",
                       dependencies=["db/create"])})])
    creds = rdep.write_credentials(rdir)
    waiter = procs.start(_job(rdep, creds, "api", "sync", "host-b"))
    assert waiter.wait(60) == ExitCode.TIMEOUT
    log = procs.log(waiter)
    assert "api/sync on host host-b waited 1 s for dependency db/create (global: no status " \
        "yet)" in log
    assert "must-not-run" not in log


def test_dependency_that_never_existed_fails_at_once(rdep: TestDeployment, rdir: str,
                                                     procs: Procs) -> None:
    rdep.publish(1, [
        service("db", commands={"create": sh("true", job=True, inputs_hash="c1")}),
        service("api", dependency_timeout=120, commands={
            "sync": sh("true", job=True, inputs_hash="s1", dependencies=["db/drop"]),
            "seed": sh("true", job=True, inputs_hash="s2", dependencies=["ghost/daemon"])})])
    creds = rdep.write_credentials(rdir)
    sync = procs.start(_job(rdep, creds, "api", "sync", "host-b"))
    seed = procs.start(_job(rdep, creds, "api", "seed", "host-b"))
    assert sync.wait(60) == ExitCode.CONFIG and seed.wait(60) == ExitCode.CONFIG
    assert "Dependency db/drop of api/sync does not exist: service 'db' has no command " \
        "'drop' in generation 1" in procs.log(sync)
    assert "Dependency ghost/daemon of api/seed does not exist: generation 1 has no service " \
        "'ghost'" in procs.log(seed)


def test_dependency_wait_survives_session_expiry(rdep: TestDeployment, rdir: str,
                                                 procs: Procs, zk_admin,
                                                 zk_server: ZookeeperServer) -> None:
    out = os.path.join(rdir, "ran")
    rdep.publish(1, [
        service("db", commands={"create": sh("true", job=True, inputs_hash="c1")}),
        service("api", dependency_timeout=60, commands={
            "sync": sh(f"echo synced >> {out}", job=True, inputs_hash="s1",
                       dependencies=["db/create"])})])
    creds = rdep.write_credentials(rdir)
    waiter = ThreadRunner(_job(rdep, creds, "api", "sync", "host-b"), rdir).start()
    try:
        wait_node(zk_admin, zkpaths.status(rdep.root, rdep.deployment, "api", "sync", "s1",
                                           "host-b"),
                  lambda rec: bool(rec) and rec["state"] == "waiting")
        expire_session(zk_server.hosts, waiter.session.client)  # its watches die with it
        first = procs.start(_job(rdep, creds, "db", "create", "host-a"))
        assert procs.wait(first, 60) == 0, procs.log(first)
        assert waiter.join(30), "the waiter did not wake up after the session expiry"
        assert waiter.result == 0, waiter.error
    finally:
        waiter.close()
    with open(out) as handle:
        assert handle.read() == "synced\n"
