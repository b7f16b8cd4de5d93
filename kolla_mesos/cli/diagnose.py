"""``kolla-mesos diagnose``: collect a masked, scanned bundle for a bug report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cliff.command import Command

from kolla_mesos.apply import diagnose
from kolla_mesos.cli import common
from kolla_mesos.plan.payloads import group_id


class Diagnose(Command):
    """Write one tarball with the status, Marathon, Chronos and Mesos state, the current
    generation (masked) and the last lines of every task's output; no secret is in it."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """Diagnose options."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("-o", "--output", default=None, metavar="FILE",
                            help="Where to write the bundle (default: "
                            "kolla-mesos-diagnose-<deployment>-<UTC time>.tar.gz here).")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        """Collect, mask, scan, write; print the file's path."""
        conf = common.conf(self.app)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        top = f"kolla-mesos-diagnose-{conf.kolla.deployment_id}-{stamp}"
        path = Path(parsed_args.output or f"{top}.tar.gz")
        with common.clients(self.app) as clients:
            members = diagnose.Collector(
                clients, conf, group_id(conf.marathon.group_root, conf.kolla.deployment_id)
            ).collect()
            scrub = diagnose.Scrubber(clients.masker(),
                                      diagnose.credential_secrets(conf, clients))
        data = diagnose.bundle(members, scrub, top)
        diagnose.write_private(path, data)
        self.app.stdout.write(f"{path} ({len(members)} files, {len(data)} bytes; "
                              f"problems collecting: {members['errors.txt'].strip()})\n")
        return 0
