"""When to send what: digests, rate limits and retry backoff (pure, so they can be tested exactly).

* A digest subscription collects notices for `digest_minutes` (aligned windows, so every
  notice of one window goes out together) and sends them as one message.
* Every subscription sends at most `max_per_hour` messages in any sliding hour. When more
  notices are due than the budget allows, the last message of the budget carries all the
  rest as a digest; with no budget left, they wait until the oldest send leaves the hour.
  Nothing is dropped: a flood becomes fewer, larger messages.
* A failed delivery is retried with exponential backoff (30 s, 1, 2, 4 … min, at most an
  hour) and given up after `MAX_ATTEMPTS`, when it is listed as dead with its error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MAX_ATTEMPTS", "Plan", "backoff", "digest_due", "plan"]

MAX_ATTEMPTS = 10
HOUR = 3600.0


def backoff(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failure (1-based)."""
    return float(min(HOUR, 30 * 2 ** max(0, attempts - 1)))


def digest_due(created: float, digest_minutes: int) -> float:
    """When a notice created at `created` is due: now, or the end of its digest window."""
    if digest_minutes <= 0:
        return created
    window = digest_minutes * 60
    return math.floor(created / window) * window + window


@dataclass(frozen=True)
class Plan:
    """Messages to send now (each a list of item ids), and items to postpone until `wait_until`."""

    messages: tuple[tuple[int, ...], ...]
    postponed: tuple[int, ...] = ()
    wait_until: float | None = None


def plan(
    items: Sequence[int], sent_at: Sequence[float], *, digest: bool, max_per_hour: int, now: float
) -> Plan:
    """Group due items (oldest first) into messages under the subscription's hourly budget."""
    if not items:
        return Plan(())
    recent = sorted(t for t in sent_at if now - HOUR < t <= now)
    budget = max_per_hour - len(recent)
    if budget <= 0:
        return Plan((), tuple(items), recent[0] + HOUR if recent else now + HOUR)
    if digest:
        return Plan((tuple(items),))
    if len(items) <= budget:
        return Plan(tuple((i,) for i in items))
    singles = tuple((i,) for i in items[: budget - 1])
    return Plan((*singles, tuple(items[budget - 1 :])))
