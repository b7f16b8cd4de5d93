"""The simulator's Chronos API over real HTTP: validation, one-shots, parents, retries, summary."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from mesos_sim.simulator import Simulator
from mesos_sim.testing import wait_for

V1 = "/v1/scheduler"
V2 = "/scheduler"


def post(sim: Simulator, job: dict, prefix: str = V1, kind: str = "iso8601"):
    return requests.post(f"{sim.chronos_url}{prefix}/{kind}", json=job, timeout=10)


def job(sim: Simulator, name: str) -> dict:
    r = requests.get(f"{sim.chronos_url}{V1}/job/{name}", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def summary(sim: Simulator) -> dict:
    r = requests.get(f"{sim.chronos_url}{V1}/jobs/summary", timeout=10)
    assert r.status_code == 200
    return {j["name"]: j for j in r.json()["jobs"]}


def test_validation_errors_match_chronos(sim: Simulator) -> None:
    url = sim.chronos_url
    r = post(sim, {"command": "true"})
    assert r.status_code == 500 and r.headers["Content-Type"].startswith("text/html")
    r = post(sim, {"name": "has space", "command": "true"})
    assert r.status_code == 400
    assert r.json()["status"] == "Bad Request"
    assert r.json()["message"].startswith(
        "java.lang.IllegalArgumentException: requirement failed: the job's name is invalid")
    r = post(sim, {"name": "bad-schedule", "command": "true", "schedule": "every day"})
    assert r.status_code == 400
    assert r.json()["message"] == "Cannot parse schedule 'every day' (wtf bro)"
    r = post(sim, {"name": "both", "command": "true", "uris": ["http://x/a"],
                   "fetch": [{"uri": "http://x/b"}]})
    assert r.status_code == 400 and "both uri (deprecated) and fetch" in r.json()["message"]
    r = post(sim, {"name": "orphan", "command": "true", "parents": []}, kind="dependency")
    assert r.status_code == 500 and r.json()["status"] == "Internal Server Error"
    r = post(sim, {"name": "net", "command": "true",
                   "container": {"image": "x", "network": "host"}})
    assert r.status_code == 500
    # 2.x: plain-text 400s, empty bodies for bad schedules, missing parents rejected
    r = post(sim, {"name": "a:b", "command": "true"}, prefix=V2)
    assert r.status_code == 400 and r.text.startswith("requirement failed: the job's name")
    r = post(sim, {"name": "x", "command": "true", "schedule": "nope"}, prefix=V2)
    assert r.status_code == 400 and r.text == ""
    r = post(sim, {"name": "kid", "command": "true", "parents": ["nobody"]}, prefix=V2,
             kind="dependency")
    assert r.status_code == 400 and "does not have all parents defined" in r.text
    # unknown names are 400, not 404
    for method, path in (("GET", f"{V1}/job/none"), ("PUT", f"{V1}/job/none"),
                         ("DELETE", f"{V1}/job/none"), ("DELETE", f"{V1}/task/kill/none"),
                         ("GET", f"{V1}/job/stat/none")):
        r = requests.request(method, url + path, timeout=10)
        assert r.status_code == 400, (method, path)
    assert "JobSchedule 'none' not found" in requests.delete(
        f"{url}{V1}/job/none", timeout=10).json()["message"]
    assert requests.put(f"{url}{V1}/iso8601", json={"name": "p"}, timeout=10).status_code == 405
    assert requests.get(f"{url}{V2}/job/anything", timeout=10).status_code == 405
    assert requests.get(f"{url}{V2}/jobs/summary", timeout=10).status_code == 404
    r = requests.post(f"{url}{V1}/iso8601", data=b'{"name":"t"}',
                      headers={"Content-Type": "text/plain"}, timeout=10)
    assert r.status_code == 415
    assert requests.get(f"{url}/ping", timeout=10).text == "pong\n"
    assert requests.get(f"{url}{V1}/jobs", timeout=10).json() == []


def test_one_shot_runs_once_and_is_disabled(sim: Simulator, tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    r = post(sim, {"name": "once", "command": f"echo run >> {marker}", "owner": "ops@x",
                   "schedule": "R1//PT24H", "retries": 0})
    assert r.status_code == 204 and r.text == ""
    done = wait_for(lambda: job(sim, "once")["successCount"] == 1 and job(sim, "once"),
                    what="one-shot success")
    assert done["disabled"] is True
    assert done["schedule"].startswith("R0/") and done["schedule"].endswith("/PT24H")
    assert done["lastSuccess"].endswith("Z") and done["lastError"] == ""
    assert summary(sim)["once"] == {"name": "once", "status": "success", "state": "idle",
                                    "schedule": done["schedule"], "parents": [],
                                    "disabled": True}
    # a manual run of a disabled job is accepted and silently dropped
    assert requests.put(f"{sim.chronos_url}{V1}/job/once", timeout=10).status_code == 204
    # a later job finishing proves the scheduler already handled (dropped) the earlier run
    post(sim, {"name": "later", "command": "true", "retries": 0})
    wait_for(lambda: job(sim, "later")["successCount"] == 1, what="later job")
    assert marker.read_text() == "run\n"
    assert job(sim, "once")["successCount"] == 1


def test_dependent_job_runs_after_all_parents(sim: Simulator, tmp_path: Path) -> None:
    log = tmp_path / "order"
    # parents start only when triggered: a parent run before the child existed does not count
    for parent in ("pa", "pb"):
        assert post(sim, {"name": parent, "command": f"echo {parent} >> {log}", "retries": 0,
                          "schedule": "R1/2099-01-01T00:00:00Z/PT1H"}).ok
    r = post(sim, {"name": "child", "command": f"echo child >> {log}", "retries": 0,
                   "parents": ["pa", "pb"]}, kind="dependency")
    assert r.status_code == 204
    assert requests.put(f"{sim.chronos_url}{V1}/job/pa", timeout=10).status_code == 204
    wait_for(lambda: job(sim, "pa")["successCount"] == 1, what="first parent")
    state = summary(sim)
    assert state["child"]["state"] == "idle" and state["child"]["status"] == "fresh"
    assert state["child"]["schedule"] == "" and state["child"]["parents"] == ["pa", "pb"]
    assert requests.put(f"{sim.chronos_url}{V1}/job/pb", timeout=10).status_code == 204
    wait_for(lambda: job(sim, "child")["successCount"] == 1, what="child job")
    assert log.read_text().splitlines() == ["pa", "pb", "child"]
    assert "parents" in job(sim, "child") and "schedule" not in job(sim, "child")
    csv = requests.get(f"{sim.chronos_url}{V1}/graph/csv", timeout=10).text
    assert "link,pa,child\n" in csv and "node,child,success,idle\n" in csv


def test_failed_job_is_retried_then_reports_failure(sim: Simulator, tmp_path: Path) -> None:
    log = tmp_path / "attempts"
    cmd = f"echo $CHRONOS_JOB_RUN_ATTEMPT >> {log}; exit 3"
    assert post(sim, {"name": "flaky", "command": cmd, "retries": 2}).status_code == 204
    failed = wait_for(lambda: job(sim, "flaky")["errorCount"] == 1 and job(sim, "flaky"),
                      what="final failure")
    assert log.read_text().split() == ["0", "1", "2"]
    assert failed["errorsSinceLastSuccess"] == 1 and failed["successCount"] == 0
    assert failed["lastError"] and not failed["disabled"]
    assert summary(sim)["flaky"]["status"] == "failure"
    # the previous run failed: a new run gets no retries
    assert post(sim, {**failed, "schedule": "R1//PT1H"}).status_code == 204
    wait_for(lambda: job(sim, "flaky")["errorCount"] == 2, what="second failure")
    assert log.read_text().split() == ["0", "1", "2", "0"]


def test_running_state_kill_and_delete(sim: Simulator) -> None:
    assert post(sim, {"name": "long", "command": "sleep 60", "retries": 0}).ok
    wait_for(lambda: summary(sim)["long"]["state"] == "1 running", what="running state")
    tasks = sim.cluster.tasks("chronos")
    assert [t.name for t in tasks] == ["ChronosTask:long"]
    assert tasks[0].id.startswith("ct:") and tasks[0].id.endswith(":0:long:")
    assert tasks[0].env["CHRONOS_JOB_NAME"] == "long"
    assert tasks[0].env["mesos_task_id"] == tasks[0].id
    r = requests.delete(f"{sim.chronos_url}{V1}/task/kill/long", timeout=10)
    assert r.status_code == 204
    after = wait_for(lambda: summary(sim)["long"]["state"] == "idle" and summary(sim)["long"],
                     what="idle after kill")
    assert after["status"] == "fresh"  # a kill records no error
    assert job(sim, "long")["errorCount"] == 0
    assert requests.delete(f"{sim.chronos_url}{V1}/job/long", timeout=10).status_code == 204
    assert requests.get(f"{sim.chronos_url}{V1}/job/long", timeout=10).status_code == 400


@pytest.mark.parametrize("prefix", [V1, V2])
def test_both_prefixes_list_and_search(sim: Simulator, prefix: str) -> None:
    body = {"name": "kolla-keystone-db-sync", "command": "true", "owner": "", "disabled": True,
            "async": False, "schedule": "R0/2014-01-01T00:00:00Z/PT60M", "cpus": "0.5",
            "uris": ["http://example.com/a"], "successCount": 4}
    assert post(sim, body, prefix=prefix).status_code == 204
    listed = requests.get(f"{sim.chronos_url}{prefix}/jobs", timeout=10).json()
    assert [j["name"] for j in listed] == ["kolla-keystone-db-sync"]
    shown = listed[0]
    assert shown["cpus"] == 0.5 and shown["mem"] == 128.0 and shown["successCount"] == 4
    assert shown["fetch"] == [{"uri": "http://example.com/a", "executable": False,
                               "cache": False, "extract": True}]
    assert list(shown)[:3] == ["name", "command", "shell"]
    assert list(shown)[-2:] == ["schedule", "scheduleTimeZone"]
    if prefix == V2:
        assert "epsilon" in shown and "async" in shown and "concurrent" not in shown
    else:
        assert "concurrent" in shown and "async" not in shown
    search = f"{sim.chronos_url}{prefix}/jobs/search"
    assert len(requests.get(search, params={"name": "KEYSTONE"}, timeout=10).json()) == 1
    assert requests.get(search, params={"name": "nova"}, timeout=10).json() == []
    assert len(requests.get(search, params={"name": "nova", "any": "db-sync"},
                            timeout=10).json()) == 1


def test_dependent_job_waits_for_missing_parent_and_run_now_arguments(sim: Simulator) -> None:
    url = sim.chronos_url
    r = post(sim, {"name": "late-child", "command": "true", "parents": ["late-parent"]},
             kind="dependency")
    assert r.status_code == 204  # 3.x accepts it but keeps it out of the graph
    assert requests.get(f"{url}{V1}/jobs", timeout=10).json() == []
    assert post(sim, {"name": "late-parent", "command": "echo", "retries": 0,
                      "schedule": "R1/2099-01-01T00:00:00Z/PT1H",
                      "arguments": ["default"]}).ok
    wait_for(lambda: len(requests.get(f"{url}{V1}/jobs", timeout=10).json()) == 2,
             what="dependent job registered once its parent exists")
    r = requests.put(f"{url}{V1}/job/late-parent", params={"arguments": "hello;world"},
                     timeout=10)
    assert r.status_code == 204
    wait_for(lambda: job(sim, "late-child")["successCount"] == 1, what="child after parent")
    parent_tasks = [t for t in sim.cluster.framework_tasks(sim.chronos.framework)[1]
                    if t.name == "ChronosTask:late-parent"]
    assert parent_tasks[0].id.endswith(":0:late-parent:helloworld")
    assert (parent_tasks[0].sandbox / "stdout").read_text() == "helloworld\n"
