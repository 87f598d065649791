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

from traintriage.core.errors import InvalidInput, NotFound
from traintriage.core.validate import version_problem
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
from traintriage.store.trains import events_have_version
from traintriage.triage.owners import OwnersFile


def require_known_version(store: Store, version: str, context: TrainContext) -> None:
    """Refuse a version the store has never heard of: InvalidInput when it is not a version
    name at all (empty, blank, 10k characters), NotFound when no train has it.

    Known means on the deployment timeline; a store without any deploy step knows the
    versions of its events. Without this check a typo'd version was answered "go" by the
    gate (nothing deployed, nothing to check) and an empty train status (issue 8).
    """
    problem = version_problem(version)
    if problem is not None:
        raise InvalidInput(problem)
    deployed = context.timeline.versions()
    if deployed:
        if version not in deployed:
            raise NotFound(
                f"no train {version!r}: not on the deployment timeline (newest: {', '.join(deployed[:3])})"
            )
    elif not events_have_version(store, version):
        raise NotFound(f"no train {version!r}: no deploy step and no event has this version")


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
    context = context or load_train(store)
    require_known_version(store, version, context)
    snapshot = train_snapshot(
        store,
        version,
        at,
        lookback_seconds=config.lookback_days * 86400,
        baseline_seconds=config.baseline_hours * 3600,
        gate_window=config.gate_window_seconds,
        peak_min_events=config.peak_min_events,
        context=context,
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
    context: TrainContext | None = None,
) -> GateResult:
    """May `version` be (or stay) at `stage`? Exit 0 go, 1 no-go, 2 inconclusive.

    An unknown version is NotFound and a malformed one InvalidInput, never an answer.
    """
    if stage not in STAGES:
        raise InvalidInput(f"unknown stage {stage!r} (one of {', '.join(STAGES)})")
    context = context or load_train(store)
    require_known_version(store, version, context)
    config = config or DetectionConfig()
    limit = (
        threshold
        if threshold is not None
        else (config.canary_threshold if stage in CANARY_STAGES else config.production_threshold)
    )
    errors = window_errors(store, version, at, window)
    decision = train_status(store, version, at, config, reviews, context=context, owners=owners)

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
