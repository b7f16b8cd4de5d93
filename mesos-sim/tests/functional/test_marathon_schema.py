"""Every app valid under Marathon's published ``AppDefinition.json`` is accepted.

Apps are generated at random (seeded) from the schema itself, checked with ``jsonschema``
and POSTed; each must be created (201) and served back in a form marathon-python parses.
The schema is the project's shared reference copy (``../shared/reference/marathon/schema``);
the test is skipped where that directory is absent.  Apps that Marathon 1.10 rejects although
the old schema allows them (listed in docs/simulator-marathon.md, "Validation") are expected
to get 422 instead.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from marathon.models import MarathonApp
from marathon_helpers import Sim, marathon_of

from mesos_sim.marathon.model import canonical_path, is_within, parent_of
from mesos_sim.simulator import Simulator

SCHEMA = (Path(__file__).resolve().parents[4] / "shared" / "reference" / "marathon" / "schema"
          / "AppDefinition.json")
SAMPLES = 150
#: Fields Marathon 1.9+ serves that marathon-python 0.13 cannot parse (as with a real 1.10).
NEWER_THAN_CLIENT = {"executorResources", "tty", "check", "resourceLimits"}
_PATTERN_VALUES = {
    "^[a-z][a-z0-9-]*$": ["p", "http-api", "a1"],
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": ["n", "net-1", "0a"],
    "^(|\\/\\/cmd|\\/?[^\\/]+(\\/[^\\/]+)*)$": ["", "//cmd", "/usr/bin/exec", "x/y"],
}
_SEGMENTS = ["a", "b1", "web-api", "x.y", "..", "", "db"]


class Generator:
    """Random instances of a JSON schema (the subset AppDefinition.json uses)."""

    def __init__(self, schema: dict[str, Any], seed: int) -> None:
        self.root = schema
        self.rng = random.Random(seed)

    def path_id(self) -> str:
        parts = [self.rng.choice(_SEGMENTS) for _ in range(self.rng.randint(1, 3))]
        return ("/" if self.rng.random() < 0.5 else "") + "/".join(parts)

    def value(self, schema: dict[str, Any], depth: int = 0) -> Any:
        rng = self.rng
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name == "pathType":
                return self.path_id()
            return self.value(self.root["definitions"][name], depth)
        if "oneOf" in schema:
            return self.value(rng.choice(schema["oneOf"]), depth)
        if "enum" in schema:
            return rng.choice(schema["enum"])
        kind = schema.get("type")
        if kind == "object" or "properties" in schema or "patternProperties" in schema:
            return self.obj(schema, depth)
        if kind == "array":
            items = schema.get("items", {})
            if isinstance(items, list):
                count = rng.randint(schema.get("minItems", 0), len(items))
                return [self.value(items[i], depth + 1) for i in range(count)]
            return [self.value(items, depth + 1)
                    for _ in range(rng.randint(schema.get("minItems", 0), 2))]
        if kind == "string":
            if "pattern" in schema:
                return rng.choice(_PATTERN_VALUES[schema["pattern"]])
            if schema.get("format") == "date-time":
                return "2020-01-02T03:04:05.678Z"
            return rng.choice(["v", "sleep 300", "x y", "/p"])
        if kind in ("integer", "number"):
            low = schema.get("minimum", 0)
            high = schema.get("maximum", low + 100)
            number = rng.randint(int(low), int(high))
            return number if kind == "integer" or rng.random() < 0.5 else min(high, number + 0.5)
        if kind == "boolean":
            return rng.random() < 0.5
        return rng.choice(["s", 1, True])

    def obj(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        rng = self.rng
        result: dict[str, Any] = {}
        required = set(schema.get("required", []))
        for name, sub in schema.get("properties", {}).items():
            if name in required or (depth < 4 and rng.random() < 0.4):
                result[name] = self.value(sub, depth + 1)
        for _, sub in schema.get("patternProperties", {}).items():
            for _ in range(rng.randint(0, 2)):
                result[f"K{rng.randint(0, 99)}"] = self.value(sub, depth + 1)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for _ in range(rng.randint(0, 2)):
                result[f"k{rng.randint(0, 99)}"] = self.value(extra, depth + 1)
        return result


def marathon_rejects(app: dict[str, Any]) -> bool:
    """True for the documented cases where Marathon 1.10 is stricter than the old schema."""
    app_id = canonical_path(app["id"])
    if app_id.rsplit("/", 1)[-1] in ("restart", "tasks", "versions"):
        return True
    for constraint in app.get("constraints", []):
        value = constraint[2] if len(constraint) > 2 else None
        if constraint[1] in ("MAX_PER", "GROUP_BY") and value and not value.isdigit():
            return True
        if constraint[1] in ("LIKE", "UNLIKE") and value is not None:
            try:
                re.compile(value)
            except re.error:
                return True
    mesos = [h for h in app.get("healthChecks", []) if h.get("protocol", "").startswith("MESOS")]
    names = [p["name"] for p in app.get("portDefinitions", []) if "name" in p]
    deps = {canonical_path(d, parent_of(app_id)) for d in app.get("dependencies", [])}
    cyclic = any(is_within(app_id, dep) for dep in deps)  # on itself or a group holding it
    return len(mesos) > 1 or len(names) != len(set(names)) or cyclic


@pytest.fixture
def msim(sim: Simulator) -> Iterator[Sim]:
    with marathon_of(sim) as running:
        yield running


@pytest.mark.skipif(not SCHEMA.exists(), reason="the shared Marathon schema copy is absent")
def test_random_schema_valid_apps_are_accepted(msim: Sim) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft4Validator(schema)
    generator = Generator(schema, seed=20261125)
    accepted = rejected = 0
    session = requests.Session()
    for index in range(SAMPLES * 4):
        if accepted + rejected >= SAMPLES:
            break
        app = generator.value(schema)
        app["id"] = f"/fuzz{index}/{app['id'].strip('/')}".rstrip("/").replace("/..", "/up")
        app["instances"] = 0
        if not validator.is_valid(app):
            continue
        response = session.post(f"{msim.url}/v2/apps", json=app, timeout=10)
        if marathon_rejects(app):
            assert response.status_code == 422, f"{json.dumps(app)} -> {response.text}"
            rejected += 1
            continue
        assert response.status_code == 201, f"{json.dumps(app)} -> {response.text}"
        served = session.get(f"{msim.url}/v2/apps{response.json()['id']}", timeout=10).json()
        container = served["app"].get("container", {})
        unparseable = (set(served["app"]) & NEWER_THAN_CLIENT or "linuxInfo" in container
                       or any("networkNames" in m for m in container.get("portMappings", []))
                       or any("command" in h and "value" not in h["command"]
                              for h in served["app"].get("healthChecks", [])))
        if not unparseable:
            MarathonApp.from_json(served["app"])
        accepted += 1
    assert accepted >= SAMPLES * 0.8, (accepted, rejected)
