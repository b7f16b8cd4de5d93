#!/usr/bin/env python3
"""Benchmark P1: publishing a generation to ZooKeeper.

Writes the same bytes three ways to a real ZooKeeper (Debian's, started on an ephemeral
port by kolla_mesos.testing.zookeeper):

* ``store``: :meth:`kolla_mesos.clients.zookeeper.Store.write_generation` (batched, pipelined
  multi-op transactions under 1 MB, digest ACLs, manifest last);
* ``ancestor``: the old kolla-mesos way, for each node ``ensure_path`` then ``set``,
  sequentially (reference kolla_mesos.md, known problem 23);
* ``raw``: the same create ops as plain kazoo transactions committed one after another (a
  floor for what batching can give).

Two generations: an approximation of the minimal profile (mariadb, rabbitmq, memcached,
keystone on 3 hosts, files of realistic size) and a synthetic one the size of the default
profile on 200 hosts (20 services x 5 files, per-host variants for the compute services).
Prints the times (median of ``--repeat`` runs) and both ratios.

Usage: .venv/bin/python benchmarks/zk_publish.py [--repeat 11] [--hosts 200]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kolla_mesos.clients import zk_acl, zk_batch, zk_io  # noqa: E402
from kolla_mesos.clients.zookeeper import Store  # noqa: E402
from kolla_mesos.testing.zookeeper import ZookeeperServer  # noqa: E402

# Random per run: no fixed credential in the repository (DESIGN section 4).
DEPLOYER = ("deployer", secrets.token_hex(16))
RUNNERS = {"bench-host": ("runner", secrets.token_hex(16))}


def text(seed: str, size: int) -> bytes:
    """Deterministic config-like text of ``size`` bytes."""
    out = bytearray()
    i = 0
    while len(out) < size:
        digest = hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()
        out += f"option_{i} = {digest[:24]}  # {seed}\n".encode()
        i += 1
    return bytes(out[:size])


def service(nodes: dict[str, bytes], project: str, name: str, shared: dict[str, int],
            per_host: dict[str, int], hosts: list[str]) -> None:
    base = f"services/{project}/{name}"
    nodes[f"{base}/definition"] = text(f"{name}-definition", 1500)
    for fname, size in shared.items():
        nodes[f"{base}/files/{fname}"] = text(f"{name}-{fname}", size)
    for fname, size in per_host.items():
        nodes[f"{base}/files/{fname}"] = text(f"{name}-{fname}", size)
        for host in hosts:
            nodes[f"{base}/files/{fname}/hosts/{host}"] = text(f"{name}-{fname}-{host}", size)


def manifest(nodes: dict[str, bytes]) -> bytes:
    return json.dumps({"schema": 1, "files": sorted(nodes)[:50]}, sort_keys=True).encode()


def minimal_profile() -> dict[str, bytes]:
    """~ the minimal profile: 4 services on 3 control hosts."""
    hosts = [f"control{i}" for i in range(1, 4)]
    nodes: dict[str, bytes] = {}
    service(nodes, "mariadb", "mariadb", {"my.cnf": 900}, {"galera.cnf": 1600}, hosts)
    service(nodes, "rabbitmq", "rabbitmq",
            {"rabbitmq.conf": 900, "definitions.json": 1200, "erlang.cookie": 64,
             "advanced.config": 300}, {"rabbitmq-env.conf": 250}, hosts)
    service(nodes, "memcached", "memcached", {}, {}, hosts)
    service(nodes, "keystone", "keystone",
            {"keystone.conf": 3200, "keystone-paste.ini": 1700, "fernet-keys": 180},
            {"wsgi-keystone.conf": 1900}, hosts)
    nodes["manifest"] = manifest(nodes)
    return nodes


def default_profile(host_count: int) -> dict[str, bytes]:
    """Synthetic default profile: 15 control services (3 hosts) + 5 compute services."""
    control = [f"control{i}" for i in range(1, 4)]
    computes = [f"compute{i:03d}" for i in range(1, host_count + 1)]
    nodes: dict[str, bytes] = {}
    for i in range(15):
        service(nodes, f"project{i % 8}", f"control-svc{i:02d}",
                {f"conf{j}.conf": 2000 + 900 * j for j in range(4)},
                {"wsgi.conf": 1800}, control)
    for i in range(5):
        service(nodes, "nova" if i < 3 else "neutron", f"compute-svc{i}",
                {f"conf{j}.conf": 2500 + 700 * j for j in range(3)},
                {"host.conf": 2200, "agent.ini": 1400}, computes)
    nodes["manifest"] = manifest(nodes)
    return nodes


def ancestor_way(client: object, base: str, nodes: dict[str, bytes]) -> None:
    for rel in sorted(nodes, key=lambda p: (p.count("/"), p)):
        path = f"{base}/{rel}"
        client.ensure_path(path)  # type: ignore[attr-defined]
        client.set(path, nodes[rel])  # type: ignore[attr-defined]


def raw_way(client: object, base: str, nodes: dict[str, bytes]) -> None:
    ops = zk_batch.tree_create_ops(base, nodes, zk_acl.read_acl(DEPLOYER, RUNNERS))
    for batch in zk_batch.plan_batches(ops):
        tx = client.transaction()  # type: ignore[attr-defined]
        for op in batch:
            tx.create(op.path, op.data, acl=list(op.acl))
        results = tx.commit()
        assert not any(isinstance(r, Exception) for r in results), results


def remove(client: object, path: str) -> None:
    """Delete a benchmark tree in batches (keeps the test server's small heap free)."""
    tree = zk_io.walk(client, path, 30, with_data=False)
    ops = [zk_batch.delete(p) for p in sorted(tree, key=lambda p: (-p.count("/"), p))]
    zk_io.commit_pipelined(client, zk_batch.plan_batches(ops), 30)


def timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def run(server: ZookeeperServer, name: str, nodes: dict[str, bytes], repeat: int) -> dict:
    size = sum(len(v) for v in nodes.values())
    ops = zk_batch.tree_create_ops("/g", nodes, zk_acl.read_acl(DEPLOYER, RUNNERS))
    batches = len(zk_batch.plan_batches(ops))
    times: dict[str, list[float]] = {"store": [], "ancestor": [], "raw": []}
    admin = server.admin_client()
    admin.ensure_path("/bench")
    try:
        for i in range(repeat):
            with Store(server.hosts, f"/bench/{name}", "run", DEPLOYER, RUNNERS) as store:
                store.ensure_deployment({"benchmark": name})
                store.list_generations()  # the deployer reads them to diff before publishing
                times["store"].append(timed(lambda: store.write_generation(nodes)))
                assert store.writes > len(nodes)
            remove(admin, f"/bench/{name}")
            times["ancestor"].append(timed(lambda: ancestor_way(
                admin, f"/bench/{name}-ancestor", nodes)))
            remove(admin, f"/bench/{name}-ancestor")
            times["raw"].append(timed(lambda: raw_way(admin, f"/bench/{name}-raw", nodes)))
            remove(admin, f"/bench/{name}-raw")
    finally:
        admin.stop()
        admin.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"profile": name, "nodes": len(ops), "bytes": size, "transactions": batches,
            **{f"{k}_s": round(v, 3) for k, v in med.items()},
            "ancestor_over_store": round(med["ancestor"] / med["store"], 1),
            "store_over_raw": round(med["store"] / med["raw"], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--hosts", type=int, default=200)
    args = parser.parse_args()
    results = []
    with ZookeeperServer() as server:
        for name, nodes in (("minimal", minimal_profile()),
                            (f"default-{args.hosts}-hosts", default_profile(args.hosts))):
            results.append(run(server, name, nodes, args.repeat))
    header = ("profile", "nodes", "bytes", "transactions", "store_s", "ancestor_s", "raw_s",
              "ancestor_over_store", "store_over_raw")
    print(" | ".join(header))
    for res in results:
        print(" | ".join(str(res[h]) for h in header))
    ok = all(r["ancestor_over_store"] >= 20 and r["store_over_raw"] <= 2 for r in results)
    print("targets (>= 20x faster than the ancestor, within 2x of raw):",
          "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
