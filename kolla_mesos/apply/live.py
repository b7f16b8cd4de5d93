"""Read the live state of a deployment (ZooKeeper, Marathon, Chronos); reads only."""

from __future__ import annotations

import json
from typing import Any

from kolla_mesos import errors, zkpaths
from kolla_mesos.apply.clients import Clients
from kolla_mesos.plan import payloads
from kolla_mesos.plan.diff import LiveState
from kolla_mesos.plan.model import Plan


def job_prefix(deployment_id: str) -> str:
    """Chronos ``description`` prefix of this deployment's jobs."""
    return f"{payloads.JOB_DESCRIPTION_PREFIX}:{deployment_id}:"


def read_live(clients: Clients, plan: Plan) -> LiveState:
    """Snapshot of what is deployed for ``plan``'s deployment."""
    generation = clients.store.current_generation()
    nodes: dict[str, bytes] = {}
    manifest: dict[str, Any] | None = None
    if generation is not None:
        nodes = dict(clients.store.read_generation(generation))
        raw = nodes.pop(zkpaths.MANIFEST, None)
        if raw is not None:
            try:
                manifest = json.loads(raw)
            except ValueError as exc:
                raise errors.ZookeeperError(
                    f"The manifest of generation {generation} is not valid JSON."
                ) from exc
    apps = clients.apps_in_group(plan.group_id)
    prefix = job_prefix(plan.deployment_id)
    jobs = {str(job["name"]): job for job in clients.chronos.list_jobs()
            if str(job.get("description", "")).startswith(prefix)}
    return LiveState(generation=generation, nodes=nodes, apps=apps, jobs=jobs,
                     manifest=manifest)
