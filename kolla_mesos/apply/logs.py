"""``kolla-mesos logs``: a service's task output through the Mesos agents' ``/files/read``.

Only the APIs a real cluster offers are used (reference chronos_mesos.md sections 7-9, the
way dcos-cli finds a sandbox): the master's ``/master/state`` lists the tasks and the agents
(``slave(1)@IP:PORT``), each agent's ``/state`` gives the executor's sandbox ``directory``, and
``/files/read?path=&offset=&length=`` reads ``stdout``/``stderr`` in chunks of at most
64 KiB.  ``--tail`` reads backwards from the size (the ``offset=-1`` probe) until it has the
lines; ``--follow`` keeps one byte offset per file and only asks for what lies beyond it.

Which tasks: the service's Marathon app tasks (the running ones, or the last one per host
when none runs; every one with ``--all``) or a Chronos job's last run (every run with
``--all``).  Marathon task ids are ``<app id segments joined by _>.<uuid...>``; Chronos names
its tasks ``ChronosTask:<job>`` with ids ``ct:<due>:<attempt>:<job>:<args>``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kolla_mesos import errors
from kolla_mesos.apply import logtext
from kolla_mesos.clients.mesos import READ_CAP, MesosClient

ACTIVE = frozenset({"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING"})
DAEMON = "daemon"
#: How often --follow asks each file for new bytes (there is no event to wait on), and how
#: often it looks for new tasks (an app restarted, a job ran again).
POLL_SECONDS = 0.5
DISCOVER_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class Target:
    """What the operator named: a service's app (``daemon``) or one of its jobs."""

    service: str
    command: str
    kind: str  # "app" | "job"
    ident: str  # Marathon app id or Chronos job name

    @property
    def label(self) -> str:
        """``service`` for an app, ``service/command`` for a job."""
        return self.service if self.kind == "app" else f"{self.service}/{self.command}"


@dataclasses.dataclass(frozen=True)
class Source:
    """One file to read: a task's stdout or stderr in its sandbox on one agent."""

    target: Target
    task_id: str
    state: str
    host: str
    agent_url: str
    path: str
    started: float
    finished: float | None


def resolve_targets(manifest: Mapping[str, Any], spec: str, deployment_id: str,
                    generation: int) -> list[Target]:
    """``SERVICE`` or ``SERVICE/COMMAND`` against the current generation's manifest.

    ``SERVICE`` alone is its app when it has one, else every one of its jobs; ``COMMAND``
    ``daemon`` is the app.  An unknown service or command is a ConfigError in one sentence.
    """
    services: Mapping[str, Any] = manifest.get("services") or {}
    name, _, command = spec.partition("/")
    info = services.get(name)
    if info is None:
        raise errors.ConfigError(
            f"Service {name!r} is not part of deployment {deployment_id!r} (generation "
            f"{generation} has: {', '.join(sorted(services)) or 'no service'}).")
    app = info.get("app")
    jobs: Mapping[str, str] = info.get("jobs") or {}
    if command in ("", DAEMON) and app:
        return [Target(name, DAEMON, "app", str(app))]
    if command and command in jobs:
        return [Target(name, command, "job", str(jobs[command]))]
    if not command and jobs:
        return [Target(name, cmd, "job", str(job)) for cmd, job in sorted(jobs.items())]
    choices = ([DAEMON] if app else []) + sorted(jobs)
    raise errors.ConfigError(
        f"{spec!r} names no task of service {name!r}: its tasks are "
        f"{', '.join(f'{name}/{c}' for c in choices) or 'none'} (a command that is not a "
        f"job runs inside the app's task: see 'kolla-mesos logs {name}').")


def _stamps(task: Mapping[str, Any]) -> list[float]:
    return sorted(float(s.get("timestamp") or 0) for s in task.get("statuses") or [])


def _matches(target: Target, framework: str, task: Mapping[str, Any]) -> bool:
    tid = str(task.get("id", ""))
    if target.kind == "app":
        prefix = "_".join(p for p in target.ident.split("/") if p) + "."
        return "marathon" in framework and tid.startswith(prefix)
    return "chronos" in framework and (task.get("name") == f"ChronosTask:{target.ident}"
                                       or f":{target.ident}:" in tid)


def choose_tasks(target: Target, tasks: Sequence[Mapping[str, Any]], everything: bool,
                 ) -> list[Mapping[str, Any]]:
    """Which of a target's tasks (oldest first) to show (see module docstring)."""
    ordered = sorted(tasks, key=lambda t: (_stamps(t) or [0.0])[0])
    if everything:
        return ordered
    if target.kind == "job":
        return ordered[-1:]
    active = [t for t in ordered if t.get("state") in ACTIVE]
    if active:
        return active
    latest: dict[str, Mapping[str, Any]] = {}
    for task in ordered:
        latest[str(task.get("slave_id"))] = task
    return sorted(latest.values(), key=lambda t: (_stamps(t) or [0.0])[0])


