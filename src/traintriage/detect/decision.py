"""The train-level verdict: may version V go to the next group? (domain.md §6 decision model)

Rules are evaluated in a fixed order, every one of them is recorded (fired or not,
with its evidence), and the first that fires decides:

1. ROLLBACK  aggregate error-request rate up, scap's absolute net breached, or a
             NEW/REGRESSED critical signature above the logspam rate;
2. NO-GO     a `blocker` review, an open subtask of the train's blocker task, or an
             unreviewed NEW/REGRESSED critical signature;
3. HOLD      logspam, or unreviewed non-critical NEW/REGRESSED signatures;
4. INCONCLUSIVE  not deployed, too early, or too little traffic;
5. GO.

Reviews come from triage (triage.py, docs/triage.md): not-blocker/known/expected/
duplicate-of/fixed-in stop a signature from blocking, needs-info keeps it blocking,
blocker forces no-go. Single-host spikes and deprecations never block (listed only),
unless a human says blocker.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

from traintriage.core.timeparse import iso
from traintriage.core.vocabulary import CLEARING_VERDICTS, STAGES, ReviewVerdict, TrainVerdict
from traintriage.detect import stats
from traintriage.detect.blockers import BlockerEvidence
from traintriage.detect.classify import Classification, Entry, Label
from traintriage.detect.config import DetectionConfig
from traintriage.detect.inputs import StratumCounts, TrainSnapshot

__all__ = [
    "RULES",
    "Decision",
    "Review",
    "RuleResult",
    "Verdict",
    "decide",
    "gate_exit_code",
    "top_offenders",
]

Verdict = TrainVerdict

_EXIT_CODES: Mapping[str, int] = {"go": 0, "no-go": 1, "hold": 1, "rollback": 1, "inconclusive": 2}


@dataclass(frozen=True)
class Review:
    """A human's triage verdict on one signature, as it applies to the version decided.

    Built by `triage.effective_reviews` from the stored record; `task` is the first of
    `tasks` (kept for callers that know one task only).
    """

    signature: str
    verdict: ReviewVerdict
    reviewer: str
    at: float
    task: str | None = None  # e.g. "T123456"
    tasks: tuple[str, ...] = ()
    note: str | None = None
    assignee: str | None = None
    target: str | None = None  # duplicate-of: a signature; fixed-in: a version or change
    version: str | None = None  # the version the verdict was given in (None: every version)
    muted: bool = False
    mute_until: float | None = None

    def __post_init__(self) -> None:
        if self.verdict not in get_args(ReviewVerdict):
            raise ValueError(f"review verdict must be one of {get_args(ReviewVerdict)}, got {self.verdict!r}")
        if self.task and self.task not in self.tasks:
            object.__setattr__(self, "tasks", (self.task, *self.tasks))
        elif self.task is None and self.tasks:
            object.__setattr__(self, "task", self.tasks[0])

    @property
    def clears(self) -> bool:
        """True when the signature no longer blocks (needs-info and blocker keep blocking)."""
        return self.verdict in CLEARING_VERDICTS

    def to_dict(self) -> dict[str, Any]:
        """`verdict`, `reviewer`, `at`, `task` always; the other keys only when set."""
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "reviewer": self.reviewer,
            "at": iso(self.at),
            "task": self.task,
        }
        if len(self.tasks) > 1:
            out["tasks"] = list(self.tasks)
        extras = {
            "note": self.note,
            "assignee": self.assignee,
            "target": self.target,
            "version": self.version,
        }
        out.update((k, v) for k, v in extras.items() if v is not None)
        if self.muted:
            out["muted"] = True
            if self.mute_until is not None:
                out["mute_until"] = iso(self.mute_until)
        return out


@dataclass(frozen=True)
class RuleResult:
    """One rule as checked: did it fire, and on what evidence."""

    id: str
    verdict: Verdict
    description: str
    fired: bool
    detail: str
    signatures: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "verdict": self.verdict,
            "description": self.description,
            "fired": self.fired,
            "detail": self.detail,
            "signatures": list(self.signatures),
        }


@dataclass(frozen=True)
class Decision:
    """The verdict, the rule that decided it, every rule checked, and the evidence."""

    version: str
    at: float
    stage: str | None
    next_stage: str | None
    verdict: Verdict
    rule: str
    rules: tuple[RuleResult, ...]
    classification: Classification
    reviews: Mapping[str, Review] = field(default_factory=dict)
    blocking: frozenset[str] = frozenset()  # signatures behind a non-go verdict's fired rules
    owners_to_ping: tuple[str, ...] = ()
    owners: Mapping[str, Mapping[str, Any]] = field(
        default_factory=dict
    )  # signature -> {team, project, matched}
    blocker: BlockerEvidence | None = None  # the cached blocker task view the decision used

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON of `train status --json` (schema in docs/detection.md)."""
        c = self.classification
        return {
            "version": self.version,
            "at": iso(self.at),
            "stage": self.stage,
            "next_stage": self.next_stage,
            "verdict": self.verdict,
            "rule": self.rule,
            "rules": [r.to_dict() for r in self.rules],
            "new": [self._entry(e) for e in c.new],
            "regressed": [self._entry(e) for e in c.regressed],
            "logspam": [self._entry(e) for e in c.logspam],
            "fixed": [self._entry(e) for e in c.fixed],
            "deprecation": [self._entry(e) for e in c.deprecation],
            "single_host": [self._entry(e) for e in c.single_host],
            "stopped": [self._entry(e) for e in c.stopped],
            "exposure": _exposure_dict(c),
            "owners_to_ping": list(self.owners_to_ping),
            "blocker_task": self.blocker.to_dict(self.at) if self.blocker else None,
        }

    def _entry(self, e: Entry) -> dict[str, Any]:
        review = self.reviews.get(e.signature)
        return {
            "signature": e.signature,
            "title": e.title,
            "channel": e.channel,
            "level": e.level,
            "labels": [str(label) for label in e.labels],
            "critical": e.critical,
            "blocking": e.signature in self.blocking,
            "counts": {
                s.group: {
                    "candidate_events": s.candidate_events,
                    "candidate_requests": s.candidate_requests,
                    "baseline_events": s.baseline_events,
                    "baseline_requests": s.baseline_requests,
                }
                for s in sorted(e.strata, key=_stage_order)
            },
            "events": e.events,
            "requests": e.requests,
            "wikis": e.wikis,
            "hosts": e.hosts,
            "top_host": e.top_host,
            "top_host_share": _num(e.top_host_share),
            "first_seen": iso(e.first_seen) if e.first_seen is not None else None,
            "last_seen": iso(e.last_seen) if e.last_seen is not None else None,
            "max_events_1h": e.max_events_1h,
            "max_events_12h": e.max_events_12h,
            "exposure": {
                "candidate": _num(e.exposure.candidate),
                "baseline": _num(e.exposure.baseline),
                "source": e.exposure.source,
            },
            "p": _num(e.p),
            "q": _num(e.q),
            "rr": _num(e.rr),
            "rr_lower": _num(e.rr_lower),
            "excess": _num(e.excess),
            "method": e.method,
            "reason": e.reason,
            "owner": dict(self.owners[e.signature]) if e.signature in self.owners else None,
            "review": review.to_dict() if review is not None else None,
        }


