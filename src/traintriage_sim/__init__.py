"""A realistic, deterministic MediaWiki train simulator with ground truth.

``simulate(out_dir)`` writes a few weeks of production error logs, the
wikiversions deploy log, dblists, per-hour exposure and the truth (one label
per log line, every bug, and the go/no-go decision policy expects before each
promotion). ``iter_event_lines`` streams Logstash JSON lines only, for
benchmarks. Same seed, same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from traintriage_sim.engine import DEFAULT_EVENTS, Engine, Renderer
from traintriage_sim.formats import MALFORMED_KINDS, RID_LOW, malformed
from traintriage_sim.scenario import Scenario, build
from traintriage_sim.train import HOUR_US, deploy_log_lines, iso
from traintriage_sim.truth import POLICY, README, Tracker, bugs_json, train_json
from traintriage_sim.wikis import GROUPS, write_dblists
from traintriage_sim.writer import DayLogs

__all__ = ["SimulationSummary", "iter_event_lines", "simulate"]

DEFAULT_START = dt.date(2021, 1, 19)
MALFORMED_RATE = 0.002
MAX_OVER_LONG = 2
GZ_DAYS = 3
# cumulative share of formats among well-formed lines: Logstash, ECS, syslog @cee, udp2log
_FMT_CUTS = (0.86, 0.91, 0.96)


@dataclass
class SimulationSummary:
    out_dir: Path
    lines: int
    event_lines: int
    malformed_lines: int
    bytes_written: int
    versions: list[str]
    bugs: int
    bugs_by_kind: dict[str, int]
    formats: dict[str, int]
    rollbacks: int
    decisions: dict[str, int]
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.bugs_by_kind.items()))
        fmts = ", ".join(f"{k} {n}" for k, n in sorted(self.formats.items()))
        dec = ", ".join(f"{k} {n}" for k, n in sorted(self.decisions.items()))
        return (
            f"simulated train in {self.out_dir}\n"
            f"  versions   {self.versions[0]} (base) .. {self.versions[-1]}\n"
            f"  log lines  {self.lines:,} ({self.event_lines:,} events, {self.malformed_lines:,} malformed), "
            f"{self.bytes_written / 1e6:,.1f} MB in {len(self.files)} files\n"
            f"  formats    {fmts}\n"
            f"  bugs       {self.bugs} ({kinds})\n"
            f"  train      {self.rollbacks} rollbacks; checkpoints: {dec}\n"
            f"  time       {self.seconds:.1f} s ({self.lines_per_second:,.0f} lines/s)"
        )


def _check(weeks: int, events: int) -> None:
    if weeks < 2:
        raise ValueError("weeks must be >= 2: the simulator models a multi-week train")
    if events < 1:
        raise ValueError("events must be >= 1")


def iter_event_lines(
    *, events: int, weeks: int = 4, seed: int = 1, start: dt.date = DEFAULT_START
) -> Iterator[bytes]:
    """Logstash JSON lines (each ending in a newline) of the same simulated train, nothing written."""
    _check(weeks, events)
    sc = build(start, weeks, seed)
    eng = Engine(sc, events, seed)
    ren = Renderer(sc, eng.clock)
    clock = eng.clock
    hi_cache: dict[int, bytes] = {}
    last_minute, prefix = -1, b""
    for batch in eng.fast_batches(ren):
        for ts, (host_part, tmpl, n), tail, t_req in batch:
            minute, rem = divmod(ts, 60_000_000)
            if minute != last_minute:
                last_minute, prefix = minute, clock.minute_prefix(minute)
                if len(hi_cache) > 64:
                    hi_cache.clear()
            sec = t_req // 1_000_000
            hi = hi_cache.get(sec >> 8) or hi_cache.setdefault(sec >> 8, clock.rid_time_hi(sec))
            rid = hi + RID_LOW[sec & 255] + host_part + tail
            s, us = divmod(rem, 1_000_000)
            yield tmpl % ((prefix, s, us, rid, rid) if n == 2 else (prefix, s, us, rid))


def simulate(
    out_dir: Path,
    *,
    events: int = DEFAULT_EVENTS,
    weeks: int = 4,
    seed: int = 1,
    start: dt.date = DEFAULT_START,
) -> SimulationSummary:
    """Write a simulated multi-week train with its ground truth under out_dir (see README.txt there)."""
    _check(weeks, events)
    began = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sc = build(start, weeks, seed)
    eng = Engine(sc, events, seed)
    ren = Renderer(sc, eng.clock)
    tracker = Tracker(sc)
    logs = DayLogs(out_dir, sc.t_start, sc.t_end, GZ_DAYS)
    frng = random.Random(f"{seed}/formats")
    mrng = random.Random(f"{seed}/malformed")
    labels = [b'"bug":"' + b.label.encode() + b'"}\n' for b in sc.bugs]
    # Every transport carries every kind of bug: ECS lines keep the PSR-3 template in
    # labels.normalized_message, udp2log lines only the rendered text and its context.
    streams = {b.stream for b in sc.bugs} - {"main"}
    frngs = [frng] * len(sc.bugs)
    mrngs = [mrng] * len(sc.bugs)
    for name in sorted(streams):
        f2, m2 = random.Random(f"{seed}/formats/{name}"), random.Random(f"{seed}/malformed/{name}")
        for i, b in enumerate(sc.bugs):
            if b.stream == name:
                frngs[i], mrngs[i] = f2, m2
    formats: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    exposure: dict[tuple[int, int, int], float] = defaultdict(float)
    c1, c2, c3 = _FMT_CUTS
    for seg, batch in eng.batches():
        tracker.segment(seg, batch)
        hour = seg.t0 // HOUR_US
        for g, vi in enumerate(seg.state):
            exposure[(hour, g, vi)] += seg.requests[g]
        for ev in batch:
            bi = ev[1]
            rnd, mrng = frngs[bi].random, mrngs[bi]
            r = rnd()
            fmt = "logstash" if r < c1 else "ecs" if r < c2 else "cee" if r < c3 else "udp2log"
            line = ren.line(fmt, ev)
            tail = labels[bi]
            if rnd() < MALFORMED_RATE:
                kind = mrng.choice(MALFORMED_KINDS)
                if kind == "over-long" and bad["over-long"] >= MAX_OVER_LONG:
                    kind = "truncated"
                if fmt == "udp2log" and kind in ("over-long", "missing-fields"):
                    kind = "truncated"  # text lines have no JSON fields to drop
                if kind == "binary-blob":  # junk between events: the event itself survives
                    logs.write(ev[0], malformed(kind, b"", mrng) + b"\n", b'"malformed":"binary-blob"}\n')
                else:
                    line = malformed(kind, line[:-1], mrng) + b"\n"
                    tail = b'"malformed":"' + kind.encode() + b'",' + tail
                bad[kind] += 1
            formats[fmt] += 1
            logs.write(ev[0], line, tail)
    tracker.finish()
    logs.close()
    _write_side_files(out_dir, sc, tracker, exposure)
    (out_dir / "README.txt").write_text(
        README.format(seed=seed, weeks=weeks, start=start.isoformat(), events=events, policy=POLICY),
        encoding="utf-8",
    )
    return SimulationSummary(
        out_dir=out_dir,
        lines=logs.lines,
        event_lines=sum(formats.values()),
        malformed_lines=sum(bad.values()),
        bytes_written=logs.bytes,
        versions=list(sc.versions),
        bugs=len(sc.bugs),
        bugs_by_kind=dict(Counter(b.kind for b in sc.bugs)),
        formats=dict(formats),
        rollbacks=sum(1 for s in sc.timeline.steps if s.action == "rollback"),
        decisions=dict(Counter(r["decision"] for r in tracker.results)),
        files=list(logs.names),
        seconds=time.perf_counter() - began,
    )


def _write_side_files(
    out: Path, sc: Scenario, tracker: Tracker, exposure: dict[tuple[int, int, int], float]
) -> None:
    (out / "deploys").mkdir(exist_ok=True)
    (out / "deploys" / "wikiversions.log").write_text(
        "\n".join(deploy_log_lines(sc.timeline)) + "\n", encoding="utf-8"
    )
    write_dblists(out / "dblists")
    with open(out / "exposure.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["hour", "group", "version", "requests"])
        for (hour, g, vi), req in sorted(exposure.items()):
            if req >= 0.5:
                w.writerow([iso(hour * HOUR_US), GROUPS[g], sc.versions[vi], round(req)])
    truth = out / "truth"
    (truth / "bugs.json").write_text(
        json.dumps(bugs_json(sc, tracker.total), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (truth / "train.json").write_text(
        json.dumps(train_json(sc, tracker.results), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
