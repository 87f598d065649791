"""Sampling draws: Poisson counts per (segment, bug, group), then cheap per-draw picks.

Expected count of bug b in group g over a segment = rate per request x
requests served by g x share of g's traffic on b's wikis x the bug's factor
for the version g runs. Exposure and events therefore agree by construction.
Per event only a timestamp, wiki, host, URL, variable values and reqId are
drawn, from tables built once, which keeps generation fast.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from traintriage_sim.bugs import Bug
from traintriage_sim.formats import (
    Clock,
    Template,
    build_template,
    json_escape,
    rid_host,
    rid_tails,
    slot,
)
from traintriage_sim.scenario import Scenario
from traintriage_sim.train import Segment, segments
from traintriage_sim.wikis import (
    AVG_REQUESTS_PER_HOUR,
    GROUP_WEIGHT,
    GROUPS,
    HOST_INDEX,
    HOSTS,
    HOSTS_BY_ENTRY,
    WIKIS,
    url_pool,
)

Draw = tuple[int, int, int, int, int, tuple[bytes, bytes, bytes], tuple[bytes, ...], bytes, str]
"""(epoch µs, bug index, version index, wiki index, host index, (url, method, referrer JSON), variables,
reqId, entry point)."""

FastSkeleton = tuple[bytes, bytes, int]
"""(reqId host part, %-template taking (minute prefix, second, µs) then `n` reqIds, n)."""
FastDraw = tuple[int, FastSkeleton, bytes, int]
"""(epoch µs, skeleton, reqId tail, epoch µs of the request for the reqId)."""

DEFAULT_EVENTS = 200_000
_TS, _RID = slot("ts").encode(), slot("reqid").encode()
_TABLE = 4096


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0.0:
        return 0
    if lam < 30.0:
        limit, k, p = math.exp(-lam), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))


def _table(indices: list[int], weights: list[float]) -> list[int]:
    """Lookup table of _TABLE slots: index i appears ~ weight_i share of slots (at least once)."""
    total = sum(weights)
    slots = [max(1, round(_TABLE * w / total)) for w in weights]
    out: list[int] = []
    for i, n in zip(indices, slots, strict=True):
        out += [i] * n
    while len(out) < _TABLE:
        out += out[: _TABLE - len(out)]
    return out[:_TABLE]


class _BugPlan:
    """Per-bug precomputation: per-request rate, group shares, pick tables."""

    __slots__ = ("bug", "rate", "share", "tables", "entries", "host", "pool", "burst", "mean_burst")

    def __init__(self, bug: Bug, seed: int) -> None:
        self.bug = bug
        elig = [i for i, w in enumerate(WIKIS) if bug.wikis is None or w.db in bug.wikis]
        assert elig, bug.label
        w_elig = sum(WIKIS[i].weight for i in elig)
        self.rate = bug.per_hour / (AVG_REQUESTS_PER_HOUR * w_elig)
        self.share: list[float] = []
        self.tables: list[list[int]] = []
        for g, name in enumerate(GROUPS):
            ing = [i for i in elig if WIKIS[i].group == name]
            self.share.append(sum(WIKIS[i].weight for i in ing) / GROUP_WEIGHT[g])
            self.tables.append(_table(ing, [WIKIS[i].weight for i in ing]) if ing else [])
        names = [e for e, _ in bug.entries]
        self.entries = [
            names[i] for i in _table(list(range(len(names))), [float(n) for _, n in bug.entries])[::256]
        ]
        self.host = HOST_INDEX[bug.host] if bug.host else -1
        self.pool = bug.pool(seed)
        self.burst = bug.burst
        self.mean_burst = (1 + bug.burst) / 2


class Engine:
    """Samples the events of a scenario, segment by segment, in time order."""

    def __init__(self, sc: Scenario, events: int, seed: int) -> None:
        self.sc = sc
        self.seed = seed
        self.rng = random.Random(seed)
        # Each bug stream draws from its own generator: bugs added in a later stream
        # never move the events of the older ones (detection tests keep their data).
        self.rngs = {b.stream: random.Random(f"{seed}/stream/{b.stream}") for b in sc.bugs}
        self.rngs["main"] = self.rng
        self.clock = Clock()
        self.plans = [_BugPlan(b, seed) for b in sc.bugs]
        cuts = [t for b in sc.bugs if b.window for t in b.window]
        cuts += [b.backport[1] for b in sc.bugs if b.backport]
        cuts += [h.t for h in sc.timeline.holds]
        self.segments: list[Segment] = segments(sc.timeline, sc.t_start, sc.t_end, cuts)
        self.scale, self.story = self._solve_scale(events)
        self.factor = [
            self.story if p.bug.scale == "story" else 1.0 if p.bug.scale == "fixed" else self.scale
            for p in self.plans
        ]
        self._urls: dict[tuple[str, int], list[tuple[bytes, bytes, bytes]]] = {}
        self.rid_host = [rid_host(h.ip) for h in HOSTS]
        self.rid_tails = rid_tails(random.Random(f"{seed}/reqid"))

    def expected(self) -> dict[str, float]:
        """Expected lines per scale class at factor 1."""
        out = {"scaled": 0.0, "story": 0.0, "fixed": 0.0}
        main = [p for p in self.plans if p.bug.stream == "main"]  # later streams never move the scale
        for seg in self.segments:
            for p in main:
                for g in range(4):
                    if p.share[g]:
                        m = p.bug.multiplier(seg.state[g], seg.t0)
                        if m:
                            out[p.bug.scale] += p.rate * m * p.share[g] * seg.requests[g] * p.mean_burst
        return out

    def _solve_scale(self, events: int) -> tuple[float, float]:
        """Scale so the total is ~events; story bugs never shrink below their default-size rates."""
        e = self.expected()
        s = (events - e["fixed"]) / max(e["scaled"] + e["story"], 1e-9)
        if s >= 1.0:
            return s, s
        s = (events - e["fixed"] - e["story"]) / max(e["scaled"], 1e-9)
        return max(s, 0.01), 1.0

    def _urls_for(self, entry: str, wi: int) -> list[tuple[bytes, bytes, bytes]]:
        pool = self._urls.get((entry, wi))
        if pool is None:
            pool = [
                (u.encode(), m.encode(), b"null" if r is None else b'"' + json_escape(r) + b'"')
                for u, m, r in url_pool(entry, WIKIS[wi], self.seed)
            ]
            self._urls[(entry, wi)] = pool
        return pool

    def batches(self) -> Iterator[tuple[Segment, list[Draw]]]:
        for seg in self.segments:
            out: list[Draw] = []
            for bi, p in enumerate(self.plans):
                b = p.bug
                if b.window is not None and not b.window[0] <= seg.t0 < b.window[1]:
                    continue
                rng = self.rngs[b.stream]
                base = p.rate * self.factor[bi]
                for g in range(4):
                    sh = p.share[g]
                    if not sh:
                        continue
                    vi = seg.state[g]
                    m = b.multiplier(vi, seg.t0)
                    if m:
                        n = poisson(rng, base * m * sh * seg.requests[g])
                        if n:
                            self._emit(out, n, seg, bi, p, g, vi, rng)
            out.sort()
            yield seg, out

    def fast_batches(
        self, ren: Renderer, fmt: str = "logstash", variety_bits: int = 6
    ) -> Iterator[list[FastDraw]]:
        """Like batches(), but each (bug, group, version) draws from 2**variety_bits pre-rendered events.

        Only the timestamp and reqId change per event, so a line is one small
        ``%`` operation: what throughput benchmarks need.
        """
        rng = self.rng
        rnd, bits = rng.random, rng.getrandbits
        tails = self.rid_tails
        skels: dict[tuple[int, int, int], list[FastSkeleton | None]] = {}
        for seg in self.segments:
            out: list[FastDraw] = []
            t0, dur = seg.t0, seg.t1 - seg.t0
            for bi, p in enumerate(self.plans):
                b = p.bug
                if b.window is not None and not b.window[0] <= t0 < b.window[1]:
                    continue
                base = p.rate * self.factor[bi]
                for g in range(4):
                    sh = p.share[g]
                    if not sh:
                        continue
                    vi = seg.state[g]
                    m = b.multiplier(vi, t0)
                    n = poisson(rng, base * m * sh * seg.requests[g]) if m else 0
                    if not n:
                        continue
                    pool = skels.get((bi, g, vi))
                    if pool is None:
                        pool = skels[(bi, g, vi)] = [None] * (1 << variety_bits)
                    for _ in range(n):
                        j = bits(variety_bits)
                        sk = pool[j]
                        if sk is None:
                            sk = pool[j] = self._skeleton(ren, fmt, seg, bi, p, g, vi)
                        ts = t0 + int(rnd() * dur)
                        ev = (ts, sk, tails[bits(16)], ts)
                        out.append(ev)
                        if p.burst > 1:
                            for _j in range(bits(8) % p.burst):
                                out.append((min(ts + 200 + int(rnd() * 3000), seg.t1 - 1), sk, ev[2], ts))
            out.sort()
            yield out

    def _skeleton(
        self, ren: Renderer, fmt: str, seg: Segment, bi: int, p: _BugPlan, g: int, vi: int
    ) -> FastSkeleton:
        one: list[Draw] = []
        self._emit(one, 1, seg, bi, p, g, vi)
        ts, _, _, wi, hi, u, pv, _, entry = one[0]
        tmpl, get = ren.template(fmt, bi, vi, entry)
        h, w = ren.hosts[hi], ren.wikis[wi]
        line = tmpl % get((_TS, _RID, h[0], h[1], h[2], w[0], w[1], w[2], u[0], u[1], u[2]) + pv)
        assert line.startswith(b'{"@timestamp":"' + _TS) and line.count(_TS) == 1
        line = line.replace(b"%", b"%%").replace(_TS, b"%s%02d.%06d+00:00")
        n = line.count(_RID)
        assert 1 <= n <= 2, line
        return self.rid_host[hi], line.replace(_RID, b"%s"), n

    def _emit(
        self,
        out: list[Draw],
        n: int,
        seg: Segment,
        bi: int,
        p: _BugPlan,
        g: int,
        vi: int,
        rng: random.Random | None = None,
    ) -> None:
        rng = rng or self.rng
        rnd, bits = rng.random, rng.getrandbits
        table, entries, pool, host = p.tables[g], p.entries, p.pool, p.host
        npool = len(pool)
        t0, dur = seg.t0, seg.t1 - seg.t0
        rid_time, rid_hosts, tails, urls = self.clock.rid_time, self.rid_host, self.rid_tails, self._urls
        for _ in range(n):
            x = bits(64)
            wi = table[x & 4095]
            entry = entries[(x >> 12) & 15]
            if host < 0:
                hosts = HOSTS_BY_ENTRY[entry]
                hi = hosts[((x >> 16) & 0xFFFF) % len(hosts)]
            else:
                hi = host
            upool = urls.get((entry, wi)) or self._urls_for(entry, wi)
            ts = t0 + int(rnd() * dur)
            ev = (
                ts,
                bi,
                vi,
                wi,
                hi,
                upool[(x >> 32) & 15],
                pool[(x >> 36) % npool],
                rid_time(ts) + rid_hosts[hi] + tails[bits(16)],
                entry,
            )
            out.append(ev)
            if p.burst > 1:
                for _j in range((x >> 60) % p.burst):
                    ts = min(ts + 200 + int(rnd() * 3000), seg.t1 - 1)
                    out.append((ts, *ev[1:]))


class Renderer:
    """Turns events into lines of one format through cached templates."""

    def __init__(self, sc: Scenario, clock: Clock) -> None:
        self.sc = sc
        self.hosts = [(h.name.encode(), h.servergroup.encode(), h.php.encode()) for h in HOSTS]
        self.wikis = [(w.db.encode(), w.server.encode(), w.shard.encode()) for w in WIKIS]
        self.cache: dict[tuple[str, int, int, str], Template] = {}
        self.ts_format = {"logstash": clock.iso, "cee": clock.iso, "ecs": clock.ecs, "udp2log": clock.text}

    def template(self, fmt: str, bi: int, vi: int, entry: str) -> Template:
        key = (fmt, bi, vi, entry)
        t = self.cache.get(key)
        if t is None:
            t = self.cache[key] = build_template(fmt, self.sc.bugs[bi], self.sc.versions[vi], vi, entry)
        return t

    def line(self, fmt: str, ev: Draw) -> bytes:
        ts, bi, vi, wi, hi, u, pv, rid, entry = ev
        tmpl, get = self.template(fmt, bi, vi, entry)
        h, w = self.hosts[hi], self.wikis[wi]
        return tmpl % get(
            (self.ts_format[fmt](ts), rid, h[0], h[1], h[2], w[0], w[1], w[2], u[0], u[1], u[2]) + pv
        )
