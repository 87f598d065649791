"""SQL of `regroup`: re-key a store's signatures from one grouping algorithm to another.

The use case (services/regroup.py) decides which old id becomes which new one; this
module reads what it needs (signatures, samples) and writes the re-keying in one
transaction: signature rows, per-version totals, count cells, hosts and samples move
to the new ids (summed where two old ids become one); reviews, `duplicate-of`
targets and audit entries follow them; the template-miner state is replaced by the
new algorithm's; one audit entry per new id records which old ids it took over.
Nothing is lost: a crash leaves the store as it was (one transaction).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from traintriage.store.db import Store
from traintriage.store.migrations import SAMPLES_PER_VERSION

_WRITE_LOCK = 7326916  # the triage write lock (store/reviews.py): reviews are rewritten too


@dataclass(frozen=True)
class StoredSample:
    """One stored sample of a signature, oldest first."""

    signature: str
    version: str
    ts: float
    event: dict[str, Any]


@dataclass(frozen=True)
class NewSignature:
    """What the new algorithm says about a new id (totals are summed from the old rows)."""

    id: str
    algorithm: str
    kind: str
    channel: str
    level: str
    exc_class: str | None
    title: str
    explanation: list[dict[str, Any]]


def algorithms(store: Store) -> dict[str, int]:
    """Signatures per grouping algorithm."""
    return {
        str(a): int(n)
        for a, n in store.query("SELECT algorithm, COUNT(*) FROM signatures GROUP BY algorithm")
    }


def signatures_not_in(store: Store, algorithm: str) -> list[tuple[str, str, str]]:
    """(id, algorithm, title) of the signatures made by another algorithm."""
    rows = store.query(
        "SELECT id, algorithm, title FROM signatures WHERE algorithm <> ? ORDER BY id", (algorithm,)
    )
    return [(str(i), str(a), str(t)) for i, a, t in rows]


def samples(store: Store) -> Iterator[StoredSample]:
    """Every stored sample, oldest first (the order ingest saw them in)."""
    rows = store.query(
        "SELECT signature, version, ts, event FROM samples ORDER BY ts, signature, version, seq"
    )
    for sig, version, ts, event in rows:
        yield StoredSample(str(sig), str(version), float(ts), json.loads(event))


def apply_regroup(
    store: Store,
    mapping: dict[str, str],
    new: dict[str, NewSignature],
    templates: dict[tuple[str, int], str],
    miner_states: dict[str, str],
    *,
    actor: str,
    at: float,
    detail: dict[str, Any],
) -> None:
    """Move everything stored under each old id to its new id, in one transaction."""
    with store.transaction() as cur:
        if store.dialect == "postgresql":
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
        cur.execute("CREATE TEMPORARY TABLE regroup_map (old TEXT PRIMARY KEY, new TEXT NOT NULL)")
        try:
            cur.executemany(
                store.sql("INSERT INTO regroup_map (old, new) VALUES (?, ?)"), sorted(mapping.items())
            )
            _move_signatures(store, cur, new)
            _move_tables(cur)
            _move_samples(store, cur)
            _move_triage(cur)
            _replace_templates(store, cur, templates, miner_states)
            _audit(store, cur, mapping, actor, at, detail)
        finally:
            cur.execute("DROP TABLE regroup_map")


def _move_signatures(store: Store, cur: Any, new: dict[str, NewSignature]) -> None:
    cur.execute(
        """SELECT m.new, MIN(s.first_seen), MAX(s.last_seen), SUM(s.events)
           FROM signatures s JOIN regroup_map m ON s.id = m.old GROUP BY m.new"""
    )
    totals = {str(r[0]): (float(r[1]), float(r[2]), int(r[3])) for r in cur.fetchall()}
    rows = []
    for sig, (first, last, events) in sorted(totals.items()):
        info = new[sig]
        rows.append(
            (
                sig,
                info.algorithm,
                info.kind,
                info.channel,
                info.level,
                info.exc_class,
                info.title,
                json.dumps(info.explanation),
                first,
                last,
                events,
            )
        )
    cur.execute("DELETE FROM signatures WHERE id IN (SELECT old FROM regroup_map)")
    cur.executemany(
        store.sql(
            """INSERT INTO signatures (id, algorithm, kind, channel, level, exc_class, title, explanation,
                   first_seen, last_seen, events) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
        ),
        rows,
    )


