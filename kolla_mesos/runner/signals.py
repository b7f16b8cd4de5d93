"""Keep SIGTERM/SIGINT for the runner's main thread.

The kernel delivers a process-directed signal to any thread that does not block it.  When
it lands on a helper thread (kazoo's connection or worker threads, the reload watcher),
CPython only flags it, and a main thread blocked in a lock wait or ``waitpid`` would not run
the Python handler until that wait ends: a runner waiting for its dependencies could ignore
Marathon's SIGTERM.  Helper threads are therefore started with these signals blocked (a
thread inherits its creator's mask), and only the main thread, and the service processes it
starts, receive them.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

#: Signals the runner handles itself (forwarded to its children, or it stops).
HANDLED = frozenset({signal.SIGTERM, signal.SIGINT})


@contextlib.contextmanager
def blocked_for_new_threads() -> Iterator[None]:
    """Block :data:`HANDLED` while threads are started inside the block, then restore."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def unblocked_for_children() -> Iterator[None]:
    """Unblock :data:`HANDLED` while a child process is started (it inherits the mask), so
    a service started from a helper thread (an in-place restart) still stops on SIGTERM."""
    previous = signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
