"""Marathon's launch queue for one app: what is left to launch and why offers did not fit.

Pure data: the scheduler records every launch round in a :class:`LaunchAttempt`, and
``GET /v2/queue`` serialises it with :func:`queue_item` in Marathon 1.10's shape
(``QueueResource``/``queue.raml``).  An attempt starts when an app first has instances left to
launch and ends when none are left; while it lasts, every offer (here: every agent looked at
in a placement round) is counted: ``rejectSummaryLastOffers`` is the funnel of the last round,
one offer per agent, and ``rejectSummaryLaunchAttempt`` adds up every round since the attempt
started.  The count is what the scheduler still wants to launch, so a task that a rolling
restart needs on top of the running ones (and that no agent can take) is queued too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mesos_sim.marathon.model import timestamp
from mesos_sim.placement import REASON_FUNNEL


@dataclass
class LaunchAttempt:
    """One app's launch attempt (see module doc)."""

    since: float
    #: Instances left to launch, as the last scheduler round decided.
    count: int = 0
    processed: int = 0
    unused: int = 0
    last_unused_at: float | None = None
    last_used_at: float | None = None
    #: Why the last round's launch failed: one sentence (``""`` = it did not fail).
    message: str = ""
    last_offers: list[dict[str, object]] = field(default_factory=list)
    #: Per agent host name, the reasons it declined in the last round.
    reasons: dict[str, list[str]] = field(default_factory=dict)
    #: Per funnel reason, ``[declined, processed]`` summed over the whole attempt.
    funnel: dict[str, list[int]] = field(default_factory=dict)

    def rejected(self, message: str, summary: Sequence[Mapping[str, object]],
                 reasons: Mapping[str, Sequence[str]], now: float) -> None:
        """A round in which no agent could take the task."""
        self.message = message
        self.last_offers = [dict(step) for step in summary]
        self.reasons = {host: list(why) for host, why in reasons.items()}
        offers = len(self.reasons)
        self.processed += offers
        self.unused += offers
        if offers:
            self.last_unused_at = now
        for step in summary:
            total = self.funnel.setdefault(str(step["reason"]), [0, 0])
            total[0] += int(str(step["declined"]))
            total[1] += int(str(step["processed"]))

    def launched(self, now: float) -> None:
        """An offer was used: one instance fewer to launch."""
        self.count = max(0, self.count - 1)
        self.processed += 1
        self.last_used_at = now
        self.message = ""

    def offers_summary(self) -> dict[str, Any]:
        """``processedOffersSummary``."""
        summary: dict[str, Any] = {
            "processedOffersCount": self.processed, "unusedOffersCount": self.unused,
            "rejectSummaryLastOffers": self.last_offers,
            "rejectSummaryLaunchAttempt": [
                {"reason": reason, "declined": self.funnel[reason][0],
                 "processed": self.funnel[reason][1]}
                for reason in REASON_FUNNEL if reason in self.funnel]}
        if self.last_unused_at is not None:
            summary["lastUnusedOfferAt"] = timestamp(self.last_unused_at)
        if self.last_used_at is not None:
            summary["lastUsedOfferAt"] = timestamp(self.last_used_at)
        return summary


def queue_item(app: dict[str, Any], attempt: LaunchAttempt, delay_until: float, now: float,
               embed_offers: bool) -> dict[str, Any]:
    """One ``/v2/queue`` entry (``app`` is the app's JSON as ``/v2/apps`` serves it)."""
    left = max(0.0, delay_until - now)
    item: dict[str, Any] = {
        "app": app, "count": attempt.count, "role": app.get("role", "*"),
        "delay": {"timeLeftSeconds": int(left + 0.999), "overdue": left <= 0},
        "since": timestamp(attempt.since),
        "processedOffersSummary": attempt.offers_summary()}
    if embed_offers:
        at = timestamp(attempt.last_unused_at if attempt.last_unused_at is not None else now)
        item["lastUnusedOffers"] = [
            {"offer": {"hostname": host}, "timestamp": at, "reason": why}
            for host, why in attempt.reasons.items()]
    return item
