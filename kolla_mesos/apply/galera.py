"""``kolla-mesos mariadb recovery``: restart a Galera cluster every node of which died.

The decisions (which node, which jobs) are in :mod:`kolla_mesos.plan.galera`; this module
reads the live state, runs the steps and reads the probe jobs' output back from their Mesos
sandboxes.  It holds the deploy lock throughout: no deploy or rollback runs meanwhile.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kolla_mesos import errors
from kolla_mesos.apply import logs
from kolla_mesos.apply.clients import Clients
from kolla_mesos.apply.execute import Executor
from kolla_mesos.apply.progress import Progress
from kolla_mesos.plan import galera
from kolla_mesos.plan import steps as st

SERVICE = "mariadb"
DEFAULT_PROVIDER = "/usr/lib/galera/libgalera_smm.so"


@dataclasses.dataclass(frozen=True)
class RecoveryResult:
    """What a recovery found and did."""

    positions: tuple[galera.Position, ...]
    chosen: galera.Position
    instances: int
    #: hosts whose data gave no position (they rejoin by state transfer)
    unknown: tuple[str, ...] = ()


def _datadir_volume(app: Mapping[str, Any]) -> str:
    params = ((app.get("container") or {}).get("docker") or {}).get("parameters") or []
    for param in params:
        source, _, rest = str(param.get("value", "")).partition(":")
        if param.get("key") == "volume" and rest.split(":")[0].rstrip("/") == galera.DATADIR:
            return source
    raise errors.ConfigError(f"The app {app.get('id')} mounts no volume at {galera.DATADIR}.")


def _provider(clients: Clients, generation: int, project: str) -> str:
    """``wsrep_provider`` of the published galera.cnf (kolla's ``wsrep_driver``)."""
    for rel, data in clients.store.read_generation(generation).items():
        if rel.startswith(f"services/{project}/{SERVICE}/files/galera.cnf"):
            for line in data.decode(errors="replace").splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "wsrep_provider" and value.strip():
                    return value.strip()
    return DEFAULT_PROVIDER


def cluster_down(app: Mapping[str, Any] | None) -> bool:
    """What ``status`` calls "MariaDB cluster down": the app wants nodes, none is healthy,
    and its tasks have failed since its last change (not merely starting)."""
    if not app or not int(app.get("instances") or 0):
        return False
    if int(app.get("tasksHealthy") or 0):
        return False
    failure = (app.get("lastTaskFailure") or {}).get("timestamp")
    changed = (app.get("versionInfo") or {}).get("lastConfigChangeAt") or ""
    return bool(failure) and str(failure) >= str(changed)


def recover(clients: Clients, progress: Progress, timeout: float) -> RecoveryResult:
    """Find the most advanced node, make it start the cluster, bring every node back."""
    store = clients.store
    generation = store.current_generation()
    if generation is None:
        raise errors.ConfigError(f"Deployment {clients.deployment_id!r} has no generation "
                                 "yet: there is no MariaDB to recover.")
    with store.deploy_lock():
        manifest = store.read_manifest(generation)
        info = (manifest.get("services") or {}).get(SERVICE)
        if not info or not info.get("app"):
            raise errors.ConfigError(f"Deployment {clients.deployment_id!r} has no "
                                     f"{SERVICE} app to recover.")
        app_id = str(info["app"])
        hosts = [str(h) for h in info.get("hosts") or []]
        app = clients.marathon.get_app(app_id)
        healthy = int(app.get("tasksHealthy") or 0)
        if healthy:
            raise errors.ConfigError(
                f"MariaDB has {healthy} healthy node(s) of {len(hosts)}: recovery is only for "
                "a cluster every node of which is down (a node that is down alone rejoins "
                "by itself); nothing was changed.")
        image = str(((app.get("container") or {}).get("docker") or {}).get("image") or "")
        volume = _datadir_volume(app)
        provider = _provider(clients, generation, str(info.get("project") or SERVICE))
        group_id = app_id.rsplit("/", 2)[0]
        executor = Executor(clients, progress, timeout)
        probes = [galera.probe_job(clients.deployment_id, h, image, volume, provider)
                  for h in hosts]
        executor.run([st.ScaleApps({app_id: 0}), st.AwaitNoDeployments(group_id),
                      st.RunJobsOnce(tuple(probes))])
        outputs = {host: _job_stdout(clients, str(body["name"]))
                   for host, body in zip(hosts, probes, strict=True)}
        positions, unknown = galera.parse_positions(outputs)
        chosen = galera.choose_bootstrap(positions, hosts)
        progress.note(f"most advanced node: {chosen.host} (seqno {chosen.seqno}); "
                      + ", ".join(f"{p.host}: {p.seqno}" for p in positions.values())
                      + "".join(f", {h}: no position (rejoins by state transfer)"
                                for h in unknown))
        executor.run([st.RunJobsOnce((galera.mark_job(clients.deployment_id, chosen, image,
                                                      volume),)),
                      st.ScaleApps({app_id: len(hosts)}),
                      st.Wait(jobs=(), apps=(app_id,))])
    return RecoveryResult(tuple(positions.values()), chosen, len(hosts), tuple(unknown))


def _job_stdout(clients: Clients, job: str) -> str:
    """The stdout of a finished one-shot job's last run, from its Mesos sandbox."""
    target = logs.Target(SERVICE, "recovery", "job", job)
    sources = logs.find_sources(clients.mesos, [target], "stdout")
    if not sources:
        return ""
    text, _ = logs.read_range(clients.mesos, sources[-1], 0, None)
    return text


def down_sentence(clients: Clients) -> str | None:
    """``status``'s line when the deployment's Galera cluster is down, else None."""
    generation = clients.store.current_generation()
    if generation is None:
        return None
    info = (clients.store.read_manifest(generation).get("services") or {}).get(SERVICE)
    if not info or not info.get("app"):
        return None
    try:
        app = clients.marathon.get_app(str(info["app"]))
    except errors.NotFoundError:
        return None
    if not cluster_down(app):
        return None
    return ("MariaDB cluster down: no node is healthy and they keep failing; run "
            "'kolla-mesos mariadb recovery'.")