def _stage_order(s: StratumCounts) -> tuple[int, str]:
    return (STAGES.index(s.group) if s.group in STAGES else len(STAGES), s.group)


def _num(x: float | None) -> float | None:
    """JSON has no infinity: non-finite numbers become null (rr of a brand-new signature)."""
    return x if x is not None and math.isfinite(x) else None


def _exposure_dict(c: Classification) -> dict[str, Any]:
    r = c.readiness
    return {
        "source": r.exposure_source,
        "candidate_requests": _num(r.exposure_candidate),
        "baseline_requests": _num(r.exposure_baseline),
        "min_requests": r.min_exposure_requests,
        "stage_age_minutes": _num(r.stage_age_minutes),
        "min_stage_minutes": _num(r.min_stage_minutes),
        "sufficient": r.sufficient,
        "ready_in_minutes": _num(r.ready_in_minutes),
        "reasons": list(r.reasons),
        "tested_signatures": c.tested,
        "notes": list(c.notes),
    }


# --------------------------------------------------------------------------- #
# decide
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Context:
    snapshot: TrainSnapshot
    classification: Classification
    config: DetectionConfig
    reviews: Mapping[str, Review]
    blocker: BlockerEvidence | None = None

    def open_(self, entries: Sequence[Entry]) -> list[Entry]:
        """Entries without a review that clears them (needs-info counts as open)."""
        out = []
        for e in entries:
            review = self.reviews.get(e.signature)
            if review is None or not review.clears:
                out.append(e)
        return out

    def unreviewed(self, entries: Sequence[Entry]) -> list[Entry]:
        """Open entries not already reviewed as blocker (those are counted by nogo.blocker-review)."""
        return [e for e in self.open_(entries) if _verdict_of(self.reviews, e) != "blocker"]


