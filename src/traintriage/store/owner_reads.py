"""Reads for ownership: route many signatures in a few chunked queries.

The train page and `owners check` need the owner of hundreds of signatures;
`signature_detail` per signature would be one round trip per table each.
Here one query (chunked on SQLite) fetches explanations and one more fetches
each signature's earliest sample (the same sample `owners show` uses, so the
two never disagree). The routing itself is pure (triage/owners.py); services/ownership.py joins the two.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from traintriage.store.db import Store


@dataclass(frozen=True)
class SignatureFacts:
    """What routing needs to know about one signature."""

    channel: str
    exc_class: str | None
    explanation: list[dict[str, Any]]
    trace: str | None


def signature_facts(store: Store, signature_ids: Sequence[str]) -> dict[str, SignatureFacts]:
    """Channel, class, explanation and earliest sample trace per signature, two queries per chunk."""
    out: dict[str, SignatureFacts] = {}
    ids = list(dict.fromkeys(signature_ids))
    traces = _earliest_traces(store, ids)
    for sig, channel, exc_class, explanation in store.query_in(
        "SELECT id, channel, exc_class, explanation FROM signatures WHERE id {ids}", ids
    ):
        out[str(sig)] = SignatureFacts(str(channel), exc_class, json.loads(explanation), traces.get(str(sig)))
    return out


def _earliest_traces(store: Store, ids: list[str]) -> dict[str, str]:
    """Trace of the earliest sample per signature (by ts, version, seq), if it has one."""
    rows = store.query_in(
        "SELECT signature, event FROM ("
        " SELECT signature, event,"
        " ROW_NUMBER() OVER (PARTITION BY signature ORDER BY ts, version, seq) AS rn"
        " FROM samples WHERE signature {ids}"
        ") AS earliest WHERE rn = 1",
        ids,
    )
    out: dict[str, str] = {}
    for sig, event in rows:
        trace = json.loads(event).get("trace")
        if isinstance(trace, str) and trace:
            out[str(sig)] = trace
    return out


def signatures_by_events(store: Store) -> list[tuple[str, str, str, int]]:
    """(id, title, channel, events) of every signature, most events first: what `owners check` routes."""
    return [
        (str(i), str(t), str(c), int(e))
        for i, t, c, e in store.query(
            "SELECT id, title, channel, events FROM signatures ORDER BY events DESC, id"
        )
    ]
