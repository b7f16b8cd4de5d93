"""The ``kolla-mesos`` cliff application and its single error boundary.

Commands are loaded from the ``kolla_mesos.cli`` entry-point namespace.  Every command
returns data (cliff formatters print it, ``-f json`` for free).  An error is printed as one
sentence and mapped to a named exit code (:class:`kolla_mesos.errors.ExitCode`); the
traceback is printed only with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from cliff.app import App
from cliff.commandmanager import CommandManager

from kolla_mesos import errors, settings
from kolla_mesos.plan.build import TOOL_VERSION

LOG = logging.getLogger(__name__)
DEFAULT_CONFIG_FILE = "/etc/kolla-mesos/kolla-mesos.conf"

#: Global flags that override one setting: (flag, group, option, help).  The parser and the
#: overrides handed to :func:`settings.load` are both built from this one table.
SETTING_FLAGS: tuple[tuple[str, str, str, str], ...] = (
    ("--deployment-id", "kolla", "deployment_id", "Override [kolla] deployment_id."),
    ("--profile", "kolla", "profile", "Override [kolla] profile."),
    ("--config-dir", "kolla", "config_dir",
     "Override [kolla] config_dir (globals.yml, passwords.yml, topology.yml)."),
    ("--zookeeper-hosts", "zookeeper", "hosts", "Override [zookeeper] hosts."),
    ("--marathon-url", "marathon", "url", "Override [marathon] url."),
    ("--chronos-url", "chronos", "url", "Override [chronos] url."),
    ("--mesos-url", "mesos", "url", "Override [mesos] url."),
)


# --- operators' verbs (issue 14): registered here, not as entry points --------------------
#: (command name, "module:class") of logs, stop, destroy, diagnose and prechecks.
OPERATOR_COMMANDS: tuple[tuple[str, str], ...] = (
    ("logs", "kolla_mesos.cli.logs:Logs"),
    ("stop", "kolla_mesos.cli.lifecycle:Stop"),
    ("destroy", "kolla_mesos.cli.lifecycle:Destroy"),
    ("diagnose", "kolla_mesos.cli.diagnose:Diagnose"),
    ("prechecks", "kolla_mesos.cli.prechecks:PrechecksCommand"),
)


def _register_operator_commands(manager: CommandManager) -> None:
    """Add :data:`OPERATOR_COMMANDS` to cliff's command manager, as entry points that import
    their module only when the command runs (like the ones setup.cfg declares)."""
    for name, target in OPERATOR_COMMANDS:
        manager.commands[name] = importlib.metadata.EntryPoint(
            name=name, value=target, group="kolla_mesos.cli")
# --- end of operators' verbs -------------------------------------------------------------------


class KollaMesosApp(App):
    """kolla-mesos: deploy and operate OpenStack on Mesos."""

    def __init__(self) -> None:
        super().__init__(
            description="Deploy and operate OpenStack on Apache Mesos (Marathon, Chronos, "
            "ZooKeeper).",
            version=TOOL_VERSION,
            command_manager=CommandManager("kolla_mesos.cli"),
            deferred_help=True,
        )
        _register_operator_commands(self.command_manager)
        self.conf: settings.Settings | None = None
        self.last_error: BaseException | None = None

    def build_option_parser(self, description: str | None, version: str | None,
                            argparse_kwargs: dict[str, Any] | None = None,
                            ) -> argparse.ArgumentParser:
        """Global options: settings file, deployment, profile and endpoint overrides."""
        parser: argparse.ArgumentParser = super().build_option_parser(
            description, version, argparse_kwargs)
        parser.add_argument(
            "--config-file", action="append", default=None, metavar="PATH",
            help="kolla-mesos.conf to read (repeatable; default: $KOLLA_MESOS_CONFIG or "
            f"{DEFAULT_CONFIG_FILE} when it exists).")
        for flag, _group, _option, text in SETTING_FLAGS:
            parser.add_argument(flag, help=text)
        parser.add_argument(
            "-e", "--extra-vars", action="append", default=[], metavar="KEY=VALUE",
            help="Extra variable with the highest precedence (repeatable).")
        return parser

    def configure_logging(self) -> None:
        """cliff's logging, with third-party chatter (kazoo, HTTP) only at -vv and above.

        Below -vv the libraries stay silent even on errors: kazoo logs every refused
        connection and marathon-python logs whole error bodies, while the error that reaches
        the boundary already says what failed in one sentence.
        """
        super().configure_logging()
        loud = self.options.verbose_level >= 2
        for name in ("urllib3", "requests", "stevedore", "marathon"):
            logging.getLogger(name).setLevel(logging.DEBUG if loud else logging.CRITICAL)
        # Never DEBUG: kazoo then logs every request and response with its data, i.e. the
        # digest credentials (Auth) and the rendered files, passwords included.
        logging.getLogger("kazoo").setLevel(logging.INFO if loud else logging.CRITICAL)
        logging.getLogger("kolla_mesos.clients").setLevel(
            logging.DEBUG if loud else logging.WARNING)

    def initialize_app(self, argv: Sequence[str]) -> None:
        """Load settings once, before any command runs."""
        files = self.options.config_file
        if files is None:
            env = os.environ.get("KOLLA_MESOS_CONFIG")
            files = [env] if env else (
                [DEFAULT_CONFIG_FILE] if os.path.exists(DEFAULT_CONFIG_FILE) else [])
        overrides: dict[str, dict[str, object]] = {}
        for flag, group, option, _text in SETTING_FLAGS:
            value = getattr(self.options, flag.lstrip("-").replace("-", "_"))
            overrides.setdefault(group, {})[option] = value
        try:
            self.conf = settings.load(files, overrides)
        except errors.KollaMesosError as exc:
            self.last_error = exc
            raise

    def clean_up(self, cmd: Any, result: int, err: BaseException | None) -> None:
        """Remember the command's error so run_subcommand can map it to an exit code."""
        self.last_error = err

    def run_subcommand(self, argv: list[str]) -> int:
        """Run one command; map its error to a named exit code."""
        self.last_error = None
        try:
            self.command_manager.find_command(argv)
        except ValueError:
            # cliff writes this to stdout, where a script's output parser would take it
            # for data: one sentence on stderr instead
            matches = self.get_fuzzy_matches(argv[0]) if argv else []
            hint = f" (did you mean {', '.join(matches)}?)" if matches else ""
            sys.stderr.write(f"{' '.join(argv)!r} is not a kolla-mesos command{hint}; see "
                             "'kolla-mesos --help'.\n")
            return int(errors.ExitCode.USAGE)
        result: int = super().run_subcommand(argv)
        err = self.last_error
        if err is None:
            return result
        if isinstance(err, errors.KollaMesosError):
            return int(err.exit_code)
        return int(errors.ExitCode.ERROR)


