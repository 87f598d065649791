"""Label each signature of a train snapshot: NEW, REGRESSED, FIXED, LOGSPAM, DEPRECATION, SINGLE_HOST.

Pure: a TrainSnapshot (detect/inputs.py) and a DetectionConfig in, a Classification
out. The method is domain.md §6; docs/detection.md explains it for deployers.

* NEW: unseen in older versions within the lookback, above the practical floor
  (>= 3 requests on >= 2 wikis or hosts) and significant: with x0 = 0 the exact
  p-value is the product over group windows of share_g ** x1_g (one window:
  §6's share ** x1).
* REGRESSED (§6 ELEVATED): a stratified exact-conditional test over the group
  windows, BH across every tested signature, and practical floors on RR_L and
  on the excess per hour.

Sparse counts: ``stats.stratified_test`` is a continuity-corrected normal test,
which is anti-conservative by orders of magnitude when a canary share is small
and counts are a handful (3 vs 1 at a 2% share: normal p 3e-18, exact 3e-5).
Rare old noise would then pass BH, so the p-value used here is the exact
tail of the sum of per-window binomials (by convolution up to 200 requests,
by the Lugannani-Rice saddle-point beyond; <= 7% relative error there), and
RR_L inverts that same test. With quasi-Poisson dispersion phi > 1 the larger
of that p and the MH z-test's p is kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from traintriage.detect import stats
from traintriage.detect.config import DetectionConfig
from traintriage.detect.inputs import GroupWindow, SignatureEvidence, StratumCounts, TrainSnapshot

__all__ = ["Classification", "Entry", "Exposure", "Label", "Readiness", "classify", "is_deprecation"]


class Label(StrEnum):
    """Per-signature labels; the values are also the list names of the JSON output."""

    NEW = "new"
    REGRESSED = "regressed"
    FIXED = "fixed"
    LOGSPAM = "logspam"
    DEPRECATION = "deprecation"
    SINGLE_HOST = "single_host"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Exposure:
    """Requests served by V (candidate) and by the baseline, over the windows a test used."""

    candidate: float | None
    baseline: float | None
    source: str  # "requests" | "estimated" | "none"


@dataclass(frozen=True)
class Entry:
    """One labelled signature and the evidence behind its labels (§6 'every decision returns')."""

    signature: str
    title: str
    channel: str
    level: str
    labels: tuple[Label, ...]
    critical: bool
    strata: tuple[StratumCounts, ...]
    events: int
    requests: int
    wikis: int
    hosts: int
    top_host: str | None
    top_host_share: float | None
    first_seen: float | None
    last_seen: float | None
    max_events_1h: int
    max_events_12h: int
    exposure: Exposure
    p: float | None
    q: float | None
    rr: float | None
    rr_lower: float | None
    excess: float | None
    method: str
    auto_significant: bool  # passes Bonferroni (auto_alpha / m): may force no-go on its own
    reason: str

    def has(self, label: Label) -> bool:
        return label in self.labels

    @property
    def flagged(self) -> bool:
        """NEW or REGRESSED: the labels that can block a train."""
        return self.has(Label.NEW) or self.has(Label.REGRESSED)

    @property
    def severity(self) -> int:
        """0 is the most severe; used for ordering only."""
        if self.has(Label.SINGLE_HOST) or self.has(Label.STOPPED):
            return 5
        if self.has(Label.DEPRECATION) and not self.has(Label.LOGSPAM):
            return 4
        if self.flagged and self.critical:
            return 0
        if self.has(Label.LOGSPAM):
            return 1
        if self.has(Label.NEW):
            return 2
        if self.has(Label.REGRESSED):
            return 3
        return 6  # FIXED


@dataclass(frozen=True)
class Readiness:
    """Snapshot-level INSUFFICIENT: has V run long enough, on enough traffic, to judge it?"""

    stage: str | None
    not_deployed: bool
    too_young: bool
    low_exposure: bool
    stage_age_minutes: float | None
    min_stage_minutes: float | None
    exposure_candidate: float | None  # requests served by V in its candidate windows (None = unknown)
    exposure_baseline: float | None
    exposure_source: str
    min_exposure_requests: int
    ready_in_minutes: float | None  # estimated wait until both minimums are met
    reasons: tuple[str, ...]

    @property
    def sufficient(self) -> bool:
        return not (self.not_deployed or self.too_young or self.low_exposure)


@dataclass(frozen=True)
class Classification:
    """Labelled entries, most severe first, plus the snapshot-level readiness."""

    entries: tuple[Entry, ...]
    readiness: Readiness
    tested: int  # m: signatures with a p-value (the BH and Bonferroni family)
    notes: tuple[str, ...] = ()

    def _view(self, label: Label, *, exclude: tuple[Label, ...] = ()) -> list[Entry]:
        return [e for e in self.entries if e.has(label) and not any(e.has(x) for x in exclude)]

    @property
    def new(self) -> list[Entry]:
        return self._view(Label.NEW, exclude=(Label.SINGLE_HOST, Label.DEPRECATION, Label.STOPPED))

    @property
    def regressed(self) -> list[Entry]:
        return self._view(Label.REGRESSED, exclude=(Label.SINGLE_HOST, Label.DEPRECATION, Label.STOPPED))

    @property
    def logspam(self) -> list[Entry]:
        return self._view(Label.LOGSPAM, exclude=(Label.SINGLE_HOST, Label.STOPPED))

    @property
    def deprecation(self) -> list[Entry]:
        return self._view(Label.DEPRECATION, exclude=(Label.SINGLE_HOST,))

    @property
    def single_host(self) -> list[Entry]:
        return self._view(Label.SINGLE_HOST)

    @property
    def fixed(self) -> list[Entry]:
        return self._view(Label.FIXED)

    @property
    def stopped(self) -> list[Entry]:
        """NEW/REGRESSED signatures that stopped occurring (a backport or config fix, most likely)."""
        return self._view(Label.STOPPED)


# --------------------------------------------------------------------------- #
# classify
# --------------------------------------------------------------------------- #


def classify(snapshot: TrainSnapshot, config: DetectionConfig) -> Classification:
    """Label every signature of `snapshot`; unlabelled signatures are left out."""
    windows = {w.group: w for w in snapshot.windows}
    tests = [_test(sig, windows, snapshot.exposure_source, config) for sig in snapshot.signatures]
    family = [i for i, t in enumerate(tests) if t.p is not None]
    adjusted = stats.bh_adjusted([tests[i].p or 0.0 for i in family]) if family else []
    qvalues: dict[int, float] = dict(zip(family, adjusted, strict=True))
    m = len(family)
    entries = []
    for i, (sig, test) in enumerate(zip(snapshot.signatures, tests, strict=True)):
        entry = _label(sig, test, qvalues.get(i), m, config, _quiet_end(sig, windows, snapshot.at))
        if entry is not None:
            entries.append(entry)
    entries.sort(key=lambda e: (e.severity, -e.requests, e.signature))
    notes = _notes(snapshot, tests)
    return Classification(tuple(entries), _readiness(snapshot, config), m, notes)


def is_deprecation(sig: SignatureEvidence) -> bool:
    """PHP deprecations are level WARNING with 'Deprecated' in the message (domain.md §2.2 example 8)."""
    if sig.channel.lower() == "deprecated":
        return True
    return sig.level.upper() == "WARNING" and "deprecated" in sig.title.lower()


# --------------------------------------------------------------------------- #
# Per-signature test (before multiplicity)
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Pair:
    """One informative stratum: V's requests and exposure vs the baseline's, plus its window."""

    x1: int
    t1: float
    x0: int
    t0: float
    window: GroupWindow


@dataclass(frozen=True)
class _Test:
    """A signature's test before multiplicity control; p is None when it could not be tested."""

    seen_before: bool
    exposure: Exposure
    method: str
    expected_if_unchanged: float | None  # baseline rate x V's exposure (for FIXED)
    pairs: tuple[_Pair, ...] = ()
    p: float | None = None
    rr: float | None = None
    excess: float | None = None
    hours: float = 0.0


