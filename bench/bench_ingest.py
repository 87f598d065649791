"""Ingest throughput benchmark (not a test): read + parse + group + store to SQLite.

Prints, from one run on the same simulated events:
* end-to-end ingest events/s on one core (`traintriage ingest` into a fresh SQLite file);
* the baselines measured in the same process: stdlib `json.loads` per line (parse only),
  and Drain3 (PyPI drain3, default settings) grouping only the messages;
* ratios of ours to each baseline;
* store size (rows per table) to show growth with cells, not events;
* peak RSS of a separate `traintriage ingest -` process fed N events through a pipe
  (flat memory: nothing grows with the number of events).

Usage: python bench/bench_ingest.py [--events 1000000] [--drain-events 200000] [--rss-events 10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from traintriage.ingest.pipeline import IngestOptions, ingest
from traintriage.store.db import Store
from traintriage.store.reads import store_stats
from traintriage_sim import iter_event_lines


def write_events(path: Path, events: int, seed: int) -> int:
    n = 0
    with path.open("wb", buffering=1 << 20) as fh:
        for line in iter_event_lines(events=events, weeks=4, seed=seed):
            fh.write(line)
            n += 1
    return n


def bench_ours(path: Path, n: int) -> tuple[float, dict[str, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(str(Path(tmp) / "bench.db"))
        start = time.perf_counter()
        report = ingest(store, [str(path)], IngestOptions())
        elapsed = time.perf_counter() - start
        assert report.events + report.rejected == n, (report.events, report.rejected, n)
        stats = store_stats(store)
        store.close()
    return elapsed, stats


def bench_json(path: Path, limit: int) -> float:
    start = time.perf_counter()
    with path.open("rb") as fh:
        for i, line in enumerate(fh):
            if i >= limit:
                break
            json.loads(line)
    return time.perf_counter() - start


def messages(path: Path, limit: int) -> list[str]:
    out = []
    with path.open("rb") as fh:
        for i, line in enumerate(fh):
            if i >= limit:
                break
            doc = json.loads(line)
            out.append(doc.get("message", ""))
    return out


def bench_drain3(msgs: list[str]) -> float | None:
    try:
        from drain3 import TemplateMiner
    except ImportError:
        return None
    import logging

    logging.getLogger("drain3").setLevel(logging.ERROR)
    miner = TemplateMiner()
    start = time.perf_counter()
    for m in msgs:
        miner.add_log_message(m)
    return time.perf_counter() - start


def peak_rss_mb(events: int, seed: int) -> tuple[float, float]:
    """Peak RSS of `traintriage ingest -` reading `events` lines from a pipe; returns (MB, seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "rss.db")
        cmd = [sys.executable, "-m", "traintriage", "ingest", "--db", db, "-q", "-"]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        assert proc.stdin is not None
        buf: list[bytes] = []
        for line in iter_event_lines(events=events, weeks=4, seed=seed):
            buf.append(line)
            if len(buf) >= 10_000:
                proc.stdin.write(b"".join(buf))
                buf = []
        proc.stdin.write(b"".join(buf))
        proc.stdin.close()
        proc.wait()
        elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_maxrss / 1024.0, elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--drain-events", type=int, default=200_000)
    ap.add_argument(
        "--rss-events", type=int, default=0, help="also measure peak RSS for this many events (e.g. 10000000)"
    )
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.log"
        t0 = time.perf_counter()
        n = write_events(path, args.events, args.seed)
        gen = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
        print(f"simulated {n:,} events ({size_mb:,.0f} MB, {size_mb * 1e6 / n:,.0f} B/event) in {gen:.1f}s")
        ours, stats = bench_ours(path, n)
        json_s = bench_json(path, n)
        msgs = messages(path, args.drain_events)
        drain_s = bench_drain3(msgs)
    ours_rate = n / ours
    print("\n| measure | events | seconds | events/s | ours ÷ this |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| traintriage ingest (read+parse+group+store, SQLite, 1 core) | {n:,} | {ours:.2f} | {ours_rate:,.0f} | 1.00 |"
    )
    print(
        f"| baseline: stdlib json.loads per line (parse only) | {n:,} | {json_s:.2f} | {n / json_s:,.0f} | {ours_rate / (n / json_s):.2f} |"
    )
    if drain_s is not None:
        d_rate = len(msgs) / drain_s
        print(
            f"| baseline: Drain3 0.9.11 default, grouping only | {len(msgs):,} | {drain_s:.2f} | {d_rate:,.0f} | {ours_rate / d_rate:.2f} |"
        )
    else:
        print("| baseline: Drain3 | not installed (pip install drain3) | | | |")
    print("\nstore after ingest (rows): " + ", ".join(f"{k} {v:,}" for k, v in stats.items()))
    if args.rss_events:
        rss, secs = peak_rss_mb(args.rss_events, args.seed)
        print(
            f"\npeak RSS of `traintriage ingest -` over {args.rss_events:,} piped events: {rss:,.0f} MB "
            f"(wall {secs:.0f}s incl. generation in the parent)"
        )
    print(f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
