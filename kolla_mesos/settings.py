"""oslo.config options of kolla-mesos.

Options are registered on a ``ConfigOpts`` passed in (never at import time on a global), and
no default is computed from the network or the environment.  ``list_opts()`` feeds
oslo-config-generator (entry point ``oslo.config.opts: kolla_mesos``);
``etc/kolla-mesos/kolla-mesos.conf.sample`` is generated from it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from oslo_config import cfg

from kolla_mesos import errors

kolla_opts: list[cfg.Opt] = [
    cfg.StrOpt(
        "deployment_id",
        default="default",
        regex=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        help="Name of this deployment. It names the ZooKeeper subtree /kolla/<deployment_id>, "
        "the Marathon group /kolla/<deployment_id> and prefixes every Chronos job, so several "
        "deployments can share one Mesos cluster.",
    ),
    cfg.StrOpt(
        "profile",
        default="minimal",
        help="Which profile from deployment_files/profiles.yml to deploy: the list of "
        "services that are enabled.",
    ),
    cfg.StrOpt(
        "config_dir",
        default="/etc/kolla-mesos",
        help="Directory holding the operator's globals.yml, passwords.yml and topology.yml.",
    ),
    cfg.StrOpt(
        "base_dir",
        help="Directory holding config/, common_templates/ and deployment_files/. When unset, "
        "the directory of the installed source tree is used.",
    ),
    cfg.ListOpt(
        "runner_command",
        default=["kolla-mesos-start"],
        help="Argument list that starts the runner (kolla-mesos-start) inside every task. "
        "Images that carry the single-file runner use e.g. 'python3,/usr/local/bin/"
        "kolla-mesos-start.pyz'.",
    ),
    cfg.IntOpt(
        "keep_generations",
        default=5,
        min=1,
        help="How many configuration generations to keep in ZooKeeper for rollback and diff; "
        "older ones are garbage-collected after a successful deploy.",
    ),
    cfg.IntOpt(
        "deploy_timeout",
        default=900,
        min=1,
        help="Seconds a deploy waits for every Chronos job to succeed and every Marathon app "
        "to become healthy before it gives up and rolls back.",
    ),
]

zookeeper_opts: list[cfg.Opt] = [
    cfg.StrOpt(
        "hosts",
        default="127.0.0.1:2181",
        # host[:port][,host[:port]...][/chroot]: malformed is named at once, not after the
        # connection timeout
        regex=r"^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
              r"(?:,(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?)*(?:/[^,\s]*)?$",
        help="Comma-separated host:port list of the ZooKeeper ensemble.",
    ),
    cfg.StrOpt(
        "root",
        default="/kolla",
        help="ZooKeeper node under which every deployment lives.",
    ),
    cfg.StrOpt(
        "credentials_file",
        help="File holding the deployer's ZooKeeper digest credentials as 'user:password' on "
        "one line; it must not be readable by other users. The deployer owns every node it "
        "creates with these credentials.",
    ),
    cfg.StrOpt(
        "runner_credentials_dir",
        help="Directory, on the deployer, holding one runner identity per topology host: "
        "<host>.cred with 'runner-<host>:password' (mode 0600), created by 'kolla-mesos "
        "genpwd'. A host's runner may read only the generation subtrees of the services of "
        "its groups, and write status, locks and members. Copy <host>.cred to "
        "runner_credentials_path on that host.",
    ),
    cfg.StrOpt(
        "runner_credentials_path",
        default="/etc/kolla-mesos/zookeeper-runner.cred",
        help="Path, on every Mesos agent and inside every task, of that host's runner "
        "credentials file. Tasks receive only this path, never the credentials. '{host}' in "
        "it is replaced by the host name (for hosts sharing one file system, such as the "
        "simulator's agents).",
    ),
    cfg.FloatOpt(
        "timeout",
        default=15.0,
        min=0.1,
        help="Seconds to wait for a ZooKeeper connection or an operation before failing.",
    ),
]

marathon_opts: list[cfg.Opt] = [
    cfg.URIOpt(
        "url",
        default="http://127.0.0.1:8080",
        schemes=["http", "https"],
        help="Base URL of the Marathon REST API.",
    ),
    cfg.FloatOpt(
        "timeout",
        default=10.0,
        min=0.1,
        help="Seconds one Marathon HTTP request may take.",
    ),
    cfg.StrOpt(
        "group_root",
        default="/kolla",
        help="Marathon group under which each deployment's group /<group_root>/<deployment_id> "
        "lives.",
    ),
    cfg.StrOpt(
        "credentials_file",
        help="File holding Marathon HTTP basic-auth credentials as 'user:password'; unset "
        "means no authentication.",
    ),
]

chronos_opts: list[cfg.Opt] = [
    cfg.URIOpt(
        "url",
        default="http://127.0.0.1:4400",
        schemes=["http", "https"],
        help="Base URL of the Chronos API. The API prefix (/v1/scheduler for Chronos 3.x, "
        "/scheduler for 2.x) is detected on first use.",
    ),
    cfg.FloatOpt(
        "timeout",
        default=10.0,
        min=0.1,
        help="Seconds one Chronos HTTP request may take.",
    ),
]

mesos_opts: list[cfg.Opt] = [
    cfg.URIOpt(
        "url",
        default="http://127.0.0.1:5050",
        schemes=["http", "https"],
        help="Base URL of the Mesos master, used to find task sandboxes and logs.",
    ),
    cfg.FloatOpt(
        "timeout",
        default=10.0,
        min=0.1,
        help="Seconds one Mesos HTTP request may take.",
    ),
]

GROUPS: dict[str, list[cfg.Opt]] = {
    "kolla": kolla_opts,
    "zookeeper": zookeeper_opts,
    "marathon": marathon_opts,
    "chronos": chronos_opts,
    "mesos": mesos_opts,
}


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Return every option group for oslo-config-generator."""
    return [(group, list(opts)) for group, opts in GROUPS.items()]


