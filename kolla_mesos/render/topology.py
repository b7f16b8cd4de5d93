"""Load and validate topology.yml: which agents host which roles, with their addresses.

The topology replaces Ansible's inventory.  Its shape::

    networks: [api, storage, tunnel]     # optional; default: the networks the hosts use
    defaults:                             # optional facts for every host
      processor_vcpus: 4
      memtotal_mb: 8192
    hosts:
      ctl1:
        addresses: {api: 10.0.0.11, storage: 10.1.0.11, tunnel: 10.2.0.11}
        interfaces: {api: eth0}           # optional; default: the network's name
        facts: {processor_vcpus: 8}       # optional, overrides `defaults`
        vars: {mariadb_shard_id: 0}       # optional inventory host variables
    groups:
      control: [ctl1, ctl2, ctl3]         # a list of hosts ...
      mariadb: {children: [control]}      # ... or hosts and/or child groups
      compute: {hosts: [cmp1]}

A network ``<net>`` feeds kolla-ansible's ``<net>_interface`` variable: the interface a
host has on it and its address (see ``host_variables``).  The group ``all`` always exists
and holds every host.  MariaDB shard groups (``mariadb_shard_<id>``), which kolla-ansible
builds with ``group_by`` at run time, are derived from the ``mariadb`` group and each host's
``mariadb_shard_id`` (default 0).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import pathlib
from collections.abc import Mapping
from typing import Any

import yaml

from kolla_mesos.errors import TopologyError, YamlError, yaml_problem

LOG = logging.getLogger(__name__)

#: facts every host gets unless the topology says otherwise
DEFAULT_FACTS: dict[str, Any] = {
    "os_family": "Debian",
    "architecture": "x86_64",
    "machine": "x86_64",
    "distribution": "Debian",
    "distribution_major_version": "12",
    "distribution_release": "bookworm",
    "processor_vcpus": 4,
    "memtotal_mb": 8192,
}


@dataclasses.dataclass(frozen=True)
class Host:
    """One agent: its name, per-network addresses and interfaces, facts and variables."""

    name: str
    addresses: Mapping[str, str]
    interfaces: Mapping[str, str]
    facts: Mapping[str, Any]
    vars: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Topology:
    """A validated topology: hosts by name and groups as sorted-by-declaration host lists."""

    hosts: Mapping[str, Host]
    groups: Mapping[str, list[str]]
    networks: tuple[str, ...]
    source: str = "topology.yml"

    def group_names(self, host: str) -> list[str]:
        """Sorted names of the groups HOST belongs to, without ``all`` (like Ansible)."""
        return sorted(g for g, members in self.groups.items() if g != "all" and host in members)

    def hosts_of(self, group: str) -> list[str]:
        """Hosts of GROUP, or an empty list for a group the topology does not have."""
        return list(self.groups.get(group, []))


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that records duplicate mapping keys instead of silently keeping one."""

    duplicates: list[tuple[str, int]]


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            loader.duplicates.append((str(key), key_node.start_mark.line + 1))
        seen.add(key)
    return dict(loader.construct_pairs(node))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def inventory_group_tree(path: str | pathlib.Path) -> dict[str, list[str]]:
    """The ``[<group>:children]`` sections of an Ansible INI inventory (kolla-ansible's
    multinode file): group -> child groups.  Host sections (sample hosts) are ignored."""
    tree: dict[str, list[str]] = {}
    current: list[str] | None = None
    try:
        lines = pathlib.Path(path).read_text().splitlines()
    except OSError as exc:
        raise YamlError(f"The inventory {path} cannot be read: {exc.strerror}.") from exc
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1]
            current = tree.setdefault(name[:-len(":children")], []) \
                if name.endswith(":children") else None
        elif current is not None:
            current.append(line.split()[0])
    return tree


def kolla_group_tree(base_dir: str | pathlib.Path) -> dict[str, list[str]]:
    """kolla-ansible's service group tree from the synced inventory (empty if not synced)."""
    path = pathlib.Path(base_dir) / "common_templates" / "inventory" / "multinode"
    return inventory_group_tree(path) if path.is_file() else {}


