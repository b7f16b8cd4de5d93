"""Progress and failure evaluation while waiting for Marathon deployments."""

from __future__ import annotations

import datetime as dt

from kolla_mesos.clients import marathon_progress as mp


def app(**kw: object) -> dict:
    base = {"id": "/kolla/demo/keystone/keystone", "instances": 2, "tasksRunning": 2,
            "tasksHealthy": 2, "tasksUnhealthy": 0, "tasksStaged": 0,
            "healthChecks": [{"protocol": "TCP"}], "deployments": [],
            "version": "2026-01-01T00:00:00.000Z"}
    base.update(kw)
    return base


def test_ready_needs_running_and_healthy() -> None:
    assert mp.app_progress(app()).ready
    assert not mp.app_progress(app(tasksHealthy=1)).ready
    assert not mp.app_progress(app(tasksRunning=1)).ready
    assert mp.app_progress(app(tasksHealthy=0, healthChecks=[])).ready
    assert mp.app_progress(app(instances=0, tasksRunning=0, tasksHealthy=0)).ready
    assert mp.gone("/x").ready
    assert mp.app_progress(app(tasksHealthy=1, tasksUnhealthy=1)).summary() == \
        "2/2 running, 1/2 healthy, 1 unhealthy"


def test_failure_tracker_counts_new_failures_of_current_version() -> None:
    tracker = mp.FailureTracker(since="2026-01-01T00:00:10.000Z")

    def failed(task: str, stamp: str, version: str = "2026-01-01T00:00:00.000Z") -> dict:
        return app(lastTaskFailure={"taskId": task, "timestamp": stamp, "version": version,
                                    "state": "TASK_FAILED", "message": "exit 1",
                                    "host": "node1"})

    assert tracker.observe(failed("t0", "2026-01-01T00:00:05.000Z")) == 0  # before the wait
    assert tracker.observe(failed("t1", "2026-01-01T00:00:11.000Z", "old")) == 0
    assert tracker.observe(failed("t2", "2026-01-01T00:00:12.000Z")) == 1
    assert tracker.observe(failed("t2", "2026-01-01T00:00:12.000Z")) == 1
    assert tracker.observe(failed("t3", "2026-01-01T00:00:13.000Z")) == 2
    text = mp.describe_failure(failed("t3", "2026-01-01T00:00:13.000Z"))
    assert text is not None and "t3 on node1 ended TASK_FAILED" in text and "exit 1" in text


def test_marathon_timestamp_format_sorts_like_marathon() -> None:
    when = dt.datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=dt.UTC)
    assert mp.marathon_timestamp(when) == "2026-03-04T05:06:07.891Z"


def test_deployment_summary() -> None:
    dep = {"currentStep": 1, "totalSteps": 2,
           "currentActions": [{"action": "ScaleApplication", "app": "/a"}]}
    assert mp.deployment_summary(dep) == "step 1/2: ScaleApplication /a"


def test_queue_reasons_name_what_declined_every_offer():
    from kolla_mesos.clients.marathon_progress import app_progress, queue_reasons

    queue = {"queue": [
        {"count": 1, "delay": {"overdue": True},
         "app": {"id": "/kolla/d/keystone/keystone",
                 "constraints": [["hostname", "LIKE", "agent1"], ["hostname", "UNIQUE"]]},
         "processedOffersSummary": {"processedOffersCount": 1, "unusedOffersCount": 1,
                                    "rejectSummaryLastOffers": [
                                        {"reason": "UnfulfilledRole", "declined": 0,
                                         "processed": 1},
                                        {"reason": "UnfulfilledConstraint", "declined": 1,
                                         "processed": 1},
                                        {"reason": "InsufficientCpus", "declined": 0,
                                         "processed": 0}]}},
        {"count": 0, "app": {"id": "/kolla/d/x"}, "processedOffersSummary": {}},
        {"count": 2, "app": {"id": "/kolla/d/y"},
         "processedOffersSummary": {"rejectSummaryLastOffers": [
             {"reason": "InsufficientMemory", "declined": 1, "processed": 3}]}},
    ]}
    reasons = queue_reasons(queue)
    assert reasons == {"/kolla/d/keystone/keystone": (
        "waiting for an agent: constraint hostname LIKE agent1, hostname UNIQUE unsatisfied "
        "on every agent (1 offer)")}
    app = {"id": "/kolla/d/keystone/keystone", "instances": 1, "tasksRunning": 0,
           "healthChecks": [{}]}
    assert app_progress(app, reasons[app["id"]]).summary() == (
        "0/1 running, 0/1 healthy; " + reasons[app["id"]])
