"""``kolla-mesos prechecks``: one line per check; non-zero exit listing every failure."""

from __future__ import annotations

import argparse
from typing import Any

from cliff.lister import Lister

from kolla_mesos import errors
from kolla_mesos.apply.clients import Clients
from kolla_mesos.apply.prechecks import Prechecks
from kolla_mesos.cli import common


class PrechecksCommand(Lister):
    """Check Marathon, Chronos, Mesos and ZooKeeper, the agents of the topology and their
    resources, passwords, deployment files and certificates before a deploy."""

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        """Run every check; print them; fail listing the failed ones."""
        conf = common.conf(self.app)
        clients = Clients.from_settings(conf)
        try:
            checks = Prechecks(common.plan_inputs(self.app), clients).run()
        finally:
            clients.__exit__(None, None, None)
        columns = ("check", "result", "detail")
        rows = [(c.name, c.result, c.detail) for c in checks]
        failed = [c for c in checks if not c.ok]
        if failed:
            self.produce_output(parsed_args, columns, rows)
            raise errors.PrechecksFailed(
                f"{len(failed)} of {len(checks)} prechecks failed: "
                f"{', '.join(c.name for c in failed)}.", remote=any(c.remote for c in failed))
        return columns, rows
