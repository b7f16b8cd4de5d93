"""No secret in the CLI's output or logs, even at -vv: deploy, status, config show, plan --diff.

At -vv the libraries log too (kazoo, urllib3, marathon-python); kazoo's DEBUG level would log
every request with its data: the deployer's digest credentials and the rendered files.
"""

from __future__ import annotations

import pytest

from kolla_mesos.clients import zk_acl
from tests.functional.deploy_helpers import DEPLOYER, make_env

pytestmark = pytest.mark.timeout(300)

STORE_PASSWORD = "test-store-secret-42"  # noqa: S105 - tests/data/testconfig/passwords.yml


@pytest.fixture
def env(tmp_path, zk_server, zk_root, sim):
    return make_env(tmp_path, zk_server.hosts, zk_root, sim.urls(), sim_state=sim.state_dir)


def test_no_secret_in_output_at_vv(env):
    runs = [env.run("-vv", "deploy", "--no-progress")]
    assert runs[0].returncode == 0, runs[0].stderr[-3000:] + env.task_logs()
    runs.append(env.run("-vv", "status"))
    runs.append(env.run("-vv", "config", "show", "services/testing/store/files/store.conf"))
    runs.append(env.run("-vv", "plan", "--diff", "-e", "web_workers=9", "-f", "json"))
    for proc in runs:
        assert proc.returncode == 0, proc.stderr[-3000:]
    # urllib3 logs this at DEBUG: the libraries did log (else this test proves nothing)
    assert "Starting new HTTP connection" in runs[0].stderr, runs[0].stderr[-2000:]
    assert "********" in runs[2].stdout
    runners = zk_acl.read_runner_credentials(env.etc / "runners")
    secrets = (DEPLOYER[1], STORE_PASSWORD, *(password for _, password in runners.values()))
    for proc in runs:
        for secret in secrets:
            assert secret not in proc.stdout, (proc.args[-3:], secret)
            assert secret not in proc.stderr, (proc.args[-3:], secret)
