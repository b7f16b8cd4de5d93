"""Variables: layered loading and lazy, recursive, per-host resolution (like Ansible).

Precedence, lowest first (a higher layer replaces a whole value, as Ansible's default
``hash_behaviour=replace`` does):

1. synced role defaults (``common_templates/roles/<role>/defaults/main.yml``);
2. synced group_vars (``common_templates/group_vars/all/*.yml``, sorted);
3. ``config/all.yml``, then ``config/<role>/defaults/main.yml``;
4. the host's inventory variables from topology.yml (``<net>_interface``, ``vars``);
5. ``globals.yml``, then ``passwords.yml`` (from the operator's config dir);
6. command-line ``-e key=value``;
7. magic variables: ``inventory_hostname``, ``groups``, ``group_names``, ``hostvars``,
   ``ansible_facts``, ``play_hosts``, ``omit``, ``role_name``.

A value may be a Jinja expression over other values; it is rendered when first used, for
the host being rendered, and cached.  Values that do not depend on the host (no magic
host variable or inventory variable is reached while rendering them) are cached once per
role and shared by every host.  A reference cycle or an undefined name makes the value an
error marker that raises where the value is used, naming the variable, the file that
defines it and the line.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import yaml

from kolla_mesos.errors import VariableError, YamlError, yaml_problem

if TYPE_CHECKING:
    from kolla_mesos.render.templates import Renderer

LOG = logging.getLogger(__name__)

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a variable's value comes from: file (or ``-e``) and line of its key."""

    source: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.source} line {self.line}" if self.line else self.source


@dataclasses.dataclass
class Layer:
    """One variables file: values and the origin of each key."""

    values: dict[str, Any]
    origins: dict[str, Origin]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str) -> Layer:
        """A layer of VALUES whose keys all come from SOURCE."""
        origin = Origin(source)
        return cls(dict(values), {k: origin for k in values})


def load_yaml_layer(path: pathlib.Path, label: str | None = None,
                    required: bool = False) -> Layer:
    """Load a YAML mapping file as a layer, recording the line of every top-level key."""
    label = label or str(path)
    if not path.is_file():
        if required:
            raise YamlError(f"The variables file {label} does not exist.")
        return Layer({}, {})
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise YamlError(f"The variables file {label} cannot be read: {exc.strerror}.") from exc
    except UnicodeDecodeError as exc:
        # never quote the bytes: the file may be passwords.yml
        line = raw.count(b"\n", 0, exc.start) + 1
        raise YamlError(f"The variables file {label} is not UTF-8 text (invalid byte at line "
                        f"{line}); save it as UTF-8.") from exc
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise YamlError(f"The variables file {label} cannot be parsed: "
                        f"{yaml_problem(exc)}.") from exc
    if data is None:
        return Layer({}, {})
    if not isinstance(data, dict):
        raise YamlError(f"The variables file {label} must hold a mapping of names to values.")
    origins = {str(k.value): Origin(label, k.start_mark.line + 1) for k, _ in node.value}
    return Layer({str(k): v for k, v in data.items()}, origins)


