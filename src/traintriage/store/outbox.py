"""The durable notification outbox, the deliveries made and what was last told (all SQL here).

A notice is queued once per subscription (`UNIQUE (key, subscription)`), committed before
anything is sent. A sender claims due rows for a lease (`claimed_until`), so two senders
never send the same row; a send marks its rows sent, or records the failure with the
next attempt's time. A crash between sending and marking sends again (at least once);
every message carries a delivery id for receivers to drop repeats.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from traintriage.store.db import Store

__all__ = [
    "OutboxRow",
    "claim_due",
    "enqueue",
    "get_state",
    "mark_failed",
    "mark_sent",
    "outbox_counts",
    "pending_rows",
    "postpone",
    "recent_sends",
    "dead_rows",
    "record_delivery",
    "release",
    "retry_dead",
    "set_state",
]

_LOCK = 7326917  # PostgreSQL advisory lock for outbox writes (triage uses 7326916)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    key: str
    subscription: str
    channel: str
    team: str
    kind: str
    notice: dict[str, Any]
    created_at: float
    due_at: float
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None


_COLUMNS = "id, key, subscription, channel, team, kind, notice, created_at, due_at, state, attempts, next_attempt_at, last_error"


def _row(r: Sequence[Any]) -> OutboxRow:
    return OutboxRow(
        int(r[0]),
        str(r[1]),
        str(r[2]),
        str(r[3]),
        str(r[4]),
        str(r[5]),
        json.loads(r[6]),
        float(r[7]),
        float(r[8]),
        str(r[9]),
        int(r[10]),
        float(r[11]),
        r[12],
    )


@contextmanager
def _locked(store: Store) -> Iterator[Any]:
    with store.transaction() as cur:
        if store.dialect == "postgresql":
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        yield cur


def _next_id(cur: Any, table: str) -> int:
    cur.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
    return int(cur.fetchone()[0])


def enqueue(
    store: Store, items: Sequence[tuple[str, str, str, str, str, dict[str, Any], float]], *, now: float
) -> int:
    """Queue (key, subscription, channel, team, kind, notice, due_at) rows; a known pair is skipped.

    Returns how many were new.
    """
    added = 0
    with _locked(store) as cur:
        next_id = _next_id(cur, "notify_outbox")
        for key, sub, channel, team, kind, notice, due in items:
            cur.execute(
                store.sql(
                    """INSERT INTO notify_outbox (id, key, subscription, channel, team, kind, notice, created_at,
                           due_at, state, attempts, next_attempt_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?)
                       ON CONFLICT (key, subscription) DO NOTHING"""
                ),
                (
                    next_id,
                    key,
                    sub,
                    channel,
                    team,
                    kind,
                    json.dumps(notice, ensure_ascii=False),
                    now,
                    due,
                    due,
                ),
            )
            if cur.rowcount:
                added += 1
                next_id += 1
    return added


def claim_due(store: Store, *, now: float, lease: float = 120.0, limit: int = 500) -> list[OutboxRow]:
    """Pending rows due by `now`, not claimed by another sender; claimed for `lease` seconds."""
    with _locked(store) as cur:
        cur.execute(
            store.sql(
                f"""SELECT {_COLUMNS} FROM notify_outbox
                    WHERE state = 'pending' AND next_attempt_at <= ? AND due_at <= ?
                      AND (claimed_until IS NULL OR claimed_until < ?)
                    ORDER BY created_at, id LIMIT ?"""
            ),
            (now, now, now, limit),
        )
        rows = [_row(r) for r in cur.fetchall()]
        if rows:
            cur.executemany(
                store.sql("UPDATE notify_outbox SET claimed_until = ? WHERE id = ?"),
                [(now + lease, r.id) for r in rows],
            )
    return rows


def release(store: Store, ids: Sequence[int]) -> None:
    with store.transaction() as cur:
        cur.executemany(
            store.sql("UPDATE notify_outbox SET claimed_until = NULL WHERE id = ?"), [(i,) for i in ids]
        )


def record_delivery(
    store: Store, subscription: str, channel: str, *, at: float, items: int, ok: bool, error: str | None
) -> int:
    with _locked(store) as cur:
        delivery = _next_id(cur, "notify_deliveries")
        cur.execute(
            store.sql(
                "INSERT INTO notify_deliveries (id, subscription, channel, at, items, ok, error) VALUES (?, ?, ?, ?, ?, ?, ?)"
            ),
            (delivery, subscription, channel, at, items, 1 if ok else 0, error),
        )
    return delivery


def mark_sent(store: Store, ids: Sequence[int], *, at: float, delivery: int) -> None:
    with store.transaction() as cur:
        cur.executemany(
            store.sql(
                "UPDATE notify_outbox SET state = 'sent', sent_at = ?, delivery = ?, claimed_until = NULL, "
                "attempts = attempts + 1, last_error = NULL WHERE id = ?"
            ),
            [(at, delivery, i) for i in ids],
        )


def mark_failed(store: Store, ids: Sequence[int], *, error: str, retry_at: float | None) -> None:
    """One more failed attempt; `retry_at` None gives up (state 'dead')."""
    with store.transaction() as cur:
        cur.executemany(
            store.sql(
                "UPDATE notify_outbox SET attempts = attempts + 1, last_error = ?, claimed_until = NULL, "
                "state = ?, next_attempt_at = ? WHERE id = ?"
            ),
            [
                (
                    error[:1000],
                    "dead" if retry_at is None else "pending",
                    retry_at if retry_at is not None else 0.0,
                    i,
                )
                for i in ids
            ],
        )


def postpone(store: Store, ids: Sequence[int], until: float) -> None:
    """Rate limit reached: try these again at `until` (not an attempt)."""
    with store.transaction() as cur:
        cur.executemany(
            store.sql("UPDATE notify_outbox SET next_attempt_at = ?, claimed_until = NULL WHERE id = ?"),
            [(until, i) for i in ids],
        )


def recent_sends(store: Store, subscription: str, since: float) -> list[float]:
    """Times of successful messages of a subscription since `since` (its rate-limit window)."""
    rows = store.query(
        "SELECT at FROM notify_deliveries WHERE subscription = ? AND ok = 1 AND at > ? ORDER BY at",
        (subscription, since),
    )
    return [float(r[0]) for r in rows]


def outbox_counts(store: Store) -> dict[str, int]:
    return {
        str(s): int(n) for s, n in store.query("SELECT state, COUNT(*) FROM notify_outbox GROUP BY state")
    }


def dead_rows(store: Store, limit: int = 50) -> list[OutboxRow]:
    rows = store.query(
        f"SELECT {_COLUMNS} FROM notify_outbox WHERE state = 'dead' ORDER BY id DESC LIMIT ?", (limit,)
    )
    return [_row(r) for r in rows]


def pending_rows(store: Store, limit: int = 50) -> list[OutboxRow]:
    rows = store.query(
        f"SELECT {_COLUMNS} FROM notify_outbox WHERE state = 'pending' ORDER BY next_attempt_at, id LIMIT ?",
        (limit,),
    )
    return [_row(r) for r in rows]


def retry_dead(store: Store, *, now: float) -> int:
    """Give every dead row a fresh start (after fixing a channel's configuration)."""
    with store.transaction() as cur:
        cur.execute(
            store.sql(
                "UPDATE notify_outbox SET state = 'pending', attempts = 0, next_attempt_at = ? WHERE state = 'dead'"
            ),
            (now,),
        )
        return int(cur.rowcount or 0)


def get_state(store: Store, key: str) -> str | None:
    rows = store.query("SELECT value FROM notify_state WHERE key = ?", (key,))
    return str(rows[0][0]) if rows else None


def set_state(store: Store, key: str, value: str, *, at: float) -> None:
    store.execute(
        "INSERT INTO notify_state AS s (key, value, at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, at = excluded.at",
        (key, value, at),
    )
