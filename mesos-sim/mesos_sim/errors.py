"""The simulator's own exception tree and the exit codes of ``kolla-mesos-sim``.

The simulator is a distribution of its own (it serves any Mesos framework's tests, not only
kolla-mesos), so it does not borrow the deployer's errors.  Every error it raises on purpose
derives from :class:`SimError` and carries one sentence for whoever started it, naming the file
or setting at fault; ``kolla-mesos-sim`` prints that sentence and exits with ``exit_code``.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit codes of ``kolla-mesos-sim`` (the same numbers as kolla-mesos's for the same
    kinds of failure, so scripts driving both read them alike)."""

    OK = 0
    #: Unexpected failure, or the APIs could not listen.
    ERROR = 1
    #: A bad agents file or option.
    CONFIG = 3


class SimError(Exception):
    """Base of every error the simulator raises on purpose: ``str(err)`` is its one sentence,
    ``exit_code`` what ``kolla-mesos-sim`` exits with."""

    exit_code: ExitCode = ExitCode.ERROR


class ConfigError(SimError):
    """The agents file or a command-line option is wrong."""

    exit_code = ExitCode.CONFIG


class IsolationError(SimError):
    """Isolation cannot work with these settings (e.g. the state directory lies under a
    directory that every task's overlay hides)."""


class LaunchError(SimError):
    """A task's container could not be set up or its program not executed (the task fails
    with this sentence, as Mesos's ``Failed to launch the command``)."""
