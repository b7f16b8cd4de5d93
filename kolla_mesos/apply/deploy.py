"""Execute a plan: publish the generation, submit jobs and apps, wait, roll back on failure.

Order of a deploy (docs/upgrade.md explains it for operators):

1. read the live state and diff it with the plan (reads only: an unchanged deploy writes
   nothing, and just confirms health);
2. under the deployment lock: write the new generation and switch ``current`` to it;
3. create (or re-run) the Chronos jobs, PUT the Marathon group;
4. wait for every job to succeed and every app to be healthy, showing progress;
5. on failure, switch ``current`` back and restore the previous generation's apps
   (the health gate), then report the failure;
6. on success, remove obsolete jobs and garbage-collect old generations.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from kolla_mesos import errors, zkpaths
from kolla_mesos.apply.clients import Clients
from kolla_mesos.apply.live import read_live
from kolla_mesos.apply.progress import Progress
from kolla_mesos.clients.chronos import JobProgress
from kolla_mesos.clients.marathon_progress import AppProgress
from kolla_mesos.plan.diff import Diff, LiveState, diff
from kolla_mesos.plan.model import ChronosJob, Plan, canonical_json

LOG = logging.getLogger(__name__)
ONE_SHOT_SCHEDULE = "R1//PT24H"


@dataclasses.dataclass
class DeployReport:
    """What a deploy did, service by service."""

    generation: int | None
    previous_generation: int | None
    diff: Diff
    rows: list[dict[str, Any]]
    zk_writes: int = 0
    http_writes: int = 0


def job_bodies(plan: Plan, changes: Diff) -> list[dict[str, Any]]:
    """Chronos bodies to POST, with ``schedule`` or ``parents`` (pure).

    A job whose parent jobs are all being (re)started in this deploy is a Chronos dependent
    job; a job with no such parent is scheduled now, and its runner waits for the rest of its
    dependencies through ZooKeeper.
    """
    starting = {c.name for c in changes.jobs if c.action in ("create", "rerun")}
    by_path = {f"{j.service}/{j.command}": j for j in plan.jobs()}
    bodies = []
    for job in plan.jobs():
        if job.name not in starting:
            continue
        body = dict(job.body)
        parents = sorted(by_path[p].name for p in job.job_dependencies
                         if p in by_path and by_path[p].name in starting)
        if parents:
            body["parents"] = parents
        else:
            body["schedule"] = ONE_SHOT_SCHEDULE
        bodies.append(body)
    # Chronos rejects a dependent job whose parents do not exist yet: parents first.
    order = {name: i for i, name in enumerate(_job_order(plan.jobs()))}
    return sorted(bodies, key=lambda b: order[b["name"]])


def _job_order(jobs: list[ChronosJob]) -> list[str]:
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


class Deployer:
    """Applies plans to one deployment through the clients."""

    def __init__(self, clients: Clients, progress: Progress | None = None,
                 timeout: float = 900.0, keep_generations: int = 5,
                 created_by: str = "kolla-mesos") -> None:
        self.clients = clients
        self.progress = progress or Progress(enabled=False)
        self.timeout = timeout
        self.keep = keep_generations
        self.created_by = created_by
        self._job_labels: dict[str, str] = {}

    # -- public -----------------------------------------------------------------------------

    def plan_diff(self, plan: Plan) -> tuple[LiveState, Diff]:
        """Read the live state and diff it with the plan (no writes)."""
        live = read_live(self.clients, plan)
        return live, diff(plan, live)

    def deploy(self, plan: Plan) -> DeployReport:
        """Bring the deployment to ``plan``; see the module docstring."""
        self._job_labels = {j.name: f"{j.service}/{j.command}" for j in plan.jobs()}
        self.clients.store.check_runner_identities(plan.hosts())
        live, changes = self.plan_diff(plan)
        if changes.empty:
            self.progress.note("no changes: configuration, apps and jobs are up to date")
            self._wait(plan, None)
            return self._report(plan, live.generation, live.generation, changes)
        # A deployer killed while holding the lock keeps it until its session expires (one
        # session timeout): wait a little longer than that before reporting a conflict.
        with self.clients.store.deploy_lock(timeout=2 * self.clients.store.timeout + 5,
                                            on_wait=self.progress.note):
            live, changes = self.plan_diff(plan)  # re-read under the lock
            previous = live.generation
            generation = previous
            if changes.zk_dirty or previous is None:
                self.clients.store.ensure_deployment({"deployment": plan.deployment_id})
                nodes = dict(plan.zk_nodes())
                nodes[zkpaths.MANIFEST] = canonical_json(plan.manifest(self.created_by))
                generation = self.clients.store.write_generation(nodes, plan.readers())
                self.clients.store.switch_current(generation, expected=previous)
                self.progress.note(f"published generation {generation}"
                                   f" (previous: {previous if previous is not None else 'none'})")
            try:
                deployment_id = self._submit(plan, changes)
                self._wait(plan, deployment_id)
            except errors.KollaMesosError as exc:
                if isinstance(exc, errors.DeployFailed | errors.DeadlineExceeded):
                    rolled_back = self._rollback(previous, live, generation,
                                                 apps_changed=bool(changes.apps))
                    raise errors.DeployFailed(
                        f"{exc}" + (f" Rolled back to generation {previous}." if rolled_back
                                    else "")
                    ) from exc
                raise
            self._cleanup(changes)
            return self._report(plan, generation, previous, changes)

    # -- steps ------------------------------------------------------------------------------

    def _submit(self, plan: Plan, changes: Diff) -> str | None:
        bodies = job_bodies(plan, changes)
        # Chronos starts a dependent job only when a parent succeeds *after* the child exists:
        # parents are created disabled, then the children, then the parents are enabled.
        parents = {p for body in bodies for p in body.get("parents", [])}
        for body in bodies:
            first = dict(body, disabled=True) if body["name"] in parents else body
            self.clients.chronos.add_job(first)
            self.progress.update(self._job_labels.get(body["name"], _service_of(body)),
                                 f"job {body['name']} submitted")
        for body in bodies:
            if body["name"] in parents:
                self.clients.chronos.add_job(body)
        if any(c.action in ("create", "update", "scale", "remove") for c in changes.apps):
            for change in changes.apps:
                self.progress.update(change.app_id.rsplit("/", 1)[-1], f"app {change.action}")
            return self.clients.marathon.put_group(plan.group_json(), force=False)
        return None

    def _wait(self, plan: Plan, deployment_id: str | None) -> None:
        """Wait for every job and app of the plan at once; the first failure stops both."""
        failures: list[BaseException] = []
        waiters: list[Callable[[], object]] = []
        job_names = [j.name for j in plan.jobs()]
        if job_names:
            waiters.append(lambda: self.clients.chronos.wait_for_jobs(
                job_names, self.timeout, self._job_progress))
        apps = [str(a["id"]) for a in plan.apps()]
        if apps:
            waiters.append(lambda: self.clients.marathon.wait_for_deployments(
                [deployment_id] if deployment_id else [], self.timeout, self._app_progress,
                app_ids=apps, settle=deployment_id is None))

        def run(fn: Callable[[], object]) -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                failures.append(exc)
                self.clients.chronos.interrupt()
                self.clients.marathon.interrupt()

        threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in waiters]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            real = [f for f in failures if "interrupted" not in str(f)]
            raise (real or failures)[0]

    def _job_progress(self, progress: Mapping[str, JobProgress]) -> None:
        for name, prog in progress.items():
            label = self._job_labels.get(name, name)
            self.progress.update(label, f"job {prog.status} ({prog.state})")

    def _app_progress(self, progress: Mapping[str, AppProgress]) -> None:
        for app_id, prog in progress.items():
            state = prog.summary() + (" (deploying)" if prog.deploying else "")
            self.progress.update(app_id.rsplit("/", 1)[-1], state)

    def _rollback(self, previous: int | None, live: LiveState, failed: int | None,
                  apps_changed: bool) -> bool:
        """Health gate: restore the previous generation and the apps it describes."""
        if previous is None or live.manifest is None:
            self.progress.note("deploy failed; no previous generation to roll back to")
            return False
        self.progress.note(f"deploy failed; rolling back to generation {previous}")
        if failed != previous:
            self.clients.store.switch_current(previous, expected=failed)
        group = live.manifest.get("group")
        if apps_changed and isinstance(group, Mapping):
            self.clients.marathon.put_group(dict(group), force=True)
        return True

    def _cleanup(self, changes: Diff) -> None:
        for change in changes.jobs:
            if change.action == "remove":
                try:
                    self.clients.chronos.delete_job(change.name)
                except errors.NotFoundError:
                    LOG.debug("job %s already gone", change.name)
        self.clients.store.gc(self.keep)

    def _report(self, plan: Plan, generation: int | None, previous: int | None,
                changes: Diff) -> DeployReport:
        touched = set(changes.changed_services())
        rows = []
        for svc in plan.services:
            rows.append({
                "service": svc.service,
                "project": svc.project,
                "kind": "app" if svc.app else "job",
                "hosts": len(svc.hosts),
                "action": "changed" if svc.service in touched else "unchanged",
                "state": self._service_state(svc.service, [j.command for j in svc.jobs],
                                             svc.app is not None),
            })
        return DeployReport(generation=generation, previous_generation=previous, diff=changes,
                            rows=rows, zk_writes=self.clients.store.writes,
                            http_writes=self.clients.http_writes())


    def _service_state(self, service: str, commands: list[str], is_app: bool) -> str:
        """One cell for the summary: the app's last progress, plus its jobs' outcome."""
        states = self.progress.states
        parts = [states.get(service, "unchanged")] if is_app else []
        if commands:
            done = sum(1 for c in commands
                       if states.get(f"{service}/{c}", "").startswith("job success"))
            parts.append(f"{done}/{len(commands)} jobs succeeded" if any(
                f"{service}/{c}" in states for c in commands) else f"{len(commands)} jobs")
        return ", ".join(parts)


def _service_of(body: Mapping[str, Any]) -> str:
    desc = str(body.get("description", ""))
    parts = desc.split(":")
    return parts[2] if len(parts) >= 4 else str(body.get("name", ""))
