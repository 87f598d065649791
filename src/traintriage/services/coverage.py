"""Triage coverage: what each train flagged before its promotions, and who reviewed it in time.

The rules (who counts as covered, time to first review) are pure (triage/reviews.py);
this use case replays the decision at each promotion deadline to know what was flagged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from traintriage.core.versions import version_key
from traintriage.detect.config import DetectionConfig
from traintriage.services.status import train_status
from traintriage.services.train import load_train
from traintriage.store.db import Store
from traintriage.store.reviews import review_history
from traintriage.store.snapshot import TrainContext
from traintriage.triage.reviews import CoverageRow, FlaggedSignature, ReviewRecord, TrainFlags, coverage


def train_flags(
    store: Store,
    version: str,
    *,
    context: TrainContext | None = None,
    config: DetectionConfig | None = None,
) -> TrainFlags:
    """What `version` flagged just before each of its promotions (and the next train's first).

    Each signature gets the deadline of the first checkpoint that flagged it. Flagged
    means listed under new, regressed or logspam (the lists that can block).
    """
    ctx = context or load_train(store)
    times = sorted({p.at.timestamp() for p in ctx.timeline.promotions(version)})
    if not times:
        return TrainFlags(version)
    deadlines = times[1:]
    follow = _next_train_start(ctx, version)
    if follow is not None and follow > times[-1]:
        deadlines.append(follow)
    found: dict[str, FlaggedSignature] = {}
    for deadline in deadlines:
        decision = train_status(store, version, deadline - 1, config, reviews={}, context=ctx)
        c = decision.classification
        for e in (*c.new, *c.regressed, *c.logspam):
            if e.signature not in found:
                found[e.signature] = FlaggedSignature(e.signature, e.first_seen, deadline)
    return TrainFlags(version, tuple(found.values()), tuple(deadlines))


def _next_train_start(ctx: TrainContext, version: str) -> float | None:
    """First promotion of the next newer version: when the train moved on."""
    newer = sorted(
        (v for v in ctx.timeline.versions() if version_key(v) > version_key(version)), key=version_key
    )
    for v in newer:
        promotions = ctx.timeline.promotions(v)
        if promotions:
            return min(p.at.timestamp() for p in promotions)
    return None


def coverage_report(
    store: Store,
    version: str | None = None,
    *,
    owner_of: Callable[[str], str | None] | None = None,
    config: DetectionConfig | None = None,
) -> list[CoverageRow]:
    """Triage coverage of one train (or every train in the timeline) per team.

    `owner_of` maps a signature to its team (default: everyone "unowned").
    """
    ctx = load_train(store)
    versions = [version] if version else ctx.timeline.versions()
    flags = [train_flags(store, v, context=ctx, config=config) for v in versions]
    ids = sorted({f.signature for t in flags for f in t.flagged})
    history: Mapping[str, list[ReviewRecord]] = review_history(store, ids) if ids else {}
    return coverage(flags, history, owner_of, version_key)
