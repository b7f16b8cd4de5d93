"""The runner's ZooKeeper session: digest auth, retries across connection loss, ACL-aware writes.

Nodes the runner creates under ``status/``, ``locks/`` and ``members/`` take the ACL of that
area's root node, which the deployer created (``[deployer: ALL, runner: READ|WRITE|CREATE|
DELETE]``), so a runner never creates a world-readable node.  Connection-state changes are
fanned out to waiters (so a wait re-evaluates after a reconnect) and, after a session expiry,
to re-registration hooks (membership).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kazoo.client import KazooClient
from kazoo.exceptions import (
    ConnectionClosedError,
    ConnectionLoss,
    KazooException,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import KazooState
from kazoo.retry import KazooRetry
from kazoo.security import ACL, Id

from kolla_mesos import errors, zkpaths
from kolla_mesos.runner import signals
from kolla_mesos.runner.identity import Identity, read_credentials

LOG = logging.getLogger(__name__)
T = TypeVar("T")

STATUS_AREA = zkpaths.STATUS
LOCKS_AREA = zkpaths.LOCKS
MEMBERS_AREA = zkpaths.MEMBERS
_TRANSIENT = (ConnectionLoss, SessionExpiredError, ConnectionClosedError)
#: Longest pause between two reconnection attempts.  kazoo's default grows to an hour
#: (exponential backoff from 0.1 s): after an outage of a few seconds a runner then came back
#: 20-60 s after ZooKeeper did, its session expired meanwhile and its member node vanished.
RECONNECT_MAX_DELAY = 1.0


def reconnect_retry() -> KazooRetry:
    """kazoo's connection retry for a client that must come back as soon as ZooKeeper does:
    forever, with a delay that stops growing at :data:`RECONNECT_MAX_DELAY` (jittered)."""
    return KazooRetry(max_tries=-1, delay=0.1, backoff=2, max_jitter=0.4,
                      max_delay=RECONNECT_MAX_DELAY)


class Session:
    """One ZooKeeper session of a runner, bound to its deployment."""

    def __init__(self, identity: Identity, client: KazooClient) -> None:
        self.identity = identity
        self.client = client
        self.base = zkpaths.deployment(identity.zk_root, identity.deployment)
        self._acls: dict[str, Any] = {}
        self._cond = threading.Condition()
        self._lost = False
        self._wakers: set[threading.Event] = set()
        self._reconnect_hooks: list[Callable[[], None]] = []
        #: Longest wait for a lost connection to come back during one operation.
        self.op_timeout = 60.0
        client.add_listener(self._on_state)

    # --- connection -------------------------------------------------------------------------

    @classmethod
    def connect(cls, identity: Identity, timeout: float = 30.0,
                session_timeout: float = 15.0) -> Session:
        """Open an authenticated session (credentials from the identity's file)."""
        user, password = read_credentials(identity.credentials_file)
        client = KazooClient(hosts=identity.zk_hosts, timeout=session_timeout,
                             auth_data=[("digest", f"{user}:{password}")],
                             connection_retry=reconnect_retry())
        try:
            with signals.blocked_for_new_threads():  # kazoo starts its threads here
                client.start(timeout=timeout)
        except (KazooTimeoutError, KazooException) as exc:
            client.close()
            raise errors.ZookeeperError(
                f"Cannot open a ZooKeeper session to {identity.zk_hosts} as user {user!r} "
                f"within {timeout:.0f} s ({type(exc).__name__})."
            ) from exc
        session = cls(identity, client)
        client.default_acl = session.area_acl(LOCKS_AREA)
        return session

    def close(self) -> None:
        """End the session (ephemeral nodes and locks go with it)."""
        self.client.remove_listener(self._on_state)
        try:
            self.client.stop()
        finally:
            self.client.close()

    def _on_state(self, state: str) -> None:
        # Runs in kazoo's connection thread: never block here.
        with self._cond:
            if state == KazooState.LOST:
                self._lost = True
            reconnected = state == KazooState.CONNECTED and self._lost
            if reconnected:
                self._lost = False
            self._cond.notify_all()
            wakers = list(self._wakers)
        for event in wakers:
            event.set()
        if reconnected:
            for hook in list(self._reconnect_hooks):
                threading.Thread(target=hook, name="zk-reconnect", daemon=True).start()

    def add_reconnect_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` (in its own thread) each time a new session replaces an expired one."""
        self._reconnect_hooks.append(hook)

    def remove_reconnect_hook(self, hook: Callable[[], None]) -> None:
        """Undo :meth:`add_reconnect_hook`."""
        if hook in self._reconnect_hooks:
            self._reconnect_hooks.remove(hook)

    def add_waker(self, event: threading.Event) -> None:
        """Set ``event`` on every connection-state change (watches die with a session)."""
        with self._cond:
            self._wakers.add(event)

    def remove_waker(self, event: threading.Event) -> None:
        """Undo :meth:`add_waker`."""
        with self._cond:
            self._wakers.discard(event)

    def wait_connected(self, deadline: float | None) -> bool:
        """Block until the client is connected or ``deadline`` (monotonic) passes."""
        with self._cond:
            while self.client.state != KazooState.CONNECTED:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def call(self, func: Callable[..., T], *args: Any, deadline: float | None = None,
             **kwargs: Any) -> T:
        """Run one ZooKeeper operation, retrying across connection loss until ``deadline``.

        Without a deadline, :attr:`op_timeout` seconds from now: no operation waits for an
        unreachable ZooKeeper forever.
        """
        if deadline is None:
            deadline = time.monotonic() + self.op_timeout
        backoff = 0.01
        while True:
            try:
                return func(*args, **kwargs)
            except _TRANSIENT as exc:
                if time.monotonic() >= deadline:
                    raise errors.ZookeeperError(
                        f"Lost the ZooKeeper connection to {self.identity.zk_hosts} and it did "
                        "not come back before the deadline."
                    ) from exc
                if self.client.state == KazooState.CONNECTED:
                    # The listener has not seen the loss yet: back off briefly, then retry.
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 0.5)
                elif not self.wait_connected(deadline):
                    raise errors.ZookeeperError(
                        f"ZooKeeper at {self.identity.zk_hosts} stayed unreachable until the "
                        "deadline."
                    ) from exc
            except NoAuthError as exc:
                raise errors.ZookeeperError(
                    f"ZooKeeper refused the runner's credentials for {_path_arg(args)}: the "
                    "runner may read generations and write status, locks and members only."
                ) from exc

    # --- reads ------------------------------------------------------------------------------

    def get(self, path: str, watch: Callable[[Any], None] | None = None) -> bytes:
        """Data of ``path`` (NoNodeError propagates)."""
        data, _stat = self.call(self.client.get, path, watch=watch)
        return bytes(data or b"")

    def get_json(self, path: str, watch: Callable[[Any], None] | None = None) -> Any:
        """Parsed JSON data of ``path``; None when the node is missing or not JSON."""
        try:
            data = self.get(path, watch=watch)
        except NoNodeError:
            return None
        try:
            return json.loads(data.decode() or "null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            LOG.warning("Ignoring %s: it does not hold JSON", path)
            return None

    def path(self, *parts: str) -> str:
        """A path below this deployment's node."""
        return zkpaths.join(self.base, *parts)

    # --- writes -----------------------------------------------------------------------------

    def area_acl(self, area: str) -> Any:
        """ACL for nodes this runner creates under ``<deployment>/<area>``.

        The deployer publishes it as ``runner_acl`` in the deployment node's JSON (ZooKeeper
        redacts digests in ACLs read without ADMIN permission, so the runner cannot copy the
        area's ACL).  Without ``runner_acl`` the area's own ACL is used when it is readable
        unredacted (an open development tree, or a client with ADMIN); otherwise a clear
        error, rather than a node the deployer cannot read.
        """
        if area not in self._acls:
            self._acls[area] = self._load_acl(area)
        return self._acls[area]

    def _load_acl(self, area: str) -> Any:
        meta = self.get_json(self.base)
        if isinstance(meta, dict) and meta.get("runner_acl") is not None:
            return parse_acl(meta["runner_acl"], self.base)
        try:
            acl, _stat = self.call(self.client.get_acls, self.path(area))
        except NoNodeError:
            return None
        if any(entry.id.scheme == "digest" and entry.id.id.endswith(":x") for entry in acl):
            raise errors.ZookeeperError(
                f"The deployment node {self.base} has no 'runner_acl' and the ACL of "
                f"{self.path(area)} is redacted: the deployer must publish the ACL for nodes "
                "runners create (docs/service-definition.md, 'Runner').")
        return list(acl)

    def put(self, path: str, data: bytes, area: str) -> None:
        """Create or overwrite the persistent node ``path`` (parents take the area's ACL)."""
        try:
            self.call(self.client.set, path, data)
            return
        except NoNodeError:
            pass
        try:
            self.call(self.client.create, path, data, acl=self.area_acl(area), makepath=True)
        except NodeExistsError:
            self.call(self.client.set, path, data)

    def create_ephemeral(self, path: str, data: bytes, area: str) -> None:
        """Create the ephemeral node ``path``, replacing one left by an older session."""
        acl = self.area_acl(area)
        try:
            self.call(self.client.create, path, data, acl=acl, ephemeral=True, makepath=True)
            return
        except NodeExistsError:
            pass
        _data, stat = self.call(self.client.get, path)
        if stat.ephemeralOwner == self.client.client_id[0]:
            self.call(self.client.set, path, data)
            return
        LOG.info("Replacing %s left by an older session", path)
        try:
            self.call(self.client.delete, path)
        except NoNodeError:
            pass
        self.call(self.client.create, path, data, acl=acl, ephemeral=True, makepath=True)

    def delete(self, path: str) -> None:
        """Delete ``path`` if it exists."""
        try:
            self.call(self.client.delete, path)
        except NoNodeError:
            pass


def acl_to_json(acl: list[ACL]) -> list[dict[str, Any]]:
    """kazoo ACLs -> the ``runner_acl`` JSON the deployer publishes in the deployment node."""
    return [{"scheme": a.id.scheme, "id": a.id.id, "perms": int(a.perms)} for a in acl]


def parse_acl(raw: Any, source: str) -> list[ACL]:
    """``[{"scheme", "id", "perms"}, ...]`` -> kazoo ACLs."""
    if not isinstance(raw, list) or not raw:
        raise errors.ZookeeperError(f"'runner_acl' in {source} must be a non-empty list.")
    acl = []
    for entry in raw:
        if not (isinstance(entry, dict) and isinstance(entry.get("scheme"), str)
                and isinstance(entry.get("id"), str) and isinstance(entry.get("perms"), int)):
            raise errors.ZookeeperError(
                f"'runner_acl' in {source} has an entry that is not "
                "{\"scheme\": str, \"id\": str, \"perms\": int}.")
        acl.append(ACL(entry["perms"], Id(entry["scheme"], entry["id"])))
    return acl


def _path_arg(args: tuple[Any, ...]) -> str:
    return str(args[0]) if args else "a node"


def dumps(obj: Any) -> bytes:
    """Canonical JSON bytes for a node."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
