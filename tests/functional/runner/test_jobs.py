"""Runner job mode (Chronos) against a real ZooKeeper with least-privilege credentials."""

from __future__ import annotations

import json
import os
import secrets

from kolla_mesos import zkpaths
from kolla_mesos.errors import ExitCode
from kolla_mesos.testing.runner import TestDeployment
from tests.functional.runner.helpers import (  # noqa: F401
    PROJECT,
    Procs,
    fixture_procs,
    fixture_rdep,
    fixture_rdir,
    service,
    sh,
    wait_children,
    wait_node,
)


def _status(dep: TestDeployment, zk_admin, svc: str, cmd: str, key: str) -> dict:
    parent = zkpaths.status(dep.root, dep.deployment, svc, cmd, key)
    return {h: json.loads(zk_admin.get(f"{parent}/{h}")[0]) for h in zk_admin.get_children(parent)}


def test_job_runs_once_writes_files_and_records_status(rdep: TestDeployment, rdir: str,
                                                        procs: Procs, zk_admin) -> None:
    out = os.path.join(rdir, "ran")
    files = {"app.conf": {"dest": "etc/app.conf", "owner": "root", "group": "root",
                          "mode": "0640"}}
    rdep.publish(1, [service("svc", files=files, contents={"app.conf": b"key = 1\n"}, commands={
        "db_sync": sh(f"cat etc/app.conf >> {out}; stat -c '%a %u' etc/app.conf >> {out}",
                      run_once=True, job=True, inputs_hash="h1")})])
    creds = rdep.write_credentials(rdir)
    env = rdep.env(creds, PROJECT, "svc", "host-a", KOLLA_COMMAND="db_sync")
    first = procs.start(env)
    assert procs.wait(first, 60) == 0, procs.log(first)
    # the job saw its file (mode 0640, root), removed when it ended (no daemon needs it)
    assert not os.path.exists(os.path.join(rdir, "etc", "app.conf"))
    with open(out) as handle:
        assert handle.read() == "key = 1\n640 0\n"
    records = _status(rdep, zk_admin, "svc", "db_sync", "h1")
    assert list(records) == ["host-a"]
    assert records["host-a"]["state"] == "done" and records["host-a"]["exit_code"] == 0
    assert records["host-a"]["generation"] == 1
    # A second job run (another host) finds it done and exits 0 without running it again.
    second = procs.start(rdep.env(creds, PROJECT, "svc", "host-b", KOLLA_COMMAND="db_sync"))
    assert procs.wait(second, 60) == 0, procs.log(second)
    with open(out) as handle:
        assert handle.read() == "key = 1\n640 0\n"
    assert "already ran on host-a" in procs.log(second)


def test_failing_job_exits_with_its_status_and_records_failure(
        rdep: TestDeployment, rdir: str, procs: Procs, zk_admin) -> None:
    rdep.publish(1, [service("svc", commands={
        "boom": sh("echo broken >&2; exit 3", run_once=True, job=True, inputs_hash="hb")})])
    creds = rdep.write_credentials(rdir)
    proc = procs.start(rdep.env(creds, PROJECT, "svc", "host-a", KOLLA_COMMAND="boom"))
    assert proc.wait(60) == 3
    log = procs.log(proc)
    assert "broken" in log and "svc/boom on host host-a exited with status 3" in log
    record = _status(rdep, zk_admin, "svc", "boom", "hb")["host-a"]
    assert record["state"] == "failed" and record["exit_code"] == 3


def test_changed_inputs_rerun_and_unchanged_do_not(rdep: TestDeployment, rdir: str,
                                                    procs: Procs) -> None:
    out = os.path.join(rdir, "runs")
    creds = rdep.write_credentials(rdir)

    def generation(number: int, inputs_hash: str) -> None:
        rdep.publish(number, [service("svc", commands={
            "db_sync": sh(f"echo gen{number} >> {out}", run_once=True, job=True,
                          inputs_hash=inputs_hash)})])

    def run() -> None:
        proc = procs.start(rdep.env(creds, PROJECT, "svc", "host-a", KOLLA_COMMAND="db_sync"))
        assert procs.wait(proc, 60) == 0, procs.log(proc)

    generation(1, "inputs-1")
    run()
    generation(2, "inputs-1")  # new generation, same inputs: nothing to do
    run()
    generation(3, "inputs-2")  # changed image/files/command: runs again
    run()
    with open(out) as handle:
        assert handle.read().split() == ["gen1", "gen3"]


def test_missing_credentials_file_is_a_clear_config_error(rdep: TestDeployment, rdir: str,
                                                          procs: Procs) -> None:
    rdep.publish(1, [service("svc", commands={"c": sh("true", job=True)})])
    missing = os.path.join(rdir, "no-such-file")
    proc = procs.start(rdep.env(missing, PROJECT, "svc", "host-a", KOLLA_COMMAND="c"))
    assert proc.wait(60) == ExitCode.CONFIG
    assert f"ZooKeeper credentials file {missing} (KOLLA_ZK_CREDENTIALS_FILE) does not " \
        "exist" in procs.log(proc)


