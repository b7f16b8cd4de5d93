"""TLS settings from the operator's configuration (globals.yml, topology.yml, kolla defaults).

Reads files only: the same variables the templates see, for the topology's first host (the
VIPs and switches are not per host) and each ``tls-backend`` host's API address.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Any

from kolla_mesos.certificates import model
from kolla_mesos.render.filters import to_bool
from kolla_mesos.render.templates import Renderer
from kolla_mesos.render.topology import load_topology
from kolla_mesos.render.variables import VariableSet


def certificates_dir(config_dir: pathlib.Path) -> pathlib.Path:
    """``kolla_certificates_dir``: ``<config_dir>/certificates``."""
    return config_dir / model.DIRECTORY


def from_renderer(renderer: Renderer) -> model.TlsSettings:
    """The TLS variables as the templates see them (TLS off where a base directory without
    kolla-ansible's group_vars, such as the test base, does not define them)."""
    topology = renderer.topology
    ctx = renderer.context(next(iter(topology.hosts)))

    def value(name: str, default: str = "") -> str:
        return str(ctx.get(name, default))

    backend = to_bool(ctx.get("kolla_enable_tls_backend", False))
    return model.TlsSettings(
        internal_vip=value("kolla_internal_vip_address"),
        external_vip=value("kolla_external_vip_address"),
        internal_fqdn=value("kolla_internal_fqdn"),
        external_fqdn=value("kolla_external_fqdn"),
        tls_internal=to_bool(ctx.get("kolla_enable_tls_internal", False)),
        tls_external=to_bool(ctx.get("kolla_enable_tls_external", False)),
        tls_backend=backend,
        backend_hosts={h: str(renderer.context(h)["api_interface_address"])
                       for h in topology.hosts_of("tls-backend")} if backend else {},
    )


def load(base_dir: pathlib.Path, config_dir: pathlib.Path,
         extra_vars: Mapping[str, Any]) -> model.TlsSettings:
    """The TLS settings of the deployment configured in CONFIG_DIR."""
    topology = load_topology(config_dir / "topology.yml", base_dir=base_dir)
    variables = VariableSet.load(base_dir, config_dir, extra=dict(extra_vars))
    return from_renderer(Renderer(base_dir, variables, topology, config_dir=config_dir))
