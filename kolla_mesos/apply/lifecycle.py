"""``kolla-mesos stop`` and ``destroy``: read what exists, let plan/steps.py decide, execute.

Both hold the deployment's deploy lock, so neither runs while a deploy or a rollback of the
same deployment does.  Everything they touch is scoped to one deployment: its Marathon group
``<group root>/<id>``, the Chronos jobs whose description is ``kolla-mesos:<id>:...`` and its
ZooKeeper subtree ``<root>/<id>``; another deployment's volumes are never removed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from kolla_mesos import errors
from kolla_mesos.apply.clients import Clients
from kolla_mesos.apply.execute import Executor
from kolla_mesos.apply.progress import Progress
from kolla_mesos.plan import steps as st
from kolla_mesos.plan import volumes
from kolla_mesos.plan.payloads import JOB_DESCRIPTION_PREFIX, host_pattern


def _manifest(clients: Clients) -> tuple[int, dict[str, Any]]:
    generation = clients.store.current_generation()
    if generation is None:
        raise errors.ConfigError(
            f"Deployment {clients.deployment_id!r} has no generation yet (run 'kolla-mesos "
            "deploy' first).")
    return generation, clients.store.read_manifest(generation)


def stop(clients: Clients, group_id: str, services: Sequence[str], progress: Progress,
         timeout: float) -> list[tuple[str, str, str, str]]:
    """Scale the apps of ``services`` (default: every service) to zero and disable their
    jobs; return (service, kind, name, action) rows."""
    _manifest(clients)  # before the lock: taking it creates the deployment's node
    with clients.store.deploy_lock():
        _generation, manifest = _manifest(clients)
        known: Mapping[str, Any] = manifest.get("services") or {}
        unknown = sorted(set(services) - set(known))
        if unknown:
            raise errors.ConfigError(
                f"--service {unknown[0]} is not a service of deployment "
                f"{clients.deployment_id!r} (its services: {', '.join(sorted(known))}).")
        chosen = sorted(services or known)
        live_apps = clients.apps_in_group(group_id)
        live_jobs = {str(j["name"]) for j in clients.chronos.list_jobs()}
        apps: dict[str, int] = {}
        jobs: list[str] = []
        rows: list[tuple[str, str, str, str]] = []
        for name in chosen:
            info = known[name]
            app_id = info.get("app")
            if app_id and app_id in live_apps:
                count = int(live_apps[app_id].get("instances") or 0)
                apps[app_id] = count
                rows.append((name, "app", app_id,
                             f"scaled {count} -> 0" if count else "already stopped"))
            for job in sorted((info.get("jobs") or {}).values()):
                if job in live_jobs:
                    jobs.append(job)
                    rows.append((name, "job", job, "disabled"))
        Executor(clients, progress, timeout).run(st.stop_steps(group_id, apps, jobs))
    return rows


@dataclasses.dataclass(frozen=True)
class Inventory:
    """What one deployment has on the cluster (what ``destroy`` removes)."""

    zk_exists: bool
    group_apps: tuple[str, ...] | None  # None: no Marathon group
    jobs: tuple[str, ...]
    #: host -> named volumes to remove; host -> volume -> deployments that keep it
    volumes: Mapping[str, list[str]]
    kept_volumes: Mapping[str, Mapping[str, list[str]]]
    image: str | None
    group_id: str = ""
    zk_path: str = ""

    @property
    def empty(self) -> bool:
        """Nothing of the deployment exists."""
        return not self.zk_exists and self.group_apps is None and not self.jobs

    def rows(self, include_volumes: bool, done: bool) -> list[tuple[str, str, str]]:
        """(kind, name, action) rows: what destroy removes (or removed)."""
        verb = "removed" if done else "would remove"
        out: list[tuple[str, str, str]] = []
        if self.group_apps is not None:
            out.append(("marathon group", self.group_id,
                        f"{verb} ({len(self.group_apps)} apps)"))
            out.extend(("marathon app", app, verb) for app in self.group_apps)
        out.extend(("chronos job", job, verb) for job in self.jobs)
        if self.zk_exists:
            out.append(("zookeeper", self.zk_path, verb + " (the whole subtree)"))
        for host, names in sorted(self.volumes.items()):
            out.extend(("volume", f"{host}:{name}",
                        verb if include_volumes else "kept (no --include-volumes)")
                       for name in names)
        for host, kept in sorted(self.kept_volumes.items()):
            out.extend(("volume", f"{host}:{name}", f"kept: also used by {', '.join(users)}")
                       for name, users in sorted(kept.items()))
        return out


def inventory(clients: Clients, group_id: str) -> Inventory:
    """Read what the deployment owns in ZooKeeper, Marathon and Chronos."""
    store = clients.store
    zk_exists = store.metadata() is not None
    try:
        group = clients.marathon.get_group(group_id)
        apps: tuple[str, ...] | None = tuple(sorted(str(a["id"]) for a in _apps_of(group)))
    except errors.NotFoundError:
        apps = None
    prefix = f"{JOB_DESCRIPTION_PREFIX}:{clients.deployment_id}:"
    jobs = tuple(sorted(str(j["name"]) for j in clients.chronos.list_jobs()
                        if str(j.get("description", "")).startswith(prefix)))
    manifest: dict[str, Any] = {}
    if zk_exists and store.current_generation() is not None:
        _gen, manifest = _manifest(clients)
    mine = volumes.deployment_volumes(manifest)
    others: dict[str, dict[str, set[str]]] = {}
    for name, theirs in store.sibling_manifests().items():
        # a deployment we cannot read might use any volume: keep them all
        others[name] = volumes.deployment_volumes(theirs) if theirs is not None else mine
    remove, kept = volumes.volumes_to_remove(mine, others)
    return Inventory(zk_exists, apps, jobs, remove, kept, volumes.first_image(manifest),
                     group_id, store.path)


def _apps_of(group: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = list(group.get("apps") or [])
    for sub in group.get("groups") or []:
        found.extend(_apps_of(sub))
    return found


def missing_sentence(clients: Clients, group_id: str) -> str:
    """The one sentence for a destroy of a deployment that does not exist."""
    names = [d.name for d in clients.store.deployments()]
    return (f"Deployment {clients.deployment_id!r} does not exist: no ZooKeeper node "
            f"{clients.store.path}, no Marathon group {group_id} and no Chronos job of it "
            f"(deployments under {clients.store.root}: {', '.join(names) or 'none'}).")


def destroy(clients: Clients, group_id: str, include_volumes: bool, progress: Progress,
            timeout: float) -> Inventory:
    """Remove the deployment (see :func:`kolla_mesos.plan.steps.destroy_steps`)."""
    store = clients.store
    # before the lock: taking it creates the deployment's node
    if inventory(clients, group_id).empty:
        raise errors.ConfigError(missing_sentence(clients, group_id))
    with store.deploy_lock():
        found = inventory(clients, group_id)
        wipe: list[dict[str, Any]] = []
        if include_volumes and found.volumes and found.image:
            wipe = [volumes.wipe_job(clients.deployment_id, host, names, found.image,
                                     host_pattern([host]))
                    for host, names in sorted(found.volumes.items())]
        # the lock lives in the subtree: it exists now whatever existed before
        steps = st.destroy_steps(group_id, found.group_apps is not None, found.jobs, wipe,
                                 zk_exists=True)
        Executor(clients, progress, timeout).run(steps)
    store.delete_deployment_node()
    return found
