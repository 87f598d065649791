"""Train-level verdicts (detect/decision.py): the §6 rule order on hand-built snapshots."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pytest

from tests.test_classify import AT, CFG, sig, snapshot, stratum, window
from traintriage.detect.classify import Label, classify
from traintriage.detect.config import DetectionConfig
from traintriage.detect.decision import (
    RULES,
    Decision,
    Review,
    decide,
    gate_exit_code,
    top_offenders,
)
from traintriage.detect.inputs import SignatureEvidence, TrainSnapshot


def run(snap: TrainSnapshot, reviews: Sequence[Review] = (), config: DetectionConfig = CFG) -> Decision:
    by_sig: Mapping[str, Review] = {r.signature: r for r in reviews}
    return decide(snap, classify(snap, config), config, by_sig)


def review(signature: str, verdict: str) -> Review:
    return Review(signature, verdict, "jdoe", AT - 600, "T123456")  # type: ignore[arg-type]


def fired(decision: Decision) -> list[str]:
    return [r.id for r in decision.rules if r.fired]


def regression_x10(channel: str = "exception", name: str = "x10") -> SignatureEvidence:
    return sig(name, [stratum("group0", 200, 20)], channel=channel)


def new_sig(name: str, channel: str = "exception", **kw: object) -> SignatureEvidence:
    return sig(name, [stratum("group0", 12, 0)], older=0, channel=channel, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- #
# The worked cases of the brief
# --------------------------------------------------------------------------- #


def test_clean_train_is_go() -> None:
    stable = [sig(f"s{i}", [stratum("group0", 50, 50)]) for i in range(20)]
    d = run(snapshot(stable))
    assert (d.verdict, d.rule) == ("go", "go")
    assert gate_exit_code(d) == 0
    assert fired(d) == ["go"]
    assert len(d.rules) == len(RULES) + 1 and d.rules[-1].id == "go"


def test_tenfold_exception_regression_unreviewed_is_no_go() -> None:
    d = run(snapshot([regression_x10()]))
    assert (d.verdict, d.rule) == ("no-go", "nogo.unreviewed-critical-regressed")
    assert gate_exit_code(d) == 1
    assert d.blocking == {"x10"}


def test_reviewed_not_blocker_is_go() -> None:
    for verdict in ("not-blocker", "known", "expected", "duplicate-of", "fixed-in"):
        d = run(snapshot([regression_x10()]), [review("x10", verdict)])
        assert d.verdict == "go", verdict
        assert d.to_dict()["regressed"][0]["review"]["verdict"] == verdict


def test_needs_info_still_blocks() -> None:
    d = run(snapshot([regression_x10()]), [review("x10", "needs-info")])
    assert (d.verdict, d.rule) == ("no-go", "nogo.unreviewed-critical-regressed")


def test_blocker_review_is_no_go_even_on_a_quiet_signature() -> None:
    stable = sig("quiet", [stratum("group0", 50, 50)])
    d = run(snapshot([stable]), [review("quiet", "blocker")])
    assert (d.verdict, d.rule) == ("no-go", "nogo.blocker-review")
    assert "quiet (by jdoe, T123456)" in d.rules[[r.id for r in d.rules].index("nogo.blocker-review")].detail
    d = run(snapshot([regression_x10()]), [review("x10", "blocker")])
    assert (d.verdict, d.rule) == ("no-go", "nogo.blocker-review")
    assert "nogo.unreviewed-critical-regressed" not in fired(d)  # reviewed (as blocker), counted once


def test_unreviewed_critical_new_is_no_go() -> None:
    d = run(snapshot([new_sig("boom")]))
    assert (d.verdict, d.rule) == ("no-go", "nogo.unreviewed-critical-new")


def test_fatal_new_at_500_per_hour_is_rollback() -> None:
    fatal = new_sig("fatal", channel="fatal", max_1h=500, max_12h=900)
    d = run(snapshot([fatal]))
    assert (d.verdict, d.rule) == ("rollback", "rollback.critical-rate")
    assert gate_exit_code(d) == 1
    assert {"rollback.critical-rate", "nogo.unreviewed-critical-new", "hold.logspam"} <= set(fired(d))
    assert run(snapshot([fatal]), [review("fatal", "known")]).verdict == "go"


def test_critical_at_exactly_100_per_hour_is_not_rollback() -> None:
    d = run(snapshot([new_sig("fatal", channel="fatal", max_1h=100)]))
    assert d.verdict == "no-go"


def test_logspam_warning_is_hold() -> None:
    spam = new_sig(
        "spam", channel="error", level="WARNING", title="PHP Warning: Undefined index: foo", max_1h=250
    )
    d = run(snapshot([spam]))
    assert (d.verdict, d.rule) == ("hold", "hold.logspam")
    assert {"hold.logspam", "hold.unreviewed-new"} <= set(fired(d))
    assert gate_exit_code(d) == 1
    out = d.to_dict()
    assert [e["signature"] for e in out["logspam"]] == ["spam"] == [e["signature"] for e in out["new"]]


def test_regressed_warning_is_hold() -> None:
    d = run(snapshot([regression_x10(channel="error", name="warn")]))
    assert (d.verdict, d.rule) == ("hold", "hold.unreviewed-regressed")


def test_critical_regression_below_bonferroni_is_hold_not_no_go() -> None:
    """Flagged by BH but p > auto_alpha / m: needs triage, not an automatic no-go."""
    weak = sig("weak", [stratum("group0", 60, 25)])
    cfg = DetectionConfig(auto_alpha=1e-6)
    d = run(snapshot([weak]), config=cfg)
    (entry,) = d.classification.regressed
    assert not entry.auto_significant
    assert (d.verdict, d.rule) == ("hold", "hold.unreviewed-regressed")


def test_deprecation_is_go_and_listed() -> None:
    dep = new_sig(
        "dep",
        channel="error",
        level="WARNING",
        title="PHP Deprecated: Use of Title::getPrefixedText with a non-string was deprecated in MediaWiki 1.36.",
    )
    d = run(snapshot([dep]))
    assert d.verdict == "go"
    out = d.to_dict()
    assert [e["signature"] for e in out["deprecation"]] == ["dep"]
    assert out["new"] == []
    assert out["deprecation"][0]["labels"] == ["new", "deprecation"]
    assert "blocks the following week's train" in out["deprecation"][0]["reason"]


def test_spammy_deprecation_still_holds_as_logspam() -> None:
    dep = new_sig("dep", channel="error", level="WARNING", title="x was deprecated in 1.41", max_1h=5000)
    d = run(snapshot([dep]))
    assert (d.verdict, d.rule) == ("hold", "hold.logspam")


def test_one_host_spike_does_not_force_no_go() -> None:
    spike = sig("spike", [stratum("group0", 400, 0)], older=0, events=500, top_host_events=480, max_1h=450)
    d = run(snapshot([spike]))
    assert d.verdict == "go"
    out = d.to_dict()
    assert [e["signature"] for e in out["single_host"]] == ["spike"]
    assert out["new"] == [] and out["logspam"] == []
    assert out["single_host"][0]["blocking"] is False
    assert [e.signature for e in top_offenders(d)] == ["spike"]  # still shown for triage


def test_young_stage_is_inconclusive() -> None:
    d = run(snapshot([], [window("group1", hours=0.5)], stage="group1", next_stage="group2"))
    assert (d.verdict, d.rule) == ("inconclusive", "inconclusive.too-early")
    assert gate_exit_code(d) == 2
    assert "ready in about 30 min" in d.rules[[r.id for r in d.rules].index("inconclusive.too-early")].detail


def test_low_exposure_is_inconclusive() -> None:
    d = run(snapshot([], [window(candidate=10_000, baseline=10_000)]))
    assert (d.verdict, d.rule) == ("inconclusive", "inconclusive.low-exposure")


def test_not_deployed_is_inconclusive_and_never_rollback() -> None:
    fatal = new_sig("fatal", channel="fatal", max_1h=500)
    d = run(snapshot([], [], stage=None, next_stage="testwikis", max_window_events=500, rolled_back=True))
    assert (d.verdict, d.rule) == ("inconclusive", "inconclusive.not-deployed")
    d = run(snapshot([fatal], stage=None, rolled_back=True))
    assert (d.verdict, d.rule) == ("no-go", "nogo.unreviewed-critical-new")  # V still may not go on


def test_evidence_beats_a_young_stage() -> None:
    """INCONCLUSIVE comes after NO-GO: a blocking signature is reported even on a young stage."""
    d = run(snapshot([new_sig("boom")], [window(hours=0.2)]))
    assert d.verdict == "no-go"
    assert "inconclusive.too-early" in fired(d)


def test_aggregate_rate_rollback() -> None:
    d = run(snapshot([], aggregate=(5000, 1000)))
    assert (d.verdict, d.rule) == ("rollback", "rollback.aggregate-rate")
    assert run(snapshot([], aggregate=(1100, 1000))).verdict == "go"
    unknown = run(
        snapshot([], [window(candidate=None, baseline=None)], aggregate=(5000, 1000), source="none")
    )
    assert unknown.verdict == "go"
    assert "exposure unknown" in unknown.rules[0].detail


def test_aggregate_leaves_out_single_host_spikes_and_cleared_signatures() -> None:
    """A one-host spike (or a signature a human cleared) must not roll back through the aggregate."""
    spike = sig("spike", [stratum("group0", 400, 0)], older=0, events=500, top_host_events=480, max_1h=90)
    d = run(snapshot([spike], aggregate=(500, 100)))
    assert d.verdict == "go"
    assert "without 1 signatures judged by other rules, single-host or reviewed" in d.rules[0].detail
    known = sig("known", [stratum("group0", 900, 10)], channel="error")
    # one flagged signature explains the rise: its own rule decides (hold), not the aggregate
    assert run(snapshot([known], aggregate=(1000, 110))).rule == "hold.unreviewed-regressed"
    assert run(snapshot([known], aggregate=(1000, 110)), [review("known", "expected")]).verdict == "go"
    # a diffuse rise that no flagged signature explains rolls back
    assert run(snapshot([], aggregate=(1000, 110))).rule == "rollback.aggregate-rate"


@pytest.mark.parametrize(
    ("stage", "events", "verdict"),
    [("testwikis", 10, "rollback"), ("group0", 9, "go"), ("group1", 149, "go"), ("group2", 150, "rollback")],
)
def test_scap_absolute_net(stage: str, events: int, verdict: str) -> None:
    d = run(snapshot([], [window(stage)], stage=stage, max_window_events=events))
    assert d.verdict == verdict
    if verdict == "rollback":
        assert d.rule == "rollback.absolute-net"


def test_review_rejects_unknown_verdicts() -> None:
    with pytest.raises(ValueError, match="review verdict"):
        review("x", "wontfix")


# --------------------------------------------------------------------------- #
# Output: JSON schema, exit codes, offenders
# --------------------------------------------------------------------------- #

TOP_KEYS = [
    "version",
    "at",
    "stage",
    "next_stage",
    "verdict",
    "rule",
    "rules",
    "new",
    "regressed",
    "logspam",
    "fixed",
    "deprecation",
    "single_host",
    "stopped",
    "exposure",
    "owners_to_ping",
    "blocker_task",
]
ENTRY_KEYS = [
    "signature",
    "title",
    "channel",
    "level",
    "labels",
    "critical",
    "blocking",
    "counts",
    "events",
    "requests",
    "wikis",
    "hosts",
    "top_host",
    "top_host_share",
    "first_seen",
    "last_seen",
    "max_events_1h",
    "max_events_12h",
    "exposure",
    "p",
    "q",
    "rr",
    "rr_lower",
    "excess",
    "method",
    "reason",
    "owner",
    "review",
]
RULE_KEYS = ["id", "verdict", "description", "fired", "detail", "signatures"]
EXPOSURE_KEYS = [
    "source",
    "candidate_requests",
    "baseline_requests",
    "min_requests",
    "stage_age_minutes",
    "min_stage_minutes",
    "sufficient",
    "ready_in_minutes",
    "reasons",
    "tested_signatures",
    "notes",
]


def test_json_keys_are_stable() -> None:
    sigs = [
        new_sig("new"),
        regression_x10(),
        sig("gone", [stratum("group0", 0, 40)]),
        new_sig("dep", channel="error", level="WARNING", title="foo was deprecated"),
        sig("spike", [stratum("group0", 400, 0)], older=0, events=500, top_host_events=480, max_1h=450),
    ]
    out = run(snapshot(sigs), [review("x10", "known")]).to_dict()
    assert list(out) == TOP_KEYS
    text = json.dumps(out, allow_nan=False)  # strict JSON: no Infinity/NaN
    assert json.loads(text) == out
    assert out["version"] == "1.41.0-wmf.2" and out["at"] == "2023-11-14T22:13:20Z"
    assert (out["stage"], out["next_stage"], out["verdict"], out["rule"]) == (
        "group0",
        "group1",
        "no-go",
        "nogo.unreviewed-critical-new",
    )
    assert [r["id"] for r in out["rules"]] == [
        "rollback.aggregate-rate",
        "rollback.absolute-net",
        "rollback.critical-rate",
        "nogo.blocker-review",
        "nogo.open-blocker-task",
        "nogo.unreviewed-critical-new",
        "nogo.unreviewed-critical-regressed",
        "hold.logspam",
        "hold.unreviewed-new",
        "hold.unreviewed-regressed",
        "inconclusive.not-deployed",
        "inconclusive.too-early",
        "inconclusive.low-exposure",
        "go",
    ]
    assert all(list(r) == RULE_KEYS for r in out["rules"])
    assert list(out["exposure"]) == EXPOSURE_KEYS
    lists = ("new", "regressed", "fixed", "deprecation", "single_host")
    assert {k: [e["signature"] for e in out[k]] for k in lists} == {
        "new": ["new"],
        "regressed": ["x10"],
        "fixed": ["gone"],
        "deprecation": ["dep"],
        "single_host": ["spike"],
    }
    for k in lists:
        for e in out[k]:
            assert list(e) == ENTRY_KEYS
            assert e["owner"] is None
    assert list(out["single_host"][0]["counts"]) == ["group0"]
    new = out["new"][0]
    assert new["counts"] == {
        "group0": {
            "candidate_events": 12,
            "candidate_requests": 12,
            "baseline_events": 0,
            "baseline_requests": 0,
        }
    }
    assert new["rr"] is None and new["rr_lower"] > 1  # infinite RR is null in JSON
    assert new["first_seen"] == "2023-11-14T20:13:20Z"
    assert new["review"] is None and new["blocking"] is True
    assert out["regressed"][0]["review"] == {
        "verdict": "known",
        "reviewer": "jdoe",
        "at": "2023-11-14T22:03:20Z",
        "task": "T123456",
    }
    assert out["regressed"][0]["blocking"] is False


def test_exit_codes() -> None:
    assert gate_exit_code(run(snapshot([]))) == 0
    assert gate_exit_code(run(snapshot([new_sig("x")]))) == 1
    assert gate_exit_code(run(snapshot([], stage=None))) == 2


def test_top_offenders_puts_blocking_entries_first() -> None:
    sigs = [
        sig("spike", [stratum("group0", 900, 0)], older=0, events=1000, top_host_events=990, max_1h=90),
        new_sig("a", channel="error"),
        new_sig("b"),
        sig("gone", [stratum("group0", 0, 40)]),
    ]
    d = run(snapshot(sigs), [review("b", "known")])
    assert [e.signature for e in top_offenders(d)] == ["a", "b", "spike"]
    assert [e.signature for e in top_offenders(d, n=1)] == ["a"]
    assert d.classification.entries[-1].labels == (Label.FIXED,)
