"""Pure comparison of a Plan with the live state (ZooKeeper, Marathon, Chronos).

Deploying twice with no change must make zero writes: the diff decides what the apply step
writes, and an empty diff means nothing is written at all.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from kolla_mesos.plan import payloads
from kolla_mesos.plan.model import ChronosJob, Plan


@dataclasses.dataclass(frozen=True)
class LiveState:
    """What is deployed now (read-only snapshot)."""

    generation: int | None = None
    #: nodes of the current generation, relative to its root, without the manifest
    nodes: Mapping[str, bytes] = dataclasses.field(default_factory=dict)
    #: Marathon apps under the deployment's group, by id
    apps: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    #: Chronos jobs of this deployment, by name
    jobs: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    #: the current generation's manifest (None when there is none)
    manifest: Mapping[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class AppChange:
    """One Marathon app to create, update or remove."""

    app_id: str
    action: str  # create | update | scale | remove
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class JobChange:
    """One Chronos job to create, re-run or remove."""

    name: str
    action: str  # create | rerun | remove
    service: str = ""
    command: str = ""


@dataclasses.dataclass(frozen=True)
class Diff:
    """Everything that differs between a Plan and the live state."""

    zk_added: tuple[str, ...] = ()
    zk_changed: tuple[str, ...] = ()
    zk_removed: tuple[str, ...] = ()
    apps: tuple[AppChange, ...] = ()
    jobs: tuple[JobChange, ...] = ()

    @property
    def zk_dirty(self) -> bool:
        """A new generation must be written."""
        return bool(self.zk_added or self.zk_changed or self.zk_removed)

    @property
    def empty(self) -> bool:
        """Nothing to write anywhere."""
        return not (self.zk_dirty or self.apps or self.jobs)

    def changed_services(self) -> list[str]:
        """Services touched by the diff (from ZooKeeper paths, app ids and jobs)."""
        names = set()
        for path in (*self.zk_added, *self.zk_changed, *self.zk_removed):
            parts = path.split("/")
            if len(parts) > 2 and parts[0] == "services":
                names.add(parts[2])
        names.update(c.app_id.rsplit("/", 1)[-1] for c in self.apps)
        names.update(j.service for j in self.jobs if j.service)
        return sorted(names)

    def rows(self) -> list[tuple[str, str, str]]:
        """(kind, what, action) rows for the CLI."""
        out = [("zookeeper", p, "add") for p in self.zk_added]
        out += [("zookeeper", p, "change") for p in self.zk_changed]
        out += [("zookeeper", p, "remove") for p in self.zk_removed]
        out += [("marathon", c.app_id, c.action + (f" ({c.detail})" if c.detail else ""))
                for c in self.apps]
        out += [("chronos", j.name, j.action) for j in self.jobs]
        return out


def job_succeeded(job: Mapping[str, Any]) -> bool:
    """Chronos: the job's last run succeeded (success newer than any error)."""
    success, error = str(job.get("lastSuccess") or ""), str(job.get("lastError") or "")
    return bool(success) and success > error


def job_failed(job: Mapping[str, Any]) -> bool:
    """Chronos: the job's last run failed (error newer than any success)."""
    success, error = str(job.get("lastSuccess") or ""), str(job.get("lastError") or "")
    return bool(error) and error >= success


def diff_nodes(desired: Mapping[str, bytes], live: Mapping[str, bytes],
               ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(added, changed, removed) node paths."""
    added = tuple(sorted(set(desired) - set(live)))
    removed = tuple(sorted(set(live) - set(desired)))
    changed = tuple(sorted(p for p in set(desired) & set(live) if desired[p] != live[p]))
    return added, changed, removed


def diff_apps(plan: Plan, live_apps: Mapping[str, Mapping[str, Any]]) -> tuple[AppChange, ...]:
    """Apps to create, update (config hash differs), scale or remove."""
    changes = []
    desired = {app["id"]: app for app in plan.apps()}
    for app_id, app in desired.items():
        current = live_apps.get(app_id)
        if current is None:
            changes.append(AppChange(app_id, "create"))
            continue
        want = app["labels"][payloads.LABEL_CONFIG_HASH]
        have = (current.get("labels") or {}).get(payloads.LABEL_CONFIG_HASH)
        if want != have:
            changes.append(AppChange(app_id, "update", "configuration changed"))
        elif current.get("instances") != app.get("instances"):
            changes.append(AppChange(app_id, "scale",
                                     f"{current.get('instances')} -> {app.get('instances')}"))
    for app_id in sorted(set(live_apps) - set(desired)):
        changes.append(AppChange(app_id, "remove"))
    return tuple(changes)


def diff_jobs(jobs: Sequence[ChronosJob], live_jobs: Mapping[str, Mapping[str, Any]],
              ) -> tuple[JobChange, ...]:
    """Jobs to create (new name), re-run (last run failed, or disabled before it succeeded)
    or remove (no longer planned)."""
    changes = []
    names = set()
    for job in jobs:
        names.add(job.name)
        current = live_jobs.get(job.name)
        if current is None:
            changes.append(JobChange(job.name, "create", job.service, job.command))
        elif job_failed(current) or (current.get("disabled") and not job_succeeded(current)):
            # a job 'kolla-mesos stop' disabled before it succeeded runs again
            changes.append(JobChange(job.name, "rerun", job.service, job.command))
    for name in sorted(set(live_jobs) - names):
        changes.append(JobChange(name, "remove"))
    return tuple(changes)


def diff(plan: Plan, live: LiveState) -> Diff:
    """Compare the plan with the live state."""
    added, changed, removed = diff_nodes(plan.zk_nodes(), live.nodes)
    return Diff(zk_added=added, zk_changed=changed, zk_removed=removed,
                apps=diff_apps(plan, live.apps), jobs=diff_jobs(plan.jobs(), live.jobs))


def unified(path: str, old: bytes | None, new: bytes | None, mask: Any = None) -> str:
    """A unified diff of one node's content (``mask`` hides secrets in both sides)."""
    def lines(data: bytes | None) -> list[str]:
        if data is None:
            return []
        text = data.decode(errors="replace")
        if mask is not None:
            text = mask(text)
        return text.splitlines(keepends=True)

    return "".join(difflib.unified_diff(lines(old), lines(new), fromfile=f"live/{path}",
                                        tofile=f"plan/{path}"))
