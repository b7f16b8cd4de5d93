"""Who the runner is: identity from the task environment, ZooKeeper credentials from a file.

Pure except for :func:`read_credentials` (one file read) and the host-name default.  The
environment never carries a secret: ``KOLLA_ZK_CREDENTIALS_FILE`` names a file holding
``user:password``, this host's own runner identity (``{host}`` in it is replaced by the host
name).  See docs/service-definition.md ("Task environment" and "Runner").
"""

from __future__ import annotations

import dataclasses
import os
import socket
import stat
from collections.abc import Mapping

from kolla_mesos import errors, zkpaths

#: In-place restart of a ``restart``-policy daemon by the runner (not under Marathon).
RESTART_BY_RUNNER = "runner"
#: Default: Marathon replaces the task when a ``restart``-policy service's files change.
RESTART_BY_MARATHON = "marathon"
RESTART_MODES = (RESTART_BY_MARATHON, RESTART_BY_RUNNER)


@dataclasses.dataclass(frozen=True)
class Identity:
    """Everything the runner learns from its environment."""

    deployment: str
    project: str
    service: str
    hostname: str
    zk_hosts: str
    credentials_file: str
    zk_root: str = zkpaths.DEFAULT_ROOT
    command: str | None = None
    address: str = ""
    restart_mode: str = RESTART_BY_MARATHON
    task_name: str = ""

    @property
    def job_mode(self) -> bool:
        """True when this runner executes one command (a Chronos job) and exits."""
        return self.command is not None


def _app_id_parts(app_id: str) -> tuple[str, str, str] | None:
    """``/kolla/<deployment>/<project>/<service>`` -> (deployment, project, service)."""
    parts = [p for p in app_id.split("/") if p]
    if len(parts) >= 3:
        return parts[-3], parts[-2], parts[-1]
    return None


def command_from_job_name(job_name: str, deployment: str, service: str) -> str | None:
    """``<deployment>-<service>-<command>-<hash8>`` (DESIGN section 6) -> command, else None."""
    prefix = f"{deployment}-{service}-"
    if not job_name.startswith(prefix):
        return None
    command, sep, short_hash = job_name[len(prefix):].rpartition("-")
    if not sep or not command or len(short_hash) != 8:
        return None
    return command


def _default_address(env: Mapping[str, str]) -> str:
    for key in ("KOLLA_ADDRESS", "LIBPROCESS_IP", "HOST"):
        if env.get(key):
            return env[key]
    return ""


