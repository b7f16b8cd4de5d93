"""Hot reload and membership: runners in threads (each with its own session) and real daemons.

In-process runners give the test the runner's reload watcher (to wait until a generation has
been handled) and its ZooKeeper client (to expire its session); the daemons are real
processes that log start/hup/stop lines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from kolla_mesos import zkpaths
from kolla_mesos.testing.runner import ServiceFiles, TestDeployment, ThreadRunner
from kolla_mesos.testing.waiting import wait_watch
from kolla_mesos.testing.zookeeper import ZookeeperServer, expire_session
from tests.functional.runner.helpers import (  # noqa: F401
    PROJECT,
    daemon_entry,
    fixture_rdep,
    fixture_rdir,
    read_lines,
    service,
    wait_file_lines,
    wait_node,
)

CONF = {"dest": "etc/api.conf", "owner": "root", "group": "root", "mode": "0644",
        "per_host": True}


@pytest.fixture
def threads() -> Iterator[list[ThreadRunner]]:
    """Runners started by the test; stopped at its end."""
    started: list[ThreadRunner] = []
    try:
        yield started
    finally:
        for runner in started:
            runner.close()


def _api(rdir: str, reload: str, content: bytes, hosts: dict[str, bytes] | None = None,
         ) -> ServiceFiles:
    log = os.path.join(rdir, "{host}.log")
    return service("api", reload=reload, files={"api.conf": CONF},
                   contents={"api.conf": content},
                   host_contents={("api.conf", h): c for h, c in (hosts or {}).items()},
                   daemon=daemon_entry(rdir, log, 0, inputs_hash="d", ready=None))


def _other(content: bytes) -> ServiceFiles:
    return service("other", files={"o.conf": {"dest": "o.conf"}}, contents={"o.conf": content},
                   commands={"noop": {"command": ["true"], "job": True}})


def _start(rdep: TestDeployment, rdir: str, host: str, threads: list[ThreadRunner],
           **extra: str) -> ThreadRunner:
    creds = os.path.join(rdir, "zk-runner-credentials")
    if not os.path.exists(creds):
        rdep.write_credentials(rdir)
    cwd = os.path.join(rdir, host)
    os.makedirs(cwd, exist_ok=True)
    env = rdep.env(creds, PROJECT, "api", host, PATH=os.environ["PATH"], **extra)
    runner = ThreadRunner(env, cwd).start()
    threads.append(runner)
    assert runner.runner.started.wait(30) or runner.done.is_set(), "runner did not start"
    assert runner.error is None, runner.error
    wait_file_lines(os.path.join(rdir, f"{host}.log"), 1)
    return runner


def _conf(rdir: str, host: str) -> bytes:
    with open(os.path.join(rdir, host, "etc", "api.conf"), "rb") as handle:
        return handle.read()


def _processed(runner: ThreadRunner, generation: int) -> str:
    watcher = runner.runner.watcher
    assert watcher is not None and watcher.wait_processed(generation, 30)
    return dict(watcher.history)[generation]


def _stop(runner: ThreadRunner) -> None:
    runner.close()
    assert runner.result == 0, runner.error


def test_sighup_policy_signals_each_instance_once_and_ignores_unrelated_changes(
        rdep: TestDeployment, rdir: str, threads: list[ThreadRunner]) -> None:
    rdep.publish(1, [_api(rdir, "sighup", b"v1\n", {"host-b": b"v1-b\n"}), _other(b"o1")])
    a = _start(rdep, rdir, "host-a", threads)
    b = _start(rdep, rdir, "host-b", threads)
    assert (_conf(rdir, "host-a"), _conf(rdir, "host-b")) == (b"v1\n", b"v1-b\n")
    rdep.publish(2, [_api(rdir, "sighup", b"v2\n", {"host-b": b"v2-b\n"}), _other(b"o1")])
    assert (_processed(a, 2), _processed(b, 2)) == ("sighup", "sighup")
    assert (_conf(rdir, "host-a"), _conf(rdir, "host-b")) == (b"v2\n", b"v2-b\n")
    rdep.publish(3, [_api(rdir, "sighup", b"v2\n", {"host-b": b"v2-b\n"}), _other(b"o2")])
    assert (_processed(a, 3), _processed(b, 3)) == ("nothing", "nothing")
    for host, runner in (("host-a", a), ("host-b", b)):
        _stop(runner)
        lines = read_lines(os.path.join(rdir, f"{host}.log"))
        pid = lines[0].split()[1]
        assert lines == [f"start {pid}", f"hup {pid}", f"stop {pid}"]
    member = zkpaths.members(rdep.root, rdep.deployment, "api", "host-a")
    assert rdep.client.exists(member) is None


def test_none_policy_rewrites_without_signal(rdep: TestDeployment, rdir: str,
                                             threads: list[ThreadRunner], zk_admin) -> None:
    rdep.publish(1, [_api(rdir, "none", b"v1\n")])
    a = _start(rdep, rdir, "host-a", threads)
    rdep.publish(2, [_api(rdir, "none", b"v2\n")])
    assert _processed(a, 2) == "rewrite"
    assert _conf(rdir, "host-a") == b"v2\n"
    member = zkpaths.members(rdep.root, rdep.deployment, "api", "host-a")
    wait_node(zk_admin, member, lambda m: m is not None and m["generation"] == 2)
    _stop(a)
    assert [line.split()[0] for line in read_lines(os.path.join(rdir, "host-a.log"))] == \
        ["start", "stop"]


def test_in_place_restart_mode_restarts_exactly_once_per_change(
        rdep: TestDeployment, rdir: str, threads: list[ThreadRunner], zk_admin) -> None:
    rdep.publish(1, [_api(rdir, "restart", b"v1\n")])
    a = _start(rdep, rdir, "host-a", threads, KOLLA_RELOAD_RESTART="runner")
    rdep.publish(2, [_api(rdir, "restart", b"v2\n")])
    assert _processed(a, 2) == "restart"
    rdep.publish(3, [_api(rdir, "restart", b"v2\n")])  # unchanged: no restart
    assert _processed(a, 3) == "nothing"
    assert _conf(rdir, "host-a") == b"v2\n"
    lines = wait_file_lines(os.path.join(rdir, "host-a.log"), 3)
    first, second = lines[0].split()[1], lines[2].split()[1]
    assert lines == [f"start {first}", f"stop {first}", f"start {second}"]
    member = zkpaths.members(rdep.root, rdep.deployment, "api", "host-a")
    wait_node(zk_admin, member, lambda m: m is not None and m["pid"] == int(second)
              and m["generation"] == 3)
    _stop(a)
    assert read_lines(os.path.join(rdir, "host-a.log"))[3:] == [f"stop {second}"]


def test_restart_policy_under_marathon_leaves_the_process_alone(
        rdep: TestDeployment, rdir: str, threads: list[ThreadRunner]) -> None:
    rdep.publish(1, [_api(rdir, "restart", b"v1\n")])
    a = _start(rdep, rdir, "host-a", threads)
    rdep.publish(2, [_api(rdir, "restart", b"v2\n")])
    assert _processed(a, 2) == "marathon"
    assert _conf(rdir, "host-a") == b"v1\n"
    _stop(a)
    lines = read_lines(os.path.join(rdir, "host-a.log"))
    pid = lines[0].split()[1]
    assert lines == [f"start {pid}", f"stop {pid}"]


def _wait_owner(client: Any, path: str, owner: int, timeout: float = 30.0) -> None:
    def read(watch: Any) -> bool | None:
        stat = client.exists(path, watch=watch)
        return True if stat is not None and stat.ephemeralOwner == owner else None
    wait_watch(read, timeout, f"{path} owned by session {owner:#x}")


def test_membership_comes_back_after_session_expiry(
        rdep: TestDeployment, rdir: str, threads: list[ThreadRunner],
        zk_server: ZookeeperServer, zk_admin) -> None:
    rdep.publish(1, [_api(rdir, "none", b"v1\n")])
    a = _start(rdep, rdir, "host-a", threads)
    member = zkpaths.members(rdep.root, rdep.deployment, "api", "host-a")
    client = a.session.client
    old_session = client.client_id[0]
    _wait_owner(zk_admin, member, old_session)
    expire_session(zk_server.hosts, client)
    new_session = client.client_id[0]
    assert new_session != old_session
    _wait_owner(zk_admin, member, new_session)
    # Hot reload still works on the new session.
    rdep.publish(2, [_api(rdir, "none", b"v2\n")])
    assert _processed(a, 2) == "rewrite"
    _stop(a)
