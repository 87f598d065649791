"""Cached task-tracker state: task states, blocker task views, filed tasks (all their SQL is here).

A blocker view is stored as a new row only when its content changes; a refresh that finds
the same content moves `checked_at` on. A decision at time `at` reads the newest view
fetched by then, so replays see what was known at the time, and says how fresh it is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from traintriage.detect.blockers import TaskState
from traintriage.store.db import Store
from traintriage.store.reviews import _audit, _require_signature, _state_in, _writing
from traintriage.triage.reviews import parse_task

__all__ = [
    "BlockerView",
    "load_blocker_view",
    "load_task_states",
    "record_blocker_error",
    "record_filed_task",
    "save_blocker_view",
    "save_task_states",
    "task_from_json",
    "task_json",
]


def task_json(t: TaskState) -> dict[str, Any]:
    """A task as stored (raw numbers; `signatures` are joined at read time, not stored)."""
    return {
        "id": t.id,
        "title": t.title,
        "status": t.status,
        "url": t.url,
        "subtype": t.subtype,
        "owner": t.owner,
        "closed_at": t.closed_at,
        "modified_at": t.modified_at,
    }


def task_from_json(d: dict[str, Any]) -> TaskState:
    return TaskState(
        id=str(d["id"]),
        title=str(d.get("title") or ""),
        status=str(d.get("status") or "open"),
        url=d.get("url"),
        subtype=d.get("subtype"),
        owner=d.get("owner"),
        closed_at=d.get("closed_at"),
        modified_at=d.get("modified_at"),
    )


@dataclass(frozen=True)
class BlockerView:
    version: str
    task: TaskState | None
    subtasks: tuple[TaskState, ...]
    fetched_at: float
    checked_at: float
    error: str | None
    source: str


def _content(task: TaskState | None, subtasks: Sequence[TaskState]) -> str:
    doc = {
        "task": task_json(task) if task else None,
        "subtasks": sorted((task_json(t) for t in subtasks), key=lambda d: d["id"]),
    }
    return json.dumps(doc, sort_keys=True, ensure_ascii=False)


def _latest(store: Store, cur: Any, version: str) -> tuple[Any, ...] | None:
    cur.execute(
        store.sql(
            "SELECT fetched_at, state FROM blocker_views WHERE version = ? ORDER BY fetched_at DESC LIMIT 1"
        ),
        (version,),
    )
    row = cur.fetchone()
    return tuple(row) if row else None


def save_blocker_view(
    store: Store,
    version: str,
    task: TaskState | None,
    subtasks: Sequence[TaskState],
    *,
    source: str,
    at: float | None = None,
) -> bool:
    """Store what the tracker reported at `at`; True when the content changed (a new row)."""
    at = time.time() if at is None else float(at)
    content = _content(task, subtasks)
    with store.transaction() as cur:
        latest = _latest(store, cur, version)
        if latest is not None and latest[1] == content and float(latest[0]) <= at:
            cur.execute(
                store.sql(
                    "UPDATE blocker_views SET checked_at = ?, error = NULL WHERE version = ? AND fetched_at = ?"
                ),
                (at, version, latest[0]),
            )
            return False
        cur.execute(
            store.sql(
                "INSERT INTO blocker_views (version, fetched_at, checked_at, task, state, error, source) "
                "VALUES (?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (version, fetched_at) DO UPDATE SET "
                "checked_at = excluded.checked_at, task = excluded.task, state = excluded.state, error = NULL"
            ),
            (version, at, at, task.id if task else None, content, source),
        )
    return True


def record_blocker_error(
    store: Store, version: str, error: str, *, source: str, at: float | None = None
) -> None:
    """A refresh failed: keep the last view (its `checked_at` does not move) and note why."""
    at = time.time() if at is None else float(at)
    with store.transaction() as cur:
        latest = _latest(store, cur, version)
        if latest is None:
            cur.execute(
                store.sql(
                    "INSERT INTO blocker_views (version, fetched_at, checked_at, task, state, error, source) "
                    "VALUES (?, ?, ?, NULL, ?, ?, ?)"
                ),
                (version, at, at, _content(None, []), error[:500], source),
            )
        else:
            cur.execute(
                store.sql("UPDATE blocker_views SET error = ? WHERE version = ? AND fetched_at = ?"),
                (error[:500], version, latest[0]),
            )


def load_blocker_view(store: Store, version: str, at: float | None = None) -> BlockerView | None:
    """The newest view fetched by `at` (None: the newest of all)."""
    when = " AND fetched_at <= ?" if at is not None else ""
    params: list[Any] = [version] + ([at] if at is not None else [])
    rows = store.query(
        "SELECT fetched_at, checked_at, state, error, source FROM blocker_views WHERE version = ?"
        + when
        + " ORDER BY fetched_at DESC LIMIT 1",
        params,
    )
    if not rows:
        return None
    fetched, checked, state, error, source = rows[0]
    doc = json.loads(state)
    task = task_from_json(doc["task"]) if doc.get("task") else None
    subtasks = tuple(task_from_json(d) for d in doc.get("subtasks") or [])
    checked = float(checked)
    if at is not None:
        checked = min(checked, at)  # a replay knows only that it was confirmed by `at`
    return BlockerView(version, task, subtasks, float(fetched), checked, error, str(source))


def save_task_states(store: Store, states: Iterable[TaskState], *, at: float | None = None) -> int:
    """Upsert tasks as the tracker reported them at `at`."""
    at = time.time() if at is None else float(at)
    rows = sorted(
        {
            t.id: (t.id, t.title, t.status, t.url, t.subtype, t.owner, t.closed_at, t.modified_at, at, at)
            for t in states
        }.values()
    )
    if not rows:
        return 0
    with store.transaction() as cur:
        cur.executemany(
            store.sql(
                """INSERT INTO task_states AS s (task, title, status, url, subtype, owner, closed_at, modified_at,
                       fetched_at, checked_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (task) DO UPDATE SET title = excluded.title, status = excluded.status,
                       url = excluded.url, subtype = excluded.subtype, owner = excluded.owner,
                       closed_at = excluded.closed_at, modified_at = excluded.modified_at,
                       fetched_at = CASE WHEN s.status = excluded.status AND s.title = excluded.title
                                         THEN s.fetched_at ELSE excluded.fetched_at END,
                       checked_at = excluded.checked_at"""
            ),
            rows,
        )
    return len(rows)


def load_task_states(store: Store, tasks: Sequence[str] | None = None) -> dict[str, tuple[TaskState, float]]:
    """task -> (state, checked_at); every cached task when `tasks` is None."""
    columns = "task, title, status, url, subtype, owner, closed_at, modified_at, checked_at"
    if tasks is None:
        rows = store.query(f"SELECT {columns} FROM task_states")
    else:
        rows = store.query_in(f"SELECT {columns} FROM task_states WHERE task {{ids}}", sorted(set(tasks)))
    out = {}
    for task, title, status, url, subtype, owner, closed, modified, checked in rows:
        state = TaskState(
            str(task),
            str(title),
            str(status),
            url,
            subtype,
            owner,
            float(closed) if closed is not None else None,
            float(modified) if modified is not None else None,
        )
        out[str(task)] = (state, float(checked))
    return out


def record_filed_task(
    store: Store,
    signature: str,
    task: str,
    *,
    actor: str,
    backend: str,
    url: str | None,
    title: str,
    parent: str | None = None,
    at: float | None = None,
) -> None:
    """Filing links the task to the signature (the review record) with one audit entry for the filing."""
    task = parse_task(task)
    at = time.time() if at is None else float(at)
    actor = actor.strip()
    if not actor:
        raise ValueError("who filed this task? (an actor name is required)")
    _require_signature(store, signature)
    with _writing(store) as cur:
        detail = {"task": task, "backend": backend, "url": url, "title": title[:300], "parent": parent}
        _audit(store, cur, at, actor, "task-filed", signature, detail)
        if task not in _state_in(store, cur, signature).tasks:
            _audit(store, cur, at, actor, "task-linked", signature, {"task": task, "filed": True})
