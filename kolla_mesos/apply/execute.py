"""Execute the steps :mod:`kolla_mesos.plan.steps` decided, one at a time, through the clients.

Nothing here chooses an order or builds a payload: each step says what to send, and this
module sends it, shows progress and remembers what it learned (the new generation number,
the Marathon deployment id) for the steps that follow.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping

from kolla_mesos import errors
from kolla_mesos.apply.clients import Clients
from kolla_mesos.apply.progress import Progress
from kolla_mesos.clients.chronos import JobProgress
from kolla_mesos.clients.marathon_progress import AppProgress
from kolla_mesos.plan import steps as st

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class Outcome:
    """What the executed steps did so far (read by the caller's failure handling)."""

    #: the generation a Publish step wrote (None until it wrote one)
    generation: int | None = None
    #: True once ``current`` may point at :attr:`generation`
    switched: bool = False
    #: True once a Chronos or Marathon write was sent
    submitted: bool = False
    #: True once the Marathon group was PUT
    apps_touched: bool = False
    #: the Marathon deployment the last PutGroup started
    deployment_id: str | None = None
    #: Marathon deployments cancelled by CancelDeployments
    cancelled: list[str] = dataclasses.field(default_factory=list)


class Executor:
    """Runs steps against one deployment's clients."""

    def __init__(self, clients: Clients, progress: Progress, timeout: float) -> None:
        self.clients = clients
        self.progress = progress
        self.timeout = timeout
        self.outcome = Outcome()
        self._job_labels: dict[str, str] = {}

    def run(self, steps: list[st.Step]) -> Outcome:
        """Execute ``steps`` in order; the first failure propagates."""
        for step in steps:
            self.execute(step)
        return self.outcome

    def execute(self, step: st.Step) -> None:
        """Execute one step."""
        store, out = self.clients.store, self.outcome
        match step:
            case st.Publish():
                store.ensure_deployment(step.metadata)
                out.generation = store.write_generation(step.nodes, step.readers)
                out.switched = True  # from here on, a failure may have switched it
                store.switch_current(out.generation, expected=step.expected_current)
                previous = step.expected_current
                self.progress.note(f"published generation {out.generation} (previous: "
                                   f"{previous if previous is not None else 'none'})")
            case st.SubmitJob():
                out.submitted = True
                self._job_labels[step.job.name] = step.label
                self.clients.chronos.add_job(dict(step.body))
                if not step.body.get("disabled"):
                    self.progress.update(step.label, f"job {step.job.name} submitted")
            case st.PutGroup():
                out.submitted = out.apps_touched = True
                for service, action in step.changes:
                    self.progress.update(service, f"app {action}")
                out.deployment_id = self.clients.marathon.put_group(step.group,
                                                                    force=step.force)
            case st.Wait():
                self._wait(step)
            case st.RemoveJob():
                try:
                    self.clients.chronos.delete_job(step.name)
                except errors.NotFoundError:
                    LOG.debug("job %s already gone", step.name)
            case st.CollectGarbage():
                store.gc(step.keep)
            case st.SwitchCurrent():
                if store.current_generation() != step.to:
                    store.switch_current(step.to, expected=step.expected)
            case st.CancelDeployments():
                for dep in self.clients.marathon.group_deployments(step.group):
                    self.clients.marathon.delete_deployment(dep["id"], force=True)
                    out.cancelled.append(dep["id"])
                    self.progress.note(f"cancelled Marathon deployment {dep['id']}")
            case st.RemoveGroup():
                try:
                    self.clients.marathon.delete_group(step.group, force=True)
                    self.progress.note(f"removed the Marathon group {step.group}")
                except errors.NotFoundError:
                    LOG.debug("group %s already gone", step.group)
            case st.AwaitNoDeployments():
                self.clients.marathon.wait_group_settled(step.group, self.timeout)
            case _:
                self._lifecycle(step)

    def _lifecycle(self, step: st.Step) -> None:
        """The steps of ``stop`` and ``destroy``."""
        match step:
            case st.ScaleApps():
                for app_id, count in step.instances.items():
                    self.progress.update(app_id.rsplit("/", 1)[-1], f"app scaled to {count}")
                self.outcome.deployment_id = self.clients.marathon.scale_apps(step.instances)
            case st.DisableJob():
                self.clients.chronos.disable_job(step.name)
                self.progress.note(f"disabled Chronos job {step.name}")
            case st.KillJobTasks():
                try:
                    self.clients.chronos.kill_tasks(step.name)
                except errors.NotFoundError:
                    LOG.debug("job %s already gone", step.name)
            case st.RunJobsOnce():
                names = [str(body["name"]) for body in step.bodies]
                for body in step.bodies:
                    self.clients.chronos.add_job(dict(body))
                    self.progress.update(str(body["name"]), "job submitted")
                self.clients.chronos.wait_for_jobs(names, self.timeout, self._job_progress)
                for name in names:
                    self.clients.chronos.delete_job(name)
            case st.DeleteDeploymentData():
                deleted = self.clients.store.delete_deployment_data()
                self.progress.note(f"deleted {deleted} ZooKeeper nodes of "
                                   f"{self.clients.store.path}")

    # -- waiting ----------------------------------------------------------------------------

    def _wait(self, step: st.Wait) -> None:
        """Wait for every job and app at once; the first failure stops both."""
        for job in step.jobs:
            self._job_labels.setdefault(job.name, f"{job.service}/{job.command}")
        failures: list[BaseException] = []
        waiters: list[Callable[[], object]] = []
        deployment_id = self.outcome.deployment_id
        if step.jobs:
            names = [j.name for j in step.jobs]
            waiters.append(lambda: self.clients.chronos.wait_for_jobs(
                names, self.timeout, self._job_progress))
        if step.apps:
            waiters.append(lambda: self.clients.marathon.wait_for_deployments(
                [deployment_id] if deployment_id else [], self.timeout, self._app_progress,
                app_ids=list(step.apps), settle=deployment_id is None))

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
        try:
            for t in threads:
                t.join()
        except BaseException:
            # Ctrl-C while waiting: stop the waiters before the caller restores anything.
            self.clients.chronos.interrupt()
            self.clients.marathon.interrupt()
            raise
        if failures:
            real = [f for f in failures if not isinstance(f, errors.WaitInterrupted)]
            raise (real or failures)[0]

    def _job_progress(self, progress: Mapping[str, JobProgress]) -> None:
        for name, prog in progress.items():
            self.progress.update(self._job_labels.get(name, name),
                                 f"job {prog.status} ({prog.state})")

    def _app_progress(self, progress: Mapping[str, AppProgress]) -> None:
        for app_id, prog in progress.items():
            state = prog.summary() + (" (deploying)" if prog.deploying else "")
            self.progress.update(app_id.rsplit("/", 1)[-1], state)
