"""The simulated Mesos cluster: agents, frameworks, task placement, launch, kill and reaping.

This is the core that the Marathon and Chronos services build on.  Interface (stable)::

    cluster = Cluster(state_dir, agents_file=None, isolation=False, agent_entries=None)
    fw = cluster.register_framework("marathon", on_status=callback)   # Framework (id, name)
    result = cluster.place(PlacementRequest(group="/app", cpus=0.1, mem=64, ports=(0,),
                                            constraints=(("hostname", "UNIQUE"),)))
    if isinstance(result, NoPlacement): ...            # result.reasons, result.summary
    task = cluster.launch(TaskSpec(task_id, "marathon", result, request, cmd="...", env={...}))
    cluster.kill(task.id, grace=3.0)                   # SIGTERM the group, SIGKILL after grace
    cluster.exec_in_task(task.id, "test -f /x", timeout=5.0)   # ExecResult(returncode, output)
    cluster.shutdown()                                 # nothing keeps running

Lookups: ``cluster.agents`` (list of :class:`Agent`), ``agent(id|hostname|address)``,
``task(task_id)`` (active or remembered), ``tasks(framework=None)`` (active),
``framework_tasks(fw)`` (active, completed snapshot), ``usage()`` (per agent id),
``agent_endpoints`` (agent id -> ``address:port`` of its HTTP API).  Between tests:
``reset(wipe_volumes=False)``; ``stop_all(timeout)`` kills every task and waits;
``flush_events()`` waits until queued updates were delivered.

Status updates (``TASK_STAGING``, ``TASK_RUNNING``, then one of ``TASK_FINISHED``,
``TASK_FAILED``, ``TASK_KILLED``) reach ``on_status(task, update)`` in order, from one event
thread of the cluster; resources of a finished task are already released when its terminal
update is delivered, so a callback may place and launch a replacement.  Callbacks must not block
for long.  ``launch`` itself delivers nothing synchronously: the returned task is in
``TASK_STAGING`` (or already ``TASK_RUNNING``).
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mesos_sim import executor, volumes
from mesos_sim.agents import Agent, build_agents, load_agents
from mesos_sim.cluster_model import (
    COMPLETED_TASKS_LIMIT,
    TERMINAL_STATES,
    ExecResult,
    Framework,
    StatusCallback,
    StatusUpdate,
    Task,
    TaskSpec,
)
from mesos_sim.errors import LaunchError, SimError
from mesos_sim.placement import AgentUsage, NoPlacement, Placement, PlacementRequest, place
from mesos_sim.reaper import (
    Reaper,
    kill_marked,
    marked_processes,
    set_child_subreaper,
    signal_processes,
)

LOG = logging.getLogger(__name__)
__all__ = ["COMPLETED_TASKS_LIMIT", "TERMINAL_STATES", "Cluster", "ExecResult", "Framework",
           "NoPlacement", "Placement", "PlacementRequest", "StatusCallback", "StatusUpdate",
           "Task", "TaskSpec"]
def _port_busy(agent: Agent, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((agent.address, port))
        except OSError:
            return True
    return False


class Cluster:
    """The simulated Mesos master with its agents (see module doc for the interface)."""

    def __init__(self, state_dir: str | Path, agents_file: str | Path | None = None,
                 isolation: bool = False,
                 agent_entries: list[dict[str, Any]] | None = None) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.isolation = isolation
        if isolation:
            executor.check_isolation_state_dir(self.state_dir)
        self.master_id = str(uuid.uuid4())
        self.id = self.master_id
        self.start_time = time.time()
        self.agents: list[Agent] = (
            build_agents(agent_entries, self.master_id) if agent_entries is not None
            else load_agents(agents_file, self.master_id))
        self.agent_endpoints: dict[str, str] = {a.id: f"{a.address}:{a.http_port}"
                                                for a in self.agents}
        self.frameworks: dict[str, Framework] = {}
        self.subreaper = set_child_subreaper()
        self._lock = threading.RLock()
        self._tasks: dict[str, Task] = {}
        self._reaper = Reaper(self.master_id)
        self._events: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._dispatcher = threading.Thread(target=self._dispatch, name="sim-status",
                                            daemon=True)
        self._dispatcher.start()
        self._closed = False

    # --- frameworks and lookups --------------------------------------------------------------

    def register_framework(self, name: str, on_status: StatusCallback | None = None,
                           webui_url: str = "") -> Framework:
        """Register (or re-register, keeping the id) a framework; return it."""
        with self._lock:
            framework = self.frameworks.get(name)
            if framework is None:
                framework = Framework(f"{self.master_id}-{len(self.frameworks):04d}", name,
                                      time.time(), webui_url)
                self.frameworks[name] = framework
            framework.on_status = on_status
            if webui_url:
                framework.webui_url = webui_url
            return framework

    def agent(self, key: str) -> Agent | None:
        """The agent with this id, hostname or address."""
        return next((a for a in self.agents if key in (a.id, a.hostname, a.address)), None)

    def set_agent_endpoint(self, agent_id: str, host_port: str) -> None:
        """Record where an agent's HTTP API listens (``address:port``), set by the Mesos API."""
        self.agent_endpoints[agent_id] = host_port

    def task(self, task_id: str) -> Task | None:
        """An active or completed (still remembered) task."""
        with self._lock:
            found = self._tasks.get(task_id)
            if found is not None:
                return found
            for framework in self.frameworks.values():
                for done in framework.completed_tasks:
                    if done.id == task_id:
                        return done
        return None

    def tasks(self, framework: str | None = None) -> list[Task]:
        """Active tasks, optionally of one framework, in launch order."""
        with self._lock:
            return [t for t in self._tasks.values()
                    if framework is None or t.framework.name == framework]

    def framework_tasks(self, framework: Framework) -> tuple[list[Task], list[Task]]:
        """A consistent snapshot of a framework's active and completed tasks."""
        with self._lock:
            return list(framework.tasks.values()), list(framework.completed_tasks)

    def usage(self) -> dict[str, AgentUsage]:
        """Resources held by active tasks, per agent id."""
        with self._lock:
            used = {a.id: AgentUsage() for a in self.agents}
            for task in self._tasks.values():
                held = used[task.agent.id]
                held.cpus += task.spec.request.cpus
                held.mem += task.spec.request.mem
                held.disk += task.spec.request.disk
                held.ports.update(task.ports)
            return used

    # --- placement and launch ----------------------------------------------------------------

    def place(self, request: PlacementRequest) -> Placement | NoPlacement:
        """Where a task for ``request`` would run now (first fitting agent), or why nowhere.

        Constraints see the active tasks of ``request.group``; ports busy on the host outside
        the simulator are skipped.  Nothing is reserved until :meth:`launch`.
        """
        with self._lock:
            placed = [t.agent for t in self._tasks.values() if t.spec.request.group
                      == request.group]
            return place(self.agents, self.usage(), request, placed, _port_busy)

    def launch(self, spec: TaskSpec) -> Task:
        """Start ``spec`` on its placement's agent; return the task (see module doc).

        Raises ``ValueError`` for a duplicate task id, an unregistered framework, or ports
        that another active task on that agent holds.
        """
        with self._lock:
            if self._closed:
                raise ValueError("the simulated cluster is shut down")
            framework = self.frameworks.get(spec.framework)
            if framework is None:
                raise ValueError(f"framework {spec.framework!r} is not registered")
            if spec.task_id in self._tasks:
                raise ValueError(f"task {spec.task_id} already exists")
            agent = spec.placement.agent
            clash = set(spec.placement.ports) & self.usage()[agent.id].ports
            if clash:
                raise ValueError(f"ports {sorted(clash)} on {agent.hostname} are in use")
            container_id = str(uuid.uuid4())
            sandbox = executor.sandbox_dir(self.state_dir, agent.id, framework.id,
                                           spec.task_id, container_id)
            task = Task(spec.task_id, spec.name or spec.task_id, framework, agent, spec,
                        sandbox, container_id, tuple(spec.placement.ports))
            self._tasks[task.id] = task
            framework.tasks[task.id] = task
            self._update(task, "TASK_STAGING")
            try:
                self._start(task)
            except (OSError, ValueError, SimError) as exc:
                self._terminal(task, "TASK_FAILED", f"Failed to launch the command: {exc}")
            return task

    def _start(self, task: Task) -> None:
        """Start the task's first process (:mod:`mesos_sim.task_init`) and wait until the
        task's program runs in its container (TASK_RUNNING) or could not start (LaunchError)."""
        spec = task.spec
        binds = volumes.task_volumes(spec.container, self.state_dir, task.agent)
        extra = dict(spec.env)
        extra.update(volumes.prepare(binds, task.sandbox))
        task.volumes = binds
        task.env = executor.task_environment(
            sim_id=self.master_id, task_id=task.id, agent=task.agent, sandbox=task.sandbox,
            framework_id=task.framework.id, agent_endpoint=self.agent_endpoints[task.agent.id],
            ports=task.ports, extra=extra)
        isolation = None
        if self.isolation:
            layers = executor.container_dir(self.state_dir, task.container_id)
            isolation = executor.isolation_spec(layers, task.agent, self.agents, binds)
        ready_r, ready_w = os.pipe()
        argv = executor.container_argv(executor.task_argv(spec.cmd, spec.args),
                                       chdir=task.sandbox, ready_fd=ready_w,
                                       isolation=isolation)
        try:
            with open(task.sandbox / "stdout", "ab") as out, \
                    open(task.sandbox / "stderr", "ab") as err, self._reaper.lock:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        cwd=str(task.sandbox), env=task.env,
                                        start_new_session=True, pass_fds=(ready_w,))
                task.proc = proc
                task.pid = proc.pid
                self._reaper.watch(proc.pid, lambda status: self._exited(task, status))
        except BaseException:
            os.close(ready_r)
            raise
        finally:
            os.close(ready_w)
        failure = executor.wait_ready(ready_r)
        if failure:
            raise LaunchError(failure)
        self._update(task, "TASK_RUNNING")

    # --- state changes -----------------------------------------------------------------------

    def _update(self, task: Task, state: str, message: str = "") -> None:
        update = StatusUpdate(task.id, state, time.time(), message)
        task.state = state
        task.message = message
        task.statuses.append(update)
        self._events.put(functools.partial(self._deliver, task, update))

    def _terminal(self, task: Task, state: str, message: str) -> None:
        with self._lock:
            if not task.active:
                return
            self._tasks.pop(task.id, None)
            task.framework.tasks.pop(task.id, None)
            task.framework.completed_tasks.append(task)
            self._update(task, state, message)

    def _exited(self, task: Task, status: int | None) -> None:
        if task.proc is not None:
            task.proc.returncode = status if status is not None else -9
        task.exit_code = status
        # Mesos destroys the container when the task's command exits: nothing else survives
        # (the task's first process did so already; this catches what escaped it), and the
        # container's writable layers go with it.
        self._destroy_container(task, signal.SIGKILL)
        shutil.rmtree(executor.container_dir(self.state_dir, task.container_id),
                      ignore_errors=True)
        if task.killing:
            state, message = "TASK_KILLED", "Command terminated with signal Terminated"
        elif status == 0:
            state, message = "TASK_FINISHED", "Command exited with status 0"
        elif status is None:
            state, message = "TASK_FAILED", "Command exited with an unknown status"
        elif status > 0:
            state, message = "TASK_FAILED", f"Command exited with status {status}"
        else:
            name = signal.Signals(-status).name[3:].capitalize() if -status in \
                signal.valid_signals() else str(-status)
            state, message = "TASK_FAILED", f"Command terminated with signal {name}"
        self._terminal(task, state, message)

    def _destroy_container(self, task: Task, sig: int) -> None:
        pids = [p for p in marked_processes(self.master_id, task.id) if p != task.pid]
        signal_processes(pids, task.pid, sig)
        self._reaper.adopt(pids)

    @staticmethod
    def _deliver(task: Task, update: StatusUpdate) -> None:
        callback = task.framework.on_status
        if callback is not None:
            callback(task, update)

    def _dispatch(self) -> None:
        while True:
            item = self._events.get()
            if item is None:
                return
            try:
                item()
            except Exception:  # noqa: BLE001 - one bad callback must not stop the others
                LOG.exception("status callback failed")

    def flush_events(self, timeout: float = 10.0) -> bool:
        """Wait until every status update queued so far has been delivered."""
        done = threading.Event()
        self._events.put(done.set)
        return done.wait(timeout)

    # --- kill, exec, reset, shutdown ---------------------------------------------------------

    def kill(self, task_id: str, grace: float | None = None) -> bool:
        """SIGTERM the task's process group now, SIGKILL it after ``grace`` seconds.

        Returns False when the task is unknown or already terminal.  The TASK_KILLED update
        follows once the process is gone.
        """
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or not task.active:
                return False
            first = not task.killing
            task.killing = True
            if task.pid is None:
                self._terminal(task, "TASK_KILLED", "Killed before it started")
                return True
        if first:
            self._destroy_container(task, signal.SIGTERM)
            delay = task.spec.kill_grace if grace is None else grace
            timer = threading.Timer(max(delay, 0.0), self._force_kill, args=(task,))
            timer.daemon = True
            timer.start()
        return True

    def _force_kill(self, task: Task) -> None:
        if task.active:
            self._destroy_container(task, signal.SIGKILL)

    def exec_in_task(self, task_id: str, command: str | Sequence[str],
                     timeout: float) -> ExecResult:
        """Run ``command`` (str: ``sh -c``) with the task's environment, sandbox and (with
        isolation) namespaces, as a Mesos COMMAND check does.  Output is stdout+stderr."""
        task = self.task(task_id)
        if task is None or not task.active or task.pid is None:
            return ExecResult(None, f"task {task_id} is not running")
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        if self.isolation:
            argv = executor.enter_argv(argv, pid=task.pid, chdir=task.sandbox)
        finished = threading.Event()
        result: list[int | None] = []

        def exited(status: int | None) -> None:
            result.append(status)
            finished.set()

        with tempfile.TemporaryFile() as output:
            with self._reaper.lock:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output,
                                        stderr=subprocess.STDOUT, cwd=str(task.sandbox),
                                        env=task.env, start_new_session=True)
                self._reaper.watch(proc.pid, exited)
            timed_out = not finished.wait(timeout)
            if timed_out:
                signal_processes([], proc.pid, signal.SIGKILL)
                finished.wait(5.0)
            proc.returncode = result[0] if result and result[0] is not None else -9
            output.seek(0)
            text = output.read().decode("utf-8", errors="replace")
        return ExecResult(None if timed_out else proc.returncode, text, timed_out)

    def stop_all(self, timeout: float = 10.0) -> bool:
        """Kill every active task and wait (up to ``timeout``) until they are all gone."""
        with self._lock:
            tasks = list(self._tasks.values())
        for task in tasks:
            self.kill(task.id, grace=min(task.spec.kill_grace, timeout / 2))
        pids = [t.pid for t in tasks if t.pid is not None]
        done = self._reaper.wait_idle(pids, timeout)
        for task in tasks:
            self._destroy_container(task, signal.SIGKILL)
        if not done:
            done = self._reaper.wait_idle(pids, 5.0)
        return done

    def reset(self, wipe_volumes: bool = False) -> None:
        """Stop every task and forget completed ones; optionally wipe volumes (and the
        per-agent directories standing in for absolute host paths)."""
        self.stop_all()
        self.flush_events()
        with self._lock:
            for framework in self.frameworks.values():
                framework.completed_tasks.clear()
        shutil.rmtree(self.state_dir / "slaves", ignore_errors=True)
        shutil.rmtree(self.state_dir / "containers", ignore_errors=True)
        if wipe_volumes:
            shutil.rmtree(self.state_dir / "volumes", ignore_errors=True)
            shutil.rmtree(self.state_dir / "agents", ignore_errors=True)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every task and helper process, reap them, and stop the cluster's threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.stop_all(timeout)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            left = kill_marked(self.master_id)
            if not left:
                break
            self._reaper.adopt(left)
            with self._reaper.lock:
                watched = set(self._reaper.watched())
                for pid in left:
                    if pid not in watched:
                        self._reaper.watch(pid, None)
            self._reaper.wait_idle(left, 1.0)
        while self._reaper.sweep() and time.monotonic() < deadline:
            time.sleep(0.05)  # zombies of killed orphans appear asynchronously
        self.flush_events()
        self._events.put(None)
        self._dispatcher.join(timeout=5)
        self._reaper.stop()
        LOG.debug("cluster %s shut down (pid %s)", self.master_id, os.getpid())
