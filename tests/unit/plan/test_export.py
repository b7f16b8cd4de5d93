"""The export document: built, parsed and checked purely (plan/export.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kolla_mesos import errors
from kolla_mesos.plan import export

MANIFEST = {"services": {"web": {"project": "testing", "config_hash": "abc", "hosts": ["h1"]}}}


def _document(secrets: bool) -> dict[str, Any]:
    nodes = {1: {"index": b"{}", "services/testing/web/files/a": b"\x00secret"}} if secrets \
        else None
    return export.build(deployment="d1", exported_at="2026-12-03T00:00:00Z",
                        metadata={"deployment": "d1", "runner_acl": [{"id": "x"}]},
                        current=1, manifests={1: MANIFEST}, nodes=nodes,
                        status={"web/migrate/h/host1": b'{"ok": true}'})


def test_a_round_trip_keeps_every_byte_and_drops_the_runner_acl() -> None:
    parsed = export.parse(export.dumps(_document(True)), "f.json")
    assert parsed.deployment == "d1" and parsed.current == 1 and parsed.secrets
    assert "runner_acl" not in parsed.metadata
    nodes = parsed.generation_nodes(1)
    assert nodes["services/testing/web/files/a"] == b"\x00secret"
    assert json.loads(nodes["manifest"]) == MANIFEST
    assert parsed.status == {"web/migrate/h/host1": b'{"ok": true}'}


def test_without_secrets_no_node_is_exported() -> None:
    document = _document(False)
    assert "nodes" not in document["generations"]["1"] and document["secrets"] is False
    assert "services/testing/web/files/a" not in export.dumps(document).decode()


@pytest.mark.parametrize(("change", "says"), [
    (lambda d: "not json", "not JSON"),
    (lambda d: {**d, "format": "x"}, "is not a kolla-mesos export"),
    (lambda d: {**d, "version": 9}, "is an export of version 9"),
    (lambda d: {**d, "current": "1"}, "the field 'current' is missing or not a int"),
    (lambda d: {**d, "current": 2}, "'current' is 2, which is not one of its generations"),
    (lambda d: {**d, "generations": {"1": {"manifest": MANIFEST}}},
     "generations.1 has no 'nodes'"),
    (lambda d: {**d, "status": {"a": "***"}}, "is not base64"),
])
def test_bad_exports_are_one_sentence(change: Any, says: str) -> None:
    document = change(_document(True))
    raw = document.encode() if isinstance(document, str) else json.dumps(document).encode()
    with pytest.raises(errors.ConfigError) as err:
        export.parse(raw, "f.json")
    assert says in str(err.value) and str(err.value).startswith("f.json")


def test_readers_and_differences() -> None:
    assert export.readers({"web": {"project": "testing", "hosts": ["h1", "h2"]}}) == {
        "services/testing/web": ("h1", "h2")}
    other = {"services": {"web": {"config_hash": "def"}, "db": {"config_hash": "1"}}}
    assert export.differing_services(MANIFEST, other) == ["db", "web"]
    assert export.differing_services(MANIFEST, MANIFEST) == []