_UNTESTED_NO_EXPOSURE = "untested: no exposure"
_NO_EXPOSURE = Exposure(None, None, "none")


def _seen_before(sig: SignatureEvidence) -> bool:
    """Any trace in older versions: the lookback count, a baseline window or the previous version."""
    return (
        sig.older_events_in_lookback > 0
        or sig.previous_events > 0
        or sig.previous_requests > 0
        or any(s.baseline_events > 0 or s.baseline_requests > 0 for s in sig.strata)
    )


def _has_exposure(w: GroupWindow) -> bool:
    return bool(w.exposure_candidate) and bool(w.exposure_baseline)


def _pairs(sig: SignatureEvidence, windows: dict[str, GroupWindow]) -> tuple[_Pair, ...]:
    """Strata whose window has exposure on both sides; others cannot be tested and are skipped."""
    out = []
    for s in sig.strata:
        w = windows.get(s.group)
        if w is None or not _has_exposure(w):
            continue
        assert w.exposure_candidate is not None and w.exposure_baseline is not None
        out.append(
            _Pair(s.candidate_requests, w.exposure_candidate, s.baseline_requests, w.exposure_baseline, w)
        )
    return tuple(out)


def _exposure_of(pairs: Iterable[_Pair], source: str) -> Exposure:
    pairs = list(pairs)
    if not pairs:
        return _NO_EXPOSURE
    return Exposure(sum(p.t1 for p in pairs), sum(p.t0 for p in pairs), source)


