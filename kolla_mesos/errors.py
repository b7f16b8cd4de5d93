"""The one exception tree of kolla-mesos and its named exit codes.

Every error the product raises on purpose derives from :class:`KollaMesosError`.  Each carries
one user-facing sentence (``str(err)``) that names the file, key or field at fault, and an exit
code from :class:`ExitCode`.  The CLI's error boundary prints that sentence; the traceback is
shown only with ``--debug``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence


class ExitCode(enum.IntEnum):
    """Named process exit codes, documented in README.md (section "Exit codes")."""

    OK = 0
    #: Unexpected failure (a bug): the traceback is printed with --debug.
    ERROR = 1
    #: Wrong command-line usage (cliff/argparse also use 2).
    USAGE = 2
    #: Bad operator input: settings, YAML, topology, passwords, templates, definitions.
    CONFIG = 3
    #: A remote system (ZooKeeper, Marathon, Chronos, Mesos) could not be reached or
    #: answered with an error.
    REMOTE = 4
    #: A deadline expired (deployment wait, dependency wait, lock wait).
    TIMEOUT = 5
    #: The deployment ran but a health gate or a one-shot job failed.
    DEPLOY_FAILED = 6
    #: A dependency of a runner command failed.
    DEPENDENCY_FAILED = 7
    #: Another operation holds the deployment (Marathon deployment or deploy lock).
    CONFLICT = 8
    #: Interrupted by the operator (Ctrl-C).
    INTERRUPTED = 130


class KollaMesosError(Exception):
    """Base of every error kolla-mesos raises on purpose.

    ``message`` is one sentence for the operator; ``exit_code`` is what the CLI exits with.
    """

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- operator input --------------------------------------------------------------------------


class ConfigError(KollaMesosError):
    """Bad operator input: a setting, a YAML file, a variable, a topology, a definition."""

    exit_code = ExitCode.CONFIG


class SettingsError(ConfigError):
    """An oslo.config option is missing or invalid."""


class YamlError(ConfigError):
    """A YAML file cannot be read or parsed, or has the wrong shape."""


class VariableError(ConfigError):
    """A variable is undefined, has a reference cycle or does not render."""


class TemplateError(ConfigError):
    """A template does not render (undefined name, missing filter, syntax error)."""


class TopologyError(ConfigError):
    """topology.yml is invalid (unknown group, duplicate host, missing address)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(" ".join(self.problems))


class DefinitionError(ConfigError):
    """A service definition is invalid, or dependencies are missing or cyclic."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(" ".join(self.problems))


class UpgradeStrategyError(DefinitionError):
    """An app's ``upgradeStrategy`` needs an extra instance that its placement (one
    instance per pinned host) lets no agent take: Marathon's restart would never finish."""


class PasswordError(ConfigError):
    """passwords.yml is missing, unreadable, too open or lacks a value."""


class CertificateError(ConfigError):
    """A TLS certificate or key the settings need is missing, expired, not yet valid, does
    not match its key, does not chain to the deployment's CA or does not name its VIP."""


# --- remote systems --------------------------------------------------------------------------


class RemoteError(KollaMesosError):
    """A remote system could not be reached or answered with an error."""

    exit_code = ExitCode.REMOTE


class ZookeeperError(RemoteError):
    """ZooKeeper is unreachable, refused our credentials or rejected an operation."""


class HttpError(RemoteError):
    """An HTTP API answered with an unexpected status."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class NotFoundError(HttpError):
    """The resource does not exist (HTTP 404)."""


class ConflictError(HttpError):
    """The resource is locked by a running deployment (Marathon HTTP 409)."""

    exit_code = ExitCode.CONFLICT

    def __init__(self, message: str, deployment_ids: Sequence[str] = (), **kw: object) -> None:
        super().__init__(message, status=409, body=str(kw.get("body", "")))
        self.deployment_ids = list(deployment_ids)


class InvalidDefinitionError(HttpError):
    """The API rejected a definition (Marathon 422, Chronos 400) with field paths."""

    exit_code = ExitCode.CONFIG

    def __init__(self, message: str, details: Sequence[tuple[str, str]] = (),
                 status: int = 422) -> None:
        super().__init__(message, status=status)
        self.details = list(details)


class ServerError(HttpError):
    """The API answered 5xx or the connection failed; retried until the deadline."""


# --- time and outcome ------------------------------------------------------------------------


class DeadlineExceeded(KollaMesosError):
    """A wait ran past its deadline."""

    exit_code = ExitCode.TIMEOUT


class WaitInterrupted(DeadlineExceeded):
    """A wait was stopped on purpose (another wait of the same deploy failed first).

    Typed so the deployer can tell "the other waiter failed" from a real deadline without
    searching messages for a word.
    """


class DeployFailed(KollaMesosError):
    """A deployment did not become healthy or a one-shot job failed."""

    exit_code = ExitCode.DEPLOY_FAILED


class DependencyFailed(KollaMesosError):
    """A runner dependency reported failure."""

    exit_code = ExitCode.DEPENDENCY_FAILED


class RefusedError(KollaMesosError):
    """A destructive command without its confirmation flag: nothing was changed."""

    exit_code = ExitCode.USAGE


class PrechecksFailed(KollaMesosError):
    """``kolla-mesos prechecks`` found problems: CONFIG, or REMOTE when a service is
    unreachable (``remote``)."""

    def __init__(self, message: str, remote: bool = False) -> None:
        super().__init__(message)
        self.exit_code = ExitCode.REMOTE if remote else ExitCode.CONFIG


class LockedError(KollaMesosError):
    """Another deployer holds the deployment."""

    exit_code = ExitCode.CONFLICT


class AlreadyExists(KollaMesosError):
    """What an operation would create is already there (``deployment import`` into a
    ZooKeeper that holds the deployment): refused, so nothing newer is overwritten."""

    exit_code = ExitCode.CONFLICT


def yaml_problem(exc: BaseException) -> str:
    """A YAML parser error as a short phrase: what is wrong and on which line.

    PyYAML's own ``str(exc)`` spans several lines and quotes the offending source lines, which
    may hold a password (passwords.yml, a rendered file); this never quotes the source.
    """
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    if problem is None:
        problem = type(exc).__name__
    line = getattr(mark, "line", None)
    return f"{problem} at line {line + 1}" if isinstance(line, int) else str(problem)
