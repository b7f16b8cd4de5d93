"""Read-only commands: status, config list/show, deployment list, definition validate."""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
from typing import Any

from cliff.command import Command
from cliff.lister import Lister
from cliff.show import ShowOne

from kolla_mesos import errors, zkpaths
from kolla_mesos.apply import galera, state
from kolla_mesos.apply.status import service_status
from kolla_mesos.certificates import inputs as tls_inputs
from kolla_mesos.certificates.check import expiring
from kolla_mesos.cli import common
from kolla_mesos.plan import export

STATUS_COLUMNS = ("service", "kind", "generation", "instances", "running", "healthy",
                  "members", "jobs", "last job result")


class Status(Lister):
    """Per service: kind, generation, instances running/healthy, live runner members
    (hosts whose daemon passed its readiness check), jobs and the last job result."""

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        """Read ZooKeeper, Marathon and Chronos and summarize."""
        with common.clients(self.app) as clients:
            rows = service_status(clients)
            down = galera.down_sentence(clients)
        if down:
            self.app.stderr.write(down + "\n")
        for warning in certificate_warnings(self.app):
            self.app.stderr.write(f"warning: {warning}\n")
        return STATUS_COLUMNS, [tuple(r[c] for c in STATUS_COLUMNS) for r in rows]


def certificate_warnings(app: Any, days: int = 30) -> list[str]:
    """Certificates the settings need that expire within DAYS (none without TLS files).

    On stderr, so that ``-f json`` output stays data; a configuration that cannot be read
    is one warning, not a failed status.
    """
    source = common.plan_inputs(app)
    directory = tls_inputs.certificates_dir(source.config_dir)
    if not directory.is_dir():
        return []
    try:
        settings = tls_inputs.load(source.base_dir, source.config_dir, source.extra_vars)
    except errors.ConfigError as exc:
        return [f"certificates in {directory} not checked: {exc}"]
    return expiring(directory, settings, days)


class ConfigList(Lister):
    """List the rendered files of the current generation (optionally under PATH)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """Config list options."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("path", nargs="?", default="",
                            help="Only nodes under this path, relative to the generation "
                            "(e.g. services/keystone).")
        parser.add_argument("--generation", type=int, default=None,
                            help="Generation to read (default: current).")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        """Return (path, bytes, sha256) rows."""
        with common.clients(self.app) as clients:
            gen, nodes = clients.generation_nodes(parsed_args.generation)
        prefix = parsed_args.path.strip("/")
        rows = [(path, gen, len(data), hashlib.sha256(data).hexdigest()[:16])
                for path, data in sorted(nodes.items())
                if not prefix or path == prefix or path.startswith(prefix + "/")]
        return ("path", "generation", "bytes", "sha256"), rows


class ConfigShow(ShowOne):
    """Show one rendered file from ZooKeeper; secrets are masked unless --show-secrets."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """Config show options."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("path", help="Node path relative to the generation, e.g. "
                            "services/keystone/keystone/files/keystone.conf.")
        parser.add_argument("--host", default=None,
                            help="Show the variant this host gets (per-host files).")
        parser.add_argument("--generation", type=int, default=None,
                            help="Generation to read (default: current).")
        parser.add_argument("--show-secrets", action="store_true",
                            help="Do not mask passwords and keys.")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        """Return the file's content (masked)."""
        with common.clients(self.app) as clients:
            gen, nodes = clients.generation_nodes(parsed_args.generation)
            masker = clients.masker()
        path = parsed_args.path.strip("/")
        if path not in nodes:
            raise errors.ConfigError(
                f"{parsed_args.path} does not exist in generation {gen} "
                "(see 'kolla-mesos config list')."
            )
        if parsed_args.host:
            _check_host(nodes, path, parsed_args.host, gen)
            variant = f"{path}/{zkpaths.HOSTS}/{parsed_args.host}"
            path = variant if variant in nodes else path
        text = _pretty(nodes[path].decode(errors="replace"))
        if not parsed_args.show_secrets:
            text = masker(text)
        if parsed_args.formatter == "table" and not parsed_args.columns:
            # A file reads best as itself: print it plainly, like `cat`.
            parsed_args.formatter = "value"
            parsed_args.columns = ["content"]
        return ("path", "generation", "content"), (path, gen, text)


