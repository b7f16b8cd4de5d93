"""Docker volumes of a task mapped to directories of the simulator's state directory.

Docker images are not pulled (the host is the image), so volumes become host directories:

* a *named* volume (container ``volumes[].hostPath`` without a leading ``/``, an ``external``
  volume's ``name``, or docker ``parameters`` ``{"key": "volume", "value": "name:/path[:ro]"}``)
  is ``<state>/volumes/<agent hostname>/<name>``.  Like Docker's, named volumes are per agent
  and outlive tasks and apps; only :meth:`Cluster.reset` with ``wipe_volumes`` removes them.
* an absolute ``hostPath`` is the real host path when it exists and is mounted read-only (e.g.
  ``/etc/localtime``), otherwise the per-agent directory
  ``<state>/agents/<agent hostname>/hostpaths/<hostPath>``.

With isolation the task sees each volume at its container path (bind mounts).  Without it the
task gets the locations in its environment: ``KOLLA_VOLUME_<NAME>`` (name upper-cased, other
characters as ``_``) for each named volume and ``KOLLA_SIM_VOLUMES``, a JSON object mapping each
container path to its host directory.  A relative container path is also linked into the sandbox.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesos_sim.agents import Agent


@dataclass(frozen=True)
class VolumeBind:
    """One volume: host ``source``, container ``target``, ``mode`` RW/RO, ``name`` if named."""

    source: Path
    target: str
    mode: str
    name: str | None = None


def volume_env_name(name: str) -> str:
    """``KOLLA_VOLUME_<NAME>`` for a named volume."""
    return "KOLLA_VOLUME_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def named_volume_dir(state_dir: Path, agent: Agent, name: str) -> Path:
    """Where named volume ``name`` of ``agent`` lives."""
    return state_dir / "volumes" / agent.hostname / name


def _host_path(state_dir: Path, agent: Agent, path: str, mode: str) -> Path:
    if mode == "RO" and os.path.exists(path):
        return Path(path)
    return state_dir / "agents" / agent.hostname / "hostpaths" / path.lstrip("/")


def _resolve(state_dir: Path, agent: Agent, source: str, target: str, mode: str) -> VolumeBind:
    mode = "RO" if mode.upper() == "RO" else "RW"
    if source.startswith("/"):
        return VolumeBind(_host_path(state_dir, agent, source, mode), target, mode)
    return VolumeBind(named_volume_dir(state_dir, agent, source), target, mode, source)


def task_volumes(container: Mapping[str, Any] | None, state_dir: Path,
                 agent: Agent) -> list[VolumeBind]:
    """The volumes of a Marathon/Chronos ``container`` object, resolved to host paths."""
    if not container:
        return []
    binds: list[VolumeBind] = []
    for volume in container.get("volumes") or []:
        if not isinstance(volume, Mapping) or not volume.get("containerPath"):
            continue
        target = str(volume["containerPath"])
        mode = str(volume.get("mode") or "RW")
        host_path = volume.get("hostPath")
        external = volume.get("external")
        if host_path:
            binds.append(_resolve(state_dir, agent, str(host_path), target, mode))
        elif isinstance(external, Mapping) and external.get("name"):
            binds.append(_resolve(state_dir, agent, str(external["name"]), target, mode))
    docker = container.get("docker") or {}
    for parameter in docker.get("parameters") or [] if isinstance(docker, Mapping) else []:
        if not isinstance(parameter, Mapping) or parameter.get("key") not in ("volume", "v"):
            continue
        parts = str(parameter.get("value", "")).split(":")
        if len(parts) < 2 or not parts[0] or not parts[1]:
            continue
        options = parts[2].split(",") if len(parts) > 2 else []
        binds.append(_resolve(state_dir, agent, parts[0], parts[1],
                              "RO" if "ro" in options else "RW"))
    return binds


def prepare(binds: list[VolumeBind], sandbox: Path) -> dict[str, str]:
    """Create the host directories and return the environment describing them."""
    env: dict[str, str] = {}
    mapping: dict[str, str] = {}
    for bind in binds:
        if not bind.source.exists():
            bind.source.mkdir(parents=True, exist_ok=True)
        mapping[bind.target] = str(bind.source)
        if bind.name:
            env[volume_env_name(bind.name)] = str(bind.source)
        if not bind.target.startswith("/"):
            link = sandbox / bind.target
            if not link.exists() and not link.is_symlink():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(bind.source)
    if mapping:
        env["KOLLA_SIM_VOLUMES"] = json.dumps(mapping, sort_keys=True)
    return env
