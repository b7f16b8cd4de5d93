"""``kolla-mesos genpwd`` and ``kolla-mesos mergepwd``: the operator's passwords.yml."""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

from cliff.command import Command

from kolla_mesos import errors, passwords
from kolla_mesos.cli.common import conf, source_tree
from kolla_mesos.clients import zk_acl
from kolla_mesos.render.topology import load_topology


def _base_dir(app: Any) -> pathlib.Path:
    base = conf(app).kolla.base_dir
    return pathlib.Path(base) if base else source_tree()


def _config_dir(app: Any) -> pathlib.Path:
    return pathlib.Path(conf(app).kolla.config_dir)


def run_genpwd(passwords_file: pathlib.Path, template: pathlib.Path,
               ssh_bits: int = 4096) -> str:
    """Fill PASSWORDS_FILE from TEMPLATE; a one-line summary (no secret in it)."""
    generated = passwords.genpwd(passwords_file, template, ssh_bits)
    return (f"{passwords_file}: {len(generated)} value(s) generated, existing values kept, "
            "mode 0600.")


def run_gen_runner_credentials(app: Any) -> str | None:
    """Create the missing per-host runner identities; a summary, or None when not configured.

    One identity per host of ``<config_dir>/topology.yml``, in ``[zookeeper]
    runner_credentials_dir`` (docs/configuration.md, "Runner identities").
    """
    folder = conf(app).zookeeper.runner_credentials_dir
    topology_file = _config_dir(app) / "topology.yml"
    if not folder or not topology_file.exists():
        return None
    hosts = load_topology(topology_file).hosts
    created = zk_acl.generate_runner_credentials(folder, hosts)
    return (f"{folder}: {len(created)} runner identit{'y' if len(created) == 1 else 'ies'} "
            f"created for {len(hosts)} host(s), existing ones kept, mode 0600; copy "
            "<host>.cred to runner_credentials_path on each host.")


class GenPwd(Command):
    """Fill passwords.yml with strong random values for every empty key, and create the
    per-host runner identities ([zookeeper] runner_credentials_dir) that are missing."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """[PATH] (or --passwords PATH), --template PATH."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("path", nargs="?", metavar="PATH",
                            help="passwords.yml to fill (default: <config_dir>/passwords.yml).")
        parser.add_argument("--passwords", metavar="PATH", help="same as PATH.")
        parser.add_argument("--template", metavar="PATH",
                            help="password list to fill from (default: the synced "
                            "common_templates/passwords.yml of kolla-ansible).")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        """Write the file; print a summary."""
        target = pathlib.Path(parsed_args.path or parsed_args.passwords or
                              _config_dir(self.app) / "passwords.yml")
        template = pathlib.Path(parsed_args.template or
                                _base_dir(self.app) / "common_templates" / "passwords.yml")
        self.app.stdout.write(run_genpwd(target, template) + "\n")
        runners = run_gen_runner_credentials(self.app)
        if runners:
            self.app.stdout.write(runners + "\n")
        return 0


class MergePwd(Command):
    """Merge an old passwords.yml into a new one, as kolla-mergepwd does."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """OLD NEW [--final PATH] [--clean]."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("old", help="passwords.yml with the values to keep.")
        parser.add_argument("new", help="passwords.yml with the keys of the new release.")
        parser.add_argument("--final", metavar="PATH",
                            help="where to write the result (default: NEW).")
        parser.add_argument("--clean", action="store_true",
                            help="keep only the keys of NEW (drop keys NEW no longer has).")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        """Write the merged file; print a summary."""
        final = parsed_args.final or parsed_args.new
        merged = passwords.mergepwd(parsed_args.old, parsed_args.new, final, parsed_args.clean)
        self.app.stdout.write(f"{final}: {len(merged)} key(s) merged, mode 0600.\n")
        return 0


def configured_max_active_keys(plan: Any) -> int:
    """``[fernet_tokens] max_active_keys`` of the keystone.conf a deploy would publish: the
    rotation keeps exactly as many keys as Keystone is configured to accept."""
    import configparser

    rendered = next((f for f in plan.service("keystone").files if f.name == "keystone.conf"),
                    None)
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    if rendered is not None:
        parser.read_string(rendered.content.decode())
    try:
        return parser.getint("fernet_tokens", "max_active_keys")
    except (configparser.Error, ValueError) as exc:
        raise errors.DefinitionError(["keystone.conf has no [fernet_tokens] max_active_keys; "
                                      "pass --max-active-keys."]) from exc


class FernetRotate(Command):
    """Rotate Keystone's Fernet keys in passwords.yml, as ``keystone-manage fernet_rotate``
    does (the staged key becomes the primary, a new staged key, the oldest dropped); the next
    ``kolla-mesos deploy`` rolls the new repository out to every keystone host."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        """[--max-active-keys N]."""
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument("--max-active-keys", type=int, metavar="N",
                            help="keys to keep (default: keystone.conf's [fernet_tokens] "
                            "max_active_keys, as rendered for this deployment).")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        """Rewrite passwords.yml; print the new key indexes (never a key)."""
        from kolla_mesos.cli.common import build_plan

        path = _config_dir(self.app) / "passwords.yml"
        current = passwords.read_passwords(path)
        keys = passwords.check_fernet_repository(current.get(passwords.FERNET_REPOSITORY),
                                                 str(path))
        max_active = parsed_args.max_active_keys or configured_max_active_keys(
            build_plan(self.app))
        rotated = passwords.rotate_fernet_keys(keys, max_active)
        passwords.write_passwords(path, {**current, passwords.FERNET_REPOSITORY: rotated})
        self.app.stdout.write(
            f"{path}: Fernet keys rotated: keys {', '.join(map(str, rotated))} (primary "
            f"{max(rotated)}, staged 0, at most {max_active}); run 'kolla-mesos deploy' to "
            "roll them out.\n")
        return 0