def _verdict_of(reviews: Mapping[str, Review], e: Entry) -> str | None:
    review = reviews.get(e.signature)
    return review.verdict if review is not None else None


_Rule = Callable[[_Context], RuleResult]


def decide(
    snapshot: TrainSnapshot,
    classification: Classification,
    config: DetectionConfig,
    reviews: Mapping[str, Review] | None = None,
    blocker: BlockerEvidence | None = None,
) -> Decision:
    """Check every rule in order; the first that fires gives the verdict (GO if none does).

    `blocker` is the cached view of the version's blocker task (None: not known); the
    decision never asks the task tracker itself.
    """
    ctx = _Context(snapshot, classification, config, dict(reviews or {}), blocker)
    results = [rule(ctx) for rule in RULES]
    fired = [r for r in results if r.fired]
    first = fired[0] if fired else _go(results)
    results.append(_go(results))
    blocking = frozenset(s for r in fired if r.verdict in ("rollback", "no-go", "hold") for s in r.signatures)
    return Decision(
        version=snapshot.version,
        at=snapshot.at,
        stage=snapshot.stage,
        next_stage=snapshot.next_stage,
        verdict=first.verdict,
        rule=first.id,
        rules=tuple(results),
        classification=classification,
        reviews=ctx.reviews,
        blocking=blocking,
        blocker=blocker,
    )


def _go(results: Sequence[RuleResult]) -> RuleResult:
    fired = not any(r.fired for r in results)
    detail = "no rule above fired" if fired else "not reached: a rule above fired"
    return RuleResult("go", "go", "GO: nothing blocks the next stage", fired, detail)


def gate_exit_code(decision: Decision) -> int:
    """Exit status of `traintriage gate`: 0 go, 1 no-go/hold/rollback, 2 inconclusive."""
    return _EXIT_CODES[decision.verdict]


def top_offenders(decision: Decision, n: int = 5) -> list[Entry]:
    """The n entries most worth a deployer's look: blocking ones first, then by severity.

    Like scap's 'top 5 errors' on a failed canary. FIXED entries are never offenders.
    """
    entries = [e for e in decision.classification.entries if e.labels != (Label.FIXED,)]
    ranked = sorted(
        entries, key=lambda e: (e.signature not in decision.blocking, e.severity, -e.requests, e.signature)
    )
    return ranked[: max(0, n)]


# --------------------------------------------------------------------------- #
# Rules, in evaluation order
# --------------------------------------------------------------------------- #


def _blockable(c: Classification, label: Label) -> list[Entry]:
    """NEW or REGRESSED entries that can block: not single-host, not deprecations."""
    return c.new if label is Label.NEW else c.regressed


def _ids(entries: Sequence[Entry]) -> tuple[str, ...]:
    return tuple(e.signature for e in entries)


