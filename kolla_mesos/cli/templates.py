"""``kolla-mesos templates list [--overrides]``: every template, its origin and checksum."""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

from cliff.lister import Lister

from kolla_mesos.cli.passwords import _base_dir
from kolla_mesos.render.templates import SYNCED, list_templates

COLUMNS = ("Role", "Template", "Origin", "SHA256")


def template_rows(base_dir: pathlib.Path, overrides_only: bool = False
                  ) -> list[tuple[str, str, str, str]]:
    """(role, template, origin, sha256) rows; with OVERRIDES_ONLY, only config/ ones."""
    return [(t.role, t.name, t.origin, t.sha256) for t in list_templates(base_dir)
            if not overrides_only or t.origin != SYNCED]


class TemplatesList(Lister):
    """List templates with their origin (synced, overridden, local) and sha256."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """--overrides."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("--overrides", action="store_true",
                            help="only templates that config/ overrides or adds.")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        """Rows for the formatter."""
        return COLUMNS, template_rows(_base_dir(self.app), parsed_args.overrides)