def find_sources(mesos: MesosClient, targets: Sequence[Target], stream: str,
                 host: str | None = None, everything: bool = False) -> list[Source]:
    """The files to read for ``targets``, oldest task first."""
    state = mesos.state()
    agents = mesos.agents(state)
    frameworks = (state.get("frameworks") or []) + (state.get("completed_frameworks") or [])
    chosen: list[tuple[Target, Mapping[str, Any]]] = []
    for target in targets:
        mine = [task for fw in frameworks
                for key in ("tasks", "unreachable_tasks", "completed_tasks")
                for task in fw.get(key) or []
                if _matches(target, str(fw.get("name", "")), task)]
        if host is not None:
            mine = [t for t in mine if agents.get(str(t.get("slave_id")), ("",))[0] == host]
        chosen.extend((target, t) for t in choose_tasks(target, mine, everything))
    directories: dict[str, dict[str, str]] = {}
    sources: list[Source] = []
    for target, task in chosen:
        agent = agents.get(str(task.get("slave_id")))
        if agent is None:
            continue  # the agent is gone, and its sandboxes with it
        hostname, url = agent
        if url not in directories:
            directories[url] = _sandboxes(mesos.agent_state(url))
        directory = directories[url].get(str(task.get("id")))
        if directory is None:
            continue  # garbage-collected sandbox
        stamps = _stamps(task)
        finished = None if task.get("state") in ACTIVE else (stamps[-1] if stamps else None)
        sources.append(Source(target, str(task.get("id")), str(task.get("state")), hostname,
                              url, f"{directory}/{stream}", stamps[0] if stamps else 0.0,
                              finished))
    return sources


def _sandboxes(agent_state: Mapping[str, Any]) -> dict[str, str]:
    """Task id -> sandbox directory from an agent's ``/state``."""
    found: dict[str, str] = {}
    for fw in (agent_state.get("frameworks") or []) + (
            agent_state.get("completed_frameworks") or []):
        for ex in (fw.get("executors") or []) + (fw.get("completed_executors") or []):
            directory = ex.get("directory")
            if not directory:
                continue
            found.setdefault(str(ex.get("id")), str(directory))
            for key in ("tasks", "completed_tasks", "queued_tasks"):
                for task in ex.get(key) or []:
                    found[str(task.get("id"))] = str(directory)
    return found


def _size(data: str) -> int:
    return len(data.encode("utf-8", errors="surrogateescape"))


def read_range(mesos: MesosClient, source: Source, start: int, end: int | None) -> tuple[str, int]:
    """Bytes ``[start, end)`` (``end`` None: to the current end) and the offset reached,
    asking ``/files/read`` again after each 64 KiB cap."""
    chunks: list[str] = []
    offset = start
    while end is None or offset < end:
        want = -1 if end is None else end - offset
        data, _ = mesos.read_file(source.agent_url, source.path, offset, want)
        if not data:
            break
        chunks.append(data)
        offset += _size(data)
    return "".join(chunks), offset


def read_tail(mesos: MesosClient, source: Source, lines: int) -> tuple[list[str], int]:
    """The last ``lines`` lines and the file's size, reading backwards in 64 KiB steps."""
    size = mesos.file_size(source.agent_url, source.path)
    text, position = "", size
    while position > 0 and logtext.newlines_in(text) <= lines:
        start = max(0, position - READ_CAP)
        chunk, _ = read_range(mesos, source, start, position)
        text, position = chunk + text, start
    return logtext.last_lines(text, lines), size


def initial_lines(mesos: MesosClient, source: Source, tail: int | None,
                  since: float | None) -> tuple[list[str], int]:
    """What ``logs`` prints of one file before following it, and the offset it reached."""
    if tail is not None and since is None:
        return read_tail(mesos, source, tail)
    text, offset = read_range(mesos, source, 0, None)
    lines = text.splitlines()
    if since is not None:
        lines = logtext.since_filter(lines, since, keep_leading=source.started >= since)
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    return lines, offset


Emit = Callable[[str], None]


class Follower:
    """Streams new bytes of every source from its offset until ``stop`` is set (or Ctrl-C).

    A source whose file disappears (its sandbox was garbage-collected) is dropped; new tasks
    of the targets (a restarted app, a job's next run) are picked up from their first byte.
    """

    def __init__(self, mesos: MesosClient, emit: Emit, prefix: Callable[[Source], str],
                 discover: Callable[[], list[Source]],
                 stop: threading.Event | None = None) -> None:
        self.mesos = mesos
        self.emit = emit
        self.prefix = prefix
        self.discover = discover
        self.stop = stop or threading.Event()
        self.offsets: dict[str, int] = {}
        self.buffers: dict[str, logtext.LineBuffer] = {}
        self.sources: dict[str, Source] = {}

    def add(self, source: Source, offset: int) -> None:
        """Follow ``source`` from ``offset``."""
        self.sources[source.path] = source
        self.offsets[source.path] = offset
        self.buffers[source.path] = logtext.LineBuffer()

    def poll(self) -> None:
        """Print what every source gained since the last poll."""
        for path, source in list(self.sources.items()):
            try:
                data, offset = read_range(self.mesos, source, self.offsets[path], None)
            except errors.NotFoundError:
                del self.sources[path]
                continue
            self.offsets[path] = offset
            for line in self.buffers[path].feed(data):
                self.emit(self.prefix(source) + line)

    def run(self) -> None:
        """Poll until stopped; look for new tasks every few seconds."""
        next_discovery = time.monotonic() + DISCOVER_SECONDS
        while not self.stop.is_set():
            self.poll()
            if time.monotonic() >= next_discovery:
                next_discovery = time.monotonic() + DISCOVER_SECONDS
                for source in self.discover():
                    if source.path not in self.offsets:
                        self.add(source, 0)
            self.stop.wait(POLL_SECONDS)
