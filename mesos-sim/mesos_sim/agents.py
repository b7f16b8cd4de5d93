"""Fake Mesos agents of the simulator, loaded from a YAML or JSON file.

File format (YAML or JSON; a top-level list is accepted too)::

    agents:
      - hostname: control01        # default: agent<n> (n = 1-based position)
        address: 127.0.1.1         # default: 127.0.1.<n> (n = 1-based position)
        attributes: {rack: r1}     # Mesos text attributes, compared as strings
        cpus: 16                   # defaults: cpus 64, mem 65536, disk 1048576
        mem: 32768
        ports: "[31000-32000]"     # Mesos range syntax, or [[31000, 32000]]
        port: 0                    # this agent's HTTP port (/state, /files); 0 = ephemeral

Without a file the cluster has one agent ``agent1`` at ``127.0.1.1``.  The defaults are
generous on purpose: this is a test double, not a capacity model.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mesos_sim.errors import ConfigError

DEFAULT_CPUS = 64.0
DEFAULT_MEM = 65536.0
DEFAULT_DISK = 1048576.0
DEFAULT_PORTS = ((31000, 32000),)
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


@dataclass(frozen=True)
class Agent:
    """One fake agent: identity, loopback address, attributes and total resources."""

    id: str
    hostname: str
    address: str
    attributes: dict[str, str] = field(default_factory=dict)
    cpus: float = DEFAULT_CPUS
    mem: float = DEFAULT_MEM
    disk: float = DEFAULT_DISK
    ports: tuple[tuple[int, int], ...] = DEFAULT_PORTS
    http_port: int = 0

    def port_ranges_text(self) -> str:
        """The ports resource in Mesos syntax, e.g. ``[31000-32000]``."""
        return "[" + ", ".join(f"{a}-{b}" for a, b in self.ports) + "]"

    def has_port(self, port: int) -> bool:
        """True when ``port`` lies in this agent's ports resource."""
        return any(a <= port <= b for a, b in self.ports)


def parse_port_ranges(value: Any, where: str) -> tuple[tuple[int, int], ...]:
    """Parse ``"[31000-32000, 33000-33010]"`` or ``[[31000, 32000]]`` into ranges."""
    ranges: list[tuple[int, int]] = []
    if isinstance(value, str):
        body = value.strip()
        if body.startswith("[") and body.endswith("]"):
            body = body[1:-1]
        for part in filter(None, (p.strip() for p in body.split(","))):
            match = _RANGE.match(part)
            if match is None:
                raise ConfigError(f"{where}: ports range '{part}' is not 'BEGIN-END'.")
            ranges.append((int(match.group(1)), int(match.group(2))))
    elif isinstance(value, list):
        for item in value:
            if (not isinstance(item, list) or len(item) != 2
                    or not all(isinstance(n, int) for n in item)):
                raise ConfigError(f"{where}: ports must be '[A-B, ...]' or a list of [A, B] pairs.")
            ranges.append((item[0], item[1]))
    else:
        raise ConfigError(f"{where}: ports must be '[A-B, ...]' or a list of [A, B] pairs.")
    for begin, end in ranges:
        if not 1 <= begin <= end <= 65535:
            raise ConfigError(f"{where}: ports range {begin}-{end} is not within 1-65535.")
    return tuple(ranges)


def _number(entry: dict[str, Any], key: str, default: float, where: str) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}: '{key}' must be a non-negative number, got {value!r}.")
    return float(value)


def build_agents(entries: list[Any], master_id: str, source: str = "agents") -> list[Agent]:
    """Validate agent entries (dicts as in the module doc) and build :class:`Agent` objects."""
    if not entries:
        raise ConfigError(f"{source}: the agent list is empty; give at least one agent.")
    agents: list[Agent] = []
    seen_hosts: set[str] = set()
    seen_addresses: set[str] = set()
    known = {"hostname", "address", "attributes", "cpus", "mem", "disk", "ports", "port"}
    for index, entry in enumerate(entries):
        where = f"{source}: agent #{index + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a mapping with hostname, address, ...")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ConfigError(f"{where} has unknown key(s) {', '.join(unknown)}.")
        address = str(entry.get("address", f"127.0.1.{index + 1}"))
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError as exc:
            raise ConfigError(f"{where}: 'address' {address!r} is not an IPv4 address.") from exc
        if not ip.is_loopback:
            raise ConfigError(f"{where}: 'address' {address} must be a loopback address "
                              "(127.x.y.z) so that tasks can bind it.")
        hostname = str(entry.get("hostname", f"agent{index + 1}"))
        if not _HOSTNAME.match(hostname):
            raise ConfigError(f"{where}: 'hostname' {hostname!r} is not a valid host name.")
        if hostname in seen_hosts or address in seen_addresses:
            raise ConfigError(f"{where}: hostname {hostname} or address {address} is used twice.")
        seen_hosts.add(hostname)
        seen_addresses.add(address)
        attributes = entry.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise ConfigError(f"{where}: 'attributes' must be a mapping of name to value.")
        port = entry.get("port", 0)
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"{where}: 'port' must be a port number or 0, got {port!r}.")
        agents.append(Agent(
            id=f"{master_id}-S{index}",
            hostname=hostname,
            address=address,
            attributes={str(k): str(v) for k, v in attributes.items()},
            cpus=_number(entry, "cpus", DEFAULT_CPUS, where),
            mem=_number(entry, "mem", DEFAULT_MEM, where),
            disk=_number(entry, "disk", DEFAULT_DISK, where),
            ports=parse_port_ranges(entry.get("ports", "[31000-32000]"), where),
            http_port=port,
        ))
    return agents


def load_agents(path: str | Path | None, master_id: str) -> list[Agent]:
    """Agents from a YAML/JSON file (see module doc), or the single default agent."""
    if path is None:
        return build_agents([{}], master_id, "default agents")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the agents file: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("agents")
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a list of agents under the key 'agents'.")
    return build_agents(data, master_id, str(path))
