"""ZooKeeper digest credentials and the ACLs of a deployment's nodes.

Who may do what (DESIGN section 4, docs/zookeeper-layout.md "ACLs"); every topology host
has its own runner identity (``<runner_credentials_dir>/<host>.cred``):

==================================  ===========  ======================================
node                                deployer     runner of host H
==================================  ===========  ======================================
``<root>`` (e.g. ``/kolla``)        ALL          READ (anyone: READ)
``<root>/<deployment>``, current    ALL          READ
``generations/<n>``, ``manifest``,  ALL          READ
``index``, ``services/<project>``
``services/<project>/<service>``    ALL          READ only when H is in the service's group
and below (definition, files)
``status``, ``locks``,              ALL          READ, WRITE, CREATE, DELETE
``members`` and below
``deploy-lock`` and below           ALL          nothing
==================================  ===========  ======================================

Nobody else gets anything under ``<root>/<deployment>``.  The root itself is created
world-readable but not world-writable: deployment *names* are not secret, so any operator can
list them (``kolla-mesos deployment list``), while only a deployer can add one.  A root that
already exists is left as it is.  Nodes a runner creates under status/locks/members must carry
:func:`runner_write_acl` (the deployer publishes it in the deployment node).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from kazoo.security import ACL, Permissions, make_acl, make_digest_acl

from kolla_mesos import errors, zkpaths
from kolla_mesos.passwords import random_password
from kolla_mesos.runner.identity import check_private, parse_credentials

Credentials = tuple[str, str]
#: Runner identities: topology host -> its digest credentials.
RunnerIdentities = Mapping[str, Credentials]
RUNNER_SUFFIX = ".cred"


def read_credentials(path: str | os.PathLike[str], kind: str = "ZooKeeper") -> Credentials:
    """Read ``user:password`` from ``path``; refuse a file group or others can access.

    ``kind`` names what the credentials are for in errors (``Marathon`` for its basic auth).
    The runner applies the same checks to its copy (:func:`runner.identity.read_credentials`).
    """
    file = Path(path)
    try:
        info = file.stat()
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise errors.ConfigError(
            f"Cannot read the {kind} credentials file {file}: {exc.strerror or exc}."
        ) from exc
    except UnicodeDecodeError as exc:
        raise errors.ConfigError(
            f"The {kind} credentials file {file} is not UTF-8 text.") from exc
    check_private(file, info.st_mode, kind)
    return parse_credentials(text, str(file), kind)


def runner_credentials_path(directory: str | os.PathLike[str], host: str) -> Path:
    """Where the deployer keeps host ``host``'s runner credentials."""
    return Path(directory) / f"{zkpaths.check_name('host name', host)}{RUNNER_SUFFIX}"


def read_runner_credentials(directory: str | os.PathLike[str]) -> dict[str, Credentials]:
    """Every host's runner credentials in ``directory`` (``<host>.cred``, each 0600).

    Two hosts sharing one digest user would share one identity (and every secret of both):
    that is refused.
    """
    folder = Path(directory)
    try:
        names = sorted(p.name for p in folder.iterdir() if p.name.endswith(RUNNER_SUFFIX))
    except OSError as exc:
        raise errors.ConfigError(
            f"Cannot read the runner credentials directory {folder} "
            f"([zookeeper] runner_credentials_dir): {exc.strerror or exc}."
        ) from exc
    found: dict[str, Credentials] = {}
    users: dict[str, str] = {}
    for name in names:
        host = name[: -len(RUNNER_SUFFIX)]
        creds = read_credentials(folder / name, "ZooKeeper runner")
        if creds[0] in users:
            raise errors.ConfigError(
                f"The runner credentials files {folder / users[creds[0]]} and {folder / name} "
                f"use the same user {creds[0]!r}: every host needs its own identity."
            )
        users[creds[0]] = name
        found[host] = creds
    return found


def missing_runner_hosts(identities: RunnerIdentities, hosts: Iterable[str]) -> list[str]:
    """Hosts of ``hosts`` that have no runner identity, sorted."""
    return sorted(set(hosts) - set(identities))


def generate_runner_credentials(directory: str | os.PathLike[str],
                                hosts: Iterable[str]) -> list[str]:
    """Create ``<host>.cred`` (user ``runner-<host>``, random password, 0600) where missing.

    Existing files are kept (like genpwd keeps existing passwords).  Returns the hosts that
    got new credentials.
    """
    folder = Path(directory)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    created = []
    for host in sorted(set(hosts)):
        path = runner_credentials_path(folder, host)
        if path.exists():
            continue
        write_credentials(path, (f"runner-{host}", random_password()))
        created.append(host)
    return created


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


def _runner_entries(runners: RunnerIdentities, hosts: Collection[str] | None,
                   **perms: bool) -> list[ACL]:
    return [make_digest_acl(user, password, **perms)
            for host, (user, password) in sorted(runners.items())
            if hosts is None or host in hosts]


def read_acl(deployer: Credentials, runners: RunnerIdentities | None) -> list[ACL]:
    """Deployment node, ``current`` and a generation's shared nodes: every runner reads."""
    return [owner_acl(deployer), *_runner_entries(runners or {}, None, read=True)]


def service_acl(deployer: Credentials, runners: RunnerIdentities | None,
                hosts: Collection[str]) -> list[ACL]:
    """A service's subtree of a generation: only the runners of its group's hosts read."""
    return [owner_acl(deployer), *_runner_entries(runners or {}, hosts, read=True)]


def runner_write_acl(deployer: Credentials, runners: RunnerIdentities | None) -> list[ACL]:
    """status, locks, members and below: every runner reads, writes, creates and deletes."""
    return [owner_acl(deployer), *_runner_entries(runners or {}, None, read=True, write=True,
                                                  create=True, delete=True)]


def deployer_only_acl(deployer: Credentials) -> list[ACL]:
    """The deploy lock: the deployer alone."""
    return [owner_acl(deployer)]


def same_acl(left: list[ACL], right: list[ACL]) -> bool:
    """True when two ACL lists grant the same permissions to the same identities."""
    def key(acls: list[ACL]) -> set[tuple[str, str, int]]:
        return {(a.id.scheme, a.id.id, int(a.perms)) for a in acls}
    return key(left) == key(right)


ALL_PERMS = Permissions.ALL
