"""A `restart` app pinned one instance per host restarts on a config change (issue 16 §1).

Real ZooKeeper, the simulator over HTTP, the real CLI and runners.  One agent: the change
completes, the new task runs with the new file, and a second deploy writes nothing.  Three
agents: Marathon's own event stream shows that never more than one instance is down.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from mesos_sim.simulator import Simulator

from kolla_mesos import zkpaths
from kolla_mesos.clients import zk_acl
from tests.functional.deploy_helpers import DATA, DeployEnv, make_env

pytestmark = pytest.mark.timeout(600)

STORE = "/kolla/t1/testing/store"
TERMINAL = {"Finished", "Failed", "Killed", "Error", "Lost", "Dropped", "Gone", "Unreachable"}


def _writes(stderr: str) -> tuple[int, int]:
    match = re.search(r"(\d+) ZooKeeper writes, (\d+) API writes", stderr)
    assert match, stderr
    return int(match.group(1)), int(match.group(2))


def _tasks(marathon_url: str, app_id: str) -> dict[str, dict[str, Any]]:
    reply = requests.get(f"{marathon_url}/v2/apps{app_id}/tasks", timeout=10)
    reply.raise_for_status()
    return {task["id"]: task for task in reply.json()["tasks"]}


def _sandbox_file(state: Path, task_id: str, name: str) -> str:
    found = list(state.glob(f"slaves/*/frameworks/*/executors/{task_id}/runs/latest/{name}"))
    assert len(found) == 1, (task_id, found)
    return found[0].read_text()


def _deploy(env: DeployEnv, *args: str) -> str:
    proc = env.run("deploy", "--no-progress", *args, timeout=300)
    assert proc.returncode == 0, proc.stderr + "\ntask logs:\n" + env.task_logs()
    return proc.stderr


def test_restart_app_change_completes_on_one_agent(tmp_path: Path, zk_server: Any,
                                                   zk_root: str, sim: Simulator,
                                                   zk_admin: Any) -> None:
    env = make_env(tmp_path, zk_server.hosts, zk_root, sim.urls(), sim_state=sim.state_dir)
    _deploy(env)
    app = requests.get(f"{sim.marathon_url}/v2/apps{STORE}", timeout=10).json()["app"]
    assert app["upgradeStrategy"] == {"minimumHealthCapacity": 0.0, "maximumOverCapacity": 0.0}
    before = _tasks(sim.marathon_url, STORE)

    started = time.monotonic()
    _deploy(env, "-e", "store_greeting=changed by the test")
    elapsed = time.monotonic() - started
    after = _tasks(sim.marathon_url, STORE)
    assert len(after) == 1 and not set(after) & set(before), (before, after)
    (task_id,) = after
    assert "greeting = changed by the test" in _sandbox_file(sim.state_dir, task_id,
                                                              "store.conf")
    assert elapsed < 60, f"the restart took {elapsed:.0f} s"
    assert requests.get(f"{sim.marathon_url}/v2/deployments", timeout=10).json() == []

    again = env.run("deploy", "--no-progress", "-e", "store_greeting=changed by the test")
    assert again.returncode == 0, again.stderr
    assert _writes(again.stderr) == (0, 0)
    assert set(_tasks(sim.marathon_url, STORE)) == set(after)
    assert zk_admin.exists(zkpaths.current(env.zk_root, env.deployment_id))


class HealthWatch:
    """Follows Marathon's event stream and counts an app's healthy instances.

    The app starts with ``healthy`` healthy instances whose ids are not known; an instance
    seen going alive is counted as new; a terminal or unhealthy instance leaves the count.
    """

    def __init__(self, marathon_url: str, app_id: str, healthy: int) -> None:
        self.app_id = app_id
        self.old_healthy = healthy
        self.new_alive: set[str] = set()
        self.old_down: set[str] = set()
        self.minimum = healthy
        self.kills: list[str] = []
        self.attached = threading.Event()
        self._stop = threading.Event()
        self._response = requests.get(f"{marathon_url}/v2/events", stream=True, timeout=(5, 30),
                                      headers={"Accept": "text/event-stream"})
        self._response.raise_for_status()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()
        assert self.attached.wait(10), "the event stream never attached"

    @property
    def healthy(self) -> int:
        """Healthy instances now."""
        return self.old_healthy + len(self.new_alive)

    def _down(self, instance: str) -> None:
        if instance in self.new_alive:
            self.new_alive.discard(instance)
        elif instance not in self.old_down:
            self.old_down.add(instance)
            self.old_healthy -= 1
        self.minimum = min(self.minimum, self.healthy)

    def _on(self, kind: str, event: dict[str, Any]) -> None:
        if kind == "event_stream_attached":
            self.attached.set()
        elif kind == "instance_changed_event" and event.get("runSpecId") == self.app_id:
            if event.get("condition") in TERMINAL or event.get("condition") == "Killing":
                if event["instanceId"] not in self.kills:
                    self.kills.append(event["instanceId"])
                self._down(event["instanceId"])
        elif kind == "health_status_changed_event" and event.get("appId") == self.app_id:
            if event.get("alive"):
                if event["instanceId"] not in self.old_down:
                    self.new_alive.add(event["instanceId"])
            else:
                self._down(event["instanceId"])

    def _follow(self) -> None:
        kind = ""
        try:
            for raw in self._response.iter_lines(decode_unicode=True):
                if self._stop.is_set():
                    return
                line = (raw or "").strip()
                if line.startswith("event:"):
                    kind = line.partition(":")[2].strip()
                elif line.startswith("data:"):
                    self._on(kind, json.loads(line.partition(":")[2]))
        except (requests.RequestException, AttributeError, OSError):
            if not self._stop.is_set():  # closing the response ends the read this way
                raise

    def close(self) -> None:
        """Stop following the stream."""
        self._stop.set()
        self._response.close()
        self._thread.join(10)


@pytest.fixture
def three_agents(tmp_path: Path) -> Iterator[Simulator]:
    agents = [{"hostname": f"agent{i}", "address": f"127.0.1.{i}"} for i in (1, 2, 3)]
    sim = Simulator(tmp_path / "sim", agents=agents, chronos_failure_retry=0.2)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def test_three_pinned_instances_restart_one_at_a_time(tmp_path: Path, zk_server: Any,
                                                      zk_root: str,
                                                      three_agents: Simulator) -> None:
    sim = three_agents
    # the test profile's servers listen on 0.0.0.0; three on one machine need their own
    # agent's address (the simulator sets HOST to it, as Mesos does)
    base = tmp_path / "base"
    shutil.copytree(DATA / "testbase", base)
    server = base / "config/testing/templates/server.py.j2"
    server.write_text(server.read_text().replace(
        'os.environ.get("KOLLA_BIND", "0.0.0.0")', 'os.environ.get("HOST", "0.0.0.0")'))
    (tmp_path / "d").mkdir()
    env = make_env(tmp_path / "d", zk_server.hosts, zk_root, sim.urls(), base_dir=base,
                   sim_state=sim.state_dir)
    (env.etc / "topology.yml").write_text(
        "hosts:\n" + "".join(f"  agent{i}: {{addresses: {{api: 127.0.1.{i}}}}}\n"
                             for i in (1, 2, 3))
        + "groups:\n  store: [agent1, agent2, agent3]\n  web: [agent1]\n")
    zk_acl.generate_runner_credentials(env.etc / "runners", ["agent1", "agent2", "agent3"])
    _deploy(env)
    before = _tasks(sim.marathon_url, STORE)
    assert len(before) == 3
    assert {t["host"] for t in before.values()} == {"agent1", "agent2", "agent3"}

    watch = HealthWatch(sim.marathon_url, STORE, healthy=3)
    try:
        _deploy(env, "-e", "store_greeting=rolled")
    finally:
        watch.close()
    after = _tasks(sim.marathon_url, STORE)
    assert len(after) == 3 and not set(after) & set(before)
    assert len(watch.kills) == 3, watch.kills
    assert watch.minimum == 2, f"{3 - watch.minimum} instances were down at once"
    for task_id in after:
        assert "greeting = rolled" in _sandbox_file(sim.state_dir, task_id, "store.conf")
