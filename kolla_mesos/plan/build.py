"""Build a :class:`~kolla_mesos.plan.model.Plan` from deployment files and rendered templates.

Input: the profile's service names, the deployment files
(``deployment_files/<project>/<service>.yml.j2``, docs/deployment-files.md) and a rendering
backend (variables + topology + templates).  Output: a pure Plan.  The only I/O is reading
the deployment files and templates; the result depends on nothing else.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml

from kolla_mesos import errors, zkpaths
from kolla_mesos.definition import DAEMON, Definition, from_json
from kolla_mesos.plan import graph, payloads
from kolla_mesos.plan.model import ChronosJob, Plan, RenderedFile, ServicePlan, canonical_json
from kolla_mesos.plan.model import sha256 as sha256_hex

TOOL_VERSION = "0.1.0"
SECTION_KEYS = {"group", "service", "app", "jobs"}
FILE_KEYS = {"template", "content", "dest", "owner", "group", "mode", "vars"}


class RenderBackend(Protocol):
    """What the planner needs from the rendering layer (kolla_mesos.render)."""

    def hosts_of(self, group: str) -> list[str]:
        """Hosts of a topology group, in topology order (error if unknown)."""

    def first_host(self) -> str:
        """The first host of the topology."""

    def render_string(self, text: str, host: str, source: str) -> str:
        """Render template text for ``host``; errors name ``source`` and the line."""

    def render_template(self, role: str, name: str, host: str,
                        task_vars: Mapping[str, Any] | None = None) -> str:
        """Render ``<role>/<name>`` (config/ override or synced copy) for ``host``;
        ``task_vars`` are per-file variables such as kolla's ``service_name``."""

    def has_template(self, role: str, name: str) -> bool:
        """Whether ``<role>/<name>`` exists."""


@dataclasses.dataclass(frozen=True)
class PlanSettings:
    """Settings the planner needs (from kolla-mesos.conf)."""

    deployment_id: str
    profile: str
    zk_hosts: str
    zk_root: str
    marathon_root: str
    runner_credentials_path: str
    runner_command: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ServiceSource:
    """A service's deployment file after rendering."""

    project: str
    service: str
    path: Path
    group: str
    hosts: tuple[str, ...]
    section: Mapping[str, Any]
    app: Mapping[str, Any]
    jobs: Mapping[str, Any]


# --- profiles and deployment files ---------------------------------------------------------


def load_profile(deployment_files: Path, profile: str) -> list[str]:
    """Service names of ``profile`` from ``deployment_files/profiles.yml``."""
    path = deployment_files / "profiles.yml"
    data = _load_yaml(path)
    if not isinstance(data, dict):
        raise errors.YamlError(f"{path} must map profile names to lists of services.")
    if profile not in data:
        raise errors.ConfigError(
            f"Profile {profile!r} is not defined in {path} (known: {', '.join(sorted(data))})."
        )
    services = data[profile]
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        raise errors.YamlError(f"{path}: profile {profile!r} must be a list of service names.")
    return list(dict.fromkeys(services))


def find_deployment_files(deployment_files: Path) -> dict[str, tuple[str, Path]]:
    """Map service name -> (project, path) for every ``<project>/<service>.yml.j2``."""
    found: dict[str, tuple[str, Path]] = {}
    for path in sorted(deployment_files.glob("*/*.yml.j2")):
        service = path.name[: -len(".yml.j2")]
        if service in found:
            raise errors.DefinitionError([
                f"Service {service!r} is defined twice: {found[service][1]} and {path}."
            ])
        found[service] = (path.parent.name, path)
    return found


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise errors.YamlError(f"Cannot read {path}: {exc.strerror}.") from exc
    except yaml.YAMLError as exc:
        raise errors.YamlError(f"{path} is not valid YAML: {errors.yaml_problem(exc)}.") from exc