def parse_extra(pairs: list[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """``-e key=value`` pairs (value parsed as YAML, like Ansible) as a dict."""
    if pairs is None:
        return {}
    if isinstance(pairs, Mapping):
        return dict(pairs)
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise VariableError(f"The extra variable '{pair}' must look like key=value.")
        try:
            out[key.strip()] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def _merge(layers: list[Layer]) -> tuple[dict[str, Any], dict[str, Origin]]:
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for layer in layers:
        values.update(layer.values)
        origins.update(layer.origins)
    return values, origins


@dataclasses.dataclass
class Scope:
    """The variables of one role, without host: low layers (1-3) and high layers (5-6)."""

    role: str | None
    low: dict[str, Any]
    high: dict[str, Any]
    origins: dict[str, Origin]
    shared: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def shared_cache(self, key: str) -> dict[str, Any]:
        """The cache of host-independent values for one set of task variables."""
        return self.shared.setdefault(key, {})

    def raw(self, name: str) -> Any:
        """The unrendered value of NAME in the high or low layers (KeyError if none)."""
        if name in self.high:
            return self.high[name]
        return self.low[name]


class VariableSet:
    """All variable layers of a deployment; ``scope(role)`` merges them for one role."""

    def __init__(self, group_vars: list[Layer], config_all: Layer,
                 role_defaults: dict[str, Layer], config_roles: dict[str, Layer],
                 high: list[Layer], role_vars: dict[str, Layer] | None = None) -> None:
        self.group_vars = group_vars
        self.role_vars = role_vars or {}
        self.config_all = config_all
        self.role_defaults = role_defaults
        self.config_roles = config_roles
        self.high = high
        self._scopes: dict[str | None, Scope] = {}

    @classmethod
    def load(cls, base_dir: str | pathlib.Path, config_dir: str | pathlib.Path | None,
             roles: list[str] | tuple[str, ...] = (),
             extra: list[str] | Mapping[str, Any] | None = None) -> VariableSet:
        """Load every layer: BASE_DIR holds common_templates/ and config/; CONFIG_DIR holds
        the operator's globals.yml and passwords.yml; ROLES are the roles whose defaults
        are needed; EXTRA are ``-e`` values."""
        base = pathlib.Path(base_dir)
        ct = base / "common_templates"
        gv_dir = ct / "group_vars" / "all"
        group_vars = [load_yaml_layer(p, _rel(p, base))
                      for p in sorted(gv_dir.glob("*.yml")) + sorted(gv_dir.glob("*.yaml"))]
        config_all = load_yaml_layer(base / "config" / "all.yml", "config/all.yml")
        role_defaults: dict[str, Layer] = {}
        config_roles: dict[str, Layer] = {}
        role_vars: dict[str, Layer] = {}
        for role in roles:
            p = ct / "roles" / role / "defaults" / "main.yml"
            role_defaults[role] = load_yaml_layer(p, _rel(p, base))
            p = base / "config" / role / "defaults" / "main.yml"
            config_roles[role] = load_yaml_layer(p, _rel(p, base))
            p = ct / "roles" / role / "vars" / "main.yml"
            role_vars[role] = load_yaml_layer(p, _rel(p, base))
        high: list[Layer] = []
        if config_dir is not None:
            cdir = pathlib.Path(config_dir)
            # kolla-ansible passes its config dir as the extra var CONFIG_DIR, from which
            # node_config and kolla_certificates_dir (<config_dir>/certificates) derive
            high.append(Layer.from_dict({"CONFIG_DIR": str(cdir)}, "[kolla] config_dir"))
            high.append(load_yaml_layer(cdir / "globals.yml"))
            high.append(load_yaml_layer(cdir / "passwords.yml"))
        high.append(Layer.from_dict(parse_extra(extra), "-e"))
        return cls(group_vars, config_all, role_defaults, config_roles, high, role_vars)

    def scope(self, role: str | None) -> Scope:
        """The merged variables of ROLE (None: no role defaults).

        ``<a>+<b>`` is role a included from role b, as kolla-ansible's per-project
        ``haproxy-config`` (an ``import_role`` inside the keystone role sees the defaults of
        both): the defaults, config/ defaults and vars of both, b's above a's.
        """
        if role not in self._scopes:
            parts = role.split("+") if role is not None else []
            for part in parts:
                if part not in self.role_defaults:
                    raise VariableError(f"The role '{part}' was not loaded; pass it to "
                                        "VariableSet.load(roles=...).")
            layers = [self.role_defaults[p] for p in parts] + \
                self.group_vars + [self.config_all] + \
                [layer for p in parts
                 for layer in (self.config_roles[p], self.role_vars.get(p, Layer({}, {})))]
            low, low_origins = _merge(layers)
            high, high_origins = _merge(self.high)
            _check_shapes(low, low_origins, high, high_origins)
            self._scopes[role] = Scope(role, low, high, {**low_origins, **high_origins})
        return self._scopes[role]

    def origin(self, name: str, role: str | None = None) -> Origin | None:
        """Where NAME's effective value (for ROLE) is defined."""
        return self.scope(role).origins.get(name)


def _check_shapes(low: Mapping[str, Any], low_origins: Mapping[str, Origin],
                  high: Mapping[str, Any], high_origins: Mapping[str, Origin]) -> None:
    """Refuse a mapping or list where the defaults hold a single value.

    Such a value would be rendered into a config file as a Python ``dict``/``list`` repr,
    which the service then misreads; a default that is a template may render to anything,
    so it is not compared.
    """
    for name, value in high.items():
        default = low.get(name)
        if not isinstance(value, dict | list) or default is None \
                or isinstance(default, dict | list) \
                or (isinstance(default, str) and is_template(default)):
            continue
        kind = "a mapping" if isinstance(value, dict) else "a list"
        raise VariableError(
            f"{high_origins.get(name, Origin('?'))}: '{name}' is {kind}, but a single value is "
            f"expected (its default in {low_origins.get(name, Origin('?')).source} is a "
            f"{type(default).__name__}).")


def _rel(path: pathlib.Path, base: pathlib.Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def is_template(value: str) -> bool:
    """Whether a string needs rendering."""
    return "{{" in value or "{%" in value or "{#" in value


class HostVars(Mapping[str, Any]):
    """The variables of one host for one role, resolved lazily (a Jinja context parent)."""

    #: the environment's globals (lookup, range, ...) are part of this mapping
    includes_globals = True

    def __init__(self, renderer: Renderer, scope: Scope, host: str,
                 inventory: dict[str, Any], magic: dict[str, Any],
                 host_magic: frozenset[str], task_vars: dict[str, Any] | None = None,
                 task_key: str = "") -> None:
        self._renderer = renderer
        self._scope = scope
        self.host = host
        self._inventory = inventory
        self._task = task_vars or {}
        self._shared = scope.shared_cache(task_key)
        self._magic = magic
        self._host_magic = host_magic
        self._cache: dict[str, Any] = {}
        self._stack: list[str] = []
        self._tainted: list[bool] = []

    # --- Mapping protocol ------------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        if name in self._renderer.inventory_names:
            self._taint()  # whether it exists depends on the host
        return (name in self._magic or name in self._scope.high or name in self._task
                or name in self._inventory or name in self._scope.low
                or name in self._renderer.env.globals)

    def __iter__(self) -> Iterator[str]:
        seen = dict.fromkeys(self._scope.low)
        seen.update(dict.fromkeys(self._inventory))
        seen.update(dict.fromkeys(self._task))
        seen.update(dict.fromkeys(self._scope.high))
        seen.update(dict.fromkeys(self._magic))
        return iter(seen)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __getitem__(self, name: str) -> Any:
        if name in self._magic:
            if name in self._host_magic:
                self._taint()
            return self._magic[name]
        if name in self._cache:
            self._taint()
            return self._cache[name]
        # a name some host of the topology defines in its inventory is host-specific
        # everywhere: never shared, and it makes whatever uses it host-specific
        inventory_name = name in self._renderer.inventory_names
        if inventory_name:
            self._taint()
        elif name in self._shared:
            return self._shared[name]
        if name in self._scope.high:
            raw = self._scope.high[name]
            from_inventory = False
        elif name in self._task:
            raw = self._task[name]
            from_inventory = False
        elif name in self._inventory:
            raw = self._inventory[name]
            from_inventory = True
        elif name in self._scope.low:
            raw = self._scope.low[name]
            from_inventory = False
        elif name in self._renderer.env.globals:
            return self._renderer.env.globals[name]
        else:
            raise KeyError(name)
        return self._resolve(name, raw, from_inventory or inventory_name)

    def copy(self) -> dict[str, Any]:
        """A snapshot of the values resolved so far (Jinja calls this for tracebacks)."""
        return dict(self._cache)

    # --- resolution ------------------------------------------------------------------------

    def _taint(self) -> None:
        if self._tainted:
            self._tainted[-1] = True

    def _resolve(self, name: str, raw: Any, host_specific: bool) -> Any:
        if name in self._stack:
            cycle = " -> ".join(self._stack[self._stack.index(name):] + [name])
            self._taint()
            return self._renderer.deferred(
                f"the variables {cycle} form a reference cycle "
                f"({name} is defined in {self._scope.origins.get(name, Origin('?'))})", name)
        self._stack.append(name)
        self._tainted.append(host_specific)
        try:
            value = self._renderer.template_value(raw, self, name,
                                                  self._scope.origins.get(name))
        finally:
            self._stack.pop()
            tainted = self._tainted.pop()
        if tainted:
            self._cache[name] = value
            self._taint()
        else:
            self._shared[name] = value
        return value

    def resolve(self, name: str) -> Any:
        """The rendered value of NAME; VariableError when undefined or failing."""
        try:
            value = self[name]
        except KeyError:
            raise VariableError(f"The variable '{name}' is undefined for host "
                                f"'{self.host}'.") from None
        self._renderer.raise_if_deferred(value)
        return value
