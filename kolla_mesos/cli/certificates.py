"""``kolla-mesos certificates [--renew]``: the deployment's CA and TLS certificates.

What kolla-ansible's ``kolla-ansible certificates`` makes, with its file names, into
``<config_dir>/certificates`` (kolla_certificates_dir); existing files are kept unless
``--renew``.  The listing names files, modes and expiry dates, never their content.
"""

from __future__ import annotations

import argparse
from typing import Any

from cliff.lister import Lister

from kolla_mesos.certificates import generate, inputs
from kolla_mesos.cli.common import plan_inputs

COLUMNS = ("File", "Action", "Mode", "Expires")


class Certificates(Lister):
    """Create the root CA, HAProxy and backend certificates TLS needs (kept unless --renew)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """--renew."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("--renew", action="store_true",
                            help="issue new keys and certificates for every server "
                            "certificate, signed by the existing CA.")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        """Write the missing (or, with --renew, every server) file; list them."""
        source = plan_inputs(self.app)
        settings = inputs.load(source.base_dir, source.config_dir, source.extra_vars)
        written = generate.generate(inputs.certificates_dir(source.config_dir), settings,
                                    renew=parsed_args.renew)
        return COLUMNS, [(w.name, w.action, w.mode, w.not_after) for w in written]