def _test(
    sig: SignatureEvidence, windows: dict[str, GroupWindow], source: str, config: DetectionConfig
) -> _Test:
    pairs = _pairs(sig, windows)
    expected = _expected_if_unchanged(sig, pairs, windows)
    if not _seen_before(sig):
        return _test_unseen(sig, pairs, windows, source, expected)
    informative = tuple(p for p in pairs if p.x1 + p.x0 > 0)
    if not informative:
        method = _UNTESTED_NO_EXPOSURE if not pairs else "untested: no events in the tested windows"
        return _Test(True, _exposure_of(pairs, source), method, expected, pairs)
    if sum(p.x1 for p in informative) <= sum(p.x0 * p.t1 / p.t0 for p in informative):
        # No excess over the baseline rate: the one-sided p-value is at least about 1/2.
        # Setting it to 1 skips the exact tail and cannot change which hypotheses BH
        # rejects (a rejection needs some p_(j) <= q*j/m, far below 1/2).
        return _Test(
            True,
            _exposure_of(informative, source),
            "no excess over the baseline rate",
            expected,
            informative,
            p=1.0,
            rr=None,
            excess=0.0,
            hours=_union_hours(p.window for p in informative),
        )
    p, rr, excess, method = _stratified(informative, config.dispersion)
    return _Test(
        seen_before=True,
        exposure=_exposure_of(informative, source),
        method=method,
        expected_if_unchanged=expected,
        pairs=informative,
        p=p,
        rr=rr,
        excess=excess,
        hours=_union_hours(pair.window for pair in informative),
    )


def _test_unseen(
    sig: SignatureEvidence,
    pairs: tuple[_Pair, ...],
    windows: dict[str, GroupWindow],
    source: str,
    expected: float | None,
) -> _Test:
    """x0 = 0 everywhere: P(all n requests fall in V) = prod share_g ** x1_g, exactly."""
    if pairs:
        # Absent from older versions over the whole lookback, not just the baseline window:
        # the lookback exposure is the fair denominator when the snapshot has it.
        pairs = tuple(_Pair(p.x1, p.t1, p.x0, p.window.exposure_lookback or p.t0, p.window) for p in pairs)
        excess = sum(p.x1 * p.t0 / (p.t1 + p.t0) for p in pairs)
        return _Test(
            seen_before=False,
            exposure=_exposure_of(pairs, source),
            method="exact, x0 = 0 (product of window shares, older versions over the lookback)",
            expected_if_unchanged=expected,
            pairs=pairs,
            p=math.exp(sum(p.x1 * math.log(p.t1 / (p.t1 + p.t0)) for p in pairs if p.x1)),
            rr=_inf_if(excess),
            excess=excess,
            hours=_union_hours(p.window for p in pairs if p.x1),
        )
    exposed = [w for w in windows.values() if _has_exposure(w)]
    if sig.strata or not exposed:
        return _Test(False, _NO_EXPOSURE, "count floor only (exposure unknown)", expected)
    # No per-group counts at all: pool V's total against all exposure.
    t1 = sum(w.exposure_candidate or 0.0 for w in exposed)
    t0 = sum(w.exposure_baseline or 0.0 for w in exposed)
    share = t1 / (t1 + t0)
    return _Test(
        seen_before=False,
        exposure=Exposure(t1, t0, source),
        method="exact, x0 = 0 (pooled share, no per-group counts)",
        expected_if_unchanged=expected,
        p=share**sig.requests,
        rr=_inf_if(sig.requests),
        excess=sig.requests * (1 - share),
        hours=_union_hours(exposed),
    )


