"""Pure parts of ``kolla-mesos logs``: naming targets, choosing tasks, text handling."""

from __future__ import annotations

import time

import pytest

from kolla_mesos import errors
from kolla_mesos.apply import logs, logtext

MANIFEST = {"services": {
    "store": {"app": "/kolla/t1/testing/store", "jobs": {"init": "t1-store-init-1"},
              "hosts": ["a1", "a2"]},
    "migrate": {"app": None, "jobs": {"migrate": "t1-migrate-migrate-1",
                                      "seed": "t1-migrate-seed-1"}, "hosts": ["a1"]},
}}


def test_targets_of_a_service_a_job_and_a_job_only_service() -> None:
    assert logs.resolve_targets(MANIFEST, "store", "t1", 3) == [
        logs.Target("store", "daemon", "app", "/kolla/t1/testing/store")]
    assert logs.resolve_targets(MANIFEST, "store/init", "t1", 3) == [
        logs.Target("store", "init", "job", "t1-store-init-1")]
    assert [t.label for t in logs.resolve_targets(MANIFEST, "migrate", "t1", 3)] == [
        "migrate/migrate", "migrate/seed"]


@pytest.mark.parametrize(("spec", "words"), [
    ("nova", "Service 'nova' is not part of deployment 't1' (generation 3 has: migrate, "
             "store)."),
    ("store/nope", "its tasks are store/daemon, store/init"),
    ("migrate/daemon", "its tasks are migrate/migrate, migrate/seed"),
])
def test_unknown_targets_are_one_sentence(spec: str, words: str) -> None:
    with pytest.raises(errors.ConfigError) as info:
        logs.resolve_targets(MANIFEST, spec, "t1", 3)
    assert words in str(info.value)


def _task(tid: str, state: str, start: float, agent: str = "S1") -> dict[str, object]:
    return {"id": tid, "state": state, "slave_id": agent,
            "statuses": [{"state": state, "timestamp": start}]}


def test_choose_tasks() -> None:
    app = logs.Target("store", "daemon", "app", "/x")
    job = logs.Target("m", "m", "job", "j")
    old = _task("a", "TASK_KILLED", 1.0)
    crashed = _task("b", "TASK_FAILED", 2.0)
    other = _task("c", "TASK_FAILED", 1.5, "S2")
    running = _task("d", "TASK_RUNNING", 3.0)
    assert logs.choose_tasks(app, [running, old], False) == [running]
    # none running: the newest per agent
    assert logs.choose_tasks(app, [crashed, old, other], False) == [other, crashed]
    assert logs.choose_tasks(job, [crashed, old], False) == [crashed]
    assert logs.choose_tasks(job, [crashed, old], True) == [old, crashed]


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("10m", 600), ("1h30m", 5400),
                                               ("2d", 172800)])
def test_durations(text: str, seconds: float) -> None:
    assert logtext.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["10", "-5m", "", "5 minutes", "1x"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        logtext.parse_duration(text)


def test_since_filter_keeps_continuations_of_kept_lines() -> None:
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    old = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now - 3600))
    lines = ["banner", f"{old},1 INFO old", "  old traceback", f"{stamp},2 INFO new",
             "  new traceback"]
    assert logtext.since_filter(lines, now - 60, keep_leading=False) == lines[3:]
    assert logtext.since_filter(lines, now - 60, keep_leading=True) == ["banner", *lines[3:]]


def test_line_buffer_keeps_the_unfinished_line() -> None:
    buf = logtext.LineBuffer()
    assert buf.feed("a\nb") == ["a"]
    assert buf.feed("c\n") == ["bc"]
    assert buf.feed("d") == []
    assert buf.flush() == ["d"]
    assert logtext.last_lines("1\n2\n3\n", 2) == ["2", "3"]
    assert logtext.last_lines("1\n2\n3", 0) == []
