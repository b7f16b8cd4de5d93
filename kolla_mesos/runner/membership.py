"""Readiness of the daemon and its ephemeral member node ``members/<service>/<hostname>``.

Readiness (``ready: {"tcp": PORT}`` or ``{"command": [argv]}``, bounded by ``timeout``) has no
event to wait on, so it is probed with a short, growing delay until the deadline or until the
daemon exits.  The member node is ephemeral and re-created by a reconnect hook after a session
expiry (the server deletes ephemeral nodes with the session).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kolla_mesos import errors, zkpaths
from kolla_mesos.runner.session import MEMBERS_AREA, Session, dumps

LOG = logging.getLogger(__name__)
DEFAULT_READY_TIMEOUT = 60.0


def probe_tcp(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def make_probe(ready: Mapping[str, Any], run_command: Callable[[list[str]], bool],
               default_host: str = "") -> Callable[[], bool]:
    """A readiness probe from the definition's ``ready`` mapping.

    A TCP probe connects to ``ready.host``, else to the task's own address (``default_host``:
    KOLLA_ADDRESS, LIBPROCESS_IP or HOST), else to 127.0.0.1.
    """
    if "tcp" in ready:
        host = str(ready.get("host") or default_host or "127.0.0.1")
        port = int(ready["tcp"])
        return lambda: probe_tcp(host, port)
    if "command" in ready:
        argv = [str(a) for a in ready["command"]]
        return lambda: run_command(argv)
    raise errors.ConfigError(
        "daemon.ready must be {\"tcp\": PORT} or {\"command\": [argv]}."
    )


def wait_ready(ready: Mapping[str, Any] | None, run_command: Callable[[list[str]], bool],
               alive: Callable[[], bool], what: str, default_host: str = "") -> None:
    """Return once the daemon is ready; raise when it exits or the deadline passes."""
    if not ready:
        return
    probe = make_probe(ready, run_command, default_host)
    timeout = float(ready.get("timeout", DEFAULT_READY_TIMEOUT))
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        if not alive():
            raise errors.DeployFailed(f"{what} exited before it became ready.")
        if probe():
            return
        if time.monotonic() >= deadline:
            raise errors.DeadlineExceeded(
                f"{what} did not become ready ({dict(ready)}) within {timeout:g} s.")
        # No event exists for "the daemon listens": probe again after a short, growing delay.
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


class Membership:
    """This host's ephemeral member node, kept while the daemon runs."""

    def __init__(self, session: Session, host: str, address: str) -> None:
        self.session = session
        ident = session.identity
        self.path = zkpaths.members(ident.zk_root, ident.deployment, ident.service, host)
        self.host = host
        self.address = address
        self.registrations = 0
        self._lock = threading.Lock()
        self._facts: dict[str, Any] | None = None

    def facts(self, generation: int, pid: int) -> dict[str, Any]:
        """The member node's JSON."""
        return {"host": self.host, "address": self.address, "generation": generation,
                "pid": pid}

    def register(self, generation: int, pid: int) -> None:
        """Create the member node and keep it across session expiries."""
        with self._lock:
            self._facts = self.facts(generation, pid)
            self._create()
        self.session.add_reconnect_hook(self._recreate)

    def update(self, generation: int | None = None, pid: int | None = None) -> None:
        """Refresh the facts (new generation applied, daemon restarted)."""
        with self._lock:
            if self._facts is None:
                return
            if generation is not None:
                self._facts["generation"] = generation
            if pid is not None:
                self._facts["pid"] = pid
            self._create()

    def unregister(self) -> None:
        """Delete the member node (the daemon stopped)."""
        self.session.remove_reconnect_hook(self._recreate)
        with self._lock:
            self._facts = None
            try:
                self.session.delete(self.path)
            except errors.ZookeeperError:
                LOG.warning("Could not delete %s; it goes with the session", self.path)

    def _create(self) -> None:
        assert self._facts is not None
        self.session.create_ephemeral(self.path, dumps(self._facts), MEMBERS_AREA)
        self.registrations += 1
        LOG.info("Registered %s (pid %s, generation %s)", self.path, self._facts["pid"],
                 self._facts["generation"])

    def _recreate(self) -> None:
        with self._lock:
            if self._facts is None:
                return
            try:
                self._create()
            except errors.KollaMesosError as exc:
                LOG.error("Could not re-register %s after a session expiry: %s", self.path, exc)
