"""The stored service definition: the contract between deployer and runner.

See docs/service-definition.md.  Pure: parsing, validation and serialization only.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from typing import Any

from kolla_mesos import errors

SCHEMA = 1
RELOAD_POLICIES = ("restart", "sighup", "none")
SCOPES = ("global", "local")
DAEMON = "daemon"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MODE = re.compile(r"^0?[0-7]{3,4}$")
#: Where a file's absolute ``dest`` may be: a container's own configuration and state
#: directories (the simulator isolates exactly these per agent).  Anything else is a plain
#: name relative to the task's sandbox.
DEST_ROOTS = ("/etc", "/var/lib", "/var/log", "/run")


def dest_problem(dest: str) -> str | None:
    """Why ``dest`` may not be written by the runner (root), or None when it is fine.

    Allowed: an absolute, normalized path strictly below one of :data:`DEST_ROOTS`, or a
    relative path without ``..`` (it stays inside the Mesos sandbox).  The planner checks it
    and the runner checks it again before writing: a ``../`` destination would otherwise let
    a deployment file make a root process write anywhere on the agent.
    """
    if not dest or "\0" in dest:
        return "is empty" if not dest else "contains a NUL byte"
    parts = dest.split("/")
    if dest.startswith("/"):
        if ".." in parts or "." in parts or "//" in dest or dest.endswith("/"):
            return "is not a normalized absolute path"
        if not any(dest.startswith(root + "/") for root in DEST_ROOTS):
            return f"is not below {', '.join(DEST_ROOTS)}"
        return None
    if ".." in parts or "" in parts:
        return "leaves the task's sandbox (a relative dest may not contain '..' or '//')"
    return None


@dataclasses.dataclass(frozen=True)
class Dependency:
    """A wait for ``<service>/<command>`` (or ``<service>/daemon``)."""

    service: str
    command: str
    scope: str = "global"

    @property
    def path(self) -> str:
        """``service/command`` form."""
        return f"{self.service}/{self.command}"

    def to_json(self) -> dict[str, str]:
        """JSON form."""
        return {"path": self.path, "scope": self.scope}


@dataclasses.dataclass(frozen=True)
class FileSpec:
    """One rendered file and where the runner puts it."""

    dest: str
    owner: str = "root"
    group: str = "root"
    mode: str = "0644"
    per_host: bool = False

    @property
    def mode_int(self) -> int:
        """Mode as an integer."""
        return int(self.mode, 8)


@dataclasses.dataclass(frozen=True)
class DirectorySpec:
    """A directory created and chowned before commands run."""

    path: str
    owner: str = "root"
    group: str = "root"
    mode: str = "0755"


@dataclasses.dataclass(frozen=True)
class Command:
    """A one-shot command, or the daemon."""

    name: str
    command: tuple[str, ...]
    shell: bool = False
    env: tuple[tuple[str, str], ...] = ()
    user: str | None = None
    run_once: bool = False
    job: bool = False
    dependencies: tuple[Dependency, ...] = ()
    files: tuple[str, ...] | None = None
    inputs_hash: str = ""
    timeout: float | None = None
    ready: dict[str, Any] | None = None

    @property
    def env_dict(self) -> dict[str, str]:
        """Environment as a dict."""
        return dict(self.env)

    def argv(self) -> list[str]:
        """The argv to execute (``/bin/sh -c`` for shell commands)."""
        if self.shell:
            return ["/bin/sh", "-c", " ".join(self.command)]
        return list(self.command)


@dataclasses.dataclass(frozen=True)
class Definition:
    """A whole service definition."""

    project: str
    service: str
    image: str = ""
    user: str = "root"
    reload: str = "restart"
    files: tuple[tuple[str, FileSpec], ...] = ()
    directories: tuple[DirectorySpec, ...] = ()
    commands: tuple[Command, ...] = ()
    daemon: Command | None = None
    dependency_timeout: float = 600.0

    @property
    def files_dict(self) -> dict[str, FileSpec]:
        """Files by name."""
        return dict(self.files)

    def command(self, name: str) -> Command:
        """The command called ``name`` (``daemon`` for the daemon)."""
        if name == DAEMON and self.daemon is not None:
            return self.daemon
        for cmd in self.commands:
            if cmd.name == name:
                return cmd
        raise errors.DefinitionError(
            [f"Service {self.service!r} has no command {name!r}."]
        )

    def files_for(self, commands: Iterable[Command]) -> tuple[str, ...]:
        """Names of the files a task running ``commands`` writes, in definition order.

        Each command's ``files`` list; a command without one needs every file.  A task writes
        only what its own commands need (DESIGN section 4, "need to know").
        """
        wanted: set[str] = set()
        for cmd in commands:
            wanted.update(cmd.files if cmd.files is not None else self.files_dict)
        return tuple(name for name, _ in self.files if name in wanted)

    def app_commands(self) -> list[Command]:
        """What a Marathon task runs: its non-job commands and its daemon."""
        return [cmd for cmd in self.commands if not cmd.job] + (
            [self.daemon] if self.daemon is not None else [])

    def app_files(self) -> tuple[str, ...]:
        """Files a Marathon task writes: those of its daemon and its non-job commands."""
        return self.files_for(self.app_commands())

    def job_only_files(self) -> frozenset[str]:
        """Files no Marathon task of the service needs: only its Chronos jobs get them.

        A job's secrets (e.g. the database root password of a ``create_db`` job) thus never
        reach a long-running task's sandbox, as kolla-ansible keeps them in one-shot
        bootstrap containers; the runner removes them when the job ends.
        """
        return frozenset(self.files_dict) - set(self.app_files())

    def user_for(self, cmd: Command) -> str:
        """Which user runs ``cmd``."""
        return cmd.user or self.user

    def to_json(self) -> dict[str, Any]:
        """The JSON document stored in ZooKeeper."""
        def cmd_json(cmd: Command) -> dict[str, Any]:
            out: dict[str, Any] = {
                "command": list(cmd.command),
                "shell": cmd.shell,
                "env": dict(cmd.env),
                "user": cmd.user,
                "dependencies": [d.to_json() for d in cmd.dependencies],
                "files": list(cmd.files) if cmd.files is not None else None,
                "inputs_hash": cmd.inputs_hash,
                "timeout": cmd.timeout,
            }
            if cmd.name != DAEMON:
                out["run_once"] = cmd.run_once
                out["job"] = cmd.job
            else:
                out["ready"] = cmd.ready
            return out

        return {
            "schema": SCHEMA,
            "project": self.project,
            "service": self.service,
            "image": self.image,
            "user": self.user,
            "reload": self.reload,
            "files": {name: dataclasses.asdict(spec) for name, spec in self.files},
            "directories": [dataclasses.asdict(d) for d in self.directories],
            "commands": {cmd.name: cmd_json(cmd) for cmd in self.commands},
            "daemon": cmd_json(self.daemon) if self.daemon else None,
            "dependency_timeout": self.dependency_timeout,
        }

    def summary_json(self) -> dict[str, Any]:
        """What another service's runner needs to wait for this one (no secret in it).

        Runners may read only the definitions of the services of their own host
        (docs/zookeeper-layout.md, "ACLs"), so dependencies are resolved from this summary in
        the generation's shared ``index`` node.
        """
        return {
            "project": self.project,
            "daemon": self.daemon is not None,
            "commands": {cmd.name: {"inputs_hash": cmd.inputs_hash, "run_once": cmd.run_once}
                         for cmd in self.commands},
        }

    def dumps(self) -> bytes:
        """Canonical bytes (sorted keys, no spaces): the same definition gives the same bytes."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()


