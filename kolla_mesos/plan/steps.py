"""The ordered steps of a deploy and of a rollback, decided purely from a plan and a diff.

``apply/`` executes these steps one after another and decides nothing itself (as paasta's
``bounce_lib`` decides what ``setup_marathon_job`` does).  Every "why this order" lives here:

* **Publish before anything runs.**  Runners read their files from the generation that
  ``current`` names, so the generation is complete and switched before a job or an app that
  would read it exists.  The switch is the commit point: every failure after it restores the
  previous generation (:func:`restore_steps`).
* **Chronos parents are created disabled, then their children, then the parents enabled.**
  Chronos rejects a dependent job whose parents do not exist yet, and starts a dependent job
  only when a parent succeeds *after* the child exists: a parent created enabled could finish
  before its child is known, and the child would never run.
* **A job whose parent jobs all (re)start in this deploy is a Chronos dependent job**; any
  other job is scheduled now (``R1``), and its runner waits for the rest of its dependencies
  through ZooKeeper.
* **Jobs before the Marathon group.**  Apps wait for their jobs through ZooKeeper anyway, so
  submitting the jobs first only shortens the wait; the group PUT is one Marathon deployment.
* **Obsolete jobs and old generations are removed only after success**, so that a rollback
  still finds the previous generation and its jobs.
* **Restore**: switch ``current`` back, cancel the Marathon deployments in flight for the
  group (a superseded deployment would otherwise stay in ``/v2/deployments`` forever), put the
  previous group back, and wait until Marathon has no deployment left for the group.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from kolla_mesos import zkpaths
from kolla_mesos.plan.diff import Diff
from kolla_mesos.plan.model import ChronosJob, Plan, canonical_json

#: Chronos schedule of a one-shot job: run once, now.
ONE_SHOT_SCHEDULE = "R1//PT24H"


@dataclasses.dataclass(frozen=True)
class Publish:
    """Write a new generation (``nodes`` includes the manifest) and switch ``current``."""

    nodes: Mapping[str, bytes]
    metadata: Mapping[str, Any]
    expected_current: int | None
    #: service subtree -> hosts whose runner identities may read it (need-to-know ACLs)
    readers: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class SubmitJob:
    """POST one Chronos job body (``body`` already carries schedule/parents/disabled)."""

    job: ChronosJob
    body: Mapping[str, Any]

    @property
    def label(self) -> str:
        """``service/command``: how progress names the job."""
        return f"{self.job.service}/{self.job.command}"


@dataclasses.dataclass(frozen=True)
class PutGroup:
    """PUT the deployment's Marathon group (one Marathon deployment)."""

    group: Mapping[str, Any]
    force: bool = False
    #: (service, action) of each changed app, for progress lines
    changes: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class Wait:
    """Wait for every job of the plan to succeed and every app to be healthy."""

    jobs: tuple[ChronosJob, ...]
    apps: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class RemoveJob:
    """Delete a Chronos job the plan no longer has."""

    name: str


@dataclasses.dataclass(frozen=True)
class CollectGarbage:
    """Remove generations beyond the newest ``keep`` (and incomplete ones)."""

    keep: int


@dataclasses.dataclass(frozen=True)
class SwitchCurrent:
    """Point ``current`` at ``to`` (versioned: only if it still points at ``expected``)."""

    to: int
    expected: int | None


@dataclasses.dataclass(frozen=True)
class CancelDeployments:
    """Cancel (force) every Marathon deployment in flight that touches ``group``."""

    group: str


@dataclasses.dataclass(frozen=True)
class RemoveGroup:
    """Remove the deployment's Marathon group and its apps (force: whatever is in flight)."""

    group: str


@dataclasses.dataclass(frozen=True)
class AwaitNoDeployments:
    """Wait until Marathon has no deployment left that touches ``group``."""

    group: str


@dataclasses.dataclass(frozen=True)
class ScaleApps:
    """Set the instances of existing apps (one Marathon deployment, nothing restarted)."""

    instances: Mapping[str, int]


@dataclasses.dataclass(frozen=True)
class DisableJob:
    """Keep a Chronos job, counters included, but let it start no run."""

    name: str


