"""Audited retractions of a review or a deploy step: the operator's way out of a bad row.

Nothing is deleted (the triage record and the deployment history stay append-only). A
retraction is a row in `retractions` plus an audit entry naming who retracted what and
why; reads skip retracted rows (store/reviews.py `_NOT_RETRACTED`, store/trains.py
`load_deploy_steps`), so a review stored with a bad value or a deploy step with a wrong
date stops counting, and the record still shows that it existed (issue 8).

A deploy step has no id column (its key is its time, groups, version and message); its
id is a digest of that key, the same on SQLite and PostgreSQL (`step_id`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from traintriage.core.errors import Conflict, NotFound
from traintriage.store.db import Store
from traintriage.store.reviews import triage_transaction, write_audit


@dataclass(frozen=True)
class Retraction:
    kind: str  # "review" or "deploy-step"
    target: str
    actor: str
    at: float
    reason: str
    what: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "actor": self.actor,
            "at": self.at,
            "reason": self.reason,
            "what": self.what,
        }


def step_id(at: Any, groups: str, version: str, message: str) -> str:
    """The id of a stored deploy step: 12 hex digits of a digest of its key."""
    key = json.dumps([repr(float(at)), str(groups), str(version), str(message)])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def retracted(store: Store, kind: str) -> set[str]:
    return {str(r[0]) for r in store.query("SELECT target FROM retractions WHERE kind = ?", (kind,))}


def _insert(store: Store, cur: Any, kind: str, target: str, actor: str, at: float, reason: str) -> None:
    cur.execute(store.sql("SELECT 1 FROM retractions WHERE kind = ? AND target = ?"), (kind, target))
    if cur.fetchone():
        raise Conflict(f"{kind} {target} was retracted already")
    cur.execute(
        store.sql("INSERT INTO retractions (kind, target, actor, at, reason) VALUES (?, ?, ?, ?, ?)"),
        (kind, target, actor, at, reason),
    )


def retract_review(
    store: Store, review_id: int, actor: str, reason: str, at: float | None = None
) -> Retraction:
    """Retract review `review_id`; its mute, assignee and task links stop counting too."""
    when = time.time() if at is None else at
    with triage_transaction(store) as cur:
        cur.execute(
            store.sql("SELECT signature, version, verdict, reviewer FROM reviews WHERE id = ?"), (review_id,)
        )
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"no review #{review_id}")
        what = {"review": review_id, "signature": row[0], "version": row[1], "verdict": row[2], "by": row[3]}
        _insert(store, cur, "review", str(review_id), actor, when, reason)
        write_audit(store, cur, when, actor, "review-retracted", str(row[0]), {**what, "reason": reason})
    return Retraction("review", str(review_id), actor, when, reason, what)


def deploy_step_rows(store: Store) -> list[dict[str, Any]]:
    """Every stored deploy step with its id and whether it was retracted, in time order."""
    gone = retracted(store, "deploy-step")
    out = []
    for at, groups, version, actor, kind, message, source, line in store.query(
        "SELECT at, groups, version, actor, kind, message, source, line FROM deploy_steps ORDER BY at, line"
    ):
        sid = step_id(at, groups, version, message)
        out.append(
            {
                "id": sid,
                "at": float(at),
                "groups": str(groups),
                "version": str(version),
                "actor": str(actor),
                "kind": str(kind),
                "message": str(message),
                "source": str(source),
                "line": int(line),
                "retracted": sid in gone,
            }
        )
    return out


def retract_deploy_step(
    store: Store, step: str, actor: str, reason: str, at: float | None = None
) -> Retraction:
    """Retract the deploy step with id `step` (see `deploy_step_rows`): the timeline drops it."""
    when = time.time() if at is None else at
    found = [r for r in deploy_step_rows(store) if r["id"] == step]
    if not found:
        raise NotFound(f"no deploy step {step!r} (see `traintriage deploys steps`)")
    row = found[0]
    what = {k: row[k] for k in ("id", "at", "groups", "version", "message", "source")}
    with triage_transaction(store) as cur:
        _insert(store, cur, "deploy-step", step, actor, when, reason)
        write_audit(store, cur, when, actor, "deploy-step-retracted", None, {**what, "reason": reason})
    return Retraction("deploy-step", step, actor, when, reason, what)