def _describe(entries: Sequence[Entry], limit: int = 5) -> str:
    shown = [f"{e.signature} ({e.channel}: {e.title[:60]})" for e in entries[:limit]]
    more = f" and {len(entries) - limit} more" if len(entries) > limit else ""
    return ", ".join(shown) + more


def _rollback_aggregate(ctx: _Context) -> RuleResult:
    cfg, snap = ctx.config, ctx.snapshot
    rid, desc = (
        "rollback.aggregate-rate",
        f"ROLLBACK: all error requests of V vs baseline, RR_L >= {cfg.aggregate_rr_lower:g} with p < {cfg.aggregate_alpha:g}",
    )
    if snap.stage is None:
        return RuleResult(rid, "rollback", desc, False, "not deployed: nothing to roll back")
    exposed = [w for w in snap.windows if w.exposure_candidate and w.exposure_baseline]
    if not exposed:
        return RuleResult(rid, "rollback", desc, False, "not evaluated: exposure unknown")
    t1 = sum(w.exposure_candidate or 0.0 for w in exposed)
    t0 = sum(w.exposure_baseline or 0.0 for w in exposed)
    x1, x0, excluded = _aggregate_counts(ctx)
    result = stats.compare(x1, t1, x0, t0, cfg.rr_alpha)
    fired = result.rr_lower >= cfg.aggregate_rr_lower and result.p < cfg.aggregate_alpha
    detail = (
        f"V {x1} error requests in {t1:,.0f} requests vs baseline {x0} in {t0:,.0f}: "
        f"RR {_fmt(result.rr)}, RR_L {_fmt(result.rr_lower)}, p = {result.p:.2g}"
    )
    if excluded:
        detail += f" (without {len(excluded)} signatures judged by other rules, single-host or reviewed)"
    return RuleResult(rid, "rollback", desc, fired, detail)


def _aggregate_counts(ctx: _Context) -> tuple[int, int, tuple[str, ...]]:
    """The snapshot's aggregate minus every signature another rule already judges.

    The aggregate is the net for a *diffuse* increase that no single signature explains.
    Flagged signatures (NEW, REGRESSED, LOGSPAM, ...) have their own rules: a new warning
    spamming the log must give `hold`, not `rollback` through the back door of the
    aggregate; a one-host spike must not roll a train back; and a signature a human
    cleared should not keep the aggregate alarm on forever.
    """
    snap, cfg = ctx.snapshot, ctx.config
    x1, x0 = snap.aggregate_candidate_requests, snap.aggregate_baseline_requests
    aggregated = {c.lower() for c in cfg.aggregate_channels}
    excluded = []
    for e in ctx.classification.entries:
        if e.channel.lower() not in aggregated:
            continue
        review = ctx.reviews.get(e.signature)
        if e.flagged or e.has(Label.SINGLE_HOST) or (review is not None and review.clears):
            x1 -= e.requests
            x0 -= sum(s.baseline_requests for s in e.strata)
            excluded.append(e.signature)
    return max(0, x1), max(0, x0), tuple(excluded)


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else ("n/a" if math.isnan(x) else f"{x:.2f}")


def _rollback_net(ctx: _Context) -> RuleResult:
    cfg, snap = ctx.config, ctx.snapshot
    threshold = cfg.window_threshold(snap.stage)
    kind = "canary" if threshold == cfg.canary_threshold else "production"
    desc = (
        f"ROLLBACK: scap's absolute net, >= {cfg.canary_threshold} errors per {cfg.gate_window_seconds} s "
        f"on testwikis/group0, >= {cfg.production_threshold} after"
    )
    if snap.stage is None:
        return RuleResult(
            "rollback.absolute-net", "rollback", desc, False, "not deployed: nothing to roll back"
        )
    fired = snap.max_window_events >= threshold
    detail = f"busiest {cfg.gate_window_seconds} s window: {snap.max_window_events} errors ({kind} threshold {threshold})"
    return RuleResult("rollback.absolute-net", "rollback", desc, fired, detail)


