"""``kolla-mesos diagnose``: one tarball for a bug report, with no secret in it.

What it holds (one directory ``kolla-mesos-diagnose-<deployment>-<UTC time>/``):

* ``versions.json``: kolla-mesos, Python, Marathon, Chronos API, Mesos, ZooKeeper;
* ``status.txt``/``status.json``: the ``kolla-mesos status`` table;
* ``marathon/apps.json`` (counts, last task failure, deployments), ``marathon/deployments.json``
  and ``marathon/queue.json`` (the launch queue with Marathon's reasons for what waits);
* ``chronos/jobs.json`` (the deployment's jobs) and ``chronos/summary.json``;
* ``mesos/state-summary.json`` and ``mesos/agents.json``;
* ``zookeeper/manifest.json`` and ``zookeeper/generation-<n>/...``: the current generation's
  manifest and every rendered file, masked;
* ``logs/<service>[/<command>]/<host>-<task>.{stdout,stderr}``: the last lines of every task
  (each app's running tasks or last task per host, each job's last run);
* ``errors.txt``: each part that could not be collected and why (diagnose is for broken
  clusters: an unreachable API is recorded, not fatal).

Every member is masked (:class:`kolla_mesos.secrets.Masker` with the values of passwords.yml
and of every credentials file, plus any PEM private key block), then **scanned before the
file is written**: a member that still holds such a value or a private key stops the command
(nothing is written) naming the member, never the value.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import tarfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kolla_mesos import errors
from kolla_mesos.apply import logs
from kolla_mesos.apply.clients import Clients
from kolla_mesos.apply.status import service_status
from kolla_mesos.clients.zookeeper import read_credentials
from kolla_mesos.plan.build import TOOL_VERSION
from kolla_mesos.secrets import Masker
from kolla_mesos.settings import Settings

#: Lines of each task's stdout and stderr kept.
TAIL_LINES = 200
PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END \1PRIVATE KEY-----|\Z)", re.S)
PRIVATE_KEY_MARK = re.compile(r"PRIVATE KEY-----")
STATUS_COLUMNS = ("service", "kind", "generation", "instances", "running", "healthy",
                  "members", "jobs", "last job result")


def credential_secrets(conf: Settings, clients: Clients) -> list[str]:
    """The secret parts of every credentials file the deployer reads (ZooKeeper deployer
    and runner identities, Marathon)."""
    pairs = [clients.store.credentials, *clients.store.runner_credentials.values()]
    if conf.marathon.credentials_file:
        pairs.append(read_credentials(conf.marathon.credentials_file, "Marathon"))
    return sorted({part for user, password in pairs
                   for part in (password, f"{user}:{password}") if len(part) >= 4},
                  key=len, reverse=True)


class Scrubber:
    """Masks a member's text and checks that nothing secret is left."""

    def __init__(self, masker: Masker, extra: Sequence[str]) -> None:
        self.masker = Masker([*masker.values, *extra])
        self.forbidden = self.masker.values

    def __call__(self, text: str) -> str:
        """``text`` without private keys and secret values."""
        return self.masker(PRIVATE_KEY.sub("<private key removed>", text))

    def problems(self, name: str, text: str) -> list[str]:
        """Why ``text`` must not be written (empty when it is clean)."""
        found = []
        if PRIVATE_KEY_MARK.search(text):
            found.append(f"{name} holds a private key")
        if any(value in text for value in self.forbidden):
            found.append(f"{name} holds a value of passwords.yml or of a credentials file")
        return found


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    cells = [list(STATUS_COLUMNS)] + [[str(r.get(c, "")) for c in STATUS_COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(STATUS_COLUMNS))]
    return "".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
                   + "\n" for row in cells)