def from_env(env: Mapping[str, str]) -> Identity:
    """Build the identity from a task environment; a missing value is a ConfigError.

    ``KOLLA_DEPLOYMENT``, ``KOLLA_PROJECT`` and ``KOLLA_SERVICE`` win; otherwise they are
    taken from ``MARATHON_APP_ID`` (``/<root>/<deployment>/<project>/<service>``).
    ``KOLLA_COMMAND`` selects job mode (Chronos); without it the command is taken from
    ``CHRONOS_JOB_NAME`` (``<deployment>-<service>-<command>-<hash8>``) when that parses.
    """
    from_app = _app_id_parts(env.get("MARATHON_APP_ID", "")) or ("", "", "")
    values = {
        "KOLLA_DEPLOYMENT": env.get("KOLLA_DEPLOYMENT") or from_app[0],
        "KOLLA_PROJECT": env.get("KOLLA_PROJECT") or from_app[1],
        "KOLLA_SERVICE": env.get("KOLLA_SERVICE") or from_app[2],
        "KOLLA_ZK_HOSTS": env.get("KOLLA_ZK_HOSTS", ""),
        "KOLLA_ZK_CREDENTIALS_FILE": env.get("KOLLA_ZK_CREDENTIALS_FILE", ""),
    }
    missing = [key for key, value in values.items() if not value]
    if missing:
        raise errors.ConfigError(
            f"The runner's environment lacks {', '.join(missing)} (set by the deployer on "
            "every Marathon app and Chronos job; see docs/service-definition.md)."
        )
    for key in ("KOLLA_DEPLOYMENT", "KOLLA_PROJECT", "KOLLA_SERVICE"):
        try:
            zkpaths.check_name(key, values[key])
        except ValueError as exc:
            raise errors.ConfigError(f"Environment variable {exc}.") from exc
    command = env.get("KOLLA_COMMAND") or command_from_job_name(
        env.get("CHRONOS_JOB_NAME", ""), values["KOLLA_DEPLOYMENT"], values["KOLLA_SERVICE"])
    if command is not None:
        try:
            zkpaths.check_name("KOLLA_COMMAND", command)
        except ValueError as exc:
            raise errors.ConfigError(f"Environment variable {exc}.") from exc
    restart_mode = env.get("KOLLA_RELOAD_RESTART") or RESTART_BY_MARATHON
    if restart_mode not in RESTART_MODES:
        raise errors.ConfigError(
            f"Environment variable KOLLA_RELOAD_RESTART is {restart_mode!r}; expected one of "
            f"{', '.join(RESTART_MODES)}."
        )
    root = env.get("KOLLA_ZK_ROOT") or zkpaths.DEFAULT_ROOT
    if not root.startswith("/") or root.endswith("/") and root != "/":
        raise errors.ConfigError(
            f"Environment variable KOLLA_ZK_ROOT is {root!r}; expected an absolute ZooKeeper "
            "path without a trailing slash, such as /kolla."
        )
    hostname = env.get("KOLLA_HOSTNAME") or socket.gethostname()
    try:
        zkpaths.check_name("host name", hostname)
    except ValueError as exc:
        raise errors.ConfigError(f"{exc} (override it with KOLLA_HOSTNAME).") from exc
    return Identity(
        deployment=values["KOLLA_DEPLOYMENT"], project=values["KOLLA_PROJECT"],
        service=values["KOLLA_SERVICE"], hostname=hostname,
        zk_hosts=values["KOLLA_ZK_HOSTS"],
        credentials_file=credentials_file_for(values["KOLLA_ZK_CREDENTIALS_FILE"], hostname),
        zk_root=root,
        command=command, address=_default_address(env), restart_mode=restart_mode,
        task_name=env.get("MARATHON_APP_ID") or env.get("CHRONOS_JOB_NAME") or "",
    )


def parse_credentials(text: str, source: str, kind: str = "ZooKeeper") -> tuple[str, str]:
    """``user:password`` (one line, surrounding whitespace ignored) -> (user, password).

    Blank lines and ``#`` comment lines are ignored.  The deployer reads the same file format
    (:func:`kolla_mesos.clients.zk_acl.read_credentials`, for the runners' file too), so both
    accept exactly the same files.  The error names the file but never shows its content.
    """
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    user, sep, password = (lines[0] if len(lines) == 1 else "").partition(":")
    if not sep or not user or not password:
        raise errors.ConfigError(
            f"{kind} credentials file {source} is malformed: expected one line "
            "'user:password'."
        )
    return user, password


def check_private(path: object, mode: int, kind: str = "ZooKeeper") -> None:
    """Refuse a credentials file that group or others can access (deployer and runner alike).

    Anyone who can read the file can read every secret its identity may read.
    """
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise errors.ConfigError(
            f"The {kind} credentials file {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(mode):04o}); run 'chmod 600 {path}'."
        )


def credentials_file_for(template: str, hostname: str) -> str:
    """``KOLLA_ZK_CREDENTIALS_FILE`` with ``{host}`` replaced by this runner's host name.

    On a real cluster every agent has its own file at one fixed path; hosts that share a file
    system (the simulator's agents, tests) keep one file per host with ``{host}`` in the path.
    """
    return template.replace("{host}", hostname)


def read_credentials(path: str) -> tuple[str, str]:
    """Read the runner's ZooKeeper digest credentials from ``path`` (0600 or stricter)."""
    try:
        with open(path, encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            text = handle.read(4096)
    except FileNotFoundError as exc:
        raise errors.ConfigError(
            f"ZooKeeper credentials file {path} (KOLLA_ZK_CREDENTIALS_FILE) does not exist."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise errors.ConfigError(
            f"ZooKeeper credentials file {path} (KOLLA_ZK_CREDENTIALS_FILE) cannot be read: "
            f"{reason}."
        ) from exc
    check_private(path, mode)
    return parse_credentials(text, path)
