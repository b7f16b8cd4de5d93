"""Roll a deployment back to an earlier generation (config in ZooKeeper + Marathon apps)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from kolla_mesos import errors, zkpaths
from kolla_mesos.apply.clients import Clients


def rollback(clients: Clients, deployment_id: str, to: int | None) -> tuple[int, int, int] | None:
    """Switch ``current`` to ``to`` (default: the generation before current) and PUT that
    generation's Marathon group; return (from, to, apps) or None if there is no target.

    One-shot jobs (database migrations) are not undone: see docs/upgrade.md.
    """
    store = clients.store
    with store.deploy_lock():
        current = store.current_generation()
        generations = store.list_generations()
        if to is None:
            older = [g for g in generations if current is None or g < current]
            if not older:
                return None
            to = older[-1]
        if to not in generations:
            raise errors.ConfigError(
                f"Generation {to} does not exist (available: "
                f"{', '.join(map(str, generations)) or 'none'})."
            )
        gen_path = zkpaths.generation(store.root, deployment_id, to)
        data, _ = store.client.get(zkpaths.manifest(gen_path))
        manifest = json.loads(data)
        store.switch_current(to, expected=current)
        group = manifest.get("group")
        apps = 0
        if isinstance(group, Mapping):
            clients.marathon.put_group(dict(group), force=True)
            apps = len(group.get("apps", []))
        return (current if current is not None else 0, to, apps)
