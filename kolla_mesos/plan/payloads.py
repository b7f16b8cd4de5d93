"""Pure builders of the payloads sent for a service: Marathon app and Chronos job JSON.

("task" means a Mesos task; this module builds what Marathon and Chronos receive.)

Nothing that changes when another service changes (such as the generation number) goes into
an app: Marathon restarts an app whenever its definition changes.  The app's
``KOLLA_CONFIG_HASH`` label covers the app JSON (without ``instances``), the definition
(without per-command input hashes) and, for services whose reload policy is ``restart``,
their rendered files.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from kolla_mesos.definition import DAEMON, Command, Definition
from kolla_mesos.plan import strategy
from kolla_mesos.plan.model import RenderedFile, canonical_json, sha256

LABEL_DEPLOYMENT = "KOLLA_DEPLOYMENT"
LABEL_PROJECT = "KOLLA_PROJECT"
LABEL_SERVICE = "KOLLA_SERVICE"
LABEL_CONFIG_HASH = "KOLLA_CONFIG_HASH"
JOB_DESCRIPTION_PREFIX = "kolla-mesos"

DEFAULT_HEALTH_GRACE = 300
DEFAULT_UPGRADE = {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.0}


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``: mappings merge, everything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def group_id(root: str, deployment_id: str) -> str:
    """Marathon group of a deployment: ``<root>/<deployment>``."""
    return f"{root.rstrip('/')}/{deployment_id}"


def app_id(root: str, deployment_id: str, project: str, service: str) -> str:
    """Marathon app id of a service."""
    return f"{group_id(root, deployment_id)}/{project}/{service}"


def task_env(deployment_id: str, project: str, service: str, zk_hosts: str, zk_root: str,
             credentials_path: str) -> dict[str, str]:
    """Environment every task of the service gets (never a secret: only a file path)."""
    return {
        "KOLLA_DEPLOYMENT": deployment_id,
        "KOLLA_PROJECT": project,
        "KOLLA_SERVICE": service,
        "KOLLA_ZK_HOSTS": zk_hosts,
        "KOLLA_ZK_ROOT": zk_root,
        "KOLLA_ZK_CREDENTIALS_FILE": credentials_path,
    }


def host_pattern(hosts: Sequence[str]) -> str:
    """A Marathon/Chronos ``LIKE`` regex matching exactly these host names."""
    return "|".join(_regex_escape(h) for h in hosts)


def host_constraints(hosts: Sequence[str]) -> list[list[str]]:
    """Constraints keeping a service on its topology hosts, one instance per host."""
    return [["hostname", "LIKE", host_pattern(hosts)], ["hostname", "UNIQUE"]]


def _regex_escape(host: str) -> str:
    return "".join("\\" + ch if ch in ".^$*+?()[]{}|\\" else ch for ch in host)


def definition_digest(definition: Definition) -> str:
    """Hash of the definition without per-command input hashes (those cover files)."""
    raw = definition.to_json()
    for cmd in [*raw["commands"].values(), *([raw["daemon"]] if raw["daemon"] else [])]:
        cmd.pop("inputs_hash", None)
    return sha256(canonical_json(raw))


def config_hash(app_without_hash: Mapping[str, Any] | None, definition: Definition,
                files: Sequence[RenderedFile],
                job_bodies: Sequence[Mapping[str, Any]] = ()) -> str:
    """The service's config hash: the one formula (see module docstring).

    A service with a daemon hashes its app JSON (without ``instances``), its definition and,
    for reload policy ``restart``, its files; the result is the app's ``KOLLA_CONFIG_HASH``
    label.  A job-only service (``app_without_hash`` None) hashes its job bodies, whose names
    already cover each command's inputs, and its stored definition.
    """
    if app_without_hash is None:
        return sha256(canonical_json(list(job_bodies)) + definition.dumps())
    app = {k: v for k, v in app_without_hash.items() if k != "instances"}
    parts = [canonical_json(app), definition_digest(definition).encode()]
    if definition.reload == "restart":
        parts.extend(f"{f.name}:{f.digest()}".encode() for f in files)
    return sha256(b"\n".join(parts))


def _health_checks(definition: Definition) -> list[dict[str, Any]]:
    """Default health check: the daemon's TCP readiness port, else the runner's membership."""
    ready = definition.daemon.ready if definition.daemon else None
    if ready and "tcp" in ready:
        return [{"protocol": "TCP", "port": int(ready["tcp"]),
                 "gracePeriodSeconds": DEFAULT_HEALTH_GRACE, "intervalSeconds": 5,
                 "timeoutSeconds": 5, "maxConsecutiveFailures": 3}]
    return []


def build_app(*, root: str, deployment_id: str, definition: Definition, hosts: Sequence[str],
              section: Mapping[str, Any], env: Mapping[str, str], runner_command: Sequence[str],
              files: Sequence[RenderedFile], dependencies: Sequence[str]) -> dict[str, Any]:
    """The Marathon app for a service with a daemon (``section`` is the deployment file's
    ``app`` mapping, merged over the generated defaults)."""
    project, service = definition.project, definition.service
    base: dict[str, Any] = {
        "id": app_id(root, deployment_id, project, service),
        "args": list(runner_command),
        "instances": len(hosts),
        "cpus": 0.1,
        "mem": 128.0,
        "disk": 0.0,
        "env": dict(env),
        "labels": {
            LABEL_DEPLOYMENT: deployment_id,
            LABEL_PROJECT: project,
            LABEL_SERVICE: service,
        },
        "constraints": host_constraints(hosts),
        "healthChecks": _health_checks(definition),
        "upgradeStrategy": dict(DEFAULT_UPGRADE),
        "backoffSeconds": 1,
        "backoffFactor": 1.5,
        "maxLaunchDelaySeconds": 60,
        "portDefinitions": [],
        "requirePorts": False,
    }
    if definition.image:
        base["container"] = {"type": "DOCKER", "docker": {"image": definition.image},
                             "volumes": []}
        base["networks"] = [{"mode": "host"}]
    if dependencies:
        base["dependencies"] = sorted(dependencies)
    app = deep_merge(base, section)
    app["upgradeStrategy"] = strategy.for_app(app, hosts, service, section.get("upgradeStrategy"))
    app["env"] = {**dict(section.get("env") or {}), **dict(env)}
    labels = dict(app.get("labels") or {})
    labels.pop(LABEL_CONFIG_HASH, None)
    app["labels"] = labels
    labels[LABEL_CONFIG_HASH] = config_hash(app, definition, files)
    return app


def job_name(deployment_id: str, service: str, command: str, digest: str) -> str:
    """Chronos job name ``<deployment>-<service>-<command>-<short hash>``."""
    return f"{deployment_id}-{service}-{command}-{digest[:8]}".replace("_", "-")


def build_job(*, deployment_id: str, definition: Definition, command: Command,
              hosts: Sequence[str], section: Mapping[str, Any], env: Mapping[str, str],
              runner_command: Sequence[str]) -> dict[str, Any]:
    """The Chronos job body for one ``job: true`` command (without ``schedule``/``parents``:
    :func:`kolla_mesos.plan.steps.job_submissions` adds them per deploy)."""
    assert command.name != DAEMON
    job_env = {**dict(env), "KOLLA_COMMAND": command.name}
    body: dict[str, Any] = {
        "name": "",
        "description": f"{JOB_DESCRIPTION_PREFIX}:{deployment_id}:{definition.service}:"
                       f"{command.name}",
        "command": runner_command[0],
        "arguments": list(runner_command[1:]),
        "shell": False,
        "owner": "",
        "disabled": False,
        "concurrent": False,
        "retries": 0,
        "cpus": 0.1,
        "mem": 128.0,
        "disk": 64.0,
        "environmentVariables": [{"name": k, "value": v} for k, v in sorted(job_env.items())],
        "constraints": [["hostname", "LIKE", host_pattern(hosts)]],
    }
    if definition.image:
        body["container"] = {"type": "DOCKER", "image": definition.image, "network": "HOST",
                             "volumes": []}
    body = deep_merge(body, section)
    digest = sha256(canonical_json({"inputs": command.inputs_hash, "body": body}))
    body["name"] = job_name(deployment_id, definition.service, command.name, digest)
    return body
