"""Bad operator input through the real CLI: one sentence naming the file, a named exit code.

Each case breaks one thing in an otherwise valid test deployment directory and runs the
``kolla-mesos`` console script as a subprocess.  The error must be the only line on stderr
(no traceback, no library chatter), name the file, key or URL at fault, and exit with the
code README's "Exit codes" table gives for it.  No password or credential of the deployment
directory appears in the output, and ZooKeeper is exactly as it was before the command.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from kolla_mesos import zkpaths
from kolla_mesos.clients import zk_acl
from kolla_mesos.clients.zookeeper import Store, read_credentials
from kolla_mesos.errors import ExitCode
from kolla_mesos.secrets import secret_values
from kolla_mesos.testing.zookeeper import free_port
from tests.functional.deploy_helpers import DATA, DEPLOYER, DeployEnv, make_env

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
    path.write_text(f"ops:{secrets.token_hex(8)}\n")
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

def _write_bytes(rel: str, data: bytes) -> Callable[[DeployEnv], str]:
    def breaker(env: DeployEnv) -> str:
        path = env.etc / rel
        path.write_bytes(data)
        return str(path)
    return breaker


def _password(line: str) -> Callable[[DeployEnv], str]:
    def breaker(env: DeployEnv) -> str:
        path = env.etc / "passwords.yml"
        path.write_text(path.read_text() + line + "\n")
        return line.split(":")[0]
    return breaker


def _published(env: DeployEnv) -> None:
    """Publish one generation as the deployer would (services/testing/store on agent1)."""
    conf = env.conf.read_text()
    hosts = re.search(r"^hosts = (.*)$", conf, re.M)
    assert hosts
    manifest = {"services": {"store": {"project": "testing", "hosts": ["agent1"]}}}
    with Store(hosts.group(1), env.zk_root, env.deployment_id,
               read_credentials(env.etc / "deployer.cred"),
               zk_acl.read_runner_credentials(env.etc / "runners")) as store:
        store.ensure_deployment({"deployment": env.deployment_id})
        number = store.write_generation({
            "manifest": json.dumps(manifest).encode(),
            "services/testing/store/files/store.conf": b"[store]\nport = 1\n"},
            {"services/testing/store": ["agent1"]})
        store.switch_current(number, None)


def _unknown_host(env: DeployEnv) -> str:
    _published(env)
    return "'nohost' (--host) does not run service store"


def _missing_generation(env: DeployEnv) -> str:
    _published(env)
    return "Generation 99 does not exist"


def _no_runner_identity(env: DeployEnv) -> str:
    (env.etc / "runners" / "agent1.cred").unlink()
    return "No runner credentials for host(s) agent1"


def _runner_identity_open(env: DeployEnv) -> str:
    path = env.etc / "runners" / "agent1.cred"
    path.chmod(0o644)
    return f"The ZooKeeper runner credentials file {path} is accessible by group or others"


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
    # issue 17: crashes, accepted-though-wrong inputs, exit codes and wording
    "port-not-an-integer": (lambda env: "service.daemon.ready.tcp: 'abc' is not a port",
                            ("-e", "store_port=abc", "definition", "validate"),
                            ExitCode.CONFIG),
    "health-check-port-not-an-integer": (
        _write("base/deployment_files/testing/store.yml.j2",
               (DATA / "testbase/deployment_files/testing/store.yml.j2").read_text().replace(
                   "port: {{ store_port }}, grace", "port: eighty, grace")),
        ("definition", "validate"), ExitCode.CONFIG),
    "globals-not-utf8": (_write_bytes("globals.yml", b"web_workers: 3\nname: caf\xe9\n"),
                         ("definition", "validate"), ExitCode.CONFIG),
    "passwords-not-utf8": (_write_bytes("passwords.yml",
                                        b"store_password: \xff\xfesecret-bytes\n"),
                           ("definition", "validate"), ExitCode.CONFIG),
    "mapping-for-a-scalar": (_write("etc/globals.yml", "web_workers: {count: 3}\n"),
                             ("definition", "validate"), ExitCode.CONFIG),
    "list-for-a-scalar-on-the-command-line": (
        lambda env: "'web_workers' is a list", ("-e", "web_workers=[1, 2]", "definition",
                                                "validate"), ExitCode.CONFIG),
    "empty-password": (_password("store_extra_password:"), ("deploy", "--no-progress"),
                       ExitCode.CONFIG),
    "empty-string-password": (_password('store_extra_password: ""'), ("plan",),
                              ExitCode.CONFIG),
    "config-show-unknown-host": (_unknown_host, ("config", "show", "--host", "nohost",
                                                 "services/testing/store/files/store.conf"),
                                 ExitCode.CONFIG),
    "config-list-missing-generation": (_missing_generation,
                                       ("config", "list", "--generation", "99"),
                                       ExitCode.CONFIG),
    "dest-escapes-the-sandbox": (
        _write("base/deployment_files/testing/store.yml.j2",
               (DATA / "testbase/deployment_files/testing/store.yml.j2").read_text().replace(
                   "dest: store.conf", "dest: ../../etc/cron.d/x")),
        ("definition", "validate"), ExitCode.CONFIG),
    "file-too-large": (
        lambda env: _write("base/config/testing/templates/store.conf.j2",
                           "{{ 'x' * 1000000 }}\n", append=True)(env) and
        "service.files.store.conf renders to 1000", ("definition", "validate"),
        ExitCode.CONFIG),
    "zookeeper-hosts-malformed": (
        lambda env: _conf_replace("hosts = 127.0.0.1:", "hosts = 127.0.0.1;")(env) and
        f"[zookeeper] hosts in {env.conf}", ("status",), ExitCode.CONFIG),
    "unknown-command": (lambda env: "'nosuch' is not a kolla-mesos command", ("nosuch",),
                        ExitCode.USAGE),
    "runner-identity-missing": (_no_runner_identity, ("deploy", "--no-progress"),
                                ExitCode.CONFIG),
    "runner-identity-open": (_runner_identity_open, ("status",), ExitCode.CONFIG),
}

#: what each case's error must name besides the breaker's return value
ALSO_NAMED = {
    "health-check-port-not-an-integer": "app.healthChecks[0].port is 'eighty'",
    "mapping-for-a-scalar": "'web_workers' is a mapping",
    "passwords-not-utf8": "not UTF-8",
    "globals-not-utf8": "line 2",
    "dest-escapes-the-sandbox": "service.files.store.conf.dest",
    "file-too-large": f"at most {zkpaths.MAX_FILE_BYTES} bytes",
    "zookeeper-hosts-malformed": "is not a comma-separated list of host:port",
}


def _tree(client: KazooClient, path: str) -> dict[str, tuple[bytes, int]]:
    """Every node under ``path`` with its data and version (empty when it does not exist)."""
    try:
        data, stat = client.get(path)
    except NoNodeError:
        return {}
    out = {path: (data, stat.version)}
    for child in client.get_children(path):
        out.update(_tree(client, f"{path}/{child}"))
    return out


def _secrets(env: DeployEnv) -> list[str]:
    """Every password and credential of the deployment directory."""
    values = [DEPLOYER[1]] + [path.read_text().strip().partition(":")[2]
                              for path in (env.etc / "runners").glob("*.cred")]
    try:
        values += secret_values(yaml.safe_load((env.etc / "passwords.yml").read_text()) or {})
    except (UnicodeDecodeError, yaml.YAMLError):
        values.append("secret-bytes")
    return [v for v in values if len(v) >= 6]


@pytest.fixture
def env(tmp_path: Path, zk_server, zk_root) -> DeployEnv:
    base = tmp_path / "base"
    shutil.copytree(DATA / "testbase", base)
    dead = f"http://127.0.0.1:{free_port()}"
    return make_env(tmp_path, zk_server.hosts, zk_root,
                    {"marathon": dead, "chronos": dead, "mesos": dead}, base_dir=base)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_sentence_with_a_named_exit_code(env: DeployEnv, zk_admin: KazooClient,
                                                          case: str) -> None:
    breaker, args, code = CASES[case]
    named = breaker(env)
    args = tuple(a.format(etc=env.etc) for a in args)
    if case == "settings-missing":
        named = f"{env.etc}/none.conf"
    before = _tree(zk_admin, env.zk_root)
    proc = env.run(*args, timeout=60)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert named in lines[0], (named, lines[0])
    assert ALSO_NAMED.get(case, "") in lines[0], (ALSO_NAMED[case], lines[0])
    assert lines[0].endswith("."), lines[0]
    for secret in _secrets(env):
        assert secret not in proc.stderr and secret not in proc.stdout, case
    assert _tree(zk_admin, env.zk_root) == before, "a refused input changed ZooKeeper"
