"""Request validation for the Marathon API: 400 for unreadable bodies, 422 with field paths.

Two layers, as in Marathon 1.10: the parser (types, patterns, ranges; body
``{"message": "Invalid JSON", "details": [{"path": "/id", "errors": ["error.pattern"]}]}``)
and the semantic validator (``{"message": "Object is not valid", "details": [...]}``).  Paths
use Marathon's notation: ``/healthChecks(0)/path``.  The accepted set is at least every app
valid under Marathon's published ``AppDefinition.json`` schema plus the 1.8+ fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from mesos_sim.http import HttpProblem

Errors = list[tuple[str, str]]
Check = Callable[[Any, str, Errors], None]

#: One path segment: Marathon's PathId rule, or the published schema's looser one.
_SEGMENT = re.compile(
    r"(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])"
    r"|[a-z0-9][a-z0-9\-.]*[a-z0-9]+|\.|\.\.|")
RESERVED_LAST_SEGMENTS = ("restart", "tasks", "versions")
CONSTRAINT_OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS")
_PORT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?|[a-z][a-z0-9-]*")


def parse_body(body: bytes) -> Any:
    """The request body as JSON, or HTTP 400 with Marathon's body for unreadable input."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        raise HttpProblem(400, {"message": "Please specify data in JSON format",
                                "details": "No content to map due to end-of-input"})
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise HttpProblem(400, {"message": "Invalid JSON", "details": str(exc)}) from exc


def problem(message: str, errors: Errors) -> HttpProblem:
    """A 422 problem with ``details`` grouped by path, in first-seen order."""
    grouped: dict[str, list[str]] = {}
    for path, error in errors:
        grouped.setdefault(path or "/", []).append(error)
    details = [{"path": p, "errors": e} for p, e in grouped.items()]
    return HttpProblem(422, {"message": message, "details": details})


# --- checker combinators ---------------------------------------------------------------------


def is_valid_path_id(raw: str) -> bool:
    """True when every segment of ``raw`` is a valid Marathon path segment."""
    return bool(raw) and all(_SEGMENT.fullmatch(s) for s in raw.split("/"))


def string(min_length: int = 0, pattern: re.Pattern[str] | None = None,
           enum: tuple[str, ...] = ()) -> Check:
    """A string, optionally with a minimum length, a full-match pattern or an enum."""
    def check(value: Any, path: str, errors: Errors) -> None:
        if not isinstance(value, str):
            errors.append((path, "error.expected.jsstring"))
        elif len(value) < min_length:
            errors.append((path, "error.minLength"))
        elif pattern is not None and not pattern.fullmatch(value):
            errors.append((path, "error.pattern"))
        elif enum and value not in enum:
            errors.append((path, "error.unknown.enum.literal"))
    return check


def path_id(value: Any, path: str, errors: Errors) -> None:
    """A Marathon path id (absolute or relative)."""
    if not isinstance(value, str):
        errors.append((path, "error.expected.jsstring"))
    elif not is_valid_path_id(value):
        errors.append((path, "error.pattern"))


def number(minimum: float | None = None, maximum: float | None = None,
           integer: bool = False) -> Check:
    """A JSON number (an integer when ``integer``) within optional bounds."""
    def check(value: Any, path: str, errors: Errors) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append((path, "error.expected.jsnumber"))
        elif integer and not (isinstance(value, int) or float(value).is_integer()):
            errors.append((path, "error.expected.int"))
        elif minimum is not None and value < minimum:
            errors.append((path, "error.min"))
        elif maximum is not None and value > maximum:
            errors.append((path, "error.max"))
    return check


def boolean(value: Any, path: str, errors: Errors) -> None:
    """A JSON boolean."""
    if not isinstance(value, bool):
        errors.append((path, "error.expected.jsboolean"))


def anything(value: Any, path: str, errors: Errors) -> None:
    """Any JSON value (fields Marathon accepts but the simulator does not interpret)."""


def array(item: Check, min_items: int = 0, max_items: int | None = None) -> Check:
    """A JSON array whose items pass ``item``."""
    def check(value: Any, path: str, errors: Errors) -> None:
        if not isinstance(value, list):
            errors.append((path, "error.expected.jsarray"))
            return
        if len(value) < min_items:
            errors.append((path, "error.minLength"))
        if max_items is not None and len(value) > max_items:
            errors.append((path, "error.maxLength"))
        for i, element in enumerate(value):
            item(element, f"{path}({i})", errors)
    return check


def obj(fields: dict[str, Check], required: tuple[str, ...] = ()) -> Check:
    """A JSON object with known ``fields`` (unknown keys are ignored, as Marathon does)."""
    def check(value: Any, path: str, errors: Errors) -> None:
        if not isinstance(value, dict):
            errors.append((path or "/", "error.expected.jsobject"))
            return
        for name in required:
            if name not in value:
                errors.append((f"{path}/{name}", "error.path.missing"))
        for name, sub in fields.items():
            if name in value and value[name] is not None:
                sub(value[name], f"{path}/{name}", errors)
    return check


