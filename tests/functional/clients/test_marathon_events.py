"""The Marathon client's event-driven wake-ups (GET /v2/events) against the simulator."""

from __future__ import annotations

import threading

import requests

from kolla_mesos.clients.marathon_events import EventWaker


def test_waker_signals_on_marathon_events_and_stops_promptly(sim):
    changed = threading.Event()
    waker = EventWaker(sim.marathon_url, None, 5.0, changed).start()
    try:
        assert waker.connected.wait(10), "the event stream did not attach"
        changed.clear()
        r = requests.post(f"{sim.marathon_url}/v2/apps", timeout=10,
                          json={"id": "/ev/app", "cmd": "sleep 60", "cpus": 0.1, "mem": 16})
        assert r.status_code == 201
        assert changed.wait(10), "no wake-up for a deployment and its task updates"
    finally:
        waker.stop()
    assert not waker.connected.is_set()
    # stop() does not depend on a next event arriving: the blocked reader thread has ended
    assert not waker.running


def test_waker_reports_no_stream_where_there_is_none(sim):
    changed = threading.Event()
    waker = EventWaker(sim.chronos_url, None, 5.0, changed).start()  # Chronos: no /v2/events
    try:
        assert changed.wait(10), "a failed stream must wake the waiter so it can poll"
        assert not waker.connected.is_set()
    finally:
        waker.stop()
