"""``kolla-mesos stop`` and ``kolla-mesos destroy`` (one deployment each)."""

from __future__ import annotations

import argparse
from typing import Any

from cliff.lister import Lister

from kolla_mesos import errors
from kolla_mesos.apply import lifecycle
from kolla_mesos.apply.progress import Progress
from kolla_mesos.cli import common
from kolla_mesos.plan.payloads import group_id

CONFIRM = "--yes-i-really-really-mean-it"


class Stop(Lister):
    """Scale the deployment's apps to zero and disable its jobs; generations, job results
    and volumes are kept, and the next 'kolla-mesos deploy' brings them back unchanged."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """Stop options."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("--service", action="append", default=[], metavar="S",
                            help="Only this service (repeatable; default: every service).")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        """Stop and return (service, kind, name, action) rows."""
        conf = common.conf(self.app)
        group = group_id(conf.marathon.group_root, conf.kolla.deployment_id)
        with common.clients(self.app) as clients:
            rows = lifecycle.stop(clients, group, parsed_args.service, Progress(enabled=True),
                                  conf.kolla.deploy_timeout)
        return ("service", "kind", "name", "action"), rows


class Destroy(Lister):
    """Remove one deployment: its Marathon group, its Chronos jobs, its ZooKeeper subtree
    and, with --include-volumes, its named volumes on every agent.  Without
    --yes-i-really-really-mean-it it lists what it would remove and removes nothing."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """Destroy options."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument(CONFIRM, action="store_true", dest="confirmed",
                            help="Really remove the deployment.")
        parser.add_argument("--include-volumes", action="store_true",
                            help="Also empty its named volumes on every agent (one Chronos "
                            "job per agent); volumes another deployment uses are kept.")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        """Destroy (or list what would go) and return (kind, name, action) rows."""
        conf = common.conf(self.app)
        group = group_id(conf.marathon.group_root, conf.kolla.deployment_id)
        columns = ("kind", "name", "action")
        volumes = parsed_args.include_volumes
        with common.clients(self.app) as clients:
            if not parsed_args.confirmed:
                found = lifecycle.inventory(clients, group)
                if found.empty:
                    raise errors.ConfigError(lifecycle.missing_sentence(clients, group))
                self.produce_output(parsed_args, columns, found.rows(volumes, done=False))
                raise errors.RefusedError(
                    f"Refusing to destroy deployment {conf.kolla.deployment_id!r} without "
                    f"{CONFIRM}: it would remove what is listed above.")
            found = lifecycle.destroy(clients, group, volumes, Progress(enabled=True),
                                      conf.kolla.deploy_timeout)
        return columns, found.rows(volumes, done=True)
