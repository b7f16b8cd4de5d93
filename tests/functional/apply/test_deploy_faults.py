"""A change either applies or leaves everything as it was (issue 16, DESIGN section 9).

Faults are injected by a real HTTP proxy in front of the simulator's Marathon and Chronos
(:mod:`kolla_mesos.testing.faultproxy`): a 500 or a 409 on the group PUT, a connection reset,
a 500 on a Chronos job POST, Ctrl-C after the switch.  Each must end with ZooKeeper's
``current`` and Marathon's apps on the previous generation, no Marathon deployment in
flight, the documented exit code, and a re-run that converges.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from kolla_mesos import zkpaths
from kolla_mesos.clients import zk_acl
from kolla_mesos.plan.payloads import LABEL_CONFIG_HASH
from kolla_mesos.testing.faultproxy import FaultProxy
from tests.functional.deploy_helpers import BIN, DeployEnv, make_env

pytestmark = pytest.mark.timeout(600)

GROUP = "/kolla/t1"
CHANGE = ("-e", "store_greeting=faulty")


@pytest.fixture
def proxies(sim: Any) -> Iterator[dict[str, FaultProxy]]:
    with FaultProxy(sim.marathon_url) as marathon, FaultProxy(sim.chronos_url) as chronos:
        yield {"marathon": marathon, "chronos": chronos}


@pytest.fixture
def env(tmp_path: Any, zk_server: Any, zk_root: str, sim: Any,
        proxies: dict[str, FaultProxy]) -> DeployEnv:
    urls = dict(sim.urls(), marathon=proxies["marathon"].url, chronos=proxies["chronos"].url)
    env = make_env(tmp_path, zk_server.hosts, zk_root, urls, sim_state=sim.state_dir)
    first = env.run("deploy", "--no-progress")
    assert first.returncode == 0, first.stderr + env.task_logs()
    return env


def _state(env: DeployEnv, zk_admin: Any, sim: Any) -> tuple[int, dict[str, str]]:
    """(current generation, app id -> config hash) as ZooKeeper and Marathon see them."""
    current = int(zk_admin.get(zkpaths.current(env.zk_root, env.deployment_id))[0])
    apps = requests.get(f"{sim.marathon_url}/v2/apps", timeout=10).json()["apps"]
    return current, {a["id"]: a["labels"][LABEL_CONFIG_HASH] for a in apps}


def _in_flight(sim: Any) -> list[dict[str, Any]]:
    deployments = requests.get(f"{sim.marathon_url}/v2/deployments", timeout=10).json()
    return [d for d in deployments if any(a.startswith(GROUP + "/") for a in d["affectedApps"])]


def _assert_restored(env: DeployEnv, zk_admin: Any, sim: Any,
                     before: tuple[int, dict[str, str]], failed: Any, code: int) -> None:
    assert failed.returncode == code, failed.stderr
    assert "Traceback" not in failed.stderr
    assert _state(env, zk_admin, sim) == before, failed.stderr
    assert _in_flight(sim) == [], failed.stderr


def _converges(env: DeployEnv, proxies: dict[str, FaultProxy]) -> None:
    for proxy in proxies.values():
        proxy.clear()
    again = env.run("deploy", "--no-progress", *CHANGE)
    assert again.returncode == 0, again.stderr + env.task_logs()
    quiet = env.run("deploy", "--no-progress", *CHANGE)
    assert quiet.returncode == 0 and " 0 ZooKeeper writes, 0 API writes" in quiet.stderr, \
        quiet.stderr


@pytest.mark.parametrize(("fault", "message"), [
    (500, "Injected internal error"),
    (409, "App is locked by one or more deployments. Override with the option '?force=true'."),
    ("reset", ""),
])
def test_marathon_fault_on_the_group_put_restores_the_previous_generation(
        env: DeployEnv, zk_admin: Any, sim: Any, proxies: dict[str, FaultProxy],
        fault: int | str, message: str) -> None:
    before = _state(env, zk_admin, sim)
    # only the deploy's own PUT fails: the rollback's forced PUT must get through
    rule = proxies["marathon"].inject("PUT", r"/v2/groups/kolla/t1\?force=false", fault,
                                      times=None, message=message)
    failed = env.run("deploy", *CHANGE)
    assert rule.hits >= 1
    _assert_restored(env, zk_admin, sim, before, failed, 6)
    assert "Rolled back to generation" in failed.stderr
    _converges(env, proxies)


def test_chronos_fault_on_a_job_post_restores_the_previous_generation(
        env: DeployEnv, zk_admin: Any, sim: Any, proxies: dict[str, FaultProxy]) -> None:
    before = _state(env, zk_admin, sim)
    rule = proxies["chronos"].inject("POST", r"/(v1/)?scheduler/iso8601", 500, times=None)
    failed = env.run("deploy", *CHANGE)
    assert rule.hits >= 1
    _assert_restored(env, zk_admin, sim, before, failed, 6)
    _converges(env, proxies)


def test_ctrl_c_after_the_switch_restores_the_previous_generation(
        env: DeployEnv, zk_admin: Any, sim: Any, proxies: dict[str, FaultProxy]) -> None:
    before = _state(env, zk_admin, sim)
    # hold the group PUT until the deployer is interrupted: then it is surely after the switch
    proxies["marathon"].inject("PUT", r"/v2/groups/kolla/t1\?force=false", 503, times=None)
    proc = subprocess.Popen(
        [str(BIN / "kolla-mesos"), "--config-file", str(env.conf), "-e",
         f"store_port={env.store_port}", "-e", f"web_port={env.web_port}", "-e",
         f"python={BIN / 'python'}", "deploy", *CHANGE],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "published generation" in line:
            proc.send_signal(signal.SIGINT)
            break
    _, rest = proc.communicate(timeout=240)
    stderr = "".join(lines) + (rest or "")
    assert proc.returncode == 130, stderr
    assert "rolled back to generation" in stderr
    assert _state(env, zk_admin, sim) == before, stderr
    assert _in_flight(sim) == []
    _converges(env, proxies)


def test_a_deploy_refuses_while_a_marathon_deployment_of_its_group_is_in_flight(
        env: DeployEnv, zk_admin: Any, sim: Any, proxies: dict[str, FaultProxy]) -> None:
    before = _state(env, zk_admin, sim)
    generations = zk_admin.get_children(zkpaths.generations(env.zk_root, env.deployment_id))
    # one instance per agent and a single agent: a scale to 2 can never finish
    app = f"{GROUP}/testing/store"
    reply = requests.put(f"{sim.marathon_url}/v2/apps{app}", json={"instances": 2}, timeout=10)
    assert reply.status_code == 200, reply.text
    stuck = reply.json()["deploymentId"]
    refused = env.run("deploy", *CHANGE)
    assert refused.returncode == 8, refused.stderr
    assert stuck in refused.stderr and "in flight" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert zk_admin.get_children(zkpaths.generations(env.zk_root, env.deployment_id)) \
        == generations
    assert int(zk_admin.get(zkpaths.current(env.zk_root, env.deployment_id))[0]) == before[0]
    # the operator's rollback cancels it and ends with nothing in flight
    rolled = env.run("rollback", "--to", str(before[0]))
    assert rolled.returncode == 0, rolled.stderr
    assert f"cancelled Marathon deployment {stuck}" in rolled.stderr
    assert _in_flight(sim) == []
    _converges(env, proxies)


def test_progress_names_why_a_task_cannot_be_placed(
        env: DeployEnv, zk_admin: Any, sim: Any, proxies: dict[str, FaultProxy]) -> None:
    before = _state(env, zk_admin, sim)
    # the store moves to a host no agent has: Marathon queues the task with its reason
    topology = env.etc / "topology.yml"
    topology.write_text(topology.read_text().replace("store: [agent1]", "store: [ghost1]")
                        .replace("hosts:\n", "hosts:\n  ghost1: {addresses: {api: 127.0.1.9}}\n",
                                 1))
    zk_acl.generate_runner_credentials(env.etc / "runners", ["ghost1"])
    failed = env.run("deploy", "--timeout", "8")
    assert "waiting for an agent: constraint hostname LIKE ghost1" in failed.stderr, \
        failed.stderr
    assert "unsatisfied on every agent" in failed.stderr
    _assert_restored(env, zk_admin, sim, before, failed, 6)