def render_source(backend: RenderBackend, project: str, service: str, path: Path,
                  ) -> ServiceSource:
    """Render one deployment file and check its top-level shape.

    The file is rendered with ``inventory_hostname`` set to the first host of its group
    (first pass: the topology's first host, to learn the group).
    """
    text = path.read_text()
    host = backend.first_host()
    data = _render_yaml(backend, text, host, path)
    group = data.get("group")
    if not isinstance(group, str):
        raise errors.DefinitionError([f"{path}: 'group' must name a topology group."])
    hosts = backend.hosts_of(group)
    if not hosts:
        raise errors.DefinitionError([f"{path}: topology group {group!r} has no hosts."])
    if hosts[0] != host:
        data = _render_yaml(backend, text, hosts[0], path)
    unknown = set(data) - SECTION_KEYS
    if unknown:
        raise errors.DefinitionError([
            f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))}; expected "
            f"{', '.join(sorted(SECTION_KEYS))}."
        ])
    for key in ("service", "app", "jobs"):
        if not isinstance(data.get(key) or {}, dict):
            raise errors.DefinitionError([f"{path}: '{key}' must be a mapping."])
    return ServiceSource(project=project, service=service, path=path, group=group,
                         hosts=tuple(hosts), section=data.get("service") or {},
                         app=data.get("app") or {}, jobs=data.get("jobs") or {})


def _render_yaml(backend: RenderBackend, text: str, host: str, path: Path) -> dict[str, Any]:
    rendered = backend.render_string(text, host, str(path))
    try:
        data = yaml.safe_load(rendered)
    except yaml.YAMLError as exc:
        raise errors.YamlError(
            f"{path} does not render to valid YAML: {errors.yaml_problem(exc)}."
        ) from exc
    if not isinstance(data, dict):
        raise errors.DefinitionError([f"{path} must render to a mapping."])
    return data


# --- files ---------------------------------------------------------------------------------


def _collapse(name: str, per_host: Mapping[str, bytes], hosts: Sequence[str]) -> RenderedFile:
    """Store the most common content once, and variants only where a host differs."""
    counts = collections.Counter(per_host[h] for h in hosts)
    best = max(counts.values())
    common = next(per_host[h] for h in hosts if counts[per_host[h]] == best)
    variants = tuple((h, per_host[h]) for h in sorted(hosts) if per_host[h] != common)
    return RenderedFile(name=name, content=common, host_variants=variants)


def _config_json(backend: RenderBackend, src: ServiceSource, ref: str,
                 host: str) -> dict[str, Any]:
    role, _, name = ref.partition("/")
    try:
        data = json.loads(backend.render_template(role, name, host))
    except json.JSONDecodeError as exc:
        raise errors.DefinitionError([
            f"{src.path}: config_json {ref} does not render to JSON: {exc}."
        ]) from exc
    if not isinstance(data, dict):
        raise errors.DefinitionError([f"{src.path}: config_json {ref} must be an object."])
    return data


def _apply_config_json(backend: RenderBackend, src: ServiceSource, section: dict[str, Any],
                       ) -> None:
    """Fold kolla-ansible's config.json (command, config_files, permissions) into section."""
    ref = section.pop("config_json", None)
    if not ref:
        return
    role = ref.partition("/")[0]
    rendered = [_config_json(backend, src, ref, host) for host in src.hosts]
    data = rendered[0]
    daemon_given = bool((section.get("daemon") or {}).get("command"))
    commands = {str(d.get("command")) for d in rendered}
    if len(commands) > 1 and not daemon_given:
        raise errors.DefinitionError([
            f"{src.path}: {ref} renders a different command on different hosts, but a "
            "definition's daemon command is shared by every host: give service.daemon.command "
            "(e.g. read the host's own rendering of the config at run time)."
        ])
    files = section.setdefault("files", {})
    for entry in data.get("config_files", []):
        base = str(entry.get("source", "")).rstrip("/").rsplit("/", 1)[-1]
        if not base or base in files or "*" in base:
            continue
        if not backend.has_template(role, base + ".j2") and not backend.has_template(role, base):
            if entry.get("optional"):
                continue
            raise errors.DefinitionError([
                f"{src.path}: {ref} needs {base!r} but {role}/{base}.j2 does not exist."
            ])
        template = base + ".j2" if backend.has_template(role, base + ".j2") else base
        owner, _, group = str(entry.get("owner", "root")).partition(":")
        files[base] = {"template": f"{role}/{template}", "dest": entry.get("dest"),
                       "owner": owner, "group": group or owner,
                       "mode": str(entry.get("perm", "0600"))}
    directories = section.setdefault("directories", [])
    for perm in data.get("permissions", []):
        owner, _, group = str(perm.get("owner", "root")).partition(":")
        directories.append({"path": perm["path"], "owner": owner, "group": group or owner,
                            "mode": "0755"})
    daemon = section.setdefault("daemon", {})
    if "command" in data and not daemon.get("command"):
        daemon["command"] = shlex.split(str(data["command"]))