def _unexpected(exc: BaseException) -> str:
    return (f"Unexpected error: {type(exc).__name__}: {exc} "
            "(run again with --debug for the traceback).")


class _Boundary(logging.Filter):
    """Rewrite cliff's error log record of non-product exceptions into one sentence."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, BaseException) and not isinstance(
                record.msg, errors.KollaMesosError) and not record.exc_info:
            record.msg = _unexpected(record.msg)
            record.args = ()
        return True


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``kolla-mesos``."""
    args = list(sys.argv[1:] if argv is None else argv)
    app = KollaMesosApp()
    app.LOG.addFilter(_Boundary())
    try:
        result = int(app.run(args))
    except errors.KollaMesosError as exc:
        # Raised before a command ran (settings): same boundary, one sentence.
        if "--debug" in args:
            raise
        sys.stderr.write(f"{exc}\n")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return int(errors.ExitCode.INTERRUPTED)
    if result == 1 and isinstance(app.last_error, errors.KollaMesosError):
        # cliff printed the sentence of an error of initialize_app (settings) and returns 1.
        return int(app.last_error.exit_code)
    return result


def deploy_main(argv: Sequence[str] | None = None) -> int:
    """Console script ``kolla-mesos-deploy`` (same as ``kolla-mesos deploy``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    globals_, rest = split_global(args, KollaMesosApp().parser)
    return main([*globals_, "deploy", *rest])


def split_global(args: list[str], parser: argparse.ArgumentParser,
                 ) -> tuple[list[str], list[str]]:
    """Keep the app's global options (as its parser knows them) before the command name."""
    takes_value: set[str] = set()
    flags: set[str] = set()
    for action in parser._actions:  # noqa: SLF001 - argparse has no public list of actions
        if action.help == argparse.SUPPRESS and not action.option_strings:
            continue
        (flags if action.nargs == 0 else takes_value).update(action.option_strings)
    out: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0]
        if name in takes_value:
            out.append(arg)
            if "=" not in arg and i + 1 < len(args):
                out.append(args[i + 1])
                i += 1
        elif arg in flags:
            out.append(arg)
        else:
            rest.append(arg)
        i += 1
    return out, rest
