"""A cheap fingerprint of everything the reports read, so a front end can reuse a computed report."""

from __future__ import annotations

from typing import Any

from traintriage.store.db import Store

_PARTS = (
    "SELECT COUNT(*), MAX(at) FROM deploy_steps",
    "SELECT COUNT(*), MAX(id) FROM audit_log",
    "SELECT COUNT(*), MAX(last_seen), SUM(events) FROM signatures",
    "SELECT COUNT(*), MAX(at) FROM backports",
    "SELECT COUNT(*), MAX(checked_at) FROM blocker_views",
    "SELECT COUNT(*), MAX(checked_at) FROM task_states",
    "SELECT COUNT(*) FROM wiki_groups",
)


def data_stamp(store: Store) -> tuple[Any, ...]:
    """Changes whenever deploys, reviews, events, backports or cached task states change."""
    return tuple(tuple(store.query(q)[0]) for q in _PARTS)