def render_files(backend: RenderBackend, src: ServiceSource, spec: Mapping[str, Any],
                 ) -> tuple[dict[str, Any], list[RenderedFile]]:
    """Render every file of a service for each of its hosts."""
    raw_files: dict[str, Any] = {}
    rendered: list[RenderedFile] = []
    for name, fspec in sorted((spec or {}).items()):
        where = f"{src.path}: service.files.{name}"
        if not isinstance(fspec, dict) or not ({"template", "content"} & set(fspec)):
            raise errors.DefinitionError([f"{where} needs 'template' or 'content'."])
        unknown = set(fspec) - FILE_KEYS
        if unknown:
            raise errors.DefinitionError([f"{where}: unknown key(s) {', '.join(sorted(unknown))}."])
        per_host: dict[str, bytes] = {}
        for host in src.hosts:
            if "content" in fspec:
                per_host[host] = str(fspec["content"]).encode()
            else:
                role, _, tname = str(fspec["template"]).partition("/")
                task_vars = fspec.get("vars")
                if task_vars is not None and not isinstance(task_vars, dict):
                    raise errors.DefinitionError([f"{where}.vars must be a mapping."])
                per_host[host] = backend.render_template(role, tname, host,
                                                         task_vars).encode()
        for host, content in sorted(per_host.items()):
            if len(content) > zkpaths.MAX_FILE_BYTES:
                raise errors.DefinitionError([
                    f"{where} renders to {len(content)} bytes for host {host}; a file stored "
                    f"in ZooKeeper may have at most {zkpaths.MAX_FILE_BYTES} bytes."])
        rfile = _collapse(name, per_host, src.hosts)
        rendered.append(rfile)
        raw_files[name] = {k: v for k, v in fspec.items()
                           if k in ("dest", "owner", "group", "mode")}
        raw_files[name]["per_host"] = bool(rfile.host_variants)
    return raw_files, rendered


def _inputs_hash(image: str, user: str, cmd: Mapping[str, Any], files: Sequence[RenderedFile],
                 ) -> str:
    names = cmd.get("files")
    digests = {f.name: f.digest() for f in files if names is None or f.name in names}
    return sha256_hex(canonical_json({
        "image": image, "command": cmd.get("command"), "shell": cmd.get("shell", False),
        "env": cmd.get("env") or {}, "user": cmd.get("user") or user, "files": digests,
    }))


def build_definition(backend: RenderBackend, src: ServiceSource,
                     ) -> tuple[Definition, list[RenderedFile]]:
    """The stored definition and rendered files of one service."""
    section = json.loads(json.dumps(dict(src.section)))  # deep copy, JSON-safe
    _apply_config_json(backend, src, section)
    files_spec, files = render_files(backend, src, section.get("files") or {})
    section["files"] = files_spec
    section["project"], section["service"] = src.project, src.service
    image = str(section.get("image", ""))
    user = str(section.get("user", "root"))
    for cmd in (section.get("commands") or {}).values():
        if isinstance(cmd, dict):
            cmd["inputs_hash"] = _inputs_hash(image, user, cmd, files)
    if isinstance(section.get("daemon"), dict):
        if not section["daemon"].get("command"):
            raise errors.DefinitionError([f"{src.path}: service.daemon needs a 'command'."])
        section["daemon"]["inputs_hash"] = _inputs_hash(image, user, section["daemon"], files)
    return from_json(section, source=f"{src.path}: service"), files


# --- the whole plan ------------------------------------------------------------------------