def _inf_if(x: float) -> float | None:
    return math.inf if x > 0 else None


def _expected_if_unchanged(
    sig: SignatureEvidence, pairs: tuple[_Pair, ...], windows: dict[str, GroupWindow]
) -> float | None:
    """Requests V would have had at the baseline rate: sum of x0 * t1 / t0 (for FIXED).

    Without exposure, window durations stand in for traffic (FIXED is informational).
    """
    if pairs:
        return sum(p.x0 * p.t1 / p.t0 for p in pairs)
    total = 0.0
    used = False
    for s in sig.strata:
        w = windows.get(s.group)
        if w is None:
            continue
        base = w.baseline_end - w.baseline_start
        if base > 0:
            total += s.baseline_requests * (w.candidate_end - w.candidate_start) / base
            used = True
    return total if used else None


def _union_hours(windows: Iterable[GroupWindow]) -> float:
    """Wall-clock hours covered by the candidate windows (they overlap: group0's lies in testwikis')."""
    total = 0.0
    reached = -math.inf  # end of the union so far
    for start, end in sorted((w.candidate_start, w.candidate_end) for w in windows):
        if end > reached:
            total += end - max(start, reached)
            reached = end
    return total / 3600.0


def _stratified(pairs: Sequence[_Pair], dispersion: float) -> tuple[float, float, float, str]:
    """(p, rr, excess, method) of the stratified one-sided test (see module docstring)."""
    strata = [stats.Stratum(p.x1, p.t1, p.x0, p.t0) for p in pairs]
    mh = stats.stratified_test(strata, dispersion)
    observed = sum(p.x1 for p in pairs)
    parts = [(p.x1 + p.x0, p.t1 / (p.t1 + p.t0), p.t0 / (p.t1 + p.t0)) for p in pairs]
    p_exact = _sum_binomial_sf(observed, parts)
    method = _tail_method(parts, observed)
    if dispersion > 1.0:
        p_value = max(p_exact, mh.p)
        method += f", or MH z-test with phi = {dispersion:g} if larger"
    else:
        p_value = p_exact
    rr = mh.rr_mh if len(pairs) > 1 else stats.rate_ratio(pairs[0].x1, pairs[0].t1, pairs[0].x0, pairs[0].t0)
    # Practical excess (§6 robustness 5): V's requests minus what the baseline's rate predicts
    # at V's exposure. (The conditional n*p0 expectation contains x1 itself and understates it.)
    excess = sum(p.x1 - p.x0 * p.t1 / p.t0 for p in pairs)
    return min(1.0, max(0.0, p_value)), rr, excess, method


def _rr_lower(pairs: Sequence[_Pair], alpha: float, dispersion: float) -> float:
    """Exact RR_L: the smallest common rate ratio psi the stratified test does not reject at alpha."""
    if len(pairs) == 1 and dispersion == 1.0:
        p = pairs[0]
        return stats.rate_ratio_lower(p.x1, p.t1, p.x0, p.t0, alpha)
    observed = sum(p.x1 for p in pairs)
    if observed == 0:
        return 0.0

    def p_at(psi: float) -> float:
        parts = [(p.x1 + p.x0, psi * p.t1 / (psi * p.t1 + p.t0), p.t0 / (psi * p.t1 + p.t0)) for p in pairs]
        value = _sum_binomial_sf(observed, parts)
        if dispersion > 1.0:
            value = max(value, _normal_sf(observed, parts, dispersion))
        return value

    return _invert_increasing(p_at, alpha)


def _invert_increasing(f: Callable[[float], float], target: float) -> float:
    """psi with f(psi) = target for f increasing from 0 to 1, to 1e-4 relative (bisection in log psi)."""
    lo, hi = 1.0, 1.0
    if f(1.0) <= target:
        while f(hi) <= target:
            lo, hi = hi, hi * 4.0
            if hi > 1e15:
                return math.inf
    else:
        while f(lo) > target:
            lo, hi = lo / 4.0, lo
            if lo < 1e-15:
                return 0.0
    while hi / lo > 1.0 + 1e-4:
        mid = math.sqrt(lo * hi)
        if f(mid) <= target:
            lo = mid
        else:
            hi = mid
    return lo


# --------------------------------------------------------------------------- #
# Labels
# --------------------------------------------------------------------------- #