@dataclasses.dataclass(frozen=True)
class KillJobTasks:
    """Kill a Chronos job's running tasks (the job is kept)."""

    name: str


@dataclasses.dataclass(frozen=True)
class RunJobsOnce:
    """Submit one-shot Chronos jobs, wait until each succeeded, then delete them."""

    bodies: tuple[Mapping[str, Any], ...]


@dataclasses.dataclass(frozen=True)
class DeleteDeploymentData:
    """Delete the deployment's ZooKeeper subtree (under the deploy lock: all but the lock)."""


Step = (Publish | SubmitJob | PutGroup | Wait | RemoveJob | CollectGarbage | SwitchCurrent
        | CancelDeployments | RemoveGroup | AwaitNoDeployments | ScaleApps | DisableJob
        | KillJobTasks | RunJobsOnce | DeleteDeploymentData)


def manifest_bytes(plan: Plan, created_by: str) -> bytes:
    """The manifest node of the plan's generation."""
    return canonical_json(plan.manifest(created_by))


def generation_nodes(plan: Plan, created_by: str) -> dict[str, bytes]:
    """Every node of the plan's generation, the manifest included."""
    nodes = dict(plan.zk_nodes())
    nodes[zkpaths.MANIFEST] = manifest_bytes(plan, created_by)
    return nodes


def job_order(jobs: Sequence[ChronosJob]) -> list[str]:
    """Job names with every job after the jobs it depends on (stable otherwise)."""
    by_path = {f"{j.service}/{j.command}": j for j in jobs}
    done: list[str] = []
    seen: set[str] = set()

    def visit(job: ChronosJob) -> None:
        if job.name in seen:
            return
        seen.add(job.name)
        for dep in job.job_dependencies:
            if dep in by_path:
                visit(by_path[dep])
        done.append(job.name)

    for job in jobs:
        visit(job)
    return done


def job_submissions(plan: Plan, changes: Diff) -> list[SubmitJob]:
    """The Chronos POSTs of a deploy, in the order the module docstring explains."""
    starting = {c.name for c in changes.jobs if c.action in ("create", "rerun")}
    jobs = plan.jobs()
    by_path = {f"{j.service}/{j.command}": j for j in jobs}
    order = {name: i for i, name in enumerate(job_order(jobs))}
    final: list[tuple[ChronosJob, dict[str, Any]]] = []
    for job in sorted((j for j in jobs if j.name in starting), key=lambda j: order[j.name]):
        body = dict(job.body)
        parents = sorted(by_path[p].name for p in job.job_dependencies
                         if p in by_path and by_path[p].name in starting)
        if parents:
            body["parents"] = parents
        else:
            body["schedule"] = ONE_SHOT_SCHEDULE
        final.append((job, body))
    parent_names = {p for _, body in final for p in body.get("parents", [])}
    first = [SubmitJob(job, dict(body, disabled=True) if job.name in parent_names else body)
             for job, body in final]
    enable = [SubmitJob(job, body) for job, body in final if job.name in parent_names]
    return first + enable


def deploy_steps(plan: Plan, changes: Diff, current: int | None, created_by: str,
                 keep_generations: int) -> list[Step]:
    """Everything a deploy does, in order, for ``changes`` against generation ``current``.

    An empty diff is a health confirmation only: nothing is written.
    """
    wait = Wait(jobs=tuple(plan.jobs()), apps=tuple(str(a["id"]) for a in plan.apps()))
    if changes.empty:
        return [wait]
    steps: list[Step] = []
    if changes.zk_dirty or current is None:
        steps.append(Publish(nodes=generation_nodes(plan, created_by),
                             metadata={"deployment": plan.deployment_id},
                             expected_current=current, readers=plan.readers()))
    steps.extend(job_submissions(plan, changes))
    app_changes = tuple((c.app_id.rsplit("/", 1)[-1], c.action) for c in changes.apps)
    if app_changes:
        steps.append(PutGroup(group=plan.group_json(), changes=app_changes))
    steps.append(wait)
    steps.extend(RemoveJob(c.name) for c in changes.jobs if c.action == "remove")
    steps.append(CollectGarbage(keep_generations))
    return steps


