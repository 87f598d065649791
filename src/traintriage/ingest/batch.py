"""In-memory pre-aggregation of events between two commits.

Real error streams are skewed (a few signatures dominate), so summing events
by key before writing turns a million events into a few thousand row
upserts. A batch is pure data; the store writes it in one transaction
together with the read position, which is what makes ingest exactly-once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from traintriage.store.schema import BUCKET_SECONDS

if TYPE_CHECKING:
    from traintriage.grouping.signature import SignatureInfo

UNKNOWN = ""  # stored for a missing version / wiki / host (primary-key columns can't be NULL)


@dataclass
class Checkpoint:
    """Where reading of one source stands, committed with the counts it produced."""

    source: str
    identity: str
    offset: int
    line: int
    events: int
    rejected: int


@dataclass
class Batch:
    """Counts accumulated since the last commit, keyed like the store's tables."""

    signatures: dict[str, SignatureInfo] = field(default_factory=dict)
    sig_totals: dict[str, list[float]] = field(default_factory=dict)  # sig -> [first, last, events]
    versions: dict[tuple[str, str], list[float]] = field(
        default_factory=dict
    )  # -> [first, last, events, requests]
    cells: dict[tuple[str, str, str, int], list[int]] = field(default_factory=dict)  # -> [events, requests]
    hosts: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)  # -> [events, first, last]
    buckets: dict[tuple[str, int], int] = field(
        default_factory=dict
    )  # (version, 10 s bucket) -> error events
    samples: dict[tuple[str, str], list[tuple[float, dict[str, Any]]]] = field(default_factory=dict)
    templates: dict[tuple[str, int], str] = field(default_factory=dict)  # new (scope, cluster) -> sig
    miner_states: dict[str, str] = field(default_factory=dict)  # scope -> JSON state
    titles: dict[str, str] = field(default_factory=dict)  # sig -> refreshed title (template signatures)
    events: int = 0
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)

    def add(
        self,
        info: SignatureInfo,
        ts: float,
        version: str,
        wiki: str,
        host: str,
        new_request: bool,
        is_error: bool,
    ) -> None:
        """Count one event. `is_error`: counted by the scap-style absolute check (error/exception, not DEBUG)."""
        sig = info.id
        if is_error:
            bkey = (version, int(ts // BUCKET_SECONDS))
            self.buckets[bkey] = self.buckets.get(bkey, 0) + 1
        if sig not in self.signatures:
            self.signatures[sig] = info
        req = 1 if new_request else 0
        total = self.sig_totals.get(sig)
        if total is None:
            self.sig_totals[sig] = [ts, ts, 1]
        else:
            if ts < total[0]:
                total[0] = ts
            if ts > total[1]:
                total[1] = ts
            total[2] += 1
        vkey = (sig, version)
        v = self.versions.get(vkey)
        if v is None:
            self.versions[vkey] = [ts, ts, 1, req]
        else:
            if ts < v[0]:
                v[0] = ts
            if ts > v[1]:
                v[1] = ts
            v[2] += 1
            v[3] += req
        ckey = (sig, version, wiki, int(ts // 3600))
        c = self.cells.get(ckey)
        if c is None:
            self.cells[ckey] = [1, req]
        else:
            c[0] += 1
            c[1] += req
        hkey = (sig, version, host)
        h = self.hosts.get(hkey)
        if h is None:
            self.hosts[hkey] = [1, ts, ts]
        else:
            h[0] += 1
            if ts < h[1]:
                h[1] = ts
            if ts > h[2]:
                h[2] = ts
        self.events += 1

    def is_empty(self) -> bool:
        return self.events == 0 and not self.checkpoints and not self.templates
