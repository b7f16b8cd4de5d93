"""``kolla-mesos mariadb ...``: MariaDB Galera operations (docs/operations.md)."""

from __future__ import annotations

import argparse
from typing import Any

from cliff.lister import Lister

from kolla_mesos.apply import galera
from kolla_mesos.apply.progress import Progress
from kolla_mesos.cli import common


class MariadbRecovery(Lister):
    """Restart a Galera cluster every node of which died: find the node with the highest
    committed seqno, start the cluster there, let the others join (kolla-ansible's
    mariadb_recovery).  Refused while any node is healthy."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """[--timeout SECONDS] [--no-progress]."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("--timeout", type=float, default=None,
                            help="seconds for the whole recovery (default: [kolla] "
                            "deploy_timeout).")
        parser.add_argument("--no-progress", action="store_true",
                            help="do not print progress lines on stderr.")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        """One row per node: its position and whether the cluster started from it."""
        conf = common.conf(self.app)
        timeout = parsed_args.timeout or conf.kolla.deploy_timeout
        progress = Progress(self.app.stderr, enabled=not parsed_args.no_progress)
        with common.clients(self.app) as clients:
            result = galera.recover(clients, progress, timeout)
        rows: list[tuple[str, int | str, str, str]] = [
            (p.host, p.seqno, p.uuid, "started the cluster" if p == result.chosen else "joined")
            for p in result.positions]
        rows += [(host, "", "", "no position: joined by state transfer")
                 for host in result.unknown]
        return ("host", "seqno", "cluster uuid", "role"), rows