def mapping(values: Check) -> Check:
    """A JSON object with arbitrary keys whose values pass ``values``."""
    def check(value: Any, path: str, errors: Errors) -> None:
        if not isinstance(value, dict):
            errors.append((path, "error.expected.jsobject"))
            return
        for key, sub in value.items():
            values(sub, f"{path}/{key}", errors)
    return check


def env_value(value: Any, path: str, errors: Errors) -> None:
    """An env value: a string or ``{"secret": name}``."""
    if isinstance(value, dict):
        obj({"secret": string(1)}, required=("secret",))(value, path, errors)
    elif not isinstance(value, str):
        errors.append((path, "error.expected.jsstring"))


def constraint(value: Any, path: str, errors: Errors) -> None:
    """``[field, OPERATOR(, value)]``."""
    before = len(errors)
    array(string(), min_items=2, max_items=3)(value, path, errors)
    if len(errors) > before:
        return
    if value[1] not in CONSTRAINT_OPERATORS:
        errors.append((path, "error.unknown.enum.literal"))


def unreachable(value: Any, path: str, errors: Errors) -> None:
    """``"disabled"`` or ``{inactiveAfterSeconds, expungeAfterSeconds}``."""
    if isinstance(value, str):
        string(enum=("disabled",))(value, path, errors)
    else:
        obj({"inactiveAfterSeconds": PORT_FREE_INT, "expungeAfterSeconds": number(0)})(
            value, path, errors)


PORT = number(0, 65535, integer=True)
PORT_FREE_INT = number(0, integer=True)
LABELS = mapping(string())
PORT_MAPPING = obj({"containerPort": PORT, "hostPort": PORT, "servicePort": PORT,
                    "protocol": string(enum=("tcp", "udp", "udp,tcp")),
                    "name": string(pattern=_PORT_NAME), "labels": LABELS,
                    "networkNames": array(string(1))})
VOLUME = obj({"containerPath": string(1), "hostPath": string(1),
              "mode": string(enum=("RO", "RW")),
              "persistent": obj({"size": PORT_FREE_INT}, required=("size",)),
              "external": obj({"size": PORT_FREE_INT, "name": string(), "provider": string()})})
DOCKER = obj({"image": string(1), "forcePullImage": boolean, "privileged": boolean,
              "network": string(enum=("BRIDGE", "HOST", "NONE", "USER")),
              "parameters": array(obj({"key": string(1), "value": string()},
                                      required=("key", "value"))),
              "portMappings": array(PORT_MAPPING), "credential": anything,
              "pullConfig": obj({"secret": string(1)}, required=("secret",))},
             required=("image",))
CONTAINER = obj({"type": string(enum=("MESOS", "DOCKER")), "docker": DOCKER,
                 "volumes": array(VOLUME), "portMappings": array(PORT_MAPPING),
                 "linuxInfo": anything, "appc": anything})
HEALTH_CHECK = obj({
    "command": obj({"value": string()}), "gracePeriodSeconds": PORT_FREE_INT,
    "ignoreHttp1xx": boolean, "intervalSeconds": PORT_FREE_INT,
    "maxConsecutiveFailures": PORT_FREE_INT, "path": string(), "port": PORT,
    "portIndex": PORT_FREE_INT,
    "protocol": string(enum=("HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_TCP", "MESOS_HTTP",
                             "MESOS_HTTPS")),
    "ipProtocol": string(enum=("IPv4", "IPv6")), "timeoutSeconds": PORT_FREE_INT,
    "delaySeconds": PORT_FREE_INT})
