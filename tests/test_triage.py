"""Pure triage rules: verdict grammar, task links, carry-over across versions, mutes, coverage."""

from __future__ import annotations

import pytest

from traintriage.core.vocabulary import VERDICTS
from traintriage.triage.reviews import (
    FlaggedSignature,
    ReviewRecord,
    SignatureTriage,
    TrainFlags,
    applies,
    check_review,
    coverage,
    effective_reviews,
    mute_active,
    parse_task,
    parse_verdict,
)

W27, W28, W29, W210 = "1.36.0-wmf.27", "1.36.0-wmf.28", "1.36.0-wmf.29", "1.36.0-wmf.210"


def rec(
    signature: str,
    verdict: str,
    version: str | None,
    at: float,
    id: int = 0,
    target: str | None = None,
    tasks: tuple[str, ...] = (),
) -> ReviewRecord:
    return ReviewRecord(
        id or int(at), signature, version, verdict, target, None, None, tasks, None, False, "ann", at
    )


# --- grammar ---------------------------------------------------------------------------


def test_parse_verdict_plain_and_targeted() -> None:
    assert parse_verdict("not-blocker") == ("not-blocker", None)
    assert parse_verdict("  Blocker ") == ("blocker", None)
    assert parse_verdict("duplicate-of 0123ABCD89abcdef") == ("duplicate-of", "0123abcd89abcdef")
    assert parse_verdict("fixed-in 1.36.0-wmf.29") == ("fixed-in", "1.36.0-wmf.29")
    assert parse_verdict("fixed-in https://gerrit.wikimedia.org/r/c/656789") == (
        "fixed-in",
        "https://gerrit.wikimedia.org/r/c/656789",
    )
    assert set(VERDICTS) == {
        "blocker",
        "not-blocker",
        "known",
        "expected",
        "duplicate-of",
        "fixed-in",
        "needs-info",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty verdict"),
        ("wontfix", "unknown verdict 'wontfix': give one of blocker, not-blocker"),
        ("fixed", "say 'fixed-in <version or change>'"),
        ("duplicate", "say 'duplicate-of <signature>'"),
        ("duplicate-of", "needs a signature id, e.g. 'duplicate-of 0123abcd'"),
        ("fixed-in", "needs a version or change"),
        ("duplicate-of T123", "not a signature id"),
        ("expected 1.36.0-wmf.28", "takes no target"),
        ("fixed-in a b", "at most one target"),
    ],
)
def test_parse_verdict_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_verdict(text)


def test_tasks_are_phabricator_ids_or_http_urls() -> None:
    assert parse_task("T123456") == "T123456"
    assert parse_task(" t42 ") == "T42"
    assert parse_task("https://phabricator.wikimedia.org/T1") == "https://phabricator.wikimedia.org/T1"
    assert parse_task("http://example.org/bug?id=3") == "http://example.org/bug?id=3"
    for bad in ("123456", "T", "T0123", "ftp://x.org/1", "https://", "see T123", "javascript:alert(1)"):
        with pytest.raises(ValueError, match="Phabricator task like T123456 or an http"):
            parse_task(bad)


def test_check_review_rules() -> None:
    assert check_review("fixed-in 1.36.0-wmf.29", None, ["T1", "T1"]) == (
        "fixed-in",
        "1.36.0-wmf.29",
        ("T1",),
    )
    assert check_review("fixed-in", "1.36.0-wmf.29", []) == ("fixed-in", "1.36.0-wmf.29", ())
    with pytest.raises(ValueError, match="two different targets"):
        check_review("fixed-in wmf.29", "wmf.30", [])
    with pytest.raises(ValueError, match="'known' needs a linked task"):
        check_review("known", None, [])
    assert check_review("known", None, [], linked_tasks=["T9"]) == ("known", None, ())
    with pytest.raises(ValueError, match="not in the future"):
        check_review("expected", None, [], mute_until=100.0, at=200.0)


# --- carry-over --------------------------------------------------------------------------


def test_a_review_applies_from_its_version_on() -> None:
    r = rec("s", "not-blocker", W28, 10)
    assert not applies(r, W27, flagged=False)
    assert applies(r, W28, flagged=False) and applies(r, W28, flagged=True)  # flagged in its own version
    assert applies(r, W29, flagged=False)
    assert applies(r, W210, flagged=False)  # natural order: wmf.210 > wmf.29
    assert not applies(r, W29, flagged=True)  # NEW/REGRESSED again later: needs a fresh look
    unscoped = rec("s", "not-blocker", None, 10)
    assert applies(unscoped, W27, flagged=False) and not applies(unscoped, W27, flagged=True)