def register(conf: cfg.ConfigOpts) -> cfg.ConfigOpts:
    """Register every kolla-mesos option on ``conf`` and return it."""
    for group, opts in GROUPS.items():
        conf.register_opts(opts, group=group)
    return conf


# --- the typed, frozen view every other module receives -------------------------------------
#
# oslo.config stays the parser (files, types, the sample generator); the rest of the code gets
# these frozen dataclasses instead of a ``ConfigOpts`` typed ``Any``, so mypy checks every
# ``settings.zookeeper.hosts`` and nothing downstream can change a setting by accident.
# ``test_settings`` proves each dataclass has exactly the fields of its option group.


@dataclasses.dataclass(frozen=True)
class KollaSettings:
    """``[kolla]``: which deployment, which profile, where its inputs are."""

    deployment_id: str
    profile: str
    config_dir: str
    base_dir: str | None
    runner_command: tuple[str, ...]
    keep_generations: int
    deploy_timeout: int


@dataclasses.dataclass(frozen=True)
class ZookeeperSettings:
    """``[zookeeper]``: the ensemble and the deployer's and runners' credentials."""

    hosts: str
    root: str
    credentials_file: str | None
    runner_credentials_dir: str | None
    runner_credentials_path: str
    timeout: float


@dataclasses.dataclass(frozen=True)
class MarathonSettings:
    """``[marathon]``: the Marathon API and the group deployments live under."""

    url: str
    timeout: float
    group_root: str
    credentials_file: str | None


@dataclasses.dataclass(frozen=True)
class ChronosSettings:
    """``[chronos]``: the Chronos API."""

    url: str
    timeout: float


