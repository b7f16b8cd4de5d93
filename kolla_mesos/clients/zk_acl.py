"""ZooKeeper digest credentials and the ACLs of a deployment's nodes.

Who may do what (DESIGN section 4, docs/zookeeper-layout.md "ACLs"):

============================  ==================  =============================
node                          deployer digest     runner digest
============================  ==================  =============================
``<root>`` (e.g. ``/kolla``)  ALL                 READ (anyone: READ)
``<root>/<deployment>``       ALL                 READ
``current``                   ALL                 READ
``generations`` and below     ALL                 READ
``status``, ``locks``,        ALL                 READ, WRITE, CREATE, DELETE
``members`` and below
``deploy-lock`` and below     ALL                 nothing
============================  ==================  =============================

Nobody else gets anything under ``<root>/<deployment>``.  The root itself is created
world-readable but not world-writable: deployment *names* are not secret, so any operator can
list them (``kolla-mesos deployment list``), while only a deployer can add one.  A root that
already exists is left as it is.  Nodes a runner creates under status/locks/members must carry
:func:`runner_write_acl` (the runner passes it as its client's ``default_acl``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kazoo.security import ACL, Permissions, make_acl, make_digest_acl

from kolla_mesos import errors
from kolla_mesos.runner.identity import parse_credentials

Credentials = tuple[str, str]


def read_credentials(path: str | os.PathLike[str], kind: str = "ZooKeeper") -> Credentials:
    """Read ``user:password`` from ``path``; refuse a file group or others can access.

    ``kind`` names what the credentials are for in errors (``Marathon`` for its basic auth).
    """
    file = Path(path)
    try:
        info = file.stat()
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise errors.ConfigError(
            f"Cannot read the {kind} credentials file {file}: {exc.strerror or exc}."
        ) from exc
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise errors.ConfigError(
            f"The {kind} credentials file {file} is accessible by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); run 'chmod 600 {file}'."
        )
    # The runner parses the same file (runner_credentials_file is its copy): one parser.
    return parse_credentials(text, str(file), kind)


def write_credentials(path: str | os.PathLike[str], credentials: Credentials) -> None:
    """Write ``user:password`` to ``path`` with mode 0600 (tests, quickstart)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(f"{credentials[0]}:{credentials[1]}\n")
    os.chmod(path, 0o600)


def auth_data(credentials: Credentials) -> list[tuple[str, str]]:
    """kazoo ``auth_data`` for digest credentials."""
    return [("digest", f"{credentials[0]}:{credentials[1]}")]


def owner_acl(deployer: Credentials) -> ACL:
    """The deployer's ACL entry: every permission."""
    return make_digest_acl(deployer[0], deployer[1], all=True)


def root_acl(deployer: Credentials) -> list[ACL]:
    """ACL of the root (``/kolla``) when kolla-mesos creates it."""
    return [owner_acl(deployer), make_acl("world", "anyone", read=True)]


def read_acl(deployer: Credentials, runner: Credentials | None) -> list[ACL]:
    """Deployment node, ``current`` and every generation node: runners may read."""
    acl = [owner_acl(deployer)]
    if runner is not None:
        acl.append(make_digest_acl(runner[0], runner[1], read=True))
    return acl


def runner_write_acl(deployer: Credentials, runner: Credentials | None) -> list[ACL]:
    """status, locks, members and below: runners read, write, create and delete."""
    acl = [owner_acl(deployer)]
    if runner is not None:
        acl.append(make_digest_acl(runner[0], runner[1], read=True, write=True,
                                   create=True, delete=True))
    return acl


def deployer_only_acl(deployer: Credentials) -> list[ACL]:
    """The deploy lock: the deployer alone."""
    return [owner_acl(deployer)]


def same_acl(left: list[ACL], right: list[ACL]) -> bool:
    """True when two ACL lists grant the same permissions to the same identities."""
    def key(acls: list[ACL]) -> set[tuple[str, str, int]]:
        return {(a.id.scheme, a.id.id, int(a.perms)) for a in acls}
    return key(left) == key(right)


ALL_PERMS = Permissions.ALL