def test_effective_review_is_the_newest_that_applies() -> None:
    history = {
        "s": [
            rec("s", "fixed-in", W29, 30, target=W29),  # scoped to a later version
            rec("s", "blocker", W28, 20, tasks=("T5",)),
            rec("s", "not-blocker", W27, 10),
        ]
    }
    never = lambda _s: False  # noqa: E731
    assert effective_reviews(history, W27, never)["s"].verdict == "not-blocker"
    assert effective_reviews(history, W28, never)["s"].verdict == "blocker"
    assert effective_reviews(history, W28, never)["s"].task == "T5"
    w29 = effective_reviews(history, W29, never)["s"]
    assert (w29.verdict, w29.target, w29.version) == ("fixed-in", W29, W29)
    # as of time 25 the fixed-in did not exist yet
    assert effective_reviews(history, W29, never, at=25)["s"].verdict == "blocker"
    assert effective_reviews(history, W29, never, at=5) == {}


def test_regression_in_a_later_version_drops_older_reviews_but_not_its_own() -> None:
    history = {"s": [rec("s", "expected", W28, 30), rec("s", "not-blocker", W27, 10)]}
    flagged = lambda s: s == "s"  # noqa: E731
    assert effective_reviews(history, W29, flagged) == {}  # both are older than wmf.29
    assert effective_reviews(history, W28, flagged)["s"].verdict == "expected"
    # wmf.27's own review stays valid for wmf.27 even though a later one exists
    assert effective_reviews({"s": history["s"][1:]}, W27, flagged)["s"].verdict == "not-blocker"


def test_same_time_reviews_are_ordered_by_id() -> None:
    history = {"s": [rec("s", "blocker", W28, 10, id=1), rec("s", "not-blocker", W28, 10, id=2)]}
    assert effective_reviews(history, W28, lambda _s: False)["s"].verdict == "not-blocker"


def test_state_adds_assignee_tasks_and_mute() -> None:
    history = {"s": [rec("s", "known", W28, 10, tasks=("T1",))]}
    state = {"s": SignatureTriage(assignee="bo", tasks=("T2", "T1"), mute_until=100.0, mute_version=W28)}
    r = effective_reviews(history, W28, lambda _s: False, at=50, state=state)["s"]
    assert (r.assignee, r.tasks, r.task, r.muted, r.mute_until) == ("bo", ("T1", "T2"), "T1", True, 100.0)
    r = effective_reviews(history, W28, lambda _s: False, at=150, state=state)["s"]
    assert not r.muted and r.mute_until is None
    assert r.to_dict()["tasks"] == ["T1", "T2"] and "muted" not in r.to_dict()


def test_mute_until_escalates_ends_in_a_later_escalating_version() -> None:
    mute = SignatureTriage(mute_until_escalates=True, mute_version=W28)
    assert mute_active(mute, version=W28, at=None, escalated=True)  # same version: as muted
    assert mute_active(mute, version=W29, at=None, escalated=False)
    assert not mute_active(mute, version=W29, at=None, escalated=True)
    assert not mute_active(SignatureTriage(), version=W29, at=None, escalated=False)
    anywhere = SignatureTriage(mute_until_escalates=True)
    assert not mute_active(anywhere, version=W27, at=None, escalated=True)


# --- coverage ----------------------------------------------------------------------------


def test_coverage_per_version_and_team() -> None:
    day = 86400.0
    trains = [
        TrainFlags(
            W28,
            (
                FlaggedSignature("a", first_seen=0.0, deadline=day),
                FlaggedSignature("b", first_seen=0.0, deadline=day),
                FlaggedSignature("c", first_seen=100.0, deadline=2 * day),
                FlaggedSignature("d", first_seen=None, deadline=day),
            ),
        ),
        TrainFlags(W27, (FlaggedSignature("a", first_seen=-day, deadline=0.0),)),
    ]
    history = {
        "a": [rec("a", "not-blocker", W28, 600)],  # in time, 10 min after first seen
        "b": [rec("b", "needs-info", W28, 2 * day)],  # late (needs-info is a review)
        "c": [rec("c", "blocker", None, 50)],  # version-less: stale once flagged
        "d": [rec("d", "expected", W28, 10)],  # in time, first seen unknown
    }
    teams = {"a": "@web", "b": "@web", "c": "@web"}
    rows = coverage(trains, history, teams.get)
    got = [(r.version, r.team, r.flagged, r.reviewed_before_next_promotion, r.share) for r in rows]
    assert got == [
        (W28, "@web", 3, 1, pytest.approx(1 / 3)),
        (W28, "unowned", 1, 1, 1.0),
        (W27, "@web", 1, 0, 0.0),  # wmf.28's review does not apply to wmf.27
    ]
    assert rows[0].median_time_to_first_review_seconds == pytest.approx((600 + 2 * day) / 2)
    assert rows[0].unreviewed == ("b", "c")
    assert rows[1].median_time_to_first_review_seconds is None
    assert rows[2].median_time_to_first_review_seconds is None
    assert rows[0].to_dict()["share"] == 0.3333
    assert [r.team for r in coverage(trains, history)] == ["unowned", "unowned"]
