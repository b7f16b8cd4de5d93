"""Bad operator input through the real CLI: one sentence naming the file, a named exit code.

Each case breaks one thing in an otherwise valid test deployment directory and runs the
``kolla-mesos`` console script as a subprocess.  The error must be the only line on stderr
(no traceback, no library chatter), name the file, key or URL at fault, and exit with the
code README's "Exit codes" table gives for it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from kolla_mesos.errors import ExitCode
from kolla_mesos.testing.zookeeper import free_port
from tests.functional.deploy_helpers import DATA, DeployEnv, make_env

pytestmark = pytest.mark.timeout(120)


def _conf_replace(old: str, new: str) -> Callable[[DeployEnv], str]:
    def breaker(env: DeployEnv) -> str:
        env.conf.write_text(env.conf.read_text().replace(old.format(etc=env.etc),
                                                         new.format(etc=env.etc)))
        return new.format(etc=env.etc)
    return breaker


def _write(rel: str, text: str, append: bool = False) -> Callable[[DeployEnv], str]:
    def breaker(env: DeployEnv) -> str:
        path = (env.etc if rel.startswith("etc/") else env.root) / rel.removeprefix("etc/")
        path.write_text((path.read_text() if append else "") + text)
        # Files of the base directory are named relative to it (as in the templates' errors).
        return str(path) if rel.startswith("etc/") else rel.removeprefix("base/")
    return breaker


def _chmod(rel: str, mode: int) -> Callable[[DeployEnv], str]:
    def breaker(env: DeployEnv) -> str:
        path = env.etc / rel
        path.chmod(mode)
        return str(path)
    return breaker


def _profile(env: DeployEnv) -> str:
    env.conf.write_text(env.conf.read_text().replace("profile = test", "profile = nope"))
    return "'nope'"


def _marathon_down(env: DeployEnv) -> str:
    url = f"http://127.0.0.1:{free_port()}"
    text = env.conf.read_text().split("[marathon]")
    env.conf.write_text(text[0] + "[marathon]\nurl = " + url + "\ntimeout = 1\n"
                        + text[1].split("\n", 2)[2])
    return url


def _bad_timeout(env: DeployEnv) -> str:
    env.conf.write_text(env.conf.read_text().replace("timeout = 10", "timeout = ten"))
    return f"[zookeeper] timeout in {env.conf}"


def _marathon_credentials_open(env: DeployEnv) -> str:
    path = env.etc / "marathon.cred"
    path.write_text("ops:marathon-pw-5e1\n")
    path.chmod(0o644)
    env.conf.write_text(env.conf.read_text().replace(
        "[marathon]\n", f"[marathon]\ncredentials_file = {path}\n"))
    return f"The Marathon credentials file {path} is accessible by group or others"


DUPLICATE_HOST = """hosts:
  agent1:
    addresses: {api: 127.0.1.1}
  agent1:
    addresses: {api: 127.0.1.2}
groups:
  store: [agent1]
  web: [agent1]
"""

CASES: dict[str, tuple[Callable[[DeployEnv], str], tuple[str, ...], ExitCode]] = {
    "malformed-globals": (_write("etc/globals.yml", "broken: [one\n", append=True),
                          ("definition", "validate"), ExitCode.CONFIG),
    "passwords-0644": (_chmod("passwords.yml", 0o644), ("definition", "validate"),
                       ExitCode.CONFIG),
    "duplicate-host": (_write("etc/topology.yml", DUPLICATE_HOST), ("definition", "validate"),
                       ExitCode.CONFIG),
    "unknown-profile": (_profile, ("definition", "validate"), ExitCode.CONFIG),
    "deployment-yaml-syntax": (
        _write("base/deployment_files/testing/store.yml.j2", "jobs: [one\n", append=True),
        ("definition", "validate"), ExitCode.CONFIG),
    "template-jinja-syntax": (
        _write("base/config/testing/templates/store.conf.j2", "{{ port( }}\n", append=True),
        ("definition", "validate"), ExitCode.CONFIG),
    "missing-credentials": (_conf_replace("{etc}/deployer.cred", "{etc}/missing.cred"),
                            ("status",), ExitCode.CONFIG),
    "settings-syntax": (_write("etc/kolla-mesos.conf", "[kolla\n", append=True),
                        ("definition", "validate"), ExitCode.CONFIG),
    "settings-missing": (_conf_replace("", ""), ("--config-file", "{etc}/none.conf",
                                                 "definition", "validate"), ExitCode.CONFIG),
    "settings-bad-value": (_bad_timeout, ("definition", "validate"), ExitCode.CONFIG),
    "marathon-url-flag": (lambda env: "[marathon] url (command line)",
                          ("--marathon-url", "nohost", "definition", "validate"),
                          ExitCode.CONFIG),
    "marathon-unreachable": (_marathon_down, ("plan",), ExitCode.REMOTE),
    "marathon-credentials-0644": (_marathon_credentials_open, ("status",), ExitCode.CONFIG),
    "extra-var-without-value": (lambda env: "'novalue'",
                                ("-e", "novalue", "definition", "validate"), ExitCode.CONFIG),
}


@pytest.fixture
def env(tmp_path: Path, zk_server, zk_root) -> DeployEnv:
    base = tmp_path / "base"
    shutil.copytree(DATA / "testbase", base)
    dead = f"http://127.0.0.1:{free_port()}"
    return make_env(tmp_path, zk_server.hosts, zk_root,
                    {"marathon": dead, "chronos": dead, "mesos": dead}, base_dir=base)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_sentence_with_a_named_exit_code(env: DeployEnv, case: str) -> None:
    breaker, args, code = CASES[case]
    named = breaker(env)
    args = tuple(a.format(etc=env.etc) for a in args)
    if case == "settings-missing":
        named = f"{env.etc}/none.conf"
    proc = env.run(*args, timeout=60)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert named in lines[0], (named, lines[0])
    assert lines[0].endswith("."), lines[0]
