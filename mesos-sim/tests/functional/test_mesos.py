"""The simulator's Mesos master and agent endpoints over real HTTP, with a real task's files."""

from __future__ import annotations

import json
import re

import requests

from mesos_sim.simulator import Simulator
from mesos_sim.testing import wait_for

V1 = "/v1/scheduler"
SIZE = 70000  # more than one 64 KiB read


def run_job(sim: Simulator, name: str, command: str) -> None:
    r = requests.post(f"{sim.chronos_url}{V1}/iso8601",
                      json={"name": name, "command": command, "retries": 0}, timeout=10)
    assert r.status_code == 204


def master_state(sim: Simulator, path: str = "/master/state") -> dict:
    r = requests.get(sim.mesos_url + path, timeout=10)
    assert r.status_code == 200
    return r.json()


def chronos_framework(state: dict) -> dict:
    return next(f for f in state["frameworks"] if f["name"] == "chronos")


def agent_url(state: dict, slave_id: str) -> str:
    slave = next(s for s in state["slaves"] if s["id"] == slave_id)
    return "http://" + slave["pid"].split("@", 1)[1]


def test_master_state_shape_and_task_lifecycle(sim: Simulator) -> None:
    run_job(sim, "sleeper", "sleep 60")
    state = wait_for(lambda: (s := master_state(sim)) and chronos_framework(s)["tasks"] and s,
                     what="running task in state")
    assert state["pid"] == state["leader"] and state["pid"].startswith("master@127.0.0.1:")
    names = {f["name"]: f for f in state["frameworks"]}
    assert "chronos" in names and "marathon" in names
    assert all(re.fullmatch(re.escape(state["id"]) + r"-\d{4}", f["id"]) for f in names.values())
    slave = state["slaves"][0]
    assert slave["id"] == state["id"] + "-S0" and slave["hostname"] == "agent1"
    assert re.fullmatch(r"slave\(1\)@127\.0\.1\.1:\d+", slave["pid"])
    assert slave["resources"]["ports"] == "[31000-32000]" and slave["attributes"] == {}
    task = chronos_framework(state)["tasks"][0]
    assert task["state"] == "TASK_RUNNING" and task["executor_id"] == ""
    assert task["name"] == "ChronosTask:sleeper" and task["slave_id"] == slave["id"]
    assert [s["state"] for s in task["statuses"]] == ["TASK_STAGING", "TASK_RUNNING"]
    assert task["resources"]["cpus"] == 0.1 and task["resources"]["mem"] == 128.0
    # the same document under the aliases old clients use
    assert master_state(sim, "/state.json")["id"] == state["id"]
    assert master_state(sim, "/master/state.json")["id"] == state["id"]
    # agent state: executor id == task id, absolute sandbox directory
    agent = requests.get(agent_url(state, task["slave_id"]) + "/state", timeout=10).json()
    assert agent["id"] == slave["id"] and agent["hostname"] == "agent1"
    executor = agent["frameworks"][0]["executors"][0]
    assert executor["id"] == task["id"] and executor["directory"].startswith("/")
    assert executor["tasks"][0]["executor_id"] == task["id"]
    requests.delete(f"{sim.chronos_url}{V1}/task/kill/sleeper", timeout=10)
    state = wait_for(lambda: (s := master_state(sim)) and chronos_framework(s)[
        "completed_tasks"] and s, what="completed task")
    done = chronos_framework(state)["completed_tasks"][0]
    assert done["state"] == "TASK_KILLED" and chronos_framework(state)["tasks"] == []
    assert done["statuses"][-1]["state"] == "TASK_KILLED"
    listed = requests.get(sim.mesos_url + "/master/tasks", timeout=10).json()["tasks"]
    assert [t["id"] for t in listed] == [task["id"]]
    agent = requests.get(agent_url(state, task["slave_id"]) + "/slave(1)/state.json",
                         timeout=10).json()
    assert agent["frameworks"][0]["completed_executors"][0]["completed_tasks"][0]["id"] == \
        task["id"]


