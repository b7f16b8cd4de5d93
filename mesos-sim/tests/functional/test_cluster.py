"""The simulator's cluster core with real processes: env, volumes, kill, reaping, isolation,
and ``kolla-mesos-sim`` as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mesos_sim.cluster import Cluster, StatusUpdate, Task, TaskSpec
from mesos_sim.placement import NoPlacement, Placement, PlacementRequest
from mesos_sim.reaper import marked_processes
from mesos_sim.testing import wait_for

AGENTS = [
    {"hostname": "ctl1", "address": "127.0.1.11", "attributes": {"role": "control"}},
    {"hostname": "ctl2", "address": "127.0.1.12", "attributes": {"role": "control"}},
    {"hostname": "cmp1", "address": "127.0.1.13", "attributes": {"role": "compute"}},
]


class Recorder:
    """Collects status updates; lets a test wait for a task's terminal state."""

    def __init__(self) -> None:
        self.updates: list[StatusUpdate] = []
        self.done: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def __call__(self, task: Task, update: StatusUpdate) -> None:
        with self.lock:
            self.updates.append(update)
            event = self.done.setdefault(task.id, threading.Event())
        if not task.active:
            event.set()

    def wait(self, task_id: str, timeout: float = 15.0) -> StatusUpdate:
        with self.lock:
            event = self.done.setdefault(task_id, threading.Event())
        assert event.wait(timeout), f"task {task_id} did not finish"
        return [u for u in self.updates if u.task_id == task_id][-1]

    def states(self, task_id: str) -> list[str]:
        return [u.state for u in self.updates if u.task_id == task_id]


def make_cluster(tmp_path: Path, isolation: bool = False) -> tuple[Cluster, Recorder]:
    cluster = Cluster(tmp_path / "state", agent_entries=AGENTS, isolation=isolation)
    recorder = Recorder()
    cluster.register_framework("marathon", recorder)
    return cluster, recorder


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Cluster, Recorder]]:
    made = make_cluster(tmp_path)
    try:
        yield made
    finally:
        made[0].shutdown()
    assert marked_processes(made[0].master_id) == []


def launch(cluster: Cluster, task_id: str, group: str = "/app", ports: tuple[int, ...] = (),
           constraints=(), **spec) -> Task:
    request = PlacementRequest(group, cpus=0.1, mem=16, ports=ports,
                               constraints=tuple(tuple(c) for c in constraints))
    placement = cluster.place(request)
    assert isinstance(placement, Placement), placement
    return cluster.launch(TaskSpec(task_id, "marathon", placement, request, **spec))


def test_environment_sandbox_and_args(cluster) -> None:
    c, rec = cluster
    task = launch(c, "app.1", ports=(0, 0), env={"MARATHON_APP_ID": "/app", "A": "b c"},
                  cmd='echo "$HOST|$PORT0|$PORT1|$PORTS|$KOLLA_HOSTNAME|$MESOS_TASK_ID|'
                      '$MESOS_SANDBOX|$MARATHON_APP_ID|$A|$(pwd)"')
    assert rec.wait("app.1").state == "TASK_FINISHED"
    assert rec.states("app.1") == ["TASK_STAGING", "TASK_RUNNING", "TASK_FINISHED"]
    fields = (task.sandbox / "stdout").read_text().strip().split("|")
    assert fields == ["127.0.1.11", "31000", "31001", "31000,31001", "ctl1", "app.1",
                      str(task.sandbox), "/app", "b c", str(task.sandbox)]
    assert task.sandbox.parent.name == "runs" and (task.sandbox.parent / "latest").is_symlink()
    argv = launch(c, "app.2", args=["printf", "%s|", "a b", "$HOST"])
    assert rec.wait("app.2").state == "TASK_FINISHED"
    assert (argv.sandbox / "stdout").read_text() == "a b|$HOST|"
    bad = launch(c, "app.3", args=["/nonexistent/binary"])
    assert rec.wait("app.3").state == "TASK_FAILED" and "No such file" in bad.message
    failing = launch(c, "app.4", cmd="echo oops >&2; exit 7")
    update = rec.wait("app.4")
    assert (update.state, update.message) == ("TASK_FAILED", "Command exited with status 7")
    assert (failing.sandbox / "stderr").read_text() == "oops\n"


