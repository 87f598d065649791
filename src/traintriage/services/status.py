"""Train status and the stage gate: the library calls behind the CLI, the API and the pages.

`train_status` = stored counts -> snapshot (store/snapshot.py) -> classify -> decide.
`gate` adds scap's absolute error-count net over the last window to that decision.
`suggest_threshold` reproduces `scap analyze-logstash`: mean + 3σ of windowed counts
after dropping outliers above 3σ.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from traintriage.core.errors import InvalidInput
from traintriage.core.vocabulary import CANARY_STAGES, STAGES
from traintriage.detect.classify import Entry, classify
from traintriage.detect.config import DetectionConfig
from traintriage.detect.decision import Decision, Review, decide, gate_exit_code, top_offenders
from traintriage.services.blockers import blocker_evidence
from traintriage.services.ownership import with_owners
from traintriage.services.train import load_train
from traintriage.store.db import Store
from traintriage.store.reviews import load_effective_reviews
from traintriage.store.snapshot import TrainContext, train_snapshot, window_errors, windowed_history
from traintriage.triage.owners import OwnersFile


def train_status(
    store: Store,
    version: str,
    at: float,
    config: DetectionConfig | None = None,
    reviews: Mapping[str, Review] | None = None,
    context: TrainContext | None = None,
    owners: OwnersFile | None = None,
) -> Decision:
    """The verdict for `version` as of `at`, using only what was known then.

    `reviews` None loads the stored reviews made by `at` (docs/triage.md carry-over rule).
    With `owners` (loaded once by the caller) each listed signature carries its owner and
    the decision names the teams to ping (those owning what blocks or waits for triage).
    """
    config = config or DetectionConfig()
    snapshot = train_snapshot(
        store,
        version,
        at,
        lookback_seconds=config.lookback_days * 86400,
        baseline_seconds=config.baseline_hours * 3600,
        gate_window=config.gate_window_seconds,
        peak_min_events=config.peak_min_events,
        context=context or load_train(store),
    )
    classification = classify(snapshot, config)
    if reviews is None:  # the stored triage record, as it applies to this version at `at`
        reviews = load_effective_reviews(store, version, at, classification)
    # the cached view of the train's blocker task known at `at` (never a call to the tracker)
    decision = decide(snapshot, classification, config, reviews, blocker_evidence(store, version, at))
    return with_owners(store, decision, owners) if owners is not None else decision


@dataclass
class GateResult:
    """What `traintriage gate` prints and exits with."""

    version: str
    stage: str
    at: float
    window: float
    window_errors: int
    threshold: int
    exit_code: int
    verdict: str
    reason: str
    decision: Decision | None
    offenders: list[Entry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "stage": self.stage,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "window_seconds": self.window,
            "window_errors": self.window_errors,
            "threshold": self.threshold,
            "decision": self.decision.to_dict() if self.decision else None,
            "top_offenders": [
                {
                    "signature": e.signature,
                    "title": e.title,
                    "requests": e.requests,
                    "events": e.events,
                    "labels": [str(lbl) for lbl in e.labels],
                }
                for e in self.offenders
            ],
        }


def gate(
    store: Store,
    version: str,
    stage: str,
    at: float,
    window: float,
    config: DetectionConfig | None = None,
    threshold: int | None = None,
    reviews: Mapping[str, Review] | None = None,
    owners: OwnersFile | None = None,
) -> GateResult:
    """May `version` be (or stay) at `stage`? Exit 0 go, 1 no-go, 2 inconclusive."""
    if stage not in STAGES:
        raise InvalidInput(f"unknown stage {stage!r} (one of {', '.join(STAGES)})")
    config = config or DetectionConfig()
    limit = (
        threshold
        if threshold is not None
        else (config.canary_threshold if stage in CANARY_STAGES else config.production_threshold)
    )
    errors = window_errors(store, version, at, window)
    decision = train_status(store, version, at, config, reviews, owners=owners)

    def result(code: int, verdict: str, reason: str, offenders: list[Entry]) -> GateResult:
        return GateResult(
            version, stage, at, window, errors, limit, code, verdict, reason, decision, offenders
        )

    if errors >= limit:
        reason = f"{errors} errors in the last {window:g}s ≥ threshold {limit} (scap-style absolute check)"
        return result(1, "no-go", reason, top_offenders(decision, 5))
    if decision.stage is None and stage == STAGES[0]:
        return result(0, "go", f"{version} is not deployed yet; nothing to check before {stage}", [])
    rule = next((r for r in decision.rules if r.id == decision.rule), None)
    reason = f"{decision.verdict}: {rule.description if rule else decision.rule}"
    if rule and rule.detail:
        reason += f" — {rule.detail}"
    return result(gate_exit_code(decision), decision.verdict, reason, top_offenders(decision, 5))


@dataclass(frozen=True)
class ThresholdSuggestion:
    window: float
    windows: int
    mean: float
    stdev: float
    outliers_removed: int
    threshold: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_seconds": self.window,
            "windows": self.windows,
            "mean": round(self.mean, 3),
            "stdev": round(self.stdev, 3),
            "outliers_removed": self.outliers_removed,
            "threshold": self.threshold,
        }


def suggest_threshold(store: Store, window: float, since: float | None = None) -> ThresholdSuggestion | None:
    """ceil(mean + 3σ) of error counts per window, outliers above mean + 3σ removed first."""
    counts = windowed_history(store, window, since)
    if len(counts) < 2:
        return None
    mean, sd = statistics.fmean(counts), statistics.pstdev(counts)
    kept = [c for c in counts if c <= mean + 3 * sd]
    removed = len(counts) - len(kept)
    if len(kept) >= 2:
        mean, sd = statistics.fmean(kept), statistics.pstdev(kept)
    return ThresholdSuggestion(window, len(counts), mean, sd, removed, max(1, math.ceil(mean + 3 * sd)))


def load_context(store: Store) -> TrainContext:
    """Timeline and membership, loaded once for several evaluations (replays)."""
    return load_train(store)
