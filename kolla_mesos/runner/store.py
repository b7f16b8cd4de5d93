"""Read side of a generation: ``current``, service definitions and rendered files.

Layout in docs/service-definition.md and kolla_mesos/zkpaths.py.  A generation is immutable
once ``current`` points at it, so everything read here may be cached per generation.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import Any

from kazoo.exceptions import NoNodeError

from kolla_mesos import definition as definition_mod
from kolla_mesos import errors, zkpaths
from kolla_mesos.definition import Definition
from kolla_mesos.runner.session import Session

LOG = logging.getLogger(__name__)


def parse_current(data: bytes, path: str) -> int:
    """The generation number stored in ``current``."""
    text = data.decode(errors="replace").strip()
    if not text.isdigit():
        raise errors.ZookeeperError(
            f"{path} holds {text[:40]!r}, not a generation number."
        )
    return int(text)


def read_current(session: Session, watch: Callable[[Any], None] | None = None) -> int:
    """The active generation number of the deployment."""
    path = zkpaths.current(session.identity.zk_root, session.identity.deployment)
    try:
        data = session.get(path, watch=watch)
    except NoNodeError as exc:
        raise errors.ZookeeperError(
            f"{path} does not exist: deployment {session.identity.deployment!r} has no "
            "active generation yet (run kolla-mesos deploy first)."
        ) from exc
    return parse_current(data, path)


@dataclasses.dataclass(frozen=True)
class ServiceRef:
    """Where a service lives inside a generation."""

    project: str
    service: str


@dataclasses.dataclass(frozen=True)
class ServiceSummary:
    """What a waiter needs to know about a service it depends on (no secret in it)."""

    service: str
    daemon: bool
    #: command name -> (inputs hash, run_once)
    commands: dict[str, tuple[str, bool]]

    @classmethod
    def of(cls, defn: Definition) -> ServiceSummary:
        """The summary of a definition this runner can read."""
        return cls.from_json(defn.service, defn.summary_json(), "definition")

    @classmethod
    def from_json(cls, service: str, raw: Any, source: str) -> ServiceSummary:
        """One entry of a generation's ``index`` node (written by Plan.index())."""
        commands = raw.get("commands") if isinstance(raw, dict) else None
        if not isinstance(commands, dict) or not all(
                isinstance(c, dict) for c in commands.values()):
            raise errors.ZookeeperError(f"{source} has no valid entry for service {service!r}.")
        return cls(service=service, daemon=bool(raw.get("daemon")),
                   commands={name: (str(c.get("inputs_hash") or ""), bool(c.get("run_once")))
                             for name, c in commands.items()})


class GenerationReader:
    """Cached reads of one immutable generation."""

    def __init__(self, session: Session, number: int) -> None:
        self.session = session
        self.number = number
        self.path = zkpaths.generation(session.identity.zk_root, session.identity.deployment,
                                       number)
        self._definitions: dict[str, Definition | None] = {}
        self._projects: list[str] | None = None
        self._index: dict[str, Any] | None = None

    def _project_names(self) -> list[str]:
        if self._projects is None:
            try:
                self._projects = sorted(self.session.call(
                    self.session.client.get_children, zkpaths.join(self.path, zkpaths.SERVICES)))
            except NoNodeError:
                self._projects = []
        return self._projects

    def definition(self, service: str, project: str | None = None) -> Definition | None:
        """Definition of ``service`` (any project unless given); None when it is absent."""
        if service in self._definitions:
            return self._definitions[service]
        candidates = [project] if project else self._project_names()
        found: Definition | None = None
        for proj in candidates:
            path = zkpaths.definition(self.path, proj, service)
            try:
                data = self.session.get(path)
            except NoNodeError:
                continue
            found = definition_mod.loads(data, source=path)
            break
        self._definitions[service] = found
        return found

    def summary(self, service: str) -> ServiceSummary | None:
        """Dependency summary of ``service``; None when the generation has no such service.

        From the shared ``index`` node: a runner may read only the definitions of its own
        host's services.  A generation without an index (written before it existed) falls
        back to the definition.
        """
        if self._index is None:
            raw = self.session.get_json(zkpaths.join(self.path, zkpaths.INDEX))
            self._index = raw if isinstance(raw, dict) else {}
        if not self._index:
            defn = self.definition(service)
            return ServiceSummary.of(defn) if defn is not None else None
        if service not in self._index:
            return None
        return ServiceSummary.from_json(service, self._index[service],
                                        zkpaths.join(self.path, zkpaths.INDEX))

    def require_definition(self, project: str, service: str) -> Definition:
        """Definition of this runner's own service; a clear error when it is missing."""
        found = self.definition(service, project)
        if found is None:
            raise errors.ConfigError(
                f"Generation {self.number} has no definition for service {project}/{service} "
                f"({zkpaths.definition(self.path, project, service)})."
            )
        return found

    def file_content(self, defn: Definition, name: str, host: str) -> bytes:
        """Rendered content of file ``name`` for ``host`` (host variant, else the shared one)."""
        spec = defn.files_dict[name]
        base = zkpaths.file(self.path, defn.project, defn.service, name)
        if spec.per_host:
            try:
                return self.session.get(
                    zkpaths.host_file(self.path, defn.project, defn.service, name, host))
            except NoNodeError:
                pass
        try:
            return self.session.get(base)
        except NoNodeError as exc:
            raise errors.ConfigError(
                f"Generation {self.number} lacks file {name!r} of service {defn.service} "
                f"({base})."
            ) from exc

    def files(self, defn: Definition, host: str,
              names: Iterable[str] | None = None) -> dict[str, bytes]:
        """Content of the named files (default: all of the definition's files) for ``host``."""
        wanted = list(names) if names is not None else [name for name, _ in defn.files]
        return {name: self.file_content(defn, name, host) for name in wanted}
