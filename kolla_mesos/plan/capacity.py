"""Pure: the cpus, memory and ports a plan places on each topology host.

Every app runs one instance on each of its hosts (``hostname UNIQUE``); one-shot jobs run
after one another on one of their hosts, so a host needs its apps plus its largest job.
Fixed host ports are those of ``portDefinitions``/``container.portMappings`` with a non-zero
``port``/``hostPort`` (Mesos offers them from the agent's ``ports`` resource).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from kolla_mesos.plan.model import Plan


@dataclasses.dataclass
class Needs:
    """What one host must offer."""

    cpus: float = 0.0
    mem: float = 0.0
    ports: set[int] = dataclasses.field(default_factory=set)
    largest_job: tuple[float, float] = (0.0, 0.0)

    @property
    def total(self) -> tuple[float, float]:
        """(cpus, mem) with the largest job."""
        return self.cpus + self.largest_job[0], self.mem + self.largest_job[1]


def _fixed_ports(app: Mapping[str, Any]) -> set[int]:
    ports = {int(p.get("port") or 0) for p in app.get("portDefinitions") or []}
    docker = (app.get("container") or {}).get("docker") or {}
    for mapping in (app.get("container") or {}).get("portMappings") or \
            docker.get("portMappings") or []:
        ports.add(int(mapping.get("hostPort") or 0))
    return {p for p in ports if p}


def needs_per_host(plan: Plan) -> dict[str, Needs]:
    """host -> :class:`Needs` for every host a service of the plan runs on."""
    found: dict[str, Needs] = {}
    for svc in plan.services:
        for host in svc.hosts:
            needs = found.setdefault(host, Needs())
            if svc.app is not None:
                needs.cpus += float(svc.app.get("cpus", 0))
                needs.mem += float(svc.app.get("mem", 0))
                needs.ports |= _fixed_ports(svc.app)
            for job in svc.jobs:
                size = (float(job.body.get("cpus", 0)), float(job.body.get("mem", 0)))
                needs.largest_job = max(needs.largest_job, size)
    return found


_RANGE = re.compile(r"(\d+)-(\d+)")


def port_ranges(text: str) -> list[tuple[int, int]]:
    """A Mesos ranges string ``[31000-32000, 5000-5001]`` as pairs."""
    return [(int(a), int(b)) for a, b in _RANGE.findall(text or "")]


def shortfall(needs: Needs, resources: Mapping[str, Any]) -> list[str]:
    """What an agent with ``resources`` (Mesos JSON) lacks for ``needs`` (empty: enough)."""
    cpus, mem = needs.total
    missing = []
    if float(resources.get("cpus", 0)) + 1e-9 < cpus:
        missing.append(f"{cpus:g} cpus needed, {float(resources.get('cpus', 0)):g} offered")
    if float(resources.get("mem", 0)) + 1e-9 < mem:
        missing.append(f"{mem:g} MB needed, {float(resources.get('mem', 0)):g} MB offered")
    ranges = port_ranges(str(resources.get("ports", "")))
    outside = sorted(p for p in needs.ports if not any(a <= p <= b for a, b in ranges))
    if outside:
        missing.append(f"ports {', '.join(map(str, outside))} not in {resources.get('ports')}")
    return missing
