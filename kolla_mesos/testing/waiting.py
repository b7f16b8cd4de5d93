"""The tests' two ways to wait, both with a deadline and one failure message.

* :func:`wait_watch`: re-read a ZooKeeper node with a watch until a condition holds: woken by
  the change itself, never by a timer.
* :func:`wait_for`: poll what offers no event (a daemon's side-effect file, Chronos, which
  has no event stream), with a short fixed interval, bounded by the deadline.

Every wait helper of the product's tests is built on one of these two.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T | None], timeout: float = 20.0,
             what: str = "a condition", interval: float = 0.02,
             give_up: Callable[[], bool] | None = None) -> T:
    """Return ``predicate()``'s first value that is not None (nor False).

    AssertionError naming ``what`` after ``timeout`` seconds, or at once when ``give_up()``
    says waiting longer is pointless (e.g. the process that would act has exited).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value is not None and value is not False:
            return value
        if (give_up is not None and give_up()) or time.monotonic() >= deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(interval)


def wait_watch(read: Callable[[Callable[[Any], None]], T | None], timeout: float = 20.0,
               what: str = "a ZooKeeper node") -> T:
    """Call ``read(watch)`` (which reads with ``watch`` set) until it returns a value.

    ``read`` registers ``watch`` on every node it reads; a change to any of them wakes the
    next read.
    """
    changed = threading.Event()

    def wake(_event: Any) -> None:
        changed.set()

    deadline = time.monotonic() + timeout
    while True:
        changed.clear()
        value = read(wake)
        if value is not None:
            return value
        if not changed.wait(max(0.0, deadline - time.monotonic())):
            raise AssertionError(f"gave up waiting for {what} after {timeout:g} s")
