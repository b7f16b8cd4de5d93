"""A deployment file that puts a value of passwords.yml into app/job JSON or an argv is refused.

The error names the deployment file and the field, and never the value.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kolla_mesos import errors
from kolla_mesos.plan.loader import load_plan
from tests.unit.plan.test_build import DATA, make_inputs

SECRET = "test-store-secret-42"


def _base_with(tmp_path: Path, old: str, new: str) -> Path:
    base = tmp_path / "base"
    shutil.copytree(DATA / "testbase", base)
    path = base / "deployment_files" / "testing" / "store.yml.j2"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return base


@pytest.mark.parametrize(("old", "new", "field"), [
    ("  cpus: 0.1\n  mem: 64\n",
     "  cpus: 0.1\n  mem: 64\n  env: {STORE_PW: \"{{ store_password }}\"}\n",
     "app.env.STORE_PW"),
    ("init: {cpus: 0.1, mem: 32}", "init: {cpus: 0.1, mem: 32, owner: \"x{{ store_password }}\"}",
     "jobs.init.owner"),
    ("\"-c\", \"print('store initialised')\"]",
     "\"-c\", \"print('store initialised')\", \"--password={{ store_password }}\"]",
     "service.commands.init.command[3]"),
    ("command: [\"{{ python }}\", \"server.py\", \"store.conf\"]",
     "command: [\"{{ python }}\", \"server.py\", \"store.conf\", \"{{ store_password }}\"]",
     "service.daemon.command[3]"),
], ids=["app-env", "job-field", "command-argv", "daemon-argv"])
def test_a_secret_in_json_or_argv_is_refused(tmp_path, old, new, field):
    inputs = make_inputs(tmp_path, base=_base_with(tmp_path, old, new))
    with pytest.raises(errors.DefinitionError) as info:
        load_plan(inputs)
    message = str(info.value)
    assert SECRET not in message
    assert f"deployment_files/testing/store.yml.j2: {field} carries a value of passwords.yml" \
        in message, message


def test_a_secret_in_a_command_env_or_a_file_is_allowed(tmp_path):
    base = _base_with(tmp_path, "      job: true\n",
                      "      job: true\n      env: {STORE_PW: \"{{ store_password }}\"}\n")
    plan = load_plan(make_inputs(tmp_path, base=base))
    init = plan.service("store").definition.command("init")
    assert init.env_dict["STORE_PW"] == SECRET