def _label(
    sig: SignatureEvidence, test: _Test, q: float | None, m: int, config: DetectionConfig, at: float
) -> Entry | None:
    critical = config.is_critical(sig.channel)
    labels: list[Label] = []
    reasons: list[str] = []
    rr_lower: float | None = None
    if not test.seen_before:
        ok, why = _is_new(sig, test, config)
        if ok:
            labels.append(Label.NEW)
            rr_lower = _new_rr_lower(test, config)
        reasons.append(why)
    elif test.p is not None and q is not None:
        ok, why, rr_lower = _is_regressed(test, q, critical, config)
        if ok:
            labels.append(Label.REGRESSED)
        reasons.append(why)
    if labels:
        labels, extra = _secondary_labels(sig, labels, config, at)
        reasons.extend(extra)
    elif _is_fixed(sig, test, config):
        labels.append(Label.FIXED)
        reasons = [f"fixed: baseline rate predicts {test.expected_if_unchanged:.0f} requests in V, seen 0"]
        rr_lower = 0.0
    if not labels:
        return None
    auto = test.p is not None and m > 0 and stats.is_significant(test.p, config.auto_alpha / m)
    return _entry(sig, test, tuple(labels), critical, q, rr_lower, auto, "; ".join(reasons))


def _is_new(sig: SignatureEvidence, test: _Test, config: DetectionConfig) -> tuple[bool, str]:
    spread = max(sig.wikis, sig.hosts)
    floor = f"{sig.requests} requests on {sig.wikis} wikis / {sig.hosts} hosts"
    history = f"none in older versions within {config.lookback_days:g} days"
    if sig.requests < config.min_requests or spread < config.min_spread:
        return (
            False,
            f"below the NEW floor ({floor}; needs >= {config.min_requests} on >= {config.min_spread})",
        )
    if test.p is None:
        return True, f"new: {floor}, {history}; exposure unknown, so NEW on the count floor only (no p-value)"
    if not stats.is_significant(test.p, config.new_alpha):
        return False, f"unseen before but not significant: p = {test.p:.2g} >= {config.new_alpha:g} ({floor})"
    share = _share(test.exposure)
    return (
        True,
        f"new: {floor}, {history}; p = {test.p:.2g} < {config.new_alpha:g} (V's exposure share {share})",
    )


def _share(exposure: Exposure) -> str:
    if exposure.candidate is None or exposure.baseline is None:
        return "unknown"
    return f"{exposure.candidate / (exposure.candidate + exposure.baseline):.1%}"


def _new_rr_lower(test: _Test, config: DetectionConfig) -> float | None:
    x1 = sum(p.x1 for p in test.pairs)
    if test.exposure.candidate is None or test.exposure.baseline is None or x1 == 0:
        return None
    return stats.rate_ratio_lower(x1, test.exposure.candidate, 0, test.exposure.baseline, config.rr_alpha)


def _is_regressed(
    test: _Test, q: float, critical: bool, config: DetectionConfig
) -> tuple[bool, str, float | None]:
    """BH q, then practical significance: excess per hour and RR_L (critical channels: lower floor)."""
    assert test.p is not None and test.excess is not None
    per_hour = config.min_excess_per_hour_critical if critical else config.min_excess_per_hour
    need_excess = per_hour * max(1.0, test.hours)
    need_rr = config.rr_lower_min_critical if critical else config.rr_lower_min
    head = f"p = {test.p:.2g}, q = {q:.2g}"
    if q > config.fdr_q:
        return False, f"not significant after BH: {head} > {config.fdr_q:g}", None
    if test.excess < need_excess:
        return (
            False,
            f"{head} but excess {test.excess:.1f} < {need_excess:.1f} requests ({test.hours:.1f} h)",
            None,
        )
    rr_lower = _rr_lower(test.pairs, config.rr_alpha, config.dispersion)
    if rr_lower < need_rr:
        return False, f"{head} but RR_L {rr_lower:.2f} < {need_rr:g}", rr_lower
    rr = "inf" if test.rr is None or math.isinf(test.rr) else f"{test.rr:.2f}"
    why = f"regressed: {head}; RR {rr}, RR_L {rr_lower:.2f} >= {need_rr:g}; excess {test.excess:.0f} requests in {test.hours:.1f} h"
    return True, why, rr_lower


