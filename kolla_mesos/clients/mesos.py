"""Mesos master/agent client: cluster state, finding tasks, reading task sandboxes.

Endpoints (reference chronos_mesos.md sections 7-9): ``/master/state`` (``/master/state.json``
on Mesos < 1.7 is tried when the first gives 404), agent ``/state``, and agent
``/files/read?path=&offset=&length=`` which caps every read at 64 KiB, so reads loop; offset
-1 returns the file size.  A task's sandbox is the ``directory`` of the agent's executor
whose id is the task id (command executors) or whose task lists contain it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from kolla_mesos import errors
from kolla_mesos.clients.http import HttpClient
from kolla_mesos.clients.retry import RetryPolicy

LOG = logging.getLogger(__name__)

_PID = re.compile(r"^[^@]+@(?P<host>[^:]+):(?P<port>\d+)$")
#: Mesos returns at most 16 pages per /files/read.
READ_CAP = 64 * 1024


def _latest_timestamp(task: dict[str, Any]) -> float:
    stamps = [float(s.get("timestamp") or 0) for s in task.get("statuses") or []]
    return max(stamps) if stamps else 0.0


class MesosClient:
    """Read-only client of a Mesos master and its agents."""

    def __init__(self, url: str, timeout: float = 10.0, deadline: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retry = RetryPolicy(max_tries=4, deadline=deadline)
        self.http = HttpClient("Mesos master", self.url, timeout, retry=self.retry)
        self._agents: dict[str, HttpClient] = {}

    def close(self) -> None:
        """Release connections."""
        self.http.close()
        for agent in self._agents.values():
            agent.close()

    def _get_state(self, http: HttpClient, paths: tuple[str, ...]) -> dict[str, Any]:
        for path in paths[:-1]:
            try:
                return dict(http.get_json(path))
            except errors.NotFoundError:
                LOG.debug("%s has no %s; trying the legacy endpoint", http.shown_url, path)
        return dict(http.get_json(paths[-1]))

    def state(self) -> dict[str, Any]:
        """The master's full state (frameworks, their tasks and completed tasks, agents)."""
        return self._get_state(self.http, ("/master/state", "/master/state.json"))

    def find_tasks(self, framework: str | None = None, name: str | None = None,
                   task_id: str | None = None, completed: bool = True,
                   state: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Tasks matching all given filters, oldest status first.

        ``framework`` matches a substring of the framework name (e.g. ``chronos``), ``name``
        the task name exactly, ``task_id`` a substring of the task id.  Each task dict gets a
        ``framework_name`` key.
        """
        state = state or self.state()
        found: list[dict[str, Any]] = []
        for fw in (state.get("frameworks") or []) + (state.get("completed_frameworks") or []):
            if framework and framework not in str(fw.get("name", "")):
                continue
            lists = ["tasks", "unreachable_tasks"] + (["completed_tasks"] if completed else [])
            for key in lists:
                for task in fw.get(key) or []:
                    if name is not None and task.get("name") != name:
                        continue
                    if task_id is not None and task_id not in str(task.get("id", "")):
                        continue
                    found.append({**task, "framework_name": fw.get("name")})
        return sorted(found, key=_latest_timestamp)

    def agent_url(self, slave_id: str, state: dict[str, Any] | None = None) -> str:
        """Base URL of an agent, from its ``pid`` (``slave(1)@IP:PORT``)."""
        state = state or self.state()
        for agent in state.get("slaves") or []:
            if agent.get("id") == slave_id:
                match = _PID.match(str(agent.get("pid", "")))
                if match:
                    return f"http://{match['host']}:{match['port']}"
        raise errors.NotFoundError(f"Mesos agent {slave_id} is not known to the master "
                                   f"at {self.http.shown_url}.", status=404)

    def agents(self, state: dict[str, Any] | None = None) -> dict[str, tuple[str, str]]:
        """Agent id -> (hostname, base URL) of every agent the master lists."""
        state = state or self.state()
        found: dict[str, tuple[str, str]] = {}
        for agent in state.get("slaves") or []:
            match = _PID.match(str(agent.get("pid", "")))
            if match:
                found[str(agent.get("id"))] = (str(agent.get("hostname", "")),
                                               f"http://{match['host']}:{match['port']}")
        return found

    def agent_state(self, agent_url: str) -> dict[str, Any]:
        """An agent's ``/state`` (its executors and their sandbox directories)."""
        return self._get_state(self._agent(agent_url), ("/state", "/state.json"))

    def _agent(self, agent_url: str) -> HttpClient:
        if agent_url not in self._agents:
            self._agents[agent_url] = HttpClient("Mesos agent", agent_url, self.timeout,
                                                 retry=self.retry)
        return self._agents[agent_url]

    def sandbox(self, task: dict[str, Any], state: dict[str, Any] | None = None,
                ) -> tuple[str, str]:
        """(agent URL, absolute sandbox directory) of a task."""
        agent_url = self.agent_url(str(task.get("slave_id")), state)
        agent_state = self._get_state(self._agent(agent_url), ("/state", "/state.json"))
        tid = task.get("id")
        for fw in (agent_state.get("frameworks") or []) + (
                agent_state.get("completed_frameworks") or []):
            for ex in (fw.get("executors") or []) + (fw.get("completed_executors") or []):
                ids = {t.get("id") for key in ("tasks", "completed_tasks", "queued_tasks")
                       for t in ex.get(key) or []}
                if ex.get("id") == tid or tid in ids:
                    return agent_url, str(ex["directory"])
        raise errors.NotFoundError(f"No sandbox of Mesos task {tid} on agent {agent_url}.",
                                   status=404)

    def read_file(self, agent_url: str, path: str, offset: int = 0,
                  length: int = -1) -> tuple[str, int]:
        """One ``/files/read`` call: (data, offset of the data)."""
        body = self._agent(agent_url).get_json(
            "/files/read", params={"path": path, "offset": offset, "length": length})
        return str(body.get("data", "")), int(body.get("offset", offset))

    def file_size(self, agent_url: str, path: str) -> int:
        """Size of a sandbox file (``offset=-1`` probe)."""
        body = self._agent(agent_url).get_json("/files/read", params={"path": path,
                                                                      "offset": -1})
        return int(body.get("offset", 0))

    def read(self, agent_url: str, path: str, offset: int = 0,
             length: int | None = None) -> str:
        """Read ``length`` bytes (None: to the end) from ``offset``, looping over 64 KiB caps."""
        chunks: list[str] = []
        got = 0
        while length is None or got < length:
            want = -1 if length is None else length - got
            data, _ = self.read_file(agent_url, path, offset + got, want)
            if not data:
                break
            chunks.append(data)
            got += len(data.encode("utf-8", errors="surrogateescape"))
        return "".join(chunks)

    def task_log(self, task: dict[str, Any], name: str = "stdout",
                 tail: int | None = None) -> str:
        """A task's ``stdout``/``stderr`` (the last ``tail`` bytes when given)."""
        if name not in ("stdout", "stderr"):
            raise ValueError("name must be 'stdout' or 'stderr'")
        agent_url, directory = self.sandbox(task)
        path = f"{directory}/{name}"
        offset = 0
        if tail is not None:
            offset = max(0, self.file_size(agent_url, path) - tail)
        return self.read(agent_url, path, offset)

    def log_location(self, task: dict[str, Any]) -> str:
        """Where a task's stderr is: sandbox path and agent URL (for error messages)."""
        agent_url, directory = self.sandbox(task)
        return f"{directory}/stderr on agent {agent_url}"
