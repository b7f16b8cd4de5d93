"""``kolla-mesos prechecks``: is this cluster ready for this deployment?  (Reads only.)

One :class:`Check` per line; every check runs even when an earlier one failed (an operator
fixes everything in one round), except those that need what failed (no Mesos state: no
agent checks; no plan: no resource checks).  The certificate check
(:func:`check_certificates`) is a deploy's TLS check plus expiry within 30 days; with TLS off
it is ok.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kolla_mesos import errors
from kolla_mesos.apply.clients import Clients
from kolla_mesos.certificates import check as certificate_checks
from kolla_mesos.certificates import inputs as tls_inputs
from kolla_mesos.certificates.model import TlsSettings
from kolla_mesos.passwords import empty_keys, read_passwords
from kolla_mesos.plan import capacity
from kolla_mesos.plan.loader import PlanInputs, check_passwords_file, load_plan
from kolla_mesos.plan.model import Plan
from kolla_mesos.render.topology import Topology, load_topology

#: Oldest versions whose APIs kolla-mesos uses: Marathon's partial ``PUT /v2/apps``,
#: ``networks`` and ``/v2/groups`` embeds (1.5); Mesos ``/master/state`` without ``.json``
#: and the agents' ``/files/read`` (1.0).  Chronos has no version endpoint: its API
#: generation (v3 ``/v1/scheduler``, or v2) is what matters and both are supported.
MARATHON_MIN = (1, 5, 0)
MESOS_MIN = (1, 0, 0)
CERT_MIN_DAYS = 30
_SECRET_NAME = re.compile(r"password|secret|token|_key|pass|credential", re.I)
_UNDEFINED = re.compile(r"'([A-Za-z_][A-Za-z0-9_]*)' is undefined")


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    remote: bool = False  # failed because something did not answer

    @property
    def result(self) -> str:
        """``ok`` or ``failed``."""
        return "ok" if self.ok else "failed"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def version_check(name: str, version: str, minimum: tuple[int, ...]) -> Check:
    """ok when ``version`` is at least ``minimum``."""
    wanted = ".".join(map(str, minimum))
    if _version(version) >= minimum:
        return Check(name, True, f"version {version} (>= {wanted})")
    return Check(name, False, f"version {version} is older than {wanted}, the oldest "
                 "supported")


def _guard(name: str, func: Callable[[], Check]) -> Check:
    try:
        return func()
    except errors.RemoteError as exc:
        return Check(name, False, str(exc), remote=True)
    except errors.KollaMesosError as exc:
        return Check(name, False, str(exc))


def check_certificates(directory: Path, settings: TlsSettings,
                       now: datetime.datetime | None = None) -> Check:
    """TLS: every certificate and key the switches need is there, matches, chains to the
    deployment's CA, names its VIP, and none expires within 30 days; ok with TLS off.

    The same checks as a deploy's (:mod:`kolla_mesos.certificates.check`), plus expiry.
    """
    if not settings.any_tls:
        return Check("certificates", True, "TLS is off")
    try:
        certificate_checks.check_certificates(directory, settings, now)
    except errors.CertificateError as exc:
        return Check("certificates", False, str(exc))
    soon = certificate_checks.expiring(directory, settings, CERT_MIN_DAYS, now)
    if soon:
        return Check("certificates", False, " ".join(soon))
    return Check("certificates", True, f"{len(settings.required_files())} file(s) in "
                 f"{directory} valid for more than {CERT_MIN_DAYS} days")


class Prechecks:
    """Runs every check against one deployment's settings and clients."""

    def __init__(self, inputs: PlanInputs, clients: Clients) -> None:
        self.inputs = inputs
        self.clients = clients
        self.checks: list[Check] = []
        self.state: dict[str, Any] | None = None
        self.plan: Plan | None = None
        self.topology: Topology | None = None

    def add(self, name: str, func: Callable[[], Check]) -> Check:
        """Run one check and record it."""
        check = _guard(name, func)
        self.checks.append(check)
        return check

    def run(self) -> list[Check]:
        """Every check, in report order."""
        self.add("marathon", self._marathon)
        self.add("chronos", self._chronos)
        self.add("mesos", self._mesos)
        if self.add("zookeeper", self._zookeeper).ok:
            self.add("zookeeper root acl", self._root_acl)
        passwords = self.add("passwords", self._passwords)
        self.add("topology", self._topology)
        self._plan_check(passwords)
        self._agents()
        self.add("certificates", self._certificates)
        return self.checks

    # -- endpoints -----------------------------------------------------------------------

    def _marathon(self) -> Check:
        info = self.clients.marathon.http.get_json("/v2/info")
        return version_check("marathon", str(info.get("version", "0")), MARATHON_MIN)

    def _chronos(self) -> Check:
        jobs = self.clients.chronos.list_jobs()
        api = "v3 (/v1/scheduler)" if self.clients.chronos.is_v3 else "v2 (/scheduler)"
        return Check("chronos", True, f"API {api}, {len(jobs)} jobs")

    def _mesos(self) -> Check:
        version = str(self.clients.mesos.http.get_json("/version").get("version", "0"))
        self.state = self.clients.mesos.state()
        check = version_check("mesos", version, MESOS_MIN)
        agents = sum(1 for a in self.state.get("slaves") or [] if a.get("active"))
        return dataclasses.replace(check, detail=f"{check.detail}, {agents} active agents")

    def _zookeeper(self) -> Check:
        store = self.clients.store
        store.connect()
        user = store.credentials[0]
        return Check("zookeeper", True, f"connected to {store.hosts} as {user}")

    def _root_acl(self) -> Check:
        store = self.clients.store
        match store.root_acl_as_expected():
            case None:
                return Check("zookeeper root acl", True,
                             f"{store.root} does not exist yet (the first deploy creates it)")
            case True:
                return Check("zookeeper root acl", True,
                             f"{store.root}: the deployer has every right, the world reads")
            case _:
                return Check("zookeeper root acl", False,
                             f"{store.root} has another ACL than the deployer with every "
                             "right and the world reading (docs/zookeeper-layout.md)")

    # -- files ---------------------------------------------------------------------------

    def _passwords(self) -> Check:
        check_passwords_file(self.inputs.config_dir)
        path = self.inputs.config_dir / "passwords.yml"
        passwords = read_passwords(path, check_mode=False)
        empty = empty_keys(passwords)
        if empty:
            return Check("passwords", False, f"{path}: {', '.join(empty)} without a value "
                         f"(run 'kolla-mesos genpwd {path}')")
        return Check("passwords", True, f"{len(passwords)} values, none empty")

    def _topology(self) -> Check:
        self.topology = load_topology(self.inputs.config_dir / "topology.yml",
                                      base_dir=self.inputs.base_dir)
        return Check("topology", True, f"{len(self.topology.hosts)} hosts")

    def _plan_check(self, passwords: Check) -> None:
        try:
            self.plan = load_plan(self.inputs)
        except errors.KollaMesosError as exc:
            missing = [n for n in _UNDEFINED.findall(str(exc)) if _SECRET_NAME.search(n)]
            if missing and passwords.ok:
                path = self.inputs.config_dir / "passwords.yml"
                self.checks[self.checks.index(passwords)] = (Check(
                    "passwords", False, f"{path} has no {', '.join(missing)}, which the "
                    "templates use (add it, or run 'kolla-mesos genpwd' with a template that "
                    "has it)"))
            self.checks.append(Check("deployment files", False, str(exc)))
            return
        services = len(self.plan.services)
        self.checks.append(Check("deployment files", True,
                                 f"profile {self.inputs.settings.profile}: {services} services "
                                 "rendered for every host"))

    # -- agents --------------------------------------------------------------------------

    def _agents(self) -> None:
        if self.topology is None or self.state is None:
            return
        agents = {str(a.get("hostname")): a for a in self.state.get("slaves") or []}
        needs = capacity.needs_per_host(self.plan) if self.plan is not None else {}
        for name, host in sorted(self.topology.hosts.items()):
            agent = agents.get(name)
            label = f"agent {name}"
            if agent is None:
                self.checks.append(Check(label, False, "not registered with the Mesos master"
                                         f" (its agents: {', '.join(sorted(agents))})"))
                continue
            pid_ip = str(agent.get("pid", "")).rpartition("@")[2].rpartition(":")[0]
            addresses = sorted(set(host.addresses.values()))
            if not agent.get("active", False):
                self.checks.append(Check(label, False, "registered but not active"))
            elif addresses and pid_ip not in addresses:
                self.checks.append(Check(label, False, f"registered at {pid_ip}, not at the "
                                         f"topology's {', '.join(addresses)}"))
            else:
                self.checks.append(Check(label, True, f"registered, active, at {pid_ip}"))
            if name in needs:
                lacking = capacity.shortfall(needs[name], agent.get("resources") or {})
                cpus, mem = needs[name].total
                self.checks.append(Check(
                    f"resources {name}", not lacking, "; ".join(lacking) if lacking else
                    f"{cpus:g} cpus and {mem:g} MB needed, "
                    f"{float(agent['resources'].get('cpus', 0)):g} cpus and "
                    f"{float(agent['resources'].get('mem', 0)):g} MB offered"))

    def _certificates(self) -> Check:
        settings = tls_inputs.load(self.inputs.base_dir, self.inputs.config_dir,
                                   self.inputs.extra_vars)
        return check_certificates(tls_inputs.certificates_dir(self.inputs.config_dir),
                                  settings)
