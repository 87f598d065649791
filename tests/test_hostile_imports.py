"""Hostile and broken files for every import (issue 8): deploy logs, dblists, exposure CSVs.

Each bad line is an error naming file, line and reason; the good lines around it are
imported; nothing crashes; times and versions `core.validate` refuses are never stored.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from traintriage.core.errors import InvalidInput
from traintriage.services.train import record_deploy
from traintriage.store.db import Store
from traintriage.store.trains import load_deploy_steps, save_deploy_steps
from traintriage.train.deploylog import DeployStep, parse_lines
from traintriage.train.exposure import parse_exposure
from traintriage.train.groups import DblistError, load_dblists

GOOD_LOG = "2021-01-19 19:05 Jane Deployer | group0 wikis to 1.36.0-wmf.27"
DEEP = "[" * 5000 + "]" * 5000


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "traintriage", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (DEEP + "\n", "nested too deeply"),
        (
            '{"at": "2021-01-19T19:05:00Z", "version": "1", "group": "group0", "x": ' + DEEP + "}\n",
            "nested too deeply",
        ),
        ("[" + DEEP + "]\n", "nested too deeply"),
        (
            '[{"at": "2021-01-19T19:05:00Z", "version": "1.36.0-wmf.1", "group": "group0"}, ' + DEEP + "]",
            "nested too deeply",
        ),
    ],
    ids=["jsonl-array", "jsonl-field", "json-array", "json-item"],
)
def test_deploy_json_nested_too_deeply_is_a_line_error(text: str, reason: str) -> None:
    result = parse_lines(text.splitlines(True), "deep.json")
    assert result.errors and reason in result.errors[0].reason
    assert result.errors[0].source == "deep.json" and result.errors[0].line == 1


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("0001-01-01 00:00 Jane | group0 wikis to 1.36.0-wmf.27", "outside 2000-01-01..2100-01-01"),
        ("9999-12-31 23:59 Jane | group0 wikis to 1.36.0-wmf.27", "outside 2000-01-01..2100-01-01"),
        ("2021-01-19 19:06 Jane | group1 wikis to 1" + "9" * 10_000, "10,001 characters"),
    ],
)
def test_deploy_log_bad_time_or_version_is_a_line_error(line: str, reason: str) -> None:
    result = parse_lines([GOOD_LOG + "\n", line + "\n", GOOD_LOG.replace("19:05", "19:07") + "\n"], "w.log")
    assert [e.line for e in result.errors] == [2] and reason in result.errors[0].reason
    assert len(result.steps) == 2


def test_deploy_csv_nul_huge_field_and_bad_values_keep_good_rows() -> None:
    rows = [
        "at,version,group,actor",
        "2021-01-19T19:05:00Z,1.36.0-wmf.27,group0,jane",
        "2021-01-19T19:06:00Z,1.36\x00.0,group1,jane",
        "2021-01-19T19:07:00Z," + "x" * 200_000 + ",group1,jane",
        "0001-01-01T00:00:00Z,1.36.0-wmf.27,group1,jane",
        "2021-01-19T19:08:00Z, ,group1,jane",
        "NaN,1.36.0-wmf.27,group1,jane",
        "2021-01-19T19:09:00Z,1.36.0-wmf.27,group1,jane",
    ]
    result = parse_lines([r + "\n" for r in rows], "d.csv")
    assert [s.line for s in result.steps] == [2, 8]
    reasons = {e.line: e.reason for e in result.errors}
    assert set(reasons) == {3, 4, 5, 6, 7}
    assert "control" in reasons[3] and "field larger than field limit" in reasons[4]
    assert "outside" in reasons[5] and "required" in reasons[6]


def test_snapshot_with_bad_version_is_a_line_error() -> None:
    lines = [
        '{"at": "2021-01-19T19:00:00Z", "wikiversions": {"enwiki": "php-1.36.0-wmf.26"}}\n',
        '{"at": "2021-01-19T19:05:00Z", "wikiversions": {"enwiki": "php-1.36\\u0000"}}\n',
        '{"at": "2021-01-19T19:09:00Z", "wikiversions": {"enwiki": "php-1.36.0-wmf.27"}}\n',
    ]
    result = parse_lines(lines, "snap.jsonl")
    assert [e.line for e in result.errors] == [2] and "control" in result.errors[0].reason
    assert [s.version for s in result.steps] == ["1.36.0-wmf.27"]


def test_deploy_step_and_record_refuse_bad_time_and_version(store: Store) -> None:
    with pytest.raises(InvalidInput):
        DeployStep(datetime(1, 1, 1, tzinfo=UTC), ("group0",), "1.36.0-wmf.1", None, "forward", "m")
    with pytest.raises(InvalidInput):
        DeployStep(datetime(2021, 1, 19, tzinfo=UTC), ("group0",), "1.36\x00", None, "forward", "m")
    with pytest.raises(InvalidInput):
        record_deploy(store, "1.36.0-wmf.1", "group0", datetime(1, 1, 1, tzinfo=UTC), None, "test")
    with pytest.raises(InvalidInput):
        record_deploy(store, "x" * 10_000, "group0", datetime(2021, 1, 19, tzinfo=UTC), None, "test")
    assert load_deploy_steps(store) == []


def test_bad_step_stored_before_validation_does_not_break_loading(store: Store) -> None:
    ok = DeployStep(datetime(2021, 1, 19, tzinfo=UTC), ("group0",), "1.36.0-wmf.1", None, "forward", "ok")
    save_deploy_steps(store, [ok])
    for at, version in ((-62135596800.0, "1.36.0-wmf.2"), (1611000000.0, "")):
        store.execute(
            "INSERT INTO deploy_steps (at, groups, version, actor, kind, message, source, line) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (at, "group1", version or " ", "", "forward", f"old bad row {version}", "old", 0),
        )
    assert [s.message for s in load_deploy_steps(store)] == ["ok"]


@pytest.mark.slow
def test_cli_deploys_import_survives_deep_json(tmp_path: Path) -> None:
    path = tmp_path / "deploys.jsonl"
    good = '{"at": "2021-01-19T19:05:00Z", "version": "1.36.0-wmf.27", "group": "group0"}'
    path.write_text(good + "\n" + DEEP + "\n" + good.replace("group0", "group1") + "\n")
    out = _cli("deploys", "import", "--db", str(tmp_path / "t.db"), str(path))
    assert out.returncode == 0 and "Traceback" not in out.stderr
    assert f"{path}:2: invalid JSON: nested too deeply" in out.stderr
    assert "2 steps (2 new), 1 unreadable lines" in out.stdout


# --- exposure -------------------------------------------------------------------------------


def test_exposure_rejects_huge_counts_unknown_groups_and_bad_values() -> None:
    text = "\n".join(
        [
            "\ufeffhour,group,version,requests",
            "2021-01-19T19:00:00Z,group0,1.36.0-wmf.27,1200",
            "2021-01-19T19:00:00Z,group1,1.36.0-wmf.27," + "9" * 26,
            "2021-01-19T19:00:00Z,group9,1.36.0-wmf.27,5",
            "2021-01-19T19:00:00Z,group1,1.36\x00,5",
            "2021-01-19T19:00:00Z,group1,1.36.0-wmf.27," + "1" * 200_000,
            "9999-12-31T23:00:00Z,group1,1.36.0-wmf.27,5",
            "1e400,group1,1.36.0-wmf.27,5",
            "2021-01-19T19:00:00Z,group1,1.36.0-wmf.27,-5",
            "2021-01-19T19:30:00Z,group0,1.36.0-wmf.27,1300",
            "2021-01-19T20:00:00Z,group1,1.36.0-wmf.27,900",
        ]
    )
    parsed = parse_exposure(text)
    assert [(r.name, r.requests) for r in parsed.rows] == [("group0", 1200), ("group1", 900)]
    reasons = dict(parsed.errors)
    assert set(reasons) == {3, 4, 5, 6, 7, 8, 9, 10}
    assert "26 digits" in reasons[3] and "out of range" in reasons[3]
    assert "unknown group 'group9'" in reasons[4]
    assert "control" in reasons[5] and "field larger than field limit" in reasons[6]
    assert "outside" in reasons[7] and "not a finite number" in reasons[8]
    assert "not a non-negative integer" in reasons[9]
    assert "given on line 2 already" in reasons[10]


@pytest.mark.slow
def test_cli_exposure_import_says_when_it_replaces_hours(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    first = tmp_path / "a.csv"
    first.write_text("hour,group,version,requests\n2021-01-19T19:00:00Z,group0,1.36.0-wmf.27,1200\n")
    out = _cli("exposure", "import", "--db", db, str(first))
    assert out.returncode == 0 and "replac" not in out.stdout + out.stderr
    second = tmp_path / "b.csv"
    second.write_text(
        "hour,group,version,requests\n"
        "2021-01-19T19:00:00Z,group0,1.36.0-wmf.27,1500\n"
        "2021-01-19T20:00:00Z,group0,1.36.0-wmf.27,10\n"
        "2021-01-19T21:00:00Z,group0,1.36.0-wmf.27," + "9" * 26 + "\n"
    )
    out = _cli("exposure", "import", "--db", db, str(second))
    assert out.returncode == 0 and "Traceback" not in out.stderr
    assert "replaced group group0 1.36.0-wmf.27 2021-01-19T19:00:00Z: 1,200 -> 1,500 requests" in out.stderr
    assert (
        "imported 2 exposure rows, 1 of them replacing different stored counts (1 unreadable lines)"
        in out.stdout
    )
    assert f"{second}:4: requests" in out.stderr


# --- dblists --------------------------------------------------------------------------------


@pytest.mark.slow
def test_binary_dblist_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "group0.dblist").write_bytes(b"testwiki\n\x89PNG\r\n\x1a\n\x00\xff\xfe")
    with pytest.raises(DblistError, match=r"group0.dblist:2: not UTF-8 text"):
        load_dblists(tmp_path)
    out = _cli("groups", "import", "--db", str(tmp_path / "t.db"), str(tmp_path))
    assert out.returncode == 64 and "Traceback" not in out.stderr  # EX_USAGE: a bad input file
    assert "group0.dblist:2: not UTF-8 text" in out.stderr


@pytest.mark.slow
def test_dblist_symlinks_do_not_leave_the_directory(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("enwiki\n")
    lists = tmp_path / "dblists"
    lists.mkdir()
    (lists / "real-group0.dblist").write_text("mediawikiwiki\n")
    os.symlink(lists / "real-group0.dblist", lists / "group0.dblist")  # inside: followed
    assert load_dblists(lists).group_of("mediawikiwiki") == "group0"
    os.symlink(outside, lists / "group2.dblist")
    with pytest.raises(DblistError, match="outside"):
        load_dblists(lists)
    out = _cli("groups", "import", "--db", str(tmp_path / "t.db"), str(lists))
    assert out.returncode == 64 and "outside" in out.stderr and "Traceback" not in out.stderr
