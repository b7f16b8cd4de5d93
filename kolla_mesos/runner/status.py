"""Runner status records: ``status/<service>/<command>/<inputs hash>/<hostname>``.

Record JSON (docs/service-definition.md, "Runner status records")::

    {"state": "waiting|running|done|failed", "exit_code": int|null, "host": str,
     "generation": int, "started": float, "finished": float|null, "message": str}
"""

from __future__ import annotations

import time
from typing import Any

from kazoo.exceptions import NoNodeError

from kolla_mesos import zkpaths
from kolla_mesos.definition import Command
from kolla_mesos.runner.session import STATUS_AREA, Session, dumps

WAITING = "waiting"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
STATES = (WAITING, RUNNING, DONE, FAILED)


def inputs_key(cmd: Command, generation: int) -> str:
    """The status key of a command: its inputs hash, else (no hash) the generation."""
    return key_for(cmd.inputs_hash, generation)


def key_for(inputs_hash: str, generation: int) -> str:
    """The status key of an inputs hash (empty: keyed by the generation)."""
    return inputs_hash or f"generation-{generation:010d}"


def make_record(state: str, host: str, generation: int, started: float,
                finished: float | None = None, exit_code: int | None = None,
                message: str = "") -> dict[str, Any]:
    """A status record (pure)."""
    return {"state": state, "exit_code": exit_code, "host": host, "generation": generation,
            "started": started, "finished": finished, "message": message}


def parse_record(raw: Any) -> dict[str, Any] | None:
    """A record read back from ZooKeeper, or None when it is not a record."""
    if isinstance(raw, dict) and raw.get("state") in STATES:
        return raw
    return None


class StatusBook:
    """Reads and writes the status records of one deployment."""

    def __init__(self, session: Session, host: str, generation: int) -> None:
        self.session = session
        self.host = host
        self.generation = generation
        self._started: dict[str, float] = {}

    def path(self, service: str, command: str, key: str, host: str | None = None) -> str:
        """Record path (the per-hash parent when ``host`` is None)."""
        ident = self.session.identity
        return zkpaths.status(ident.zk_root, ident.deployment, service, command, key, host)

    def write(self, service: str, command: str, key: str, state: str,
              exit_code: int | None = None, message: str = "") -> dict[str, Any]:
        """Write this host's record for ``service/command`` at ``key``."""
        path = self.path(service, command, key, self.host)
        now = time.time()
        if state in (WAITING, RUNNING) or path not in self._started:
            self._started[path] = now
        finished = now if state in (DONE, FAILED) else None
        record = make_record(state, self.host, self.generation, self._started[path], finished,
                             exit_code, message)
        self.session.put(path, dumps(record), STATUS_AREA)
        return record

    def remove(self, service: str, command: str, key: str) -> None:
        """Delete this host's record (a run_once command another host already ran)."""
        self.session.delete(self.path(service, command, key, self.host))

    def records(self, service: str, command: str, key: str) -> dict[str, dict[str, Any]]:
        """Every host's record at ``key``."""
        parent = self.path(service, command, key)
        try:
            hosts = self.session.call(self.session.client.get_children, parent)
        except NoNodeError:
            return {}
        out = {}
        for host in sorted(hosts):
            record = parse_record(self.session.get_json(zkpaths.join(parent, host)))
            if record is not None:
                out[host] = record
        return out

    def done_by(self, service: str, command: str, key: str) -> str | None:
        """Host whose record at ``key`` is ``done``, if any."""
        for host, record in self.records(service, command, key).items():
            if record["state"] == DONE:
                return host
        return None
