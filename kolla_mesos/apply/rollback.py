"""Return a deployment to an earlier generation: ZooKeeper's ``current`` and Marathon's apps.

:func:`restore` is the one rollback: the health gate of a failed deploy and the operator's
``kolla-mesos rollback`` both run it (the steps are decided in
:func:`kolla_mesos.plan.steps.restore_steps`).  One-shot jobs (database migrations) are not
undone: see docs/upgrade.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kolla_mesos import errors
from kolla_mesos.apply.clients import Clients
from kolla_mesos.apply.execute import Executor
from kolla_mesos.apply.progress import Progress
from kolla_mesos.plan import steps as st


@dataclasses.dataclass(frozen=True)
class RollbackResult:
    """What a rollback did."""

    from_generation: int | None
    to_generation: int
    apps: int
    cancelled: tuple[str, ...]


def restore(clients: Clients, group_id: str, manifest: Mapping[str, Any] | None, to: int,
            current: int | None, progress: Progress, timeout: float,
            restore_apps: bool = True) -> RollbackResult:
    """Switch ``current`` to ``to`` and put that generation's Marathon group back.

    The caller holds the deploy lock.  In-flight Marathon deployments of the group are
    cancelled first, and the function returns only when Marathon has none left for it.
    """
    executor = Executor(clients, progress, timeout)
    outcome = executor.run(st.restore_steps(group_id, manifest, to, current, restore_apps))
    group = manifest.get("group") if manifest is not None else None
    apps = len(group.get("apps", [])) if isinstance(group, Mapping) and restore_apps else 0
    return RollbackResult(current, to, apps, tuple(outcome.cancelled))


def rollback(clients: Clients, group_id: str, to: int | None, timeout: float,
             progress: Progress | None = None) -> RollbackResult | None:
    """The operator's rollback: to ``to`` (default: the generation before current).

    Returns None when there is no earlier generation.
    """
    store = clients.store
    with store.deploy_lock():
        current = store.current_generation()
        generations = store.list_generations()
        try:
            target = st.rollback_target(current, generations, to)
        except ValueError:
            raise errors.ConfigError(
                f"Generation {to} does not exist (available: "
                f"{', '.join(map(str, generations)) or 'none'})."
            ) from None
        if target is None:
            return None
        manifest = store.read_manifest(target)
        return restore(clients, group_id, manifest, target, current,
                       progress or Progress(enabled=False), timeout)
