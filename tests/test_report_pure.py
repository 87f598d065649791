"""Reports, pure parts: backport import, train rows, backlog, cycle figures, agenda, minutes, summary."""

from __future__ import annotations

import csv
import io

import pytest

from tests.test_classify import AT
from tests.test_notify_pure import decision
from traintriage.core.timeparse import parse_timestamp
from traintriage.detect.blockers import BlockerEvidence, TaskState
from traintriage.detect.decision import Review
from traintriage.report.agenda import agenda_text, build_agenda, build_minutes, fixed_in_offers, minutes_text
from traintriage.report.metrics import (
    BacklogItem,
    FlagFacts,
    backlog,
    cycle,
    percentile,
    rows_csv,
    sparkline,
    train_row,
)
from traintriage.report.summary import SummaryError, TrainSummary, summary_subject, summary_text
from traintriage.train.backports import parse_backports
from traintriage.train.deploylog import parse_lines
from traintriage.train.timeline import Timeline
from traintriage.triage.reviews import ReviewRecord

GIT_LOG = """\
commit 1111111111111111111111111111111111111111 (HEAD -> wmf/1.36.0-wmf.28, origin/wmf/1.36.0-wmf.28)
Author: Ana Dev <ana@example.org>
Date:   Thu Jan 28 12:00:00 2021 +0000

    Echo: Guard against null revision

    Bug: T273001
    Change-Id: I0123456789abcdef0123456789abcdef01234567

commit 2222222222222222222222222222222222222222
Author: Bob Dev <bob@example.org>
Date:   Fri Jan 29 09:30:00 2021 +0100

    Update wmf-config comment only

    Change-Id: Iaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa

commit 3333333333333333333333333333333333333333
Author: trainbranchbot <releng@example.org>
Date:   Tue Jan 26 00:00:00 2021 +0000

    Creating new wmf/1.36.0-wmf.28 branch

commit 4444444444444444444444444444444444444444
Author: Ana Dev <ana@example.org>

    no date header here
"""


def test_git_log_backports_with_bug_footers() -> None:
    parsed = parse_backports(GIT_LOG, "wmf28.log")
    assert parsed.skipped == 1
    assert [str(e) for e in parsed.errors] == [
        "wmf28.log:24: commit without a Date: header: 'commit 4444444444444444444444444444444444444444'"
    ]
    first, second = parsed.backports
    assert (first.version, first.change, first.bugs, first.bugfix) == (
        "1.36.0-wmf.28",
        "I0123456789abcdef0123456789abcdef01234567",
        ("T273001",),
        True,
    )
    assert (
        first.at == parse_timestamp("2021-01-28T12:00:00Z")
        and first.title == "Echo: Guard against null revision"
    )
    assert second.version == "1.36.0-wmf.28" and not second.bugfix
    assert second.at == parse_timestamp("2021-01-29T08:30:00Z")


def test_git_log_without_a_version_needs_one() -> None:
    log = GIT_LOG.replace(" (HEAD -> wmf/1.36.0-wmf.28, origin/wmf/1.36.0-wmf.28)", "")
    parsed = parse_backports(log, "x.log")
    assert len(parsed.backports) == 0 and any("give --version" in e.reason for e in parsed.errors)
    assert len(parse_backports(log, "x.log", version="1.36.0-wmf.29").backports) == 2
    with pytest.raises(ValueError, match="not a train version"):
        parse_backports(log, version="latest")


def test_csv_backports_and_bad_rows() -> None:
    text = (
        "version,change,at,bugs,title\n"
        "1.36.0-wmf.28,675432,2021-01-28T12:00Z,T1 T2,fix a\n"
        "1.36.0-wmf.28,675433,,,\n"
        "wmf.28,675434,,,\n"
        "1.36.0-wmf.29,675435,,X9,\n"
        "1.36.0-wmf.29,,,,\n"
    )
    parsed = parse_backports(text, "list.csv")
    assert [(b.change, b.bugs) for b in parsed.backports] == [("675432", ("T1", "T2")), ("675433", ())]
    reasons = [(e.line, e.reason) for e in parsed.errors]
    assert reasons[0] == (4, "version 'wmf.28' is not a train version like 1.36.0-wmf.28")
    assert reasons[1][0] == 5 and "'X9' is not a task id" in reasons[1][1]
    assert reasons[2][0] == 6 and "change is empty" in reasons[2][1]
    assert parse_backports("hello\n", "odd.txt").errors[0].reason.startswith("neither")


