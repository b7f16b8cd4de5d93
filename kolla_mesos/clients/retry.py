"""Retry with exponential backoff, jitter and an overall deadline.

Modelled on kazoo's ``kazoo.retry.KazooRetry``: a bounded number of tries, a delay that grows
by ``backoff`` up to ``max_delay`` with +/- ``max_jitter`` randomisation so that clients do not
hammer a recovering server in lock step, and a deadline after which no new attempt starts.
Unlike KazooRetry there is no "retry forever" setting: ``max_tries`` must be at least 1.

Only transient failures are retried; the caller says which ones with ``retryable`` (the HTTP
clients retry :class:`kolla_mesos.errors.ServerError` on idempotent requests only).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from kolla_mesos import errors

LOG = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class RetryPolicy:
    """How often and how long to retry a transient failure.

    ``deadline`` is the overall budget in seconds for one :meth:`call` (all attempts and all
    waits); ``None`` means only ``max_tries`` bounds it.
    """

    max_tries: int = 5
    delay: float = 0.2
    backoff: float = 2.0
    max_jitter: float = 0.4
    max_delay: float = 5.0
    deadline: float | None = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        if self.max_tries < 1:
            raise ValueError("max_tries must be at least 1: a request is never retried forever")
        self.max_jitter = max(0.0, min(self.max_jitter, 1.0))

    def delays(self) -> list[float]:
        """The nominal (jitter-free) waits between attempts, for documentation and tests."""
        out: list[float] = []
        cur = self.delay
        for _ in range(self.max_tries - 1):
            out.append(min(cur, self.max_delay))
            cur = min(cur * self.backoff, self.max_delay)
        return out

    def call(self, func: Callable[[], T], retryable: Callable[[Exception], bool],
             what: str = "request") -> T:
        """Call ``func`` until it succeeds, retrying exceptions for which ``retryable`` is true.

        The last exception is re-raised when the tries or the deadline are used up; its
        message is kept (it already names the remote system and the request).
        """
        stop = None if self.deadline is None else self.clock() + self.deadline
        cur_delay = self.delay
        attempt = 0
        while True:
            attempt += 1
            try:
                return func()
            except Exception as exc:
                if not retryable(exc):
                    raise
                if attempt >= self.max_tries:
                    # INFO: the caller reports the re-raised error (one sentence at the CLI).
                    LOG.info("Giving up on %s after %d attempts: %s", what, attempt, exc)
                    raise
                wait = min(cur_delay, self.max_delay) * random.uniform(
                    1.0 - self.max_jitter, 1.0 + self.max_jitter)
                if stop is not None and self.clock() + wait >= stop:
                    LOG.info("Giving up on %s: retry deadline of %.1f s reached: %s",
                                what, self.deadline, exc)
                    raise
                LOG.info("Retrying %s in %.2f s (attempt %d of %d): %s",
                         what, wait, attempt + 1, self.max_tries, exc)
                self.sleep(wait)
                cur_delay = min(cur_delay * self.backoff, self.max_delay)


def is_transient(exc: Exception) -> bool:
    """True for failures worth retrying: 5xx answers and connection errors."""
    return isinstance(exc, errors.ServerError)
