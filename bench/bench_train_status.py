"""`train status` latency on a big store (not a test): 50k signatures, 20M events.

The store is filled with synthetic *aggregated* counts (what 20M ingested events
leave behind: signatures, per-version totals, 10-minute cells, hosts) over 24
weekly trains, with dblists, deployment steps and hourly exposure, then
`train_status` is timed for a version in the middle of its group1 stage, on
SQLite and on PostgreSQL (a throwaway local cluster). Baseline in the same
process: a plain `SELECT COUNT(*), SUM(events) FROM counts` scan of the same store.

Synthetic history: 24 weekly versions; 10% of signatures are background noise present in
every version, the rest live 1-3 consecutive versions (so each version brings ~2,000 new ones).

Usage: python bench/bench_train_status.py [--signatures 50000] [--events 20000000] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.pgserver

from traintriage.core.vocabulary import SLOT_SECONDS
from traintriage.grouping.signature import SignatureInfo  # noqa: E402
from traintriage.ingest.batch import Batch  # noqa: E402
from traintriage.services.status import load_context, train_status  # noqa: E402
from traintriage.store.db import Store  # noqa: E402
from traintriage.store.trains import save_deploy_steps, save_exposure, save_membership  # noqa: E402
from traintriage.train.deploylog import DeployStep  # noqa: E402
from traintriage.train.exposure import ExposureRow  # noqa: E402
from traintriage.train.groups import GroupMembership  # noqa: E402

GROUPS = {
    "testwikis": ["testwiki", "testwikidatawiki", "testcommonswiki"],
    "group0": [f"closed{i}wiki" for i in range(20)] + ["mediawikiwiki", "officewiki"],
    "group1": [f"lang{i}wiktionary" for i in range(40)] + ["commonswiki", "wikidatawiki"],
    "group2": [f"lang{i}wiki" for i in range(30)] + ["enwiki", "dewiki"],
}
START = datetime(2021, 1, 5, tzinfo=UTC)  # a Tuesday
VERSIONS = [f"1.36.0-wmf.{n}" for n in range(1, 25)]  # half a year of weekly trains
CURRENT = 20  # the version whose status is timed
CHANNELS = ["exception", "error", "error", "memcached", "DBQuery", "warning"]


def deploy_steps() -> list[DeployStep]:
    steps = []
    for i, v in enumerate(VERSIONS):
        tue = START + timedelta(weeks=i)
        plan = [
            ("testwikis", tue + timedelta(hours=18)),
            ("group0", tue + timedelta(hours=20)),
            ("group1", tue + timedelta(days=1, hours=20)),
            ("all", tue + timedelta(days=2, hours=20)),
        ]
        for group, at in plan:
            groups = (
                tuple(GROUPS)
                if group == "all"
                else (("testwikis", "group0") if group == "group0" else (group,))
            )
            steps.append(
                DeployStep(
                    at=at,
                    groups=groups,
                    version=v,
                    actor="Bench",
                    kind="unknown-direction",
                    message=f"{group} wikis to {v}",
                    source="bench",
                    line=0,
                )
            )
    return steps


PROMOTED = {
    "testwikis": timedelta(hours=18),
    "group0": timedelta(hours=20),
    "group1": timedelta(days=1, hours=20),
    "group2": timedelta(days=2, hours=20),
}


def version_live(i: int, group: str | None = None) -> tuple[float, float]:
    """When version i served traffic on `group` (any group when None): from the group's
    promotion to the next version's promotion of the same group."""
    lo = PROMOTED[group] if group else PROMOTED["testwikis"]
    hi = PROMOTED[group] if group else PROMOTED["group2"]
    return (START + timedelta(weeks=i) + lo).timestamp(), (START + timedelta(weeks=i + 1) + hi).timestamp()