class Collector:
    """Gathers the members; a part that fails is recorded in ``errors.txt``."""

    def __init__(self, clients: Clients, conf: Settings, group_id: str) -> None:
        self.clients = clients
        self.conf = conf
        self.group_id = group_id
        self.members: dict[str, str] = {}
        self.failures: list[str] = []

    def part(self, what: str, func: Callable[[], None]) -> None:
        """Run one collection step; record its error instead of failing."""
        try:
            func()
        except errors.KollaMesosError as exc:
            self.failures.append(f"{what}: {exc}")

    def collect(self) -> dict[str, str]:
        """Every member (unmasked): name -> text."""
        self.part("versions", self._versions)
        self.part("status", self._status)
        self.part("Marathon", self._marathon)
        self.part("Chronos", self._chronos)
        self.part("Mesos", self._mesos)
        manifest: dict[str, Any] = {}
        self.part("ZooKeeper", lambda: manifest.update(self._zookeeper()))
        if manifest:
            self.part("task logs", lambda: self._logs(manifest))
        self.members["errors.txt"] = "".join(f"{f}\n" for f in self.failures) or "none\n"
        return self.members

    def _versions(self) -> None:
        versions: dict[str, Any] = {"kolla-mesos": TOOL_VERSION,
                                    "python": platform.python_version(),
                                    "platform": platform.platform()}
        for name, func in (("marathon", lambda: self.clients.marathon.http.get_json("/v2/info")),
                           ("mesos", lambda: self.clients.mesos.http.get_json("/version")),
                           ("chronos api", lambda: "v3 (/v1/scheduler)" if
                            self.clients.chronos.is_v3 else "v2 (/scheduler)"),
                           ("zookeeper", self.clients.store.server_version)):
            try:
                value = func()
                if name == "marathon" and isinstance(value, Mapping):
                    value = {k: value.get(k) for k in ("name", "version", "leader",
                                                       "frameworkId")}
                versions[name] = value
            except errors.KollaMesosError as exc:
                versions[name] = f"unavailable: {exc}"
        self.members["versions.json"] = _json(versions)

    def _status(self) -> None:
        rows = service_status(self.clients)
        self.members["status.json"] = _json(rows)
        self.members["status.txt"] = _table(rows)

    def _marathon(self) -> None:
        marathon = self.clients.marathon
        self.members["marathon/apps.json"] = _json(marathon.list_apps(
            self.group_id, embed=("apps.counts", "apps.tasks", "apps.lastTaskFailure",
                                  "apps.deployments", "apps.taskStats")))
        self.members["marathon/deployments.json"] = _json(marathon.list_deployments())
        self.members["marathon/queue.json"] = _json({
            "reasons": marathon.queue_reasons(),
            "queue": marathon.http.get_json("/v2/queue", params={"embed": "lastUnusedOffers"}),
        })

    def _chronos(self) -> None:
        prefix = f"kolla-mesos:{self.clients.deployment_id}:"
        jobs = [j for j in self.clients.chronos.list_jobs()
                if str(j.get("description", "")).startswith(prefix)]
        names = {j["name"] for j in jobs}
        self.members["chronos/jobs.json"] = _json(jobs)
        self.members["chronos/summary.json"] = _json(
            [s for s in self.clients.chronos.summary() if s.get("name") in names])

    def _mesos(self) -> None:
        mesos = self.clients.mesos
        self.members["mesos/state-summary.json"] = _json(
            mesos.http.get_json("/master/state-summary"))
        state = mesos.state()
        self.members["mesos/agents.json"] = _json([
            {k: agent.get(k) for k in ("id", "pid", "hostname", "active", "resources",
                                       "used_resources", "attributes", "version")}
            for agent in state.get("slaves") or []])

    def _zookeeper(self) -> dict[str, Any]:
        store = self.clients.store
        generation = store.current_generation()
        if generation is None:
            self.failures.append("ZooKeeper: the deployment has no generation yet.")
            return {}
        manifest = store.read_manifest(generation)
        self.members["zookeeper/manifest.json"] = _json(manifest)
        for path, data in sorted(store.read_generation(generation).items()):
            self.members[f"zookeeper/generation-{generation}/{path}"] = data.decode(
                errors="replace")
        return manifest

    def _logs(self, manifest: Mapping[str, Any]) -> None:
        mesos = self.clients.mesos
        targets: list[logs.Target] = []
        for service, info in sorted((manifest.get("services") or {}).items()):
            if info.get("app"):
                targets.append(logs.Target(service, logs.DAEMON, "app", str(info["app"])))
            targets.extend(logs.Target(service, cmd, "job", str(job))
                           for cmd, job in sorted((info.get("jobs") or {}).items()))
        for stream in ("stdout", "stderr"):
            for source in logs.find_sources(mesos, targets, stream):
                try:
                    lines, _size = logs.read_tail(mesos, source, TAIL_LINES)
                except errors.NotFoundError:
                    continue
                task = source.task_id.replace(":", "_").replace("/", "_")
                name = f"logs/{source.target.label}/{source.host}-{task}.{stream}"
                self.members[name] = "".join(f"{line}\n" for line in lines)


def bundle(members: Mapping[str, str], scrub: Scrubber, top: str) -> bytes:
    """The masked, scanned tarball (gzip) of ``members`` under ``top/``."""
    clean = {name: scrub(text) for name, text in members.items()}
    problems = [p for name, text in clean.items() for p in scrub.problems(name, text)]
    if problems:
        raise errors.KollaMesosError(
            "The diagnose bundle was not written: after masking, " + "; ".join(problems)
            + " (please report this bug).")
    out = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in sorted(clean.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mtime, info.mode = len(data), int(now), 0o600
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def write_private(path: Path, data: bytes) -> None:
    """Write the bundle with mode 0600 (it describes the cluster in detail)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb", opener=lambda p, flags: os.open(p, flags, 0o600)) as handle:
        handle.write(data)
    tmp.replace(path)
