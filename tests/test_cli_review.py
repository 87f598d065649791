"""The triage commands in-process (CliRunner) on a simulated train: review, reviews, audit and
coverage in text and --json, and what a review changes in the gate's answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cli

W27 = "1.36.0-wmf.27"
AT = "2021-01-21T19:58:00Z"  # wmf.27 on group1, before group2: NEW exceptions not reviewed yet


@pytest.fixture
def flagged(train_db: str) -> list[str]:
    """The NEW signatures of wmf.27 at AT, most severe first."""
    doc = json.loads(cli("train", "status", W27, "--at", AT, "--db", train_db, "--json").stdout)
    assert doc["verdict"] == "no-go" and doc["new"]
    return [e["signature"] for e in doc["new"]]


def test_review_verdict_text_and_json(train_db: str, flagged: list[str]) -> None:
    sig = flagged[0]
    out = cli(
        "review", sig[:8], "--verdict", "not-blocker", "--task", "T123456", "--note", "known since wmf.26",
        "--assignee", "dee", "--as", "ana", "--at", "2021-01-21T19:00:00Z", "--db", train_db,
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines() == [
        f"review #1: {sig} not-blocker for {W27} and later, by ana",
        "  assignee dee  tasks T123456",
    ]
    doc = json.loads(
        cli(
            "review", sig, "--verdict", "known", "--task", "T1", "--as", "bo", "--db", train_db, "--json"
        ).stdout
    )
    assert (
        doc["signature"] == sig and doc["review"]["verdict"] == "known" and doc["review"]["reviewer"] == "bo"
    )
    assert doc["state"]["tasks"] == ["T123456", "T1"] and doc["state"]["assignee"] == "dee"


def test_review_without_verdict_changes_assignee_tasks_note_and_mute(
    train_db: str, flagged: list[str]
) -> None:
    sig = flagged[0]
    args = ["--as", "ana", "--db", train_db]
    out = cli("review", sig, "--task", "https://phabricator.example.org/T9", "--assignee", "cy", *args)
    assert out.exit_code == 0 and out.stdout.splitlines()[0] == f"updated {sig}"
    assert "assignee cy  tasks https://phabricator.example.org/T9" in out.stdout
    muted = json.loads(
        cli("review", sig, "--mute-until-escalates", "--note", "noisy", *args, "--json").stdout
    )
    assert muted["state"]["mute_until_escalates"] is True and "review" not in muted
    until = cli("review", sig, "--unmute", "--mute-until", "2099-01-01", *args)
    assert until.exit_code == 64 and "unmute cannot be combined with a new mute" in until.stderr
    unmuted = json.loads(cli("review", sig, "--unmute", *args, "--json").stdout)
    assert unmuted["state"]["mute_until_escalates"] is False
    timed = cli("review", sig, "--mute-until", "2099-01-01", *args)
    assert "muted until 2099-01-01T00:00:00Z" in timed.stdout
    unassigned = json.loads(cli("review", sig, "--assignee", "", *args, "--json").stdout)
    assert unassigned["state"]["assignee"] is None


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--verdict", "wontfix"], 64, "unknown verdict 'wontfix'"),
        (["--verdict", "known"], 64, "needs a linked task"),
        (["--task", "not-a-task"], 64, "give a Phabricator task like T123456"),
        ([], 64, "nothing to record"),
        (["--version", W27], 64, "give the verdict too"),
        (["--mute-until", "2099-01-01", "--mute-until-escalates"], 64, "not both"),
        (["--mute-until", "someday"], 64, "is not a date or ISO 8601 time"),
    ],
)
def test_review_refusals_write_nothing(
    train_db: str, flagged: list[str], extra: list[str], code: int, message: str
) -> None:
    out = cli("review", flagged[0], *extra, "--as", "ana", "--db", train_db)
    assert out.exit_code == code and message in out.stderr, out.output
    assert json.loads(cli("audit", "--db", train_db, "--json").stdout) == []


def test_review_of_an_unknown_signature_exits_66_and_needs_a_reviewer(train_db: str) -> None:
    missing = cli("review", "abcdef01", "--verdict", "expected", "--as", "x", "--db", train_db)
    assert missing.exit_code == 66 and "no signature 'abcdef01'" in missing.stderr
    nobody = cli("review", "abcdef01", "--verdict", "expected", "--db", train_db, env={"USER": ""})
    assert nobody.exit_code == 64 and "--as NAME" in nobody.stderr


def test_reviews_history_and_audit_in_text_and_json(train_db: str, flagged: list[str]) -> None:
    assert "no reviews yet" in cli("reviews", "--db", train_db).stdout
    assert cli("audit", "--db", train_db).stdout == "no triage changes yet\n"
    first, second = flagged[0], flagged[-1]
    for sig, verdict, who in ((first, "not-blocker", "ana"), (second, "needs-info", "bo")):
        assert cli("review", sig, "--verdict", verdict, "--as", who, "--db", train_db).exit_code == 0
    history = json.loads(cli("reviews", "--db", train_db, "--json").stdout)
    assert {s: [r["verdict"] for r in h["reviews"]] for s, h in history.items()} == (
        {first: ["needs-info", "not-blocker"]}
        if first == second
        else {first: ["not-blocker"], second: ["needs-info"]}
    )
    one = cli("reviews", first[:8], "--db", train_db)
    assert one.stdout.startswith(first) and "not-blocker" in one.stdout and "by ana" in one.stdout
    audit = json.loads(cli("audit", "--db", train_db, "--json").stdout)
    assert [(e["actor"], e["action"]) for e in audit][-1] == ("ana", "review-added")
    text = cli("audit", "--signature", first[:6], "--db", train_db).stdout
    assert "review-added" in text and "ana" in text and first in text
    assert len(json.loads(cli("audit", "--limit", "1", "--db", train_db, "--json").stdout)) == 1


def test_not_blocker_reviews_turn_the_gate_from_no_go(train_db: str, flagged: list[str]) -> None:
    gate = ["gate", "--version", W27, "--stage", "group2", "--at", AT, "--db", train_db, "--json"]
    before = cli(*gate)
    assert before.exit_code == 1 and json.loads(before.stdout)["verdict"] == "no-go"
    for sig in flagged:
        reviewed = cli(
            "review",
            sig,
            "--verdict",
            "not-blocker",
            "--as",
            "ana",
            "--at",
            "2021-01-21T19:00:00Z",
            "--db",
            train_db,
        )
        assert reviewed.exit_code == 0, reviewed.output
    after = cli(*gate)
    assert after.exit_code == 0 and json.loads(after.stdout)["verdict"] == "go", after.output
    status = json.loads(cli("train", "status", W27, "--at", AT, "--db", train_db, "--json").stdout)
    assert all(e["review"]["verdict"] == "not-blocker" for e in status["new"])


def test_coverage_per_train_and_team(train_db: str, flagged: list[str], tmp_path: Path) -> None:
    empty = cli("coverage", "--db", str(tmp_path / "empty.db"))
    assert empty.exit_code == 0 and "nothing flagged before a promotion" in empty.stdout
    cli(
        "review",
        flagged[0],
        "--verdict",
        "not-blocker",
        "--as",
        "ana",
        "--at",
        "2021-01-20T12:00:00Z",
        "--db",
        train_db,
    )
    rows = json.loads(cli("coverage", W27, "--db", train_db, "--json").stdout)
    assert rows and all(r["version"] == W27 for r in rows)
    assert sum(r["reviewed_before_next_promotion"] for r in rows) >= 1
    assert sum(r["flagged"] for r in rows) >= len(flagged)
    text = cli("coverage", W27, "--db", train_db).stdout
    assert text.startswith("version") and "median to 1st review" in text and W27 in text
    owners = Path(__file__).resolve().parents[1] / "examples" / "OWNERS"
    by_team = json.loads(cli("coverage", W27, "--owners", str(owners), "--db", train_db, "--json").stdout)
    assert {r["team"] for r in by_team} != {"unowned"}