def _secondary_labels(
    sig: SignatureEvidence, labels: list[Label], config: DetectionConfig, at: float
) -> tuple[list[Label], list[str]]:
    """LOGSPAM, DEPRECATION, SINGLE_HOST and STOPPED qualify a NEW or REGRESSED signature."""
    out = list(labels)
    reasons = []
    if sig.max_events_1h > config.logspam_per_hour or sig.max_events_12h > config.logspam_per_12h:
        out.append(Label.LOGSPAM)
        reasons.append(
            f"logspam: {sig.max_events_1h} events in its busiest hour, {sig.max_events_12h} in 12 h "
            f"(limits {config.logspam_per_hour}/h, {config.logspam_per_12h}/12 h)"
        )
    if is_deprecation(sig):
        out.append(Label.DEPRECATION)
        reasons.append("deprecation: blocks the following week's train, not this one")
    share = _top_host_share(sig)
    if (
        share is not None
        and sig.events >= config.single_host_min_events
        and share >= config.single_host_share
    ):
        out.append(Label.SINGLE_HOST)
        reasons.append(
            f"single-host spike, not deploy-related: {share:.0%} of {sig.events} events on {sig.top_host}"
        )
    quiet = _stopped(sig, config, at)
    if quiet is not None:
        out.append(Label.STOPPED)
        reasons.append(quiet)
    return out, reasons


def _quiet_end(sig: SignatureEvidence, windows: dict[str, GroupWindow], at: float) -> float:
    """Until when V kept running where this signature occurred: silence only counts until then.

    An error seen only on group2 is not "stopped" when group2 was rolled back to the
    previous version: it simply lost its traffic.
    """
    ends = [
        windows[s.group].candidate_end for s in sig.strata if s.candidate_requests > 0 and s.group in windows
    ]
    return min(at, max(ends)) if ends else at


def _stopped(sig: SignatureEvidence, config: DetectionConfig, at: float) -> str | None:
    """Has the error stopped (e.g. a backport landed)? Silence must be long and improbable.

    `at` is the end of the time V kept running where the signature occurred (_quiet_end).

    At its rate while active (requests per hour between first and last seen), the quiet
    time since would have produced `stopped_min_expected` requests; silence then has
    probability e^-expected under Poisson even if traffic dropped fourfold at night.
    """
    if sig.first_seen is None or sig.last_seen is None or sig.requests < config.min_requests:
        return None
    quiet_h = (at - sig.last_seen) / 3600
    active_h = max((sig.last_seen - sig.first_seen) / 3600, 1.0)
    expected = sig.requests * quiet_h / active_h
    if quiet_h < config.stopped_min_quiet_hours or expected < config.stopped_min_expected:
        return None
    return (
        f"stopped: none for {quiet_h:.1f} h where its rate ({sig.requests} requests in {active_h:.1f} h) "
        f"predicts {expected:.0f}; likely fixed (backport?) — not blocking, confirm with a review"
    )


def _top_host_share(sig: SignatureEvidence) -> float | None:
    return sig.top_host_events / sig.events if sig.events > 0 and sig.top_host_events > 0 else None


def _is_fixed(sig: SignatureEvidence, test: _Test, config: DetectionConfig) -> bool:
    expected = test.expected_if_unchanged
    return (
        test.seen_before
        and sig.events == 0
        and sig.requests == 0
        and expected is not None
        and expected >= config.fixed_min_expected
    )


def _entry(
    sig: SignatureEvidence,
    test: _Test,
    labels: tuple[Label, ...],
    critical: bool,
    q: float | None,
    rr_lower: float | None,
    auto: bool,
    reason: str,
) -> Entry:
    return Entry(
        signature=sig.signature,
        title=sig.title,
        channel=sig.channel,
        level=sig.level,
        labels=labels,
        critical=critical,
        strata=tuple(sig.strata),
        events=sig.events,
        requests=sig.requests,
        wikis=sig.wikis,
        hosts=sig.hosts,
        top_host=sig.top_host,
        top_host_share=_top_host_share(sig),
        first_seen=sig.first_seen,
        last_seen=sig.last_seen,
        max_events_1h=sig.max_events_1h,
        max_events_12h=sig.max_events_12h,
        exposure=test.exposure,
        p=test.p,
        q=q,
        rr=test.rr,
        rr_lower=rr_lower,
        excess=test.excess,
        method=test.method,
        auto_significant=auto,
        reason=reason,
    )


