"""Pure Marathon data model: path ids, app normalisation and serialisation, the group tree.

Nothing here does I/O or reads a clock: timestamps are passed in.  Apps are plain dicts in
Marathon 1.10's canonical form (every default filled in, legacy fields converted); a stored
app dict is never mutated, a change makes a new dict.  :class:`Root` is an immutable-by-
convention snapshot of the whole group tree (apps by id, groups by id).
"""

from __future__ import annotations

import copy
import datetime
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

App = dict[str, Any]

ROOT_ID = "/"

#: Fields that are not part of an app's configuration (a change does not restart tasks).
NON_CONFIG_FIELDS = frozenset({"instances", "version", "versionInfo"})

#: Collections Marathon 1.10 omits from its JSON when they are empty (pragma.omitEmpty).
OMIT_EMPTY = ("args", "constraints", "dependencies", "env", "fetch", "healthChecks",
              "readinessChecks", "secrets", "acceptedResourceRoles")

#: The keys of a 1.10 ``container`` (RAML ``Container``); others (``appc``) are dropped.
CONTAINER_FIELDS = ("type", "docker", "volumes", "portMappings", "linuxInfo")

HEALTH_DEFAULTS: dict[str, Any] = {
    "gracePeriodSeconds": 300, "intervalSeconds": 60, "maxConsecutiveFailures": 3,
    "timeoutSeconds": 20, "delaySeconds": 15,
}

APP_DEFAULTS: dict[str, Any] = {
    "instances": 1, "cpus": 1.0, "mem": 128.0, "disk": 0.0, "gpus": 0, "executor": "",
    "backoffSeconds": 1, "backoffFactor": 1.15, "maxLaunchDelaySeconds": 300,
    "requirePorts": False, "killSelection": "YOUNGEST_FIRST", "role": "*",
}


def timestamp(epoch: float) -> str:
    """Marathon's timestamp format: ``yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`` in UTC."""
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def canonical_path(raw: str, base: str = ROOT_ID) -> str:
    """Resolve ``raw`` (absolute, or relative to group ``base``) to a canonical absolute id."""
    joined = raw if raw.startswith("/") else f"{base.rstrip('/')}/{raw}"
    parts: list[str] = []
    for segment in joined.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    return "/" + "/".join(parts)


def parent_of(path: str) -> str:
    """The id of the group containing ``path`` (``/`` for top-level ids and the root)."""
    head = path.rstrip("/").rsplit("/", 1)[0]
    return head or ROOT_ID


def ancestors(path: str) -> list[str]:
    """Every group id above ``path``, root first (``/a/b/c`` -> ``/``, ``/a``, ``/a/b``)."""
    result = [ROOT_ID]
    parts = [p for p in path.split("/") if p]
    for i in range(1, len(parts)):
        result.append("/" + "/".join(parts[:i]))
    return result


def is_within(path: str, group_id: str) -> bool:
    """True when ``path`` is ``group_id`` itself or lies below it."""
    if group_id == ROOT_ID:
        return True
    return path == group_id or path.startswith(group_id.rstrip("/") + "/")


def safe_task_prefix(app_id: str) -> str:
    """The app part of a task id: path segments joined by ``_`` (``/a/b`` -> ``a_b``)."""
    return "_".join(p for p in app_id.split("/") if p)


# --- normalisation ---------------------------------------------------------------------------


