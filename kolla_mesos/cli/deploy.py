"""``kolla-mesos deploy`` and ``kolla-mesos plan``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cliff.lister import Lister

from kolla_mesos import errors
from kolla_mesos.apply.deploy import Deployer
from kolla_mesos.apply.progress import Progress
from kolla_mesos.cli import common
from kolla_mesos.plan.diff import unified

DEPLOY_COLUMNS = ("service", "project", "kind", "hosts", "action", "state")


class Deploy(Lister):
    """Render the profile, publish it to ZooKeeper, submit jobs and apps, wait until healthy.

    Progress is printed to stderr service by service; the summary table goes to stdout.
    A failed health gate rolls back to the previous generation (exit code 6).
    """

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """Deploy options."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("--dry-run", action="store_true",
                            help="Show what would change (like 'plan') and write nothing.")
        parser.add_argument("--timeout", type=float, default=None,
                            help="Seconds to wait for jobs and apps (default: [kolla] "
                            "deploy_timeout).")
        parser.add_argument("--service", action="append", default=None,
                            help="Deploy only these services of the profile (repeatable).")
        parser.add_argument("--no-progress", action="store_true",
                            help="Do not print progress lines to stderr.")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        """Run the deploy and return the summary table."""
        plan = common.build_plan(self.app, only=parsed_args.service)
        if parsed_args.dry_run:
            return _plan_rows(self.app, plan, show_diff=False)
        conf = common.conf(self.app)
        progress = Progress(enabled=not parsed_args.no_progress)
        with common.clients(self.app) as clients:
            deployer = Deployer(clients, progress,
                                timeout=parsed_args.timeout or conf.kolla.deploy_timeout,
                                keep_generations=conf.kolla.keep_generations,
                                created_by=clients.identity())
            report = deployer.deploy(plan)
            gc_deletes = clients.store.gc_deletes
        previous = report.previous_generation
        state = "unchanged" if report.diff.empty else (
            f"previous {previous}" if previous is not None else "first generation")
        gc_note = (f", {gc_deletes} nodes of old generations garbage-collected"
                   if gc_deletes else "")
        sys.stderr.write(
            f"Deployment {plan.deployment_id}: generation {report.generation} ({state}), "
            f"{report.zk_writes} ZooKeeper writes, {report.http_writes} API writes"
            f"{gc_note}.\n")
        rows = [tuple(r[c] for c in DEPLOY_COLUMNS) for r in report.rows]
        return DEPLOY_COLUMNS, rows


def _plan_rows(app: Any, plan: Any, show_diff: bool) -> tuple[Any, Any]:
    with common.clients(app) as clients:
        from kolla_mesos.apply.live import read_live
        from kolla_mesos.plan.diff import diff

        live = read_live(clients, plan)
        changes = diff(plan, live)
        masker = clients.masker()
    rows = []
    desired = plan.zk_nodes()
    for kind, what, action in changes.rows():
        detail = ""
        if show_diff and kind == "zookeeper":
            detail = unified(what, live.nodes.get(what), desired.get(what), mask=masker)
        elif show_diff and kind == "marathon":
            detail = _app_diff(what, plan, live.apps.get(what), masker)
        rows.append((kind, what, action, detail) if show_diff else (kind, what, action))
    columns = ("kind", "what", "action", "diff") if show_diff else ("kind", "what", "action")
    return columns, rows


def _project(have: Any, want: Any) -> Any:
    """``have`` cut down to the keys ``want`` has, at every depth (lists item by item), equal
    numbers written alike."""
    if isinstance(have, dict) and isinstance(want, dict):
        return {key: _project(value, want[key]) for key, value in have.items() if key in want}
    if isinstance(have, list) and isinstance(want, list):
        return [_project(item, want[i]) if i < len(want) else item
                for i, item in enumerate(have)]
    if isinstance(have, int | float) and isinstance(want, int | float) and have == want:
        return want  # Marathon answers 64.0 for 64: the same value
    return have


def _app_diff(app_id: str, plan: Any, live_app: Any, masker: Any) -> str:
    """A unified diff of an app's JSON, live against planned.

    The live app is cut down to the fields the plan sets, at every depth: Marathon adds its own
    (version, task counts, defaults), which are not changes the deploy would make.
    """
    want = next((a for a in plan.apps() if a["id"] == app_id), None)
    have = _project(live_app, want) if want is not None else live_app

    def dump(app: Any) -> bytes | None:
        return None if app is None else (json.dumps(app, indent=2, sort_keys=True) +
                                         "\n").encode()

    return unified(f"{app_id}.json", dump(have), dump(want), mask=masker)


class PlanCommand(Lister):
    """Show what a deploy would change (ZooKeeper files, Marathon apps, Chronos jobs).

    Writes nothing. An empty table means the deployment is up to date.
    """

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """Plan options."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("--diff", action="store_true",
                            help="Include unified diffs of changed files and of changed "
                            "apps' JSON (secrets masked).")
        parser.add_argument("--service", action="append", default=None,
                            help="Plan only these services (repeatable).")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        """Compute the diff between the profile and the live deployment."""
        plan = common.build_plan(self.app, only=parsed_args.service)
        return _plan_rows(self.app, plan, show_diff=parsed_args.diff)


class Rollback(Lister):
    """Switch the deployment back to an earlier generation and restore its Marathon apps."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """Rollback options."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("--to", type=int, default=None, metavar="GENERATION",
                            help="Generation to return to (default: the one before current).")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        """Roll back and return (generation, apps restored)."""
        from kolla_mesos.apply.rollback import rollback
        from kolla_mesos.plan.payloads import group_id

        conf = common.conf(self.app)
        group = group_id(conf.marathon.group_root, conf.kolla.deployment_id)
        with common.clients(self.app) as clients:
            result = rollback(clients, group, parsed_args.to, conf.kolla.deploy_timeout,
                              Progress(enabled=True))
        if result is None:
            raise errors.ConfigError("There is no earlier generation to roll back to.")
        return ("from", "to", "apps"), [(
            result.from_generation if result.from_generation is not None else 0,
            result.to_generation, result.apps)]
