"""Mesos master and agent HTTP endpoints over the simulated :class:`Cluster`.

Master (one server, ``MesosApi.router``): ``/master/state`` (= ``/state``, plus the
``.json`` aliases), ``/master/state-summary``, ``/master/tasks``, ``/master/frameworks``,
``/master/slaves``, ``/master/redirect``, ``/master/health``, ``/version``.

Agents: each fake agent has its **own** HTTP server, bound to the agent's address (127.0.1.x) on
the agent's ``port`` from the agents file (0 = ephemeral), exactly as a real agent on port 5051.
The master's ``slaves[].pid`` is ``slave(1)@<address>:<port>``, so a client finds an agent as
real clients do (``http://<address>:<port>/state``).  An agent serves ``/state``
(= ``/slave(1)/state``, plus ``.json`` aliases), ``/files/{browse,read,download}``,
``/health`` and ``/version``.  Command tasks have ``executor_id: ""`` on the master; on the
agent the executor id is the task id and its ``directory`` is the absolute sandbox path.

Every JSON answer of the master and the agents honours ``?jsonp=CALLBACK`` as libprocess does
(``CALLBACK(<json>);``, ``text/javascript``): Marathon's web UI loads ``/master/state.json``
and ``/version`` that way, as scripts from another origin.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

from mesos_sim.agents import Agent
from mesos_sim.cluster import Cluster, Framework, Task
from mesos_sim.http import ApiServer, Handler, Request, Response, Router
from mesos_sim.mesos.files import SandboxFiles

MESOS_VERSION = "1.10.0"
_EMPTY = {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}


def with_jsonp(request: Request, response: Response) -> Response:
    """``response`` wrapped for ``?jsonp=CALLBACK`` when it is JSON (libprocess's ``OK``)."""
    callback = (request.query.get("jsonp") or [""])[-1]
    body = response.body
    if not callback or body is None or isinstance(body, (bytes, str)) or response.stream:
        return response
    text = f"{callback}({json.dumps(body, separators=(',', ':'))});"
    return Response(response.status, text, headers=response.headers,
                    content_type="text/javascript")


class MesosRouter(Router):
    """A router whose JSON answers honour ``?jsonp=`` (see module doc)."""

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register ``handler``, wrapped for JSONP."""
        super().add(method, pattern, lambda request: with_jsonp(request, handler(request)))


def ranges_text(ports: list[int] | tuple[int, ...]) -> str:
    """Ports as a Mesos range string, e.g. ``[31000-31001, 31005-31005]``."""
    merged: list[list[int]] = []
    for port in sorted(ports):
        if merged and port == merged[-1][1] + 1:
            merged[-1][1] = port
        else:
            merged.append([port, port])
    return "[" + ", ".join(f"{a}-{b}" for a, b in merged) + "]"


def task_resources(task: Task) -> dict[str, Any]:
    """A task's resources as Mesos JSON."""
    request = task.spec.request
    resources: dict[str, Any] = {"cpus": request.cpus, "mem": request.mem,
                                 "disk": request.disk, "gpus": 0.0}
    if task.ports:
        resources["ports"] = ranges_text(task.ports)
    return resources


def task_json(task: Task, executor_id: str = "") -> dict[str, Any]:
    """``json(Task)`` of ``src/common/http.cpp``."""
    statuses = [{"state": s.state, "timestamp": s.timestamp,
                 "container_status": {
                     "container_id": {"value": task.container_id},
                     "network_infos": [{"ip_addresses": [{"protocol": "IPv4",
                                                          "ip_address": task.agent.address}]}]}}
                for s in task.statuses]
    body: dict[str, Any] = {
        "id": task.id, "name": task.name, "framework_id": task.framework.id,
        "executor_id": executor_id, "slave_id": task.agent.id, "agent_id": task.agent.id,
        "state": task.state, "resources": task_resources(task), "role": "*",
        "statuses": statuses,
    }
    if task.spec.labels:
        body["labels"] = [{"key": k, "value": v} for k, v in task.spec.labels.items()]
    if task.spec.container:
        body["container"] = {"type": str(task.spec.container.get("type", "DOCKER"))}
    return body


def _sum_resources(tasks: list[Task]) -> dict[str, Any]:
    total: dict[str, Any] = dict(_EMPTY)
    ports: list[int] = []
    for task in tasks:
        for key in ("cpus", "mem", "disk"):
            total[key] += getattr(task.spec.request, key)
        ports.extend(task.ports)
    if ports:
        total["ports"] = ranges_text(ports)
    return total


def _agent_resources(agent: Agent) -> dict[str, Any]:
    return {"cpus": agent.cpus, "mem": agent.mem, "disk": agent.disk, "gpus": 0.0,
            "ports": agent.port_ranges_text()}


class MesosApi:
    """Builds the master router and starts one HTTP server per agent."""

    def __init__(self, cluster: Cluster, host: str = "127.0.0.1") -> None:
        self.cluster = cluster
        self.host = host
        self.port = 0  # set by the caller once the master server is bound
        self.agent_servers: dict[str, ApiServer] = {}
        self.router: Router = MesosRouter()
        self._add_master_routes()

    # --- servers -----------------------------------------------------------------------------

    def start_agents(self) -> None:
        """Bind and start every agent's server; record the endpoints in the cluster."""
        for agent in self.cluster.agents:
            router = MesosRouter()
            files = SandboxFiles(functools.partial(self._sandbox_roots, agent))
            files.add_routes(router)
            state = self._agent_state_handler(agent)
            router.add("GET", r"/(slave\(1\)/)?state(\.json)?", state)
            router.add("GET", r"/(slave\(1\)/)?health", lambda _r: Response(200))
            router.add("GET", r"/version", self._version)
            server = ApiServer(router, host=agent.address, port=agent.http_port)
            server.start()
            self.agent_servers[agent.id] = server
            self.cluster.set_agent_endpoint(agent.id, f"{agent.address}:{server.port}")

    def stop_agents(self) -> None:
        """Stop every agent's server."""
        for server in self.agent_servers.values():
            server.stop()
        self.agent_servers.clear()

    @property
    def pid(self) -> str:
        """The master's libprocess pid."""
        return f"master@{self.host}:{self.port}"

    def agent_pid(self, agent: Agent) -> str:
        """An agent's libprocess pid (``slave(1)@address:port``)."""
        return f"slave(1)@{self.cluster.agent_endpoints[agent.id]}"

    # --- master ------------------------------------------------------------------------------

    def _add_master_routes(self) -> None:
        add = self.router.add
        add("GET", r"/(master/)?state(\.json)?", lambda _r: Response(200, self.state()))
        add("GET", r"/(master/)?state-summary", lambda _r: Response(200, self.summary()))
        add("GET", r"/(master/)?tasks(\.json)?", self._tasks)
        add("GET", r"/(master/)?frameworks", lambda _r: Response(200, {
            "frameworks": self._frameworks(), "completed_frameworks": [],
            "unregistered_frameworks": []}))
        add("GET", r"/(master/)?slaves", lambda _r: Response(200, {
            "slaves": self._slaves(), "recovered_slaves": []}))
        add("GET", r"/(master/)?redirect", lambda _r: Response(
            307, headers={"Location": f"//{self.host}:{self.port}"}))
        add("GET", r"/(master/)?health", lambda _r: Response(200))
        add("GET", r"/version", self._version)

    def _version(self, _request: Request) -> Response:
        return Response(200, {"version": MESOS_VERSION, "build_date": "2020-05-20 00:00:00",
                              "build_time": 1589932800.0, "build_user": "kolla-mesos-sim"})

    def _slaves(self) -> list[dict[str, Any]]:
        tasks = self.cluster.tasks()
        slaves = []
        for agent in self.cluster.agents:
            used = _sum_resources([t for t in tasks if t.agent.id == agent.id])
            total = _agent_resources(agent)
            slaves.append({
                "id": agent.id, "pid": self.agent_pid(agent), "hostname": agent.hostname,
                "port": int(self.cluster.agent_endpoints[agent.id].rsplit(":", 1)[1]),
                "attributes": dict(agent.attributes),
                "registered_time": self.cluster.start_time, "active": True,
                "deactivated": False, "version": MESOS_VERSION,
                "resources": total, "used_resources": used, "offered_resources": dict(_EMPTY),
                "reserved_resources": {}, "unreserved_resources": total,
                "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
            })
        return slaves

    def _framework(self, framework: Framework) -> dict[str, Any]:
        with_lock, completed = self.cluster.framework_tasks(framework)
        return {
            "id": framework.id, "name": framework.name, "hostname": self.host,
            "webui_url": framework.webui_url, "active": True, "connected": True,
            "recovered": False, "user": "root", "failover_timeout": 604800.0,
            "checkpoint": True, "role": "*", "roles": ["*"],
            "registered_time": framework.registered_time,
            "reregistered_time": framework.registered_time, "unregistered_time": 0,
            "capabilities": ["TASK_KILLING_STATE", "PARTITION_AWARE"],
            "resources": _sum_resources(with_lock), "used_resources": _sum_resources(with_lock),
            "offered_resources": dict(_EMPTY),
            "tasks": [task_json(t) for t in with_lock], "unreachable_tasks": [],
            "completed_tasks": [task_json(t) for t in completed],
            "offers": [], "executors": [],
        }

    def _frameworks(self) -> list[dict[str, Any]]:
        return [self._framework(f) for f in list(self.cluster.frameworks.values())]

    def state(self) -> dict[str, Any]:
        """``GET /master/state``."""
        return {
            "version": MESOS_VERSION, "build_date": "2020-05-20 00:00:00",
            "build_time": 1589932800.0, "build_user": "kolla-mesos-sim",
            "start_time": self.cluster.start_time, "elected_time": self.cluster.start_time,
            "id": self.cluster.master_id, "pid": self.pid, "hostname": self.host,
            "activated_slaves": len(self.cluster.agents), "deactivated_slaves": 0,
            "unreachable_slaves": 0, "leader": self.pid,
            "leader_info": {"id": self.cluster.master_id, "pid": self.pid, "port": self.port,
                            "hostname": self.host},
            "cluster": "kolla-mesos-sim", "log_dir": str(self.cluster.state_dir),
            "flags": {"work_dir": str(self.cluster.state_dir), "port": str(self.port)},
            "slaves": self._slaves(), "recovered_slaves": [],
            "frameworks": self._frameworks(), "completed_frameworks": [],
            "orphan_tasks": [], "unregistered_frameworks": [],
        }

    def summary(self) -> dict[str, Any]:
        """``GET /master/state-summary`` (task counts per agent and framework)."""
        def counts(tasks: list[Task]) -> dict[str, int]:
            states = ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING",
                      "TASK_FINISHED", "TASK_KILLED", "TASK_FAILED", "TASK_LOST", "TASK_ERROR")
            return {s: sum(1 for t in tasks if t.state == s) for s in states}

        everything = self._all_tasks()
        slaves = []
        for agent in self.cluster.agents:
            mine = [t for t in everything if t.agent.id == agent.id]
            slaves.append({"id": agent.id, "pid": self.agent_pid(agent),
                           "hostname": agent.hostname, "attributes": dict(agent.attributes),
                           "resources": _agent_resources(agent), **counts(mine),
                           "framework_ids": sorted({t.framework.id for t in mine})})
        frameworks = []
        for framework in list(self.cluster.frameworks.values()):
            mine = [t for t in everything if t.framework is framework]
            frameworks.append({"id": framework.id, "name": framework.name,
                               "hostname": self.host, "webui_url": framework.webui_url,
                               **counts(mine),
                               "slave_ids": sorted({t.agent.id for t in mine})})
        return {"hostname": self.host, "cluster": "kolla-mesos-sim", "slaves": slaves,
                "frameworks": frameworks}

    def _all_tasks(self) -> list[Task]:
        tasks: list[Task] = []
        for framework in list(self.cluster.frameworks.values()):
            active, completed = self.cluster.framework_tasks(framework)
            tasks.extend(active + completed)
        return tasks

    def _tasks(self, request: Request) -> Response:
        tasks = self._all_tasks()
        framework_id = request.arg("framework_id")
        task_id = request.arg("task_id")
        if framework_id:
            tasks = [t for t in tasks if t.framework.id == framework_id]
        if task_id:
            tasks = [t for t in tasks if t.id == task_id]
        tasks.sort(key=lambda t: t.statuses[-1].timestamp if t.statuses else 0.0,
                   reverse=request.arg("order", "des") != "asc")
        try:
            limit = int(request.arg("limit", "100") or 100)
            offset = int(request.arg("offset", "0") or 0)
        except ValueError:
            return Response(400, "Failed to parse limit or offset")
        return Response(200, {"tasks": [task_json(t) for t in tasks[offset:offset + limit]]})

    # --- agent -------------------------------------------------------------------------------

    def _sandbox_roots(self, agent: Agent) -> list[tuple[str, Path]]:
        roots = []
        for task in self._all_tasks():
            if task.agent.id != agent.id:
                continue
            real = task.sandbox
            roots.append((str(real), real))
            roots.append((str(real.parent / "latest"), real))
            roots.append((f"/frameworks/{task.framework.id}/executors/{task.id}/runs/latest",
                          real))
        return roots

    def _executor(self, task: Task) -> dict[str, Any]:
        command = task.spec.cmd or " ".join(task.spec.args or [])
        done = not task.active
        return {
            "id": task.id, "name": f"Command Executor (Task: {task.id}) (Command: sh -c "
                                   f"'{command[:40]}{'...' if len(command) > 40 else ''}')",
            "source": task.id, "container": task.container_id, "directory": str(task.sandbox),
            "resources": task_resources(task), "type": "COMMAND",
            "tasks": [] if done else [task_json(task, task.id)], "queued_tasks": [],
            "completed_tasks": [task_json(task, task.id)] if done else [],
        }

    def _agent_state_handler(self, agent: Agent) -> Any:
        def handler(_request: Request) -> Response:
            frameworks = []
            for framework in list(self.cluster.frameworks.values()):
                running, completed = self.cluster.framework_tasks(framework)
                active = [t for t in running if t.agent.id == agent.id]
                done = [t for t in completed if t.agent.id == agent.id]
                if not active and not done:
                    continue
                frameworks.append({
                    "id": framework.id, "name": framework.name, "user": "root",
                    "failover_timeout": 604800.0, "checkpoint": True, "hostname": self.host,
                    "role": "*", "executors": [self._executor(t) for t in active],
                    "completed_executors": [self._executor(t) for t in done],
                })
            return Response(200, {
                "version": MESOS_VERSION, "build_date": "2020-05-20 00:00:00",
                "build_time": 1589932800.0, "build_user": "kolla-mesos-sim",
                "start_time": self.cluster.start_time, "id": agent.id,
                "pid": self.agent_pid(agent), "hostname": agent.hostname,
                "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE"],
                "resources": _agent_resources(agent), "attributes": dict(agent.attributes),
                "master_hostname": self.host,
                "flags": {"work_dir": str(self.cluster.state_dir),
                          "hostname": agent.hostname, "ip": agent.address},
                "frameworks": frameworks, "completed_frameworks": [],
                "time": time.time(),
            })
        return handler