def restore_steps(group_id: str, manifest: Mapping[str, Any] | None, to: int,
                  current: int | None, restore_apps: bool = True) -> list[Step]:
    """Return a deployment to generation ``to`` whose manifest is ``manifest``.

    The health gate (a failed deploy) and the operator's ``kolla-mesos rollback`` both run
    these steps.  ``restore_apps`` is False only when the failed deploy never touched
    Marathon: then there is nothing of Marathon's to undo.
    """
    steps: list[Step] = []
    if current != to:
        steps.append(SwitchCurrent(to=to, expected=current))
    group = manifest.get("group") if manifest is not None else None
    if restore_apps:
        steps.append(CancelDeployments(group_id))
        if isinstance(group, Mapping):
            steps.append(PutGroup(group=dict(group), force=True))
        steps.append(AwaitNoDeployments(group_id))
    return steps


def abandon_steps(group_id: str, apps_touched: bool) -> list[Step]:
    """After a failed *first* deploy there is no generation to return to: Marathon goes back
    to what it had before, no app in the group.

    Cancelling the deployment alone is not enough: an app whose first task had not been
    launched yet would stay at zero tasks until Marathon's next scale check (five minutes),
    and leaving the deployment in flight would make the next deploy refuse to start.  Data
    lives in named volumes, which outlive the apps.
    """
    if not apps_touched:
        return []
    return [CancelDeployments(group_id), RemoveGroup(group_id), AwaitNoDeployments(group_id)]


def rollback_target(current: int | None, generations: Sequence[int],
                    to: int | None) -> int | None:
    """The generation ``kolla-mesos rollback`` returns to: ``to``, or the newest one before
    ``current``; None when there is none.  A ``to`` that does not exist is a ValueError."""
    if to is None:
        older = [g for g in generations if current is None or g < current]
        return older[-1] if older else None
    if to not in generations:
        raise ValueError(to)
    return to


def stop_steps(group_id: str, apps: Mapping[str, int], jobs: Sequence[str]) -> list[Step]:
    """``kolla-mesos stop``: ``apps`` (id -> live instances) scaled to zero, ``jobs``
    disabled; generations, job counters and volumes stay, so the next deploy's diff sees
    only a scale (apps) and re-submits only jobs that never succeeded.

    Why this order: jobs are disabled (and their running tasks killed) first, so that no
    job run starts while its dependencies go down and waits for them until its deadline;
    then the apps go to zero in one Marathon deployment, which Marathon orders by the apps'
    dependencies; the command ends when that deployment is over.
    """
    steps: list[Step] = [DisableJob(name) for name in jobs]
    steps.extend(KillJobTasks(name) for name in jobs)
    running = {app_id: 0 for app_id, count in sorted(apps.items()) if count}
    if running:
        steps.append(ScaleApps(running))
        steps.append(AwaitNoDeployments(group_id))
    return steps


def destroy_steps(group_id: str, group_exists: bool, jobs: Sequence[str],
                  volume_jobs: Sequence[Mapping[str, Any]], zk_exists: bool) -> list[Step]:
    """``kolla-mesos destroy``: remove exactly one deployment.

    Why this order: the Marathon group first (deployments in flight cancelled, then the group
    removed and its tasks gone), so no task of the deployment runs any more; then its Chronos
    jobs (running tasks killed, then deleted); then, when asked, its named volumes, which no
    task uses any more; ZooKeeper last, so that a destroy that failed half-way still finds the
    deployment and can simply be run again.
    """
    steps: list[Step] = []
    if group_exists:
        steps += [CancelDeployments(group_id), RemoveGroup(group_id),
                  AwaitNoDeployments(group_id)]
    steps.extend(KillJobTasks(name) for name in jobs)
    steps.extend(RemoveJob(name) for name in jobs)
    if volume_jobs:
        steps.append(RunJobsOnce(tuple(volume_jobs)))
    if zk_exists:
        steps.append(DeleteDeploymentData())
    return steps
