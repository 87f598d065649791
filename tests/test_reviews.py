"""The triage record on SQLite and PostgreSQL: reviews, audit log, carry-over into decisions,
coverage, and the CLI. A small real train: logs ingested, deploy steps and dblists imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import mw_line
from traintriage.ingest.pipeline import ingest
from traintriage.services.coverage import coverage_report, train_flags
from traintriage.services.status import gate, train_status
from traintriage.store.db import Store
from traintriage.store.reads import top_signatures
from traintriage.store.reviews import (
    add_note,
    add_review,
    audit_log,
    link_task,
    review_history,
    set_assignee,
    set_mute,
    triage_state,
)
from traintriage.store.trains import save_deploy_steps, save_membership
from traintriage.train.deploylog import DeployStep
from traintriage.train.groups import GroupMembership

pytestmark = pytest.mark.slow

W27, W28, W29 = "1.36.0-wmf.27", "1.36.0-wmf.28", "1.36.0-wmf.29"
GROUPS = {
    "testwikis": ["testwiki"],
    "group0": ["mediawikiwiki", "test2wiki"],
    "group1": ["commonswiki", "dewiki"],
    "group2": ["enwiki", "frwiki"],
}


def t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


PROMOTIONS = {
    "testwikis": utc("2021-01-19T18:00"),
    "group0": utc("2021-01-19T20:00"),
    "group1": utc("2021-01-20T20:00"),
    "group2": utc("2021-01-21T20:00"),
}
CHECK = t("2021-01-20T12:00")  # wmf.28 on group0 for 16 hours


def deploy_steps() -> list[DeployStep]:
    everywhere = tuple(GROUPS)
    steps = [
        DeployStep(utc("2021-01-12T20:00"), everywhere, W27, "ada", "forward", f"all wikis to {W27}", "t", 1)
    ]
    for line, (group, at) in enumerate(PROMOTIONS.items(), start=2):
        steps.append(DeployStep(at, (group,), W28, "ben", "forward", f"{group} wikis to {W28}", "t", line))
    return steps


def log_lines() -> list[str]:
    """Four days of traffic: a steady error everywhere, one that gets 6x worse in wmf.28,
    one brand new in wmf.28, and an old one seen on the first morning only."""
    out: list[str] = []
    n = 0
    start = utc("2021-01-18T00:00")
    for hour in range(4 * 24):
        for group, wikis in GROUPS.items():
            for wiki in wikis:
                for k in range(6):
                    at = start + timedelta(hours=hour, minutes=10 * k + 1)
                    version = W28 if at >= PROMOTIONS[group] else W27
                    n += 1
                    bugs = [("s", "RuntimeException", "Stable thing", "includes/Stable.php:1", 0)]
                    if version == W28 or k == 0:
                        bugs.append(("r", "LogicException", "Regress thing", "includes/Regress.php:1", 7))
                    if version == W28 and k % 2 == 0:
                        bugs.append(("n", "TypeError", "Brand new thing", "includes/New.php:1", 13))
                    if version == W27 and k == 3 and hour < 6:
                        bugs.append(("o", "DomainException", "Old thing", "includes/Old.php:1", 3))
                    for req, cls, message, file, host in bugs:
                        out.append(
                            mw_line(
                                ts=at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                version=version,
                                wiki=wiki,
                                host=f"mw{1300 + (n + host) % 30}",  # spread: not a one-host spike
                                req=f"{req}{n}",
                                cls=cls,
                                message=message,
                                file=file,
                            )
                        )
    return out


@dataclass(frozen=True)
class Train:
    store: Store
    url: str
    new: str  # NEW in wmf.28
    regressed: str  # NEW in wmf.27 (no baseline), REGRESSED in wmf.28
    old: str  # seen in wmf.27 only
    stable: str


@pytest.fixture(scope="module")
def train_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("train") / "mw.log"
    path.write_text("\n".join(log_lines()) + "\n")
    return path


@pytest.fixture
def train(store: Store, db_url: str, train_log: Path) -> Train:
    ingest(store, [str(train_log)])
    save_deploy_steps(store, deploy_steps())
    save_membership(store, GroupMembership.from_lists(GROUPS), "test dblists")
    ids = {s.title.split(":")[0]: s.id for s in top_signatures(store, limit=10)}
    return Train(
        store,
        db_url,
        ids["TypeError"],
        ids["LogicException"],
        ids["DomainException"],
        ids["RuntimeException"],
    )


def status(tr: Train, version: str = W28, at: float = CHECK) -> tuple[str, str]:
    d = train_status(tr.store, version, at)
    return d.verdict, d.rule


def entry(tr: Train, key: str, signature: str, version: str = W28, at: float = CHECK) -> dict[str, Any]:
    out = train_status(tr.store, version, at).to_dict()
    return next(e for e in out[key] if e["signature"] == signature)


# --- the record --------------------------------------------------------------------------


def test_migration_3_creates_the_triage_tables(store: Store) -> None:
    assert store.schema_version() >= 3
    assert store.query("SELECT name FROM schema_migrations WHERE version = 3")[0][0].startswith("triage")
    assert review_history(store) == {} and audit_log(store) == [] and triage_state(store) == {}


def test_add_list_and_audit(train: Train) -> None:
    s = train.store
    r = add_review(
        s,
        signature=train.new,
        verdict="known",
        reviewer="ann",
        tasks=["T270001", "https://phabricator.wikimedia.org/T270002"],
        assignee="bob",
        note="parser race, tracked",
        mute_until=t("2021-02-01T00:00"),
        at=t("2021-01-20T10:00"),
    )
    assert (r.id, r.verdict, r.version, r.reviewer) == (1, "known", W28, "ann")  # version: newest seen
    assert r.tasks == ("T270001", "https://phabricator.wikimedia.org/T270002")
    assert review_history(s) == {train.new: [r]}
    actions = [(e.action, e.actor, e.signature) for e in audit_log(s)]
    assert actions == [  # newest first
        ("mute-set", "ann", train.new),
        ("assignee-changed", "ann", train.new),
        ("task-linked", "ann", train.new),
        ("task-linked", "ann", train.new),
        ("review-added", "ann", train.new),
    ]
    added = audit_log(s)[-1]
    assert added.detail == {
        "review": 1,
        "verdict": "known",
        "target": None,
        "version": W28,
        "version_from": "inferred",
        "note": "parser race, tracked",
    }
    assert added.at == t("2021-01-20T10:00")

    set_assignee(s, train.new, "cy", "dee", at=t("2021-01-20T11:00"))
    set_assignee(s, train.new, "cy", "dee")  # no change: no entry
    link_task(s, train.new, "T270001", "dee")  # already linked: no entry
    link_task(s, train.new, "t270003", "dee", at=t("2021-01-20T11:05"))
    add_note(s, train.new, "backport scheduled", "dee", at=t("2021-01-20T11:10"))
    set_mute(s, train.new, "dee", at=t("2021-01-20T11:15"))  # clears
    set_mute(s, train.new, "dee")  # nothing to clear: no entry
    assert [e.action for e in audit_log(s, signature=train.new, limit=4)] == [
        "mute-cleared",
        "note-added",
        "task-linked",
        "assignee-changed",
    ]
    assert audit_log(s, signature=train.new)[3].detail == {"assignee": "cy", "previous": "bob"}
    assert audit_log(s, signature=train.stable) == []
    assert len(audit_log(s, limit=2)) == 2

    state = triage_state(s)[train.new]
    assert state.assignee == "cy" and not state.mute_set
    assert state.tasks == ("T270001", "https://phabricator.wikimedia.org/T270002", "T270003")
    before = triage_state(s, [train.new], at=t("2021-01-20T10:30"))[train.new]
    assert before.assignee == "bob" and before.mute_until == t("2021-02-01T00:00")

    # the decision shows who reviewed what, with assignee and all tasks as of its time
    review = entry(train, "new", train.new, at=t("2021-01-20T12:00"))["review"]
    assert review == {
        "verdict": "known",
        "reviewer": "ann",
        "at": "2021-01-20T10:00:00Z",
        "task": "T270001",
        "tasks": ["T270001", "https://phabricator.wikimedia.org/T270002", "T270003"],
        "note": "parser race, tracked",
        "assignee": "cy",
        "version": W28,
    }
    assert entry(train, "new", train.new, at=t("2021-01-20T10:45"))["review"]["muted"] is True


def test_nothing_is_deleted_a_new_review_supersedes(train: Train) -> None:
    s = train.store
    first = add_review(s, signature=train.new, verdict="needs-info", reviewer="ann", at=t("2021-01-20T09:00"))
    counts = []
    for i, verdict in enumerate(["blocker", "fixed-in 1.36.0-wmf.28", "expected"]):
        add_review(s, signature=train.new, verdict=verdict, reviewer="bob", at=t("2021-01-20T10:00") + i)
        counts.append(len(audit_log(s, limit=1000)))
    history = review_history(s, [train.new, train.old])[train.new]
    assert [r.verdict for r in history] == ["expected", "fixed-in", "blocker", "needs-info"]
    assert history[-1] == first and history[1].target == W28
    assert counts == sorted(counts) and len(set(counts)) == 3
    ids = [e.id for e in audit_log(s, limit=1000)]
    assert ids == sorted(ids, reverse=True) and len(ids) == 4


def test_invalid_reviews_are_refused_and_leave_no_trace(train: Train) -> None:
    s = train.store
    cases: list[tuple[dict[str, Any], str]] = [
        (dict(verdict="wontfix"), "unknown verdict 'wontfix'"),
        (dict(verdict="fixed"), "say 'fixed-in <version or change>'"),
        (dict(verdict="duplicate-of"), "needs a signature id"),
        (dict(verdict="duplicate-of abcd0000"), "no such signature"),
        (dict(verdict=f"duplicate-of {train.new[:6]}"), "cannot be a duplicate of itself"),
        (dict(verdict="known"), "needs a linked task"),
        (dict(verdict="known", tasks=["123"]), "Phabricator task like T123456"),
        (dict(verdict="expected", reviewer=" "), "actor/reviewer name is required"),
        (dict(verdict="expected", mute_until=t("2021-01-01T00:00")), "not in the future"),
        (dict(verdict="expected", signature="ffffffffffffffff"), "no signature 'ffffffffffffffff'"),
    ]
    for kwargs, message in cases:
        args: dict[str, Any] = {"signature": train.new, "reviewer": "ann", "at": t("2021-01-20T10:00")}
        args.update(kwargs)
        with pytest.raises(ValueError, match=message):
            add_review(s, **args)
    with pytest.raises(ValueError, match="Phabricator task"):
        link_task(s, train.new, "see T1", "ann")
    with pytest.raises(ValueError, match="empty note"):
        add_note(s, train.new, "  ", "ann")
    assert review_history(s) == {} and audit_log(s) == []

    dup = add_review(s, signature=train.new, verdict=f"duplicate-of {train.regressed[:6]}", reviewer="ann")
    assert dup.target == train.regressed  # a prefix is resolved to the full id


# --- reviews feed the decision ------------------------------------------------------------


def test_not_blocker_reviews_turn_no_go_into_go(train: Train) -> None:
    assert status(train) == ("no-go", "nogo.unreviewed-critical-new")
    add_review(train.store, signature=train.new, verdict="not-blocker", reviewer="ann", at=CHECK - 3600)
    assert status(train) == ("no-go", "nogo.unreviewed-critical-regressed")
    add_review(
        train.store, signature=train.regressed, verdict="known", tasks=["T1"], reviewer="bob", at=CHECK - 600
    )
    assert status(train) == ("go", "go")
    assert entry(train, "regressed", train.regressed)["review"]["reviewer"] == "bob"
    assert entry(train, "new", train.new)["blocking"] is False
    # replays use only what was known then: at 10:00 neither review existed yet
    assert status(train, at=t("2021-01-20T10:00")) == ("no-go", "nogo.unreviewed-critical-new")
    assert gate(train.store, W28, "group1", CHECK, 20.0).exit_code == 0


def test_blocker_stays_no_go_until_resolved(train: Train) -> None:
    s = train.store
    add_review(s, signature=train.regressed, verdict="expected", reviewer="bob", at=CHECK - 7200)
    add_review(s, signature=train.new, verdict="needs-info", reviewer="ann", at=CHECK - 7200)
    assert status(train) == ("no-go", "nogo.unreviewed-critical-new")  # needs-info still blocks
    add_review(s, signature=train.new, verdict="blocker", tasks=["T2"], reviewer="ann", at=CHECK - 3600)
    assert status(train) == ("no-go", "nogo.blocker-review")
    rule = next(r for r in train_status(s, W28, CHECK).rules if r.id == "nogo.blocker-review")
    assert rule.detail == f"{train.new} (by ann, T2)"
    # wmf.29 is announced (its testwikis step is in the future of CHECK): a review may name it
    later = DeployStep(utc("2021-01-26T19:00"), ("testwikis",), W29, "ben", "forward", "to wmf.29", "t", 9)
    save_deploy_steps(s, [later])
    add_review(s, signature=train.new, verdict="not-blocker", version=W29, reviewer="cy", at=CHECK - 1800)
    assert status(train) == ("no-go", "nogo.blocker-review")  # scoped to wmf.29: not about wmf.28
    add_review(s, signature=train.new, verdict="fixed-in", target="I3f9a0c1", reviewer="cy", at=CHECK - 900)
    assert status(train) == ("go", "go")
    review = entry(train, "new", train.new)["review"]
    assert (review["verdict"], review["target"], review["reviewer"], review["task"]) == (
        "fixed-in",
        "I3f9a0c1",
        "cy",
        "T2",  # the task linked with the blocker stays linked
    )


def test_verdicts_carry_to_later_versions_unless_flagged_again(train: Train) -> None:
    s = train.store
    early = t("2021-01-19T12:00")  # only wmf.27 exists
    # the regression was NEW in wmf.27 (no older version) and is reviewed there
    assert train.regressed in [
        e.signature for e in train_status(s, W27, t("2021-01-19T17:59")).classification.new
    ]
    add_review(s, signature=train.regressed, verdict="not-blocker", reviewer="ann", at=early)
    assert review_history(s)[train.regressed][0].version == W27  # inferred: newest version seen then
    assert (
        entry(train, "new", train.regressed, W27, t("2021-01-19T17:59"))["review"]["verdict"] == "not-blocker"
    )
    # in wmf.28 it is REGRESSED: the wmf.27 verdict does not apply, a fresh look is needed
    assert entry(train, "regressed", train.regressed)["review"] is None
    add_review(s, signature=train.new, verdict="expected", reviewer="ann", at=CHECK - 60)
    assert status(train) == ("no-go", "nogo.unreviewed-critical-regressed")

    # a blocker on a signature wmf.28 does not flag carries over from wmf.27
    add_review(s, signature=train.old, verdict="blocker", version=W27, reviewer="bob", at=early)
    add_review(s, signature=train.regressed, verdict="known", tasks=["T3"], reviewer="cy", at=CHECK - 60)
    assert status(train) == ("no-go", "nogo.blocker-review")
    add_review(
        s, signature=train.old, verdict="fixed-in 1.36.0-wmf.28", version=W27, reviewer="bob", at=CHECK - 30
    )
    assert status(train) == ("go", "go")


# --- coverage ----------------------------------------------------------------------------


def test_coverage_of_the_train(train: Train) -> None:
    s = train.store
    flags = train_flags(s, W28)
    deadlines = {f.signature: f.deadline for f in flags.flagged}
    assert flags.checkpoints == (t("2021-01-19T20:00"), t("2021-01-20T20:00"), t("2021-01-21T20:00"))
    assert deadlines == {train.new: t("2021-01-19T20:00"), train.regressed: t("2021-01-20T20:00")}
    first_seen = {f.signature: f.first_seen for f in flags.flagged}
    assert first_seen == {train.new: t("2021-01-19T18:01"), train.regressed: t("2021-01-19T18:01")}

    add_review(s, signature=train.new, verdict="not-blocker", reviewer="ann", at=t("2021-01-19T19:30"))
    add_review(s, signature=train.regressed, verdict="needs-info", reviewer="bob", at=t("2021-01-21T09:00"))
    add_review(s, signature=train.regressed, verdict="expected", reviewer="bob", at=t("2021-01-21T10:00"))
    rows = {(r.version, r.team): r for r in coverage_report(s)}
    assert set(rows) == {(W28, "unowned"), (W27, "unowned")}
    w28 = rows[(W28, "unowned")]
    assert (w28.flagged, w28.reviewed_before_next_promotion, w28.share) == (2, 1, 0.5)
    assert w28.unreviewed == (train.regressed,)
    assert w28.median_time_to_first_review_seconds == (89 * 60 + (38 * 3600 + 59 * 60)) / 2
    w27 = rows[(W27, "unowned")]  # checkpoint: just before wmf.28's first promotion
    assert (w27.flagged, w27.reviewed_before_next_promotion) == (2, 0)  # wmf.28 reviews are not about wmf.27

    teams = {train.new: "@parsing"}
    by_team = coverage_report(s, W28, owner_of=teams.get)
    assert [
        (r.team, r.flagged, r.reviewed_before_next_promotion, r.median_time_to_first_review_seconds)
        for r in by_team
    ] == [
        ("@parsing", 1, 1, 89 * 60),
        ("unowned", 1, 0, 38 * 3600 + 59 * 60),
    ]


# --- CLI ---------------------------------------------------------------------------------


def run_cli(*args: str, env_user: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("USER", "TRAINTRIAGE_DB", "TRAINTRIAGE_OWNERS")}
    if env_user:
        env["USER"] = env_user
    return subprocess.run(
        [sys.executable, "-m", "traintriage", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_cli_review_then_train_status_shows_the_reviewer(train: Train, tmp_path: Path) -> None:
    db = train.url
    train.store.close()  # the CLI processes open their own connections
    at = "2021-01-20T11:00:00Z"
    ok = run_cli(
        "review",
        train.new[:8],
        "--verdict",
        "not-blocker",
        "--note",
        "harmless",
        "--at",
        at,
        "--db",
        db,
        env_user="ann",
    )
    assert ok.returncode == 0, ok.stderr
    assert f"review #1: {train.new} not-blocker for {W28} and later, by ann" in ok.stdout
    out = run_cli(
        "review", train.regressed, "--verdict", "known", "--task", "T4", "--assignee", "bob",
        "--as", "cy", "--at", at, "--db", db, "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["state"] == {
        "assignee": "bob",
        "tasks": ["T4"],
        "mute_until": None,
        "mute_until_escalates": False,
        "mute_version": None,
    }
    status_out = run_cli("train", "status", W28, "--at", "2021-01-20T12:00:00Z", "--db", db, "--json")
    assert status_out.returncode == 0, status_out.stderr
    decision = json.loads(status_out.stdout)
    assert decision["verdict"] == "go"
    assert decision["new"][0]["review"] == {
        "verdict": "not-blocker",
        "reviewer": "ann",
        "at": "2021-01-20T11:00:00Z",
        "task": None,
        "note": "harmless",
        "version": W28,
    }
    assert decision["regressed"][0]["review"]["reviewer"] == "cy"
    assert decision["regressed"][0]["review"]["assignee"] == "bob"

    # no verdict: just a change, audited
    muted = run_cli("review", train.new, "--mute-until-escalates", "--as", "dee", "--db", db)
    assert muted.returncode == 0, muted.stderr
    assert f"updated {train.new}" in muted.stdout and "muted until it escalates" in muted.stdout
    history = json.loads(run_cli("reviews", train.new, "--db", db, "--json").stdout)
    assert [r["verdict"] for r in history[train.new]["reviews"]] == ["not-blocker"]
    assert history[train.new]["state"]["mute_until_escalates"] is True
    listing = run_cli("reviews", "--db", db)
    assert listing.returncode == 0 and "not-blocker" in listing.stdout and "known" in listing.stdout
    audit = json.loads(run_cli("audit", "--db", db, "--json").stdout)
    assert [a["action"] for a in audit] == [
        "mute-set",
        "assignee-changed",
        "task-linked",
        "review-added",
        "review-added",
    ]
    assert audit[0]["actor"] == "dee"
    assert "review-added" in run_cli("audit", "--signature", train.new[:6], "--db", db).stdout

    cov = run_cli("coverage", W28, "--db", db, "--json")
    assert cov.returncode == 0, cov.stderr
    # the NEW one was due before group0 (19th 20:00) and reviewed on the 20th: late
    assert [
        (r["team"], r["flagged"], r["reviewed_before_next_promotion"]) for r in json.loads(cov.stdout)
    ] == [("unowned", 2, 1)]
    assert "unowned" in run_cli("coverage", "--db", db).stdout

    bad = run_cli("review", train.new, "--verdict", "wontfix", "--as", "x", "--db", db)
    assert bad.returncode == 64 and "unknown verdict 'wontfix'" in bad.stderr  # EX_USAGE
    nobody = run_cli("review", train.new, "--verdict", "expected", "--db", db)
    assert nobody.returncode == 64 and "--as NAME" in nobody.stderr
    missing = run_cli("review", "abcdef01", "--verdict", "expected", "--as", "x", "--db", db)
    assert missing.returncode == 66 and "no signature" in missing.stderr  # EX_NOINPUT
    assert len(json.loads(run_cli("audit", "--db", db, "--json").stdout)) == 5  # refusals leave no trace


def test_record_review_is_one_transaction(train: Train) -> None:
    """services.record_review (CLI and web): every change of one action is stored, or none."""
    from traintriage.core.errors import InvalidInput
    from traintriage.services.reviews import ReviewChange, record_review
    from traintriage.store.reviews import triage_state

    s = train.store
    at = t("2021-01-20T10:00")
    with pytest.raises(InvalidInput, match="not in the future"):  # the task link comes first, then fails
        record_review(
            s, ReviewChange(train.new, "ann", tasks=["T123"], assignee="bob", mute_until=at - 1, at=at)
        )
    assert audit_log(s) == [] and train.new not in triage_state(s, [train.new])
    out = record_review(
        s, ReviewChange(train.new, "ann", verdict="known", tasks=["T123"], assignee="", note="seen", at=at)
    )
    assert out.review is not None and out.review.verdict == "known" and out.state.tasks == ("T123",)
    out = record_review(s, ReviewChange(train.new, "ann", assignee="bob", note="over to bob", at=at + 1))
    assert out.review is None and out.state.assignee == "bob"
    actions = [e.action for e in audit_log(s)]
    assert actions == ["note-added", "assignee-changed", "task-linked", "review-added"]
    with pytest.raises(InvalidInput, match="nothing to record"):
        record_review(s, ReviewChange(train.new, "ann"))
