"""Find and render templates per host: synced kolla-ansible templates and config/ overrides.

``config/<role>/templates/<name>`` overrides ``common_templates/roles/<role>/templates/<name>``;
``list_templates`` reports each template's origin (``synced``, ``overridden`` or ``local``
for a template only config/ has) and sha256.  ``Renderer`` renders a template, or any string,
for one host of the topology with the variables of one role.  Rendering is pure and
deterministic: no clock, no random value, no I/O besides reading template files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import pathlib
from collections.abc import Mapping
from typing import Any

import jinja2
import yaml

from kolla_mesos.errors import ConfigError, TemplateError, VariableError, yaml_problem
from kolla_mesos.render import jinja_env
from kolla_mesos.render.topology import Topology, host_facts, host_variables
from kolla_mesos.render.variables import HostVars, Origin, VariableSet, is_template

LOG = logging.getLogger(__name__)

SYNCED, OVERRIDDEN, LOCAL = "synced", "overridden", "local"

#: magic variables whose value differs from host to host
HOST_MAGIC = frozenset({"inventory_hostname", "inventory_hostname_short", "group_names",
                        "ansible_facts", "ansible_hostname"})


@dataclasses.dataclass(frozen=True)
class TemplateInfo:
    """One template: role, file name, origin (synced/overridden/local), sha256, path."""

    role: str
    name: str
    origin: str
    sha256: str
    path: pathlib.Path


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def find_template(base_dir: str | pathlib.Path, role: str, name: str) -> TemplateInfo:
    """Locate template NAME of ROLE: the config/ override if any, else the synced copy."""
    base = pathlib.Path(base_dir)
    override = base / "config" / role / "templates" / name
    synced = base / "common_templates" / "roles" / role / "templates" / name
    if override.is_file():
        origin = OVERRIDDEN if synced.is_file() else LOCAL
        return TemplateInfo(role, name, origin, _sha256(override), override)
    if synced.is_file():
        return TemplateInfo(role, name, SYNCED, _sha256(synced), synced)
    raise TemplateError(f"The template {name} of role {role} exists neither in "
                        f"config/{role}/templates/ nor in common_templates/roles/{role}/"
                        "templates/ (run tools/sync-common-templates?).")


def list_templates(base_dir: str | pathlib.Path) -> list[TemplateInfo]:
    """Every template of every role, sorted by (role, name), with origin and checksum."""
    base = pathlib.Path(base_dir)
    names: set[tuple[str, str]] = set()
    for root in (base / "common_templates" / "roles", base / "config"):
        if not root.is_dir():
            continue
        for tdir in root.glob("*/templates"):
            for path in tdir.rglob("*"):
                if path.is_file():
                    names.add((tdir.parent.name, path.relative_to(tdir).as_posix()))
    return [find_template(base, role, name) for role, name in sorted(names)]


def load_task_vars(base_dir: str | pathlib.Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (role, template): the ``task_vars`` common_templates/sources.yml records (the
    variables kolla-ansible's config tasks set when rendering that template)."""
    path = pathlib.Path(base_dir) / "common_templates" / "sources.yml"
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read: {exc.strerror}.") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} cannot be parsed: {yaml_problem(exc)}.") from exc
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for name, svc in (data.get("services") or {}).items():
        role = svc.get("role", name)
        for tpl, tvars in (svc.get("task_vars") or {}).items():
            out[(role, tpl)] = dict(tvars or {})
    return out