def test_wrong_credentials_cannot_read_the_generation(rdep: TestDeployment, rdir: str,
                                                      procs: Procs) -> None:
    rdep.publish(1, [service("svc", commands={"c": sh("true", job=True)})])
    creds = os.path.join(rdir, "bad-creds")
    with open(os.open(creds, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
        handle.write(f"runner:{secrets.token_hex(8)}\n")
    proc = procs.start(rdep.env(creds, PROJECT, "svc", "host-a", KOLLA_COMMAND="c"))
    assert proc.wait(60) == ExitCode.REMOTE
    log = procs.log(proc)
    assert "refused the runner's credentials" in log
    assert "not-the-password" not in log


def test_missing_runner_acl_is_a_clear_error(rdep: TestDeployment, rdir: str,
                                             procs: Procs) -> None:
    rdep.publish(1, [service("svc", commands={"c": sh("true", job=True)})])
    rdep.client.set(rdep.path(), b'{"deployment": "test"}')  # a deployer without runner_acl
    proc = procs.start(rdep.env(rdep.write_credentials(rdir), PROJECT, "svc", "host-a",
                                KOLLA_COMMAND="c"))
    assert proc.wait(60) == ExitCode.REMOTE
    assert f"The deployment node {rdep.path()} has no 'runner_acl'" in procs.log(proc)


def test_second_host_waits_for_the_lock_holder_then_skips(
        rdep: TestDeployment, rdir: str, procs: Procs, zk_admin) -> None:
    out = os.path.join(rdir, "ran")
    gate = os.path.join(rdir, "gate")
    # The first host's command blocks until the test opens the gate (a fifo), longer than
    # dependency_timeout: the second host must keep waiting for the lock (the command's own
    # timeout is added), then find the command done and skip it.
    os.mkfifo(gate)
    rdep.publish(1, [service("svc", dependency_timeout=1, commands={
        "sync": sh(f"read line < {gate}; echo $KOLLA_HOSTNAME >> {out}", job=True,
                   run_once=True, inputs_hash="h", timeout=60)})])
    creds = rdep.write_credentials(rdir)
    first = procs.start(rdep.env(creds, PROJECT, "svc", "host-a", KOLLA_COMMAND="sync"))
    record = zkpaths.status(rdep.root, rdep.deployment, "svc", "sync", "h")
    wait_node(zk_admin, f"{record}/host-a", lambda rec: bool(rec) and rec["state"] == "running")
    second = procs.start(rdep.env(creds, PROJECT, "svc", "host-b", KOLLA_COMMAND="sync"))
    wait_node(zk_admin, f"{record}/host-b", lambda rec: bool(rec) and rec["state"] == "waiting")
    lock = zkpaths.lock(rdep.root, rdep.deployment, "svc", "sync")
    contenders = [zk_admin.get(f"{lock}/{c}")[0] for c in wait_children(zk_admin, lock, 2)]
    assert sorted(contenders) == [b"host-a", b"host-b"]  # lock nodes name their hosts
    with open(gate, "w") as handle:
        handle.write("go\n")
    assert procs.wait(first, 60) == 0, procs.log(first)
    assert procs.wait(second, 60) == 0, procs.log(second)
    with open(out) as handle:
        assert handle.read() == "host-a\n"
    assert zk_admin.get_children(record) == ["host-a"]  # the skipper removed its record


def test_definition_env_over_task_env_and_argv_without_shell(
        rdep: TestDeployment, rdir: str, procs: Procs) -> None:
    out = os.path.join(rdir, "env")
    code = ("import os, sys; open(sys.argv[1], 'w').write("
            "'|'.join([os.environ['A'], os.environ['B'], sys.argv[2]]))")
    rdep.publish(1, [service("svc", commands={"show": {
        "command": ["/usr/bin/python3", "-c", code, out, "$B; echo not-a-shell"],
        "env": {"B": "from-definition"}, "job": True}})])
    env = rdep.env(rdep.write_credentials(rdir), PROJECT, "svc", "host-a",
                   KOLLA_COMMAND="show", A="from-task", B="from-task")
    proc = procs.start(env)
    assert procs.wait(proc, 60) == 0, procs.log(proc)
    with open(out) as handle:
        assert handle.read() == "from-task|from-definition|$B; echo not-a-shell"


def test_job_only_files_stay_out_of_the_app_and_leave_with_the_job(
        rdep: TestDeployment, rdir: str, procs: Procs) -> None:
    """A daemon's task writes only its own files; a job's secrets are removed when it ends,
    also when it failed (DESIGN section 4)."""
    files = {"app.conf": {"dest": "app.conf", "mode": "0600"},
             "admin.cnf": {"dest": "admin.cnf", "mode": "0600"}}
    contents = {"app.conf": b"a = 1\n", "admin.cnf": b"password = root-secret\n"}
    seen = os.path.join(rdir, "seen")
    rdep.publish(1, [service("svc", files=files, contents=contents, commands={
        "create_db": sh(f"cat admin.cnf > {seen}", job=True, files=["admin.cnf"]),
        "broken": sh(f"cat admin.cnf >> {seen}; exit 4", job=True, files=["admin.cnf"])},
        daemon=sh("exit 0", files=["app.conf"]))])
    creds = rdep.write_credentials(rdir)
    for command, code in (("create_db", 0), ("broken", 4)):
        sandbox = os.path.join(rdir, command)
        os.mkdir(sandbox)
        proc = procs.start(rdep.env(creds, PROJECT, "svc", "host-a", KOLLA_COMMAND=command),
                           cwd=sandbox)
        assert procs.wait(proc, 60) == code, procs.log(proc)
        assert os.listdir(sandbox) == [], command  # the job's file is gone
    with open(seen) as handle:
        assert handle.read() == "password = root-secret\n" * 2  # the jobs did have it
    app = os.path.join(rdir, "app")
    os.mkdir(app)
    proc = procs.start(rdep.env(creds, PROJECT, "svc", "host-a"), cwd=app)
    assert procs.wait(proc, 60) == 0, procs.log(proc)
    assert os.listdir(app) == ["app.conf"]
