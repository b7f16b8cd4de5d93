"""The ``upgradeStrategy`` a Marathon app's placement can satisfy (pure).

Why this exists: Marathon restarts an app by keeping ``ceil(n * minimumHealthCapacity)`` of
its ``n`` instances healthy and may start up to ``n * maximumOverCapacity`` extra ones.  An
app pinned one instance per topology host (``hostname UNIQUE`` plus a ``hostname LIKE`` pin
to exactly as many hosts as it has instances) can never run an extra instance: no agent may
take it.  With the old default of 0.5 a one-instance app must keep its only instance up, so
Marathon waits forever for an extra task that is never placed (issue 16 section 1).

The rule (DESIGN section 6, docs/upgrade.md): where instances equal the hosts they are
pinned to, ``minimumHealthCapacity`` is the largest value with ``ceil(n * c) == n - 1``
(i.e. (n-1)/n, and 0 for one instance) and ``maximumOverCapacity`` is 0: Marathon stops
one instance, starts its replacement on the freed host, waits for it to be healthy, then
does the next.  Other apps keep :data:`DEFAULT`.  A deployment file may override either
field; an override that would need an extra instance no agent can take is refused with
:class:`~kolla_mesos.errors.UpgradeStrategyError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kolla_mesos import errors

#: Strategy of apps whose placement leaves room for an extra instance.
DEFAULT = {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.0}


@dataclass(frozen=True)
class Placement:
    """Where an app's constraints let its instances run, one per host."""

    #: Topology hosts the app may use (``hostname LIKE``/``CLUSTER`` pins applied).
    hosts: tuple[str, ...]
    #: The pin constraints, as written (for messages).
    pins: tuple[tuple[str, ...], ...]


def placement(app: Mapping[str, Any], hosts: Sequence[str]) -> Placement | None:
    """The hosts an app is pinned to, one instance each; None when not pinned that way.

    Pinned means ``["hostname", "UNIQUE"]`` together with at least one ``hostname LIKE``
    or ``hostname CLUSTER`` constraint; ``hosts`` are the topology hosts the pin is matched
    against (Marathon matches ``LIKE`` as a full regular expression).
    """
    constraints = [tuple(str(part) for part in c) for c in app.get("constraints") or []
                   if isinstance(c, list | tuple)]
    if ("hostname", "UNIQUE") not in {c[:2] for c in constraints if len(c) == 2}:
        return None
    pins = tuple(c for c in constraints
                 if len(c) == 3 and c[0] == "hostname" and c[1] in ("LIKE", "CLUSTER"))
    if not pins:
        return None
    allowed = list(hosts)
    for _field, operator, value in pins:
        if operator == "CLUSTER":
            allowed = [h for h in allowed if h == value]
        else:
            try:
                pattern = re.compile(value)
            except re.error:
                return None  # Marathon rejects it with a 422 naming the field
            allowed = [h for h in allowed if pattern.fullmatch(h)]
    return Placement(hosts=tuple(allowed), pins=pins)


def one_down_capacity(instances: int) -> float:
    """The largest ``c`` with ``ceil(instances * c) == instances - 1`` (0 for one instance).

    (n-1)/n itself, stepped down by the smallest float increment where rounding would make
    Marathon's ``ceil`` keep every instance.
    """
    if instances <= 1:
        return 0.0
    capacity = (instances - 1) / instances
    while math.ceil(instances * capacity) > instances - 1:
        capacity = math.nextafter(capacity, 0.0)
    return capacity


def _is_full(app: Mapping[str, Any], where: Placement | None) -> bool:
    instances = app.get("instances")
    return (where is not None and isinstance(instances, int) and instances > 0
            and instances >= len(where.hosts))


def derived(app: Mapping[str, Any], hosts: Sequence[str]) -> dict[str, float]:
    """The strategy the rule gives ``app`` (without any deployment-file override)."""
    if _is_full(app, placement(app, hosts)):
        return {"minimumHealthCapacity": one_down_capacity(int(app["instances"])),
                "maximumOverCapacity": 0.0}
    return dict(DEFAULT)


def problem(app: Mapping[str, Any], hosts: Sequence[str], service: str) -> str | None:
    """One sentence when ``app``'s strategy cannot be satisfied by its placement, else None."""
    where = placement(app, hosts)
    if where is None or not _is_full(app, where):
        return None
    strategy = app.get("upgradeStrategy") or {}
    capacity = float(strategy.get("minimumHealthCapacity", 1.0))
    instances = int(app["instances"])
    agents = len(where.hosts)
    if math.ceil(min(instances, agents) * capacity) <= agents - 1:
        return None
    pins = ", ".join(" ".join(pin) for pin in where.pins)
    return (
        f"App {app.get('id', service)} (service {service}): upgradeStrategy "
        f"minimumHealthCapacity {capacity:g} keeps all {instances} instance(s) running "
        f"during a restart, so Marathon would first start an extra one, which the "
        f"constraints hostname UNIQUE and {pins} let none of its {agents} agent(s) take; "
        f"use at most {one_down_capacity(instances):.4g} or leave upgradeStrategy to the "
        "derived default (docs/upgrade.md)."
    )


def for_app(app: Mapping[str, Any], hosts: Sequence[str], service: str,
            override: Any = None) -> dict[str, Any]:
    """``app``'s upgradeStrategy: :func:`derived`, with the deployment file's ``override``
    (its ``app.upgradeStrategy`` mapping) on top; raise
    :class:`~kolla_mesos.errors.UpgradeStrategyError` when the placement cannot satisfy it."""
    if override is not None and not isinstance(override, Mapping):
        raise errors.UpgradeStrategyError([
            f"App {app.get('id', service)} (service {service}): app.upgradeStrategy must be "
            "a mapping of minimumHealthCapacity and maximumOverCapacity."
        ])
    strategy = {**derived(app, hosts), **dict(override or {})}
    sentence = problem({**app, "upgradeStrategy": strategy}, hosts, service)
    if sentence:
        raise errors.UpgradeStrategyError([sentence])
    return strategy