def test_files_read_offsets_over_real_stdout(sim: Simulator) -> None:
    run_job(sim, "writer", f"head -c {SIZE} /dev/zero | tr '\\000' x; echo -n END >&2")
    state = wait_for(lambda: (s := master_state(sim)) and chronos_framework(s)[
        "completed_tasks"] and s, what="finished writer")
    task = chronos_framework(state)["completed_tasks"][0]
    assert task["state"] == "TASK_FINISHED"
    agent = agent_url(state, task["slave_id"])
    directory = requests.get(agent + "/state", timeout=10).json()["frameworks"][0][
        "completed_executors"][0]["directory"]
    stdout = directory + "/stdout"

    def read(**params):
        return requests.get(agent + "/files/read", params=params, timeout=10)

    assert read(path=stdout).json() == {"offset": SIZE, "data": ""}
    assert read(path=stdout, offset=-1).json() == {"offset": SIZE, "data": ""}
    assert read(path=stdout, offset=0, length=5).json() == {"offset": 0, "data": "xxxxx"}
    capped = read(path=stdout, offset=0).json()
    assert capped["offset"] == 0 and len(capped["data"]) == 65536
    rest = read(path=stdout, offset=65536, length=-1).json()
    assert len(rest["data"]) == SIZE - 65536
    assert read(path=stdout, offset=SIZE).json() == {"offset": SIZE, "data": ""}
    assert read(path=stdout, offset=SIZE + 10).json() == {"offset": SIZE + 10, "data": ""}
    assert read(path=directory + "/stderr", offset=0).json()["data"] == "END"
    virtual = (f"/frameworks/{task['framework_id']}/executors/{task['id']}/runs/latest/stderr")
    assert read(path=virtual, offset=0).json()["data"] == "END"
    assert requests.get(agent + "/files/read.json", params={"path": stdout, "offset": 0,
                        "length": 2}, timeout=10).json()["data"] == "xx"
    assert read(path=stdout, offset=-2).status_code == 400
    assert read(path=stdout, offset="abc").status_code == 400
    assert read(path=stdout, offset=0, length=-5).status_code == 400
    assert read(offset=0).status_code == 400
    assert read(path=directory, offset=0).status_code == 400
    assert read(path="/etc/passwd").status_code == 404
    assert read(path=directory + "/../../../../..").status_code == 404
    browse = requests.get(agent + "/files/browse", params={"path": directory}, timeout=10)
    entries = browse.json()
    assert [e["path"] for e in entries] == [directory + "/stderr", directory + "/stdout"]
    assert entries[1]["size"] == SIZE and entries[1]["mode"] == "-rw-r--r--"
    download = requests.get(agent + "/files/download", params={"path": stdout}, timeout=10)
    assert download.content == b"x" * SIZE


def test_master_misc_endpoints(sim: Simulator) -> None:
    r = requests.get(sim.mesos_url + "/master/redirect", allow_redirects=False, timeout=10)
    assert r.status_code == 307
    assert r.headers["Location"] == "//" + sim.mesos_url.split("//", 1)[1]
    assert requests.get(sim.mesos_url + "/master/health", timeout=10).status_code == 200
    assert requests.get(sim.mesos_url + "/version", timeout=10).json()["version"]
    summary = requests.get(sim.mesos_url + "/master/state-summary", timeout=10).json()
    assert summary["slaves"][0]["TASK_RUNNING"] == 0
    assert requests.get(sim.mesos_url + "/master/nothing", timeout=10).status_code == 404


def _unwrap(response: requests.Response, callback: str) -> dict:
    """The JSON inside a JSONP answer, after checking its frame and content type."""
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript"
    text = response.text
    assert text.startswith(callback + "(") and text.endswith(");"), text[:80]
    return json.loads(text[len(callback) + 1:-2])


def test_marathon_ui_finds_mesos_and_loads_its_state_as_jsonp(sim: Simulator) -> None:
    # What Marathon's web UI does: read the leader UI URL from /v2/info, then load the master
    # state and version as <script src=...?jsonp=...> from that origin.
    info = requests.get(sim.marathon_url + "/v2/info", timeout=10).json()
    ui = info["marathon_config"]["mesos_leader_ui_url"]
    assert ui == sim.mesos_url + "/"
    state = _unwrap(requests.get(ui + "master/state.json", params={"jsonp": "jsonp_17"},
                                 timeout=10), "jsonp_17")
    assert state["id"] == master_state(sim)["id"] and state["slaves"][0]["hostname"]
    assert _unwrap(requests.get(ui + "master/state", params={"jsonp": "cb"}, timeout=10),
                   "cb")["id"] == state["id"]
    version = _unwrap(requests.get(ui + "version", params={"jsonp": "angular.callbacks._1"},
                                   timeout=10), "angular.callbacks._1")
    assert version["version"]
    agent = "http://" + state["slaves"][0]["pid"].split("@", 1)[1]
    assert _unwrap(requests.get(agent + "/state.json", params={"jsonp": "cb"}, timeout=10),
                   "cb")["id"] == state["slaves"][0]["id"]
    plain = requests.get(ui + "master/state.json", timeout=10)
    assert plain.headers["Content-Type"] == "application/json" and plain.json()["id"]
