"""Size counting and batching of generation writes."""

from __future__ import annotations

import secrets

import pytest

from kolla_mesos import errors
from kolla_mesos.clients import zk_acl, zk_batch

ACL = zk_acl.read_acl(("deployer", secrets.token_hex(8)),
                      {"node1": ("runner", secrets.token_hex(8))})


def test_create_op_size_counts_every_field() -> None:
    base = zk_batch.create_op_size("/a", b"", ACL)
    assert zk_batch.create_op_size("/ab", b"", ACL) == base + 1
    assert zk_batch.create_op_size("/a", b"xyz", ACL) == base + 3
    assert zk_batch.create_op_size("/a", b"", ACL[:1]) < base


def test_plan_batches_respects_limit_and_order() -> None:
    ops = [zk_batch.create(f"/g/n{i}", bytes(1000 + i), ACL) for i in range(50)]
    batches = zk_batch.plan_batches(ops, limit=10_000)
    assert [op for b in batches for op in b] == ops
    assert len(batches) > 5
    for batch in batches:
        assert zk_batch.batch_size(batch) <= 10_000
    # each batch is full: the next op would not have fit
    for batch, nxt in zip(batches, batches[1:]):
        assert zk_batch.batch_size(batch) + nxt[0].size > 10_000


def test_plan_batches_caps_op_count() -> None:
    ops = [zk_batch.delete(f"/g/n{i}") for i in range(25)]
    assert [len(b) for b in zk_batch.plan_batches(ops, max_ops=10)] == [10, 10, 5]


def test_single_node_over_limit_is_named() -> None:
    ops = [zk_batch.create("/g/ok", b"x", ACL), zk_batch.create("/g/huge", bytes(5000), ACL)]
    with pytest.raises(errors.ConfigError, match="/g/huge is too large.*5000 bytes"):
        zk_batch.plan_batches(ops, limit=4000)


def test_tree_create_ops_parents_first_manifest_last() -> None:
    nodes = {"manifest": b"m", "services/p/s/files/f/hosts/h1": b"h", "services/p/s/files/f": b"f",
             "a": b"1"}
    paths = [op.path for op in zk_batch.tree_create_ops("/g", nodes, ACL, last="manifest")]
    assert paths[0] == "/g"
    assert paths[-1] == "/g/manifest"
    for i, path in enumerate(paths):
        parent = path.rsplit("/", 1)[0]
        if parent != "":
            assert parent in paths[:i] or parent == "", path
    data = {op.path: op.data for op in zk_batch.tree_create_ops("/g", nodes, ACL)}
    assert data["/g/services/p"] == b""
    assert data["/g/services/p/s/files/f"] == b"f"


@pytest.mark.parametrize("bad", ["../x", "a//b", "/", ""])
def test_tree_create_ops_rejects_bad_paths(bad: str) -> None:
    with pytest.raises(errors.ZookeeperError, match="Invalid node path"):
        zk_batch.tree_create_ops("/g", {bad: b""}, ACL)
