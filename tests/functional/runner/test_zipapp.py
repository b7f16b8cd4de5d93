"""tools/build-runner: the single-file runner works without the installed package."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from kolla_mesos.testing.runner import TestDeployment
from tests.functional.runner.helpers import (  # noqa: F401
    PROJECT,
    fixture_rdep,
    fixture_rdir,
    service,
    sh,
)

TOP = Path(__file__).resolve().parents[3]


def test_zipapp_has_stdlib_and_kazoo_only_and_runs_a_job(rdep: TestDeployment,
                                                         rdir: str) -> None:
    pyz = Path(rdir) / "kolla-mesos-start.pyz"
    subprocess.run([sys.executable, str(TOP / "tools" / "build-runner"), "--output", str(pyz)],
                   check=True, capture_output=True)
    with zipfile.ZipFile(pyz) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert tops == {"__main__.py", "kolla_mesos", "kazoo"}
    # -I -S: no site-packages, no PYTHONPATH, no current directory on sys.path.
    help_text = subprocess.run([sys.executable, "-I", "-S", str(pyz), "--help"], check=True,
                               capture_output=True, text=True).stdout
    assert "usage: kolla-mesos-start" in help_text and "KOLLA_ZK_CREDENTIALS_FILE" in help_text

    out = os.path.join(rdir, "ran")
    rdep.publish(1, [service("svc", commands={
        "job": sh(f"echo from-zipapp >> {out}", job=True, run_once=True, inputs_hash="z")})])
    env = rdep.env(rdep.write_credentials(rdir), PROJECT, "svc", "host-z", KOLLA_COMMAND="job",
                   PATH=os.environ["PATH"])
    result = subprocess.run([sys.executable, "-I", "-S", str(pyz)], env=env, cwd=rdir,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    with open(out) as handle:
        assert handle.read() == "from-zipapp\n"
