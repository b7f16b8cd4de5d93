"""The deploy pipeline end to end on the test profile: real ZooKeeper, the simulator over
HTTP, the real CLI as a subprocess and the real runner inside every task."""

from __future__ import annotations

import re
import urllib.request

import pytest
from kazoo.exceptions import NoAuthError

from kolla_mesos import zkpaths
from tests.functional.deploy_helpers import make_env

pytestmark = pytest.mark.timeout(600)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback test URL
        return response.read().decode()


def _writes(stderr: str) -> tuple[int, int]:
    match = re.search(r"(\d+) ZooKeeper writes, (\d+) API writes", stderr)
    assert match, stderr
    return int(match.group(1)), int(match.group(2))


@pytest.fixture
def env(tmp_path, zk_server, zk_root, sim):
    return make_env(tmp_path, zk_server.hosts, zk_root, sim.urls(), sim_state=sim.state_dir)


def test_deploy_status_idempotence_and_reload(env, zk_server, zk_admin):
    # 1. first deploy: everything created, jobs succeed, apps healthy
    first = env.run("deploy", "-f", "json")
    assert first.returncode == 0, first.stderr + "\ntask logs:\n" + env.task_logs()
    zk_writes, api_writes = _writes(first.stderr)
    assert zk_writes > 0 and api_writes > 0

    status = {row["service"]: row for row in env.json("status")}
    assert set(status) == {"store", "web", "migrate"}
    for name in ("store", "web"):
        assert status[name]["kind"] == "app"
        assert status[name]["healthy"] == status[name]["instances"] == 1, status[name]
        assert status[name]["members"] == 1, status[name]
    assert status["migrate"]["last job result"] == "success"
    assert status["store"]["last job result"] == "success"
    assert "web ok" in _get(f"http://127.0.0.1:{env.web_port}/")

    # 2. the configs are in ZooKeeper, protected: anonymous clients read nothing
    dep = zkpaths.deployment(env.zk_root, env.deployment_id)
    anon = zk_server.client()
    try:
        for path in (dep, zkpaths.current(env.zk_root, env.deployment_id),
                     zkpaths.generations(env.zk_root, env.deployment_id)):
            with pytest.raises(NoAuthError):
                anon.get(path)
    finally:
        anon.stop()
        anon.close()
    current_before = zk_admin.get(zkpaths.current(env.zk_root, env.deployment_id))

    # 3. config list/show: secrets masked unless asked
    paths = [row["path"] for row in env.json("config", "list", "services/testing/store")]
    assert "services/testing/store/files/store.conf" in paths
    shown = env.run("config", "show", "services/testing/store/files/store.conf", check=True)
    assert "test-store-secret-42" not in shown.stdout and "********" in shown.stdout
    secret = env.run("config", "show", "services/testing/store/files/store.conf",
                     "--show-secrets", check=True)
    assert "test-store-secret-42" in secret.stdout

    # 4. a second deploy with the same inputs writes nothing anywhere
    assert env.json("plan") == []
    second = env.run("deploy")
    assert second.returncode == 0, second.stderr
    assert _writes(second.stderr) == (0, 0)
    current_after = zk_admin.get(zkpaths.current(env.zk_root, env.deployment_id))
    assert current_after[1].mzxid == current_before[1].mzxid

    # 5. a change to a sighup service: new generation, files rewritten in place, SIGHUP
    changed = env.run("deploy", "-e", "web_workers=7")
    assert changed.returncode == 0, changed.stderr
    gen = int(zk_admin.get(zkpaths.current(env.zk_root, env.deployment_id))[0])
    assert gen == int(current_before[0]) + 1
    deployments = {r["deployment"]: r for r in env.json("deployment", "list")}
    assert deployments[env.deployment_id]["current generation"] == gen
    assert "reloads=1" in _get(f"http://127.0.0.1:{env.web_port}/")

    # 6. rollback: back to the first generation, its files reach the sighup service again
    rows = env.json("rollback")
    assert rows == [{"from": gen, "to": gen - 1, "apps": 2}]
    assert int(zk_admin.get(zkpaths.current(env.zk_root, env.deployment_id))[0]) == gen - 1
    plan = env.json("plan", "-e", "web_workers=7")
    assert {"kind": "zookeeper", "what": "services/testing/web/files/web.conf",
            "action": "change"} in plan
    detailed = env.json("plan", "--diff", "-e", "web_workers=9")
    web_conf = next(r for r in detailed if r["what"] == "services/testing/web/files/web.conf")
    assert "+workers = 9" in web_conf["diff"] and "-workers = 3" in web_conf["diff"]
    assert "test-store-secret-42" not in str(detailed)
    # a changed app is shown as a unified diff of its JSON, not as the whole app
    store_app = next(r for r in env.json("plan", "--diff", "-e", "store_greeting=changed")
                     if r["kind"] == "marathon")
    lines = store_app["diff"].splitlines()
    assert lines[0].startswith("--- live/") and lines[1].startswith("+++ plan/"), lines[:2]
    changed = [line for line in lines[2:] if line[:1] in "+-"]
    assert changed and all("KOLLA_CONFIG_HASH" in line for line in changed), changed


