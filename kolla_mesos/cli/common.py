"""Helpers shared by the CLI commands: settings -> plan, settings -> clients."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kolla_mesos import errors
from kolla_mesos.apply.clients import Clients
from kolla_mesos.plan.loader import PlanInputs, load_plan
from kolla_mesos.plan.model import Plan
from kolla_mesos.render.variables import parse_extra
from kolla_mesos.settings import Settings


def parse_extra_vars(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings into a mapping (values parsed as YAML scalars, like Ansible)."""
    return parse_extra(list(items))


def conf(app: Any) -> Settings:
    """The application's loaded settings."""
    loaded = getattr(app, "conf", None)
    if not isinstance(loaded, Settings):
        raise errors.SettingsError("Settings were not loaded before the command ran.")
    return loaded


def plan_inputs(app: Any) -> PlanInputs:
    """PlanInputs from the application's settings and global options."""
    return PlanInputs.from_settings(conf(app), parse_extra_vars(app.options.extra_vars or []))


def build_plan(app: Any, only: Sequence[str] | None = None) -> Plan:
    """Render the configured profile into a Plan."""
    return load_plan(plan_inputs(app), only=only)


@contextlib.contextmanager
def clients(app: Any) -> Iterator[Clients]:
    """Connected clients (ZooKeeper store, Marathon, Chronos, Mesos) for the command."""
    with Clients.from_settings(conf(app)) as connected:
        yield connected


def source_tree() -> Path:
    """The kolla-mesos source tree (config/, deployment_files/, common_templates/)."""
    return Path(__file__).resolve().parents[2]
