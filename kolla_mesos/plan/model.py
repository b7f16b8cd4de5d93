"""The Plan: a pure, deterministic value describing the desired state of a deployment.

A plan holds, for every enabled service, its stored definition, its rendered files (one
common variant plus per-host variants where they differ), its Marathon app JSON (if it has a
daemon) and its Chronos jobs (one per ``job: true`` command).  No clock, no random values, no
I/O: building it twice from the same inputs gives byte-identical output
(:meth:`Plan.zk_nodes`, :meth:`Plan.fingerprint`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from kolla_mesos import zkpaths
from kolla_mesos.definition import Definition


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no whitespace: equal values give equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclasses.dataclass(frozen=True)
class RenderedFile:
    """One rendered file: the common content and the hosts whose content differs."""

    name: str
    content: bytes
    host_variants: tuple[tuple[str, bytes], ...] = ()

    def for_host(self, host: str) -> bytes:
        """Content the runner on ``host`` will write."""
        return dict(self.host_variants).get(host, self.content)

    def digest(self) -> str:
        """Hash over every variant (stable order)."""
        h = hashlib.sha256(self.content)
        for host, content in self.host_variants:
            h.update(b"\0" + host.encode() + b"\0" + content)
        return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class ChronosJob:
    """A Chronos one-shot job for one command of a service."""

    service: str
    command: str
    name: str
    body: Mapping[str, Any]
    #: names of the commands (``service/command``) this job depends on that are jobs too
    job_dependencies: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ServicePlan:
    """Everything the deployer will publish for one service."""

    project: str
    service: str
    hosts: tuple[str, ...]
    definition: Definition
    files: tuple[RenderedFile, ...]
    app: Mapping[str, Any] | None
    jobs: tuple[ChronosJob, ...]
    config_hash: str

    @property
    def key(self) -> str:
        """``project/service``."""
        return f"{self.project}/{self.service}"

    def zk_nodes(self) -> dict[str, bytes]:
        """Nodes of this service, relative to the generation root."""
        gen = ""
        nodes = {zkpaths.definition(gen, self.project, self.service).lstrip("/"):
                 self.definition.dumps()}
        for f in self.files:
            nodes[zkpaths.file(gen, self.project, self.service, f.name).lstrip("/")] = f.content
            for host, content in f.host_variants:
                path = zkpaths.host_file(gen, self.project, self.service, f.name, host)
                nodes[path.lstrip("/")] = content
        return nodes


@dataclasses.dataclass(frozen=True)
class Plan:
    """The desired state of a whole deployment."""

    deployment_id: str
    profile: str
    services: tuple[ServicePlan, ...]
    group_id: str
    tool_version: str

    def service(self, name: str) -> ServicePlan:
        """The service plan called ``name``."""
        for svc in self.services:
            if svc.service == name:
                return svc
        raise KeyError(name)

    def zk_nodes(self) -> dict[str, bytes]:
        """Every node of the generation except the manifest, relative to its root."""
        nodes: dict[str, bytes] = {zkpaths.INDEX: canonical_json(self.index())}
        for svc in self.services:
            nodes.update(svc.zk_nodes())
        return dict(sorted(nodes.items()))

    def index(self) -> dict[str, Any]:
        """The generation's ``index`` node: per service, its hosts and dependency summary.

        Readable by every runner (a service's own subtree is not); the hosts are in it so
        that a change of who may read a service makes a new generation with new ACLs.
        """
        return {svc.service: {**svc.definition.summary_json(), "hosts": list(svc.hosts)}
                for svc in self.services}

    def readers(self) -> dict[str, tuple[str, ...]]:
        """Service subtree (relative to the generation) -> hosts whose runners may read it."""
        return {zkpaths.service("", svc.project, svc.service).lstrip("/"): svc.hosts
                for svc in self.services}

    def hosts(self) -> list[str]:
        """Every host that runs a task of this plan."""
        return sorted({host for svc in self.services for host in svc.hosts})

    def manifest(self, created_by: str) -> dict[str, Any]:
        """The generation manifest: services, hashes, apps and jobs (used for rollback)."""
        return {
            "deployment": self.deployment_id,
            "profile": self.profile,
            "tool_version": self.tool_version,
            "created_by": created_by,
            "group": self.group_json(),
            "services": {
                svc.service: {
                    "project": svc.project,
                    "config_hash": svc.config_hash,
                    "hosts": list(svc.hosts),
                    "app": svc.app["id"] if svc.app else None,
                    "jobs": {job.command: job.name for job in svc.jobs},
                }
                for svc in self.services
            },
            "jobs": [dict(job.body) for svc in self.services for job in svc.jobs],
        }

    def apps(self) -> list[Mapping[str, Any]]:
        """Every Marathon app of the plan, in service order."""
        return [svc.app for svc in self.services if svc.app is not None]

    def jobs(self) -> list[ChronosJob]:
        """Every Chronos job of the plan."""
        return [job for svc in self.services for job in svc.jobs]

    def group_json(self) -> dict[str, Any]:
        """The Marathon group PUT body for the whole deployment."""
        return {"id": self.group_id, "apps": [dict(app) for app in self.apps()]}

    def fingerprint(self) -> str:
        """A hash over everything the plan would publish (ZK nodes, apps, jobs)."""
        h = hashlib.sha256()
        for path, data in self.zk_nodes().items():
            h.update(path.encode() + b"\0" + sha256(data).encode() + b"\n")
        h.update(canonical_json(self.group_json()))
        h.update(canonical_json([dict(j.body) for j in self.jobs()]))
        return h.hexdigest()