def _rollback_critical_rate(ctx: _Context) -> RuleResult:
    cfg, c = ctx.config, ctx.classification
    desc = f"ROLLBACK: a NEW/REGRESSED critical signature above {cfg.rollback_fatal_per_hour} events/h"
    if ctx.snapshot.stage is None:
        return RuleResult(
            "rollback.critical-rate", "rollback", desc, False, "not deployed: nothing to roll back"
        )
    hot = [
        e
        for e in ctx.open_(c.new + c.regressed)
        if e.critical and e.max_events_1h > cfg.rollback_fatal_per_hour
    ]
    detail = (
        "; ".join(f"{e.signature} ({e.channel}) {e.max_events_1h} events in its busiest hour" for e in hot)
        or "none"
    )
    return RuleResult("rollback.critical-rate", "rollback", desc, bool(hot), detail, _ids(hot))


def _nogo_blocker_review(ctx: _Context) -> RuleResult:
    blockers = sorted(r.signature for r in ctx.reviews.values() if r.verdict == "blocker")
    desc = "NO-GO: a signature reviewed as blocker (re-review it, e.g. as fixed-in, to release)"
    detail = ", ".join(_review_note(ctx.reviews[s]) for s in blockers)
    return RuleResult("nogo.blocker-review", "no-go", desc, bool(blockers), detail or "none", tuple(blockers))


def _review_note(r: Review) -> str:
    task = f", {r.task}" if r.task else ""
    return f"{r.signature} (by {r.reviewer}{task})"


def _nogo_open_blocker_task(ctx: _Context) -> RuleResult:
    """An open subtask of the version's `<version> deployment blockers` task blocks the train."""
    desc = "NO-GO: the train's blocker task has an open subtask"
    rid = "nogo.open-blocker-task"
    ev = ctx.blocker
    if ev is None or ev.task is None:
        why = ev.error if ev is not None and ev.error else "not fetched"
        return RuleResult(
            rid, "no-go", desc, False, f"no blocker task known for {ctx.snapshot.version} ({why})"
        )
    open_ = ev.open_subtasks
    shown = "; ".join(f"{t.id} {t.title[:60]} [{t.status}]" for t in open_[:5])
    more = f" and {len(open_) - 5} more" if len(open_) > 5 else ""
    head = f"{ev.task.id} ({ev.task.status}): "
    body = (
        f"{len(open_)} open of {len(ev.subtasks)} subtasks: {shown}{more}"
        if open_
        else (f"no open subtask ({len(ev.subtasks)} closed)")
    )
    detail = head + body + "; " + _freshness(ev, ctx.snapshot.at)
    sigs = tuple(sorted({s for t in open_ for s in t.signatures}))
    return RuleResult(rid, "no-go", desc, bool(open_), detail, sigs)


def _freshness(ev: BlockerEvidence, at: float) -> str:
    age = ev.age(at)
    if age is None:
        return "never fetched"
    seen = ev.checked_at if ev.checked_at is not None else ev.fetched_at
    text = f"tracker checked {iso(seen or 0.0)}, {_duration(age)} before this decision"
    return text + (f"; last refresh failed: {ev.error}" if ev.error else "")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _nogo_critical_new(ctx: _Context) -> RuleResult:
    found = [e for e in ctx.unreviewed(_blockable(ctx.classification, Label.NEW)) if e.critical]
    desc = "NO-GO: a NEW signature in a critical channel (fatal, exception) is not reviewed"
    return RuleResult(
        "nogo.unreviewed-critical-new", "no-go", desc, bool(found), _describe(found) or "none", _ids(found)
    )


def _nogo_critical_regressed(ctx: _Context) -> RuleResult:
    m = ctx.classification.tested
    found = [
        e
        for e in ctx.unreviewed(_blockable(ctx.classification, Label.REGRESSED))
        if e.critical and e.auto_significant
    ]
    desc = (
        "NO-GO: a REGRESSED signature in a critical channel is not reviewed and passes Bonferroni "
        f"(p <= {ctx.config.auto_alpha:g}/{m})"
    )
    return RuleResult(
        "nogo.unreviewed-critical-regressed",
        "no-go",
        desc,
        bool(found),
        _describe(found) or "none",
        _ids(found),
    )


