"""Pure: which Docker named volumes a deployment's apps and jobs use, on which hosts.

A named volume is a ``container.volumes[]`` entry whose ``hostPath`` does not start with
``/`` (or whose ``external.name`` is set), or a ``docker.parameters`` ``{"key": "volume",
"value": "name:/path[:mode]"}`` whose source does not start with ``/``: the forms
docs/deployment-files.md allows.  Volumes are per agent, as Docker's are, so each belongs to
the hosts of the service that mounts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Chronos job description ``kolla-mesos:<deployment>:<service>:<command>``
#: (kolla_mesos.plan.payloads.build_job).
_DESCRIPTION_PARTS = 4


def volume_names(container: Mapping[str, Any] | None) -> set[str]:
    """Named volumes of one app's or job's ``container`` (Marathon or Chronos form)."""
    if not container:
        return set()
    names: set[str] = set()
    docker = container.get("docker") or {}
    for volume in (container.get("volumes") or []) + (docker.get("volumes") or []):
        external = (volume.get("external") or {}).get("name")
        host_path = str(volume.get("hostPath") or "")
        if external:
            names.add(str(external))
        elif host_path and not host_path.startswith("/"):
            names.add(host_path)
    for param in (docker.get("parameters") or []) + (container.get("parameters") or []):
        if param.get("key") == "volume":
            source = str(param.get("value", "")).split(":", 1)[0]
            if source and not source.startswith("/"):
                names.add(source)
    return names


def deployment_volumes(manifest: Mapping[str, Any]) -> dict[str, set[str]]:
    """host -> named volumes the manifest's apps and jobs mount there."""
    services: Mapping[str, Any] = manifest.get("services") or {}
    by_app = {str(info.get("app")): name for name, info in services.items() if info.get("app")}
    found: dict[str, set[str]] = {}

    def add(service: str | None, names: Iterable[str]) -> None:
        names = set(names)
        if service is None or not names:
            return
        for host in (services.get(service) or {}).get("hosts") or []:
            found.setdefault(str(host), set()).update(names)

    for app in (manifest.get("group") or {}).get("apps") or []:
        add(by_app.get(str(app.get("id"))), volume_names(app.get("container")))
    for job in manifest.get("jobs") or []:
        parts = str(job.get("description", "")).split(":")
        service = parts[2] if len(parts) == _DESCRIPTION_PARTS else None
        add(service, volume_names(job.get("container")))
    return found


def volumes_to_remove(mine: Mapping[str, set[str]],
                      others: Mapping[str, Mapping[str, set[str]]],
                      ) -> tuple[dict[str, list[str]], dict[str, dict[str, list[str]]]]:
    """(host -> volumes to remove, host -> volume -> other deployments that keep it).

    A volume another deployment mounts on the same host is never removed: the two would
    share its data (named volumes are not per deployment).
    """
    remove: dict[str, list[str]] = {}
    kept: dict[str, dict[str, list[str]]] = {}
    for host, names in sorted(mine.items()):
        for name in sorted(names):
            users = sorted(dep for dep, vols in others.items() if name in vols.get(host, set()))
            if users:
                kept.setdefault(host, {})[name] = users
            else:
                remove.setdefault(host, []).append(name)
    return remove, kept


#: Where the wipe job mounts each volume (a real Docker container; the simulator without
#: isolation passes the directory in ``KOLLA_VOLUME_<NAME>`` instead).
MOUNT_BASE = "/kolla-volumes"


def env_name(volume: str) -> str:
    """``KOLLA_VOLUME_<NAME>``: the name upper-cased, other characters ``_``."""
    return "KOLLA_VOLUME_" + "".join(ch if ch.isalnum() else "_" for ch in volume.upper())


def wipe_job_name(deployment_id: str, host: str) -> str:
    """Chronos name of the job that removes a deployment's volumes on one host."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in host)
    return f"{deployment_id}-destroy-volumes-{safe}"


def wipe_job(deployment_id: str, host: str, names: Iterable[str], image: str,
             host_pattern: str) -> dict[str, Any]:
    """A one-shot Chronos job, pinned to ``host``, that empties each named volume.

    The job mounts every volume and deletes its content: it needs nothing on the agent but
    the container runtime, so it works on a real cluster.  (Removing the then empty Docker
    volume object itself would need the Docker socket inside the job; an empty volume is
    what a new deployment starts from anyway.)
    """
    names = sorted(names)
    dirs = " ".join(f'"${{{env_name(n)}:-{MOUNT_BASE}/{n}}}"' for n in names)
    script = (f'set -e; for d in {dirs}; do find "$d" -mindepth 1 -delete; '
              f'echo "emptied $d"; done')
    return {
        "name": wipe_job_name(deployment_id, host),
        "description": f"kolla-mesos:{deployment_id}:destroy-volumes:{host}",
        "command": script,
        "shell": True,
        "schedule": "R1//PT24H",
        "owner": "",
        "disabled": False,
        "concurrent": False,
        "retries": 0,
        "cpus": 0.1,
        "mem": 32.0,
        "disk": 0.0,
        "constraints": [["hostname", "LIKE", host_pattern]],
        "container": {"type": "DOCKER", "image": image, "network": "HOST",
                      "volumes": [{"containerPath": f"{MOUNT_BASE}/{n}", "hostPath": n,
                                   "mode": "RW"} for n in names]},
    }


def first_image(manifest: Mapping[str, Any]) -> str | None:
    """An image of the deployment (the wipe job runs in it: it has ``sh`` and ``find``)."""
    for app in (manifest.get("group") or {}).get("apps") or []:
        image = ((app.get("container") or {}).get("docker") or {}).get("image")
        if image:
            return str(image)
    for job in manifest.get("jobs") or []:
        image = (job.get("container") or {}).get("image")
        if image:
            return str(image)
    return None