def _notes(snapshot: TrainSnapshot, tests: Sequence[_Test]) -> tuple[str, ...]:
    notes = []
    if snapshot.exposure_source == "estimated":
        notes.append("exposure is estimated from stable signatures, not imported request counts")
    untested = sum(1 for t in tests if t.seen_before and t.method == _UNTESTED_NO_EXPOSURE)
    if untested:
        notes.append(f"{untested} seen-before signatures could not be tested for regression: no exposure")
    floor_only = sum(1 for t in tests if not t.seen_before and t.p is None)
    if floor_only:
        notes.append(f"{floor_only} unseen signatures judged on the count floor only: no exposure")
    return tuple(notes)


# --------------------------------------------------------------------------- #
# Readiness (snapshot-level INSUFFICIENT)
# --------------------------------------------------------------------------- #


def _readiness(snapshot: TrainSnapshot, config: DetectionConfig) -> Readiness:
    stage = snapshot.stage
    known = [w for w in snapshot.windows if w.exposure_candidate is not None]
    all_known = bool(snapshot.windows) and len(known) == len(snapshot.windows)
    cand = sum(w.exposure_candidate or 0.0 for w in known) if known else None
    base_known = [w for w in snapshot.windows if w.exposure_baseline is not None]
    base = sum(w.exposure_baseline or 0.0 for w in base_known) if base_known else None
    reasons: list[str] = []
    not_deployed = stage is None
    if not_deployed:
        reasons.append(f"{snapshot.version} is not deployed at this time")
    window = next((w for w in snapshot.windows if w.group == stage), None)
    age = (snapshot.at - window.promoted_at) / 60.0 if window is not None else None
    need_minutes = config.stage_minutes(stage) if stage is not None else None
    too_young = False
    if stage is not None and need_minutes is not None:
        if age is None:
            too_young = True
            reasons.append(f"no comparison window for stage {stage}: its age is unknown")
        elif age < need_minutes:
            too_young = True
            reasons.append(f"{stage} has run V for {age:.0f} min, needs {need_minutes:g} min")
    # Estimated exposure is in relative units (stable signatures' requests): no absolute minimum applies.
    imported = snapshot.exposure_source == "requests"
    low = imported and cand is not None and all_known and cand < config.min_exposure_requests
    if low:
        reasons.append(f"V served {cand:,.0f} requests, needs {config.min_exposure_requests:,}")
    eta = (
        _ready_in(snapshot, age, need_minutes, cand if all_known and imported else None, config)
        if reasons and not not_deployed
        else None
    )
    return Readiness(
        stage=stage,
        not_deployed=not_deployed,
        too_young=too_young,
        low_exposure=low,
        stage_age_minutes=age,
        min_stage_minutes=need_minutes,
        exposure_candidate=cand,
        exposure_baseline=base,
        exposure_source=snapshot.exposure_source,
        min_exposure_requests=config.min_exposure_requests,
        ready_in_minutes=eta,
        reasons=tuple(reasons),
    )


def _ready_in(
    snapshot: TrainSnapshot,
    age: float | None,
    need_minutes: float | None,
    exposure: float | None,
    config: DetectionConfig,
) -> float | None:
    """Minutes until both minimums are met, at the current request rate of V's live windows."""
    wait = max(0.0, need_minutes - age) if need_minutes is not None and age is not None else None
    if exposure is not None and exposure < config.min_exposure_requests:
        rate = 0.0
        for w in snapshot.windows:
            minutes = (w.candidate_end - w.candidate_start) / 60.0
            if w.candidate_end >= snapshot.at and minutes > 0 and w.exposure_candidate:
                rate += w.exposure_candidate / minutes
        if rate <= 0.0:
            return None
        wait = max(wait or 0.0, (config.min_exposure_requests - exposure) / rate)
    return wait


# --------------------------------------------------------------------------- #
# Sum of independent binomials: the exact stratified tail (private statistics helpers)
# --------------------------------------------------------------------------- #

_Part = tuple[int, float, float]  # (n, p, q = 1 - p) of one stratum under H0
_EXACT_MAX_N = 200  # convolve exactly up to this many requests; saddle-point beyond


def _tail_method(parts: Sequence[_Part], observed: int) -> str:
    live = [pt for pt in parts if pt[0] > 0]
    if len(live) == 1:
        return "exact conditional binomial (one window)"
    total = sum(n for n, _, _ in live)
    if observed >= total or total <= _EXACT_MAX_N:
        return f"exact stratified ({len(live)} windows)"
    return f"stratified, saddle-point tail ({len(live)} windows)"