def build_plan(backend: RenderBackend, deployment_files: Path, settings: PlanSettings,
               only: Sequence[str] | None = None) -> Plan:
    """Render every service of the profile into a Plan; report every problem at once."""
    names = list(only) if only else load_profile(deployment_files, settings.profile)
    index = find_deployment_files(deployment_files)
    missing = [n for n in names if n not in index]
    if missing:
        raise errors.DefinitionError([
            f"Service {n!r} of profile {settings.profile!r} has no deployment file "
            f"{deployment_files}/<project>/{n}.yml.j2." for n in missing
        ])
    sources = [render_source(backend, index[n][0], n, index[n][1]) for n in names]
    built: list[tuple[ServiceSource, Definition, list[RenderedFile]]] = []
    problems: list[str] = []
    for src in sources:
        try:
            definition, files = build_definition(backend, src)
        except errors.DefinitionError as exc:
            problems.extend(exc.problems)
            continue
        built.append((src, definition, files))
    if problems:
        raise errors.DefinitionError(problems)
    definitions = {d.service: d for _, d, _ in built}
    graph.check(definitions)
    services = tuple(_service_plan(settings, src, definition, files, definitions)
                     for src, definition, files in built)
    return Plan(deployment_id=settings.deployment_id, profile=settings.profile,
                services=services,
                group_id=payloads.group_id(settings.marathon_root, settings.deployment_id),
                tool_version=TOOL_VERSION)


def _check_ports(src: ServiceSource, app: Mapping[str, Any]) -> None:
    """Health check ports must be numbers: Marathon would refuse the app only at deploy."""
    checks = app.get("healthChecks") or []
    for index, check in enumerate(checks if isinstance(checks, list) else []):
        port = check.get("port") if isinstance(check, dict) else None
        if port is not None and (not isinstance(port, int) or isinstance(port, bool)
                                 or not 0 < port < 65536):
            raise errors.DefinitionError([
                f"{src.path}: app.healthChecks[{index}].port is {port!r}, not a port number "
                "(1-65535)."])


def _service_plan(settings: PlanSettings, src: ServiceSource, definition: Definition,
                  files: list[RenderedFile], definitions: Mapping[str, Definition],
                  ) -> ServicePlan:
    env = payloads.task_env(settings.deployment_id, src.project, src.service, settings.zk_hosts,
                         settings.zk_root, settings.runner_credentials_path)
    app = None
    if definition.daemon is not None:
        deps = sorted({
            payloads.app_id(settings.marathon_root, settings.deployment_id,
                         definitions[d.service].project, d.service)
            for d in definition.daemon.dependencies
            if d.command == DAEMON and d.service != src.service
            and definitions[d.service].daemon is not None
        })
        _check_ports(src, src.app)
        app = payloads.build_app(root=settings.marathon_root, deployment_id=settings.deployment_id,
                              definition=definition, hosts=src.hosts, section=src.app, env=env,
                              runner_command=settings.runner_command, files=files,
                              dependencies=deps)
    jobs = []
    for cmd in definition.commands:
        if not cmd.job:
            continue
        section = src.jobs.get(cmd.name) or {}
        if not isinstance(section, dict):
            raise errors.DefinitionError([f"{src.path}: jobs.{cmd.name} must be a mapping."])
        body = payloads.build_job(deployment_id=settings.deployment_id, definition=definition,
                               command=cmd, hosts=src.hosts, section=section, env=env,
                               runner_command=settings.runner_command)
        job_deps = tuple(sorted(
            d.path for d in cmd.dependencies
            if d.command != DAEMON and definitions[d.service].command(d.command).job
        ))
        jobs.append(ChronosJob(service=src.service, command=cmd.name, name=body["name"],
                               body=body, job_dependencies=job_deps))
    chash = app["labels"][payloads.LABEL_CONFIG_HASH] if app else payloads.config_hash(
        None, definition, files, [j.body for j in jobs])
    return ServicePlan(project=src.project, service=src.service, hosts=src.hosts,
                       definition=definition, files=tuple(files), app=app, jobs=tuple(jobs),
                       config_hash=chash)