def load_topology(path: str | pathlib.Path,
                  base_dir: str | pathlib.Path | None = None) -> Topology:
    """Read, validate and return the topology in PATH; TopologyError lists every problem.

    With BASE_DIR (holding common_templates/), every service group of kolla-ansible's
    multinode inventory that the topology does not define is inherited with its children
    (``nova-api`` -> ``nova`` -> ``control``), so a topology need only name the base groups
    (control, network, compute, storage, monitoring) and its exceptions.
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise YamlError(f"The topology file {path} cannot be read: {exc.strerror}.") from exc
    loader = _UniqueKeyLoader(text)
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise YamlError(f"The topology file {path} is not valid YAML: "
                        f"{yaml_problem(exc)}.") from exc
    finally:
        loader.dispose()
    problems = [f"{path}: the key '{key}' appears more than once (line {line})."
                for key, line in loader.duplicates]
    inherited = kolla_group_tree(base_dir) if base_dir is not None else None
    topo, more = parse_topology(data, str(path), inherited)
    problems.extend(more)
    if problems:
        raise TopologyError(problems)
    assert topo is not None
    return topo


def _mapping(value: Any, where: str, problems: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{where} must be a mapping.")
        return {}
    return value


def _parse_host(name: str, body: Any, networks: list[str] | None, defaults: dict[str, Any],
                src: str, problems: list[str]) -> Host:
    where = f"{src}: host '{name}'"
    body = _mapping(body, where, problems)
    unknown = sorted(set(body) - {"addresses", "interfaces", "facts", "vars"})
    if unknown:
        problems.append(f"{where} has unknown key(s) {', '.join(unknown)} (expected "
                        "addresses, interfaces, facts, vars).")
    addresses = {str(k): str(v) for k, v in
                 _mapping(body.get("addresses"), f"{where} addresses", problems).items()}
    for net, addr in sorted(addresses.items()):
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            problems.append(f"{where} has '{addr}' as its {net} address, which is not an "
                            "IPv4 or IPv6 address.")
    for net in networks or ["api"]:
        if net not in addresses:
            problems.append(f"{where} has no address on the {net} network "
                            f"(set hosts.{name}.addresses.{net}).")
    interfaces = {str(k): str(v) for k, v in
                  _mapping(body.get("interfaces"), f"{where} interfaces", problems).items()}
    for net in sorted(set(interfaces) - set(addresses)):
        problems.append(f"{where} names an interface for the {net} network but has no "
                        f"address on it (set hosts.{name}.addresses.{net}).")
    facts = dict(DEFAULT_FACTS)
    facts.update(defaults)
    facts.setdefault("hostname", name.split(".")[0])
    facts.update(_mapping(body.get("facts"), f"{where} facts", problems))
    host_vars = _mapping(body.get("vars"), f"{where} vars", problems)
    return Host(name=name, addresses=addresses,
                interfaces={net: interfaces.get(net, net) for net in addresses},
                facts=facts, vars=host_vars)


def _group_members(name: str, body: Any, src: str,
                   problems: list[str]) -> tuple[list[str], list[str]]:
    where = f"{src}: group '{name}'"
    if body is None:
        return [], []
    if isinstance(body, list):
        return [str(h) for h in body], []
    if isinstance(body, dict):
        unknown = sorted(set(body) - {"hosts", "children"})
        if unknown:
            problems.append(f"{where} has unknown key(s) {', '.join(unknown)} (expected "
                            "hosts, children).")
        hosts, children = body.get("hosts") or [], body.get("children") or []
        if isinstance(hosts, list) and isinstance(children, list):
            return [str(h) for h in hosts], [str(c) for c in children]
    problems.append(f"{where} must be a list of hosts or a mapping with hosts and children.")
    return [], []


def _expand(name: str, direct: dict[str, list[str]], children: dict[str, list[str]],
            stack: tuple[str, ...], src: str, problems: list[str]) -> list[str]:
    if name in stack:
        problems.append(f"{src}: the groups {' -> '.join(stack + (name,))} form a cycle.")
        return []
    out = list(direct.get(name, []))
    for child in children.get(name, []):
        for h in _expand(child, direct, children, stack + (name,), src, problems):
            if h not in out:
                out.append(h)
    return out


def parse_topology(data: Any, src: str = "topology.yml",
                   inherited: Mapping[str, list[str]] | None = None,
                   ) -> tuple[Topology | None, list[str]]:
    """Validate DATA (parsed YAML); return (topology or None, one sentence per problem).

    INHERITED (group -> child groups) adds the groups DATA does not define; their children
    that exist nowhere are empty rather than errors (kolla's tree names groups, such as
    ``deployment``, a topology has no use for).
    """
    problems: list[str] = []
    if not isinstance(data, dict):
        return None, [f"{src} must be a mapping with 'hosts' and 'groups'."]
    unknown = sorted(set(data) - {"hosts", "groups", "networks", "defaults"})
    if unknown:
        problems.append(f"{src} has unknown top-level key(s) {', '.join(unknown)} (expected "
                        "hosts, groups, networks, defaults).")
    networks = data.get("networks")
    if networks is not None and not (isinstance(networks, list) and networks):
        problems.append(f"{src}: networks must be a non-empty list of network names.")
        networks = None
    defaults = _mapping(data.get("defaults"), f"{src}: defaults", problems)
    raw_hosts = _mapping(data.get("hosts"), f"{src}: hosts", problems)
    if not raw_hosts:
        problems.append(f"{src} defines no hosts (set 'hosts').")
    hosts = {str(n): _parse_host(str(n), b, networks, defaults, src, problems)
             for n, b in raw_hosts.items()}
    direct: dict[str, list[str]] = {}
    children: dict[str, list[str]] = {}
    for gname, body in _mapping(data.get("groups"), f"{src}: groups", problems).items():
        gname = str(gname)
        if gname == "all":
            problems.append(f"{src}: the group 'all' is implicit and must not be defined.")
            continue
        members, kids = _group_members(gname, body, src, problems)
        seen: set[str] = set()
        for h in members:
            if h in seen:
                problems.append(f"{src}: host '{h}' is listed twice in group '{gname}'.")
            elif h not in hosts:
                problems.append(f"{src}: group '{gname}' lists the unknown host '{h}'.")
            seen.add(h)
        direct[gname] = [h for h in dict.fromkeys(members) if h in hosts]
        children[gname] = kids
    for gname, kids in (inherited or {}).items():
        if gname not in direct and gname != "all":
            direct[gname] = []
            children[gname] = [k for k in kids if k != "all"]
    for gname, kids in children.items():
        for kid in kids:
            if kid not in direct and gname not in (inherited or {}):
                problems.append(f"{src}: group '{gname}' has the unknown child group '{kid}'.")
    groups: dict[str, list[str]] = {"all": list(hosts)}
    for gname in direct:
        groups[gname] = _expand(gname, direct, {g: [k for k in ks if k in direct]
                                               for g, ks in children.items()}, (), src, problems)
    _add_shard_groups(groups, hosts)
    nets = tuple(networks) if networks else tuple(sorted({n for h in hosts.values()
                                                          for n in h.addresses}))
    if problems:
        return None, list(dict.fromkeys(problems))
    return Topology(hosts=hosts, groups=groups, networks=nets, source=src), []


def _add_shard_groups(groups: dict[str, list[str]], hosts: Mapping[str, Host]) -> None:
    """Add kolla-ansible's run-time ``mariadb_shard_<id>`` groups from the mariadb group."""
    for h in groups.get("mariadb", []):
        shard = hosts[h].vars.get("mariadb_shard_id", 0)
        groups.setdefault(f"mariadb_shard_{shard}", []).append(h)


