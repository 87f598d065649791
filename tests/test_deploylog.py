"""Deployment-history parsing: every supported format, and every way a line can be bad."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from traintriage.core.versions import normalize_version, version_key
from traintriage.core.vocabulary import STAGES
from traintriage.train.deploylog import (
    CSV_HEADER,
    FORMAT_CSV,
    FORMAT_JSON,
    FORMAT_JSONL,
    FORMAT_SAL,
    FORMAT_SNAPSHOT_DIR,
    FORMAT_SNAPSHOTS,
    FORMAT_UNKNOWN,
    FORMAT_WIKIVERSIONS_LOG,
    DeployStep,
    detect_format,
    diff_snapshots,
    format_csv_record,
    parse_file,
    parse_lines,
    parse_message,
    parse_time,
)
from traintriage.train.groups import GroupMembership

DATA = Path(__file__).parent / "data" / "wikiversions_1.36.log"
W27, W28 = "1.36.0-wmf.27", "1.36.0-wmf.28"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- the real 1.36 log -----------------------------------------------------------


@pytest.fixture(scope="module")
def real():
    return parse_file(DATA)


def test_real_log_parses_completely(real):
    assert real.format == FORMAT_WIKIVERSIONS_LOG
    assert real.errors == [] and real.ignored == []
    assert len(real.steps) == 42  # 29 excerpt lines + 13 wmf.28 lines; header comments skipped
    assert [s.at for s in real.steps] == sorted(s.at for s in real.steps)


def test_real_log_sorted_across_the_two_parts(real):
    """The wmf.28 block comes last in the file but belongs between Jan 22 and Feb 9."""
    ats = [s.at for s in real.steps]
    after_jan22 = real.steps[ats.index(utc("2021-01-22 00:28")) + 1]
    assert (after_jan22.message, after_jan22.line) == (f"testwikis wikis to {W28}", 39)
    assert real.steps[0] == DeployStep(
        utc("2021-01-19 17:59"),
        ("testwikis",),
        W27,
        "Brennen Bearnes",
        "unknown-direction",
        f"testwikis wikis to {W27}",
        str(DATA),
        9,
    )


def test_real_log_step_shapes(real):
    by_msg = {s.message: s for s in real.steps}
    rollback = by_msg[f"Rollback group0 to {W27}"]
    assert (rollback.kind, rollback.groups, rollback.version) == ("rollback", ("group0",), W27)
    revert = by_msg[f'Revert "all wikis to {W27}"']
    assert (revert.kind, revert.version, revert.groups) == ("revert", None, STAGES)
    assert revert.reverted_message == f"all wikis to {W27}"
    assert by_msg[f"all wikis to {W28}"].groups == STAGES
    # Name glued to the bar ("Brennen Bearnes| group1 ...") still splits correctly.
    [glued] = [s for s in real.steps if s.at == utc("2021-01-28 21:15")]
    assert (glued.actor, glued.groups, glued.version) == ("Brennen Bearnes", ("group1",), W28)
    # Trailing text after the version ("  refs T274936") is not part of it.
    refs = by_msg["testwikis wikis to 1.36.0-wmf.32  refs T274936"]
    assert refs.version == "1.36.0-wmf.32"


# --- line hygiene -------------------------------------------------------------------


def test_unknown_line_is_an_error_with_its_line_number():
    lines = [
        "2021-01-26 18:05 Ahmon Dancy | testwikis wikis to 1.36.0-wmf.28",
        "this is not a deploy",
        "2021-01-26 20:39 Ahmon Dancy | group0 wikis to 1.36.0-wmf.28",
        "2021-01-26 20:40 Ahmon Dancy | Bump foo config",
        "2021-13-26 20:41 Ahmon Dancy | group1 wikis to 1.36.0-wmf.28",
    ]
    result = parse_lines(lines, "t.log")
    assert [s.line for s in result.steps] == [1, 3]
    assert [(e.line, e.text) for e in result.errors] == [(2, lines[1]), (4, lines[3]), (5, lines[4])]
    assert "expected 'YYYY-MM-DD HH:MM Name | message'" in result.errors[0].reason
    assert "not a train step" in result.errors[1].reason
    assert str(result.errors[0]).startswith("t.log:2: ")
    assert not result.ok


def test_crlf_trailing_spaces_bom_blanks_and_comments():
    lines = [
        "\ufeff# exported 2021-02-01\r\n",
        "\r\n",
        "2021-01-26 18:05 Ahmon Dancy | testwikis wikis to 1.36.0-wmf.28   \r\n",
        "   \r\n",
        "2021-01-26 20:39 Ahmon Dancy\t| group0 wikis to php-1.36.0-wmf.28\t\r\n",
    ]
    result = parse_lines(lines)
    assert result.errors == []
    assert [(s.line, s.version, s.message) for s in result.steps] == [
        (3, W28, f"testwikis wikis to {W28}"),
        (5, W28, "group0 wikis to php-1.36.0-wmf.28"),
    ]


def test_crlf_file_on_disk(tmp_path):
    path = tmp_path / "log.txt"
    path.write_bytes(
        b"2021-01-26 18:05 A | testwikis wikis to 1.36.0-wmf.28\r\n"
        b"2021-01-26 20:39 A | group0 wikis to 1.36.0-wmf.28 \r\n"
    )
    result = parse_file(path)
    assert result.errors == [] and [s.line for s in result.steps] == [1, 2]


def test_out_of_order_lines_are_sorted():
    lines = [
        "2021-01-28 21:15 B | group1 wikis to 1.36.0-wmf.28",
        "2021-01-26 18:05 A | testwikis wikis to 1.36.0-wmf.28",
        "2021-01-27 21:55 A | group0 wikis to 1.36.0-wmf.28",
    ]
    assert [s.line for s in parse_lines(lines).steps] == [2, 3, 1]


def test_newest_first_log_keeps_same_minute_commits_in_commit_order():
    """Plain `git log` is newest first; two commits in one minute must not swap."""
    lines = [
        "2021-01-26 20:46 A | Rollback group0 to 1.36.0-wmf.27",
        '2021-01-26 20:39 A | Revert "group0 wikis to 1.36.0-wmf.28"',
        "2021-01-26 20:39 A | group0 wikis to 1.36.0-wmf.28",
        "2021-01-26 18:05 A | testwikis wikis to 1.36.0-wmf.28",
    ]
    assert [s.line for s in parse_lines(lines).steps] == [4, 3, 2, 1]
    # Oldest-first input with the same tie keeps file order.
    assert [s.line for s in parse_lines(list(reversed(lines))).steps] == [1, 2, 3, 4]


def test_timestamps_with_seconds_and_offsets():
    lines = [
        "2021-01-26T18:05:07Z Ahmon Dancy | testwikis wikis to 1.36.0-wmf.28",
        "2021-01-26 12:39:00 -0800 Ahmon Dancy | group0 wikis to 1.36.0-wmf.28",
    ]
    steps = parse_lines(lines).steps
    assert [s.at for s in steps] == [utc("2021-01-26 18:05:07"), utc("2021-01-26 20:39")]
    assert steps[1].actor == "Ahmon Dancy"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("group0 wikis to 1.36.0-wmf.28", (("group0",), W28, "unknown-direction")),
        ("all wikis to 1.36.0-wmf.27", (STAGES, W27, "unknown-direction")),
        ("group2 wikis to 1.36.0-wmf.35", (("group2",), "1.36.0-wmf.35", "unknown-direction")),
        ("Group1 Wikis To 1.36.0-wmf.28.", (("group1",), W28, "unknown-direction")),
        ("group0 and group1 wikis to 1.36.0-wmf.28", (("group0", "group1"), W28, "unknown-direction")),
        ("Rollback group0 to 1.36.0-wmf.27", (("group0",), W27, "rollback")),
        ("Rollback group0 wikis to 1.36.0-wmf.27 (T123)", (("group0",), W27, "rollback")),
        ('Revert "group0 wikis to 1.36.0-wmf.27"', (("group0",), None, "revert")),
        ('Revert "Revert "all wikis to 1.36.0-wmf.27""', (STAGES, None, "revert")),
    ],
)
def test_parse_message(message, expected):
    assert parse_message(message) == expected


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("group3 wikis to 1.36.0-wmf.28", "unknown group 'group3'"),
        ("Creating new wiki foowiki", "not a train step"),
        ('Revert "Add foowiki to wikiversions"', "not a train step"),
        ("group0 wikis to", "not a train step"),
    ],
)
def test_parse_message_rejects(message, reason):
    with pytest.raises(ValueError, match=reason):
        parse_message(message)


def test_deploy_step_requires_aware_time_and_normalizes_to_utc():
    with pytest.raises(ValueError, match="timezone-aware"):
        DeployStep(datetime(2021, 1, 26), ("group0",), W28, None, "forward", "m")
    cet = timezone(timedelta(hours=1))
    step = DeployStep(datetime(2021, 1, 26, 19, 5, tzinfo=cet), ("group0",), W28, None, "forward", "m")
    assert step.at == utc("2021-01-26 18:05") and step.at.tzinfo is UTC


# --- versions and times --------------------------------------------------------------


def test_versions_compare_numerically():
    ordered = ["1.35.0-wmf.40", "1.36.0-wmf.1", "1.36.0-wmf.9", "1.36.0-wmf.10", "1.37.0-wmf.1"]
    assert sorted(reversed(ordered), key=version_key) == ordered
    assert version_key("php-1.36.0-wmf.9") == version_key("1.36.0-wmf.9")
    assert normalize_version(" php-1.36.0-wmf.30 ") == "1.36.0-wmf.30"
    # Mixed word/number positions must not raise.
    assert version_key("1.36.0-rc.1") < version_key("1.36.0-wmf.1")


@pytest.mark.parametrize(
    "text",
    [
        "2021-01-26 18:05",
        "2021-01-26T18:05:00Z",
        "2021-01-26 18:05 UTC",
        "2021-01-26T19:05:00+01:00",
        "2021-01-26T18-05-00Z",
        "20210126T180500Z",
        "2021-01-26T18:05:00.000+00:00",
    ],
)
def test_parse_time_variants(text):
    assert parse_time(text) == utc("2021-01-26 18:05")


def test_parse_time_rejects_garbage():
    with pytest.raises(ValueError, match="not a timestamp"):
        parse_time("yesterday")


# --- Server Admin Log -------------------------------------------------------------------


def test_sal_inline_dates_and_heading_dates():
    lines = [
        "2021-01-26 20:39 <dancy@deploy1001> rebuilt and synchronized wikiversions files: group0 wikis to 1.36.0-wmf.28",
        "== 2021-01-28 ==",
        "* 21:25 brennen@deploy1001: rebuilt and synchronized wikiversions files: all wikis to 1.36.0-wmf.28",
        "* 21:30 brennen@deploy1001: Synchronized php-1.36.0-wmf.28/includes/Foo.php: Backport (duration: 01m 02s)",
        '21:31 brennen@deploy1001: Synchronized wikiversions files: Revert "all wikis to 1.36.0-wmf.28"',
        "some garbage",
    ]
    result = parse_lines(lines, "sal.txt")
    assert result.format == FORMAT_SAL
    assert [(s.at, s.actor, s.groups, s.version, s.kind) for s in result.steps] == [
        (utc("2021-01-26 20:39"), "dancy", ("group0",), W28, "unknown-direction"),
        (utc("2021-01-28 21:25"), "brennen", STAGES, W28, "unknown-direction"),
        (utc("2021-01-28 21:31"), "brennen", STAGES, None, "revert"),
    ]
    assert [(i.line, i.reason) for i in result.ignored] == [(4, "SAL entry is not a wikiversions sync")]
    assert [e.line for e in result.errors] == [6]


def test_sal_time_without_a_day_is_an_error():
    lines = [
        "20:39 dancy@deploy1001: rebuilt and synchronized wikiversions files: all wikis to 1.36.0-wmf.28"
    ]
    result = parse_lines(lines, fmt=FORMAT_SAL)
    assert result.steps == []
    assert result.errors[0].line == 1 and "no '== YYYY-MM-DD ==' above" in result.errors[0].reason


def test_sal_unreadable_wikiversions_message_is_an_error():
    lines = ["== 2021-01-26 ==", "20:39 dancy@deploy1001: rebuilt and synchronized wikiversions files: oops"]
    result = parse_lines(lines)
    assert [(e.line, "not a train step" in e.reason) for e in result.errors] == [(2, True)]


# --- CSV / JSON / JSONL deployment records ------------------------------------------------


def test_csv_records():
    lines = [
        "at,version,group,actor",
        "2021-02-16T17:58:00Z,1.36.0-wmf.31,testwikis,Dan Duvall",
        '2021-02-18 20:06,php-1.36.0-wmf.31,all,"Duvall, Dan"',
        "2021-02-17 20:12,1.36.0-wmf.31,Group1,",
        "2021-02-17 20:13,1.36.0-wmf.31,group9,x",
        "not-a-time,1.36.0-wmf.31,group1,x",
        "2021-02-17 20:14,,group1,x",
        "2021-02-17 20:15,1.36.0-wmf.31,group1,x,extra",
    ]
    result = parse_lines(lines, "d.csv")
    assert result.format == FORMAT_CSV
    assert [(s.line, s.groups, s.version, s.actor, s.message) for s in result.steps] == [
        (2, ("testwikis",), "1.36.0-wmf.31", "Dan Duvall", "testwikis wikis to 1.36.0-wmf.31"),
        (4, ("group1",), "1.36.0-wmf.31", None, "group1 wikis to 1.36.0-wmf.31"),
        (3, STAGES, "1.36.0-wmf.31", "Duvall, Dan", "all wikis to 1.36.0-wmf.31"),
    ]
    assert [e.line for e in result.errors] == [5, 6, 7, 8]
    assert "unknown group 'group9'" in result.errors[0].reason


def test_csv_header_must_name_required_columns():
    result = parse_lines(["at,when,who", "2021-01-01,x,y"], fmt=FORMAT_CSV)
    assert result.steps == [] and result.errors[0].line == 1
    assert "lacks ['group', 'version']" in result.errors[0].reason


def test_csv_actor_column_is_optional_and_record_roundtrips():
    row = format_csv_record(datetime(2021, 2, 18, 20, 6, tzinfo=UTC), "1.36.0-wmf.31", "all", "Duvall, Dan")
    assert row == '2021-02-18T20:06:00Z,1.36.0-wmf.31,all,"Duvall, Dan"'
    step = parse_lines([CSV_HEADER, row]).steps[0]
    assert (step.at, step.groups, step.actor) == (utc("2021-02-18 20:06"), STAGES, "Duvall, Dan")
    assert parse_lines(["at,version,group", "2021-02-18 20:06,1.36.0-wmf.31,group2"]).steps[0].actor is None
    with pytest.raises(ValueError, match="unknown group"):
        format_csv_record(datetime(2021, 2, 18, tzinfo=UTC), "1.36.0-wmf.31", "prod")
    with pytest.raises(ValueError, match="single line"):
        format_csv_record(datetime(2021, 2, 18, tzinfo=UTC), "1.36.0-wmf.31", "all", "a\nb")


def test_results_of_several_files_merge_in_time_order():
    first = parse_lines(["at,version,group", "2021-02-18 20:06,1.36.0-wmf.31,all"], "a.csv")
    second = parse_lines(["2021-02-16 17:58 D | testwikis wikis to 1.36.0-wmf.31", "junk"], "b.log")
    first.extend(second)
    assert [(s.source, s.line) for s in first.steps] == [("b.log", 1), ("a.csv", 2)]
    assert [(e.source, e.line) for e in first.errors] == [("b.log", 2)]


def test_json_array_errors_point_at_the_item_line():
    records = [
        {
            "at": "2021-02-16T17:58:00Z",
            "version": "1.36.0-wmf.31",
            "group": "testwikis",
            "actor": "Dan Duvall",
        },
        {"at": "2021-02-16T20:29:00Z", "version": "1.36.0-wmf.31"},
        ["not", "an", "object"],
        {"at": "2021-02-18T20:06:00Z", "version": "1.36.0-wmf.31", "group": "all", "actor": None},
    ]
    lines = json.dumps(records, indent=1).splitlines()
    result = parse_lines(lines, "d.json")
    assert result.format == FORMAT_JSON
    assert [s.groups for s in result.steps] == [("testwikis",), STAGES]
    item_lines = [i for i, t in enumerate(lines, 1) if t.startswith(" {") or t.startswith(" [")]
    assert [e.line for e in result.errors] == item_lines[1:3]
    assert "'group' are required" in result.errors[0].reason


def test_json_syntax_error_and_non_array():
    broken = parse_lines(
        ['[{"at": "2021-01-01", "version": "1", "group": "group0"},', '{"at": ]'], fmt=FORMAT_JSON
    )
    assert len(broken.steps) == 1 and broken.errors[0].line == 2
    assert "invalid JSON" in broken.errors[0].reason
    not_array = parse_lines(['{"a": 1}'], fmt=FORMAT_JSON)
    assert not_array.errors[0].reason == "expected a JSON array of deployments"
    assert parse_lines(["[ ]"]).steps == []


def test_jsonl_records():
    lines = [
        '{"at": "2021-02-16T17:58:00Z", "version": "1.36.0-wmf.31", "group": "testwikis"}',
        "{oops",
        '{"at": "2021-02-16T20:29:00Z", "version": "1.36.0-wmf.31", "group": "group0", "actor": "Dan"}',
    ]
    result = parse_lines(lines)
    assert result.format == FORMAT_JSONL
    assert [s.line for s in result.steps] == [1, 3] and [e.line for e in result.errors] == [2]


# --- wikiversions.json snapshots -----------------------------------------------------------

MEMBERS = GroupMembership.from_lists(
    {
        "testwikis": ["testwiki"],
        "group0": ["testwiki", "mediawikiwiki", "officewiki"],
        "group1": ["commonswiki", "wikidatawiki"],
        "group2": ["enwiki", "dewiki"],
    }
)


def snapshot(at: str, **wikis: str) -> str:
    return json.dumps({"at": at, "wikiversions": {w: f"php-{v}" for w, v in wikis.items()}})


OLD = {
    "testwiki": W27,
    "mediawikiwiki": W27,
    "officewiki": W27,
    "commonswiki": W27,
    "wikidatawiki": W27,
    "enwiki": W27,
    "dewiki": W27,
}


def test_snapshot_diffs_become_steps():
    lines = [
        snapshot("2021-01-26T20:39:00Z", **{**OLD, "testwiki": W28, "mediawikiwiki": W28, "officewiki": W28}),
        snapshot("2021-01-26T18:05:00Z", **{**OLD, "testwiki": W28}),  # out of order on purpose
        snapshot("2021-01-26T17:00:00Z", **OLD),
        snapshot("2021-01-26T20:46:00Z", **OLD),
        "not json",
        '{"at": "2021-01-27", "wikiversions": {"enwiki": 5}}',
    ]
    result = parse_lines(lines, "snap.jsonl", membership=MEMBERS)
    assert result.format == FORMAT_SNAPSHOTS
    assert [(s.at, s.groups, s.version, s.kind) for s in result.steps] == [
        (utc("2021-01-26 18:05"), ("testwikis",), W28, "forward"),
        (utc("2021-01-26 20:39"), ("group0",), W28, "forward"),
        (utc("2021-01-26 20:46"), ("testwikis", "group0"), W27, "rollback"),
    ]
    assert result.steps[1].message == f"group0 wikis to {W28} (snapshot diff: 2 wikis from {W27})"
    assert [e.line for e in result.errors] == [5, 6]


def test_snapshot_diff_without_membership_uses_proxy_wikis():
    after = {**OLD, "mediawikiwiki": W28, "officewiki": W28}
    [step] = diff_snapshots(OLD, after, utc("2021-01-26 20:39"))
    assert step.groups == ("group0",)
    assert step.message.endswith("2 wikis from 1.36.0-wmf.27; 1 of no known group)")
    # No proxy wiki moved: a pseudo-group with the number of wikis.
    [odd] = diff_snapshots(OLD, {**OLD, "officewiki": W28, "dewiki": W28}, utc("2021-01-26 20:39"))
    assert odd.groups == ("wikis:2",)
    # A new wiki appearing is not a deployment.
    assert diff_snapshots(OLD, {**OLD, "newwiki": W28}, utc("2021-01-26 20:39")) == []


def test_snapshot_diff_mixed_directions_is_unknown():
    before = {"mediawikiwiki": "1.36.0-wmf.26", "commonswiki": "1.36.0-wmf.28"}
    after = {"mediawikiwiki": W27, "commonswiki": W27}
    [step] = diff_snapshots(before, after, utc("2021-01-26 20:39"))
    assert (step.kind, step.groups) == ("unknown-direction", ("group0", "group1"))


def test_snapshot_directory(tmp_path):
    (tmp_path / "2021-01-26T17:00:00Z.json").write_text(json.dumps({w: f"php-{v}" for w, v in OLD.items()}))
    (tmp_path / "2021-01-26T18-05-00Z.json").write_text(json.dumps({**OLD, "testwiki": W28}))
    (tmp_path / "latest.json").write_text("{}")
    (tmp_path / "2021-01-27T00:00:00Z.json").write_text("[1, 2]")
    (tmp_path / "notes.txt").write_text("ignored: not *.json")
    result = parse_file(tmp_path, membership=MEMBERS)
    assert result.format == FORMAT_SNAPSHOT_DIR
    assert [(s.at, s.groups, s.version) for s in result.steps] == [
        (utc("2021-01-26 18:05"), ("testwikis",), W28)
    ]
    assert sorted(e.text for e in result.errors) == ["2021-01-27T00:00:00Z.json", "latest.json"]


# --- detection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["# c", "2021-01-26 18:05 A | testwikis wikis to 1.36.0-wmf.28"], FORMAT_WIKIVERSIONS_LOG),
        (["== 2021-01-26 ==", "* 20:39 dancy@deploy1001: hello"], FORMAT_SAL),
        (["2021-01-26 20:39 <dancy@deploy1001> rebuilt and synchronized wikiversions files: x"], FORMAT_SAL),
        (["AT,Version,Group"], FORMAT_CSV),
        (["[", "]"], FORMAT_JSON),
        (['{"at": "x", "version": "y", "group": "z"}'], FORMAT_JSONL),
        (['{"at": "x", "wikiversions": {}}'], FORMAT_SNAPSHOTS),
        (["hello world"], FORMAT_UNKNOWN),
        ([], FORMAT_UNKNOWN),
    ],
)
def test_detect_format(lines, expected):
    assert detect_format(lines) == expected


def test_undetectable_input_reports_every_line():
    result = parse_lines(["hello", "", "# comment", "world"])
    assert result.format == FORMAT_UNKNOWN
    assert [(e.line, e.reason) for e in result.errors] == [
        (1, "unrecognized line (format not detected)"),
        (4, "unrecognized line (format not detected)"),
    ]
