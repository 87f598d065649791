"""Read queries for the CLI, the API and the web pages (all SQL stays in store/)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from traintriage.core.errors import NotFound  # no signature (or more than one) matches what was typed
from traintriage.store.db import Store


@dataclass
class VersionCounts:
    version: str
    events: int
    requests: int
    first_seen: float
    last_seen: float


@dataclass
class SignatureSummary:
    id: str
    title: str
    kind: str
    channel: str
    level: str
    exc_class: str | None
    algorithm: str
    events: int
    first_seen: float
    last_seen: float
    versions: list[VersionCounts] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "signature": self.id,
            "title": self.title,
            "kind": self.kind,
            "channel": self.channel,
            "level": self.level,
            "exception_class": self.exc_class,
            "algorithm": self.algorithm,
            "events": self.events,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "versions": {
                v.version: {
                    "events": v.events,
                    "requests": v.requests,
                    "first_seen": v.first_seen,
                    "last_seen": v.last_seen,
                }
                for v in self.versions
            },
        }


@dataclass
class SignatureDetail:
    summary: SignatureSummary
    explanation: list[dict[str, Any]]
    wikis: list[tuple[str, str, int, int]]  # (version, wiki, events, requests)
    hours: list[tuple[str, int, int, int]]  # (version, hour epoch seconds, events, requests)
    hosts: list[tuple[str, str, int]]  # (version, host, events)
    samples: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        out = self.summary.to_dict()
        out["explanation"] = self.explanation
        out["wikis"] = [{"version": v, "wiki": w, "events": e, "requests": r} for v, w, e, r in self.wikis]
        out["hours"] = [{"version": v, "hour": h, "events": e, "requests": r} for v, h, e, r in self.hours]
        out["hosts"] = [{"version": v, "host": h, "events": e} for v, h, e in self.hosts]
        out["samples"] = self.samples
        return out


_SUMMARY_COLUMNS = "id, title, kind, channel, level, exc_class, algorithm, events, first_seen, last_seen"


def _summary(row: tuple[Any, ...]) -> SignatureSummary:
    return SignatureSummary(
        id=row[0],
        title=row[1],
        kind=row[2],
        channel=row[3],
        level=row[4],
        exc_class=row[5],
        algorithm=row[6],
        events=int(row[7]),
        first_seen=float(row[8]),
        last_seen=float(row[9]),
    )


def _attach_versions(store: Store, summaries: list[SignatureSummary]) -> None:
    by_id = {s.id: s for s in summaries}
    rows = store.query_in(
        "SELECT signature, version, events, requests, first_seen, last_seen FROM signature_versions "
        "WHERE signature {ids} ORDER BY signature, first_seen",
        list(by_id),
    )
    for sig, version, events, requests, first, last in rows:
        by_id[sig].versions.append(
            VersionCounts(version, int(events), int(requests), float(first), float(last))
        )


def top_signatures(store: Store, version: str | None = None, limit: int = 50) -> list[SignatureSummary]:
    """Most frequent signatures overall, or within one version, with per-version counts."""
    if version is None:
        rows = store.query(
            f"SELECT {_SUMMARY_COLUMNS} FROM signatures ORDER BY events DESC, id LIMIT ?", (limit,)
        )
    else:
        cols = ", ".join("s." + c for c in _SUMMARY_COLUMNS.split(", "))
        rows = store.query(
            f"SELECT {cols} FROM signature_versions v JOIN signatures s ON s.id = v.signature "
            "WHERE v.version = ? ORDER BY v.events DESC, s.id LIMIT ?",
            (version, limit),
        )
    summaries = [_summary(r) for r in rows]
    _attach_versions(store, summaries)
    return summaries


def resolve_signature(store: Store, prefix: str) -> str:
    """A full signature id from an id or an unambiguous prefix (at least 4 characters)."""
    prefix = prefix.strip().lower()
    if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
        raise NotFound(f"{prefix!r} is not a signature id (16 hex digits, or a unique prefix of at least 4)")
    rows = store.query(
        "SELECT id FROM signatures WHERE id >= ? AND id < ? ORDER BY id LIMIT 3", (prefix, prefix + "g")
    )
    if not rows:
        raise NotFound(f"no signature {prefix!r}")
    if len(rows) > 1:
        raise NotFound(f"{prefix!r} is ambiguous: {', '.join(r[0] for r in rows)}, ...")
    return str(rows[0][0])


def signature_detail(store: Store, sig_id: str) -> SignatureDetail:
    """Everything known about one signature (for `show` and the signature page)."""
    rows = store.query(f"SELECT {_SUMMARY_COLUMNS}, explanation FROM signatures WHERE id = ?", (sig_id,))
    if not rows:
        raise NotFound(f"no signature {sig_id!r}")
    summary = _summary(rows[0])
    _attach_versions(store, [summary])
    explanation = json.loads(rows[0][10])
    wikis = [
        (str(v), str(w), int(e), int(r))
        for v, w, e, r in store.query(
            "SELECT version, wiki, SUM(events), SUM(requests) FROM counts WHERE signature = ? "
            "GROUP BY version, wiki ORDER BY SUM(events) DESC, version, wiki",
            (sig_id,),
        )
    ]
    hours = [
        (str(v), int(h) * 3600, int(e), int(r))
        for v, h, e, r in store.query(
            "SELECT version, slot / 6, SUM(events), SUM(requests) FROM counts WHERE signature = ? "
            "GROUP BY version, slot / 6 ORDER BY slot / 6, version",
            (sig_id,),
        )
    ]
    hosts = [
        (str(v), str(h), int(e))
        for v, h, e in store.query(
            "SELECT version, host, events FROM signature_hosts WHERE signature = ? ORDER BY events DESC, host LIMIT 50",
            (sig_id,),
        )
    ]
    samples = [
        {"version": v, "ts": float(ts), **json.loads(ev)}
        for v, ts, ev in store.query(
            "SELECT version, ts, event FROM samples WHERE signature = ? ORDER BY ts, seq LIMIT 20", (sig_id,)
        )
    ]
    return SignatureDetail(summary, explanation, wikis, hours, hosts, samples)


def store_stats(store: Store) -> dict[str, int]:
    """Row counts per table: how the store grows (with cells, never with events)."""
    out: dict[str, int] = {}
    for table in (
        "signatures",
        "signature_versions",
        "counts",
        "signature_hosts",
        "samples",
        "sources",
        "templates",
    ):
        out[table] = int(store.query(f"SELECT COUNT(*) FROM {table}")[0][0])
    out["events"] = int(store.query("SELECT COALESCE(SUM(events), 0) FROM signatures")[0][0])
    return out


def newest_event(store: Store) -> float | None:
    """Time of the newest stored event (replays and analyses count back from it)."""
    value = store.query("SELECT MAX(last_seen) FROM signatures")[0][0]
    return float(value) if value is not None else None
