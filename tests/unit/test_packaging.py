"""The repository ships two distributions: the product's wheel holds no simulator code, and the
simulator's wheel (mesos-sim) installs and runs on its own, without kolla-mesos.

Each wheel is built from a copy of the files a clean clone has (tracked and new, not ignored),
so that a stale ``build/`` directory in the working tree cannot leak old modules into it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
SIM_MODULES = "import importlib, pkgutil, mesos_sim; " \
    "[importlib.import_module(m.name) for m in pkgutil.walk_packages(mesos_sim.__path__, " \
    "'mesos_sim.') if m.name != 'mesos_sim.testing']"

pytestmark = pytest.mark.slow


def clean_copy(subdir: str, dest: Path) -> Path:
    """Copy what git would ship of ``TOP/subdir`` (tracked and untracked-not-ignored) to dest."""
    if shutil.which("git") is None or not (TOP / ".git").exists():
        pytest.skip("needs a git checkout of the repository")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z", "--", subdir],
                            cwd=TOP, check=True, capture_output=True, text=True).stdout
    for name in filter(None, listed.split("\0")):
        source = TOP / name
        if not source.is_file():          # deleted in the working tree but still tracked
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return dest / subdir


def build_wheel(project: Path, out: Path) -> Path:
    """``pip wheel`` one project (no dependencies, this venv's setuptools); the wheel's path."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(project)],
                   check=True, capture_output=True, text=True, timeout=120)
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_product_wheel_contains_no_simulator(tmp_path: Path) -> None:
    wheel = build_wheel(clean_copy(".", tmp_path / "src"), tmp_path / "dist")
    names = zipfile.ZipFile(wheel).namelist()
    assert "kolla_mesos/cli/app.py" in names
    assert [n for n in names if n.startswith("mesos_sim/") or n.startswith("kolla_mesos/sim/")
            or n.startswith("tests/")] == []
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "kolla-mesos-sim" not in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_simulator_wheel_installs_and_runs_alone(tmp_path: Path) -> None:
    wheel = build_wheel(clean_copy("mesos-sim", tmp_path / "src"), tmp_path / "dist")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mesos_sim/marathon/service.py" in names and "mesos_sim/task_init.py" in names
    assert [n for n in names if n.startswith("kolla_mesos/") or n.startswith("tests/")] == []
    venv = tmp_path / "venv"
    # A fresh venv without system site packages; this venv's pip installs into it (``--python``)
    # so that the test does not pay for ensurepip.  PyYAML comes from pip's cache or PyPI.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    python = str(venv / "bin" / "python")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300, env=env)
    helped = subprocess.run([str(venv / "bin" / "kolla-mesos-sim"), "--help"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0, helped.stderr
    assert "usage: kolla-mesos-sim" in helped.stdout and "--state-dir" in helped.stdout
    imported = subprocess.run([python, "-c", SIM_MODULES], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
    assert imported.returncode == 0, imported.stderr
    alone = subprocess.run([python, "-c", "import kolla_mesos"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert alone.returncode != 0 and "No module named 'kolla_mesos'" in alone.stderr