DEPLOY = """\
2021-01-19 18:00 Brennen Bearnes | all wikis to 1.36.0-wmf.27
2021-01-26 18:05 Ahmon Dancy    | testwikis wikis to 1.36.0-wmf.28
2021-01-26 20:39 Ahmon Dancy    | group0 wikis to 1.36.0-wmf.28
2021-01-26 20:46 Ahmon Dancy    | Rollback group0 to 1.36.0-wmf.27
2021-01-27 21:55 Ahmon Dancy    | group0 wikis to 1.36.0-wmf.28
2021-01-28 21:15 Brennen Bearnes| group1 wikis to 1.36.0-wmf.28
2021-01-28 21:25 Brennen Bearnes| all wikis to 1.36.0-wmf.28
"""


def stats28() -> object:
    timeline = Timeline.build(parse_lines(DEPLOY.splitlines()).steps)
    return timeline.stats("1.36.0-wmf.28")


def test_train_row_combines_deploys_backports_blockers_and_reviews() -> None:
    bps = parse_backports(GIT_LOG, "x").backports
    t0 = parse_timestamp("2021-01-26T20:00:00Z")
    flags = [
        FlagFacts("a", "growth-team", t0, t0 + 86400, t0 + 3600),
        FlagFacts("b", "growth-team", t0, t0 + 86400, t0 + 2 * 86400),
        FlagFacts("c", "web-team", t0, t0 + 86400, None),
        FlagFacts("d", "web-team", t0, t0 + 86400, t0 + 7200),
    ]
    row = train_row(stats28(), bps, 3, flags)  # type: ignore[arg-type]
    assert (row.version, row.conductor, row.shipped, row.rollbacks) == (
        "1.36.0-wmf.28",
        "Ahmon Dancy",
        True,
        1,
    )
    assert row.rollback_seconds == round(
        parse_timestamp("2021-01-27T21:55:00Z") - parse_timestamp("2021-01-26T20:46:00Z")
    )
    assert (row.backports, row.bugfix_backports, row.blockers) == (2, 1, 3)
    assert (row.new_errors, row.reviewed_in_time, row.coverage) == (4, 2, 0.5)
    assert row.new_by_team == {"growth-team": 2, "web-team": 2}
    assert row.ttfr_median == 7200 and row.ttfr_p90 == pytest.approx(
        3600 + 0.8 * (172800 - 7200) + 7200 - 3600 - 0.8 * 0
    )
    assert row.to_dict()["group0_delay_days"] == 1


def test_percentile_interpolates() -> None:
    assert percentile([], 0.9) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == pytest.approx(9.1)
    assert percentile([1, 3], 0.5) == 2


def test_csv_export_escapes_formula_like_cells() -> None:
    row = train_row(stats28(), [], None, [])  # type: ignore[arg-type]
    hostile = row.__class__(**{**row.__dict__, "conductor": '=HYPERLINK("http://evil")'})
    text = rows_csv([row, hostile])
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed[0]["conductor"] == "Ahmon Dancy" and parsed[0]["blockers"] == ""
    assert parsed[1]["conductor"].startswith("'=HYPERLINK")


def test_backlog_by_team_and_age_calls_out_over_a_year() -> None:
    now = AT
    items = [
        BacklogItem("a", "A", "growth-team", now - 2 * 86400, now, "untriaged"),
        BacklogItem("b", "B", "growth-team", now - 400 * 86400, now, "known"),
        BacklogItem("c", "C", "", now - 40 * 86400, now, "needs-info"),
        BacklogItem("d", "D", "web-team", now - 800 * 86400, now, "not-blocker"),
    ]
    b = backlog(items, now)
    assert b.total == 4
    assert b.by_team["growth-team"]["under 1 week"] == 1 and b.by_team["growth-team"]["over a year"] == 1
    assert b.by_team["unowned"]["1-3 months"] == 1
    assert [i.signature for i in b.over_a_year] == ["d", "b"]
    assert b.to_dict()["over_a_year"][0]["age_days"] == 800.0


def test_cycle_counts_trains_started_in_the_window() -> None:
    row = train_row(stats28(), parse_backports(GIT_LOG, "x").backports, 2, [])  # type: ignore[arg-type]
    start = parse_timestamp("2021-01-25T00:00:00Z")
    fig = cycle([row], start, weeks=1)
    assert (len(fig.versions), fig.shipped, fig.rollbacks, fig.backports, fig.bugfix_backports) == (
        1,
        1,
        1,
        2,
        1,
    )
    assert cycle([row], start + 86400 * 2, weeks=1).versions == ()
    assert fig.to_dict()["weeks"] == 1.0


def test_sparkline_scales_to_the_maximum() -> None:
    assert sparkline([0, 1, 2, 4]) == "▁▃▅█"
    assert sparkline([None, 0, 0]) == " ▁▁"
    assert sparkline([]) == ""


# --------------------------------------------------------------------------- #
# Agenda and minutes
# --------------------------------------------------------------------------- #


