"""ZooKeeper paths of a deployment: the one place where they are built.

Layout (docs/zookeeper-layout.md)::

    <root>/<deployment>                         deployment metadata (json)
      current                                   the active generation number
      generations/<n>/manifest                  json: services, hashes, created_by, version
      generations/<n>/index                     json: per service its hosts, commands, hashes
      generations/<n>/services/<project>/<service>/definition
      generations/<n>/services/<project>/<service>/files/<name>
      generations/<n>/services/<project>/<service>/files/<name>/hosts/<hostname>
      status/<service>/<command>/<inputs hash>/<hostname>
      locks/<service>/<command>
      members/<service>/<hostname>

Every function is pure string building; nothing here talks to ZooKeeper.
"""

from __future__ import annotations

import posixpath
import re

DEFAULT_ROOT = "/kolla"

CURRENT = "current"
GENERATIONS = "generations"
MANIFEST = "manifest"
INDEX = "index"
SERVICES = "services"
DEFINITION = "definition"
FILES = "files"
HOSTS = "hosts"
STATUS = "status"
LOCKS = "locks"
MEMBERS = "members"
DEPLOY_LOCK = "deploy-lock"

#: Largest rendered file a generation stores: ZooKeeper refuses a request over 1 MB
#: (``jute.maxbuffer``), and the node's path and ACL (one entry per host) share it.
MAX_FILE_BYTES = 900 * 1024

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_name(kind: str, value: str) -> str:
    """Return ``value`` if it is a safe single path segment, else raise ValueError."""
    if not _NAME.match(value) or value in (".", ".."):
        raise ValueError(
            f"{kind} {value!r} is not a valid name: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return value


def join(*parts: str) -> str:
    """Join path parts with single slashes."""
    return posixpath.join(*parts)


def deployment(root: str, deployment_id: str) -> str:
    """Root node of one deployment."""
    return join(root, check_name("deployment id", deployment_id))


def current(root: str, deployment_id: str) -> str:
    """Node whose data is the active generation number."""
    return join(deployment(root, deployment_id), CURRENT)


def generations(root: str, deployment_id: str) -> str:
    """Parent of every generation."""
    return join(deployment(root, deployment_id), GENERATIONS)


def generation(root: str, deployment_id: str, number: int) -> str:
    """One generation's root (``number`` is formatted with 10 digits so names sort)."""
    return join(generations(root, deployment_id), gen_name(number))


def gen_name(number: int) -> str:
    """Node name of a generation number."""
    return f"{number:010d}"


def manifest(gen_path: str) -> str:
    """Manifest node of a generation."""
    return join(gen_path, MANIFEST)


def service(gen_path: str, project: str, service_name: str) -> str:
    """A service's node inside a generation."""
    return join(gen_path, SERVICES, project, service_name)


def definition(gen_path: str, project: str, service_name: str) -> str:
    """A service's definition node inside a generation."""
    return join(service(gen_path, project, service_name), DEFINITION)


def file(gen_path: str, project: str, service_name: str, name: str) -> str:
    """A rendered file that is the same on every host."""
    return join(service(gen_path, project, service_name), FILES, check_name("file name", name))


def host_file(gen_path: str, project: str, service_name: str, name: str, host: str) -> str:
    """The variant of a rendered file for one host."""
    return join(file(gen_path, project, service_name, name), HOSTS, host)


def status(root: str, deployment_id: str, service_name: str, command: str,
           inputs_hash: str, host: str | None = None) -> str:
    """Runner state of one command (per inputs hash; per host when ``host`` is given)."""
    path = join(deployment(root, deployment_id), STATUS, service_name, command, inputs_hash)
    return join(path, host) if host else path


def lock(root: str, deployment_id: str, service_name: str, command: str) -> str:
    """run_once lock of a command."""
    return join(deployment(root, deployment_id), LOCKS, service_name, command)


def members(root: str, deployment_id: str, service_name: str, host: str | None = None) -> str:
    """Ephemeral membership of a service (one child per host running it)."""
    path = join(deployment(root, deployment_id), MEMBERS, service_name)
    return join(path, host) if host else path


def deploy_lock(root: str, deployment_id: str) -> str:
    """Lock held by a deployer while it changes the deployment."""
    return join(deployment(root, deployment_id), DEPLOY_LOCK)


def parse_generation(name: str) -> int | None:
    """Generation number of a node name, or None when the name is not a generation."""
    return int(name) if name.isdigit() else None
