"""``kolla-mesos deployment export`` and ``import``: the deployment's ZooKeeper state in one
file and back (the document itself: :mod:`kolla_mesos.plan.export`).

Import is for a ZooKeeper that lost the deployment (a new ensemble, a wiped subtree): it
refuses a ZooKeeper that still holds it, so it can never overwrite a newer generation with an
older one.  Everything is written under the deploy lock, generations before ``current``
(switched last, like a deploy), so a runner never sees a half-imported deployment.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pathlib
from collections.abc import Callable

from kolla_mesos import errors, zkpaths
from kolla_mesos.clients.zookeeper import Store
from kolla_mesos.fileio import atomic_write
from kolla_mesos.plan import export
from kolla_mesos.plan.model import Plan, canonical_json
from kolla_mesos.plan.steps import generation_nodes


@dataclasses.dataclass(frozen=True)
class ImportResult:
    """What an import wrote."""

    current: int
    generations: tuple[int, ...]
    skipped: tuple[int, ...]
    status_records: int
    writes: int


def export_deployment(store: Store, include_secrets: bool) -> bytes:
    """The deployment's export document (bytes); nothing is written to ZooKeeper."""
    metadata = store.metadata()
    current = store.current_generation()
    if metadata is None or current is None:
        raise errors.ConfigError(f"Deployment {store.deployment_id!r} does not exist under "
                                 f"{store.root} (nothing to export).")
    numbers = store.list_generations()
    manifests = {n: store.read_manifest(n) for n in numbers}
    nodes = {n: store.read_generation(n) for n in numbers} if include_secrets else None
    document = export.build(
        deployment=store.deployment_id,
        exported_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        metadata=metadata, current=current, manifests=manifests, nodes=nodes,
        status=store.status_nodes())
    return export.dumps(document)


def write_private(path: pathlib.Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 from the first byte (it may hold secrets),
    atomically: a failed export never leaves half a file under the name."""
    atomic_write(path, data, 0o600)


def import_deployment(store: Store, document: export.Export,
                      render: Callable[[], Plan]) -> ImportResult:
    """Write an export into a ZooKeeper that does not hold the deployment.

    With secrets, every exported generation is written as it was.  Without them, only the
    current generation can be rebuilt: ``render`` renders it from the configuration, and it
    must give every service the exported config hash.
    """
    if document.deployment != store.deployment_id:
        raise errors.ConfigError(
            f"{document.source} is an export of deployment {document.deployment!r}, not of "
            f"{store.deployment_id!r} ([kolla] deployment_id or --deployment-id).")
    if store.holds_deployment():
        raise errors.AlreadyExists(
            f"ZooKeeper already holds deployment {store.deployment_id!r} under {store.path}: "
            "import only restores a lost deployment; nothing was changed.")
    if document.secrets:
        chosen = {n: document.generation_nodes(n) for n in sorted(document.nodes)}
    else:
        chosen = {document.current: _rendered_current(document, render())}
    skipped = tuple(sorted(set(document.manifests) - set(chosen)))
    with store.deploy_lock():
        if store.holds_deployment():  # (a deployer that started meanwhile)
            raise errors.AlreadyExists(
                f"ZooKeeper already holds deployment {store.deployment_id!r}; nothing was "
                "changed.")
        store.ensure_deployment(document.metadata)
        for number, nodes in chosen.items():
            index = json.loads(nodes[zkpaths.INDEX])
            store.import_generation(number, nodes, export.readers(index))
        store.import_status(document.status)
        store.switch_current(document.current, expected=None)
    return ImportResult(document.current, tuple(chosen), skipped, len(document.status),
                        store.writes)


def _rendered_current(document: export.Export, plan: Plan) -> dict[str, bytes]:
    """The current generation rebuilt from the configuration, with the exported manifest."""
    manifest = document.manifests[document.current]
    created_by = str(manifest.get("created_by", ""))
    rendered = generation_nodes(plan, created_by)
    differ = export.differing_services(manifest, plan.manifest(created_by))
    if differ:
        raise errors.ConfigError(
            f"This configuration does not reproduce generation {document.current} of "
            f"{document.source} ({', '.join(differ)} differ: another passwords.yml, "
            "globals.yml, topology or -e value?); import an export made with "
            "--include-secrets, or fix the configuration.")
    rendered[zkpaths.MANIFEST] = canonical_json(manifest)
    return rendered
