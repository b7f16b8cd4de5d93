"""Low-level ZooKeeper I/O for the store: error mapping, tree walks, batched transactions.

Tree walks issue every ``get``/``get_children`` of one depth level asynchronously (kazoo
pipelines them on the session), so reading or deleting a generation of thousands of nodes
costs one round trip per level instead of one per node.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
from collections.abc import Iterator, Sequence
from typing import Any

from kazoo import exceptions as kz
from kazoo.handlers.threading import KazooTimeoutError

from kolla_mesos import errors
from kolla_mesos.clients.zk_batch import Op

#: How many async requests one walk keeps in flight at most.
WINDOW = 2000


#: kazoo errors of a lost connection (or session): the request may or may not have reached
#: the ensemble, and another member can answer once the client has reconnected.
CONNECTION_LOSS: tuple[type[BaseException], ...] = (
    kz.ConnectionLoss, kz.SessionExpiredError, kz.OperationTimeoutError, KazooTimeoutError)


def lost_connection(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised from, is a connection loss.

    Errors are translated to one-sentence kolla-mesos errors close to where kazoo raises them
    (:func:`mapped`); the retry loop above them decides from the original cause.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, CONNECTION_LOSS):
            return True
        if isinstance(seen, OpFailed) and isinstance(seen.error, CONNECTION_LOSS):
            return True
        seen = seen.__cause__
    return False


def translate(exc: BaseException, action: str, path: str, user: str | None,
              hosts: str) -> errors.KollaMesosError:
    """One-sentence kolla-mesos error for a kazoo exception."""
    who = f"user {user!r}" if user else "an anonymous client"
    if isinstance(exc, kz.NoAuthError):
        return errors.ZookeeperError(
            f"ZooKeeper refused to let {who} {action} {path}: the credentials are wrong "
            "or lack permission on that node."
        )
    if isinstance(exc, kz.AuthFailedError):
        return errors.ZookeeperError(f"ZooKeeper at {hosts} rejected the credentials of {who}.")
    if isinstance(exc, kz.NoNodeError):
        return errors.ZookeeperError(f"Cannot {action} {path}: the node does not exist.")
    if isinstance(exc, kz.NodeExistsError):
        return errors.LockedError(
            f"Cannot {action} {path}: the node already exists (another deployer may be "
            "working on this deployment)."
        )
    if isinstance(exc, kz.BadVersionError):
        return errors.LockedError(
            f"Cannot {action} {path}: it was changed concurrently by another deployer."
        )
    if isinstance(exc, (kz.ConnectionLoss, kz.SessionExpiredError, kz.ConnectionClosedError,
                        KazooTimeoutError)):
        return errors.ZookeeperError(
            f"Lost the connection to ZooKeeper at {hosts} while trying to {action} {path}."
        )
    return errors.ZookeeperError(
        f"ZooKeeper at {hosts} failed to {action} {path}: {type(exc).__name__} {exc}".strip()
    )


@contextlib.contextmanager
def mapped(action: str, path: str, user: str | None, hosts: str) -> Iterator[None]:
    """Translate kazoo exceptions raised inside the block."""
    try:
        yield
    except (kz.KazooException, KazooTimeoutError) as exc:
        raise translate(exc, action, path, user, hosts) from exc


class Bounded:
    """A KazooClient whose synchronous reads and writes give up after ``timeout`` seconds.

    kazoo queues a request made while it reconnects and waits for its answer without a
    deadline: with every server of the ensemble down, a plain ``client.get`` blocks until one
    answers again.  Here each such call goes through its ``*_async`` twin and waits at most
    ``timeout``; the timeout is a connection loss (:data:`CONNECTION_LOSS`), so the store's
    retry and error mapping treat it like one.
    """

    _BOUNDED = frozenset({"get", "exists", "get_children", "create", "set", "get_acls",
                          "set_acls"})

    def __init__(self, client: Any, timeout: float) -> None:
        self._client = client
        self._timeout = timeout

    def __getattr__(self, name: str) -> Any:
        if name not in self._BOUNDED:
            return getattr(self._client, name)
        call_async = getattr(self._client, f"{name}_async")

        def bounded(*args: Any, **kwargs: Any) -> Any:
            return call_async(*args, **kwargs).get(block=True, timeout=self._timeout)
        return bounded


def _wait(result: Any, timeout: float) -> Any:
    return result.get(block=True, timeout=timeout)


def walk(client: Any, base: str, timeout: float, with_data: bool = True,
         ) -> dict[str, tuple[bytes, list[str]]]:
    """Every node under ``base`` (inclusive): absolute path -> (data, child names).

    Nodes deleted while walking are skipped.  ``with_data=False`` fetches children only
    (data is then ``b""``).
    """
    out: dict[str, tuple[bytes, list[str]]] = {}
    level = [base]
    while level:
        next_level: list[str] = []
        for start in range(0, len(level), WINDOW):
            chunk = level[start:start + WINDOW]
            kids = [client.get_children_async(p) for p in chunk]
            datas = [client.get_async(p) for p in chunk] if with_data else []
            for i, path in enumerate(chunk):
                try:
                    children = sorted(_wait(kids[i], timeout))
                    data = _wait(datas[i], timeout)[0] if with_data else b""
                except kz.NoNodeError:
                    continue
                out[path] = (data or b"", children)
                next_level.extend(posixpath.join(path, c) for c in children)
        level = next_level
    return out


def nest_records(tree: dict[str, tuple[bytes, list[str]]], base: str,
                 depth: int) -> dict[str, Any]:
    """JSON records ``depth`` levels below ``base`` as nested dicts (a walk's result).

    e.g. depth 2 under members: ``{service: {host: record}}``.  Data that is not JSON is
    kept as ``{"raw": text}``.
    """
    out: dict[str, Any] = {}
    for path, (data, _children) in tree.items():
        rel = posixpath.relpath(path, base).split("/")
        if len(rel) != depth or rel == ["."]:
            continue
        node = out
        for part in rel[:-1]:
            node = node.setdefault(part, {})
        try:
            node[rel[-1]] = json.loads(data) if data else {}
        except ValueError:
            node[rel[-1]] = {"raw": data.decode(errors="replace")}
    return out


def exists_many(client: Any, paths: Sequence[str], timeout: float) -> list[bool]:
    """Whether each path exists, asked in one pipelined round trip."""
    found: list[bool] = []
    for start in range(0, len(paths), WINDOW):
        pending = [client.exists_async(p) for p in paths[start:start + WINDOW]]
        found.extend(_wait(r, timeout) is not None for r in pending)
    return found


def _transaction(client: Any, batch: Sequence[Op]) -> Any:
    tx = client.transaction()
    for op in batch:
        if op.kind == "create":
            tx.create(op.path, op.data, acl=list(op.acl))
        elif op.kind == "delete":
            tx.delete(op.path)
        else:
            raise ValueError(f"unknown op kind {op.kind!r}")
    return tx


def check_results(batch: Sequence[Op], results: Sequence[Any]) -> tuple[Op, Exception] | None:
    """The op that made a transaction fail and its exception, or None when all succeeded."""
    failed = None
    for op, res in zip(batch, results, strict=False):
        if isinstance(res, Exception):
            if isinstance(res, kz.RolledBackError):
                failed = failed or (op, res)
                continue
            return op, res
    return failed


def commit(client: Any, batch: Sequence[Op], timeout: float) -> None:
    """Commit one batch as a single multi-op transaction; raise on the failing op."""
    results = _transaction(client, batch).commit_async().get(block=True, timeout=timeout)
    failure = check_results(batch, results)
    if failure:
        op, exc = failure
        raise OpFailed(op, exc)


def commit_pipelined(client: Any, batches: Sequence[Sequence[Op]], timeout: float,
                     window: int = 8) -> int:
    """Commit ``batches`` with up to ``window`` transactions in flight; return ops written.

    ZooKeeper applies one session's requests in order, so pipelining keeps the order of the
    batches.  Every batch is checked; the first failure is raised after the in-flight ones
    have completed (a failed parent makes its children's later batch fail too).
    """
    written = 0
    pending: list[tuple[Sequence[Op], Any]] = []
    failure: OpFailed | None = None

    def drain(keep: int) -> None:
        nonlocal written, failure
        while len(pending) > keep:
            batch, result = pending.pop(0)
            try:
                results = result.get(block=True, timeout=timeout)
            except (kz.KazooException, KazooTimeoutError) as exc:
                failure = failure or OpFailed(batch[0], exc)
                continue
            bad = check_results(batch, results)
            if bad:
                failure = failure or OpFailed(*bad)
            else:
                written += len(batch)

    for batch in batches:
        pending.append((batch, _transaction(client, batch).commit_async()))
        drain(window - 1)
        if failure:
            break
    drain(0)
    if failure:
        raise failure
    return written


class OpFailed(Exception):
    """A batch failed at ``op`` with the kazoo exception ``error``."""

    def __init__(self, op: Op, error: BaseException) -> None:
        super().__init__(f"{op.kind} {op.path}: {error!r}")
        self.op = op
        self.error = error

