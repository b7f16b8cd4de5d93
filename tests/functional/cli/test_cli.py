"""The CLI's error boundary, exit codes, the kolla-mesos-deploy alias and read commands."""

from __future__ import annotations

import subprocess
import time

import pytest

from kolla_mesos.testing.zookeeper import free_port
from tests.functional.deploy_helpers import BIN, make_env

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def env(tmp_path, zk_server, zk_root, sim):
    return make_env(tmp_path, zk_server.hosts, zk_root, sim.urls())


def test_deploy_alias_dry_run_writes_nothing(env, zk_admin):
    proc = subprocess.run(
        [str(BIN / "kolla-mesos-deploy"), "--config-file", str(env.conf), "--dry-run",
         "-e", f"store_port={env.store_port}", "-e", f"web_port={env.web_port}",
         "-f", "value", "-c", "kind"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    kinds = set(proc.stdout.split())
    assert kinds == {"zookeeper", "marathon", "chronos"}
    assert zk_admin.exists(env.zk_root) is None, "a dry run must not write to ZooKeeper"


def test_definition_validate_lists_every_service(env):
    rows = env.json("definition", "validate")
    assert {r["service"]: r["kind"] for r in rows} == {"store": "app", "web": "app",
                                                       "migrate": "job"}


def test_status_before_any_deploy_is_empty(env):
    assert env.json("status") == []


def test_unreachable_zookeeper_is_exit_4_in_one_sentence(env):
    # the default operation timeout (15 s) does not bound the connection: status says
    # within seconds, once, that ZooKeeper is unreachable and which setting names it
    text = env.conf.read_text().replace("timeout = 10", "timeout = 15")
    port = free_port()
    text = "\n".join(f"hosts = 127.0.0.1:{port}" if line.startswith("hosts =") else line
                     for line in text.splitlines())
    env.conf.write_text(text)
    started = time.monotonic()
    proc = env.run("status")
    elapsed = time.monotonic() - started
    assert proc.returncode == 4
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"ZooKeeper is unreachable: no server of 127.0.0.1:{port} (the setting "
                     "[zookeeper] hosts) answered within 5 s."], lines
    assert elapsed < 12, f"status took {elapsed:.1f} s"
    debug = env.run("--debug", "status")
    assert debug.returncode == 4 and "Traceback" in debug.stderr


def test_missing_credentials_file_is_a_config_error(env):
    text = env.conf.read_text().replace(str(env.etc / "deployer.cred"),
                                        str(env.etc / "missing.cred"))
    env.conf.write_text(text)
    proc = env.run("status")
    assert proc.returncode == 3, proc.stderr
    assert "missing.cred" in proc.stderr and "Traceback" not in proc.stderr
