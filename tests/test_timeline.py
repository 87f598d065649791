"""Timeline replay and train statistics, validated on the real 1.36 deployment log.

Reference numbers are train-stats' per-version CSVs (domain notes §3.1):

    version        rollbacks  rollbacks_time  g0 g1 g2  total_time  conductor
    1.36.0-wmf.27  2          73794           1  0  0   196163      Brennen Bearnes
    1.36.0-wmf.28  4          308038          6  5  1   501506      Ahmon Dancy
    1.36.0-wmf.29  2          1814            0  6  5   617450      Antoine Musso
    1.36.0-wmf.30  1          327013          1  6  5   570670      Mukunda Modell
    1.36.0-wmf.31  1          78422           0  0  1   263342      Dan Duvall
    1.36.0-wmf.35  1          72867           1  0  0   173118      Ahmon Dancy

Our log has minute resolution, so seconds differ by up to a minute per
interval. Where the excerpt lacks commits the tests say so instead of
bending the code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from traintriage.core.vocabulary import STAGES
from traintriage.train.deploylog import DeployStep, parse_file, parse_lines
from traintriage.train.groups import (
    PROXY_WIKIS,
    DblistError,
    GroupMembership,
    infer_groups,
    load_dblists,
    next_stage,
)
from traintriage.train.timeline import Timeline, TimelineError

DATA = Path(__file__).parent / "data" / "wikiversions_1.36.log"
V = "1.36.0-wmf.{}".format
# train-stats took calendar dates in US local time (see test_wmf27_group2_delay_depends_on_timezone).
US_MOUNTAIN = timezone(timedelta(hours=-7))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def log_steps(*lines: str) -> list[DeployStep]:
    result = parse_lines(lines, "inline")
    assert result.errors == []
    return result.steps


@pytest.fixture(scope="module")
def steps() -> list[DeployStep]:
    result = parse_file(DATA)
    assert result.errors == []
    return result.steps


@pytest.fixture(scope="module")
def tl(steps) -> Timeline:
    timeline = Timeline.build(steps, GroupMembership.from_lists({g: [w] for w, g in PROXY_WIKIS.items()}))
    assert timeline.errors == ()
    return timeline


def delays(stats) -> tuple[int | None, ...]:
    return tuple(stats.delay_days[g] for g in ("group0", "group1", "group2"))


# --- trains the excerpt covers completely: numbers match train-stats -----------------------


@pytest.mark.parametrize(
    ("n", "rollbacks", "rollbacks_time", "tolerance", "total_time", "conductor"),
    [
        # 01-19 21:51 Revert group0 -> 01-20 15:21 (63000) + 01-21 21:28 Revert all -> 01-22 00:28 (10800)
        (27, 2, 73794, 60, 196163, "Brennen Bearnes"),
        # 20:46 -> 01-27 21:55 (90540) + 01-29 22:06 -> 22:10 (240) + 22:23 -> 02-01 10:45 (217320);
        # the 02-01 21:24 rollback is never undone and adds 0: 308100 vs 308038.
        (28, 4, 308038, 120, 501506, "Ahmon Dancy"),
        # 02-18 21:20 Revert all -> 02-19 19:07 = 78420
        (31, 1, 78422, 60, 263342, "Dan Duvall"),
    ],
)
def test_stats_match_train_stats(tl, n, rollbacks, rollbacks_time, tolerance, total_time, conductor):
    stats = tl.stats(V(n))
    assert stats.rollbacks == rollbacks
    assert abs(stats.rollbacks_time - rollbacks_time) <= tolerance
    assert abs(stats.total_time - total_time) <= 60
    assert stats.conductor == conductor


def test_wmf28_exact_values(tl):
    stats = tl.stats(V(28))
    assert (stats.rollbacks_time, stats.total_time) == (308100, 501480)
    assert delays(stats) == (6, 5, 1)  # train-stats: 6 5 1
    assert stats.landings == {
        "testwikis": utc("2021-02-01 10:45"),
        "group0": utc("2021-02-01 11:02"),
        "group1": utc("2021-02-01 13:23"),
        "group2": utc("2021-01-29 22:10"),  # reached group2 only through "all wikis to"
    }
    assert stats.first_deploy == utc("2021-01-26 18:05")


def test_wmf28_rollback_events(tl):
    rollbacks = tl.rollbacks(V(28))
    assert [(r.at, r.from_groups, r.to_version, r.restored_at) for r in rollbacks] == [
        (utc("2021-01-26 20:46"), ("group0",), V(27), utc("2021-01-27 21:55")),
        (utc("2021-01-29 22:06"), STAGES, V(27), utc("2021-01-29 22:10")),
        (utc("2021-01-29 22:23"), STAGES, V(27), utc("2021-02-01 10:45")),
        (utc("2021-02-01 21:24"), ("testwikis", "group0", "group1"), V(27), None),
    ]
    assert [r.step.message for r in rollbacks][0] == f"Rollback group0 to {V(27)}"


def test_wmf28_promotions(tl):
    promotions = [(p.at, p.group) for p in tl.promotions(V(28))]
    assert promotions[:4] == [
        (utc("2021-01-26 18:05"), "testwikis"),
        (utc("2021-01-26 20:39"), "group0"),
        (utc("2021-01-27 21:55"), "group0"),
        (utc("2021-01-28 21:15"), "group1"),
    ]
    # "all wikis to" at 21:25 moved only group2: the others were on wmf.28 already.
    assert (utc("2021-01-28 21:25"), "group2") in promotions
    assert (utc("2021-01-28 21:25"), "group0") not in promotions
    # 22:10 rolled all four forward again after the 22:06 rollback.
    assert [g for t, g in promotions if t == utc("2021-01-29 22:10")] == list(STAGES)


def test_wmf31_delays_and_revert_restores_group2(tl):
    assert delays(tl.stats(V(31))) == (0, 0, 1)  # train-stats: 0 0 1
    [rollback] = tl.rollbacks(V(31))
    # The Revert undid only what "all wikis to wmf.31" changed: group2, back to wmf.30.
    assert (rollback.from_groups, rollback.to_version) == (("group2",), V(30))


def test_two_versions_live_after_the_wmf31_revert(tl):
    """Domain notes §1.1: after the 2021-02-18 21:20 revert, 653 wikis ran wmf.31 and group2 wmf.30."""
    t = utc("2021-02-18 21:21")
    assert tl.live_versions(t) == [V(31), V(30)]
    assert [tl.version_at(g, t) for g in STAGES] == [V(31), V(31), V(31), V(30)]
    assert tl.version_at("enwiki", t) == V(30)
    assert tl.version_at("commonswiki", t) == V(31)
    assert tl.version_at("nosuchwiki", t) is None
    state = tl.train_state(V(31), t)
    assert (state.stage, state.next_stage, state.rolled_back, state.complete) == (
        "group1",
        "group2",
        True,
        False,
    )
    later = tl.train_state(V(31), utc("2021-02-19 19:07"))
    assert (later.stage, later.next_stage, later.rolled_back, later.complete) == ("group2", None, False, True)


# --- wmf.27: the delay date depends on the timezone -----------------------------------------


def test_wmf27_group2_delay_depends_on_timezone(tl):
    """train-stats says 0 days late for group2; we compute 1 in UTC.

    group2 last landed 2021-01-22 00:28 UTC: Friday in UTC, but Thursday
    17:28 at UTC-7 (train-stats used date.fromtimestamp, i.e. its host's local
    US time). Same result with the UTC-7 day boundary; every other delay in
    this file is the same in both zones.
    """
    assert delays(tl.stats(V(27))) == (1, 0, 1)
    assert delays(tl.stats(V(27), tz=US_MOUNTAIN)) == (1, 0, 0)  # train-stats: 1 0 0
    for n in (28, 30, 31, 35):
        assert delays(tl.stats(V(n))) == delays(tl.stats(V(n), tz=US_MOUNTAIN))


def test_wmf27_first_revert_restores_an_unknown_version(tl):
    """The log starts on 01-19, so what group0 ran before wmf.27 is unknown (None)."""
    assert tl.version_at("group0", utc("2021-01-19 21:52")) is None
    [first, second] = tl.rollbacks(V(27))
    assert (first.from_groups, first.to_version, first.restored_at) == (
        ("group0",),
        None,
        utc("2021-01-20 15:21"),
    )
    assert (second.from_groups, second.restored_at) == (("group2",), utc("2021-01-22 00:28"))
    # The 02-09 "all wikis to wmf.27" rolls wmf.29 back; it is not a roll-forward of wmf.27.
    assert all(p.at < utc("2021-01-23") for p in tl.promotions(V(27)))


# --- trains the excerpt covers only partly -------------------------------------------------------


def test_wmf29_excerpt_lacks_the_testwikis_step(tl, steps):
    """The excerpt starts wmf.29 at group0 on 02-09; the Appendix table says it first
    deployed 2021-02-02 13:12 (testwikis, a week earlier). With the excerpt alone:"""
    stats = tl.stats(V(29))
    assert (stats.rollbacks, stats.conductor) == (2, "Antoine Musso")  # train-stats: 2
    assert stats.rollbacks_time == 1860  # 14:36 -> 15:07; train-stats 1814
    assert stats.total_time == 8760
    assert delays(stats) == (0, -1, -2)  # group1/2 landed before their Wed/Thu: negative

    # Adding that first step (time and actor from the Appendix table) gives train-stats'
    # total_time. Delays become 7 6 5: group0 landed Tuesday of the *second* week.
    # train-stats reports 0 6 5 because it computes (weekday - expected) % 7.
    first = DeployStep(
        utc("2021-02-02 13:12"),
        ("testwikis",),
        V(29),
        "Antoine Musso",
        "unknown-direction",
        f"testwikis wikis to {V(29)}",
        "appendix-table",
        0,
    )
    full = Timeline.build([*steps, first]).stats(V(29))
    assert abs(full.total_time - 617450) <= 60
    assert delays(full) == (7, 6, 5)
    assert (full.rollbacks, full.rollbacks_time) == (2, 1860)


def test_wmf30_excerpt_lacks_a_group1_rollback(tl, steps):
    """train-stats: 1 rollback of 327013 s and delays 1 6 5. The excerpt has no step
    between group1 (02-10 20:09) and all wikis (02-16 14:28), so we get 0 / 0 and
    group1 landing on Wednesday (delay 0). The table counts 4 commits with no
    Revert/Rollback subject, so the missing rollback was worded "group1 wikis to
    <older>". 327013 s before 02-16 14:28 is 02-12 19:38 (the Friday, cf. T260401:
    no half-deployed train over the weekend); a rollback there explains all three
    train-stats numbers. That step is a reconstruction, not data, so it lives here."""
    stats = tl.stats(V(30))
    assert (stats.rollbacks, stats.rollbacks_time) == (0, 0)
    assert delays(stats) == (1, 0, 5)
    assert abs(stats.total_time - 570670) <= 60
    assert stats.conductor == "Mukunda Modell"

    reconstructed = DeployStep(
        utc("2021-02-12 19:38"),
        ("group1",),
        V(27),
        None,
        "unknown-direction",
        f"group1 wikis to {V(27)}",
        "reconstructed",
        0,
    )
    full = Timeline.build([*steps, reconstructed]).stats(V(30))
    assert full.rollbacks == 1
    assert abs(full.rollbacks_time - 327013) <= 60
    assert delays(full) == (1, 6, 5)


def test_wmf35_wmf34_flip_flop_on_0316(tl):
    """group0 went 35 -> 34 -> 35, then "group2 wikis to" (not "all") on 03-18."""
    assert tl.version_at("group0", utc("2021-03-16 19:45")) == V(35)
    assert tl.version_at("group0", utc("2021-03-16 19:49")) == V(34)  # a step is in effect at its own time
    assert tl.version_at("mediawikiwiki", utc("2021-03-17 16:04")) == V(35)
    [rollback] = tl.rollbacks(V(35))
    assert (rollback.at, rollback.from_groups, rollback.to_version, rollback.restored_at) == (
        utc("2021-03-16 19:49"),
        ("group0",),
        V(34),
        utc("2021-03-17 16:04"),
    )

    between = tl.train_state(V(35), utc("2021-03-17 12:00"))
    assert (between.stage, between.next_stage, between.rolled_back) == (None, "testwikis", True)
    assert tl.stage_of(V(34), utc("2021-03-17 12:00")) == "group0"
    # group0 moving 35 -> 34 is a rollback of 35, not a roll-forward of 34.
    assert tl.promotions(V(34)) == []

    # "group2 wikis to" moves only group2; group1 stays where the excerpt last put it (wmf.31).
    t = utc("2021-03-18 19:01")
    assert [tl.version_at(g, t) for g in STAGES] == [V(32), V(35), V(31), V(35)]
    assert tl.stage_of(V(35), t) == "group2"
    assert tl.train_state(V(35), t).next_stage == "testwikis"  # first stage not on it
    assert tl.live_versions(t) == [V(35), V(32), V(31)]

    stats = tl.stats(V(35))
    assert (stats.rollbacks, stats.rollbacks_time) == (1, 72900)  # train-stats: 1, 72867
    # group1's step and the 18:56 testwikis step are not in the excerpt: no group1 delay, and
    # total_time starts at 19:41 (170400) instead of 18:56 (173100 ~ train-stats 173118).
    assert delays(stats) == (1, None, 0)  # train-stats: 1 0 0
    assert stats.total_time == 170400


def test_flip_flop_versions_on_0129(tl):
    assert tl.version_at("enwiki", utc("2021-01-29 22:07")) == V(27)
    assert tl.version_at("enwiki", utc("2021-01-29 22:11")) == V(28)
    assert tl.version_at("enwiki", utc("2021-01-29 22:24")) == V(27)
    assert tl.version_at("group2", utc("2021-01-29 22:24").timestamp()) == V(27)  # epoch seconds work too


# --- replay semantics on small inline logs ---------------------------------------------------------


def test_revert_of_unknown_message_is_an_error():
    steps = log_steps(
        "2021-01-26 18:05 A | testwikis wikis to 1.36.0-wmf.28",
        '2021-01-26 19:00 A | Revert "group0 wikis to 1.36.0-wmf.28"',
    )
    timeline = Timeline.build(steps)
    [error] = timeline.errors
    assert error.step.line == 2
    assert (
        str(error)
        == "inline:2: Revert of a step not found earlier in the log: 'Revert \"group0 wikis to 1.36.0-wmf.28\"'"
    )
    assert timeline.version_at("testwikis", utc("2021-01-26 19:01")) == V(28)
    with pytest.raises(TimelineError, match="inline:2"):
        Timeline.build(steps, strict=True)


def test_revert_of_a_later_step_is_an_error():
    """A revert can only undo something that happened before it."""
    steps = log_steps(
        '2021-01-26 18:00 A | Revert "testwikis wikis to 1.36.0-wmf.28"',
        "2021-01-26 18:05 A | testwikis wikis to 1.36.0-wmf.28",
    )
    assert len(Timeline.build(steps).errors) == 1


def test_revert_targets_most_recent_matching_step_and_revert_of_revert_reapplies():
    steps = log_steps(
        "2021-01-26 18:00 A | all wikis to 1.36.0-wmf.27",
        "2021-01-26 18:05 A | group0 wikis to 1.36.0-wmf.28",
        "2021-01-26 18:10 A | group0 wikis to 1.36.0-wmf.27",
        "2021-01-26 18:15 A | group0 wikis to 1.36.0-wmf.28",
        '2021-01-26 18:20 A | Revert "group0 wikis to 1.36.0-wmf.28"',
        '2021-01-26 18:25 A | Revert "Revert "group0 wikis to 1.36.0-wmf.28""',
    )
    timeline = Timeline.build(steps)
    assert timeline.errors == ()
    at = lambda hhmm: timeline.version_at("group0", utc(f"2021-01-26 {hhmm}"))  # noqa: E731
    assert [at("18:16"), at("18:21"), at("18:26")] == [V(28), V(27), V(28)]
    revert = timeline.applied[4]
    assert revert.undoes is not None and revert.undoes.line == 4  # the 18:15 step, not 18:05
    assert [r.at for r in timeline.rollbacks(V(28))] == [utc("2021-01-26 18:10"), utc("2021-01-26 18:20")]


def test_revert_matches_by_groups_and_version_when_wording_differs():
    """SAL and git may word a subject differently; fall back to (groups, version)."""
    steps = log_steps(
        "2021-01-26 18:00 A | all wikis to 1.36.0-wmf.27",
        "2021-01-26 18:05 A | group0 wikis to 1.36.0-wmf.28  (T1234)",
        '2021-01-26 18:20 A | Revert "group0 wikis to 1.36.0-wmf.28"',
    )
    timeline = Timeline.build(steps)
    assert timeline.errors == ()
    assert timeline.version_at("group0", utc("2021-01-26 18:21")) == V(27)


def test_rollback_step_into_unknown_state_is_not_a_promotion():
    steps = log_steps("2021-01-26 20:46 A | Rollback group0 to 1.36.0-wmf.27")
    timeline = Timeline.build(steps)
    assert timeline.version_at("group0", utc("2021-01-26 20:46")) == V(27)
    assert timeline.promotions(V(27)) == []
    assert timeline.stats(V(27)).first_deploy is None


def test_forward_worded_rollback_and_noop():
    """`all wikis to <older>` is a rollback; a step that changes nothing is kept as a no-op."""
    steps = log_steps(
        "2021-01-26 18:00 A | all wikis to 1.36.0-wmf.28",
        "2021-01-26 18:05 A | group0 wikis to 1.36.0-wmf.28",
        "2021-01-26 18:10 A | all wikis to 1.36.0-wmf.27",
    )
    timeline = Timeline.build(steps)
    assert timeline.applied[1].transitions == ()
    assert [r.from_groups for r in timeline.rollbacks(V(28))] == [STAGES]
    effects = [s["effect"] for s in timeline.explain(V(28))["steps"]]
    assert effects == ["forward", "no-op", "rollback"]
    assert [s["effect"] for s in timeline.explain(V(27))["steps"]] == ["rollback-target"]


def test_numeric_version_order_across_majors():
    steps = log_steps(
        "2021-04-06 18:00 A | all wikis to 1.36.0-wmf.38",
        "2021-04-13 18:00 A | group0 wikis to 1.37.0-wmf.1",
        "2021-04-13 19:00 A | group0 wikis to 1.36.0-wmf.38",
        "2021-04-14 18:00 A | group0 wikis to 1.36.0-wmf.9",  # much older: still a rollback of wmf.38
    )
    timeline = Timeline.build(steps)
    assert [r.at for r in timeline.rollbacks("1.37.0-wmf.1")] == [utc("2021-04-13 19:00")]
    assert [r.at for r in timeline.rollbacks(V(38))] == [utc("2021-04-14 18:00")]
    assert timeline.live_versions(utc("2021-04-13 18:30")) == ["1.37.0-wmf.1", V(38)]
    assert timeline.versions() == ["1.37.0-wmf.1", V(38), V(9)]


def test_overlapping_rollbacks_count_time_once():
    """A second rollback while already rolled back adds a count but not time (train-stats)."""
    steps = log_steps(
        "2021-01-26 18:00 A | all wikis to 1.36.0-wmf.28",
        "2021-01-26 19:00 A | group2 wikis to 1.36.0-wmf.27",
        "2021-01-26 20:00 A | group1 wikis to 1.36.0-wmf.27",
        "2021-01-26 21:00 A | all wikis to 1.36.0-wmf.28",
    )
    stats = Timeline.build(steps).stats(V(28))
    assert (stats.rollbacks, stats.rollbacks_time) == (2, 7200)


def test_equal_times_replay_in_given_order():
    steps = log_steps(
        "2021-01-26 20:39 A | group0 wikis to 1.36.0-wmf.28",
        "2021-01-26 20:39 A | Rollback group0 to 1.36.0-wmf.27",
    )
    timeline = Timeline.build(steps)
    assert timeline.version_at("group0", utc("2021-01-26 20:39")) == V(27)
    assert len(timeline.rollbacks(V(28))) == 1


def test_initial_versions_and_queries_before_history():
    steps = log_steps("2021-01-26 18:05 A | testwikis wikis to 1.36.0-wmf.28")
    bare = Timeline.build(steps)
    assert bare.version_at("group2", utc("2021-01-27 00:00")) is None
    assert bare.live_versions(utc("2021-01-26 00:00")) == []
    seeded = Timeline.build(steps, initial={"all": "php-" + V(27)})
    assert seeded.version_at("group2", utc("2021-01-01 00:00")) == V(27)
    assert seeded.live_versions(utc("2021-01-26 18:05")) == [V(28), V(27)]
    with pytest.raises(ValueError, match="naive"):
        seeded.version_at("group2", datetime(2021, 1, 27))


def test_stats_for_a_version_never_deployed():
    stats = Timeline.build([]).stats(V(99))
    assert (stats.first_deploy, stats.total_time, stats.conductor, stats.rollbacks) == (None, None, None, 0)
    assert delays(stats) == (None, None, None)


def test_conductor_ignores_bots_and_breaks_ties_by_first_seen():
    steps = log_steps(
        "2021-01-26 18:05 jenkins-bot | testwikis wikis to 1.36.0-wmf.28",
        "2021-01-26 19:05 jenkins-bot | group0 wikis to 1.36.0-wmf.28",
        "2021-01-27 19:05 Zed | group1 wikis to 1.36.0-wmf.28",
        "2021-01-28 19:05 Amy | all wikis to 1.36.0-wmf.28",
    )
    assert Timeline.build(steps).stats(V(28)).conductor == "Zed"


def test_snapshot_steps_replay(tmp_path):
    members = GroupMembership.from_lists(
        {
            "testwikis": ["testwiki"],
            "group0": ["testwiki", "mediawikiwiki"],
            "group1": ["commonswiki"],
            "group2": ["enwiki"],
        }
    )
    base = {"testwiki": V(27), "mediawikiwiki": V(27), "commonswiki": V(27), "enwiki": V(27)}
    snaps = [
        ("2021-01-26T17:00:00Z", base),
        ("2021-01-26T18:05:00Z", {**base, "testwiki": V(28)}),
        ("2021-01-26T20:39:00Z", {**base, "testwiki": V(28), "mediawikiwiki": V(28)}),
        ("2021-01-26T20:46:00Z", base),
    ]
    lines = [json.dumps({"at": at, "wikiversions": {w: f"php-{v}" for w, v in m.items()}}) for at, m in snaps]
    result = parse_lines(lines, membership=members)
    timeline = Timeline.build(result.steps, members)
    assert timeline.version_at("mediawikiwiki", utc("2021-01-26 20:40")) == V(28)
    [rollback] = timeline.rollbacks(V(28))
    assert rollback.from_groups == ("testwikis", "group0")


# --- JSON output -------------------------------------------------------------------------------------


def test_explain_is_json_ready(tl):
    out = json.loads(json.dumps(tl.explain(V(28))))
    assert out["version"] == V(28)
    assert (out["rollbacks"], out["rollbacks_time"], out["total_time"]) == (4, 308100, 501480)
    assert (out["group0_delay_days"], out["group1_delay_days"], out["group2_delay_days"]) == (6, 5, 1)
    assert out["stages"][3] == {
        "group": "group2",
        "promotions": ["2021-01-28T21:25:00Z", "2021-01-29T22:10:00Z"],
        "landed": "2021-01-29T22:10:00Z",
        "delay_days": 1,
    }
    assert out["rollback_events"][-1]["restored_at"] is None
    assert out["steps"][0]["changes"] == [{"group": "testwikis", "from": V(27), "to": V(28)}]
    assert out["steps"][0]["source"].endswith("wikiversions_1.36.log:39")
    summary = json.loads(json.dumps(tl.to_dict()))
    assert [t["version"] for t in summary["trains"]][:2] == [V(35), V(34)]
    assert summary["errors"] == []


# --- groups: dblists and inference -------------------------------------------------------------------


def test_load_dblists_first_stage_wins(tmp_path):
    (tmp_path / "testwikis.dblist").write_text("testwiki\ntestwikidatawiki\n")
    (tmp_path / "group0.dblist").write_text(
        "# group0 includes the test wikis\ntestwiki\nmediawikiwiki  # docs\n\n"
    )
    (tmp_path / "group1.dblist").write_text("commonswiki\r\n")
    (tmp_path / "all.dblist").write_text("testwiki\nmediawikiwiki\ncommonswiki\nenwiki\ntestwikidatawiki\n")
    members = load_dblists(tmp_path)
    assert members.group_of("testwiki") == "testwikis"
    assert members.group_of("mediawikiwiki") == "group0"
    assert members.group_of("commonswiki") == "group1"
    assert members.group_of("enwiki") == "group2"  # in all.dblist only, no group2.dblist: the remainder
    assert members.group_of("dewiki") is None
    assert members.wikis_in("testwikis") == {"testwiki", "testwikidatawiki"}
    assert len(members) == 5 and "enwiki" in members


def test_explicit_group2_list_disables_the_remainder_rule(tmp_path):
    (tmp_path / "group2.dblist").write_text("enwiki\n")
    (tmp_path / "all.dblist").write_text("enwiki\ndewiki\n")
    members = load_dblists(tmp_path)
    assert (members.group_of("enwiki"), members.group_of("dewiki")) == ("group2", None)


def test_dblist_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_dblists(tmp_path)
    (tmp_path / "group0.dblist").write_text("mediawikiwiki\nnot a wiki\n")
    with pytest.raises(DblistError, match=r"group0.dblist:2: not a database name"):
        load_dblists(tmp_path)
    with pytest.raises(ValueError, match="unknown stage"):
        GroupMembership.from_lists({"group3": ["x"]})


def test_next_stage():
    assert [next_stage(s) for s in (None, *STAGES, "wikis:3")] == [
        "testwikis",
        "group0",
        "group1",
        "group2",
        None,
        None,
    ]


def test_infer_groups_from_observed_versions(tl):
    """Events carry (wiki, mwversion, time); match them against what each stage ran."""
    obs = [
        # group0 got wmf.28 at 20:39 and lost it at 20:46; group1 stayed on wmf.27.
        ("mediawikiwiki", V(28), utc("2021-01-26 20:44")),
        ("mediawikiwiki", V(27), utc("2021-01-27 12:00")),
        ("mediawikiwiki", V(28), utc("2021-01-28 12:00")),
        ("commonswiki", V(27), utc("2021-01-28 12:00")),
        ("commonswiki", V(28), utc("2021-01-28 21:20").timestamp()),
        # Only seen while testwikis alone differed: testwikis.
        ("testwiki", V(28), utc("2021-01-26 19:00")),
        # Seen only when all stages agreed (before 01-26 18:05, everything on wmf.27): no evidence.
        ("enwiki", V(27), utc("2021-01-23 12:00")),
        # Seen 2 minutes after a step, still on the old version: inside the settle window, ignored.
        ("dewiki", V(27), utc("2021-01-28 21:27")),
    ]
    inferred = infer_groups(obs, tl)
    assert inferred["mediawikiwiki"].group == "group0"
    # The 20:44 event is 5 minutes after the 20:39 step: inside the default 10-minute settle window.
    assert (inferred["mediawikiwiki"].confidence, inferred["mediawikiwiki"].evidence) == (1.0, 2)
    assert infer_groups(obs[:3], tl, settle=timedelta(minutes=2))["mediawikiwiki"].evidence == 3
    assert not inferred["mediawikiwiki"].ambiguous
    # 21:20 is inside the settle window after group1's 21:15 step, so only the 01-28 12:00
    # event counts: group1 and group2 both ran wmf.27 then; the later (larger) stage wins.
    assert (inferred["commonswiki"].group, inferred["commonswiki"].candidates) == (
        "group2",
        ("group1", "group2"),
    )
    assert inferred["commonswiki"].ambiguous
    assert infer_groups(obs, tl, settle=timedelta(minutes=2))["commonswiki"].group == "group1"
    assert inferred["testwiki"].group == "testwikis"
    assert (inferred["enwiki"].group, inferred["enwiki"].evidence) == (None, 0)
    assert (inferred["dewiki"].group, inferred["dewiki"].evidence) == (None, 0)
    assert all(i.inferred for i in inferred.values())


def test_infer_groups_ambiguous_picks_latest_and_reports_candidates(tl):
    # 2021-01-28 12:00: testwikis and group0 both on wmf.28, group1/2 on wmf.27.
    # The later stage wins a tie: early stages are small (testwikis has three wikis).
    [(wiki, result)] = infer_groups([("officewiki", V(28), utc("2021-01-28 12:00"))], tl).items()
    assert (result.group, result.candidates, result.ambiguous) == ("group0", ("testwikis", "group0"), True)


def test_infer_groups_inconsistent_observations_lower_confidence(tl):
    obs = [
        ("metawiki", V(27), utc("2021-01-28 12:00")),
        ("metawiki", V(28), utc("2021-01-28 12:30")),
        ("metawiki", V(27), utc("2021-01-28 13:00")),
    ]
    result = infer_groups(obs, tl)["metawiki"]
    assert (result.group, result.candidates) == ("group2", ("group1", "group2"))
    assert result.confidence == pytest.approx(2 / 3)