class Renderer:
    """Renders templates for the hosts of a topology with a VariableSet."""

    def __init__(self, base_dir: str | pathlib.Path, variables: VariableSet,
                 topology: Topology, config_dir: str | pathlib.Path | None = None) -> None:
        self.base_dir = pathlib.Path(base_dir)
        self.variables = variables
        self.topology = topology
        search = [pathlib.Path(config_dir)] if config_dir is not None else []
        self.env = jinja_env.KollaEnvironment(search + [self.base_dir / "config"])
        self._inventory = {h: host_variables(topology, h) for h in topology.hosts}
        self.inventory_names = frozenset(k for inv in self._inventory.values() for k in inv)
        self._facts: dict[str, dict[str, Any]] = {}
        self._contexts: dict[tuple[str | None, str, str], HostVars] = {}
        self._hostvars: dict[str | None, _HostVarsMap] = {}
        self._sources: dict[pathlib.Path, str] = {}
        self._groups = {g: list(m) for g, m in topology.groups.items()}
        self.task_vars = load_task_vars(self.base_dir)

    # --- contexts --------------------------------------------------------------------------

    def context(self, host: str, role: str | None = None,
                task_vars: Mapping[str, Any] | None = None) -> HostVars:
        """The lazy variables of HOST for ROLE (a Mapping; also Jinja's context).

        TASK_VARS are the variables kolla-ansible's task sets when it renders a template
        (``service_name``, ``service``); they rank above inventory variables and below
        globals.yml, passwords.yml and ``-e``, like Ansible task vars below extra vars.
        """
        task_key = json.dumps(task_vars, sort_keys=True, default=str) if task_vars else ""
        key = (role, host, task_key)
        ctx = self._contexts.get(key)
        if ctx is None:
            if host not in self.topology.hosts:
                raise ConfigError(f"The host '{host}' is not in {self.topology.source}.")
            ctx = HostVars(self, self.variables.scope(role), host, self._inventory[host],
                           self._magic(host, role), HOST_MAGIC, dict(task_vars or {}),
                           task_key)
            self._contexts[key] = ctx
        return ctx

    def _magic(self, host: str, role: str | None) -> dict[str, Any]:
        facts = self._facts.get(host)
        if facts is None:
            facts = self._facts[host] = host_facts(self.topology, host)
        if role not in self._hostvars:
            self._hostvars[role] = _HostVarsMap(self, role)
        play_hosts = self.topology.hosts_of(role) if role and role in self._groups \
            else list(self.topology.hosts)
        return {
            "inventory_hostname": host,
            "inventory_hostname_short": host.split(".")[0],
            "groups": self._groups,
            "group_names": self.topology.group_names(host),
            "hostvars": self._hostvars[role],
            "ansible_facts": facts,
            "ansible_hostname": facts["hostname"],
            "play_hosts": play_hosts,
            "ansible_play_hosts": play_hosts,
            "ansible_play_hosts_all": play_hosts,
            "ansible_play_batch": play_hosts,
            "omit": jinja_env.OMIT,
            "role_name": template_role(role) if role else "",
        }

    # --- values ----------------------------------------------------------------------------

    def deferred(self, message: str, name: str) -> jinja_env.DeferredError:
        """An error marker for variable NAME, raised with MESSAGE where it is used."""
        return jinja_env.DeferredError(hint=message, name=name)

    @staticmethod
    def raise_if_deferred(value: Any) -> None:
        """Raise VariableError if VALUE is an error marker."""
        if isinstance(value, jinja2.Undefined):
            try:
                value._fail_with_undefined_error()
            except jinja2.UndefinedError as exc:
                raise VariableError(f"{jinja_env.describe(exc)}.") from None

    def template_value(self, raw: Any, ctx: HostVars, name: str, origin: Origin | None) -> Any:
        """Render a variable's raw value (recursively through lists and dicts)."""
        if isinstance(raw, str):
            if not is_template(raw):
                return raw
            label = f"{origin.source if origin else '?'}:{name}"
            try:
                return self.env.render_native(raw, label, ctx)
            except Exception as exc:  # noqa: BLE001 - deferred to where the value is used
                line = jinja_env.error_location(exc, label)
                where = str(origin) if origin else "an unknown file"
                if line is not None and line > 1:
                    where += f", line {line} of the value"
                return self.deferred(f"{jinja_env.describe(exc)} (in the value of '{name}' "
                                     f"from {where})", name)
        if isinstance(raw, list):
            return [self.template_value(x, ctx, name, origin) for x in raw]
        if isinstance(raw, dict):
            return {k: self.template_value(v, ctx, name, origin) for k, v in raw.items()}
        return raw

    # --- rendering -------------------------------------------------------------------------

    def _source(self, path: pathlib.Path) -> str:
        text = self._sources.get(path)
        if text is None:
            try:
                text = self._sources[path] = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise TemplateError(f"The template {path} cannot be read: {exc}.") from exc
        return text

    def template_dirs(self, role: str | None) -> list[pathlib.Path]:
        """Where ``include`` looks for ROLE: config/<role>/templates, then the synced ones."""
        if role is None:
            return [self.base_dir / "config"]
        role = template_role(role)
        return [self.base_dir / "config" / role / "templates",
                self.base_dir / "common_templates" / "roles" / role / "templates"]

    def render_string(self, text: str, host: str, source: str, role: str | None = None,
                      task_vars: Mapping[str, Any] | None = None) -> str:
        """Render TEXT for HOST with ROLE's variables; SOURCE names it in errors."""
        ctx = self.context(host, role, task_vars)
        env = self.env.for_dirs(self.template_dirs(role))
        try:
            return env.render_text(text, source, ctx)
        except TemplateError as exc:
            if exc.message.startswith(source):
                raise
            line = jinja_env.error_location(exc, source)
            raise TemplateError(_message(source, line, exc, host)) from exc
        except Exception as exc:  # noqa: BLE001 - any template failure is operator input
            line = jinja_env.error_location(exc, source)
            raise TemplateError(_message(source, line, exc, host)) from exc

    def render_template(self, role: str, name: str, host: str,
                        task_vars: Mapping[str, Any] | None = None) -> str:
        """Render template NAME of ROLE for HOST (config/ override first).

        TASK_VARS default to the ones sources.yml records for this template.
        """
        info = find_template(self.base_dir, template_role(role), name)
        if task_vars is None:
            task_vars = self.task_vars.get((role, name))
        return self.render_string(self._source(info.path), host,
                                  _rel(info.path, self.base_dir), role, task_vars)


def template_role(role: str) -> str:
    """The role whose templates a variables scope renders: ``haproxy-config`` for
    ``haproxy-config+keystone`` (haproxy-config's template with keystone's variables)."""
    return role.split("+", 1)[0]


def _message(source: str, line: int | None, exc: BaseException, host: str) -> str:
    where = f"{source} line {line}" if line else source
    return f"{where}: {jinja_env.describe(exc)} (rendering for host '{host}')."


def _rel(path: pathlib.Path, base: pathlib.Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


class _HostVarsMap(dict[str, Any]):
    """``hostvars``: host name -> that host's lazy variables (for the same role)."""

    def __init__(self, renderer: Renderer, role: str | None) -> None:
        super().__init__()
        self._renderer = renderer
        self._role = role

    def __missing__(self, host: str) -> HostVars:
        if host not in self._renderer.topology.hosts:
            raise KeyError(host)
        ctx = self._renderer.context(host, self._role)
        self[host] = ctx
        return ctx

    def get(self, host: str, default: Any = None) -> Any:
        try:
            return self[host]
        except KeyError:
            return default

    def __contains__(self, host: object) -> bool:
        return host in self._renderer.topology.hosts