def _hold_new(ctx: _Context) -> RuleResult:
    found = [e for e in ctx.unreviewed(_blockable(ctx.classification, Label.NEW)) if not e.critical]
    desc = "HOLD: NEW signatures in non-critical channels need triage"
    return RuleResult(
        "hold.unreviewed-new", "hold", desc, bool(found), _describe(found) or "none", _ids(found)
    )


def _hold_regressed(ctx: _Context) -> RuleResult:
    found = [
        e
        for e in ctx.unreviewed(_blockable(ctx.classification, Label.REGRESSED))
        if not (e.critical and e.auto_significant)
    ]
    desc = "HOLD: REGRESSED signatures need triage (non-critical, or critical below the Bonferroni bar)"
    return RuleResult(
        "hold.unreviewed-regressed", "hold", desc, bool(found), _describe(found) or "none", _ids(found)
    )


def _hold_logspam(ctx: _Context) -> RuleResult:
    cfg = ctx.config
    found = ctx.unreviewed(ctx.classification.logspam)
    desc = f"HOLD: logspam, a NEW/REGRESSED signature over {cfg.logspam_per_hour}/h or {cfg.logspam_per_12h}/12 h"
    detail = (
        "; ".join(f"{e.signature}: {e.max_events_1h}/h, {e.max_events_12h}/12 h" for e in found) or "none"
    )
    return RuleResult("hold.logspam", "hold", desc, bool(found), detail, _ids(found))


def _inconclusive_not_deployed(ctx: _Context) -> RuleResult:
    snap = ctx.snapshot
    desc = "INCONCLUSIVE: V is not deployed to any group"
    detail = (
        "rolled back" if snap.rolled_back else ("not deployed" if snap.stage is None else f"on {snap.stage}")
    )
    return RuleResult("inconclusive.not-deployed", "inconclusive", desc, snap.stage is None, detail)


def _inconclusive_too_early(ctx: _Context) -> RuleResult:
    r = ctx.classification.readiness
    desc = "INCONCLUSIVE: the stage has not run V for its minimum time"
    if r.stage_age_minutes is None:
        detail = "stage age unknown" if r.stage is not None else "not deployed"
    else:
        detail = f"{r.stage} age {r.stage_age_minutes:.0f} min, minimum {r.min_stage_minutes:g} min"
    return RuleResult(
        "inconclusive.too-early", "inconclusive", desc, r.too_young, _with_eta(detail, r.ready_in_minutes)
    )


def _inconclusive_low_exposure(ctx: _Context) -> RuleResult:
    r = ctx.classification.readiness
    desc = f"INCONCLUSIVE: V has served fewer than {r.min_exposure_requests:,} requests"
    if r.exposure_candidate is None:
        detail = "exposure unknown: not checked"
    elif r.exposure_source != "requests":
        detail = (
            f"exposure is {r.exposure_source} (relative units): the minimum applies to imported requests only"
        )
    else:
        detail = f"V served {r.exposure_candidate:,.0f} requests ({r.exposure_source})"
    return RuleResult(
        "inconclusive.low-exposure",
        "inconclusive",
        desc,
        r.low_exposure,
        _with_eta(detail, r.ready_in_minutes),
    )


def _with_eta(detail: str, eta: float | None) -> str:
    return detail if eta is None else f"{detail}; ready in about {math.ceil(eta)} min"


RULES: tuple[_Rule, ...] = (
    _rollback_aggregate,
    _rollback_net,
    _rollback_critical_rate,
    _nogo_blocker_review,
    _nogo_open_blocker_task,
    _nogo_critical_new,
    _nogo_critical_regressed,
    _hold_logspam,
    _hold_new,
    _hold_regressed,
    _inconclusive_not_deployed,
    _inconclusive_too_early,
    _inconclusive_low_exposure,
)
"""Evaluation order of §6; `go` is appended when none fires."""
