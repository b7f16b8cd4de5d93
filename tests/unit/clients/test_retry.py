"""The retry helper: bounded tries, backoff with jitter, overall deadline."""

from __future__ import annotations

import pytest

from kolla_mesos import errors
from kolla_mesos.clients.retry import RetryPolicy, is_transient


class FakeClock:
    """A clock advanced by the policy's sleep function (no real waiting)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def failing(times: int, exc: Exception) -> tuple[list[int], object]:
    calls: list[int] = []

    def func() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise exc
        return "ok"
    return calls, func


def policy(**kw: object) -> tuple[RetryPolicy, FakeClock]:
    clock = FakeClock()
    return RetryPolicy(sleep=clock.sleep, clock=clock, **kw), clock  # type: ignore[arg-type]


def test_retries_transient_then_succeeds() -> None:
    pol, clock = policy(max_tries=5, delay=1, backoff=2, max_jitter=0.0, deadline=None)
    calls, func = failing(3, errors.ServerError("boom"))
    assert pol.call(func, is_transient) == "ok"  # type: ignore[arg-type]
    assert len(calls) == 4
    assert clock.sleeps == [1, 2, 4]


def test_gives_up_after_max_tries() -> None:
    pol, clock = policy(max_tries=3, delay=0.1, deadline=None)
    calls, func = failing(10, errors.ServerError("still down"))
    with pytest.raises(errors.ServerError, match="still down"):
        pol.call(func, is_transient)  # type: ignore[arg-type]
    assert len(calls) == 3


def test_deadline_stops_retrying() -> None:
    pol, clock = policy(max_tries=100, delay=1, backoff=2, max_jitter=0.0, max_delay=100,
                        deadline=10)
    calls, func = failing(100, errors.ServerError("down"))
    with pytest.raises(errors.ServerError):
        pol.call(func, is_transient)  # type: ignore[arg-type]
    assert clock.now < 10
    assert clock.sleeps == [1, 2, 4]


def test_non_transient_is_not_retried() -> None:
    pol, _ = policy()
    calls, func = failing(1, errors.ConflictError("locked", ["d1"]))
    with pytest.raises(errors.ConflictError):
        pol.call(func, is_transient)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_jitter_and_max_delay() -> None:
    pol, clock = policy(max_tries=8, delay=1, backoff=10, max_jitter=0.5, max_delay=3,
                        deadline=None)
    _, func = failing(7, errors.ServerError("x"))
    pol.call(func, is_transient)  # type: ignore[arg-type]
    assert all(0.5 <= s <= 4.5 for s in clock.sleeps)
    assert pol.delays() == [1, 3, 3, 3, 3, 3, 3]


def test_never_forever() -> None:
    with pytest.raises(ValueError, match="never retried forever"):
        RetryPolicy(max_tries=0)