def fill(store: Store, n_sigs: int, n_events: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    wikis = [(g, w) for g, ws in GROUPS.items() for w in ws]
    weights = [1 + 30 * (w in ("enwiki", "commonswiki", "wikidatawiki")) for _, w in wikis]
    budget = n_events
    rows = 0
    batch = Batch()
    per_sig = max(1, n_events // n_sigs)
    for s in range(n_sigs):
        sig = f"{s:016x}"
        channel = CHANNELS[s % len(CHANNELS)]
        info = SignatureInfo(
            sig,
            "sig:v1",
            "exception" if channel == "exception" else "message",
            channel,
            "RuntimeException" if channel == "exception" else None,
            f"synthetic error {s}",
            [],
            "ERROR" if channel != "warning" else "WARNING",
        )
        batch.signatures[sig] = info
        background = s % 10 == 0
        versions = (
            range(len(VERSIONS))
            if background
            else sorted(rng.sample(range(len(VERSIONS)), rng.randint(1, 2)))
        )
        events = min(budget, int(rng.paretovariate(1.2) * per_sig * 0.25) + 1)
        budget -= events
        share = events // max(1, len(versions))
        for vi in versions:
            v = VERSIONS[vi]
            cells = max(1, min(share, rng.randint(1, 40)))
            for _ in range(cells):
                group, wiki = rng.choices(wikis, weights)[0]
                lo, hi = version_live(vi, group)  # a wiki reports V only while its group runs V
                ts = rng.uniform(lo, hi)
                n = max(1, share // cells)
                key = (sig, v, wiki, int(ts // SLOT_SECONDS))
                c = batch.cells.setdefault(key, [0, 0, ts, ts])
                c[0] += n
                c[1] += max(1, n * 2 // 3)
                c[2], c[3] = min(c[2], ts), max(c[3], ts)
                batch.versions.setdefault((sig, v), 0)
                hkey = (sig, v, f"mw{1250 + rng.randrange(200)}")
                batch.hosts[hkey] = batch.hosts.get(hkey, 0) + n
                batch.events += n
        if len(batch.cells) > 200_000:
            rows += len(batch.cells)
            store.apply_batch(batch)
            batch = Batch()
    rows += len(batch.cells)
    store.apply_batch(batch)
    save_membership(store, GroupMembership.from_lists(GROUPS), "bench")
    save_deploy_steps(store, deploy_steps())
    exposure = []
    for vi, v in enumerate(VERSIONS):
        lo, hi = version_live(vi)
        for h in range(int(lo // 3600), int(hi // 3600)):
            for g in GROUPS:
                exposure.append(ExposureRow(h, "group", g, v, 50_000 * (1 + 20 * (g == "group2"))))
    save_exposure(store, exposure)
    events = int(store.query("SELECT COALESCE(SUM(events), 0) FROM signatures")[0][0])
    return {"signatures": n_sigs, "events": events, "cells": rows}


def time_status(store: Store, runs: int) -> tuple[float, float, str]:
    version = VERSIONS[CURRENT]
    at = (START + timedelta(weeks=CURRENT, days=1, hours=23)).timestamp()  # V in group1 for 3 hours
    ctx = load_context(store)
    times, verdict = [], ""
    for _ in range(runs):
        t = time.perf_counter()
        d = train_status(store, version, at, context=ctx)
        times.append(time.perf_counter() - t)
        verdict = f"{d.verdict} ({d.rule}), new {len(d.classification.new)}, regressed {len(d.classification.regressed)}"
    cold = []
    for _ in range(max(1, runs // 2)):  # including loading the timeline, as one CLI call does
        t = time.perf_counter()
        train_status(store, version, at)
        cold.append(time.perf_counter() - t)
    return statistics.median(times), statistics.median(cold), verdict


def scan(store: Store) -> float:
    t = time.perf_counter()
    store.query("SELECT COUNT(*), SUM(events) FROM counts")
    return time.perf_counter() - t


def run_backend(name: str, url: str, args: argparse.Namespace) -> None:
    store = Store(url)
    t = time.perf_counter()
    info = fill(store, args.signatures, args.events, args.seed)
    load = time.perf_counter() - t
    if name == "postgresql":
        store.execute("ANALYZE")
    med, cold, verdict = time_status(store, args.runs)
    base = scan(store)
    print(
        f"| {name} | {info['signatures']:,} | {info['events']:,} | {info['cells']:,} | {med * 1000:,.0f} ms | "
        f"{cold * 1000:,.0f} ms | {base * 1000:,.0f} ms | {med / base:.2f} |  ({load:.0f}s to fill; {verdict})"
    )
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--signatures", type=int, default=50_000)
    ap.add_argument("--events", type=int, default=20_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--backends", default="sqlite,postgres")
    args = ap.parse_args()
    print(
        "| backend | signatures | events | count cells | train status (warm) | incl. timeline load | "
        "baseline: full scan of counts | status ÷ scan |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    backends = args.backends.split(",")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            run_backend("sqlite", str(Path(tmp) / "bench.db"), args)
    if "postgres" in backends:
        from tests.pgserver import PgUnavailable, pg_cluster

        try:
            with pg_cluster() as dsn:
                run_backend("postgresql", dsn, args)
        except PgUnavailable as err:
            print(f"| postgresql | skipped: {err} |")


if __name__ == "__main__":
    main()