def test_failed_job_rolls_back_to_previous_generation(env, zk_admin):
    assert env.run("deploy").returncode == 0
    current = zkpaths.current(env.zk_root, env.deployment_id)
    before = zk_admin.get(current)[0]
    # a seed job that fails: the deploy must fail, name the job and roll back
    failed = env.run("deploy", "-e", "store_greeting=changed", "-e",
                     "python=/bin/false", timeout=300)
    assert failed.returncode == 6, failed.stderr
    assert "failed" in failed.stderr and "Rolled back to generation" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert zk_admin.get(current)[0] == before


def test_bad_input_is_one_sentence(env, tmp_path):
    (env.etc / "topology.yml").write_text("hosts:\n  agent1: {addresses: {api: 127.0.1.1}}\n"
                                          "groups:\n  store: [agent1, ghost]\n  web: [agent1]\n")
    proc = env.run("deploy")
    assert proc.returncode == 3
    assert "ghost" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_killed_deployer_converges_on_rerun(env, zk_admin):
    import subprocess
    import threading

    from tests.functional.deploy_helpers import BIN

    current = zkpaths.current(env.zk_root, env.deployment_id)
    switched = threading.Event()
    zk_admin.ensure_path(env.zk_root)

    def watch(data, stat):
        if data:
            switched.set()

    zk_admin.DataWatch(current, watch)
    cmd = [str(BIN / "kolla-mesos"), "--config-file", str(env.conf),
           "-e", f"store_port={env.store_port}", "-e", f"web_port={env.web_port}", "deploy"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert switched.wait(120), "the deployer never switched current"
    finally:
        proc.kill()
        proc.wait(timeout=30)
    # re-run: it converges (jobs done, apps healthy), and then a third run is a no-op
    again = env.run("deploy")
    assert again.returncode == 0, again.stderr + "\ntask logs:\n" + env.task_logs()
    status = {row["service"]: row for row in env.json("status")}
    assert status["web"]["healthy"] == 1 and status["store"]["healthy"] == 1
    assert status["migrate"]["last job result"] == "success"
    third = env.run("deploy")
    assert _writes(third.stderr) == (0, 0)


def test_failed_job_is_rerun_by_the_next_deploy(env, tmp_path):
    marker = tmp_path / "migrated-once"
    script = (f"import os,sys; p={str(marker)!r}; ok=os.path.exists(p); "
              "open(p,'a').close(); print('migration', 'ok' if ok else 'failed'); "
              "sys.exit(0 if ok else 3)")
    first = env.run("deploy", "--timeout", "60", "-e", f"migrate_script={script}")
    assert first.returncode == 6, first.stderr
    assert "migrate-migrate" in first.stderr and "failed" in first.stderr
    # same inputs: the failed job is re-run (not a new job), its child fires, apps get healthy
    plan = env.json("plan", "-e", f"migrate_script={script}")
    assert [r["action"] for r in plan if r["kind"] == "chronos"] == ["rerun"]
    second = env.run("deploy", "-e", f"migrate_script={script}")
    assert second.returncode == 0, second.stderr + env.task_logs()
    status = {row["service"]: row for row in env.json("status")}
    assert status["migrate"]["last job result"] == "success"
    assert status["web"]["healthy"] == 1


def test_failed_app_only_change_restores_the_previous_apps(env, zk_admin, sim):
    import requests

    from kolla_mesos.testing.zookeeper import free_port

    assert env.run("deploy").returncode == 0
    current = zkpaths.current(env.zk_root, env.deployment_id)
    before = zk_admin.get(current)[0]
    app_url = f"{sim.marathon_url}/v2/apps/kolla/{env.deployment_id}/testing/web"
    # only the app changes (its health check probes a port nobody serves): no new generation
    bad = env.run("deploy", "--timeout", "8", "-e", f"web_health_port={free_port()}")
    assert bad.returncode == 6, bad.stderr
    assert "Rolled back to generation" in bad.stderr
    assert zk_admin.get(current)[0] == before
    app = requests.get(app_url, timeout=10).json()["app"]
    assert app["healthChecks"][0]["port"] == env.web_port
