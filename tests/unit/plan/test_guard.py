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
    assert (f"deployment_files/testing/store.yml.j2: {field} carries a value of passwords.yml "
            "or a line of a private key") in message, message


def test_a_secret_in_a_command_env_or_a_file_is_allowed(tmp_path):
    base = _base_with(tmp_path, "      job: true\n",
                      "      job: true\n      env: {STORE_PW: \"{{ store_password }}\"}\n")
    plan = load_plan(make_inputs(tmp_path, base=base))
    init = plan.service("store").definition.command("init")
    assert init.env_dict["STORE_PW"] == SECRET


TLS = {"kolla_enable_tls_external": "yes", "kolla_internal_vip_address": "127.0.9.9",
       "kolla_external_vip_address": "127.0.9.9", "kolla_internal_fqdn": "127.0.9.9",
       "kolla_external_fqdn": "127.0.9.9"}


def _tls_inputs(tmp_path: Path, base: Path | None = None):
    from kolla_mesos.certificates import generate, model

    inputs = make_inputs(tmp_path, base=base, extra=TLS)
    settings = model.TlsSettings("127.0.9.9", "127.0.9.9", "127.0.9.9", "127.0.9.9",
                                 False, True, False, {})
    generate.generate(inputs.config_dir / "certificates", settings)
    return inputs


def test_a_private_key_line_in_argv_is_refused(tmp_path):
    # a deployment file that reads the HAProxy key into a command line
    base = _base_with(tmp_path, "\"-c\", \"print('store initialised')\"]",
                      "\"-c\", \"print('store initialised')\", {{ (lookup('file', "
                      "CONFIG_DIR ~ '/certificates/haproxy.pem').splitlines()[-3]) "
                      "| to_json }}]")
    inputs = _tls_inputs(tmp_path, base)
    key_line = (inputs.config_dir / "certificates/haproxy.pem").read_text().splitlines()[-3]
    with pytest.raises(errors.DefinitionError) as info:
        load_plan(inputs)
    assert "service.commands.init.command[3] carries a value of passwords.yml or a line of " \
        "a private key" in str(info.value)
    assert key_line not in str(info.value)


def test_tls_without_certificates_is_refused_naming_the_file_and_command(tmp_path):
    inputs = make_inputs(tmp_path, extra=TLS)
    with pytest.raises(errors.CertificateError) as info:
        load_plan(inputs)
    assert str(info.value) == (
        f"TLS is enabled but {inputs.config_dir}/certificates/ca/root.crt does not exist; "
        "create it with 'kolla-mesos certificates'.")
    assert info.value.exit_code == errors.ExitCode.CONFIG


def test_tls_with_certificates_plans(tmp_path):
    load_plan(_tls_inputs(tmp_path))
