"""The deployer's ZooKeeper store: deployment nodes, immutable generations, status.

Protocol (DESIGN section 4, docs/zookeeper-layout.md):

* :meth:`Store.write_generation` writes a new generation ``max(existing) + 1`` in batched
  multi-op transactions, each under ZooKeeper's 1 MB request limit, parents before children.
  The ``manifest`` node is created in the very last transaction, after every other batch has
  been confirmed: **a generation is complete if and only if its manifest exists**.
* :meth:`Store.switch_current` makes a complete generation visible with one atomic
  transaction (check the manifest, versioned write of ``current``), so a reader never sees a
  half-written generation and a concurrent deployer is detected.
* A deployer killed mid-write leaves a generation without manifest that ``current`` never
  pointed at; :meth:`Store.gc` removes such incomplete generations together with complete
  ones beyond the newest ``keep``, never the current one.  gc must run under
  :meth:`Store.deploy_lock` (an incomplete generation could otherwise be another deployer's
  write in progress).

:attr:`Store.writes` counts the write operations sent (each create/set/delete/set-ACL, one
per op of a transaction); the deploy lock's own ephemeral nodes are not counted, nor are the
deletes of garbage collection, counted apart in :attr:`Store.gc_deletes` (a deploy that
changes nothing must not look as if it wrote).

Connection loss (docs/zookeeper-layout.md, "Connection loss"): with an ensemble, losing the
member the deployer is connected to (or the leader) suspends the session until kazoo has
reconnected to another member.  Reads, the deploy lock, ``ensure_deployment`` and ``gc``
are idempotent and run again once the session is back, within ``timeout`` seconds.  A write
whose answer was lost is checked before it is redone: the batches of a generation that
landed are kept and only the missing nodes are written (the manifest still last), and a
``current`` switch that landed is not repeated.  A session that *expired* while holding the
deploy lock may have lost the lock to another deployer: no write is sent after that.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import posixpath
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from kazoo import exceptions as kz
from kazoo.client import KazooClient
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import KazooState

from kolla_mesos import errors, zkpaths
from kolla_mesos.clients import zk_acl, zk_batch, zk_io
from kolla_mesos.clients.zk_acl import Credentials, RunnerIdentities, read_credentials
from kolla_mesos.runner.session import reconnect_retry

LOG = logging.getLogger(__name__)

__all__ = ["DeploymentSummary", "Store", "read_credentials"]


@dataclasses.dataclass(frozen=True)
class DeploymentSummary:
    """One row of ``kolla-mesos deployment list``."""

    name: str
    readable: bool = True
    current: int | None = None
    generations: int = 0
    profile: str = ""
    services: int = 0


def _json_object(data: bytes, path: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise errors.ZookeeperError(f"{path} does not hold a JSON object.")
    return value

P = ParamSpec("P")
T = TypeVar("T")
#: Longest pause between two attempts while the session still looks connected (kazoo has
#: not yet reported the loss that failed the request: no event to wait for until it does).
_MAX_BACKOFF = 0.5
#: Longest wait for the first connection: a command run while ZooKeeper is down says so
#: within seconds instead of blocking for the whole [zookeeper] timeout.
CONNECT_TIMEOUT = 5.0


def _retried(what: str) -> Callable[[Callable[Concatenate[Store, P], T]],
                                    Callable[Concatenate[Store, P], T]]:
    """Run an idempotent Store method again after a connection loss (see module docstring)."""
    def wrap(method: Callable[Concatenate[Store, P], T]) -> Callable[Concatenate[Store, P], T]:
        def inner(store: Store, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return store._retrying(what, lambda: method(store, *args, **kwargs))
        functools.update_wrapper(inner, method)
        return inner
    return wrap


class _Taken(Exception):
    """The generation number was taken by someone else (nothing of ours was written)."""


class Store:
    """One deployment's nodes in ZooKeeper, accessed with the deployer's credentials."""

    def __init__(self, hosts: str, root: str, deployment_id: str, credentials: Credentials,
                 runner_credentials: RunnerIdentities | None = None, timeout: float = 15.0,
                 batch_limit: int = zk_batch.DEFAULT_BATCH_LIMIT) -> None:
        self.hosts = hosts
        self.root = "/" + root.strip("/")
        self.deployment_id = deployment_id
        self.credentials = credentials
        #: topology host -> that host's runner identity
        self.runner_credentials: RunnerIdentities = dict(runner_credentials or {})
        self.timeout = timeout
        self.batch_limit = batch_limit
        self.writes = 0
        self.gc_deletes = 0
        self.path = zkpaths.deployment(self.root, deployment_id)
        self._client: Any = None
        #: the same client, every synchronous call bounded by ``timeout`` (zk_io.Bounded)
        self._bounded: Any = None
        #: Highest generation number seen in this session (numbers only grow).
        self._max_seen: int | None = None
        #: Set while the session is connected (kazoo's listener), cleared while suspended.
        self._live = threading.Event()
        #: Whether this store holds the deploy lock, and whether its session expired since.
        self._lock_held = False
        self._lock_lost = False
        self._retry_depth = 0

    # --- connection --------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The connected KazooClient (raises if :meth:`connect` was not called)."""
        if self._client is None:
            raise errors.ZookeeperError("The ZooKeeper store is not connected.")
        return self._bounded

    def connect(self) -> Store:
        """Open the session; raise ZookeeperError naming the hosts when unreachable."""
        # The runners' reconnect policy (attempts at most a second apart; kazoo's default
        # backoff grows to an hour), so a suspended session resumes as soon as a member answers.
        wait = min(self.timeout, CONNECT_TIMEOUT)
        deadline = time.monotonic() + wait
        while True:
            client = KazooClient(
                hosts=self.hosts, timeout=self.timeout,
                auth_data=zk_acl.auth_data(self.credentials),
                default_acl=zk_acl.deployer_only_acl(self.credentials),
                connection_retry=reconnect_retry(),
            )
            client.add_listener(self._on_state)
            try:
                client.start(timeout=max(0.1, deadline - time.monotonic()))
                break
            except (KazooTimeoutError, kz.KazooException) as exc:
                with contextlib.suppress(Exception):
                    client.stop()
                    client.close()
                # A member that dies during the handshake fails the start at once; another
                # member may answer: try again until the deadline (never after an auth failure).
                if isinstance(exc, kz.AuthFailedError) or time.monotonic() >= deadline:
                    raise errors.ZookeeperError(
                        f"ZooKeeper is unreachable: no server of {self.hosts} (the setting "
                        f"[zookeeper] hosts) answered within {wait:g} s."
                    ) from exc
                LOG.info("Connecting to ZooKeeper failed (%s); trying again",
                         type(exc).__name__)
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))  # nothing to watch
        self._client = client
        self._bounded = zk_io.Bounded(client, self.timeout)
        return self

    def _on_state(self, state: str) -> None:
        # Runs in kazoo's connection thread: never block here.
        if state == KazooState.CONNECTED:
            self._live.set()
            return
        self._live.clear()
        if state == KazooState.LOST and self._lock_held:
            self._lock_lost = True

    def _retrying(self, what: str, func: Callable[[], T]) -> T:
        """Call ``func`` until it succeeds, again after each connection loss, for at most
        :attr:`timeout` seconds (a nested call runs once: the outermost one retries)."""
        if self._retry_depth:
            return func()
        deadline = time.monotonic() + self.timeout
        backoff = 0.02
        self._retry_depth += 1
        try:
            while True:
                try:
                    return func()
                except (errors.KollaMesosError, zk_io.OpFailed, kz.KazooException,
                        KazooTimeoutError) as exc:
                    if not zk_io.lost_connection(exc) or time.monotonic() >= deadline:
                        raise self._as_error(exc, what) from exc
                    LOG.info("Lost the connection to ZooKeeper while trying to %s %s; "
                             "retrying once a server answers", what, self.path)
                    if self._live.is_set():
                        time.sleep(backoff)
                        backoff = min(backoff * 2, _MAX_BACKOFF)
                    elif not self._live.wait(max(0.0, deadline - time.monotonic())):
                        raise self._as_error(exc, what) from exc
        finally:
            self._retry_depth -= 1

    def _as_error(self, exc: BaseException, what: str) -> errors.KollaMesosError:
        if isinstance(exc, errors.KollaMesosError):
            return exc
        cause = exc.error if isinstance(exc, zk_io.OpFailed) else exc
        return zk_io.translate(cause, what, self.path, self.credentials[0], self.hosts)

    def _check_lock(self, what: str) -> None:
        """Refuse a write after the session that held the deploy lock expired."""
        if self._lock_lost:
            raise errors.LockedError(
                f"The ZooKeeper session that held the deploy lock of {self.path} expired "
                f"before this deployer could {what}, so another deployer may hold it now; "
                "nothing more was written: re-run to converge."
            )

    def close(self) -> None:
        """Close the session (releasing any lock it holds)."""
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.stop()
                self._client.close()
            self._client = None

    def __enter__(self) -> Store:
        return self.connect()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _mapped(self, action: str, path: str) -> contextlib.AbstractContextManager[None]:
        return zk_io.mapped(action, path, self.credentials[0], self.hosts)

    # --- deployment --------------------------------------------------------------------

    def _acl_for(self, kind: str) -> list[Any]:
        dep, run = self.credentials, self.runner_credentials
        if kind == "read":
            return zk_acl.read_acl(dep, run)
        if kind == "runner":
            return zk_acl.runner_write_acl(dep, run)
        return zk_acl.deployer_only_acl(dep)

    def _ensure_root(self) -> None:
        parts = [p for p in self.root.split("/") if p]
        for i in range(1, len(parts) + 1):
            path = "/" + "/".join(parts[:i])
            with self._mapped("create", path):
                if self.client.exists(path) is None:
                    with contextlib.suppress(kz.NodeExistsError):
                        self.client.create(path, b"", acl=zk_acl.root_acl(self.credentials))
                        self.writes += 1

    def _ensure_node(self, path: str, acl: list[Any], data: bytes | None = None) -> None:
        """Create ``path`` with ``acl`` (and ``data``), or fix what differs."""
        with self._mapped("create", path):
            try:
                self.client.create(path, data or b"", acl=acl)
                self.writes += 1
                return
            except kz.NodeExistsError:
                pass
        with self._mapped("read the ACL of", path):
            current_acl, _ = self.client.get_acls(path)
        if not zk_acl.same_acl(list(current_acl), acl):
            with self._mapped("set the ACL of", path):
                self.client.set_acls(path, acl)
                self.writes += 1
        if data is not None:
            with self._mapped("read", path):
                old, _ = self.client.get(path)
            if old != data:
                with self._mapped("write", path):
                    self.client.set(path, data)
                    self.writes += 1

    @_retried("create")
    def ensure_deployment(self, metadata: Mapping[str, Any]) -> None:
        """Create the deployment and its status/locks/members/generations nodes with ACLs.

        Idempotent: an existing node is only written when its data or ACL differ.
        """
        self._ensure_root()
        # Runners cannot read digest ids from ACLs (ZooKeeper redacts them without ADMIN), so
        # the ACL for nodes they create is published here (docs/service-definition.md).
        runner_acl = [{"scheme": acl.id.scheme, "id": acl.id.id, "perms": acl.perms}
                      for acl in self._acl_for("runner")]
        data = json.dumps({**dict(metadata), "runner_acl": runner_acl},
                          sort_keys=True).encode()
        self._ensure_node(self.path, self._acl_for("read"), data)
        self._ensure_node(zkpaths.generations(self.root, self.deployment_id),
                          self._acl_for("read"))
        for name in (zkpaths.STATUS, zkpaths.LOCKS, zkpaths.MEMBERS):
            self._ensure_node(zkpaths.join(self.path, name), self._acl_for("runner"))
        self._ensure_node(zkpaths.deploy_lock(self.root, self.deployment_id),
                          self._acl_for("deployer"))
        cur = zkpaths.current(self.root, self.deployment_id)
        with self._mapped("read", cur):
            exists = self.client.exists(cur) is not None
        if exists:
            self._ensure_node(cur, self._acl_for("read"))

    @_retried("read")
    def metadata(self) -> dict[str, Any] | None:
        """The deployment's metadata, or None when the deployment does not exist."""
        with self._mapped("read", self.path):
            try:
                data, _ = self.client.get(self.path)
            except kz.NoNodeError:
                return None
        return dict(json.loads(data or b"{}"))

    # --- generations -------------------------------------------------------------------

    def _gen_numbers(self) -> list[int]:
        path = zkpaths.generations(self.root, self.deployment_id)
        with self._mapped("list", path):
            try:
                names = self.client.get_children(path)
            except kz.NoNodeError:
                return []
        numbers = sorted(n for n in map(zkpaths.parse_generation, names) if n is not None)
        self._max_seen = max([self._max_seen or 0, *numbers])
        return numbers

    def _complete(self, numbers: list[int]) -> list[int]:
        gens = [zkpaths.generation(self.root, self.deployment_id, n) for n in numbers]
        with self._mapped("read", zkpaths.generations(self.root, self.deployment_id)):
            found = zk_io.exists_many(self.client, [zkpaths.manifest(g) for g in gens],
                                      self.timeout)
        return [n for n, ok in zip(numbers, found, strict=True) if ok]

    @_retried("list")
    def list_generations(self) -> list[int]:
        """Numbers of the complete generations (those with a manifest), oldest first."""
        return self._complete(self._gen_numbers())

    @_retried("list")
    def incomplete_generations(self) -> list[int]:
        """Numbers of generations without manifest (a write was interrupted or is running)."""
        numbers = self._gen_numbers()
        complete = set(self._complete(numbers))
        return [n for n in numbers if n not in complete]

    @_retried("read")
    def current_generation(self) -> int | None:
        """The generation ``current`` points at, or None before the first switch."""
        path = zkpaths.current(self.root, self.deployment_id)
        with self._mapped("read", path):
            try:
                data, _ = self.client.get(path)
            except kz.NoNodeError:
                return None
        try:
            return int(data.decode().strip())
        except ValueError as exc:
            raise errors.ZookeeperError(
                f"{path} holds {data[:40]!r}, not a generation number."
            ) from exc

    @_retried("read")
    def read_generation(self, number: int) -> dict[str, bytes]:
        """Every node of a complete generation: relative path -> data.

        Leaves are always included (an empty rendered file stays an empty file); inner nodes
        only when they hold data (e.g. ``files/<name>`` with per-host variants below it).
        """
        gen = zkpaths.generation(self.root, self.deployment_id, number)
        with self._mapped("read", gen):
            if self.client.exists(zkpaths.manifest(gen)) is None:
                raise errors.ZookeeperError(
                    f"Generation {number} ({gen}) does not exist or is incomplete "
                    "(it has no manifest)."
                )
            tree = zk_io.walk(self.client, gen, self.timeout)
        out: dict[str, bytes] = {}
        for path, (data, children) in tree.items():
            if path == gen:
                continue
            if data or not children:
                out[posixpath.relpath(path, gen)] = data
        return out

    @_retried("read")
    def read_manifest(self, number: int) -> dict[str, Any]:
        """The manifest of a complete generation (services, apps, jobs: what rollback needs)."""
        path = zkpaths.manifest(zkpaths.generation(self.root, self.deployment_id, number))
        with self._mapped("read", path):
            try:
                data, _ = self.client.get(path)
            except kz.NoNodeError:
                raise errors.ConfigError(
                    f"Generation {number} does not exist or is incomplete (no {path})."
                ) from None
        return _json_object(data, path)

    @_retried("list")
    def deployments(self) -> list[DeploymentSummary]:
        """Every deployment under the root (not only this store's), as far as these
        credentials can read it: a deployment they cannot read is listed as such."""
        with self._mapped("list", self.root):
            try:
                names = sorted(self.client.get_children(self.root))
            except kz.NoNodeError:
                return []
        return [self._summary(name) for name in names]

    def _summary(self, name: str) -> DeploymentSummary:
        gens_path = zkpaths.generations(self.root, name)
        with self._mapped("read", zkpaths.deployment(self.root, name)):
            try:
                gens = [g for g in map(zkpaths.parse_generation,
                                       self.client.get_children(gens_path)) if g is not None]
                raw, _ = self.client.get(zkpaths.current(self.root, name))
                current = int(raw) if raw.strip() else None
                manifest: dict[str, Any] = {}
                if current is not None:
                    path = zkpaths.manifest(zkpaths.generation(self.root, name, current))
                    manifest = _json_object(self.client.get(path)[0], path)
            except kz.NoAuthError:
                return DeploymentSummary(name, readable=False)
            except (kz.NoNodeError, ValueError, errors.ZookeeperError):
                return DeploymentSummary(name)
        return DeploymentSummary(name, current=current, generations=len(gens),
                                 profile=str(manifest.get("profile", "")),
                                 services=len(manifest.get("services", {})))

    def check_runner_identities(self, hosts: Collection[str]) -> None:
        """Refuse, before anything is written, hosts that have no runner identity."""
        missing = zk_acl.missing_runner_hosts(self.runner_credentials, hosts)
        if missing:
            raise errors.ConfigError(
                f"No runner credentials for host(s) {', '.join(missing)}: each topology host "
                "needs <[zookeeper] runner_credentials_dir>/<host>.cred (run 'kolla-mesos "
                "genpwd' to create them, then copy each to runner_credentials_path on its host)."
            )

    def write_generation(self, nodes: Mapping[str, bytes],
                         readers: Mapping[str, Collection[str]] | None = None) -> int:
        """Write ``nodes`` (relative path -> data) as a new generation and return its number.

        ``readers`` maps a subtree (``services/<project>/<service>``) to the hosts whose
        runners may read it; every other node is readable by every runner.  The manifest
        (``nodes['manifest']``, or a minimal one when absent) is written last; ``current`` is
        not switched.
        """
        subtree_acls = {rel: zk_acl.service_acl(self.credentials, self.runner_credentials,
                                                 hosts)
                         for rel, hosts in (readers or {}).items()}
        payload = dict(nodes)
        if zkpaths.MANIFEST not in payload:
            payload[zkpaths.MANIFEST] = json.dumps(
                {"schema": 1, "nodes": len(nodes)}, sort_keys=True).encode()
        if self._max_seen is None:
            self._gen_numbers()
        # Optimistic numbering: max seen + 1 saves a round trip when the caller listed the
        # generations before (it diffs against them); a number taken meanwhile fails the
        # first transaction atomically (the generation node exists) and is retried.
        for _attempt in range(3):
            number = (self._max_seen or 0) + 1
            try:
                return self._write_generation(number, payload, subtree_acls)
            except _Taken:
                self._gen_numbers()
        raise errors.LockedError(
            f"Another deployer keeps creating generations under {self.path}; "
            "is a second deployer running without the deploy lock?"
        )

    def _write_generation(self, number: int, payload: dict[str, bytes],
                          subtree_acls: Mapping[str, list[Any]]) -> int:
        gen = zkpaths.generation(self.root, self.deployment_id, number)
        ops = zk_batch.tree_create_ops(gen, payload, self._acl_for("read"),
                                       last=zkpaths.MANIFEST, subtree_acls=subtree_acls)
        LOG.info("Writing generation %d (%d nodes) to %s", number, len(ops), gen)
        self._check_lock("write generation " + str(number))
        try:
            self._commit_tree(gen, ops)
        except (zk_io.OpFailed, KazooTimeoutError, kz.KazooException) as exc:
            if not zk_io.lost_connection(exc):
                if isinstance(exc, zk_io.OpFailed):
                    raise self._op_error(gen, exc) from exc
                raise zk_io.translate(exc, "write generation", gen, self.credentials[0],
                                      self.hosts) from exc
            # Each transaction is atomic: a lost answer means it landed whole or not at all.
            # Once a server answers, write only the nodes that are missing (manifest last).
            self._retrying("write generation", lambda: self._resume_tree(gen, ops))
        self._max_seen = max(self._max_seen or 0, number)
        return number

    def _op_error(self, gen: str, failed: zk_io.OpFailed) -> Exception:
        if isinstance(failed.error, kz.NodeExistsError) and failed.op.path == gen:
            return _Taken(gen)
        return zk_io.translate(failed.error, "create", failed.op.path, self.credentials[0],
                               self.hosts)

    def _commit_tree(self, gen: str, ops: Sequence[zk_batch.Op]) -> None:
        """Commit ``ops`` in batches: the first alone (it claims the generation number when
        it creates the generation node), the middle ones pipelined, the last one (with the
        manifest) only after every other was confirmed."""
        batches = zk_batch.plan_batches(ops, self.batch_limit)
        first, final = batches[0], batches[-1]
        zk_io.commit(self.client, first, self.timeout)
        self.writes += len(first)
        if len(batches) > 2:
            self.writes += zk_io.commit_pipelined(self.client, batches[1:-1], self.timeout)
        if len(batches) > 1:
            zk_io.commit(self.client, final, self.timeout)
            self.writes += len(final)

    def _resume_tree(self, gen: str, ops: Sequence[zk_batch.Op]) -> None:
        """After a connection loss: commit the ops whose nodes do not exist yet."""
        self._check_lock("finish generation " + gen.rsplit("/", 1)[-1])
        found = zk_io.exists_many(self.client, [op.path for op in ops], self.timeout)
        missing = [op for op, there in zip(ops, found, strict=True) if not there]
        LOG.info("Resuming %s: %d of %d nodes were written before the connection loss",
                 gen, len(ops) - len(missing), len(ops))
        if missing:
            try:
                self._commit_tree(gen, missing)
            except zk_io.OpFailed as failed:
                if zk_io.lost_connection(failed):
                    raise  # retried by the caller
                raise self._op_error(gen, failed) from failed

    def switch_current(self, number: int, expected: int | None) -> None:
        """Point ``current`` at ``number`` in one atomic transaction.

        ``expected`` is the generation the caller read before; if ``current`` changed since
        (another deployer), :class:`LockedError` is raised and nothing is written.
        """
        self._check_lock(f"switch to generation {number}")
        attempt = 0

        def once() -> None:
            nonlocal attempt
            attempt += 1
            self._switch_once(number, expected, retried=attempt > 1)

        self._retrying("switch", once)

    def _switch_once(self, number: int, expected: int | None, retried: bool) -> None:
        path = zkpaths.current(self.root, self.deployment_id)
        gen = zkpaths.generation(self.root, self.deployment_id, number)
        data = str(number).encode()
        with self._mapped("read", path):
            try:
                old, stat = self.client.get(path)
            except kz.NoNodeError:
                old, stat = None, None
        found = int(old) if old is not None and old.strip().isdigit() else None
        if retried and found == number:
            # The answer to the first attempt was lost, but the switch itself landed.
            LOG.info("Switched %s to generation %d (confirmed after a connection loss)",
                     path, number)
            return
        if found != expected or (stat is None) != (expected is None):
            raise errors.LockedError(
                f"{path} points at generation {found} but this deployer expected {expected}: "
                "another deployer changed the deployment; re-run to converge."
            )
        tx = self.client.transaction()
        tx.check(zkpaths.manifest(gen), 0)
        if stat is None:
            tx.create(path, data, acl=self._acl_for("read"))
        else:
            tx.set_data(path, data, version=stat.version)
        with self._mapped("switch", path):
            results = tx.commit_async().get(block=True, timeout=self.timeout)
        self.writes += 1
        checked, written = results[0], results[1]
        if isinstance(checked, Exception) and not isinstance(checked, kz.RolledBackError):
            raise errors.ZookeeperError(
                f"Cannot switch {path} to generation {number}: {gen} is missing or incomplete "
                "(it has no manifest)."
            )
        if isinstance(written, kz.BadVersionError | kz.NodeExistsError):
            raise errors.LockedError(
                f"{path} was changed by another deployer while switching to generation "
                f"{number}; re-run to converge."
            )
        if isinstance(written, Exception) and not isinstance(written, kz.RolledBackError):
            raise zk_io.translate(written, "switch", path, self.credentials[0], self.hosts)
        LOG.info("Switched %s to generation %d", path, number)

    @_retried("garbage-collect")
    def gc(self, keep: int) -> list[int]:
        """Delete generations beyond the newest ``keep`` complete ones, and incomplete ones.

        The current generation is never deleted.  Call under :meth:`deploy_lock`.  Returns
        the numbers deleted.
        """
        if keep < 1:
            raise ValueError("gc must keep at least one generation")
        self._check_lock("garbage-collect generations")
        numbers = self._gen_numbers()
        complete = self._complete(numbers)
        current = self.current_generation()
        keep_set = set(complete[-keep:])
        if current is not None:
            keep_set.add(current)
        doomed = [n for n in numbers if n not in keep_set]
        for number in doomed:
            self._delete_tree(zkpaths.generation(self.root, self.deployment_id, number))
        if doomed:
            LOG.info("Garbage-collected generations %s of %s", doomed, self.path)
        return doomed

    def _delete_tree(self, base: str) -> None:
        with self._mapped("delete", base):
            tree = zk_io.walk(self.client, base, self.timeout, with_data=False)
        paths = sorted(tree, key=lambda p: (-p.count("/"), p))
        ops = [zk_batch.delete(p) for p in paths]
        try:
            self.gc_deletes += zk_io.commit_pipelined(
                self.client, zk_batch.plan_batches(ops, self.batch_limit), self.timeout)
        except zk_io.OpFailed as failed:
            raise zk_io.translate(failed.error, "delete", failed.op.path,
                                  self.credentials[0], self.hosts) from failed

    # --- export and import (docs/operations.md, "ZooKeeper export and import") -------------

    @_retried("read")
    def status_nodes(self) -> dict[str, bytes]:
        """Every node of the runners' ``status`` subtree (relative path -> data): the records
        that make run-once commands run once, kept across an export and import."""
        base = zkpaths.join(self.path, zkpaths.STATUS)
        with self._mapped("read", base):
            tree = zk_io.walk(self.client, base, self.timeout)
        return {posixpath.relpath(path, base): data for path, (data, _kids) in tree.items()
                if path != base}

    @_retried("read")
    def holds_deployment(self) -> bool:
        """Whether this deployment has a generation or a ``current`` pointer here."""
        with self._mapped("read", self.path):
            return bool(self._gen_numbers()) or self.client.exists(
                zkpaths.current(self.root, self.deployment_id)) is not None

    def import_generation(self, number: int, nodes: Mapping[str, bytes],
                          readers: Mapping[str, Collection[str]]) -> None:
        """Write an exported generation under its own number (the manifest last, as a
        deploy writes one), with the ACLs a deploy gives it.  Call under the deploy lock."""
        if zkpaths.MANIFEST not in nodes:
            raise errors.ConfigError(f"Generation {number} of the export has no manifest.")
        subtree_acls = {rel: zk_acl.service_acl(self.credentials, self.runner_credentials,
                                                 hosts)
                        for rel, hosts in readers.items()}
        try:
            self._write_generation(number, dict(nodes), subtree_acls)
        except _Taken as exc:
            raise errors.LockedError(f"Generation {number} appeared under {self.path} while "
                                     "importing; another deployer is writing.") from exc

    @_retried("create")
    def import_status(self, nodes: Mapping[str, bytes]) -> None:
        """Recreate runner status records with the ACL runners give them (idempotent)."""
        base = zkpaths.join(self.path, zkpaths.STATUS)
        for rel in sorted(nodes, key=lambda r: (r.count("/"), r)):
            self._ensure_node(zkpaths.join(base, rel), self._acl_for("runner"), nodes[rel])

    def server_version(self) -> str:
        """The version of the ZooKeeper server this session is connected to (the ``envi``
        four-letter word, which a server may not allow: then say so)."""
        try:
            return ".".join(str(part) for part in self._client.server_version(retries=1))
        except Exception as exc:  # noqa: BLE001 - kazoo raises anything from a refused 4lw
            return f"unknown (the 'envi' command was refused: {type(exc).__name__})"

    @_retried("read")
    def root_acl_as_expected(self) -> bool | None:
        """Whether the root's ACL is the one kolla-mesos gives it (deployer all, world read);
        None when the root does not exist yet (the first deploy creates it)."""
        with self._mapped("read the ACL of", self.root):
            try:
                acl, _ = self.client.get_acls(self.root)
            except kz.NoNodeError:
                return None
        return zk_acl.same_acl(list(acl), zk_acl.root_acl(self.credentials))

    # --- destroy (kolla-mesos destroy) ------------------------------------------------------

    @_retried("read")
    def sibling_manifests(self) -> dict[str, dict[str, Any] | None]:
        """The current manifest of every *other* deployment under the root (None when it has
        none or these credentials cannot read it): what ``destroy`` must leave alone."""
        with self._mapped("list", self.root):
            try:
                names = sorted(self.client.get_children(self.root))
            except kz.NoNodeError:
                return {}
        found: dict[str, dict[str, Any] | None] = {}
        for name in names:
            if name == self.deployment_id:
                continue
            try:
                raw, _ = self.client.get(zkpaths.current(self.root, name))
                path = zkpaths.manifest(zkpaths.generation(self.root, name, int(raw)))
                found[name] = _json_object(self.client.get(path)[0], path)
            except (kz.NoNodeError, kz.NoAuthError, ValueError, errors.ZookeeperError):
                found[name] = None
        return found

    def _delete_quietly(self, paths: Sequence[str]) -> int:
        """Delete ``paths`` (children before parents), skipping those already gone."""
        deleted = 0
        for path in sorted(paths, key=lambda p: (-p.count("/"), p)):
            with self._mapped("delete", path):
                try:
                    self.client.delete_async(path).get(block=True, timeout=self.timeout)
                    deleted += 1
                except kz.NoNodeError:
                    pass
        self.writes += deleted
        return deleted

    @_retried("delete")
    def delete_deployment_data(self) -> int:
        """Delete every node of this deployment but its deploy lock (call under
        :meth:`deploy_lock`); return how many were deleted.

        Runners' ephemeral members of tasks killed a moment ago may still exist until their
        sessions expire; they are deleted like any other node.
        """
        self._check_lock("destroy the deployment")
        lock = zkpaths.deploy_lock(self.root, self.deployment_id)
        with self._mapped("delete", self.path):
            tree = zk_io.walk(self.client, self.path, self.timeout, with_data=False)
        return self._delete_quietly([p for p in tree if p != self.path and p != lock
                                     and not p.startswith(lock + "/")])

    @_retried("delete")
    def delete_deployment_node(self) -> None:
        """After the lock was released: remove the lock node and the deployment node.

        A deployer waiting for the lock meanwhile keeps its lock node: that is a LockedError
        (the data is gone; the next command of that deployer recreates the deployment).
        """
        lock = zkpaths.deploy_lock(self.root, self.deployment_id)
        with self._mapped("delete", self.path):
            try:
                for path in (lock, self.path):
                    with contextlib.suppress(kz.NoNodeError):
                        self.client.delete_async(path).get(block=True, timeout=self.timeout)
                        self.writes += 1
            except kz.NotEmptyError:
                raise errors.LockedError(
                    f"{self.path} was emptied, but another deployer started waiting for its "
                    "deploy lock meanwhile, so the node itself stays.") from None

    # --- locks and runner state --------------------------------------------------------

    @contextlib.contextmanager
    def deploy_lock(self, timeout: float | None = None,
                    on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the deployment's deploy lock; LockedError if not acquired within ``timeout``.

        When another deployer holds it, ``on_wait`` is told who and for how long this one
        waits (an operator otherwise sees a deploy that hangs silently).
        """
        path = zkpaths.deploy_lock(self.root, self.deployment_id)
        # The lock recipe creates missing parents with the deployer-only default ACL: create
        # the root first, with the ACL docs/zookeeper-layout.md gives it (idempotent, so it is
        # retried across a connection loss like the lock itself).
        self._retrying("create", self._ensure_root)
        ident = f"{socket.gethostname()}:{os.getpid()}"
        lock = self.client.Lock(path, ident)
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        announced = False

        def acquire() -> bool:
            # kazoo's Lock retries a suspended session itself (KazooRetry); this covers what
            # it lets through (the lock node's parent check, an expired session).
            nonlocal announced
            with self._mapped("lock", path):
                # kazoo queues the lock's requests while it reconnects and waits for them
                # without a deadline: only start while the session is connected.
                if not self._live.wait(max(0.0, deadline - time.monotonic())):
                    raise kz.ConnectionLoss()
                try:
                    if lock.acquire(blocking=False):
                        return True
                    if on_wait is not None and not announced:
                        announced = True
                        holders = ", ".join(lock.contenders()) or "another deployer"
                        on_wait(f"waiting up to {wait:g} s for the deploy lock {path} held "
                                f"by {holders}")
                    return bool(lock.acquire(blocking=True,
                                             timeout=max(0.0, deadline - time.monotonic())))
                except kz.LockTimeout:
                    return False

        got = self._retrying("lock", acquire)
        if not got:
            holders = "unknown"
            with contextlib.suppress(Exception):
                holders = ", ".join(lock.contenders()) or holders
            raise errors.LockedError(
                f"Another deployer ({holders}) holds {path}; waited {wait:g} s."
            )
        self._lock_held, self._lock_lost = True, False
        try:
            yield
        finally:
            self._lock_held = False
            with contextlib.suppress(Exception):
                lock.release()

    def _records(self, base: str, depth: int) -> dict[str, Any]:
        with self._mapped("read", base):
            return zk_io.nest_records(zk_io.walk(self.client, base, self.timeout), base, depth)

    @_retried("read")
    def read_status(self) -> dict[str, Any]:
        """Runner status records: service -> command -> inputs hash -> host -> record."""
        return self._records(zkpaths.join(self.path, zkpaths.STATUS), 4)

    @_retried("read")
    def members(self) -> dict[str, Any]:
        """Live members: service -> host -> record."""
        return self._records(zkpaths.join(self.path, zkpaths.MEMBERS), 2)
