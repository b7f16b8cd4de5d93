"""``kolla-mesos logs``: print (and follow) a service's task output from the Mesos agents."""

from __future__ import annotations

import argparse
import time

from cliff.command import Command

from kolla_mesos import errors
from kolla_mesos.apply import logs, logtext
from kolla_mesos.apply.clients import Clients
from kolla_mesos.cli import common


class Logs(Command):
    """Print a service's or a job's stdout (or stderr) from its Mesos sandbox; --follow
    streams new lines until Ctrl-C."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """Logs options."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("target", metavar="SERVICE[/COMMAND]",
                            help="A service (its app's tasks, or its jobs when it has no "
                            "app) or SERVICE/COMMAND for one Chronos job.")
        parser.add_argument("--host", default=None,
                            help="Only the task on this topology host.")
        parser.add_argument("--tail", type=int, default=None, metavar="N",
                            help="Only the last N lines of each task.")
        parser.add_argument("--follow", "-F", action="store_true",
                            help="Keep printing new lines until Ctrl-C.")
        parser.add_argument("--since", default=None, metavar="DURATION",
                            help="Only lines written in the last DURATION (30s, 10m, 2h, "
                            "1h30m) and tasks that ran then.")
        parser.add_argument("--stderr", action="store_true",
                            help="The tasks' stderr (the runner's own log) instead of stdout.")
        parser.add_argument("--all", action="store_true", dest="everything",
                            help="Every run of a job (and every task of an app) that Mesos "
                            "still has, not only the last one.")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        """Locate the tasks, print their files, follow them when asked."""
        args = parsed_args
        if args.tail is not None and args.tail < 0:
            raise errors.ConfigError(f"--tail {args.tail} must be 0 or more lines.")
        since: float | None = None
        if args.since is not None:
            try:
                since = time.time() - logtext.parse_duration(args.since)
            except ValueError as exc:
                raise errors.ConfigError(str(exc)) from None
        stream = "stderr" if args.stderr else "stdout"
        out = self.app.stdout
        with common.clients(self.app) as clients:
            generation = _current(clients)
            manifest = clients.store.read_manifest(generation)
            targets = logs.resolve_targets(manifest, args.target, clients.deployment_id,
                                           generation)
            if args.host is not None:
                hosts = sorted({h for t in targets
                                for h in manifest["services"][t.service].get("hosts", [])})
                if args.host not in hosts:
                    raise errors.ConfigError(
                        f"Service {targets[0].service!r} does not run on host {args.host!r} "
                        f"(its hosts: {', '.join(hosts) or 'none'}).")
            mask = clients.masker()
            mesos = clients.mesos

            def discover() -> list[logs.Source]:
                return logs.find_sources(mesos, targets, stream, args.host, args.everything)

            sources = discover()
            if since is not None:
                sources = [s for s in sources if s.finished is None or s.finished >= since]
            if not sources and not args.follow:
                self.app.stderr.write(f"No task of {args.target} has run on Mesos yet (or its "
                                 "sandbox was garbage-collected).\n")
                return 0
            # following an app of several hosts, a task may start on another host later
            app_hosts = {h for t in targets if t.kind == "app"
                         for h in manifest["services"][t.service].get("hosts", [])}
            several_hosts = len({s.host for s in sources}) > 1 or (
                args.follow and args.host is None and len(app_hosts) > 1)
            several_runs = len(sources) > len({(s.target, s.host) for s in sources})

            def prefix(source: logs.Source) -> str:
                label = source.target.label if len(targets) > 1 else ""
                parts = [p for p in (source.host if several_hosts else "", label) if p]
                return f"[{' '.join(parts)}] " if parts else ""

            def emit(line: str) -> None:
                out.write(mask(line) + "\n")
                out.flush()

            follower = logs.Follower(mesos, emit, prefix, discover)
            for source in sources:
                lines, offset = logs.initial_lines(mesos, source, args.tail, since)
                if several_runs and not args.follow:
                    emit(f"==> {source.target.label} task {source.task_id} on {source.host} "
                         f"({source.state}) <==")
                for line in lines:
                    emit(prefix(source) + line)
                follower.add(source, offset)
            if args.follow:
                follower.run()
        return 0


def _current(clients: Clients) -> int:
    number: int | None = clients.store.current_generation()
    if number is None:
        raise errors.ConfigError(
            f"Deployment {clients.deployment_id!r} has no generation yet (run 'kolla-mesos "
            "deploy' first).")
    return number