def _normalize_health_check(check: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(HEALTH_DEFAULTS)
    result.update(check)
    protocol = result.setdefault("protocol", "HTTP")
    if protocol in ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"):
        result.setdefault("path", "/")
        result.setdefault("ignoreHttp1xx", False)
    if protocol != "COMMAND":
        result.setdefault("ipProtocol", "IPv4")
        if "port" not in result:
            result.setdefault("portIndex", 0)
    return result


def _normalize_networks(app: App) -> None:
    docker = (app.get("container") or {}).get("docker") or {}
    legacy = docker.pop("network", None) if isinstance(docker, dict) else None
    if "networks" not in app or not app["networks"]:
        mode = {"BRIDGE": "container/bridge", "USER": "container"}.get(str(legacy), "host")
        app["networks"] = [{"mode": mode}]
    else:
        app["networks"] = [{"mode": "container", **n} for n in app["networks"]]
    if isinstance(docker, dict) and "portMappings" in docker:
        app["container"].setdefault("portMappings", docker.pop("portMappings"))


def _normalize_ports(app: App) -> None:
    host_mode = all(n.get("mode") == "host" for n in app["networks"])
    legacy_ports = app.pop("ports", None)
    if not host_mode:
        app.pop("portDefinitions", None)
        container = app.setdefault("container", {"type": "MESOS", "volumes": []})
        mappings = container.get("portMappings")
        if mappings is None:
            mappings = [{"containerPort": 0, "name": "default"}]
        container["portMappings"] = [
            {"containerPort": 0, "hostPort": 0, "servicePort": 0, "protocol": "tcp",
             **{k: v for k, v in m.items() if k != "networkNames" or v},
             "labels": dict(m.get("labels") or {})}
            for m in mappings]
        return
    if "portDefinitions" not in app:
        if legacy_ports is not None:
            app["portDefinitions"] = [{"port": p, "protocol": "tcp"} for p in legacy_ports]
        else:
            app["portDefinitions"] = [{"port": 0, "name": "default", "protocol": "tcp"}]
    app["portDefinitions"] = [{"port": 0, "protocol": "tcp", **p}
                              for p in app["portDefinitions"]]


def _normalize_container(app: App) -> None:
    container = app.get("container")
    if not container:
        app.pop("container", None)
        return
    for key in [k for k in container if k not in CONTAINER_FIELDS]:
        del container[key]
    container.setdefault("type", "DOCKER")
    container["volumes"] = list(container.get("volumes") or [])
    docker = container.get("docker")
    if isinstance(docker, dict):
        docker.setdefault("forcePullImage", False)
        docker.setdefault("privileged", False)
        docker["parameters"] = list(docker.get("parameters") or [])


def normalize_app(raw: Mapping[str, Any], app_id: str) -> App:
    """A validated request body as a canonical 1.10 app (defaults filled, legacy converted).

    ``app_id`` is the already canonical id; relative ``dependencies`` resolve against its
    parent group.  ``version``/``versionInfo`` are left out (the store sets them).
    """
    app: App = copy.deepcopy(dict(raw))
    app["id"] = app_id
    for key in ("version", "versionInfo", "tasks", "deployments", "tasksRunning", "tasksStaged",
                "tasksHealthy", "tasksUnhealthy", "lastTaskFailure", "readinessCheckResults",
                "tasksStats", "taskStats"):
        app.pop(key, None)
    for key, value in APP_DEFAULTS.items():
        app.setdefault(key, value)
    for key in ("cpus", "mem", "disk"):
        app[key] = float(app[key])
    app["labels"] = dict(app.get("labels") or {})
    app["env"] = dict(app.get("env") or {})
    upgrade = dict(app.get("upgradeStrategy") or {})
    upgrade.setdefault("minimumHealthCapacity", 1.0)
    upgrade.setdefault("maximumOverCapacity", 1.0)
    app["upgradeStrategy"] = {k: float(v) for k, v in upgrade.items()}
    unreachable = app.get("unreachableStrategy", {})
    if isinstance(unreachable, dict):
        app["unreachableStrategy"] = {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0,
                                      **unreachable}
    legacy_uris = app.pop("uris", None)
    if legacy_uris and not app.get("fetch"):
        app["fetch"] = [{"uri": u} for u in legacy_uris]
    app["fetch"] = [{"extract": True, "executable": False, "cache": False, **f}
                    for f in app.get("fetch") or []]
    app["healthChecks"] = [_normalize_health_check(h) for h in app.get("healthChecks") or []]
    parent = parent_of(app_id)
    app["dependencies"] = sorted({canonical_path(d, parent)
                                  for d in app.get("dependencies") or []})
    app["constraints"] = [list(c) for c in app.get("constraints") or []]
    _normalize_container(app)
    _normalize_networks(app)
    _normalize_ports(app)
    return app


def app_json(app: App) -> App:
    """The app as Marathon 1.10 serialises it (empty omit-empty collections left out)."""
    result = {k: v for k, v in app.items() if not k.startswith("_")}
    for key in OMIT_EMPTY:
        if key in result and not result[key]:
            del result[key]
    return result


def config_of(app: App) -> App:
    """The part of an app whose change restarts its tasks (everything but scale/version)."""
    return {k: v for k, v in app.items() if k not in NON_CONFIG_FIELDS and not k.startswith("_")}


def is_upgrade(old: App, new: App) -> bool:
    """True when ``new`` differs from ``old`` in anything but ``instances`` and versions."""
    return config_of(old) != config_of(new)


def service_ports(app: App) -> list[int]:
    """The service ports of an app: its port definitions' or its port mappings'."""
    if "portDefinitions" in app:
        return [int(p.get("port", 0)) for p in app["portDefinitions"]]
    return [int(m.get("servicePort", 0))
            for m in (app.get("container") or {}).get("portMappings") or []]


def scaled_instances(instances: int, factor: float) -> int:
    """``scaleBy`` semantics: ``ceil(instances * factor)``."""
    return int(math.ceil(instances * factor))


# --- the group tree --------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupMeta:
    """What a group has besides its members: dependencies, version, enforceRole."""

    dependencies: tuple[str, ...] = ()
    version: str = ""
    enforce_role: bool | None = None


@dataclass
class Root:
    """A snapshot of the whole tree: every app by id and every group by id (root included)."""

    apps: dict[str, App] = field(default_factory=dict)
    groups: dict[str, GroupMeta] = field(default_factory=lambda: {ROOT_ID: GroupMeta()})
    version: str = ""

    def copy(self) -> Root:
        """A shallow copy (apps and group metas are immutable by convention)."""
        return Root(dict(self.apps), dict(self.groups), self.version)

    def put_app(self, app: App) -> None:
        """Insert or replace ``app``, creating its missing parent groups."""
        for gid in ancestors(app["id"]):
            self.groups.setdefault(gid, GroupMeta(version=self.version))
        self.apps[app["id"]] = app

    def put_group(self, group_id: str, meta: GroupMeta) -> None:
        """Insert or replace group ``group_id`` (and its missing parents)."""
        for gid in ancestors(group_id):
            self.groups.setdefault(gid, GroupMeta(version=self.version))
        self.groups[group_id] = meta

    def remove_within(self, group_id: str) -> None:
        """Remove a group (or app) and everything below it."""
        for app_id in [a for a in self.apps if is_within(a, group_id)]:
            del self.apps[app_id]
        for gid in [g for g in self.groups if is_within(g, group_id) and g != ROOT_ID]:
            del self.groups[gid]

    def apps_within(self, group_id: str) -> list[App]:
        """Every app below ``group_id``, sorted by id."""
        return [self.apps[a] for a in sorted(self.apps) if is_within(a, group_id)
                and a != group_id]

    def children(self, group_id: str) -> tuple[list[str], list[str]]:
        """Direct child app ids and group ids of ``group_id``, sorted."""
        apps = sorted(a for a in self.apps if parent_of(a) == group_id)
        groups = sorted(g for g in self.groups if g != ROOT_ID and parent_of(g) == group_id)
        return apps, groups


def dependency_edges(root: Root) -> dict[str, set[str]]:
    """App id -> the app ids it depends on (app, group and group-level dependencies)."""
    def expand(target: str) -> set[str]:
        if target in root.apps:
            return {target}
        if target in root.groups:
            return {a["id"] for a in root.apps_within(target)}
        return set()

    edges: dict[str, set[str]] = {a: set() for a in root.apps}
    for app_id, app in root.apps.items():
        for dep in app.get("dependencies") or ():
            edges[app_id] |= expand(dep)
    for group_id, meta in root.groups.items():
        members = [a["id"] for a in root.apps_within(group_id)]
        for dep in meta.dependencies:
            targets = expand(dep)
            for member in members:
                edges[member] |= targets - {member}
    return edges


def find_cycle(edges: Mapping[str, Iterable[str]]) -> bool:
    """True when the dependency graph has a cycle."""
    state: dict[str, int] = {}

    def visit(node: str) -> bool:
        state[node] = 1
        for nxt in edges.get(node, ()):
            mark = state.get(nxt, 0)
            if mark == 1 or (mark == 0 and visit(nxt)):
                return True
        state[node] = 2
        return False

    return any(state.get(n, 0) == 0 and visit(n) for n in list(edges))


def dependency_depths(edges: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """App id -> length of its longest dependency path (0 = depends on nothing)."""
    memo: dict[str, int] = {}

    def depth(node: str, seen: frozenset[str]) -> int:
        if node in memo:
            return memo[node]
        deps = [d for d in edges.get(node, ()) if d not in seen]
        value = 1 + max((depth(d, seen | {node}) for d in deps), default=-1)
        memo[node] = value
        return value

    return {n: depth(n, frozenset()) for n in edges}
