"""The deployment export file: what ``kolla-mesos deployment export`` writes and ``import``
reads (pure: building, parsing and checking the document; the I/O is in apply/state.py).

A lost ZooKeeper loses the deployment's memory, not the cloud: Marathon and Chronos keep
running the apps and jobs, but without the generations a ``deploy`` would see nothing
deployed and submit every job again.  The export keeps that memory in one JSON file::

    {"format": "kolla-mesos-export", "version": 1,
     "deployment": "<id>", "exported_at": "<UTC ISO time>", "secrets": true|false,
     "metadata": {...},                          the deployment node (without runner ACLs)
     "current": <n>,
     "generations": {"<n>": {"manifest": {...},  always (it holds no secret)
                             "nodes": {"<relative path>": "<base64>"}}},   with secrets only
     "status": {"<relative path>": "<base64>"}}  run-once records (no secret)

Rendered files hold passwords, so the nodes of generations are exported only with
``--include-secrets``.  Without them the import re-renders the current generation from the
configuration (passwords.yml included) and accepts it only if every service's config hash is
the exported one: a configuration that would publish something else is refused instead of
being imported under the old generation's number.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from kolla_mesos import errors, zkpaths
from kolla_mesos.plan.model import canonical_json

FORMAT = "kolla-mesos-export"
VERSION = 1


def _b64(nodes: Mapping[str, bytes]) -> dict[str, str]:
    return {rel: base64.b64encode(data).decode() for rel, data in sorted(nodes.items())}


def build(*, deployment: str, exported_at: str, metadata: Mapping[str, Any],
          current: int, manifests: Mapping[int, Mapping[str, Any]],
          nodes: Mapping[int, Mapping[str, bytes]] | None,
          status: Mapping[str, bytes]) -> dict[str, Any]:
    """The export document.  ``nodes`` is None without ``--include-secrets``."""
    generations: dict[str, Any] = {}
    for number, manifest in sorted(manifests.items()):
        entry: dict[str, Any] = {"manifest": dict(manifest)}
        if nodes is not None:
            entry["nodes"] = _b64({rel: data for rel, data in nodes[number].items()
                                   if rel != zkpaths.MANIFEST})
        generations[str(number)] = entry
    meta = {k: v for k, v in metadata.items() if k != "runner_acl"}
    return {"format": FORMAT, "version": VERSION, "deployment": deployment,
            "exported_at": exported_at, "secrets": nodes is not None, "metadata": meta,
            "current": current, "generations": generations, "status": _b64(status)}


def dumps(document: Mapping[str, Any]) -> bytes:
    """Canonical bytes of the document."""
    return json.dumps(document, sort_keys=True, indent=1).encode() + b"\n"


class Export:
    """A parsed, checked export document."""

    def __init__(self, document: Mapping[str, Any], source: str) -> None:
        self.source = source
        self.deployment = str(document["deployment"])
        self.secrets = bool(document["secrets"])
        self.metadata: dict[str, Any] = dict(document["metadata"])
        self.current = int(document["current"])
        self.manifests: dict[int, dict[str, Any]] = {}
        self.nodes: dict[int, dict[str, bytes]] = {}
        for key, entry in document["generations"].items():
            number = int(key)
            self.manifests[number] = dict(entry["manifest"])
            if self.secrets:
                self.nodes[number] = {rel: base64.b64decode(data, validate=True)
                                      for rel, data in entry["nodes"].items()}
        self.status = {rel: base64.b64decode(data, validate=True)
                       for rel, data in document["status"].items()}

    def generation_nodes(self, number: int) -> dict[str, bytes]:
        """Every node of an exported generation, the manifest included (in the canonical
        JSON a deploy writes)."""
        nodes = dict(self.nodes[number])
        nodes[zkpaths.MANIFEST] = canonical_json(self.manifests[number])
        return nodes


def parse(raw: bytes, source: str) -> Export:
    """Parse an export file; bad input is one sentence naming the file and the field."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.ConfigError(f"{source} is not a kolla-mesos export (not JSON: "
                                 f"{exc.__class__.__name__}).") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise errors.ConfigError(f"{source} is not a kolla-mesos export (its 'format' is not "
                                 f"{FORMAT!r}).")
    if document.get("version") != VERSION:
        raise errors.ConfigError(f"{source} is an export of version {document.get('version')!r}"
                                 f"; this kolla-mesos reads version {VERSION}.")
    for field, kind in (("deployment", str), ("secrets", bool), ("metadata", dict),
                        ("current", int), ("generations", dict), ("status", dict)):
        if not isinstance(document.get(field), kind):
            raise errors.ConfigError(f"{source}: the field {field!r} is missing or not a "
                                     f"{kind.__name__}.")
    if str(document["current"]) not in document["generations"]:
        raise errors.ConfigError(f"{source}: 'current' is {document['current']}, which is not "
                                 "one of its generations.")
    for key, entry in document["generations"].items():
        where = f"{source}: generations.{key}"
        if not key.isdigit() or not isinstance(entry, dict) or \
                not isinstance(entry.get("manifest"), dict):
            raise errors.ConfigError(f"{where} is not a generation with a manifest.")
        if document["secrets"] and not isinstance(entry.get("nodes"), dict):
            raise errors.ConfigError(f"{where} has no 'nodes' though the export says it "
                                     "includes secrets.")
    try:
        return Export(document, source)
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise errors.ConfigError(f"{source}: a node's data is not base64 ({exc}).") from exc


def readers(index: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Service subtree -> hosts whose runners may read it, from a generation's ``index``
    node (what :meth:`Plan.readers` gave the deploy that wrote it)."""
    out: dict[str, tuple[str, ...]] = {}
    for service, entry in index.items():
        rel = zkpaths.service("", str(entry["project"]), service).lstrip("/")
        out[rel] = tuple(entry["hosts"])
    return out


def differing_services(exported: Mapping[str, Any], rendered: Mapping[str, Any]) -> list[str]:
    """Services whose config hash (or presence) differs between two manifests."""
    ours = exported.get("services", {})
    theirs = rendered.get("services", {})
    return sorted(name for name in set(ours) | set(theirs)
                  if (ours.get(name) or {}).get("config_hash") !=
                  (theirs.get(name) or {}).get("config_hash"))
