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
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import posixpath
import socket
from collections.abc import Callable, Collection, Iterator, Mapping
from types import TracebackType
from typing import Any

from kazoo import exceptions as kz
from kazoo.client import KazooClient
from kazoo.handlers.threading import KazooTimeoutError

from kolla_mesos import errors, zkpaths
from kolla_mesos.clients import zk_acl, zk_batch, zk_io
from kolla_mesos.clients.zk_acl import Credentials, RunnerIdentities, read_credentials

LOG = logging.getLogger(__name__)

__all__ = ["Store", "read_credentials"]


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
        #: Highest generation number seen in this session (numbers only grow).
        self._max_seen: int | None = None

    # --- connection --------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The connected KazooClient (raises if :meth:`connect` was not called)."""
        if self._client is None:
            raise errors.ZookeeperError("The ZooKeeper store is not connected.")
        return self._client

    def connect(self) -> Store:
        """Open the session; raise ZookeeperError naming the hosts when unreachable."""
        client = KazooClient(
            hosts=self.hosts, timeout=self.timeout,
            auth_data=zk_acl.auth_data(self.credentials),
            default_acl=zk_acl.deployer_only_acl(self.credentials),
        )
        try:
            client.start(timeout=self.timeout)
        except (KazooTimeoutError, kz.KazooException) as exc:
            with contextlib.suppress(Exception):
                client.stop()
                client.close()
            raise errors.ZookeeperError(
                f"Cannot connect to ZooKeeper at {self.hosts} within {self.timeout:g} s."
            ) from exc
        self._client = client
        return self

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

    def list_generations(self) -> list[int]:
        """Numbers of the complete generations (those with a manifest), oldest first."""
        return self._complete(self._gen_numbers())

    def incomplete_generations(self) -> list[int]:
        """Numbers of generations without manifest (a write was interrupted or is running)."""
        numbers = self._gen_numbers()
        complete = set(self._complete(numbers))
        return [n for n in numbers if n not in complete]

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
        batches = zk_batch.plan_batches(ops, self.batch_limit)
        LOG.info("Writing generation %d (%d nodes, %d transactions) to %s",
                 number, len(ops), len(batches), gen)
        # The first batch (which creates the generation node, so claims the number) is
        # confirmed alone; the middle ones are pipelined; the last one holds the manifest.
        first, final = batches[0], batches[-1]
        try:
            zk_io.commit(self.client, first, self.timeout)
            self.writes += len(first)
            if len(batches) > 2:
                self.writes += zk_io.commit_pipelined(self.client, batches[1:-1],
                                                      self.timeout)
            if len(batches) > 1:
                zk_io.commit(self.client, final, self.timeout)
                self.writes += len(final)
        except zk_io.OpFailed as failed:
            if isinstance(failed.error, kz.NodeExistsError) and failed.op.path == gen:
                raise _Taken(gen) from failed
            raise zk_io.translate(failed.error, "create", failed.op.path,
                                  self.credentials[0], self.hosts) from failed
        except (KazooTimeoutError, kz.KazooException) as exc:
            raise zk_io.translate(exc, "write generation", gen, self.credentials[0],
                                  self.hosts) from exc
        self._max_seen = max(self._max_seen or 0, number)
        return number

    def switch_current(self, number: int, expected: int | None) -> None:
        """Point ``current`` at ``number`` in one atomic transaction.

        ``expected`` is the generation the caller read before; if ``current`` changed since
        (another deployer), :class:`LockedError` is raised and nothing is written.
        """
        path = zkpaths.current(self.root, self.deployment_id)
        gen = zkpaths.generation(self.root, self.deployment_id, number)
        data = str(number).encode()
        with self._mapped("read", path):
            try:
                old, stat = self.client.get(path)
            except kz.NoNodeError:
                old, stat = None, None
        found = int(old) if old is not None and old.strip().isdigit() else None
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

    def gc(self, keep: int) -> list[int]:
        """Delete generations beyond the newest ``keep`` complete ones, and incomplete ones.

        The current generation is never deleted.  Call under :meth:`deploy_lock`.  Returns
        the numbers deleted.
        """
        if keep < 1:
            raise ValueError("gc must keep at least one generation")
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
        # the root first, with the ACL docs/zookeeper-layout.md gives it.
        self._ensure_root()
        ident = f"{socket.gethostname()}:{os.getpid()}"
        lock = self.client.Lock(path, ident)
        wait = self.timeout if timeout is None else timeout
        with self._mapped("lock", path):
            try:
                got = lock.acquire(blocking=False)
                if not got:
                    if on_wait is not None:
                        holders = ", ".join(lock.contenders()) or "another deployer"
                        on_wait(f"waiting up to {wait:g} s for the deploy lock {path} held "
                                f"by {holders}")
                    got = lock.acquire(blocking=True, timeout=wait)
            except kz.LockTimeout:
                got = False
        if not got:
            holders = "unknown"
            with contextlib.suppress(Exception):
                holders = ", ".join(lock.contenders()) or holders
            raise errors.LockedError(
                f"Another deployer ({holders}) holds {path}; waited {wait:g} s."
            )
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                lock.release()

    def _records(self, base: str, depth: int) -> dict[str, Any]:
        with self._mapped("read", base):
            return zk_io.nest_records(zk_io.walk(self.client, base, self.timeout), base, depth)

    def read_status(self) -> dict[str, Any]:
        """Runner status records: service -> command -> inputs hash -> host -> record."""
        return self._records(zkpaths.join(self.path, zkpaths.STATUS), 4)

    def members(self) -> dict[str, Any]:
        """Live members: service -> host -> record."""
        return self._records(zkpaths.join(self.path, zkpaths.MEMBERS), 2)
