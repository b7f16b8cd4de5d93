"""pytest fixtures for the simulator (loaded by ``tests/conftest.py``).

* ``simulator`` (session): one in-process :class:`Simulator` on ephemeral loopback ports, state
  in a temporary directory, Chronos retrying failed jobs after 0.2 s instead of 60 s.
* ``sim`` (function): the same simulator, reset before and after the test: every app, group,
  deployment, job and task is gone, and named volumes are wiped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kolla_mesos.sim.simulator import Simulator

#: Chronos ``--failure_retry`` used by the fixtures (seconds).
TEST_FAILURE_RETRY = 0.2


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