def _need(problems: list[str], where: str, cond: bool, message: str) -> bool:
    if not cond:
        problems.append(f"{where}: {message}")
    return cond


def _parse_dependency(raw: Any, where: str, problems: list[str]) -> Dependency | None:
    if isinstance(raw, str):
        raw = {"path": raw}
    if not _need(problems, where, isinstance(raw, dict) and isinstance(raw.get("path"), str),
                 "a dependency must be 'service/command' or {path, scope}."):
        return None
    parts = raw["path"].split("/")
    if not _need(problems, where, len(parts) == 2 and all(_NAME.match(p) for p in parts),
                 f"dependency {raw['path']!r} is not of the form 'service/command'."):
        return None
    scope = raw.get("scope", "global")
    if not _need(problems, where, scope in SCOPES,
                 f"dependency scope {scope!r} must be one of {', '.join(SCOPES)}."):
        return None
    return Dependency(parts[0], parts[1], scope)


def _parse_command(name: str, raw: Any, where: str, problems: list[str]) -> Command | None:
    if not _need(problems, where, isinstance(raw, dict), "must be a mapping."):
        return None
    argv = raw.get("command")
    if isinstance(argv, str):
        argv = [argv] if raw.get("shell") else argv.split()
    if not _need(problems, f"{where}.command",
                 isinstance(argv, list) and bool(argv) and all(isinstance(a, str) for a in argv),
                 "must be a non-empty list of strings."):
        return None
    env = raw.get("env") or {}
    _need(problems, f"{where}.env", isinstance(env, dict)
          and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()),
          "must map names to strings.")
    deps = []
    for i, dep in enumerate(raw.get("dependencies") or []):
        parsed = _parse_dependency(dep, f"{where}.dependencies[{i}]", problems)
        if parsed:
            deps.append(parsed)
    ready = raw.get("ready")
    if isinstance(ready, dict) and "tcp" in ready:
        port = ready["tcp"]
        _need(problems, f"{where}.ready.tcp", isinstance(port, int) and not isinstance(
            port, bool) and 0 < port < 65536, f"{port!r} is not a port number (1-65535).")
    files = raw.get("files")
    _need(problems, f"{where}.files", files is None or (
        isinstance(files, list) and all(isinstance(f, str) for f in files)),
        "must be a list of file names.")
    return Command(
        name=name, command=tuple(argv), shell=bool(raw.get("shell", False)),
        env=tuple(sorted((env or {}).items())) if isinstance(env, dict) else (),
        user=raw.get("user"), run_once=bool(raw.get("run_once", False)),
        job=bool(raw.get("job", False)), dependencies=tuple(deps),
        files=tuple(files) if isinstance(files, list) else None,
        inputs_hash=str(raw.get("inputs_hash", "")),
        timeout=raw.get("timeout"), ready=raw.get("ready"),
    )