def host_variables(topology: Topology, host: str) -> dict[str, Any]:
    """Inventory variables of HOST: its topology vars plus ``<net>_interface`` per network.

    A network without an entry (``network``, ``migration``, ...) falls back to kolla's own
    defaults, which chain to ``network_interface``; we point ``network_interface`` at the
    api network's interface unless the topology has a ``network`` network.
    """
    h = topology.hosts[host]
    out: dict[str, Any] = {}
    for net, iface in h.interfaces.items():
        out[f"{net}_interface"] = iface
        if ":" in h.addresses[net]:
            out[f"{net}_address_family"] = "ipv6"
    if "network" not in h.interfaces and "api" in h.interfaces:
        out["network_interface"] = h.interfaces["api"]
    out.update(h.vars)
    return out


def host_facts(topology: Topology, host: str) -> dict[str, Any]:
    """Synthesized ``ansible_facts`` of HOST: basics plus one entry per interface."""
    h = topology.hosts[host]
    facts: dict[str, Any] = dict(h.facts)
    facts.setdefault("nodename", facts["hostname"])
    facts.setdefault("fqdn", host)
    facts["interfaces"] = sorted(set(h.interfaces.values()))
    for net, iface in sorted(h.interfaces.items()):
        addr = h.addresses[net]
        entry = facts.setdefault(iface.replace("-", "_"), {"device": iface, "active": True})
        if ":" in addr:
            entry.setdefault("ipv6", []).append({"address": addr, "scope": "global"})
        else:
            entry.setdefault("ipv4", {"address": addr})
    return facts