APP_FIELDS: dict[str, Check] = {
    "id": path_id, "acceptedResourceRoles": array(string()), "args": array(string()),
    "backoffFactor": number(1.0), "backoffSeconds": PORT_FREE_INT, "cmd": string(1),
    "constraints": array(constraint), "container": CONTAINER, "cpus": number(0),
    "dependencies": array(path_id), "disk": number(0), "env": mapping(env_value),
    "executor": string(pattern=re.compile(r"|//cmd|/?[^/]+(/[^/]+)*")),
    "executorResources": obj({"cpus": number(0), "mem": number(0), "disk": number(0)}),
    "fetch": array(obj({"uri": string(), "executable": boolean, "extract": boolean,
                        "cache": boolean, "destPath": string(), "outputFile": string()},
                       required=("uri",))),
    "healthChecks": array(HEALTH_CHECK), "check": anything,
    "instances": PORT_FREE_INT, "labels": LABELS, "maxLaunchDelaySeconds": PORT_FREE_INT,
    "mem": number(0), "gpus": PORT_FREE_INT, "ipAddress": anything,
    "networks": array(obj({"name": string(),
                           "mode": string(enum=("container", "container/bridge", "host")),
                           "labels": anything})),
    "ports": array(PORT),
    "portDefinitions": array(obj({"port": PORT, "labels": LABELS,
                                  "name": string(pattern=_PORT_NAME),
                                  "protocol": string(enum=("tcp", "udp", "udp,tcp"))})),
    "readinessChecks": array(anything), "residency": anything, "resourceLimits": anything,
    "requirePorts": boolean, "secrets": mapping(anything),
    "taskKillGracePeriodSeconds": PORT_FREE_INT,
    "upgradeStrategy": obj({"minimumHealthCapacity": number(0.0, 1.0),
                            "maximumOverCapacity": number(0.0, 1.0)}),
    "uris": array(string(1)), "user": string(), "version": string(),
    "versionInfo": anything, "killSelection": string(enum=("YOUNGEST_FIRST", "OLDEST_FIRST")),
    "unreachableStrategy": unreachable, "tty": boolean, "role": string(1),
}
#: Read-only fields a client may echo back from a GET (ignored).
ECHO_FIELDS = ("tasks", "deployments", "tasksRunning", "tasksStaged", "tasksHealthy",
               "tasksUnhealthy", "lastTaskFailure", "readinessCheckResults", "tasksStats",
               "taskStats")


def app_type_errors(raw: Any, prefix: str = "", require_id: bool = True) -> Errors:
    """Parser-level errors of an app body (types, patterns, ranges)."""
    errors: Errors = []
    obj(APP_FIELDS, required=("id",) if require_id else ())(raw, prefix, errors)
    return errors


def app_semantic_errors(app: dict[str, Any], prefix: str = "") -> Errors:
    """Validator-level errors of a type-correct app body."""
    errors: Errors = []
    if app.get("cmd") is not None and app.get("args") is not None:
        errors.append((prefix or "/", "AppDefinition must either contain one of 'cmd' or "
                                      "'args', and/or a 'container'."))
    last = str(app.get("id", "")).rstrip("/").rsplit("/", 1)[-1]
    if last in RESERVED_LAST_SEGMENTS:
        errors.append((f"{prefix}/id", f"must not end with any of the following reserved "
                                       f"keywords: {', '.join(RESERVED_LAST_SEGMENTS)}"))
    for i, item in enumerate(app.get("constraints") or []):
        path = f"{prefix}/constraints({i})"
        operator, value = item[1], (item[2] if len(item) > 2 else None)
        if operator in ("LIKE", "UNLIKE") and value is not None:
            try:
                re.compile(value)
            except re.error:
                errors.append((path, f"'{value}' is not a valid regular expression."))
        if operator in ("MAX_PER", "GROUP_BY") and value not in (None, "") \
                and not value.isdigit():
            errors.append((path, "Value was not an integer."))
    names = [p.get("name") for p in app.get("portDefinitions") or [] if p.get("name")]
    if len(names) != len(set(names)):
        errors.append((f"{prefix}/portDefinitions", "Port names must be unique."))
    mesos_checks = [h for h in app.get("healthChecks") or []
                    if str(h.get("protocol", "")).startswith("MESOS_")]
    if len(mesos_checks) > 1:
        errors.append((f"{prefix}/healthChecks",
                       "AppDefinition can contain at most one Mesos health check."))
    return errors


def check_app(raw: Any, prefix: str = "", require_id: bool = True) -> None:
    """Raise the 422 Marathon answers for ``raw``, if any."""
    errors = app_type_errors(raw, prefix, require_id)
    if errors:
        raise problem("Invalid JSON", errors)
    errors = app_semantic_errors(raw, prefix)
    if errors:
        raise problem("Object is not valid", errors)


def known_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` without keys Marathon does not know (so they never reach the JSON output)."""
    return {k: v for k, v in raw.items() if k in APP_FIELDS}


GROUP_FIELDS: dict[str, Check] = {
    "id": path_id, "apps": array(anything), "groups": array(anything),
    "dependencies": array(path_id), "version": string(), "scaleBy": number(0),
    "enforceRole": boolean, "pods": array(anything),
}


def group_errors(raw: Any, prefix: str = "") -> Errors:
    """Parser-level errors of a group body, recursing into apps and sub-groups."""
    errors: Errors = []
    obj(GROUP_FIELDS)(raw, prefix, errors)
    if errors:
        return errors
    for i, app in enumerate(raw.get("apps") or []):
        errors += app_type_errors(app, f"{prefix}/apps({i})")
    for i, group in enumerate(raw.get("groups") or []):
        if isinstance(group, dict) and "id" not in group:
            errors.append((f"{prefix}/groups({i})/id", "error.path.missing"))
        errors += group_errors(group, f"{prefix}/groups({i})")
    return errors
