"""Error mapping of the Marathon and Chronos clients, from bodies recorded in the reference."""

from __future__ import annotations

import pytest

from kolla_mesos import errors
from kolla_mesos.clients import chronos, marathon_errors
from kolla_mesos.clients.http import MAX_MESSAGE, body_message, default_mapper

LOCKED = {
    "message": "App is locked by one or more deployments. Override with the option "
               "'?force=true'. View details at '/v2/deployments/5ed4c0c5-9ff8-4a6f-a0cd-"
               "f57f59a34b43'.",
    "deployments": [{"id": "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43"}],
}
SEMANTIC = {
    "message": "Object is not valid",
    "details": [
        {"path": "/upgradeStrategy/minimumHealthCapacity", "errors": ["is greater than 1"]},
        {"path": "/healthChecks(0)/path", "errors": ["must start with /", "too long"]},
    ],
}
SHAPE = {"message": "Invalid JSON", "details": [{"path": "/id",
                                                 "errors": ["error.expected.jsstring"]}]}


def test_marathon_409_carries_deployment_ids() -> None:
    err = marathon_errors.map_error(409, LOCKED, "PUT /v2/groups/kolla/demo")
    assert isinstance(err, errors.ConflictError)
    assert err.deployment_ids == ["5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43"]
    assert "PUT /v2/groups/kolla/demo" in str(err)
    assert err.exit_code == errors.ExitCode.CONFLICT


def test_marathon_409_ids_from_message_only() -> None:
    body = {"message": LOCKED["message"]}
    err = marathon_errors.map_error(409, body, "DELETE /v2/apps/a")
    assert isinstance(err, errors.ConflictError)
    assert err.deployment_ids == ["5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43"]


def test_marathon_409_duplicate_has_no_ids() -> None:
    err = marathon_errors.map_error(409, {"message": "An app with id [/x] already exists."},
                                    "POST /v2/apps")
    assert isinstance(err, errors.ConflictError)
    assert err.deployment_ids == []
    assert "already exists" in str(err)


@pytest.mark.parametrize("body,expected", [
    (SEMANTIC, [("/upgradeStrategy/minimumHealthCapacity", "is greater than 1"),
                ("/healthChecks(0)/path", "must start with /"),
                ("/healthChecks(0)/path", "too long")]),
    (SHAPE, [("/id", "error.expected.jsstring")]),
])
def test_marathon_422_field_paths(body: dict, expected: list) -> None:
    err = marathon_errors.map_error(422, body, "PUT /v2/groups/kolla/demo")
    assert isinstance(err, errors.InvalidDefinitionError)
    assert err.details == expected
    assert expected[0][0] in str(err)
    assert err.exit_code == errors.ExitCode.CONFIG


def test_marathon_400_string_details() -> None:
    body = {"message": "Invalid JSON", "details": "Unexpected end-of-input: expected close"}
    err = marathon_errors.map_error(400, body, "PUT /v2/groups/x")
    assert isinstance(err, errors.InvalidDefinitionError)
    assert err.details == [("/", "Unexpected end-of-input: expected close")]


def test_marathon_404_and_5xx() -> None:
    err = marathon_errors.map_error(404, {"message": "App '/x' does not exist"}, "GET /v2/apps/x")
    assert isinstance(err, errors.NotFoundError)
    assert "App '/x' does not exist" in str(err)
    for status in (500, 502, 503):
        err = marathon_errors.map_error(status, {"message": "URI not found"}, "GET /v2/x")
        assert isinstance(err, errors.ServerError)
        assert err.status == status
    err = marathon_errors.map_error(503, "<html>proxy</html>", "GET /v2/apps")
    assert isinstance(err, errors.ServerError)


def test_marathon_auth_errors_are_plain_http_errors() -> None:
    err = marathon_errors.map_error(401, {"message": "Invalid username or password."},
                                    "GET /v2/apps")
    assert type(err) is errors.HttpError
    assert "Invalid username or password." in str(err)


C3_NOT_FOUND = {"status": "Bad Request", "message": (
    "java.lang.IllegalArgumentException: requirement failed: Job 'nope' not found\n"
    "\tat scala.Predef$.require(Predef.scala:224)\n\tat org.apache.mesos.chronos...")}
