"""Assemble a Plan from settings: topology, variables, renderer, deployment files.

This is the seam between the pure planner (:mod:`kolla_mesos.plan.build`) and the rendering
layer (:mod:`kolla_mesos.render`).  It reads files only.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kolla_mesos import errors
from kolla_mesos.certificates import inputs as tls_inputs
from kolla_mesos.certificates.check import check_certificates
from kolla_mesos.passwords import (
    FERNET_REPOSITORY,
    OWN_KEYS,
    check_fernet_repository,
    empty_keys,
    read_passwords,
)
from kolla_mesos.plan.build import PlanSettings, build_plan, find_deployment_files, load_profile
from kolla_mesos.plan.guard import check_no_secrets
from kolla_mesos.plan.model import Plan
from kolla_mesos.render.templates import Renderer, find_template
from kolla_mesos.render.topology import Topology, load_topology
from kolla_mesos.render.variables import VariableSet
from kolla_mesos.secrets import certificate_key_lines, secret_values
from kolla_mesos.settings import Settings

SOURCE_TREE = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class PlanInputs:
    """Everything a plan is built from."""

    base_dir: Path
    config_dir: Path
    settings: PlanSettings
    extra_vars: Mapping[str, Any]

    @classmethod
    def from_settings(cls, conf: Settings, extra_vars: Mapping[str, Any]) -> PlanInputs:
        """From kolla-mesos settings and ``-e`` values."""
        base = Path(conf.kolla.base_dir) if conf.kolla.base_dir else SOURCE_TREE
        return cls(
            base_dir=base,
            config_dir=Path(conf.kolla.config_dir),
            settings=PlanSettings(
                deployment_id=conf.kolla.deployment_id,
                profile=conf.kolla.profile,
                zk_hosts=conf.zookeeper.hosts,
                zk_root=conf.zookeeper.root,
                marathon_root=conf.marathon.group_root,
                runner_credentials_path=conf.zookeeper.runner_credentials_path,
                runner_command=tuple(conf.kolla.runner_command),
            ),
            extra_vars=dict(extra_vars),
        )


class RendererBackend:
    """Adapts :class:`kolla_mesos.render.templates.Renderer` to the planner's needs."""

    def __init__(self, renderer: Renderer, topology: Topology, base_dir: Path,
                 roles: Mapping[str, str]) -> None:
        self.renderer = renderer
        self.topology = topology
        self.base_dir = base_dir
        #: deployment file path -> role (project) whose defaults it renders with
        self.roles = roles

    def hosts_of(self, group: str) -> list[str]:
        """Hosts of a topology group (error naming the topology file if unknown)."""
        if group not in self.topology.groups:
            raise errors.TopologyError([
                f"{self.topology.source} has no group {group!r} "
                f"(known: {', '.join(sorted(self.topology.groups))})."
            ])
        return self.topology.hosts_of(group)

    def first_host(self) -> str:
        """The first host of the topology."""
        return next(iter(self.topology.hosts))

    def render_string(self, text: str, host: str, source: str) -> str:
        """Render a deployment file with its project's variables."""
        return self.renderer.render_string(text, host, _relative(source, self.base_dir),
                                           role=self.roles.get(source))

    def render_template(self, role: str, name: str, host: str,
                        task_vars: Mapping[str, Any] | None = None) -> str:
        """Render ``<role>/<name>`` for ``host`` (``task_vars``: e.g. ``service_name``)."""
        return self.renderer.render_template(role, name, host,
                                             task_vars=dict(task_vars) if task_vars else None)

    def has_template(self, role: str, name: str) -> bool:
        """Whether the template exists (override or synced)."""
        try:
            find_template(self.base_dir, role, name)
        except errors.TemplateError:
            return False
        return True


def _relative(path: str, base: Path) -> str:
    try:
        return str(Path(path).relative_to(base))
    except ValueError:
        return path


def check_passwords_file(config_dir: Path) -> None:
    """passwords.yml must exist and be readable by its owner only."""
    path = config_dir / "passwords.yml"
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError as exc:
        raise errors.PasswordError(
            f"{path} does not exist: create it with 'kolla-mesos genpwd {path}'."
        ) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise errors.PasswordError(
            f"{path} is readable by other users (mode {stat.S_IMODE(mode):04o}); "
            f"run 'chmod 600 {path}'."
        )


def load_plan(inputs: PlanInputs, only: Sequence[str] | None = None) -> Plan:
    """Render the configured profile (or ``only`` these services) into a Plan."""
    deployment_files = inputs.base_dir / "deployment_files"
    check_passwords_file(inputs.config_dir)
    passwords_path = inputs.config_dir / "passwords.yml"
    passwords = read_passwords(passwords_path, check_mode=False)
    empty = empty_keys(passwords)
    if empty:
        raise errors.PasswordError(
            f"{passwords_path}: {', '.join(empty[:5])}{' and others' if len(empty) > 5 else ''}"
            f" {'has' if len(empty) == 1 else 'have'} no value; run 'kolla-mesos genpwd "
            f"{passwords_path}' to fill empty passwords.")
    topology = load_topology(inputs.config_dir / "topology.yml", base_dir=inputs.base_dir)
    index = find_deployment_files(deployment_files)
    profile = load_profile(deployment_files, inputs.settings.profile)
    names = list(only) if only else profile
    for key, service in OWN_KEYS.items():
        if service in names and key not in passwords:
            raise errors.PasswordError(
                f"{passwords_path} has no {key} (kolla-mesos' own key, needed by {service}); "
                f"run 'kolla-mesos genpwd {passwords_path}' to add it.")
    if OWN_KEYS[FERNET_REPOSITORY] in names:
        check_fernet_repository(passwords[FERNET_REPOSITORY], str(passwords_path))
    projects = sorted({index[n][0] for n in [*names, *profile] if n in index})
    if "loadbalancer" in projects:
        # each project's HAProxy sections: haproxy-config's template and defaults
        projects.append("haproxy-config")
    # kolla_mesos_services: the profile's services (HAProxy renders a section for each
    # that has a listener, whichever of them one deploy names with --service)
    extra = {"deployment_id": inputs.settings.deployment_id,
             "kolla_mesos_services": sorted(set(profile) | set(names)),
             **inputs.extra_vars}
    variables = VariableSet.load(inputs.base_dir, inputs.config_dir, roles=projects,
                                 extra=extra)
    renderer = Renderer(inputs.base_dir, variables, topology, config_dir=inputs.config_dir)
    # TLS: every certificate and key the settings need, checked before anything renders
    certs = tls_inputs.certificates_dir(inputs.config_dir)
    check_certificates(certs, tls_inputs.from_renderer(renderer))
    roles = {str(index[n][1]): index[n][0] for n in names if n in index}
    backend = RendererBackend(renderer, topology, inputs.base_dir, roles)
    plan = build_plan(backend, deployment_files, inputs.settings, only=names)
    check_no_secrets(plan, [*secret_values(passwords), *certificate_key_lines(certs)])
    return plan
