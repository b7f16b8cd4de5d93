"""Pure parts of the runner: identity, credentials, verdicts, ordering, reload decisions."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from kolla_mesos import definition, errors
from kolla_mesos.runner import commands, deps, identity, process, reload, status
from kolla_mesos.runner.files import build_fileset, changed_files

BASE_ENV = {"KOLLA_DEPLOYMENT": "d1", "KOLLA_PROJECT": "keystone", "KOLLA_SERVICE": "api",
            "KOLLA_ZK_HOSTS": "127.0.0.1:1", "KOLLA_ZK_CREDENTIALS_FILE": "/run/creds",
            "KOLLA_HOSTNAME": "node-1"}


def test_identity_from_env() -> None:
    ident = identity.from_env({**BASE_ENV, "HOST": "10.0.0.5"})
    assert (ident.deployment, ident.project, ident.service, ident.hostname) == \
        ("d1", "keystone", "api", "node-1")
    assert ident.zk_root == "/kolla" and ident.address == "10.0.0.5"
    assert not ident.job_mode and ident.restart_mode == "marathon"
    job = identity.from_env({**BASE_ENV, "KOLLA_COMMAND": "db_sync",
                             "CHRONOS_JOB_NAME": "d1-api-db_sync-1234abcd"})
    assert job.job_mode and job.command == "db_sync"
    assert job.task_name == "d1-api-db_sync-1234abcd"


def test_identity_from_marathon_app_id() -> None:
    env = {k: v for k, v in BASE_ENV.items()
           if k not in ("KOLLA_DEPLOYMENT", "KOLLA_PROJECT", "KOLLA_SERVICE")}
    ident = identity.from_env({**env, "MARATHON_APP_ID": "/kolla/prod/nova/nova-api"})
    assert (ident.deployment, ident.project, ident.service) == ("prod", "nova", "nova-api")


@pytest.mark.parametrize(("change", "message"), [
    ({"KOLLA_ZK_HOSTS": ""}, "lacks KOLLA_ZK_HOSTS"),
    ({"KOLLA_ZK_CREDENTIALS_FILE": ""}, "lacks KOLLA_ZK_CREDENTIALS_FILE"),
    ({"KOLLA_SERVICE": "a/b"}, "KOLLA_SERVICE 'a/b' is not a valid name"),
    ({"KOLLA_RELOAD_RESTART": "always"}, "KOLLA_RELOAD_RESTART is 'always'"),
    ({"KOLLA_ZK_ROOT": "kolla"}, "KOLLA_ZK_ROOT is 'kolla'"),
    ({"KOLLA_HOSTNAME": "bad host"}, "override it with KOLLA_HOSTNAME"),
])
def test_identity_errors_name_the_variable(change: dict[str, str], message: str) -> None:
    with pytest.raises(errors.ConfigError, match=message):
        identity.from_env({**BASE_ENV, **change})


def test_credentials(tmp_path: Path) -> None:
    path = tmp_path / "creds"
    path.write_text("runner:s3cr:et\n")
    path.chmod(0o600)
    assert identity.read_credentials(str(path)) == ("runner", "s3cr:et")
    for bad in ("", "runner", "runner:", ":pw", "a:b\nc:d"):
        path.write_text(bad)
        with pytest.raises(errors.ConfigError) as err:
            identity.read_credentials(str(path))
        assert str(path) in str(err.value) and "malformed" in str(err.value)
        assert "c:d" not in str(err.value)
    with pytest.raises(errors.ConfigError, match="does not exist"):
        identity.read_credentials(str(tmp_path / "missing"))
    with pytest.raises(errors.ConfigError, match="cannot be read"):
        identity.read_credentials(str(tmp_path))


def _rec(state: str, code: int | None = None, message: str = "") -> dict[str, object]:
    return {"state": state, "exit_code": code, "message": message}


def test_evaluate_records() -> None:
    ev = deps.evaluate_records
    assert ev({}, "global", "h1", False).state == deps.PENDING
    assert ev({"h2": _rec("done")}, "global", "h1", False) == deps.Verdict(deps.MET, "h2")
    # done anywhere beats a failure elsewhere (another host may have retried successfully)
    assert ev({"h1": _rec("failed", 1), "h2": _rec("done")}, "global", "h1", False).state == \
        deps.MET
    failed = ev({"h2": _rec("failed", 3, "boom")}, "global", "h1", False)
    assert failed == deps.Verdict(deps.FAILED, "h2", "exit code 3: boom")
    # local scope: only this host's record counts ...
    assert ev({"h2": _rec("done")}, "local", "h1", False).state == deps.PENDING
    assert ev({"h1": _rec("done")}, "local", "h1", False).state == deps.MET
    # ... except for run_once commands, which run on one host only
    assert ev({"h2": _rec("done")}, "local", "h1", True).state == deps.MET
    assert ev({"h1": _rec("running")}, "global", "h1", False).detail == "running"


def test_evaluate_members() -> None:
    assert deps.evaluate_members([], "global", "h1").state == deps.PENDING
    assert deps.evaluate_members(["h2"], "global", "h1").state == deps.MET
    assert deps.evaluate_members(["h2"], "local", "h1").state == deps.PENDING
    assert deps.evaluate_members(["h1"], "local", "h1").state == deps.MET


def _defn(cmds: dict[str, object]) -> definition.Definition:
    return definition.from_json({"project": "p", "service": "s", "commands": cmds})


def test_command_order_dependencies_then_name() -> None:
    defn = _defn({"a": {"command": ["a"], "dependencies": ["s/c"]},
                  "b": {"command": ["b"]},
                  "c": {"command": ["c"], "dependencies": ["other/x", "s/jobonly"]},
                  "jobonly": {"command": ["j"], "job": True}})
    assert [c.name for c in commands.app_commands(defn)] == ["b", "c", "a"]


def test_command_cycle_is_named() -> None:
    defn = _defn({"a": {"command": ["a"], "dependencies": ["s/b"]},
                  "b": {"command": ["b"], "dependencies": ["s/a"]}})
    with pytest.raises(errors.DefinitionError, match="s/a, s/b depend on each other"):
        commands.app_commands(defn)


def test_inputs_key() -> None:
    cmd = definition.Command("x", ("x",), inputs_hash="abc")
    assert status.inputs_key(cmd, 7) == "abc"
    assert status.inputs_key(definition.Command("x", ("x",)), 7) == "generation-0000000007"


def test_reload_decision() -> None:
    assert reload.decide("sighup", "marathon", []) == reload.NOTHING
    assert reload.decide("sighup", "marathon", ["a"]) == reload.SIGHUP
    assert reload.decide("none", "runner", ["a"]) == reload.REWRITE
    assert reload.decide("restart", "marathon", ["a"]) == reload.MARATHON
    assert reload.decide("restart", "runner", ["a"]) == reload.RESTART


def test_changed_files_compares_spec_and_content() -> None:
    defn = definition.from_json({"project": "p", "service": "s", "files": {
        "a": {"dest": "a"}, "b": {"dest": "b"}}})
    old = build_fileset(defn, {"a": b"1", "b": b"2"})
    assert changed_files(old, build_fileset(defn, {"a": b"1", "b": b"2"})) == []
    assert changed_files(old, build_fileset(defn, {"a": b"1", "b": b"3"})) == ["b"]
    moved = definition.from_json({"project": "p", "service": "s", "files": {
        "a": {"dest": "a", "mode": "0600"}, "b": {"dest": "b"}}})
    assert changed_files(old, build_fileset(moved, {"a": b"1", "b": b"2"})) == ["a"]
    assert changed_files(old, build_fileset(defn, {"a": b"1"})) == ["b"]


def test_child_env_and_exit_status() -> None:
    acct = process.Account("svc", 10, 10, (10,), "/var/lib/svc")
    env = process.child_env({"PATH": "/bin", "HOME": "/root", "X": "task"}, {"X": "def"}, acct)
    assert env == {"PATH": "/bin", "HOME": "/var/lib/svc", "USER": "svc", "LOGNAME": "svc",
                   "X": "def", "PYTHONUNBUFFERED": "1"}
    assert process.exit_status(0) == 0 and process.exit_status(3) == 3
    assert process.exit_status(-15) == 143


def test_runner_acl_round_trip_and_errors() -> None:
    from kazoo.security import make_digest_acl

    from kolla_mesos.runner.session import acl_to_json, parse_acl

    acl = [make_digest_acl("deployer", secrets.token_hex(8), all=True),
           make_digest_acl("runner", secrets.token_hex(8), read=True, write=True, create=True,
                           delete=True)]
    raw = acl_to_json(acl)
    assert raw[1]["perms"] == 15 and raw[0]["id"].startswith("deployer:")
    assert parse_acl(raw, "/kolla/d") == acl
    for bad in ([], "x", [{"scheme": "digest", "id": "a:b"}]):
        with pytest.raises(errors.ZookeeperError, match="'runner_acl' in /kolla/d"):
            parse_acl(bad, "/kolla/d")


def test_job_command_from_chronos_job_name() -> None:
    ident = identity.from_env({**BASE_ENV, "CHRONOS_JOB_NAME": "d1-api-db_sync-0a1b2c3d"})
    assert ident.job_mode and ident.command == "db_sync"
    assert identity.command_from_job_name("d1-api-bootstrap-x-0a1b2c3d", "d1", "api") == \
        "bootstrap-x"
    assert identity.command_from_job_name("d1-other-c-0a1b2c3d", "d1", "api") is None
    assert identity.command_from_job_name("d1-api-0a1b2c3d", "d1", "api") is None
    assert not identity.from_env({**BASE_ENV, "CHRONOS_JOB_NAME": "unrelated"}).job_mode
