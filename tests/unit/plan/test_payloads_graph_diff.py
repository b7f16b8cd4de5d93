"""Pure planning pieces: dependency graph, app/job JSON, config hash, diff, secret masking."""

import pytest

from kolla_mesos import errors
from kolla_mesos.definition import from_json
from kolla_mesos.plan import diff as plandiff
from kolla_mesos.plan import graph, payloads
from kolla_mesos.plan.model import RenderedFile
from kolla_mesos.secrets import Masker, secret_values


def _definition(service, commands=None, daemon=None, reload="restart"):
    return from_json({
        "project": "p", "service": service, "reload": reload,
        "files": {"a.conf": {"dest": "a.conf"}},
        "commands": commands or {}, "daemon": daemon,
    })


def test_graph_reports_missing_and_cycles_together():
    defs = {
        "a": _definition("a", {"x": {"command": ["true"], "dependencies": ["b/y"]}}),
        "b": _definition("b", {"y": {"command": ["true"], "dependencies": ["a/x"]}},
                         daemon={"command": ["sleep", "1"], "dependencies": ["c/daemon"]}),
    }
    with pytest.raises(errors.DefinitionError) as info:
        graph.check(defs)
    problems = info.value.problems
    assert any("service 'c' is not in the profile" in p for p in problems)
    assert any(p.startswith("Dependency cycle:") and "a/x" in p and "b/y" in p
               for p in problems)


def test_graph_daemon_waits_for_in_task_commands():
    d = _definition("a", {"init": {"command": ["true"]}}, daemon={"command": ["sleep", "1"]})
    assert "a/init" in graph.edges({"a": d})["a/daemon"]


def test_graph_order_puts_dependencies_first():
    defs = {
        "web": _definition("web", daemon={"command": ["x"], "dependencies": ["db/daemon"]}),
        "db": _definition("db", daemon={"command": ["y"]}),
    }
    assert graph.order(defs) == ["db", "web"]


def test_missing_command_and_daemon_are_named():
    defs = {
        "a": _definition("a", {"x": {"command": ["true"],
                                     "dependencies": ["b/nope", "b/daemon"]}}),
        "b": _definition("b"),
    }
    problems = graph.missing(defs)
    assert "a/x depends on b/nope, but 'b' has no command 'nope'." in problems
    assert "a/x depends on b/daemon, but 'b' has no daemon." in problems


def _app(definition, files, section=None, hosts=("h1", "h2")):
    return payloads.build_app(root="/kolla", deployment_id="dep", definition=definition,
                           hosts=hosts, section=section or {}, env={"KOLLA_X": "1"},
                           runner_command=["kolla-mesos-start"], files=files,
                           dependencies=[])


def test_app_json_shape_and_labels():
    d = _definition("svc", daemon={"command": ["sleep", "9"], "ready": {"tcp": 1234}})
    app = _app(d, [RenderedFile("a.conf", b"x")], {"cpus": 2, "env": {"FOO": "bar"}})
    assert app["id"] == "/kolla/dep/p/svc"
    assert app["instances"] == 2
    assert app["cpus"] == 2
    assert app["env"] == {"FOO": "bar", "KOLLA_X": "1"}
    assert app["constraints"] == [["hostname", "LIKE", "h1|h2"], ["hostname", "UNIQUE"]]
    assert app["labels"]["KOLLA_SERVICE"] == "svc"
    assert app["healthChecks"][0]["port"] == 1234
    assert len(app["labels"][payloads.LABEL_CONFIG_HASH]) == 64


def test_config_hash_ignores_instances_and_follows_reload_policy():
    restart = _definition("svc", daemon={"command": ["s"]}, reload="restart")
    sighup = _definition("svc", daemon={"command": ["s"]}, reload="sighup")
    f1, f2 = [RenderedFile("a.conf", b"one")], [RenderedFile("a.conf", b"two")]
    h = lambda d, f, hosts=("h1",): _app(d, f, hosts=hosts)["labels"][payloads.LABEL_CONFIG_HASH]  # noqa: E731
    assert h(restart, f1) != h(restart, f2), "restart policy: files are in the hash"
    assert h(sighup, f1) == h(sighup, f2), "sighup policy: the runner applies files in place"
    app = _app(restart, f1)
    bare = dict(app, labels={k: v for k, v in app["labels"].items()
                             if k != payloads.LABEL_CONFIG_HASH})
    assert payloads.config_hash(bare, restart, f1) == app["labels"][payloads.LABEL_CONFIG_HASH]
    assert payloads.config_hash(dict(bare, instances=7), restart, f1) == payloads.config_hash(
        bare, restart, f1), "instances are not part of the hash"


def test_job_name_changes_with_inputs_and_is_stable():
    def job(inputs):
        d = from_json({"project": "p", "service": "svc", "commands": {
            "db_sync": {"command": ["m", "db_sync"], "job": True, "inputs_hash": inputs}}})
        return payloads.build_job(deployment_id="dep", definition=d, command=d.commands[0],
                               hosts=["h1"], section={}, env={}, runner_command=["run"])
    a, a2, b = job("aaa"), job("aaa"), job("bbb")
    assert a == a2
    assert a["name"].startswith("dep-svc-db-sync-")
    assert a["name"] != b["name"]
    env = {e["name"]: e["value"] for e in a["environmentVariables"]}
    assert env["KOLLA_COMMAND"] == "db_sync"
    assert a["shell"] is False and a["command"] == "run"


def test_rendered_file_digest_covers_variants():
    a = RenderedFile("f", b"x", (("h2", b"y"),))
    b = RenderedFile("f", b"x", (("h2", b"z"),))
    assert a.digest() != b.digest()
    assert a.for_host("h2") == b"y" and a.for_host("h1") == b"x"


def test_job_state_helpers():
    assert plandiff.job_succeeded({"lastSuccess": "2026-01-02", "lastError": "2026-01-01"})
    assert not plandiff.job_succeeded({"lastSuccess": "", "lastError": ""})
    assert plandiff.job_failed({"lastSuccess": "2026-01-01", "lastError": "2026-01-02"})


def test_diff_nodes():
    added, changed, removed = plandiff.diff_nodes({"a": b"1", "b": b"2"}, {"b": b"3", "c": b"4"})
    assert (added, changed, removed) == (("a",), ("b",), ("c",))


def test_masker_hides_values_keys_and_url_passwords():
    masker = Masker(secret_values({"keystone_admin_password": "s3cr3tpw",
                                   "nested": {"x": "anothersecret"}}))
    text = ("admin = s3cr3tpw\npassword = plain\nconnection = mysql+pymysql://ks:dbpw@h/ks\n"
            "other: anothersecret\nname = keystone\n")
    out = masker(text)
    assert "s3cr3tpw" not in out and "plain" not in out and "dbpw" not in out
    assert "anothersecret" not in out
    assert "name = keystone" in out
