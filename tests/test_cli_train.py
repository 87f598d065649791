"""The train commands in-process (CliRunner) on real SQLite files: deploys import/list, deploy
record, groups import/show, exposure import, train status and gate analyze, text and --json.

The deploy log is the real 1.36 excerpt (tests/data/wikiversions_1.36.log); the rest is the
simulator's output for a two-week train (the `sim_train` fixture).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import SimTrain, cli
from traintriage.store.db import Store
from traintriage.store.trains import membership_counts

DATA = Path(__file__).parent / "data" / "wikiversions_1.36.log"
W27, W28 = "1.36.0-wmf.27", "1.36.0-wmf.28"


# --- deploys import / list -----------------------------------------------------------------


def test_deploys_import_the_136_log_twice_then_list_its_train_stats(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    first = cli("deploys", "import", str(DATA), "--db", db)
    assert first.exit_code == 0, first.output
    assert (
        first.stdout
        == f"{DATA}: wikiversions-log: 42 steps (42 new), 0 unreadable lines, 0 other entries ignored\n"
    )
    again = cli("deploys", "import", str(DATA), "--db", db, "--json")
    assert again.exit_code == 0
    assert json.loads(again.stdout) == [
        {"file": str(DATA), "format": "wikiversions-log", "steps": 42, "new": 0, "errors": 0, "ignored": 0}
    ]
    listed = cli("deploys", "list", "--db", db)
    assert listed.exit_code == 0
    wmf28 = next(line for line in listed.stdout.splitlines() if line.startswith(W28))
    assert "rollbacks 4 (308100s rolled back)" in wmf28 and "delays g0/g1/g2 6/5/1" in wmf28
    assert "conductor Ahmon Dancy" in wmf28
    [doc] = json.loads(cli("deploys", "list", "--version", W28, "--db", db, "--json").stdout)
    assert (doc["rollbacks"], doc["rollbacks_time"], doc["total_time"]) == (4, 308100, 501480)
    assert (doc["group0_delay_days"], doc["group1_delay_days"], doc["group2_delay_days"]) == (6, 5, 1)


def test_deploys_import_reports_bad_lines_and_keeps_the_good_ones(tmp_path: Path) -> None:
    log = tmp_path / "wikiversions.log"
    good = DATA.read_text().splitlines()[-3:]
    log.write_text("\n".join([good[0], "2021-01-26 nonsense that is no commit subject", *good[1:]]) + "\n")
    db = str(tmp_path / "t.db")
    out = cli("deploys", "import", str(log), "--db", db, "--json")
    assert out.exit_code == 0, out.output
    [report] = json.loads(out.stdout)
    assert report["steps"] == 3 and report["new"] == 3 and report["errors"] == 1
    assert f"{log}:2: expected 'YYYY-MM-DD HH:MM Name | message'" in out.stderr  # file, line, reason


def test_deploys_import_exit_1_only_when_no_file_could_be_read(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    missing = cli("deploys", "import", str(tmp_path / "nope.log"), "--db", db)
    assert missing.exit_code == 1 and "nope.log: no such file or directory" in missing.stderr
    mixed = cli("deploys", "import", str(tmp_path / "nope.log"), str(DATA), "--db", db)
    assert mixed.exit_code == 0 and "42 steps (42 new)" in mixed.stdout


def test_deploys_list_on_an_empty_store_says_what_to_do(tmp_path: Path) -> None:
    out = cli("deploys", "list", "--db", str(tmp_path / "t.db"))
    assert out.exit_code == 0 and "no deployments yet; run `traintriage deploys import FILE`" in out.stdout
    assert json.loads(cli("deploys", "list", "--db", str(tmp_path / "t.db"), "--json").stdout) == []


# --- deploy record --------------------------------------------------------------------------


def test_deploy_record_forward_again_and_rollback(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    steps = [
        ("all", W27, "2021-01-12T20:00:00Z"),
        ("testwikis", W28, "2021-01-19T18:00:00Z"),
        ("group0", W28, "2021-01-19T20:00:00Z"),
        ("group0", W27, "2021-01-19T21:30:00Z"),  # a rollback ...
        ("group0", W28, "2021-01-19T23:00:00Z"),  # ... rolled forward again 90 minutes later
    ]
    for group, version, at in steps:
        out = cli(
            "deploy",
            "record",
            "--version",
            version,
            "--group",
            group,
            "--at",
            at,
            "--actor",
            "ana",
            "--db",
            db,
        )
        assert out.exit_code == 0, out.output
        assert out.stdout == f"recorded {at} {group} wikis to {version}\n"
    again = cli(
        "deploy", "record", "--version", W28, "--group", "group0", "--at", "2021-01-19T20:00:00Z", "--db", db
    )
    assert again.exit_code == 0 and again.stdout.endswith("(already recorded)\n")
    [doc] = json.loads(cli("deploys", "list", "--version", W28, "--db", db, "--json").stdout)
    assert doc["rollbacks"] == 1 and doc["rollbacks_time"] == 5400 and doc["conductor"] == "ana"


def test_deploy_record_refuses_what_it_cannot_record(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    bad_version = cli("deploy", "record", "--version", "banana", "--group", "group1", "--db", db)
    assert bad_version.exit_code == 64 and "cannot record 'group1 wikis to banana'" in bad_version.stderr
    bad_group = cli("deploy", "record", "--version", W28, "--group", "group7", "--db", db)
    assert bad_group.exit_code == 64 and "'group7' is not one of" in bad_group.stderr
    two_lines = cli("deploy", "record", "--version", W28, "--group", "group1", "--actor", "a\nb", "--db", db)
    assert two_lines.exit_code == 64 and "--actor must be a single line" in two_lines.stderr
    assert json.loads(cli("deploys", "list", "--db", db, "--json").stdout) == []  # nothing stored


# --- groups / exposure ----------------------------------------------------------------------


def test_groups_import_then_show_listed_counts(sim_train: SimTrain, tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    dblists = sim_train.sim / "dblists"
    out = cli("groups", "import", str(dblists), "--db", db)
    assert out.exit_code == 0, out.output
    shown = json.loads(cli("groups", "show", "--no-infer", "--db", db, "--json").stdout)
    expected = {g: v["listed"] for g, v in shown.items()}
    assert set(expected) == {"testwikis", "group0", "group1", "group2"} and all(expected.values())
    assert all(v["inferred"] == 0 for v in shown.values())
    listed = ", ".join(f"{g} {n}" for g, n in sorted(expected.items()))
    assert out.stdout == f"imported {dblists}: {sum(expected.values())} wikis listed: {listed}\n"
    text = cli("groups", "show", "--no-infer", "--db", db).stdout
    assert f"group1 {expected['group1']:>9} listed     0 inferred" in text


@pytest.mark.slow  # ingests every simulated log
def test_groups_show_infers_and_stores_the_groups_of_unlisted_wikis(
    sim_train: SimTrain, tmp_path: Path
) -> None:
    db = str(tmp_path / "t.db")
    logs = sorted(str(p) for p in (sim_train.sim / "logs").iterdir())
    assert cli("ingest", "-q", "--db", db, *logs).exit_code == 0
    assert (
        cli("deploys", "import", str(sim_train.sim / "deploys" / "wikiversions.log"), "--db", db).exit_code
        == 0
    )
    with Store(db) as store:
        inferred_after_imports = sum(c[1] for c in membership_counts(store).values())
    assert inferred_after_imports > 0  # ingest and deploys import store what they can infer
    out = cli("groups", "show", "--db", db)
    assert out.exit_code == 0 and "inferred: from when each wiki's events switched version" in out.stdout
    status = cli("train", "status", W28, "--at", "2021-01-27T20:10:00Z", "--db", db)
    assert f"note: the groups of {inferred_after_imports} wikis were inferred" in status.stdout


def test_groups_import_refuses_a_directory_without_dblists(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = cli("groups", "import", str(empty), "--db", str(tmp_path / "t.db"))
    assert out.exit_code == 64 and str(empty) in out.stderr
    missing = cli("groups", "import", str(tmp_path / "nope"), "--db", str(tmp_path / "t.db"))
    assert missing.exit_code == 64 and "does not exist" in missing.stderr


def test_exposure_import_rows_and_unreadable_lines(sim_train: SimTrain, tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    csv = tmp_path / "exposure.csv"
    lines = (sim_train.sim / "exposure.csv").read_text().splitlines()
    csv.write_text(
        "\n".join([*lines[:4], "2021-01-19T00:00:00Z,group1,1.36.0-wmf.26,many", *lines[4:9]]) + "\n"
    )
    out = cli("exposure", "import", str(csv), "--db", db)
    assert out.exit_code == 0, out.output
    assert out.stdout == "imported 8 exposure rows (1 unreadable lines)\n"
    assert f"{csv}:5:" in out.stderr
    nothing = tmp_path / "bad.csv"
    nothing.write_text("hour,group,version,requests\nyesterday,group1,1.36.0-wmf.26,3\n")
    bad = cli("exposure", "import", str(nothing), "--db", db)
    assert bad.exit_code == 1 and "imported 0 exposure rows (1 unreadable lines)" in bad.stdout
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("hour,group,version,requests\n\xe9\n".encode("latin-1"))
    assert cli("exposure", "import", str(latin1), "--db", db).exit_code == 64


# --- train status / gate analyze --------------------------------------------------------------


def test_train_status_text_and_json_agree(sim_train: SimTrain, train_db: str) -> None:
    at = "2021-01-21T19:58:00Z"  # before wmf.27 reaches group2: an unreviewed NEW exception
    text = cli("train", "status", W27, "--at", at, "--db", train_db)
    assert text.exit_code == 0, text.output
    doc = json.loads(cli("train", "status", W27, "--at", at, "--db", train_db, "--json").stdout)
    assert text.stdout.startswith(f"{W27} as of {doc['at']}: stage {doc['stage']}, next {doc['next_stage']}")
    assert f"verdict: {doc['verdict'].upper()}  (rule {doc['rule']}:" in text.stdout
    for entry in doc["new"][:15]:
        assert entry["signature"] in text.stdout
    assert "\nNEW (" in text.stdout and doc["new"]


def test_train_status_names_owners_with_an_owners_file(train_db: str, tmp_path: Path) -> None:
    owners = tmp_path / "OWNERS"
    shutil.copy(Path(__file__).resolve().parents[1] / "examples" / "OWNERS", owners)
    at = "2021-01-21T19:58:00Z"
    doc = json.loads(
        cli("train", "status", W27, "--at", at, "--db", train_db, "--owners", str(owners), "--json").stdout
    )
    assert any(e.get("owner") for e in doc["new"])  # entries carry their owner
    text = cli("train", "status", W27, "--at", at, "--db", train_db, "--owners", str(owners)).stdout
    if doc["owners_to_ping"]:
        assert "ping: " + ", ".join(doc["owners_to_ping"]) in text
    missing = cli("train", "status", W27, "--db", train_db, "--owners", str(tmp_path / "nope"))
    assert missing.exit_code == 64 and "no such file" in missing.stderr


def test_gate_analyze_suggests_a_threshold(train_db: str, tmp_path: Path) -> None:
    text = cli("gate", "analyze", "--window", "1m", "--days", "30", "--db", train_db)
    assert text.exit_code == 0, text.output
    doc = json.loads(
        cli("gate", "analyze", "--window", "1m", "--days", "30", "--db", train_db, "--json").stdout
    )
    assert doc["window_seconds"] == 60 and doc["threshold"] >= 1 and doc["windows"] > 1
    assert f"suggested threshold: {doc['threshold']} errors per 60s" in text.stdout
    assert f"traintriage gate --threshold {doc['threshold']}" in text.stdout
    empty = cli("gate", "analyze", "--db", str(tmp_path / "empty.db"))
    assert empty.exit_code == 1 and "not enough history" in empty.stderr


def test_gate_json_carries_the_decision(sim_train: SimTrain, train_db: str) -> None:
    args = ["gate", "--version", W27, "--stage", "group0", "--at", "2021-01-19T12:00:00Z", "--db", train_db]
    out = cli(*args, "--json")
    assert out.exit_code == 2
    doc = json.loads(out.stdout)
    assert (doc["verdict"], doc["exit_code"], doc["stage"]) == ("inconclusive", 2, "group0")
    assert doc["decision"]["version"] == W27 and doc["window_seconds"] == 20