def test_agenda_lists_what_each_team_must_decide_with_suggestions() -> None:
    d = decision([Review("newwarn", "known", "ana", AT - 60, "T1")])
    tasks = {"T9": TaskState("T9", "Echo fatal", "open")}
    agenda = build_agenda(d, {"newexc": ["T9"]}, tasks)
    assert list(agenda.teams) == ["growth-team", "unowned"]  # web-team's item is decided (known)
    item = agenda.teams["growth-team"][0]
    assert (item.suggestion, item.blocking) == ("blocker", True)
    assert "tracked in T9" in item.reason and item.tasks[0].id == "T9"
    spam = agenda.teams["unowned"][0]
    assert spam.suggestion == "blocker" and "logspam" in spam.reason
    assert agenda.decided == 1 and agenda.items == 2
    text = agenda_text(agenda, "https://tt.example.org")
    assert "## growth-team (1)" in text and "suggest: blocker" in text
    assert "\x03" not in text and "\r" not in text  # the hostile title is cleaned for the terminal
    assert "https://tt.example.org/signatures/newexc" in text


def test_resolved_linked_task_offers_fixed_in() -> None:
    states = {"T5": TaskState("T5", "x", "resolved"), "T6": TaskState("T6", "y", "open")}
    reviews = {"s2": Review("s2", "fixed-in", "ana", AT, target="T5")}
    assert fixed_in_offers({"s1": ["T6", "T5"], "s2": ["T5"], "s3": ["T6"]}, states, reviews) == [
        ("s1", "T5")
    ]
    d = decision()
    agenda = build_agenda(d, {"newexc": ["T5"]}, states)
    assert agenda.offers == (("newexc", "T5"),)
    assert agenda.teams["growth-team"][0].suggestion == "fixed-in T5"


def test_minutes_record_the_meetings_verdicts() -> None:
    d = decision()
    records = [
        ReviewRecord(
            1,
            "newexc",
            "1.41.0-wmf.2",
            "blocker",
            None,
            None,
            "breaks save",
            ("T9",),
            None,
            False,
            "ana",
            AT - 100,
        ),
        ReviewRecord(
            2, "newwarn", "1.41.0-wmf.1", "known", None, None, None, ("T1",), None, False, "bob", AT - 90
        ),
        ReviewRecord(3, "spam", None, "not-blocker", None, None, None, (), None, False, "bob", AT - 5000),
    ]
    m = build_minutes(
        "1.41.0-wmf.2",
        records,
        AT - 3600,
        AT,
        titles={"newexc": "Error: x"},
        teams={"newexc": "growth-team"},
        after=d,
    )
    assert [e.signature for e in m.entries] == ["newexc"]  # other version / before the meeting
    text = minutes_text(m)
    assert "- newexc blocker (T9) by ana: Error: x" in text and "note: breaks save" in text
    assert "the train now: NO-GO" in text and m.attendees == ("ana",)


def test_summary_text_has_the_train_stats_sections_and_sparklines() -> None:
    rows = [
        train_row(stats28(), [], n, [])  # type: ignore[arg-type]
        for n in (1, 0, 4, 2)
    ]
    row = train_row(
        stats28(),
        parse_backports(GIT_LOG, "x").backports,
        2,
        [FlagFacts("a", "growth-team", AT, AT + 10, AT + 5)],
    )  # type: ignore[arg-type]
    blocker = BlockerEvidence(
        "1.36.0-wmf.28",
        TaskState("T270000", "1.36.0-wmf.28 deployment blockers", "open", url="https://phab.example/T270000"),
        (TaskState("T270001", "Echo fatal", "resolved"),),
        fetched_at=AT - 60,
        checked_at=AT - 30,
    )
    s = TrainSummary(
        row,
        (*rows, row),
        blocker=blocker,
        errors=(
            SummaryError("a58cf8647430d444", "Error: x", "growth-team", ("new",), 5.0, "blocker", "ana"),
        ),
        thanks=("ana", "bob"),
        base_url="https://tt.example.org",
        at=AT,
    )
    text = summary_text(s)
    assert text.startswith(summary_subject("1.36.0-wmf.28"))
    assert "Conductor: Ahmon Dancy" in text and "Blocker task: T270000 https://phab.example/T270000" in text
    assert "  blockers      ▃▁█▅▅  1 0 4 2 2" in text
    assert "backports: 2 (1 with a Bug: footer)" in text and "rollbacks: 1 (1 d 1 h rolled back)" in text
    assert "a58cf864 [new] Error: x growth-team: first review after 5 s (blocker by ana)" in text
    assert "T270001 Echo fatal [resolved]" in text and text.rstrip().endswith("ana, bob.")
    assert s.to_dict()["sparklines"]["blockers"] == "▃▁█▅▅"