def from_json(raw: Any, source: str = "definition") -> Definition:
    """Parse and validate a definition document; every problem is reported at once."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise errors.DefinitionError([f"{source}: a definition must be a JSON object."])
    for key in ("project", "service"):
        _need(problems, f"{source}.{key}", isinstance(raw.get(key), str)
              and bool(_NAME.match(raw.get(key, ""))), "must be a valid name.")
    reload_policy = raw.get("reload", "restart")
    _need(problems, f"{source}.reload", reload_policy in RELOAD_POLICIES,
          f"must be one of {', '.join(RELOAD_POLICIES)}.")
    files: list[tuple[str, FileSpec]] = []
    for name, spec in sorted((raw.get("files") or {}).items()):
        where = f"{source}.files.{name}"
        if not _need(problems, where, isinstance(spec, dict) and isinstance(spec.get("dest"), str),
                     "needs a 'dest'."):
            continue
        problem = dest_problem(spec["dest"])
        _need(problems, f"{where}.dest", problem is None,
              f"{spec['dest']!r} {problem}; use an absolute path below "
              f"{', '.join(DEST_ROOTS)} or a plain name in the task's sandbox.")
        mode = str(spec.get("mode", "0644"))
        _need(problems, f"{where}.mode", bool(_MODE.match(mode)), f"{mode!r} is not an octal mode.")
        _need(problems, where, bool(_NAME.match(name)), "is not a valid file name.")
        files.append((name, FileSpec(dest=spec["dest"], owner=spec.get("owner", "root"),
                                     group=spec.get("group", spec.get("owner", "root")),
                                     mode=mode, per_host=bool(spec.get("per_host", False)))))
    dirs = [DirectorySpec(path=str(d["path"]), owner=str(d.get("owner", "root")),
                          group=str(d.get("group", d.get("owner", "root"))),
                          mode=str(d.get("mode", "0755")))
            for d in raw.get("directories") or [] if isinstance(d, dict) and "path" in d]
    commands = []
    for name, cmd in sorted((raw.get("commands") or {}).items()):
        _need(problems, f"{source}.commands.{name}", bool(_NAME.match(name)) and name != DAEMON,
              "is not a valid command name ('daemon' is reserved).")
        parsed = _parse_command(name, cmd, f"{source}.commands.{name}", problems)
        if parsed:
            commands.append(parsed)
    daemon = None
    if raw.get("daemon") is not None:
        daemon = _parse_command(DAEMON, raw["daemon"], f"{source}.daemon", problems)
    known = {name for name, _ in files}
    for cmd in [*commands, *([daemon] if daemon else [])]:
        for fname in cmd.files or ():
            _need(problems, f"{source}.commands.{cmd.name}.files", fname in known,
                  f"names unknown file {fname!r}.")
    if problems:
        raise errors.DefinitionError(problems)
    return Definition(
        project=raw["project"], service=raw["service"], image=str(raw.get("image", "")),
        user=str(raw.get("user", "root")), reload=reload_policy, files=tuple(files),
        directories=tuple(dirs), commands=tuple(commands), daemon=daemon,
        dependency_timeout=float(raw.get("dependency_timeout", 600)),
    )


def loads(data: bytes, source: str = "definition") -> Definition:
    """Parse the bytes stored in ZooKeeper."""
    try:
        raw = json.loads(data.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.DefinitionError([f"{source} is not valid JSON: {exc}."]) from exc
    return from_json(raw, source)
