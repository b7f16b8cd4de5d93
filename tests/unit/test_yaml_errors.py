"""A YAML syntax error is one sentence naming the file and line, and never quotes the file.

PyYAML's own message quotes the lines around the error: for passwords.yml (or a globals.yml
holding a secret) that would print a password.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kolla_mesos import errors
from kolla_mesos.passwords import read_passwords
from kolla_mesos.render.topology import load_topology
from kolla_mesos.render.variables import load_yaml_layer

SECRET = "s3cr3t-Very-Long-Passw0rd"
# Line 2 is broken; the error is reported on line 3, whose text holds a secret.
BROKEN = f"database_password: {SECRET}\nbroken: [one\nkeystone_admin_password: {SECRET}x\n"


def _write(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text(BROKEN)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("load", [
    lambda p: read_passwords(p),
    lambda p: load_yaml_layer(p),
    lambda p: load_topology(p),
], ids=["passwords", "globals", "topology"])
def test_syntax_error_is_one_sentence_without_the_file_text(tmp_path, load):
    path = _write(tmp_path, "input.yml")
    with pytest.raises(errors.ConfigError) as info:
        load(path)
    message = str(info.value)
    assert SECRET not in message
    assert "\n" not in message
    assert str(path) in message and "line 3" in message


def test_yaml_problem_of_a_non_marked_error():
    assert errors.yaml_problem(ValueError("x")) == "ValueError"


def test_a_from_yaml_error_while_rendering_does_not_quote_the_value():
    import yaml

    from kolla_mesos.render.jinja_env import describe

    with pytest.raises(yaml.YAMLError) as info:
        yaml.safe_load(BROKEN)
    text = describe(info.value)
    assert SECRET not in text and "\n" not in text and "line 3" in text
