"""The runner's two modes: a Marathon task (commands, then the daemon) and a Chronos job.

Both read ``current`` once, take this service's definition from that generation, write the
files as root, then run commands through :class:`CommandRunner`.  App mode then waits for the
daemon's dependencies, starts it as the service user, waits for readiness, registers the
member node and watches ``current`` for hot reloads until the daemon exits.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping

from kolla_mesos import errors
from kolla_mesos.definition import DAEMON, Definition
from kolla_mesos.runner import commands, files, membership, process, status
from kolla_mesos.runner.identity import Identity
from kolla_mesos.runner.reload import ReloadWatcher
from kolla_mesos.runner.session import Session
from kolla_mesos.runner.store import GenerationReader, read_current

LOG = logging.getLogger(__name__)


class Runner:
    """One runner: a session, this host's identity and the task's working directory."""

    def __init__(self, identity: Identity, session: Session, cwd: str | None = None,
                 task_env: Mapping[str, str] | None = None) -> None:
        self.identity = identity
        self.session = session
        self.cwd = cwd or os.getcwd()
        self.task_env = dict(os.environ if task_env is None else task_env)
        self.children = process.Children()
        self.supervisor: process.Supervisor | None = None
        self.member: membership.Membership | None = None
        self.watcher: ReloadWatcher | None = None
        self.defn: Definition | None = None
        self.generation = 0
        self._stopping = threading.Event()
        self.started = threading.Event()

    # --- shared -----------------------------------------------------------------------------

    def _load(self) -> tuple[GenerationReader, Definition]:
        self.generation = read_current(self.session)
        reader = GenerationReader(self.session, self.generation)
        defn = reader.require_definition(self.identity.project, self.identity.service)
        self.defn = defn
        LOG.info("%s/%s on %s (%s): generation %d", defn.project, defn.service,
                 self.identity.hostname, self.identity.task_name or "no task name",
                 self.generation)
        return reader, defn

    def _command_runner(self, reader: GenerationReader, defn: Definition
                        ) -> commands.CommandRunner:
        return commands.CommandRunner(self.session, reader, defn, self.identity.hostname,
                                      self.cwd, self.task_env, self.children)

    def forward_signal(self, signum: int) -> int:
        """Forward ``signum`` to the running children; how many received it."""
        self._stopping.set()
        if self.supervisor is not None:
            self.supervisor.stop_requested()
        return self.children.forward(signum)

    def stop(self) -> None:
        """Stop the daemon (in-process use: tests, benchmarks)."""
        self._stopping.set()
        if self.supervisor is not None:
            self.supervisor.stop(grace=5.0)

    # --- job mode ---------------------------------------------------------------------------

    def run_job(self) -> int:
        """Run the one command named by KOLLA_COMMAND; 0 when it is (or already was) done."""
        reader, defn = self._load()
        name = self.identity.command or ""
        cmd = defn.command(name)
        if name == DAEMON:
            raise errors.ConfigError("KOLLA_COMMAND=daemon is not a job: the daemon runs "
                                     "under Marathon.")
        fileset = files.build_fileset(defn, reader.files(defn, self.identity.hostname,
                                                         defn.files_for([cmd])))
        files.make_directories(defn.directories, self.cwd)
        try:
            files.materialize(fileset, self.cwd)
            self._command_runner(reader, defn).run(cmd)
        finally:
            # A job's own secrets (e.g. db-admin.cnf) do not outlive it, even when it failed.
            files.remove_files(fileset, defn.job_only_files(), self.cwd)
        return 0

    # --- app mode ---------------------------------------------------------------------------

    def run_app(self) -> int:
        """Commands, then the daemon until it exits; returns the daemon's exit status."""
        reader, defn = self._load()
        daemon = defn.daemon
        if daemon is None:
            raise errors.ConfigError(
                f"Service {defn.service} has no daemon in generation {self.generation}: it "
                "runs as Chronos jobs only (set KOLLA_COMMAND).")
        fileset = files.build_fileset(defn, reader.files(defn, self.identity.hostname,
                                                         defn.app_files()))
        files.make_directories(defn.directories, self.cwd)
        files.materialize(fileset, self.cwd)
        runner = self._command_runner(reader, defn)
        for cmd in commands.app_commands(defn):
            runner.run(cmd)
        key = status.inputs_key(daemon, self.generation)
        runner.wait_dependencies(daemon, key)
        book = runner.book
        self.supervisor = process.Supervisor(daemon, defn.user_for(daemon), self.task_env,
                                             self.cwd, self.children)
        if self._stopping.is_set():
            return process.exit_status(-15)
        pid = self.supervisor.start()
        book.write(defn.service, DAEMON, key, status.RUNNING, message=f"pid {pid}")
        try:
            self.wait_daemon_ready()
        except errors.KollaMesosError as exc:
            if self.supervisor.alive():
                self.supervisor.stop()
                book.write(defn.service, DAEMON, key, status.FAILED, message=str(exc))
                raise
            code = self.supervisor.wait()
            if self._stopping.is_set():
                self._final_record(book, key, status.DONE, code, "stopped before it was ready")
                return code
            message = f"{defn.service} daemon exited with status {code} before it was ready."
            LOG.error("%s", message)
            self._final_record(book, key, status.FAILED, code, message)
            return code
        self.member = membership.Membership(self.session, self.identity.hostname,
                                            self.identity.address)
        self.member.register(self.generation, pid)
        self.watcher = ReloadWatcher(self.session, self, self.generation, fileset)
        self.watcher.start()
        self.started.set()
        code = self.supervisor.wait()
        self.watcher.stop()
        self.member.unregister()
        stopped = self._stopping.is_set()
        state = status.DONE if code == 0 or stopped else status.FAILED
        self._final_record(book, key, state, code,
                           "stopped" if stopped else f"daemon exited with status {code}")
        LOG.info("%s exited with status %d", defn.service, code)
        return code

    def _final_record(self, book: status.StatusBook, key: str, state: str, code: int,
                      message: str) -> None:
        """Record how the daemon ended; ZooKeeper trouble must not hide its exit status."""
        try:
            book.write(self.identity.service, DAEMON, key, state, exit_code=code,
                       message=message)
        except errors.ZookeeperError as exc:
            LOG.warning("Could not record the daemon's end: %s", exc)

    # --- reload.Target ----------------------------------------------------------------------

    def apply_files(self, fileset: files.FileSet) -> None:
        """Write a new generation's files."""
        files.materialize(fileset, self.cwd)

    def signal_daemon(self, signum: int) -> bool:
        """Signal the daemon."""
        return self.supervisor is not None and self.supervisor.send(signum)

    def restart_daemon(self) -> None:
        """Restart the daemon in place and refresh the member node's pid."""
        if self.supervisor is not None and self.supervisor.restart():
            if self.member is not None:
                self.member.update(pid=self.supervisor.pid)

    def wait_daemon_ready(self) -> None:
        """Wait for the daemon's readiness check (no-op without ``ready``)."""
        assert self.defn is not None and self.defn.daemon is not None
        supervisor = self.supervisor
        user = self.defn.user_for(self.defn.daemon)

        def run_probe(argv: list[str]) -> bool:
            return process.probe(argv, user, self.task_env, self.cwd, 10.0)

        membership.wait_ready(self.defn.daemon.ready, run_probe,
                              lambda: supervisor is not None and supervisor.alive(),
                              f"{self.defn.service} daemon",
                              default_host=self.identity.address)

    def generation_applied(self, number: int) -> None:
        """Record the generation the daemon's files now come from."""
        if self.member is not None:
            self.member.update(generation=number)
