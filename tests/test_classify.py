"""Per-signature labels (detect/classify.py) on hand-built snapshots: pure and fast.

The §6 worked examples run through classify(); statistics are cross-checked with SciPy.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import replace

import pytest

from tests.helpers import LazyModule
from traintriage.detect import classify as classify_mod
from traintriage.detect.classify import Label, classify
from traintriage.detect.config import ConfigError, DetectionConfig
from traintriage.detect.inputs import GroupWindow, SignatureEvidence, StratumCounts, TrainSnapshot

np = LazyModule("numpy")
_stats = LazyModule("scipy.stats")

H = 3600.0
AT = 1_700_000_000.0  # 2023-11-14T22:13:20Z
CFG = DetectionConfig()


# --------------------------------------------------------------------------- #
# Builders (also used by test_decision.py)
# --------------------------------------------------------------------------- #


def window(
    group: str = "group0",
    *,
    hours: float = 4.0,
    candidate: float | None = 5e6,
    baseline: float | None = 5e6,
    at: float = AT,
) -> GroupWindow:
    """A self-controlled window: `hours` of V since promotion vs the same length before it."""
    promoted = at - hours * H
    base = min(hours, 24.0) * H
    return GroupWindow(
        group=group,
        promoted_at=promoted,
        candidate_start=promoted,
        candidate_end=at,
        baseline_start=promoted - base,
        baseline_end=promoted,
        baseline_version="1.41.0-wmf.1",
        exposure_candidate=candidate,
        exposure_baseline=baseline,
    )


def stratum(group: str = "group0", x1: int = 0, x0: int = 0) -> StratumCounts:
    """Counts of one group window; events = requests (one log line per request)."""
    return StratumCounts(
        group, candidate_events=x1, candidate_requests=x1, baseline_events=x0, baseline_requests=x0
    )


def sig(
    signature: str,
    strata: Sequence[StratumCounts] = (),
    *,
    channel: str = "exception",
    level: str = "ERROR",
    title: str | None = None,
    older: int | None = None,
    wikis: int = 3,
    hosts: int = 5,
    events: int | None = None,
    requests: int | None = None,
    top_host_events: int | None = None,
    max_1h: int | None = None,
    max_12h: int | None = None,
) -> SignatureEvidence:
    """A signature whose V totals default to the sum of its strata; seen before iff older > 0 or x0 > 0."""
    x1 = sum(s.candidate_requests for s in strata)
    x0 = sum(s.baseline_requests for s in strata)
    ev = x1 if events is None else events
    return SignatureEvidence(
        signature=signature,
        title=title or f"RuntimeException: failure {signature}",
        channel=channel,
        level=level,
        exc_class="RuntimeException" if channel == "exception" else None,
        kind="exception" if channel == "exception" else "message",
        strata=list(strata),
        events=ev,
        requests=x1 if requests is None else requests,
        wikis=wikis,
        hosts=hosts,
        top_host="mw1300" if ev else None,
        top_host_events=(ev + hosts - 1) // max(hosts, 1) if top_host_events is None else top_host_events,
        first_seen=AT - 2 * H if ev else None,
        last_seen=AT - 60 if ev else None,
        max_events_1h=min(ev, 20) if max_1h is None else max_1h,
        max_events_12h=min(ev, 200) if max_12h is None else max_12h,
        older_events_in_lookback=(x0 * 3 if older is None else older),
        older_versions_in_lookback=("1.41.0-wmf.1",) if (older or x0) else (),
        first_seen_any_version=AT - 5 * 24 * H if (older or x0) else AT - 2 * H,
    )


def snapshot(
    signatures: Sequence[SignatureEvidence],
    windows: Sequence[GroupWindow] | None = None,
    *,
    stage: str | None = "group0",
    next_stage: str | None = "group1",
    source: str = "requests",
    aggregate: tuple[int, int] = (0, 0),
    max_window_events: int = 0,
    rolled_back: bool = False,
) -> TrainSnapshot:
    return TrainSnapshot(
        version="1.41.0-wmf.2",
        at=AT,
        previous_version="1.41.0-wmf.1",
        stage=stage,
        next_stage=next_stage,
        rolled_back=rolled_back,
        windows=list(windows if windows is not None else [window()]),
        signatures=list(signatures),
        exposure_source=source,
        aggregate_candidate_requests=aggregate[0],
        aggregate_baseline_requests=aggregate[1],
        max_window_events=max_window_events,
    )


def by_id(snap: TrainSnapshot, config: DetectionConfig = CFG) -> dict[str, classify_mod.Entry]:
    return {e.signature: e for e in classify(snap, config).entries}


# --------------------------------------------------------------------------- #
# NEW
# --------------------------------------------------------------------------- #


def test_worked_example_4_vs_0_on_2m_vs_98m_requests_is_new() -> None:
    """§6: group0-like, 4 vs 0, 2M vs 98M requests: p = 0.02**4 = 1.6e-7, RR_L = 22.7."""
    snap = snapshot([sig("s4", [stratum("group0", 4, 0)], older=0)], [window(candidate=2e6, baseline=98e6)])
    entry = by_id(snap)["s4"]
    assert entry.labels == (Label.NEW,)
    assert entry.p == pytest.approx(0.02**4, rel=1e-9)
    assert entry.rr_lower == pytest.approx(22.7, abs=0.05)
    assert entry.rr == math.inf
    assert entry.exposure.candidate == 2e6 and entry.exposure.baseline == 98e6
    assert "p = 1.6e-07 < 0.001" in entry.reason


def test_new_p_is_the_product_of_window_shares() -> None:
    """Across windows x0 = 0 gives P = prod share_g ** x1_g exactly."""
    wins = [
        window("testwikis", hours=30, candidate=1e5, baseline=9e5),
        window("group0", candidate=1e6, baseline=1e6),
    ]
    snap = snapshot([sig("s", [stratum("testwikis", 2, 0), stratum("group0", 9, 0)], older=0)], wins)
    entry = by_id(snap)["s"]
    assert entry.p == pytest.approx(0.1**2 * 0.5**9, rel=1e-12)
    assert entry.has(Label.NEW)


@pytest.mark.slow  # cross-checks against SciPy/NumPy (seconds to import)
def test_rare_old_noise_seen_in_older_versions_is_not_new() -> None:
    """Seen in an older version within the lookback: never NEW, and this little is not REGRESSED either."""
    noise = sig("noise", [stratum("group0", 3, 1)], older=6)
    stable = [sig(f"ok{i}", [stratum("group0", 10 + i % 7, 10 + i % 5)]) for i in range(200)]
    snap = snapshot([noise, *stable], [window(candidate=2e6, baseline=98e6)])
    assert "noise" not in by_id(snap)
    # Why the exact tail matters: the normal approximation calls this p ~ 1e-18 (exact 3e-5).
    parts = [(4, 0.02, 0.98)]
    assert classify_mod._sum_binomial_sf(3, parts) == pytest.approx(_stats.binom.sf(2, 4, 0.02), rel=1e-9)


def test_new_when_unseen_only_in_the_lookback_history_field() -> None:
    """older_events_in_lookback alone decides 'seen before' when the windows show nothing."""
    unseen = sig("u", [stratum("group0", 12, 0)], older=0)
    seen = sig("o", [stratum("group0", 12, 0)], older=1)
    found = by_id(snapshot([unseen, seen]))
    assert found["u"].has(Label.NEW)
    assert "o" not in found or not found["o"].has(Label.NEW)


@pytest.mark.parametrize(
    ("requests", "wikis", "hosts", "new"),
    [
        (2, 1, 1, False),  # 2 requests on 1 wiki: below the floor however small p is
        (2, 2, 2, False),  # 2 requests: below the 3-request floor
        (3, 1, 1, False),  # 3 requests, one wiki, one host: no spread
        (3, 1, 2, True),  # one wiki but two hosts is spread enough
        (3, 2, 1, True),
    ],
)
def test_new_practical_floor(requests: int, wikis: int, hosts: int, new: bool) -> None:
    s = sig("s", [stratum("group0", requests, 0)], older=0, wikis=wikis, hosts=hosts)
    snap = snapshot([s], [window(candidate=1e6, baseline=99e6)])  # share 1%: p = 1e-4 .. 1e-6
    assert ("s" in by_id(snap)) is new


def test_new_needs_significance_at_new_alpha() -> None:
    """At a 50% share (self-controlled, equal windows) 9 requests give p = 0.002: not NEW; 10 give 0.00098."""
    for x1, new in ((9, False), (10, True)):
        snap = snapshot([sig("s", [stratum("group0", x1, 0)], older=0)])
        assert ("s" in by_id(snap)) is new, x1


def test_new_without_exposure_falls_back_to_the_count_floor_and_says_so() -> None:
    wins = [window(candidate=None, baseline=None)]
    snap = snapshot([sig("s", [stratum("group0", 3, 0)], older=0)], wins, source="none")
    c = classify(snap, CFG)
    (entry,) = c.entries
    assert entry.has(Label.NEW) and entry.p is None and entry.q is None
    assert "count floor only" in entry.reason and "exposure unknown" in entry.reason
    assert entry.exposure.source == "none"
    assert any("count floor only" in n for n in c.notes)
    assert c.tested == 0


def test_estimated_exposure_is_used_and_reported() -> None:
    snap = snapshot(
        [sig("s", [stratum("group0", 4, 0)], older=0)],
        [window(candidate=2e6, baseline=98e6)],
        source="estimated",
    )
    c = classify(snap, CFG)
    assert c.entries[0].exposure.source == "estimated"
    assert c.entries[0].has(Label.NEW)
    assert any("estimated" in n for n in c.notes)


def test_new_without_per_group_counts_uses_the_pooled_share() -> None:
    s = sig("s", [], older=0, requests=4, events=4)
    snap = snapshot([s], [window(candidate=2e6, baseline=98e6)])
    entry = by_id(snap)["s"]
    assert entry.has(Label.NEW)
    assert entry.p == pytest.approx(0.02**4)


# --------------------------------------------------------------------------- #
# REGRESSED
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("x1", "x0", "t1", "t0", "p", "rr", "rr_lower", "regressed"),
    [
        (30, 150, 1e6, 9e6, 0.0038, 1.80, 1.08, False),  # significant, but RR_L < 1.5
        (40, 150, 1e6, 9e6, 4.7e-6, 2.40, 1.54, True),
        (120, 100, 1e6, 1e6, 0.10, 1.20, 0.87, False),
        (200, 100, 1e6, 1e6, 4e-9, 2.0, 1.50, None),  # RR_L sits on the 1.5 floor: either way
    ],
)
def test_worked_examples_through_classify(
    x1: int, x0: int, t1: float, t0: float, p: float, rr: float, rr_lower: float, regressed: bool | None
) -> None:
    """§6 worked examples, warning/error channel (RR_L floor 1.5), in one 2-hour window."""
    s = sig("s", [stratum("group1", x1, x0)], channel="error")
    snap = snapshot([s], [window("group1", hours=2, candidate=t1, baseline=t0)], stage="group1")
    c = classify(snap, replace(CFG, rr_lower_min=1.0, fdr_q=0.5))  # let every case show its numbers
    (entry,) = [e for e in c.entries if e.signature == "s"] or [None]
    if rr_lower < 1.0:
        assert entry is None
        return
    assert entry is not None
    assert entry.p == pytest.approx(p, rel=0.05)
    assert entry.rr == pytest.approx(rr, rel=0.01)
    assert entry.rr_lower == pytest.approx(rr_lower, abs=0.01)
    flagged = (entry.rr_lower or 0) >= 1.5 and (entry.q or 1) <= 0.01
    if regressed is not None:
        assert flagged is regressed


def test_tenfold_regression_in_exception_channel_is_regressed_critical() -> None:
    s = sig("x10", [stratum("group0", 200, 20)])
    entry = by_id(snapshot([s]))["x10"]
    assert entry.labels == (Label.REGRESSED,)
    assert entry.critical
    assert entry.rr == pytest.approx(10.0)
    assert entry.rr_lower is not None and entry.rr_lower > 5
    assert entry.excess == pytest.approx(180.0)  # 200 - 20 x (equal exposure)
    assert entry.auto_significant
    assert entry.p is not None and entry.q is not None and entry.q >= entry.p


def test_regressed_needs_excess_per_hour() -> None:
    """x1 = 30 vs 5 at equal exposure is significant; excess 30 - 5 = 25 requests.

    A warning needs 3/h: not enough over 10 hours, enough over 8. A critical channel needs 1/h.
    """
    warn = sig("s", [stratum("group0", 30, 5)], channel="error", level="WARNING")
    assert "s" not in by_id(snapshot([warn], [window(hours=10)]))
    assert "s" in by_id(snapshot([warn], [window(hours=8)]))
    crit = sig("s", [stratum("group0", 30, 5)])
    assert "s" in by_id(snapshot([crit], [window(hours=10)]))
    assert "s" not in by_id(snapshot([crit], [window(hours=30)]))


def test_critical_channels_use_the_lower_rr_floor() -> None:
    """RR_L between 1.2 and 1.5: REGRESSED in exception, not in error."""
    strata = [stratum("group1", 1400, 1000)]
    wins = [window("group1", hours=24, candidate=1e7, baseline=1e7)]
    exc = by_id(snapshot([sig("e", strata, channel="exception")], wins))
    err = by_id(snapshot([sig("w", strata, channel="error")], wins))
    assert exc["e"].rr_lower is not None and 1.2 <= exc["e"].rr_lower < 1.5
    assert exc["e"].has(Label.REGRESSED)
    assert "w" not in err


def test_strata_without_exposure_are_skipped() -> None:
    wins = [window("testwikis", hours=30, candidate=None, baseline=None), window("group0")]
    s = sig("s", [stratum("testwikis", 5000, 0), stratum("group0", 200, 20)])
    entry = by_id(snapshot([s], wins))["s"]
    assert entry.exposure.candidate == 5e6  # only group0 was tested
    assert entry.rr == pytest.approx(10.0)


def test_seen_before_signature_without_any_exposure_is_untested() -> None:
    wins = [window(candidate=None, baseline=None)]
    c = classify(snapshot([sig("s", [stratum("group0", 500, 10)])], wins, source="none"), CFG)
    assert c.entries == () and c.tested == 0
    assert any("could not be tested" in n for n in c.notes)


@pytest.mark.slow  # cross-checks against SciPy/NumPy (seconds to import)
def test_stratified_tail_matches_exact_convolution() -> None:
    """The private exact/saddle-point tail against a NumPy convolution of SciPy pmfs."""
    rng = random.Random(7)
    for _ in range(300):
        parts = []
        for _ in range(rng.randint(2, 4)):
            n = rng.choice([1, 3, 10, 40, 150, 600])
            p = rng.choice([0.001, 0.02, 0.1, 0.5, 0.8])
            parts.append((n, p, 1 - p))
        total = sum(n for n, _, _ in parts)
        mean = sum(n * p for n, p, _ in parts)
        o = rng.randint(max(1, int(mean)), total)
        dist = np.array([1.0])
        for n, p, _ in parts:
            dist = np.convolve(dist, _stats.binom.pmf(np.arange(n + 1), n, p))
        exact = float(dist[o:].sum())
        if exact < 1e-12:
            continue
        ours = classify_mod._sum_binomial_sf(o, parts)
        tol = 1e-9 if total <= classify_mod._EXACT_MAX_N or o == total else 0.08
        assert ours == pytest.approx(exact, rel=tol), (o, parts)


@pytest.mark.slow  # cross-checks against SciPy/NumPy (seconds to import)
def test_stratified_rr_lower_equals_clopper_pearson_when_shares_agree() -> None:
    """Equal shares in every window: the stratified test is one binomial, RR_L the exact §6 bound."""
    from traintriage.detect import stats

    wins = [window("testwikis", hours=5), window("group0")]
    s = sig("s", [stratum("testwikis", 50, 12), stratum("group0", 90, 30)])
    entry = by_id(snapshot([s], wins))["s"]
    assert entry.rr_lower == pytest.approx(stats.rate_ratio_lower(140, 1e7, 42, 1e7, 0.01), rel=2e-4)
    assert entry.p == pytest.approx(_stats.binomtest(140, 182, 0.5, alternative="greater").pvalue, rel=1e-9)


def test_dispersion_makes_the_test_more_conservative() -> None:
    """phi > 1 (quasi-Poisson) can only raise p and lower RR_L."""
    s = sig("s", [stratum("group0", 200, 40), stratum("testwikis", 100, 20)])
    wins = [window("testwikis", hours=5), window("group0")]
    plain = by_id(snapshot([s], wins))["s"]
    over = by_id(snapshot([s], wins), replace(CFG, dispersion=4.0))["s"]
    assert plain.p is not None and over.p is not None and over.p > plain.p
    assert over.rr_lower is not None and plain.rr_lower is not None and over.rr_lower < plain.rr_lower
    assert "phi = 4" in over.method


# --------------------------------------------------------------------------- #
# Benjamini-Hochberg
# --------------------------------------------------------------------------- #


def _null_family(rng: np.random.Generator, m: int, shift: float = 1.0) -> list[SignatureEvidence]:
    """Seen-before signatures whose V count is Binomial(n, share) under rate ratio `shift`."""
    n = rng.integers(20, 400, size=m)
    x1 = rng.binomial(n, shift / (shift + 1.0))  # equal exposure on both sides
    prefix = "alt" if shift != 1.0 else "null"
    return [
        sig(f"{prefix}{i:04d}", [stratum("group1", int(a), int(b - a))], older=int(b))
        for i, (a, b) in enumerate(zip(x1, n, strict=True))
    ]


# BH alone decides here: no practical floors.
_BH_ONLY = replace(CFG, rr_lower_min=0.0, rr_lower_min_critical=0.0, min_excess_per_hour=0.0)


@pytest.mark.slow  # cross-checks against SciPy/NumPy (seconds to import)
def test_bh_controls_false_discoveries_among_nulls() -> None:
    """2000 null signatures: ~1% have raw p < 0.01, but BH flags at most q of them (here: none)."""
    family = _null_family(np.random.default_rng(2024), 2000)
    snap = snapshot(family, [window("group1", hours=24, candidate=1e7, baseline=1e7)], stage="group1")
    raw = [
        _stats.binomtest(
            s.strata[0].candidate_requests,
            s.strata[0].candidate_requests + s.strata[0].baseline_requests,
            0.5,
            alternative="greater",
        ).pvalue
        for s in family
    ]
    assert sum(p < 0.01 for p in raw) >= 5  # without BH these would be flagged
    c = classify(snap, _BH_ONLY)
    assert c.tested == 2000
    assert len(c.regressed) <= 0.01 * 2000
    assert len(c.regressed) <= 2


@pytest.mark.slow  # cross-checks against SciPy/NumPy (seconds to import)
def test_bh_keeps_the_false_discovery_proportion_near_q() -> None:
    """1800 nulls + 200 true x3 regressions, five seeds: the mean false discovery proportion <= q."""
    fdps = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        family = _null_family(rng, 1800) + _null_family(rng, 200, shift=3.0)
        snap = snapshot(family, [window("group1", hours=24, candidate=1e7, baseline=1e7)], stage="group1")
        flagged = classify(snap, _BH_ONLY).regressed
        assert len(flagged) >= 150  # power: most true regressions are found
        fdps.append(sum(e.signature.startswith("null") for e in flagged) / len(flagged))
    assert sum(fdps) / len(fdps) <= 0.01 * 1.5  # q = 0.01, allowing for five-run noise
    assert max(fdps) <= 0.03


def test_q_values_are_bh_adjusted_over_every_tested_signature() -> None:
    from traintriage.detect import stats

    family = [sig("hit", [stratum("group0", 200, 20)])] + [
        sig(f"n{i}", [stratum("group0", 10, 10)]) for i in range(9)
    ]
    c = classify(snapshot(family), CFG)
    (hit,) = c.entries
    assert c.tested == 10
    assert hit.p is not None and hit.q == pytest.approx(min(1.0, hit.p * 10), rel=1e-9)
    assert stats.bh_adjusted([hit.p] + [0.5] * 9)[0] == pytest.approx(hit.q)


# --------------------------------------------------------------------------- #
# FIXED, LOGSPAM, DEPRECATION, SINGLE_HOST
# --------------------------------------------------------------------------- #


def test_fixed_needs_an_expected_count_of_ten() -> None:
    gone = sig("gone", [stratum("group0", 0, 12)])
    rare = sig("rare", [stratum("group0", 0, 9)])
    found = by_id(snapshot([gone, rare]))
    assert found["gone"].labels == (Label.FIXED,)
    assert "predicts 12 requests" in found["gone"].reason
    assert "rare" not in found


def test_fixed_scales_the_baseline_by_exposure() -> None:
    s = sig("s", [stratum("group0", 0, 20)])
    assert "s" not in by_id(snapshot([s], [window(candidate=1e6, baseline=4e6)]))  # expects 5
    assert "s" in by_id(snapshot([s], [window(candidate=4e6, baseline=4e6)]))  # expects 20


def test_logspam_thresholds_are_strictly_over() -> None:
    at_limit = sig("a", [stratum("group0", 12, 0)], older=0, max_1h=100, max_12h=1000)
    over_1h = sig("b", [stratum("group0", 12, 0)], older=0, max_1h=101)
    over_12h = sig("c", [stratum("group0", 12, 0)], older=0, max_1h=90, max_12h=1001)
    found = by_id(snapshot([at_limit, over_1h, over_12h]))
    assert not found["a"].has(Label.LOGSPAM)
    assert found["b"].has(Label.LOGSPAM) and found["c"].has(Label.LOGSPAM)


def test_logspam_only_for_new_or_regressed() -> None:
    stable = sig("s", [stratum("group0", 1000, 1000)], max_1h=500, max_12h=5000)
    assert "s" not in by_id(snapshot([stable]))


@pytest.mark.parametrize(
    ("channel", "level", "title", "deprecation"),
    [
        (
            "error",
            "WARNING",
            "PHP Deprecated: Use of Title::getPrefixedText was deprecated in MediaWiki 1.36",
            True,
        ),
        ("deprecated", "INFO", "Use of wfFoo", True),
        ("error", "ERROR", "PHP Deprecated: something", False),  # not a WARNING
        ("error", "WARNING", "PHP Warning: Undefined index", False),
    ],
)
def test_deprecation_detection(channel: str, level: str, title: str, deprecation: bool) -> None:
    s = sig("d", [stratum("group0", 12, 0)], older=0, channel=channel, level=level, title=title)
    c = classify(snapshot([s]), CFG)
    (entry,) = c.entries
    assert entry.has(Label.DEPRECATION) is deprecation
    assert (entry in c.deprecation) is deprecation
    assert (entry in c.new) is not deprecation


def test_one_host_spike_is_single_host() -> None:
    spike = sig("spike", [stratum("group0", 400, 0)], older=0, events=500, top_host_events=480, max_1h=450)
    c = classify(snapshot([spike]), CFG)
    (entry,) = c.entries
    assert set(entry.labels) == {Label.NEW, Label.LOGSPAM, Label.SINGLE_HOST}
    assert entry.top_host_share == pytest.approx(0.96)
    assert "single-host spike, not deploy-related" in entry.reason
    assert c.single_host == [entry]
    assert c.new == [] and c.logspam == []


def test_single_host_needs_twenty_events() -> None:
    small = sig("small", [stratum("group0", 12, 0)], older=0, events=19, top_host_events=19)
    (entry,) = classify(snapshot([small]), CFG).entries
    assert not entry.has(Label.SINGLE_HOST)


# --------------------------------------------------------------------------- #
# Readiness, ordering, config
# --------------------------------------------------------------------------- #


def test_young_stage_and_low_exposure_are_insufficient() -> None:
    young = classify(snapshot([], [window("group1", hours=0.25)], stage="group1"), CFG).readiness
    assert young.too_young and not young.sufficient
    assert young.stage_age_minutes == pytest.approx(15.0)
    assert young.ready_in_minutes == pytest.approx(45.0)
    testwikis = classify(snapshot([], [window("testwikis", hours=0.3)], stage="testwikis"), CFG).readiness
    assert not testwikis.too_young
    low = classify(snapshot([], [window(candidate=20_000, baseline=20_000)]), CFG).readiness
    assert low.low_exposure and not low.too_young
    assert low.ready_in_minutes == pytest.approx(30_000 / (20_000 / 240))
    estimated = classify(
        snapshot([], [window(candidate=900, baseline=800)], source="estimated"), CFG
    ).readiness
    assert not estimated.low_exposure and estimated.sufficient  # relative units: no absolute minimum
    unknown = classify(snapshot([], [window(candidate=None, baseline=None)]), CFG).readiness
    assert not unknown.low_exposure and unknown.exposure_candidate is None
    gone = classify(snapshot([], [], stage=None), CFG).readiness
    assert gone.not_deployed and not gone.sufficient


def test_entries_are_ordered_most_severe_first_then_requests_then_id() -> None:
    sigs = [
        sig("b-warn-new", [stratum("group0", 50, 0)], older=0, channel="error", level="WARNING"),
        sig("a-warn-new", [stratum("group0", 50, 0)], older=0, channel="error", level="WARNING"),
        sig("z-exc-new", [stratum("group0", 12, 0)], older=0),
        sig("spam", [stratum("group0", 30, 0)], older=0, channel="error", max_1h=300),
        sig("fixed", [stratum("group0", 0, 40)]),
        sig("big-exc-new", [stratum("group0", 90, 0)], older=0),
    ]
    order = [e.signature for e in classify(snapshot(sigs), CFG).entries]
    assert order == ["big-exc-new", "z-exc-new", "spam", "a-warn-new", "b-warn-new", "fixed"]
    assert order == [e.signature for e in classify(snapshot(list(reversed(sigs))), CFG).entries]


def test_config_defaults_match_the_domain_notes() -> None:
    c = DetectionConfig()
    assert (c.lookback_days, c.min_requests, c.min_spread, c.new_alpha, c.fdr_q) == (14, 3, 2, 0.001, 0.01)
    assert (c.rr_lower_min, c.rr_lower_min_critical, c.min_excess_per_hour) == (1.5, 1.2, 3)
    assert (c.logspam_per_hour, c.logspam_per_12h, c.rollback_fatal_per_hour) == (100, 1000, 100)
    assert (c.aggregate_rr_lower, c.aggregate_alpha, c.min_exposure_requests) == (1.5, 1e-4, 50_000)
    assert (c.canary_threshold, c.production_threshold, c.gate_window_seconds) == (10, 150, 20)
    assert c.critical_channels == ("exception", "fatal") and c.single_host_share == 0.9
    assert dict(c.min_stage_minutes) == {"testwikis": 15, "group0": 60, "group1": 60, "group2": 60}
    assert c.window_threshold("group0") == 10 and c.window_threshold("group1") == 150


def test_config_from_mapping() -> None:
    c = DetectionConfig.from_mapping(
        {
            "min_requests": 5,
            "fdr_q": 0.05,
            "critical_channels": ["fatal"],
            "min_stage_minutes": {"group1": 120},
        }
    )
    assert c.min_requests == 5 and c.fdr_q == 0.05 and c.critical_channels == ("fatal",)
    assert dict(c.min_stage_minutes) == {"testwikis": 15, "group0": 60, "group1": 120, "group2": 60}
    assert DetectionConfig.from_mapping({"lookback_days": 7}).lookback_days == 7.0
    assert DetectionConfig.from_mapping({}) == DetectionConfig()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"min_request": 3}, "unknown key(s) ['min_request']"),
        ({"min_requests": 2.5}, "must be an integer"),
        ({"min_requests": True}, "must be an integer"),
        ({"fdr_q": "0.01"}, "must be a number"),
        ({"fdr_q": 1.5}, "must be in (0, 1)"),
        ({"critical_channels": "fatal"}, "list of strings"),
        ({"min_stage_minutes": {"group3": 5}}, "unknown stage"),
        ({"dispersion": 0.5}, "must be >= 1"),
        ({"min_excess_per_hour": -1}, ">= 0"),
    ],
)
def test_config_from_mapping_errors(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        DetectionConfig.from_mapping(table)
    assert message in str(err.value)


def test_candidate_hours_are_the_union_of_overlapping_windows() -> None:
    """group0's window lies inside testwikis': 30 h of V, not 34 (the excess floor is per wall-clock hour)."""
    nested = [window("testwikis", hours=30), window("group0", hours=4)]
    assert classify_mod._union_hours(nested) == pytest.approx(30.0)
    apart = [window("group0", hours=2, at=AT - 10 * H), window("group1", hours=3)]
    assert classify_mod._union_hours(apart) == pytest.approx(5.0)
    assert classify_mod._union_hours([]) == 0.0
