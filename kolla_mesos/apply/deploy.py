"""Deploy a plan: diff it with the live state, run the steps :mod:`kolla_mesos.plan.steps`
decides, and restore the previous generation when anything fails after the switch.

The order of the steps and why is documented in :mod:`kolla_mesos.plan.steps` (and, for
operators, in docs/upgrade.md).  This module adds only what is about I/O:

* reads happen first and without the lock: an unchanged deploy writes nothing and only
  confirms health;
* a deploy refuses to start (exit 8) while a Marathon deployment of its group is in flight,
  before anything is written;
* the steps run under the deployment lock; any failure after the first write (an API error,
  a conflict, a lost connection, a failed job, an unhealthy app, Ctrl-C) restores the
  previous generation and its apps and cancels the Marathon deployments in flight, then
  reports the cause; if even that fails, the error says what is live and which command
  repairs it.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from kolla_mesos import errors
from kolla_mesos.apply.clients import Clients
from kolla_mesos.apply.execute import Executor, Outcome
from kolla_mesos.apply.live import read_live
from kolla_mesos.apply.progress import Progress
from kolla_mesos.apply.rollback import restore
from kolla_mesos.plan import steps as st
from kolla_mesos.plan.diff import Diff, LiveState, diff
from kolla_mesos.plan.model import Plan

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class DeployReport:
    """What a deploy did, service by service."""

    generation: int | None
    previous_generation: int | None
    diff: Diff
    rows: list[dict[str, Any]]
    zk_writes: int = 0
    http_writes: int = 0


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

    # -- public -----------------------------------------------------------------------------

    def plan_diff(self, plan: Plan) -> tuple[LiveState, Diff]:
        """Read the live state and diff it with the plan (no writes)."""
        live = read_live(self.clients, plan)
        return live, diff(plan, live)

    def deploy(self, plan: Plan) -> DeployReport:
        """Bring the deployment to ``plan``; see the module docstring."""
        self.clients.store.check_runner_identities(plan.hosts())
        live, changes = self.plan_diff(plan)
        if changes.empty:
            self.progress.note("no changes: configuration, apps and jobs are up to date")
            self._executor().run(st.deploy_steps(plan, changes, live.generation,
                                                 self.created_by, self.keep))
            return self._report(plan, live.generation, live.generation, changes)
        self._refuse_in_flight(plan.group_id)
        # A deployer killed while holding the lock keeps it until its session expires (one
        # session timeout): wait a little longer than that before reporting a conflict.
        with self.clients.store.deploy_lock(timeout=2 * self.clients.store.timeout + 5,
                                            on_wait=self.progress.note):
            live, changes = self.plan_diff(plan)  # re-read under the lock
            previous = live.generation
            executor = self._executor()
            try:
                executor.run(st.deploy_steps(plan, changes, previous, self.created_by,
                                             self.keep))
            except BaseException as exc:
                self._after_failure(exc, plan, live, executor.outcome)
                raise
            generation = executor.outcome.generation or previous
            return self._report(plan, generation, previous, changes)

    # -- steps ------------------------------------------------------------------------------

    def _executor(self) -> Executor:
        return Executor(self.clients, self.progress, self.timeout)

    def _refuse_in_flight(self, group_id: str) -> None:
        """Exit 8 before writing anything while Marathon still deploys the group."""
        busy = self.clients.marathon.group_deployments(group_id)
        if busy:
            dep = busy[0]
            raise errors.LockedError(
                f"Marathon deployment {dep['id']} of {group_id} is still in flight (apps: "
                f"{', '.join(dep['affectedApps'])}); wait for it to end, or cancel it with "
                f"'DELETE /v2/deployments/{dep['id']}?force=true' (or 'kolla-mesos rollback'),"
                " then deploy again.")

    def _after_failure(self, exc: BaseException, plan: Plan, live: LiveState,
                       outcome: Outcome) -> None:
        """Restore the previous state after ``exc``; raise the error the operator sees."""
        if not (outcome.switched or outcome.submitted):
            return  # nothing visible was written: the error speaks for itself
        previous = live.generation
        cause = _sentence(exc)
        if previous is None or live.manifest is None:
            self.progress.note("deploy failed; no previous generation to roll back to")
            try:
                self._executor().run(st.abandon_steps(plan.group_id, outcome.apps_touched))
            except (errors.KollaMesosError, OSError) as failed:
                LOG.warning("Could not cancel the Marathon deployment of %s: %s",
                            plan.group_id, failed)
            if isinstance(exc, errors.KollaMesosError | KeyboardInterrupt):
                return
            raise errors.DeployFailed(cause) from exc
        self.progress.note(f"deploy failed ({cause}); rolling back to generation {previous}")
        current = outcome.generation if outcome.switched else previous
        try:
            restore(self.clients, plan.group_id, live.manifest, previous, current,
                    self.progress, self.timeout, restore_apps=outcome.apps_touched)
        except (errors.KollaMesosError, OSError) as failed:
            raise errors.DeployFailed(
                f"{cause} Rolling back to generation {previous} failed too "
                f"({_sentence(failed)}): {self._live_state(outcome)} Run 'kolla-mesos "
                f"rollback --to {previous}' once ZooKeeper and Marathon answer again."
            ) from exc
        if isinstance(exc, KeyboardInterrupt):
            self.progress.note(f"interrupted; rolled back to generation {previous}")
            return
        raise errors.DeployFailed(f"{cause} Rolled back to generation {previous}.") from exc

    def _live_state(self, outcome: Outcome) -> str:
        """One sentence on what is live, as far as it can be read now."""
        try:
            current = self.clients.store.current_generation()
            where = f"ZooKeeper's current is generation {current}"
        except errors.KollaMesosError:
            where = "ZooKeeper's current could not be read"
        apps = (f"; Marathon may still run the apps of generation {outcome.generation}"
                if outcome.apps_touched else "")
        return f"{where}{apps}."

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


def _sentence(exc: BaseException) -> str:
    """The operator's sentence for ``exc`` (ends with a full stop)."""
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted."
    text = str(exc).strip() if isinstance(exc, errors.KollaMesosError) else (
        f"{type(exc).__name__}: {exc}".strip())
    return text if text.endswith(".") else text + "."
