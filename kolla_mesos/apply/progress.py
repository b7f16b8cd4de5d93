"""Progress reporting for long operations: one line per service state change.

The apply step calls :meth:`Progress.update` whenever it learns something about a service
(job queued/running/succeeded, app tasks running/healthy); a line is printed only when the
service's state text changes, so the output reads service by service.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    """Thread-safe, de-duplicating progress printer (to stderr by default)."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.started = time.monotonic()
        self.states: dict[str, str] = {}
        self._lock = threading.Lock()

    def update(self, service: str, state: str) -> None:
        """Record ``service``'s state; print a line when it changed."""
        with self._lock:
            if self.states.get(service) == state:
                return
            self.states[service] = state
            if self.enabled:
                elapsed = time.monotonic() - self.started
                self.stream.write(f"[{elapsed:6.1f}s] {service:<28} {state}\n")
                self.stream.flush()

    def note(self, message: str) -> None:
        """Print a free-form progress line."""
        if self.enabled:
            with self._lock:
                elapsed = time.monotonic() - self.started
                self.stream.write(f"[{elapsed:6.1f}s] {message}\n")
                self.stream.flush()
