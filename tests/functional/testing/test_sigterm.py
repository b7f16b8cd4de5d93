"""A test run stopped with SIGTERM still tears its fixtures down (kolla_mesos.testing.fixtures)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kolla_mesos.testing.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[3]
INNER = '''
import pathlib, time
def test_waits(zk_server):
    pathlib.Path({out!r}).write_text(str(zk_server.process.pid))
    time.sleep(120)
'''


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def test_sigterm_stops_the_zookeeper_a_run_started(tmp_path: Path) -> None:
    out = tmp_path / "pid"
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["kolla_mesos.testing.fixtures"]\n')
    (tmp_path / "test_inner.py").write_text(INNER.format(out=str(out)))
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "-p", "no:timeout", str(tmp_path / "test_inner.py")],
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        pid = int(wait_for(lambda: out.exists() and out.read_text() or None, timeout=60,
                           what="the inner run's ZooKeeper", interval=0.1))
        assert _alive(pid)
        run.send_signal(signal.SIGTERM)
        run.wait(60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    wait_for(lambda: not _alive(pid), timeout=30, what="the inner run's ZooKeeper to stop")