def test_constraints_resources_and_reasons(cluster) -> None:
    c, rec = cluster
    unique = (("hostname", "UNIQUE"), ("role", "IS", "control"))
    first = launch(c, "db.1", group="/db", cmd="sleep 30", constraints=unique)
    second = launch(c, "db.2", group="/db", cmd="sleep 30", constraints=unique)
    assert {first.agent.hostname, second.agent.hostname} == {"ctl1", "ctl2"}
    third = c.place(PlacementRequest("/db", cpus=0.1, mem=16, constraints=unique))
    assert isinstance(third, NoPlacement)
    assert third.reasons == {"ctl1": ["UnfulfilledConstraint"],
                             "ctl2": ["UnfulfilledConstraint"],
                             "cmp1": ["UnfulfilledConstraint"]}
    assert {"reason": "UnfulfilledConstraint", "declined": 3, "processed": 3} in third.summary
    too_big = c.place(PlacementRequest("/big", cpus=1000, mem=16))
    assert isinstance(too_big, NoPlacement)
    assert list(too_big.reasons.values()) == [["InsufficientCpus"]] * 3
    assert c.usage()[first.agent.id].cpus == pytest.approx(0.1)
    c.kill("db.1", grace=1.0)
    assert rec.wait("db.1").state == "TASK_KILLED"
    assert c.usage()[first.agent.id].cpus == 0
    # the freed host takes the task again
    assert isinstance(c.place(PlacementRequest("/db", cpus=0.1, mem=16, constraints=unique)),
                      Placement)


def test_kill_escalates_and_reaps_daemonized_children(cluster) -> None:
    c, rec = cluster
    stubborn = launch(c, "stubborn.1", cmd="trap '' TERM; while true; do sleep 0.1; done")
    # a daemon: double fork + setsid, re-parented to the simulator (subreaper)
    daemon = launch(c, "daemon.1", cmd="setsid sh -c 'sleep 300 & exit 0'; sleep 300")
    deadline = time.monotonic() + 10
    while len(marked_processes(c.master_id, "daemon.1")) < 3:
        assert time.monotonic() < deadline, "daemon did not start"
        time.sleep(0.05)
    started = time.monotonic()
    c.kill("stubborn.1", grace=0.3)
    update = rec.wait("stubborn.1")
    assert update.state == "TASK_KILLED" and time.monotonic() - started >= 0.3
    c.kill("daemon.1", grace=2.0)
    assert rec.wait("daemon.1").state == "TASK_KILLED"
    deadline = time.monotonic() + 10
    while marked_processes(c.master_id, "daemon.1"):
        assert time.monotonic() < deadline, "the task's daemon outlived it"
        time.sleep(0.05)
    assert stubborn.exit_code is not None and daemon.exit_code is not None


def test_exec_in_task(cluster) -> None:
    c, rec = cluster
    launch(c, "web.1", cmd="sleep 30", env={"GREETING": "hi"})
    result = c.exec_in_task("web.1", 'echo "$GREETING $MESOS_TASK_ID"; exit 3', timeout=5)
    assert (result.returncode, result.output, result.timed_out) == (3, "hi web.1\n", False)
    slow = c.exec_in_task("web.1", ["sleep", "30"], timeout=0.2)
    assert slow.timed_out and slow.returncode is None
    assert c.exec_in_task("nope", "true", timeout=1).returncode is None


def test_named_volumes_outlive_tasks(cluster) -> None:
    c, rec = cluster
    container = {"type": "DOCKER", "docker": {"image": "kolla/mariadb", "parameters": [
        {"key": "volume", "value": "mariadb:/var/lib/mysql"}]},
        "volumes": [{"containerPath": "/var/log/kolla", "hostPath": "kolla_logs",
                     "mode": "RW"}]}
    cmd = 'echo "$KOLLA_SIM_VOLUMES" > vols.json; echo data >> "$KOLLA_VOLUME_MARIADB/db"'
    first = launch(c, "db.1", group="/db", cmd=cmd, container=container,
                   constraints=[["hostname", "IS", "ctl2"]])
    assert rec.wait("db.1").state == "TASK_FINISHED"
    mapping = json.loads((first.sandbox / "vols.json").read_text())
    volume = Path(mapping["/var/lib/mysql"])
    assert volume == c.state_dir / "volumes" / "ctl2" / "mariadb"
    assert Path(mapping["/var/log/kolla"]).name == "kolla_logs"
    second = launch(c, "db.2", group="/db", cmd='cat "$KOLLA_VOLUME_MARIADB/db"',
                    container=container, constraints=[["hostname", "IS", "ctl2"]])
    assert rec.wait("db.2").state == "TASK_FINISHED"
    assert (second.sandbox / "stdout").read_text() == "data\n"
    assert (volume / "db").read_text() == "data\n"


def _overlay_works(tmp_path: Path) -> str | None:
    if os.geteuid() != 0:
        return "isolation needs root (mount namespaces and overlayfs)"
    base = tmp_path / "probe"
    for name in ("upper", "work", "mnt"):
        (base / name).mkdir(parents=True)
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "mount", "-t", "overlay", "overlay",
         "-o", f"lowerdir=/etc,upperdir={base}/upper,workdir={base}/work", f"{base}/mnt"],
        capture_output=True, text=True, timeout=30)
    return None if probe.returncode == 0 else f"overlay mount failed: {probe.stderr.strip()}"