def _check_host(nodes: dict[str, bytes], path: str, host: str, gen: int) -> None:
    """Refuse ``--host`` naming a host that does not get this node (instead of showing the
    common variant as if it were that host's)."""
    try:
        services = json.loads(nodes.get(zkpaths.MANIFEST, b"{}")).get("services", {})
    except ValueError:
        services = {}
    parts = path.split("/")
    if len(parts) > 2 and parts[0] == zkpaths.SERVICES and parts[2] in services:
        hosts = [str(h) for h in services[parts[2]].get("hosts", [])]
        what = f"service {parts[2]}"
    else:
        hosts = sorted({str(h) for s in services.values() for h in s.get("hosts", [])})
        what = "this deployment"
    if host not in hosts:
        raise errors.ConfigError(
            f"Host {host!r} (--host) does not run {what} in generation {gen} "
            f"(its hosts: {', '.join(hosts) or 'none'})."
        )


def _pretty(text: str) -> str:
    """A JSON node (definition, manifest, index) indented for reading; others unchanged."""
    if not text.lstrip().startswith(("{", "[")):
        return text
    try:
        return json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    except ValueError:
        return text


class DeploymentList(Lister):
    """List the deployments under the ZooKeeper root."""

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        """Return one row per deployment."""
        with common.clients(self.app) as clients:
            summaries = clients.store.deployments()
        rows = [(d.name, d.current, d.generations, d.profile, d.services) if d.readable
                else (d.name, "no access", "", "", "") for d in summaries]
        return ("deployment", "current generation", "generations", "profile",
                "services"), rows


class DefinitionValidate(Lister):
    """Render every enabled service for every host and check the dependency graph.

    Every problem is reported at once; the exit code is 3 when there is any.
    """

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """Validate options."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("--service", action="append", default=None,
                            help="Validate only these services (repeatable).")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[Any, Any]:
        """Return one row per valid service."""
        plan = common.build_plan(self.app, only=parsed_args.service)
        rows = []
        for svc in plan.services:
            rows.append((svc.service, svc.project, "app" if svc.app else "job",
                         ",".join(svc.hosts), len(svc.files),
                         ",".join(c.name for c in svc.definition.commands),
                         json.dumps([j.name for j in svc.jobs])))
        return ("service", "project", "kind", "hosts", "files", "commands", "jobs"), rows


class DeploymentExport(Command):
    """Write the deployment's ZooKeeper state (every generation, ``current``, the deployment
    node and the run-once records) to one 0600 file; rendered files, which hold passwords,
    only with --include-secrets."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """FILE [--include-secrets]."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("file", metavar="FILE", help="the export file to write (0600).")
        parser.add_argument("--include-secrets", action="store_true",
                            help="include every generation's rendered files (passwords, "
                            "keys); without it, import re-renders the current generation "
                            "from passwords.yml and the configuration.")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        """Write the file; print what it holds (never a value)."""
        path = pathlib.Path(parsed_args.file)
        with common.clients(self.app) as clients:
            data = state.export_deployment(clients.store, parsed_args.include_secrets)
        state.write_private(path, data)
        document = json.loads(data)
        self.app.stdout.write(
            f"{path}: deployment {document['deployment']}, current generation "
            f"{document['current']}, generations {', '.join(document['generations'])}, "
            f"{len(document['status'])} status node(s), "
            f"{'with' if document['secrets'] else 'without'} secrets (mode 0600).\n")
        return 0


class DeploymentImport(Command):
    """Restore an export into a ZooKeeper that lost the deployment (same ACLs; refused when
    it still holds the deployment).  A deploy right after writes nothing."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """FILE."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("file", metavar="FILE", help="a file of 'deployment export'.")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        """Import; print what was written."""
        path = pathlib.Path(parsed_args.file)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise errors.ConfigError(f"The export {path} cannot be read: {exc.strerror}.") \
                from exc
        document = export.parse(raw, str(path))
        with common.clients(self.app) as clients:
            result = state.import_deployment(clients.store, document,
                                             lambda: common.build_plan(self.app))
        skipped = (f"; generation(s) {', '.join(map(str, result.skipped))} not imported (the "
                   "export has no secrets: only the current one can be re-rendered)"
                   if result.skipped else "")
        self.app.stdout.write(
            f"Imported deployment {document.deployment}: generation(s) "
            f"{', '.join(map(str, result.generations))}, current {result.current}, "
            f"{result.status_records} status node(s), {result.writes} ZooKeeper "
            f"writes{skipped}.\n")
        return 0