def _sum_binomial_sf(o: int, parts: Sequence[_Part]) -> float:
    """P(sum X_s >= o) for independent X_s ~ Binomial(n_s, p_s): the stratified exact p-value."""
    live = [pt for pt in parts if pt[0] > 0]
    total = sum(n for n, _, _ in live)
    if o <= 0:
        return 1.0
    if o > total:
        return 0.0
    if o == total:  # everything in V: prod p_s ** n_s
        return math.exp(sum(n * math.log(p) for n, p, _ in live))
    if len(live) == 1:
        n, p, _ = live[0]
        return stats.binom_sf(o, n, p)
    if total <= _EXACT_MAX_N:
        return _convolved_sf(o, live)
    return _saddlepoint_sf(o, live)


def _binomial_pmf(n: int, p: float, q: float) -> list[float]:
    lp, lq, lg = math.log(p), math.log(q), math.lgamma(n + 1)
    return [
        math.exp(lg - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lp + (n - k) * lq)
        for k in range(n + 1)
    ]


def _convolved_sf(o: int, parts: Sequence[_Part]) -> float:
    dist = [1.0]
    for n, p, q in parts:
        pmf = _binomial_pmf(n, p, q)
        out = [0.0] * (len(dist) + n)
        for i, a in enumerate(dist):
            if a:
                for j, b in enumerate(pmf):
                    out[i + j] += a * b
        dist = out
    return min(1.0, math.fsum(dist[o:]))


def _expit(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _logaddexp(a: float, b: float) -> float:
    hi = max(a, b)
    return hi + math.log1p(math.exp(-abs(a - b)))


def _saddlepoint_sf(o: int, parts: Sequence[_Part]) -> float:
    """Lugannani-Rice with Daniels' second continuity correction (k = o - 1/2)."""
    k = o - 0.5
    terms = [(n, math.log(p), math.log(q)) for n, p, q in parts]

    def k1(s: float) -> float:
        return sum(n * _expit(s + lp - lq) for n, lp, lq in terms)

    def k2(s: float) -> float:
        return sum(n * _expit(s + lp - lq) * _expit(-(s + lp - lq)) for n, lp, lq in terms)

    def cgf(s: float) -> float:
        return sum(n * _logaddexp(lq, lp + s) for n, lp, lq in terms)

    s = _solve_increasing(k1, k2, k)
    w = math.copysign(math.sqrt(max(0.0, 2.0 * (s * k - cgf(s)))), s)
    if abs(w) < 1e-4:  # at the mean the formula is 0/0: use the normal approximation
        return 0.5 * math.erfc((k - k1(0.0)) / math.sqrt(2.0 * k2(0.0)))
    u = 2.0 * math.sinh(s / 2.0) * math.sqrt(k2(s))
    density = math.exp(-0.5 * w * w) / math.sqrt(2.0 * math.pi)
    return min(1.0, max(0.0, 0.5 * math.erfc(w / math.sqrt(2.0)) + density * (1.0 / u - 1.0 / w)))


def _solve_increasing(f: Callable[[float], float], df: Callable[[float], float], target: float) -> float:
    """Safeguarded Newton for f(s) = target, f increasing (the CGF derivative)."""
    lo, hi = -1.0, 1.0
    while f(lo) > target:
        lo *= 2.0
    while f(hi) < target:
        hi *= 2.0
    s = 0.0
    for _ in range(200):
        err = f(s) - target
        if err > 0:
            hi = s
        else:
            lo = s
        slope = df(s)
        nxt = s - err / slope if slope > 0 else 0.5 * (lo + hi)
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        if abs(nxt - s) <= 1e-13 * max(1.0, abs(s)):
            return nxt
        s = nxt
    return s


def _normal_sf(o: int, parts: Sequence[_Part], dispersion: float) -> float:
    """The MH / Cochran continuity-corrected z-test (as stats.stratified_test) at given null shares."""
    expected = sum(n * p for n, p, _ in parts)
    variance = sum(n * p * q for n, p, q in parts)
    if variance <= 0.0:
        return 1.0
    z = (o - expected - 0.5) / math.sqrt(variance * dispersion)
    return 0.5 * math.erfc(z / math.sqrt(2.0))
