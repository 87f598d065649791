"""In-memory pre-aggregation of events between two commits.

Real error streams are skewed (a few signatures dominate), so summing events
by key before writing turns a million events into a few thousand row
upserts. A batch is pure data; the store writes it in one transaction
together with the read position, which is what makes ingest exactly-once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from traintriage.core.vocabulary import BUCKET_SECONDS, SLOT_SECONDS

if TYPE_CHECKING:
    from traintriage.grouping.signature import SignatureInfo


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
    """Counts accumulated since the last commit, keyed like the store's tables.

    Per-signature totals are not kept here: the store derives them from `versions`
    when it writes, which keeps the per-event work to four dictionary updates.
    """

    signatures: dict[str, SignatureInfo] = field(default_factory=dict)
    versions: dict[tuple[str, str], int] = field(
        default_factory=dict
    )  # (sig, version) -> samples taken this run
    # (sig, version, wiki, slot) -> [events, requests, first seen, last seen]
    cells: dict[tuple[str, str, str, int], list[Any]] = field(default_factory=dict)
    hosts: dict[tuple[str, str, str], int] = field(default_factory=dict)  # -> events
    buckets: dict[tuple[str, int], int] = field(
        default_factory=dict
    )  # (version, 10 s bucket) -> error events
    # (sig, version) -> [(time, event)]: `render` turns an event into its stored (redacted)
    # form, called by the store only for the samples it keeps (most runs keep none: a
    # signature's versions already hold their five), so redaction is never wasted.
    samples: dict[tuple[str, str], list[tuple[float, Any]]] = field(default_factory=dict)
    render: Callable[[Any], dict[str, Any]] = field(default=dict)
    templates: dict[tuple[str, int], str] = field(default_factory=dict)  # new (scope, cluster) -> sig
    miner_states: dict[str, str] = field(default_factory=dict)  # scope -> JSON state
    titles: dict[str, str] = field(default_factory=dict)  # sig -> refreshed title (template signatures)
    events: int = 0
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    # Compare-and-set bases (concurrent ingests of one store): the committed position each
    # checkpoint continues from, (identity, offset, line) or None when the source has no row
    # yet; and the generation each changed miner scope was loaded at, None when not stored.
    # A checkpoint or miner state without a base is written unconditionally.
    checkpoint_base: dict[str, tuple[str, int, int] | None] = field(default_factory=dict)
    miner_base: dict[str, int | None] = field(default_factory=dict)

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
        """Count one event. `is_error`: counted by the scap-style absolute check (error/exception, not DEBUG).

        The ingest hot loop inlines this same logic; keep the two in step.
        """
        sig = info.id
        if sig not in self.signatures:
            self.signatures[sig] = info
        self.versions.setdefault((sig, version), 0)
        if is_error:
            bkey = (version, int(ts // BUCKET_SECONDS))
            self.buckets[bkey] = self.buckets.get(bkey, 0) + 1
        ckey = (sig, version, wiki, int(ts // SLOT_SECONDS))
        c = self.cells.get(ckey)
        if c is None:
            self.cells[ckey] = [1, 1 if new_request else 0, ts, ts]
        else:
            c[0] += 1
            if new_request:
                c[1] += 1
            c[2] = min(c[2], ts)
            c[3] = max(c[3], ts)
        hkey = (sig, version, host)
        self.hosts[hkey] = self.hosts.get(hkey, 0) + 1
        self.events += 1

    def version_totals(self) -> dict[tuple[str, str], tuple[float, float, int, int]]:
        """(sig, version) -> (first, last, events, requests), summed from the cells."""
        sums: dict[tuple[str, str], list[Any]] = {}
        for (sig, version, _wiki, _slot), (events, requests, first, last) in self.cells.items():
            acc = sums.get((sig, version))
            if acc is None:
                sums[(sig, version)] = [first, last, events, requests]
            else:
                if first < acc[0]:
                    acc[0] = first
                if last > acc[1]:
                    acc[1] = last
                acc[2] += events
                acc[3] += requests
        return {k: (v[0], v[1], v[2], v[3]) for k, v in sums.items()}

    def wiki_versions(self) -> dict[tuple[str, str], list[int]]:
        """(wiki, version) -> [first slot, last slot, events]: which version each wiki ran when."""
        out: dict[tuple[str, str], list[int]] = {}
        for (_sig, version, wiki, slot), cell in self.cells.items():
            if not wiki or not version:
                continue
            acc = out.get((wiki, version))
            if acc is None:
                out[(wiki, version)] = [slot, slot, cell[0]]
            else:
                acc[0] = min(acc[0], slot)
                acc[1] = max(acc[1], slot)
                acc[2] += cell[0]
        return out

    def signature_totals(
        self, versions: dict[tuple[str, str], tuple[float, float, int, int]] | None = None
    ) -> dict[str, tuple[float, float, int]]:
        """sig -> (first, last, events), from `version_totals()` (pass it if already computed)."""
        out: dict[str, tuple[float, float, int]] = {}
        for (sig, _version), (first, last, events, _req) in (versions or self.version_totals()).items():
            prev = out.get(sig)
            out[sig] = (
                (first, last, events)
                if prev is None
                else (min(prev[0], first), max(prev[1], last), prev[2] + events)
            )
        return out

    def is_empty(self) -> bool:
        return self.events == 0 and not self.checkpoints and not self.templates
