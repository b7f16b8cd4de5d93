"""Pure helpers to write a tree of nodes in multi-op transactions under 1 MB.

ZooKeeper rejects (and drops the connection of) any request larger than ``jute.maxbuffer``
(1 MB - 1 by default).  A multi request is serialised by jute as::

    int length | RequestHeader(xid, type) | { MultiHeader(type, done, err) | op }* | end header

so its size is the sum of the ops' sizes plus a small constant; :func:`create_op_size` counts a
create op exactly (path, data, ACL list, flags) and :func:`plan_batches` packs ops into batches
that stay under a limit.  Nothing here talks to ZooKeeper.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kazoo.security import ACL

from kolla_mesos import errors

#: ZooKeeper's default jute.maxbuffer (0xfffff) is the hard limit of one request.
ZK_MAX_REQUEST = 0xFFFFF
#: What a batch may use: the hard limit minus a margin for headers and future fields.
DEFAULT_BATCH_LIMIT = ZK_MAX_REQUEST - 16 * 1024
#: length prefix + request header (xid, type) + the multi's terminating MultiHeader.
MULTI_OVERHEAD = 4 + 8 + 9
#: MultiHeader before every op: int type, bool done, int err.
OP_HEADER = 9
#: Ops per batch: beyond this ZooKeeper's per-request processing gains nothing.
DEFAULT_MAX_OPS = 2000


@dataclass(frozen=True)
class Op:
    """One write of a batch: ``kind`` is ``create``, ``set`` or ``delete``."""

    kind: str
    path: str
    data: bytes = b""
    acl: tuple[ACL, ...] = ()
    size: int = 0


def _string(value: str) -> int:
    return 4 + len(value.encode("utf-8"))


def acl_size(acl: Iterable[ACL]) -> int:
    """Serialised size of an ACL vector."""
    return 4 + sum(4 + _string(a.id.scheme) + _string(a.id.id) for a in acl)


def create_op_size(path: str, data: bytes, acl: Sequence[ACL]) -> int:
    """Serialised size of a create op inside a multi (header included)."""
    return OP_HEADER + _string(path) + 4 + len(data) + acl_size(acl) + 4


def delete_op_size(path: str) -> int:
    """Serialised size of a delete op inside a multi (header included)."""
    return OP_HEADER + _string(path) + 4


def create(path: str, data: bytes, acl: Sequence[ACL]) -> Op:
    """A create op with its size."""
    return Op("create", path, data, tuple(acl), create_op_size(path, data, acl))


def delete(path: str) -> Op:
    """A delete op with its size."""
    return Op("delete", path, size=delete_op_size(path))


def plan_batches(ops: Sequence[Op], limit: int = DEFAULT_BATCH_LIMIT,
                 max_ops: int = DEFAULT_MAX_OPS) -> list[list[Op]]:
    """Split ``ops`` (order kept) into batches whose serialised size stays under ``limit``.

    A single op that cannot fit even alone is an error naming its node.
    """
    batches: list[list[Op]] = []
    current: list[Op] = []
    used = MULTI_OVERHEAD
    for op in ops:
        if MULTI_OVERHEAD + op.size > limit:
            # the content is the operator's (a rendered file): a bad input, not a remote error
            raise errors.ConfigError(
                f"The ZooKeeper node {op.path} is too large to store: {len(op.data)} bytes of "
                f"data exceed ZooKeeper's request limit of {limit} bytes."
            )
        if current and (used + op.size > limit or len(current) >= max_ops):
            batches.append(current)
            current, used = [], MULTI_OVERHEAD
        current.append(op)
        used += op.size
    if current:
        batches.append(current)
    return batches


def batch_size(batch: Sequence[Op]) -> int:
    """Serialised size of one batch as a multi request."""
    return MULTI_OVERHEAD + sum(op.size for op in batch)


def subtree_acl(rel: str, acl: Sequence[ACL],
                subtree_acls: Mapping[str, Sequence[ACL]] | None) -> Sequence[ACL]:
    """The ACL of node ``rel``: that of the longest subtree containing it, else ``acl``."""
    best = ""
    for prefix in subtree_acls or {}:
        if (rel == prefix or rel.startswith(prefix + "/")) and len(prefix) > len(best):
            best = prefix
    return subtree_acls[best] if best and subtree_acls else acl


def tree_create_ops(base: str, nodes: Mapping[str, bytes], acl: Sequence[ACL],
                    last: str | None = None,
                    subtree_acls: Mapping[str, Sequence[ACL]] | None = None) -> list[Op]:
    """Create ops for ``base`` and every node of ``nodes`` (paths relative to ``base``).

    Parents come before their children (missing intermediate nodes are created with empty
    data); ``last`` (a relative path, e.g. the manifest) is created after everything else.
    ``subtree_acls`` gives a relative subtree (itself and everything below) its own ACL, e.g.
    a service readable only by the runners of its hosts.
    """
    wanted: dict[str, bytes] = {}
    for rel, data in nodes.items():
        clean = rel.strip("/")
        if not clean or ".." in clean.split("/") or "//" in clean:
            raise errors.ZookeeperError(
                f"Invalid node path {rel!r} in a generation: use a relative path without "
                "'..' or empty segments."
            )
        if not isinstance(data, bytes):
            raise errors.ZookeeperError(f"The data of node {rel!r} must be bytes.")
        wanted[clean] = data
    all_paths: set[str] = set()
    for rel in wanted:
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            all_paths.add("/".join(parts[:i]))
    last_clean = last.strip("/") if last else None
    order = sorted(all_paths, key=lambda p: (p.count("/"), p))
    ops = [create(base, b"", acl)]
    tail: list[Op] = []
    for rel in order:
        op = create(posixpath.join(base, rel), wanted.get(rel, b""),
                    subtree_acl(rel, acl, subtree_acls))
        (tail if rel == last_clean else ops).append(op)
    return ops + tail
