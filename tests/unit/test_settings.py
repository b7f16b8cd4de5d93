"""Settings: the generated sample is current, errors name the file and option."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from kolla_mesos import errors, settings

TOP = Path(__file__).resolve().parents[2]


def test_sample_config_is_current(tmp_path):
    out = tmp_path / "sample.conf"
    subprocess.run(
        [sys.executable, "-m", "oslo_config.generator", "--config-file",
         str(TOP / "etc/oslo-config-generator/kolla-mesos.conf"), "--output-file", str(out)],
        check=True, cwd=TOP,
    )
    committed = (TOP / "etc/kolla-mesos/kolla-mesos.conf.sample").read_text()
    assert out.read_text() == committed, (
        "etc/kolla-mesos/kolla-mesos.conf.sample is stale: regenerate it with "
        "oslo-config-generator --config-file etc/oslo-config-generator/kolla-mesos.conf")


def test_list_opts_covers_every_group():
    groups = dict(settings.list_opts())
    assert set(groups) == {"kolla", "zookeeper", "marathon", "chronos", "mesos"}
    names = {g: {o.name for o in opts} for g, opts in groups.items()}
    assert {"deployment_id", "profile", "config_dir"} <= names["kolla"]
    assert {"hosts", "root", "credentials_file", "timeout"} <= names["zookeeper"]
    assert {"url", "timeout", "credentials_file"} <= names["marathon"]
    assert {"url", "timeout"} <= names["chronos"]
    assert "url" in names["mesos"]


def test_load_file_and_overrides(tmp_path):
    conf_file = tmp_path / "k.conf"
    conf_file.write_text("[kolla]\ndeployment_id = prod\n[zookeeper]\nhosts = 10.0.0.1:2181\n")
    conf = settings.load([str(conf_file)], {"kolla": {"profile": "default"}})
    assert conf.kolla.deployment_id == "prod"
    assert conf.kolla.profile == "default"
    assert conf.zookeeper.hosts == "10.0.0.1:2181"


def test_bad_value_names_the_option(tmp_path):
    conf_file = tmp_path / "k.conf"
    conf_file.write_text("[zookeeper]\ntimeout = soon\n")
    with pytest.raises(errors.SettingsError, match="timeout"):
        settings.load([str(conf_file)])


def test_unparseable_file_is_named(tmp_path):
    conf_file = tmp_path / "k.conf"
    conf_file.write_text("this is not ini\n[\n")
    with pytest.raises(errors.SettingsError, match=str(conf_file)):
        settings.load([str(conf_file)])


def test_invalid_deployment_id_rejected(tmp_path):
    conf_file = tmp_path / "k.conf"
    conf_file.write_text("[kolla]\ndeployment_id = ../etc\n")
    with pytest.raises(errors.SettingsError, match="deployment_id"):
        settings.load([str(conf_file)])


@pytest.mark.parametrize(("text", "expected"), [
    ("[zookeeper]\ntimeout = abc\n", "Invalid setting [zookeeper] timeout in {file}: could not "
     "convert string to float: 'abc'."),
    ("[kolla]\ndeployment_id = ../etc\n", "Invalid setting [kolla] deployment_id in {file}: "),
    ("[marathon]\nurl = x\n", "Invalid setting [marathon] url in {file}: host, scheme were "
     "required but missing."),
])
def test_invalid_value_names_group_option_and_file(tmp_path, text, expected):
    conf_file = tmp_path / "k.conf"
    conf_file.write_text(text)
    with pytest.raises(errors.SettingsError) as info:
        settings.load([str(conf_file)])
    message = str(info.value)
    assert message.startswith(expected.format(file=conf_file)), message
    assert "LocationInfo" not in message and "\n" not in message


def test_invalid_command_line_override_is_one_sentence(tmp_path):
    with pytest.raises(errors.SettingsError) as info:
        settings.load([], {"marathon": {"url": "x"}})
    assert str(info.value) == ("Invalid setting [marathon] url (command line): host, scheme "
                               "were required but missing.")


def test_load_returns_frozen_typed_settings(tmp_path):
    conf = settings.load([])
    assert isinstance(conf, settings.Settings)
    assert isinstance(conf.kolla.runner_command, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        conf.kolla.profile = "other"  # type: ignore[misc]


def test_each_section_has_exactly_the_options_of_its_group():
    for group, opts in settings.GROUPS.items():
        fields = {f.name for f in dataclasses.fields(settings.SECTIONS[group])}
        assert fields == {o.dest for o in opts}, group


def test_global_flags_come_from_the_parser():
    from kolla_mesos.cli.app import SETTING_FLAGS, KollaMesosApp, split_global

    parser = KollaMesosApp().parser
    known = {s for a in parser._actions for s in a.option_strings}
    assert {flag for flag, *_ in SETTING_FLAGS} <= known
    globals_, rest = split_global(
        ["--profile", "test", "-v", "--timeout", "5", "--mesos-url=http://x", "-e", "a=b"],
        parser)
    assert globals_ == ["--profile", "test", "-v", "--mesos-url=http://x", "-e", "a=b"]
    assert rest == ["--timeout", "5"]
