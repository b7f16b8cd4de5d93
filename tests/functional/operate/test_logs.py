"""``kolla-mesos logs`` through the real CLI against a two-agent simulator and ZooKeeper."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mesos_sim.simulator import Simulator

from kolla_mesos.clients.chronos import ChronosClient
from kolla_mesos.clients.marathon import MarathonClient
from kolla_mesos.testing.waiting import wait_for
from tests.functional.deploy_helpers import BIN, DeployEnv
from tests.functional.operate.helpers import two_agent_env, two_agent_simulator

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def sim2(tmp_path: Path) -> Iterator[Simulator]:
    sim = two_agent_simulator(tmp_path / "sim")
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def deployed(tmp_path: Path, zk_server: Any, zk_root: str, sim2: Simulator) -> DeployEnv:
    env = two_agent_env(tmp_path, "d", zk_server.hosts, zk_root, sim2)
    env.run("deploy", check=True)
    return env


def _logs(env: DeployEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return env.run("logs", *args, timeout=60)


def test_logs_of_apps_and_jobs(deployed: DeployEnv) -> None:
    env = deployed
    # an app on two hosts: each line prefixed with its host
    proc = _logs(env, "store")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert sorted(lines) == [f"[agent1] store listening on {env.store_port}",
                             f"[agent2] store listening on {env.store_port}"], lines
    # one host: no prefix; the runner's own log is the task's stderr
    one = _logs(env, "store", "--host", "agent2", "--stderr")
    assert one.returncode == 0, one.stderr
    assert one.stdout and not one.stdout.startswith("[")
    assert "kolla_mesos" in one.stdout
    # a job's last run (its stdout: what the command printed)
    job = _logs(env, "migrate/migrate")
    assert job.returncode == 0, job.stderr
    assert job.stdout.splitlines() == ["migrating schema"]
    # a job-only service: every job, each line labelled with its job
    both = _logs(env, "migrate")
    assert both.returncode == 0, both.stderr
    assert sorted(both.stdout.splitlines()) == ["[migrate/migrate] migrating schema",
                                                "[migrate/seed] seeding data"]
    # --tail of a long-running app's stdout (web logs every health check)
    wait_for(lambda: len(_logs(env, "web").stdout.splitlines()) >= 4, timeout=30,
             what="web's health-check lines", interval=0.5)
    tail = _logs(env, "web", "--tail", "2")
    assert tail.returncode == 0 and len(tail.stdout.splitlines()) == 2, tail.stdout
    assert all(line.startswith("request ") for line in tail.stdout.splitlines())
    # --since drops the runner's lines written before the window
    recent = _logs(env, "store", "--stderr", "--host", "agent1", "--since", "1s")
    assert recent.returncode == 0, recent.stderr
    assert len(recent.stdout.splitlines()) < len(_logs(
        env, "store", "--stderr", "--host", "agent1").stdout.splitlines())


def test_logs_all_runs_of_a_job(deployed: DeployEnv, sim2: Simulator) -> None:
    env = deployed
    chronos = ChronosClient(sim2.chronos_url)
    job = next(j for j in chronos.list_jobs() if "-migrate-seed-" in j["name"])
    # a one-shot job disables itself after its run: submit it again, as a re-run does
    body = {k: v for k, v in job.items() if k != "parents"}
    chronos.add_job({**body, "disabled": False, "schedule": "R1//PT24H"})

    seen: list[str] = []

    def two_runs() -> list[str] | None:
        proc = _logs(env, "migrate/seed", "--all")
        seen[:] = [proc.stdout, proc.stderr, str(chronos.get_job(job["name"]))]
        lines = proc.stdout.splitlines()
        headers = [line for line in lines if line.startswith("==> ")]
        return headers if len(headers) == 2 and "FINISHED" in headers[-1] else None

    try:
        headers = wait_for(two_runs, timeout=30, what="a second run of the seed job",
                           interval=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {seen}") from None
    assert all("migrate/seed task ct:" in h for h in headers), headers
    # the second run found its work done (run_once): only the first printed it
    every = _logs(env, "migrate/seed", "--all").stdout
    assert every.count("seeding data") == 1, every
    last = _logs(env, "migrate/seed")
    assert last.returncode == 0 and "seeding data" not in last.stdout, last.stdout


def test_logs_follow_prints_new_lines_until_interrupted(deployed: DeployEnv) -> None:
    env = deployed
    cmd = [str(BIN / "kolla-mesos"), "--config-file", str(env.conf), "logs", "web",
           "--follow", "--tail", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        started = time.monotonic()
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        assert first.startswith("request ") and second.startswith("request "), (first, second)
        assert time.monotonic() - started < 20
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err


def test_logs_bad_input_is_one_sentence(deployed: DeployEnv) -> None:
    env = deployed
    for args, words in ((("nosuch",), "Service 'nosuch' is not part of deployment 't1'"),
                        (("web/prepare",), "names no task of service 'web'"),
                        (("web", "--host", "agent2"), "does not run on host 'agent2'"),
                        (("web", "--since", "10"), "is not a duration")):
        proc = _logs(env, *args)
        assert proc.returncode == 3, (args, proc.stderr)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and words in lines[0], (args, proc.stderr)


def test_logs_follow_picks_up_a_restarted_task(deployed: DeployEnv, sim2: Simulator) -> None:
    env = deployed
    cmd = [str(BIN / "kolla-mesos"), "--config-file", str(env.conf), "logs", "store",
           "--host", "agent1", "--follow"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    marathon = MarathonClient(sim2.marathon_url)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == f"store listening on {env.store_port}\n"
        marathon.restart_app("/kolla/t1/testing/store")
        # the new task's first line, from its first byte (discovery runs every 5 s)
        assert proc.stdout.readline() == f"store listening on {env.store_port}\n"
    finally:
        marathon.close()
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
