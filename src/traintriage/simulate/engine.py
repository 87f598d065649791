"""Event sampling: Poisson counts per (segment, bug, group), then cheap per-event picks.

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

from traintriage.simulate.bugs import Bug
from traintriage.simulate.formats import Clock, Template, build_template, json_escape, mod_unique_id
from traintriage.simulate.scenario import Scenario
from traintriage.simulate.train import Segment, segments
from traintriage.simulate.wikis import (
    AVG_REQUESTS_PER_HOUR,
    GROUP_WEIGHT,
    GROUPS,
    HOST_INDEX,
    HOSTS,
    HOSTS_BY_ENTRY,
    WIKIS,
    url_pool,
)

Event = tuple[int, int, int, int, int, tuple[bytes, bytes, bytes], tuple[bytes, ...], bytes]
"""(epoch µs, bug index, version index, wiki index, host index, (url, method, referrer JSON), variables, reqId)."""

DEFAULT_EVENTS = 200_000
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
        self.entries = [names[i] for i in _table(list(range(len(names))), [float(n) for _, n in bug.entries])[::256]]
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
        self.clock = Clock()
        self.plans = [_BugPlan(b, seed) for b in sc.bugs]
        cuts = [t for b in sc.bugs if b.window for t in b.window]
        cuts += [b.backport[1] for b in sc.bugs if b.backport]
        cuts += [h.t for h in sc.timeline.holds]
        self.segments: list[Segment] = segments(sc.timeline, sc.t_start, sc.t_end, cuts)
        self.scale, self.story = self._solve_scale(events)
        self.factor = [self.story if p.bug.scale == "story" else 1.0 if p.bug.scale == "fixed" else self.scale
                       for p in self.plans]
        self._urls: dict[tuple[str, int], list[tuple[bytes, bytes, bytes]]] = {}
        self.host_ip = [h.ip for h in HOSTS]

    def expected(self) -> dict[str, float]:
        """Expected lines per scale class at factor 1."""
        out = {"scaled": 0.0, "story": 0.0, "fixed": 0.0}
        for seg in self.segments:
            for p in self.plans:
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
            pool = [(u.encode(), m.encode(), b"null" if r is None else b'"' + json_escape(r) + b'"')
                    for u, m, r in url_pool(entry, WIKIS[wi], self.seed)]
            self._urls[(entry, wi)] = pool
        return pool

    def batches(self) -> Iterator[tuple[Segment, list[Event]]]:
        rng = self.rng
        for seg in self.segments:
            out: list[Event] = []
            for bi, p in enumerate(self.plans):
                b = p.bug
                if b.window is not None and not b.window[0] <= seg.t0 < b.window[1]:
                    continue
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
                            self._emit(out, n, seg, bi, p, g, vi)
            out.sort()
            yield seg, out

    def _emit(self, out: list[Event], n: int, seg: Segment, bi: int, p: _BugPlan, g: int, vi: int) -> None:
        rng = self.rng
        rnd, bits = rng.random, rng.getrandbits
        table, entries, pool, host = p.tables[g], p.entries, p.pool, p.host
        npool = len(pool)
        t0, dur = seg.t0, seg.t1 - seg.t0
        secs4, host_ip = self.clock.secs4, self.host_ip
        for _ in range(n):
            x = bits(64)
            wi = table[x & 4095]
            entry = entries[(x >> 12) & 15]
            if host < 0:
                hosts = HOSTS_BY_ENTRY[entry]
                hi = hosts[((x >> 16) & 0xFFFF) % len(hosts)]
            else:
                hi = host
            u = self._urls_for(entry, wi)[(x >> 32) & 15]
            pv = pool[(x >> 36) % npool]
            ts = t0 + int(rnd() * dur)
            rid = mod_unique_id(secs4(ts), host_ip[hi], bits(72))
            out.append((ts, bi, vi, wi, hi, u, pv, rid))
            if p.burst > 1:
                for _j in range((x >> 60) % p.burst):
                    ts = min(ts + 200 + int(rnd() * 3000), seg.t1 - 1)
                    out.append((ts, bi, vi, wi, hi, u, pv, rid))


class Renderer:
    """Turns events into lines of one format through cached templates."""

    def __init__(self, sc: Scenario, clock: Clock) -> None:
        self.sc = sc
        self.hosts = [(h.name.encode(), h.servergroup.encode(), h.php.encode()) for h in HOSTS]
        self.wikis = [(w.db.encode(), w.server.encode(), w.shard.encode()) for w in WIKIS]
        self.cache: dict[tuple[str, int, int], Template] = {}
        self.ts_format = {"logstash": clock.iso, "cee": clock.iso, "ecs": clock.ecs, "udp2log": clock.text}

    def template(self, fmt: str, bi: int, vi: int) -> Template:
        key = (fmt, bi, vi)
        t = self.cache.get(key)
        if t is None:
            t = self.cache[key] = build_template(fmt, self.sc.bugs[bi], self.sc.versions[vi], vi)
        return t

    def line(self, fmt: str, ev: Event) -> bytes:
        ts, bi, vi, wi, hi, u, pv, rid = ev
        tmpl, get = self.template(fmt, bi, vi)
        h, w = self.hosts[hi], self.wikis[wi]
        return tmpl % get((self.ts_format[fmt](ts), h[0], h[1], h[2], w[0], w[1], w[2], u[0], u[1], u[2], rid) + pv)
