"""The deployer on a three-server ZooKeeper ensemble that loses a member (issue 16 §4).

kill -9 of the server the deployer is connected to, or of the leader, at a random point of
a publish (write a generation, switch ``current``) or of a deploy: with the quorum intact
every operation succeeds; and whatever happens, no generation with a manifest lacks a node,
and ``current`` never points at an incomplete generation.  ``KOLLA_MESOS_FAULT_SEED``
replays one run's kill points.
"""

from __future__ import annotations

import os
import posixpath
import random
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient

from kolla_mesos import errors, zkpaths
from kolla_mesos.clients import zk_io
from kolla_mesos.clients.zookeeper import Store
from kolla_mesos.testing.zookeeper import ZookeeperEnsemble
from tests.functional.deploy_helpers import make_env

pytestmark = pytest.mark.timeout(300)

DEPLOYER = ("deployer", secrets.token_hex(16))
RUNNERS = {"node1": ("runner-node1", secrets.token_hex(16))}
DEP = "ha"
PUBLISHES = 20
DEPLOYS = 20


def _seed() -> int:
    seed = int(os.environ.get("KOLLA_MESOS_FAULT_SEED") or random.SystemRandom().getrandbits(32))
    print(f"KOLLA_MESOS_FAULT_SEED={seed}")
    return seed


def _payload(i: int) -> dict[str, bytes]:
    nodes = {f"services/p/s{j}/files/f{k}": f"{i}/{j}/{k} ".encode() * 40
             for j in range(12) for k in range(5)}
    nodes["manifest"] = f'{{"publish": {i}}}'.encode()
    return nodes


def _tree(admin: KazooClient, gen: str) -> dict[str, bytes]:
    out = {}
    for path, (data, children) in zk_io.walk(admin, gen, 10).items():
        if path != gen and (data or not children):
            out[posixpath.relpath(path, gen)] = data
    return out


def _check(admin: KazooClient, root: str, published: dict[int, dict[str, bytes]]) -> int | None:
    """No half state: every generation with a manifest is whole; current is complete."""
    gens = zkpaths.generations(root, DEP)
    for name in admin.get_children(gens):
        number = zkpaths.parse_generation(name)
        gen = zkpaths.generation(root, DEP, number)
        if admin.exists(zkpaths.manifest(gen)) is None:
            continue
        tree = _tree(admin, gen)
        assert number in published, f"generation {number} has a manifest but was never published"
        assert tree == published[number], f"generation {number} is not whole"
    current = admin.exists(zkpaths.current(root, DEP))
    if current is None:
        return None
    number = int(admin.get(zkpaths.current(root, DEP))[0])
    assert admin.exists(zkpaths.manifest(zkpaths.generation(root, DEP, number)))
    return number


def _victim(ensemble: ZookeeperEnsemble, session_id: int | None, rng: random.Random) -> int:
    """The deployer's server (when its session is known) or the leader, else any member."""
    for index in (ensemble.connected_to(session_id) if session_id else None,
                  ensemble.leader()):
        if index is not None:
            return index
    return rng.randrange(len(ensemble.servers))


def test_publishes_survive_the_loss_of_the_deployers_server_and_the_leader(
        zk_ensemble: ZookeeperEnsemble, zk_root: str) -> None:
    rng = random.Random(_seed())
    admin = zk_ensemble.admin_client()
    outcomes: list[str] = []
    published: dict[int, dict[str, bytes]] = {}
    during = 0  # kills that landed before the publish ended
    # small transactions, so that a kill lands in the middle of a generation's write
    with Store(zk_ensemble.hosts, zk_root, DEP, DEPLOYER, RUNNERS, timeout=20,
               batch_limit=4096) as store:
        store.ensure_deployment({"id": DEP})
        for i in range(PUBLISHES):
            payload = _payload(i)
            session = store.client.client_id[0] if i % 2 == 0 else None
            victim = _victim(zk_ensemble, session, rng)
            killed_at: list[float] = []
            timer = threading.Timer(rng.uniform(0.0, 0.1), lambda v=victim, at=killed_at: (
                zk_ensemble.kill(v), at.append(time.monotonic())))
            timer.start()
            try:
                with store.deploy_lock(timeout=20):
                    expected = store.current_generation()
                    number = store.write_generation(payload)
                    published[number] = payload
                    store.switch_current(number, expected)
                    assert store.read_generation(number) == payload
                outcomes.append("ok")
                during += bool(killed_at)
            except errors.KollaMesosError as exc:  # a clean failure, named in the outcome
                outcomes.append(f"{type(exc).__name__}: {exc}")
            finally:
                timer.join()
            zk_ensemble.restart(victim)
            assert _check(admin, zk_root, published) in published
    admin.stop()
    admin.close()
    print(f"{during} of {PUBLISHES} kills landed during a publish")
    assert outcomes == ["ok"] * PUBLISHES, outcomes
    assert during >= PUBLISHES // 4, "too few kills hit a publish to prove anything"


def test_deploys_survive_the_loss_of_a_server(zk_ensemble: ZookeeperEnsemble, zk_root: str,
                                              tmp_path: Path, sim: Any) -> None:
    rng = random.Random(_seed())
    env = make_env(tmp_path, zk_ensemble.hosts, zk_root, sim.urls(), sim_state=sim.state_dir)
    admin = zk_ensemble.admin_client()
    first = env.run("deploy", "--no-progress")
    assert first.returncode == 0, first.stderr + env.task_logs()
    # 20 deploys in all (issue 16): the first, then 19 with the leader (even ones) or a
    # follower (odd ones) killed with SIGKILL at a random point
    for i in range(DEPLOYS - 1):
        victim = zk_ensemble.leader() if i % 2 == 0 else rng.choice(
            [n for n in range(3) if n != zk_ensemble.leader()])
        assert victim is not None
        timer = threading.Timer(rng.uniform(0.0, 2.0), zk_ensemble.kill, (victim,))
        timer.start()
        started = time.monotonic()
        try:
            proc = env.run("deploy", "--no-progress", "-e", f"store_greeting=take {i}")
        finally:
            timer.join()
        zk_ensemble.restart(victim)
        assert proc.returncode == 0, (f"deploy {i} (member {victim} killed) failed after "
                                      f"{time.monotonic() - started:.1f} s:\n{proc.stderr}"
                                      f"\n{env.task_logs()}")
        number = int(admin.get(zkpaths.current(env.zk_root, env.deployment_id))[0])
        gen = zkpaths.generation(env.zk_root, env.deployment_id, number)
        assert admin.exists(zkpaths.manifest(gen))
    status = {row["service"]: row for row in env.json("status")}
    assert status["store"]["healthy"] == status["store"]["members"] == 1, status
    admin.stop()
    admin.close()
