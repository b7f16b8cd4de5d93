"""pytest fixtures and a bounded wait for tests that drive the simulator.

Shipped with the simulator (not only with its own tests) so that any framework's test suite
can start one: list ``"mesos_sim.testing"`` in ``pytest_plugins`` or import the fixtures into
a ``conftest.py``.  Importing this module needs pytest; the simulator itself does not.

* ``simulator`` (session): one in-process :class:`Simulator` on ephemeral loopback ports, state
  in a temporary directory, Chronos retrying failed jobs after 0.2 s instead of 60 s.
* ``sim`` (function): the same simulator, reset before and after the test: every app, group,
  deployment, job and task is gone, and named volumes are wiped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from mesos_sim.simulator import Simulator

#: Chronos ``--failure_retry`` used by the fixtures (seconds).
TEST_FAILURE_RETRY = 0.2

T = TypeVar("T")


@pytest.fixture(scope="session")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """The session's simulator (one agent 127.0.1.1); prefer ``sim`` in tests."""
    sim = Simulator(tmp_path_factory.mktemp("sim"), chronos_failure_retry=TEST_FAILURE_RETRY)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def sim(simulator: Simulator) -> Iterator[Simulator]:
    """The session's simulator, empty at the start and at the end of the test."""
    simulator.reset()
    try:
        yield simulator
    finally:
        simulator.reset()


def wait_for(predicate: Callable[[], T], timeout: float = 30.0, what: str = "condition",
             interval: float = 0.05) -> T:
    """Return ``predicate()``'s first truthy value; AssertionError after ``timeout`` s.

    For states the simulator publishes no event for (Chronos has no event stream, the Mesos
    endpoints are polled by real clients too); prefer Marathon's event bus where it has one.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
