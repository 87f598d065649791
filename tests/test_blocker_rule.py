"""The train's blocker task as a decision input (rule nogo.open-blocker-task): pure, no tracker."""

from __future__ import annotations

import json

from tests.test_classify import AT, CFG, sig, snapshot, stratum
from traintriage.detect.blockers import BlockerEvidence, TaskState, is_open_status
from traintriage.detect.classify import classify
from traintriage.detect.decision import Decision, decide


def stable() -> list[object]:
    return [sig(f"s{i}", [stratum("group0", 50, 50)]) for i in range(5)]


def run(blocker: BlockerEvidence | None) -> Decision:
    snap = snapshot(stable())  # type: ignore[arg-type]
    return decide(snap, classify(snap, CFG), CFG, {}, blocker)


def evidence(*subtasks: TaskState, checked: float = AT - 1800, error: str | None = None) -> BlockerEvidence:
    task = TaskState("T270000", "1.41.0-wmf.2 deployment blockers", "open")
    return BlockerEvidence(
        "1.41.0-wmf.2", task, subtasks, fetched_at=checked - 3600, checked_at=checked, error=error
    )


def rule(d: Decision) -> object:
    return next(r for r in d.rules if r.id == "nogo.open-blocker-task")


def test_open_subtask_blocks_with_the_task_as_evidence() -> None:
    sub = TaskState("T270123", "Echo fatal on save", "open", signatures=("abcd1234",))
    d = run(evidence(sub, TaskState("T270124", "fixed thing", "resolved")))
    assert (d.verdict, d.rule) == ("no-go", "nogo.open-blocker-task")
    r = rule(d)
    assert r.fired and r.signatures == ("abcd1234",)  # type: ignore[attr-defined]
    assert "T270123 Echo fatal on save [open]" in r.detail  # type: ignore[attr-defined]
    assert "1 open of 2 subtasks" in r.detail  # type: ignore[attr-defined]
    assert "30 min before this decision" in r.detail  # type: ignore[attr-defined]
    out = d.to_dict()
    assert out["blocker_task"]["open_subtasks"] == ["T270123"]
    assert out["blocker_task"]["age_seconds"] == 1800
    json.dumps(out, allow_nan=False)


def test_closed_subtasks_only_do_not_block() -> None:
    d = run(evidence(TaskState("T1", "a", "resolved"), TaskState("T2", "b", "declined")))
    assert d.verdict == "go"
    assert "no open subtask (2 closed)" in rule(d).detail  # type: ignore[attr-defined]


def test_in_progress_and_unknown_statuses_count_as_open() -> None:
    assert is_open_status("progress") and is_open_status("stalled") and is_open_status("needs-triage")
    assert not is_open_status("Resolved") and not is_open_status("invalid")
    assert run(evidence(TaskState("T3", "c", "progress"))).verdict == "no-go"


def test_no_known_task_does_not_fire_and_says_why() -> None:
    d = run(None)
    assert d.verdict == "go"
    assert "no blocker task known" in rule(d).detail  # type: ignore[attr-defined]
    failed = BlockerEvidence("1.41.0-wmf.2", None, error="connection refused")
    assert "connection refused" in rule(run(failed)).detail  # type: ignore[attr-defined]


def test_failed_refresh_keeps_the_cached_view_and_says_so() -> None:
    d = run(evidence(TaskState("T4", "d", "open"), checked=AT - 3 * 86400, error="timed out"))
    assert d.verdict == "no-go"
    detail = rule(d).detail  # type: ignore[attr-defined]
    assert "3.0 days before this decision" in detail and "last refresh failed: timed out" in detail


def test_blocker_rule_comes_after_blocker_reviews_and_before_unreviewed_new() -> None:
    ids = [r.id for r in run(None).rules]
    assert ids.index("nogo.blocker-review") < ids.index("nogo.open-blocker-task")
    assert ids.index("nogo.open-blocker-task") < ids.index("nogo.unreviewed-critical-new")