C3_BAD_NAME = {"status": "Bad Request", "message": (
    "java.lang.IllegalArgumentException: requirement failed: the job's name is invalid. "
    "Allowed names: '([\\w\\.-]+)'\n\tat scala.Predef$.require(Predef.scala:224)")}


def test_chronos_400_not_found_is_not_found() -> None:
    err = chronos.map_error(400, C3_NOT_FOUND, "DELETE /v1/scheduler/job/nope")
    assert isinstance(err, errors.NotFoundError)
    assert "Job 'nope' not found" in str(err)
    assert "at scala" not in str(err)
    err2 = chronos.map_error(400, "requirement failed: JobSchedule 'nope' not found",
                             "DELETE /scheduler/job/nope")
    assert isinstance(err2, errors.NotFoundError)


def test_chronos_400_invalid_job_names_the_field() -> None:
    err = chronos.map_error(400, C3_BAD_NAME, "POST /v1/scheduler/iso8601")
    assert isinstance(err, errors.InvalidDefinitionError)
    assert err.details[0][0] == "name"
    assert str(err).startswith("Chronos rejected POST /v1/scheduler/iso8601: the job's name")
    sched = {"status": "Bad Request",
             "message": "java.lang.IllegalArgumentException: Cannot parse schedule 'x' (wtf bro)"}
    assert chronos.map_error(400, sched, "POST x").details[0][0] == "schedule"


def test_chronos_500() -> None:
    parent = {"status": "Internal Server Error",
              "message": "java.lang.Exception: Error, parent does not exist"}
    err = chronos.map_error(500, parent, "POST /v1/scheduler/dependency")
    assert isinstance(err, errors.InvalidDefinitionError)
    assert err.details[0][0] == "parents"
    html = "<html><head><title>Error 500 Server Error</title></head></html>"
    err = chronos.map_error(500, html, "POST /v1/scheduler/iso8601")
    assert isinstance(err, errors.ServerError)
    assert "<html>" not in str(err)


def test_chronos_last_state() -> None:
    assert chronos.last_state({}) == "fresh"
    assert chronos.last_state({"lastSuccess": "2017-03-01T12:00:05.123Z"}) == "success"
    assert chronos.last_state({"lastError": "2017-03-01T12:00:05.123Z"}) == "failure"
    both = {"lastSuccess": "2017-03-01T12:00:05.123Z", "lastError": "2017-03-01T12:00:06.000Z"}
    assert chronos.last_state(both) == "failure"
    both["lastSuccess"] = "2017-03-01T12:00:07.000Z"
    assert chronos.last_state(both) == "success"
    both["lastSuccess"] = both["lastError"]
    assert chronos.last_state(both) == "failure"


def test_chronos_stranded_children() -> None:
    ok = {"lastSuccess": "2026-01-01T00:00:01.000Z"}
    jobs = {"parent": {"name": "parent", **ok}, "other": {"name": "other"},
            "child": {"name": "child", "parents": ["parent"]},
            "waiting": {"name": "waiting", "parents": ["parent", "other"]},
            "done": {"name": "done", "parents": ["parent"], **ok},
            "running": {"name": "running", "parents": ["parent"]}}
    states = {"running": "1 running"}
    names = ["child", "waiting", "done", "running", "parent", "missing"]
    assert chronos.stranded(names, jobs, states) == ["child"]


@pytest.mark.parametrize("mapper", [marathon_errors.map_error, chronos.map_error,
                                    default_mapper("Mesos master")],
                         ids=["marathon", "chronos", "default"])
@pytest.mark.parametrize("status", [400, 404, 409, 422, 500])
def test_an_error_quotes_one_bounded_line_of_the_body(mapper, status):
    body = {"message": "first line " + "x" * 400 + "\nsecond line echoing a request"}
    message = str(mapper(status, body, "PUT /v2/groups/kolla"))
    assert "\n" not in message and "second line" not in message
    assert "first line" in message and len(message) < MAX_MESSAGE + 200


def test_an_html_error_page_is_quoted_by_its_title_only():
    page = "<html><head><title>502 Bad Gateway</title></head>\n<body>secret=abc</body></html>"
    assert body_message(page) == "502 Bad Gateway"
    assert body_message("<html><body>secret=abc</body></html>") == ""