def _move_tables(cur: Any) -> None:
    """Per-version totals, count cells and hosts: summed under the new ids (new ids never equal old ones)."""
    cur.execute(
        """INSERT INTO signature_versions (signature, version, first_seen, last_seen, events, requests,
               hosts, top_host, top_host_events)
           SELECT m.new, v.version, MIN(v.first_seen), MAX(v.last_seen), SUM(v.events), SUM(v.requests), 0, '', 0
           FROM signature_versions v JOIN regroup_map m ON v.signature = m.old GROUP BY m.new, v.version"""
    )
    cur.execute("DELETE FROM signature_versions WHERE signature IN (SELECT old FROM regroup_map)")
    cur.execute(
        """INSERT INTO counts (signature, version, wiki, slot, events, requests)
           SELECT m.new, c.version, c.wiki, c.slot, SUM(c.events), SUM(c.requests)
           FROM counts c JOIN regroup_map m ON c.signature = m.old GROUP BY m.new, c.version, c.wiki, c.slot"""
    )
    cur.execute("DELETE FROM counts WHERE signature IN (SELECT old FROM regroup_map)")
    cur.execute(
        """INSERT INTO signature_hosts (signature, version, host, events)
           SELECT m.new, h.version, h.host, SUM(h.events)
           FROM signature_hosts h JOIN regroup_map m ON h.signature = m.old GROUP BY m.new, h.version, h.host"""
    )
    cur.execute("DELETE FROM signature_hosts WHERE signature IN (SELECT old FROM regroup_map)")
    cur.execute(
        """UPDATE signature_versions SET
               hosts = (SELECT COUNT(*) FROM signature_hosts h
                        WHERE h.signature = signature_versions.signature AND h.version = signature_versions.version),
               top_host_events = COALESCE((SELECT MAX(events) FROM signature_hosts h
                        WHERE h.signature = signature_versions.signature AND h.version = signature_versions.version), 0),
               top_host = COALESCE((SELECT host FROM signature_hosts h
                        WHERE h.signature = signature_versions.signature AND h.version = signature_versions.version
                        ORDER BY events DESC, host LIMIT 1), '')
           WHERE signature IN (SELECT DISTINCT new FROM regroup_map)"""
    )


def _move_samples(store: Store, cur: Any) -> None:
    """Samples of merged ids: the oldest SAMPLES_PER_VERSION per (new id, version) are kept."""
    cur.execute(
        """SELECT m.new, s.version, s.ts, s.event FROM samples s JOIN regroup_map m ON s.signature = m.old
           ORDER BY m.new, s.version, s.ts, s.seq"""
    )
    kept: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    for sig, version, ts, event in cur.fetchall():
        bucket = kept[(str(sig), str(version))]
        if len(bucket) < SAMPLES_PER_VERSION:
            bucket.append((float(ts), str(event)))
    cur.execute("DELETE FROM samples WHERE signature IN (SELECT old FROM regroup_map)")
    rows = [
        (sig, version, seq, ts, event)
        for (sig, version), bucket in sorted(kept.items())
        for seq, (ts, event) in enumerate(bucket, start=1)
    ]
    cur.executemany(
        store.sql("INSERT INTO samples (signature, version, seq, ts, event) VALUES (?, ?, ?, ?, ?)"), rows
    )


def _move_triage(cur: Any) -> None:
    """Reviews, duplicate-of targets and audit entries follow their signature to its new id."""
    for table, column in (("reviews", "signature"), ("reviews", "target"), ("audit_log", "signature")):
        cur.execute(
            f"""UPDATE {table} SET {column} = (SELECT new FROM regroup_map WHERE old = {table}.{column})
                WHERE {column} IN (SELECT old FROM regroup_map)"""
        )


def _replace_templates(
    store: Store, cur: Any, templates: dict[tuple[str, int], str], miner_states: dict[str, str]
) -> None:
    # New miner states get a generation above every old one, so an ingest that loaded the
    # old miners before this ran fails its compare-and-set and reloads (store/ingest_claims.py).
    cur.execute("SELECT COALESCE(MAX(generation), 0) + 1 FROM miner_state")
    generation = int(cur.fetchone()[0])
    cur.execute("DELETE FROM templates")
    cur.execute("DELETE FROM miner_state")
    cur.executemany(
        store.sql("INSERT INTO templates (scope, cluster, signature) VALUES (?, ?, ?)"),
        sorted((scope, cluster, sig) for (scope, cluster), sig in templates.items()),
    )
    cur.executemany(
        store.sql("INSERT INTO miner_state (scope, state, generation) VALUES (?, ?, ?)"),
        [(scope, state, generation) for scope, state in sorted(miner_states.items())],
    )


def _audit(
    store: Store, cur: Any, mapping: dict[str, str], actor: str, at: float, detail: dict[str, Any]
) -> None:
    """One `regroup` entry per new id (which old ids it took over), then one summary entry."""
    cur.execute("SELECT COALESCE(MAX(id), 0) FROM audit_log")
    next_id = int(cur.fetchone()[0]) + 1
    merged: dict[str, list[str]] = defaultdict(list)
    for old, new in mapping.items():
        merged[new].append(old)
    rows: list[Sequence[Any]] = []
    for new, olds in sorted(merged.items()):
        entry = {**detail, "from": sorted(olds), "merged": len(olds) > 1}
        rows.append((next_id, at, actor, "regroup", new, json.dumps(entry, sort_keys=True)))
        next_id += 1
    summary = {**detail, "signatures_before": len(mapping), "signatures_after": len(merged)}
    rows.append((next_id, at, actor, "regroup", None, json.dumps(summary, sort_keys=True)))
    cur.executemany(
        store.sql(
            "INSERT INTO audit_log (id, at, actor, action, signature, detail) VALUES (?, ?, ?, ?, ?, ?)"
        ),
        rows,
    )