def test_isolation_gives_each_task_its_own_files(tmp_path: Path) -> None:
    reason = _overlay_works(tmp_path)
    if reason:
        pytest.skip(reason)
    assert not Path("/etc/kolla-sim-foo").exists()
    c, rec = make_cluster(tmp_path, isolation=True)
    try:
        container = {"docker": {"image": "x", "parameters": [
            {"key": "volume", "value": "mariadb:/var/lib/mysql"}]}}
        writer = ('echo "$MESOS_TASK_ID" > /etc/kolla-sim-foo; '
                  'echo "$MESOS_TASK_ID" > /var/lib/kolla-sim-state; '
                  'echo "$MESOS_TASK_ID" >> /var/lib/mysql/writers; echo ready; exec sleep 300')
        ctl1 = [["hostname", "IS", "ctl1"]]
        # two tasks on one agent, as a running daemon and a job of the next generation
        tasks = [launch(c, f"t.{name}", group=f"/{name}", cmd=writer, container=container,
                        constraints=ctl1) for name in ("a", "b")]
        for task in tasks:
            wait_for(lambda t=task: (t.sandbox / "stdout").read_text() == "ready\n",
                     what=f"{task.id} wrote its files")
        for task in tasks:
            seen = c.exec_in_task(task.id, "cat /etc/kolla-sim-foo /var/lib/kolla-sim-state; "
                                  "hostname; sort /var/lib/mysql/writers", timeout=5)
            assert seen.output.split() == [task.id, task.id, "ctl1", "t.a", "t.b"], seen
        assert not Path("/etc/kolla-sim-foo").exists()
        assert not Path("/var/lib/kolla-sim-state").exists()
        layers = c.state_dir / "containers" / tasks[0].container_id
        assert (layers / "etc" / "upper" / "kolla-sim-foo").read_text() == "t.a\n"
        other = launch(c, "t.c", group="/c", container=container,
                       cmd='hostname; getent hosts ctl1 | cut -d" " -f1; '
                           'cat /etc/kolla-sim-foo 2>/dev/null || echo fresh; '
                           'cat /var/lib/mysql/writers 2>/dev/null || echo empty',
                       constraints=[["hostname", "IS", "ctl2"]])
        assert rec.wait(other.id).state == "TASK_FINISHED", (other.sandbox / "stderr")
        # another agent: its own host name, every agent in /etc/hosts, its own volumes
        assert (other.sandbox / "stdout").read_text().split() == [
            "ctl2", "127.0.1.11", "fresh", "empty"]
        c.kill(tasks[0].id, grace=1.0)
        assert rec.wait(tasks[0].id).state == "TASK_KILLED"
        assert not layers.exists()  # the container's writable layers end with it
        later = launch(c, "t.later", group="/later", container=container, constraints=ctl1,
                       cmd="cat /etc/kolla-sim-foo 2>/dev/null || echo fresh; "
                           "sort /var/lib/mysql/writers")
        assert rec.wait(later.id).state == "TASK_FINISHED", (later.sandbox / "stderr")
        assert (later.sandbox / "stdout").read_text().split() == ["fresh", "t.a", "t.b"]
        bad = launch(c, "t.bad", group="/bad", args=["/nonexistent/binary"])
        assert rec.wait(bad.id).state == "TASK_FAILED" and "No such file" in bad.message
    finally:
        c.shutdown()
    assert marked_processes(c.master_id) == []


def test_kolla_mesos_sim_rejects_a_bad_agents_file(tmp_path: Path) -> None:
    agents = tmp_path / "agents.yml"
    agents.write_text("agents:\n  - {hostname: a, address: 10.1.1.1}\n")
    done = subprocess.run([sys.executable, "-m", "mesos_sim.main", "--state-dir",
                           str(tmp_path / "st"), "--agents", str(agents)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and done.stdout == ""
    assert f"{agents}: agent #1: 'address' 10.1.1.1 must be a loopback address" in done.stderr


def test_sigterm_to_kolla_mesos_sim_leaves_nothing_behind(tmp_path: Path) -> None:
    isolation = [] if _overlay_works(tmp_path) else ["--isolation"]
    agents = tmp_path / "agents.yml"
    agents.write_text(json.dumps({"agents": AGENTS[:2]}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mesos_sim.main", "--state-dir", str(tmp_path / "st"),
         "--agents", str(agents), *isolation],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        urls = json.loads(proc.stdout.readline())
        assert set(urls) == {"marathon", "chronos", "mesos"}
        state = requests.get(urls["mesos"] + "/master/state", timeout=10).json()
        master_id = state["id"]
        assert [s["hostname"] for s in state["slaves"]] == ["ctl1", "ctl2"]
        assert state["slaves"][1]["attributes"] == {"role": "control"}
        for name, command in (("sleeper", "sleep 300"),
                              ("daemon", "setsid sh -c 'sleep 300 & exit 0'; sleep 300")):
            r = requests.post(urls["chronos"] + "/v1/scheduler/iso8601",
                              json={"name": name, "command": command}, timeout=10)
            assert r.status_code == 204
        deadline = time.monotonic() + 15
        while len(marked_processes(master_id)) < 4:
            assert time.monotonic() < deadline, "tasks did not start"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert marked_processes(master_id) == []
