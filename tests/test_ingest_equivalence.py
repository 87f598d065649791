"""Every table after an ingest equals what a plain reference model computes from the same lines.

The ingest hot path is tuned for speed (issue 10: inlined dictionary updates, a lean path
for the common Logstash shape, two-level caches, a writer thread, a time-first count key).
This test keeps it honest: `_reference` reads the same lines one by one with the public
reader and `Grouper.signature_of` on full events, and adds them up the obvious way
(no batching tricks, no inlining); every ingest table must hold exactly that, on SQLite
and PostgreSQL, with several batches per file.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import SimTrain
from traintriage.core.vocabulary import BUCKET_SECONDS, ERROR_CHANNELS, SLOT_SECONDS, UNKNOWN
from traintriage.grouping.rules import default_rules
from traintriage.grouping.signature import Grouper
from traintriage.ingest.formats import LineError, LineReader
from traintriage.ingest.pipeline import IngestOptions, ingest, sample_of
from traintriage.store.db import Store

BATCH = 1500  # events per commit: the 8k-line train makes several batches per run
SAMPLES = 5


@dataclass
class Expected:
    """The tables as the reference model computes them (keys as in the store)."""

    signatures: dict[str, list[Any]] = field(default_factory=dict)  # id -> [first, last, events, info]
    versions: dict[tuple[str, str], list[Any]] = field(
        default_factory=dict
    )  # -> [first, last, events, requests]
    counts: dict[tuple[str, str, str, int], list[int]] = field(default_factory=dict)
    hosts: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    buckets: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    wiki_versions: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    samples: dict[tuple[str, str], list[tuple[float, str]]] = field(default_factory=lambda: defaultdict(list))
    sources: dict[str, tuple[int, int]] = field(default_factory=dict)  # file -> (events, rejected)


def _lines(path: Path) -> list[bytes]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def _reference(files: list[Path]) -> tuple[Expected, Grouper]:
    """The obvious per-event model of ingest (one run, a fresh store)."""
    reader = LineReader()
    grouper = Grouper(default_rules())
    out = Expected()
    seen_requests: set[tuple[str, str]] = set()
    taken: dict[tuple[str, str], int] = defaultdict(int)
    in_batch: set[tuple[str, str, str, int]] = set()  # cells opened in the current batch
    for path in files:
        events = rejected = 0
        events_in_batch = 0  # a batch commits after BATCH events of one file (plus what came before)
        for raw in _lines(path):
            try:
                ev = reader.read(raw)
                info = grouper.signature_of(ev)
            except LineError:
                rejected += 1
                continue
            events += 1
            sig, ts = info.id, ev.ts
            version, wiki, host = ev.version or UNKNOWN, ev.wiki or UNKNOWN, ev.host or UNKNOWN
            new_request = 1
            if ev.req_id:
                new_request = 0 if (sig, ev.req_id) in seen_requests else 1
                seen_requests.add((sig, ev.req_id))
            s = out.signatures.setdefault(sig, [ts, ts, 0, info])
            s[0], s[1], s[2] = min(s[0], ts), max(s[1], ts), s[2] + 1
            v = out.versions.setdefault((sig, version), [ts, ts, 0, 0])
            v[0], v[1], v[2], v[3] = min(v[0], ts), max(v[1], ts), v[2] + 1, v[3] + new_request
            slot = int(ts // SLOT_SECONDS)
            cell = (sig, version, wiki, slot)
            c = out.counts.setdefault(cell, [0, 0])
            c[0] += 1
            c[1] += new_request
            out.hosts[(sig, version, host)] += 1
            if info.channel in ERROR_CHANNELS and ev.level != "DEBUG":
                out.buckets[(version, int(ts // BUCKET_SECONDS))] += 1
            if wiki and version:
                w = out.wiki_versions.setdefault((wiki, version), [slot, slot, 0])
                w[0], w[1], w[2] = min(w[0], slot), max(w[1], slot), w[2] + 1
            # samples: the first events of a (signature, version) that open a cell of the batch
            if cell not in in_batch:
                in_batch.add(cell)
                if taken[(sig, version)] < SAMPLES:
                    taken[(sig, version)] += 1
                    out.samples[(sig, version)].append((ts, json.dumps(sample_of(ev), ensure_ascii=False)))
            events_in_batch += 1
            if events_in_batch == BATCH:
                events_in_batch = 0
                in_batch.clear()
        out.sources[str(path)] = (events, rejected)
    return out, grouper


def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.query(sql)]


def _check_tables(store: Store, want: Expected, grouper: Grouper) -> None:
    got_sigs = {
        r[0]: r[1:]
        for r in _rows(
            store,
            "SELECT id, algorithm, kind, channel, level, exc_class, title, explanation, first_seen, last_seen, events "
            "FROM signatures",
        )
    }
    assert set(got_sigs) == set(want.signatures)
    for sig, (first, last, events, info) in want.signatures.items():
        assert got_sigs[sig] == (
            info.algorithm,
            info.kind,
            info.channel,
            info.level,
            info.exc_class,
            grouper.title_of(info),
            json.dumps(info.explanation),
            first,
            last,
            events,
        ), sig

    got_versions = {
        (r[0], r[1]): r[2:]
        for r in _rows(
            store,
            "SELECT signature, version, first_seen, last_seen, events, requests, hosts, top_host, top_host_events "
            "FROM signature_versions",
        )
    }
    host_rows: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for (sig, version, host), n in want.hosts.items():
        host_rows[(sig, version)].append((host, n))
    expected_versions = {}
    for key, (first, last, events, requests) in want.versions.items():
        top = min(host_rows[key], key=lambda hn: (-hn[1], hn[0]))
        expected_versions[key] = (first, last, events, requests, len(host_rows[key]), top[0], top[1])
    assert got_versions == expected_versions

    got_counts = {
        (r[0], r[1], r[2], int(r[3])): [int(r[4]), int(r[5])]
        for r in _rows(store, "SELECT signature, version, wiki, slot, events, requests FROM counts")
    }
    assert got_counts == want.counts
    got_hosts = {
        (r[0], r[1], r[2]): int(r[3])
        for r in _rows(store, "SELECT signature, version, host, events FROM signature_hosts")
    }
    assert got_hosts == dict(want.hosts)
    got_buckets = {
        (r[0], int(r[1])): int(r[2])
        for r in _rows(store, "SELECT version, bucket, events FROM error_buckets")
    }
    assert got_buckets == dict(want.buckets)
    got_wv = {
        (r[0], r[1]): [int(r[2]), int(r[3]), int(r[4])]
        for r in _rows(store, "SELECT wiki, version, first_slot, last_slot, events FROM wiki_versions")
    }
    assert got_wv == want.wiki_versions

    got_samples: dict[tuple[str, str], list[tuple[int, float, str]]] = defaultdict(list)
    for sig, version, seq, ts, event in _rows(
        store, "SELECT signature, version, seq, ts, event FROM samples ORDER BY signature, version, seq"
    ):
        got_samples[(sig, version)].append((int(seq), float(ts), str(event)))
    expected_samples = {
        key: [(i + 1, ts, event) for i, (ts, event) in enumerate(rows)] for key, rows in want.samples.items()
    }
    assert dict(got_samples) == expected_samples

    got_templates = {
        (r[0], int(r[1])): r[2] for r in _rows(store, "SELECT scope, cluster, signature FROM templates")
    }
    assert got_templates == grouper.template_ids
    got_miners = {r[0]: json.loads(r[1]) for r in _rows(store, "SELECT scope, state FROM miner_state")}
    assert got_miners == {scope: miner.to_state() for scope, miner in grouper.miners.items()}

    got_sources = {
        r[0]: (int(r[1]), int(r[2])) for r in _rows(store, "SELECT source, events, rejected FROM sources")
    }
    assert got_sources == want.sources


def test_every_table_equals_the_reference_model(db_url: str, sim_train: SimTrain) -> None:
    files = sorted((sim_train.sim / "logs").iterdir())
    want, grouper = _reference(files)
    assert len(want.signatures) > 20 and len(want.counts) > 1000  # a real mix, not a trivial input
    with Store(db_url) as store:
        report = ingest(store, [str(f) for f in files], IngestOptions(batch_events=BATCH))
        assert report.events == sum(e for e, _ in want.sources.values())
        _check_tables(store, want, grouper)