@dataclasses.dataclass(frozen=True)
class MesosSettings:
    """``[mesos]``: the Mesos master (sandboxes and logs)."""

    url: str
    timeout: float


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every kolla-mesos setting, loaded and validated once (see :func:`load`)."""

    kolla: KollaSettings
    zookeeper: ZookeeperSettings
    marathon: MarathonSettings
    chronos: ChronosSettings
    mesos: MesosSettings


#: option group -> the dataclass holding its values
SECTIONS: dict[str, type[Any]] = {
    "kolla": KollaSettings,
    "zookeeper": ZookeeperSettings,
    "marathon": MarathonSettings,
    "chronos": ChronosSettings,
    "mesos": MesosSettings,
}


def _freeze(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def load(config_files: Sequence[str] = (), overrides: dict[str, dict[str, object]] | None = None,
         ) -> Settings:
    """Read ``config_files`` plus explicit overrides into frozen :class:`Settings`.

    ``overrides`` maps group -> option -> value (command-line flags).  Errors in the files
    become :class:`kolla_mesos.errors.SettingsError` naming the file and option.
    """
    conf = load_opts(config_files, overrides)
    sections: dict[str, Any] = {}
    for group, cls in SECTIONS.items():
        values = getattr(conf, group)
        sections[group] = cls(**{f.name: _freeze(getattr(values, f.name))
                                 for f in dataclasses.fields(cls)})
    return Settings(**sections)


def load_opts(config_files: Sequence[str] = (),
              overrides: dict[str, dict[str, object]] | None = None) -> cfg.ConfigOpts:
    """The validated oslo.config ``ConfigOpts`` behind :func:`load` (for the generator and
    tests; everything else uses :func:`load`)."""
    conf = register(cfg.ConfigOpts())
    try:
        conf(args=[], project="kolla-mesos", default_config_files=list(config_files),
             validate_default_values=True)
    except cfg.ConfigFilesNotFoundError as exc:
        raise errors.SettingsError(
            f"Configuration file {', '.join(exc.config_files)} cannot be read."
        ) from exc
    except cfg.ConfigFileParseError as exc:
        raise errors.SettingsError(
            f"Configuration file {exc.config_file} cannot be parsed: {exc.msg}."
        ) from exc
    for group, values in (overrides or {}).items():
        for name, value in values.items():
            if value is not None:
                try:
                    conf.set_override(name, value, group=group)
                except (ValueError, cfg.Error) as exc:
                    raise errors.SettingsError(
                        _invalid(group, name, exc, " (command line)")) from exc
    for group, opts in GROUPS.items():
        for opt in opts:
            try:
                getattr(getattr(conf, group), opt.dest)
            except (ValueError, cfg.Error) as exc:
                raise errors.SettingsError(_invalid(group, opt.dest, exc)) from exc
    return conf


#: What a regex-checked option expects, said in words instead of the regex.
_EXPECTED = {
    ("zookeeper", "hosts"): "a comma-separated list of host:port (optionally followed by "
                            "/chroot), such as zk1:2181,zk2:2181",
}
_NO_MATCH = re.compile(r"^Value (?P<value>.*) doesn't match regex .*$", re.S)

_OSLO_INVALID = re.compile(
    r"Value for option \S+ from LocationInfo\(.*?detail=(?P<file>'[^']*'|None)\) is not "
    r"valid: (?P<reason>.*)", re.S)
_TUPLE_REPR = re.compile(r"^\('(?P<first>[^']*)',.*\)$", re.S)


def _invalid(group: str, name: str, exc: BaseException, where: str = "") -> str:
    """One sentence for an invalid option value: ``[group] name in FILE: reason.``

    oslo.config's own message names neither the group nor the file plainly (it prints a
    ``LocationInfo(...)`` repr), and a URI type error is a tuple's repr.
    """
    while exc.args and isinstance(exc.args[0], BaseException):
        exc = exc.args[0]
    first = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    text = str(getattr(exc, "msg", None) or first).strip()
    match = _OSLO_INVALID.match(text)
    if match:
        text = match["reason"]
        # an exception's tuple repr, e.g. "('host, scheme were required but missing', ...)"
        text = _TUPLE_REPR.sub(r"\g<first>", text)
        if match["file"] != "None":
            where = f" in {match['file'].strip(chr(39))}"
    no_match = _NO_MATCH.match(text)
    if no_match and (group, name) in _EXPECTED:
        text = f"{no_match['value']} is not {_EXPECTED[(group, name)]}"
    return f"Invalid setting [{group}] {name}{where}: {text.rstrip('.')}."
