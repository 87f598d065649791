"""The communication tables on both backends (real SQLite file, real PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import mw_line
from traintriage.detect.blockers import TaskState
from traintriage.ingest.pipeline import ingest
from traintriage.store import outbox
from traintriage.store.backports import load_backports, save_backports
from traintriage.store.reviews import audit_log, triage_state
from traintriage.store.tasks import (
    load_blocker_view,
    load_task_states,
    record_blocker_error,
    record_filed_task,
    save_blocker_view,
    save_task_states,
)
from traintriage.train.backports import Backport

V = "1.36.0-wmf.28"


def test_outbox_queues_once_claims_exclusively_and_records_outcomes(store: Any) -> None:
    now = 1_000_000.0
    rows = [
        ("new:x", "team->hook", "hook", "@team", "new", {"title": "a"}, now),
        ("new:y", "team->hook", "hook", "@team", "new", {"title": "b"}, now + 600),
    ]
    assert outbox.enqueue(store, rows, now=now) == 2
    assert outbox.enqueue(store, rows, now=now + 1) == 0  # the same notice is never queued twice
    first = outbox.claim_due(store, now=now)
    assert [r.key for r in first] == ["new:x"] and first[0].notice == {"title": "a"}
    assert outbox.claim_due(store, now=now + 1) == []  # leased to the first sender
    outbox.mark_failed(store, [first[0].id], error="HTTP 503", retry_at=now + 30)
    assert outbox.claim_due(store, now=now + 10) == []
    again = outbox.claim_due(store, now=now + 30)
    assert [r.attempts for r in again] == [1] and again[0].last_error == "HTTP 503"
    delivery = outbox.record_delivery(store, "team->hook", "hook", at=now + 30, items=1, ok=True, error=None)
    outbox.mark_sent(store, [again[0].id], at=now + 30, delivery=delivery)
    assert outbox.recent_sends(store, "team->hook", now) == [now + 30]
    later = outbox.claim_due(store, now=now + 600)
    outbox.mark_failed(store, [later[0].id], error="HTTP 404", retry_at=None)
    assert outbox.outbox_counts(store) == {"sent": 1, "dead": 1}
    assert [r.key for r in outbox.dead_rows(store)] == ["new:y"]
    assert outbox.retry_dead(store, now=now + 700) == 1
    outbox.set_state(store, "verdict:v:group1", "no-go", at=now)
    outbox.set_state(store, "verdict:v:group1", "go", at=now + 1)
    assert outbox.get_state(store, "verdict:v:group1") == "go" and outbox.get_state(store, "nope") is None


def _task(id_: str, status: str = "open", title: str = "t") -> TaskState:
    return TaskState(id_, title, status, f"https://phab.example/{id_}")


def test_blocker_views_keep_each_content_once_and_replay_by_time(store: Any) -> None:
    blocker = _task("T1", title=f"{V} deployment blockers")
    assert save_blocker_view(store, V, blocker, [_task("T2")], source="https://phab", at=100.0)
    assert not save_blocker_view(store, V, blocker, [_task("T2")], source="https://phab", at=200.0)
    view = load_blocker_view(store, V)
    assert view is not None and (view.fetched_at, view.checked_at) == (100.0, 200.0)
    assert save_blocker_view(store, V, blocker, [_task("T2", "resolved")], source="https://phab", at=300.0)
    assert load_blocker_view(store, V, at=250.0).subtasks[0].status == "open"  # type: ignore[union-attr]
    assert load_blocker_view(store, V, at=150.0).checked_at == 150.0  # type: ignore[union-attr]
    assert load_blocker_view(store, V, at=50.0) is None
    record_blocker_error(store, V, "connection refused", source="https://phab", at=400.0)
    latest = load_blocker_view(store, V)
    assert latest is not None and latest.error == "connection refused" and latest.checked_at == 300.0
    record_blocker_error(store, "1.36.0-wmf.99", "timed out", source="https://phab", at=400.0)
    none_yet = load_blocker_view(store, "1.36.0-wmf.99")
    assert none_yet is not None and none_yet.task is None and none_yet.error == "timed out"


def test_task_states_upsert(store: Any) -> None:
    save_task_states(store, [_task("T5"), _task("T6", "resolved")], at=10.0)
    save_task_states(store, [_task("T5", "resolved")], at=20.0)
    states = load_task_states(store)
    assert states["T5"][0].status == "resolved" and states["T5"][1] == 20.0
    assert set(load_task_states(store, ["T6", "T404"])) == {"T6"}


def test_backports_are_stored_once_per_train_and_change(store: Any) -> None:
    bps = [
        Backport(V, "I1", 5.0, ("T1",), "fix a", "x.log", 3),
        Backport(V, "I1", 5.0, ("T1",), "fix a", "x.log", 3),
        Backport("1.36.0-wmf.29", "I1", None, (), "fix a", "x.log", 9),
    ]
    assert save_backports(store, bps) == 2
    assert save_backports(store, bps[:1]) == 0
    loaded = load_backports(store)
    assert [(b.version, b.change, b.bugs, b.line) for b in loaded] == [
        (V, "I1", ("T1",), 3),
        ("1.36.0-wmf.29", "I1", (), 9),
    ]


def test_filing_links_the_task_to_the_signature(store: Any, tmp_path: Path) -> None:
    log = tmp_path / "one.log"
    log.write_text(mw_line(version=V) + "\n")
    ingest(store, [str(log)])
    sig = str(store.query("SELECT id FROM signatures")[0][0])
    record_filed_task(
        store, sig, "T77", actor="ana", backend="phabricator", url="https://phab/T77", title="x", at=5.0
    )
    record_filed_task(
        store, sig, "T77", actor="ana", backend="phabricator", url="https://phab/T77", title="x", at=6.0
    )
    assert triage_state(store, [sig])[sig].tasks == ("T77",)
    actions = [e.action for e in audit_log(store, signature=sig)]
    assert actions.count("task-filed") == 2 and actions.count("task-linked") == 1
    with pytest.raises(ValueError, match="no signature"):
        record_filed_task(store, "ffffffffffffffff", "T1", actor="a", backend="b", url=None, title="x")
