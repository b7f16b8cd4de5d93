"""Bounded polling for tests where the system under test offers no event to wait on
(e.g. Chronos has no event stream).  Prefer a ZooKeeper watch or an SSE event when one exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 15.0, what: str = "condition",
             interval: float = 0.05) -> T:
    """Return ``predicate()``'s first truthy value; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
