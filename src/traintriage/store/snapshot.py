"""Build a detection `TrainSnapshot` for version V as of time `at` from stored counts.

Only data up to `at` is used: counts are 10-minute slots and only slots that
ended by `at` count (restricted to the groups that ran V by then), so past trains can be
replayed with `--at` to tune thresholds. Group windows and wiki membership come from
the `TrainContext` the caller loaded (services/train.py: stored deploy steps and groups).
Reads only: nothing here writes, and every limit is a parameter.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from traintriage.core.versions import version_key
from traintriage.core.vocabulary import BUCKET_SECONDS, ERROR_CHANNELS, SLOT_SECONDS, STAGES
from traintriage.detect.inputs import GroupWindow, SignatureEvidence, StratumCounts, TrainSnapshot
from traintriage.store.db import Store
from traintriage.train.groups import GroupMembership
from traintriage.train.timeline import Timeline


@dataclass
class TrainContext:
    """The stored train: timeline plus membership (and how many wikis' groups were inferred)."""

    timeline: Timeline
    membership: GroupMembership
    inferred_wikis: int


def _ts(value: datetime) -> float:
    return value.timestamp()


def group_windows(timeline: Timeline, version: str, at: float, baseline_seconds: float) -> list[GroupWindow]:
    """One window per group that ran `version` at or before `at`."""
    promotions = [p for p in timeline.promotions(version) if _ts(p.at) <= at]
    rollbacks = [r for r in timeline.rollbacks(version) if _ts(r.at) <= at]
    windows = []
    for group in STAGES:
        starts = [_ts(p.at) for p in promotions if p.group == group]
        if not starts:
            continue
        start, latest = min(starts), max(starts)
        if timeline.version_at(group, at) == version:
            end = at
        else:
            left = [_ts(r.at) for r in rollbacks if group in r.from_groups]
            end = max(left) if left else at
        duration = max(end - start, 60.0)
        baseline_start = start - min(duration, baseline_seconds)
        windows.append(
            GroupWindow(
                group=group,
                promoted_at=latest,
                candidate_start=start,
                candidate_end=end,
                baseline_start=baseline_start,
                baseline_end=start,
                baseline_version=timeline.version_at(group, start - 1.0),
            )
        )
    return windows


def _last_slot(t: float) -> int:
    """The last 10-minute slot that ended by `t`: a slot still running at `t` would hold the future."""
    return int(t // SLOT_SECONDS) - 1


def _window_clause(windows: Sequence[GroupWindow], candidate: bool) -> tuple[str, list[Any]]:
    """SQL over `counts c JOIN wiki_groups g` selecting the candidate (or baseline) windows.

    Candidate windows all end at `at` (or when a group left V) and a group has no rows of
    V outside its window, so one range scan over V covers them all: scanning per window
    would read the overlapping slots once per group. Baseline windows differ per group.
    """
    if candidate:
        if not windows:
            return "1 = 0", []
        groups = sorted({w.group for w in windows})
        lo = min(w.candidate_start for w in windows)
        hi = max(w.candidate_end for w in windows)
        marks = ",".join("?" * len(groups))
        return (
            f"c.version = ? AND c.slot BETWEEN ? AND ? AND g.grp IN ({marks})",
            ["<candidate>", int(lo // SLOT_SECONDS), _last_slot(hi), *groups],
        )
    parts, params = [], []
    for w in windows:
        if not w.baseline_version:
            continue
        parts.append("(g.grp = ? AND c.version = ? AND c.slot BETWEEN ? AND ?)")
        params += [
            w.group,
            w.baseline_version,
            int(w.baseline_start // SLOT_SECONDS),
            _last_slot(w.baseline_end),
        ]
    return (" OR ".join(parts) or "1 = 0"), params


def _sums(
    store: Store, windows: Sequence[GroupWindow], version: str, candidate: bool
) -> dict[str, dict[str, list[int]]]:
    """signature -> group -> [events, requests, distinct wikis] inside the candidate (or baseline) windows.

    A wiki belongs to one group, so distinct wikis per group add up to distinct wikis overall.
    """
    clause, params = _window_clause(windows, candidate)
    params = [version if p == "<candidate>" else p for p in params]
    out: dict[str, dict[str, list[int]]] = defaultdict(dict)
    rows = store.query(
        "SELECT c.signature, g.grp, SUM(c.events), SUM(c.requests), COUNT(DISTINCT c.wiki) FROM counts c "
        f"JOIN wiki_groups g ON g.wiki = c.wiki WHERE {clause} GROUP BY c.signature, g.grp",
        params,
    )
    for sig, grp, events, requests, wikis in rows:
        out[str(sig)][str(grp)] = [int(events), int(requests), int(wikis)]
    return out


def _exposure(
    store: Store, windows: list[GroupWindow], version: str, membership: GroupMembership, lookback_start: float
) -> list[GroupWindow] | None:
    """Fill windows with imported request counts; None when no exposure was imported."""
    if not store.query("SELECT 1 FROM exposure LIMIT 1"):
        return None
    older = [
        str(r[0])
        for r in store.query("SELECT DISTINCT version FROM exposure")
        if version_key(str(r[0])) < version_key(version)
    ]
    filled = []
    for w in windows:
        t1 = _requests(store, [version], w.group, membership, w.candidate_start, w.candidate_end)
        t0 = (
            _requests(store, [w.baseline_version], w.group, membership, w.baseline_start, w.baseline_end)
            if w.baseline_version
            else None
        )
        lookback = _requests(store, older, w.group, membership, lookback_start, w.candidate_start)
        filled.append(_with_exposure(w, t1, t0, max(lookback or 0.0, t0 or 0.0) or None))
    return filled


def _requests(
    store: Store, versions: list[str], group: str, membership: GroupMembership, lo: float, hi: float
) -> float | None:
    """Imported requests of these versions on a group (or its wikis) between two times."""
    if not versions:
        return None
    h0, h1 = int(lo // 3600), int(hi // 3600)
    vmarks = ",".join("?" * len(versions))
    rows = store.query(
        f"SELECT SUM(requests) FROM exposure WHERE version IN ({vmarks}) AND scope = 'group' AND name = ? "
        "AND hour BETWEEN ? AND ?",
        (*versions, group, h0, h1),
    )
    total = rows[0][0]
    if total is None:
        wikis = sorted(membership.wikis_in(group))
        if wikis:
            got = store.query_in(
                f"SELECT SUM(requests) FROM exposure WHERE version IN ({vmarks}) AND scope = 'wiki' "
                "AND hour BETWEEN ? AND ? AND name {ids}",
                wikis,
                (*versions, h0, h1),
            )
            vals = [r[0] for r in got if r[0] is not None]
            total = sum(vals) if vals else None
    return float(total) if total is not None else None


def _with_exposure(w: GroupWindow, t1: float | None, t0: float | None, lookback: float | None) -> GroupWindow:
    return dataclasses.replace(w, exposure_candidate=t1, exposure_baseline=t0, exposure_lookback=lookback)


def _estimated_exposure(
    windows: list[GroupWindow],
    cand: dict[str, dict[str, list[int]]],
    base: dict[str, dict[str, list[int]]],
    stable: set[str],
    lookback_start: float,
) -> list[GroupWindow]:
    """Exposure from stable signatures (present before V and in both windows): a control group.

    The lookback exposure is the baseline's scaled by duration (steady traffic assumed).
    """
    out = []
    for w in windows:
        t1 = t0 = 0
        for sig in stable:
            c = cand.get(sig, {}).get(w.group)
            b = base.get(sig, {}).get(w.group)
            if c and b:
                t1 += c[1]
                t0 += b[1]
        ok = bool(t1 and t0)
        span = max(w.baseline_end - w.baseline_start, 1.0)
        lookback = t0 * max(1.0, (w.candidate_start - lookback_start) / span) if ok else None
        out.append(_with_exposure(w, float(t1) if ok else None, float(t0) if ok else None, lookback))
    return out


def train_snapshot(
    store: Store,
    version: str,
    at: float,
    *,
    lookback_seconds: float,
    baseline_seconds: float,
    gate_window: float,
    peak_min_events: int,
    context: TrainContext,
) -> TrainSnapshot:
    """Everything detection needs about `version` as of `at` (see module docstring).

    The caller passes its limits (detect/config.py); peaks are read only for signatures with
    more than `peak_min_events` events, since no busiest hour of fewer can exceed a limit.
    """
    timeline, membership = context.timeline, context.membership
    state = timeline.train_state(version, at)
    windows = group_windows(timeline, version, at, baseline_seconds)
    cand = _sums(store, windows, version, candidate=True)
    base = _sums(store, windows, version, candidate=False)
    ids = sorted(cand)
    meta = {
        str(r[0]): r
        for r in store.query_in(
            "SELECT id, title, channel, level, exc_class, kind, first_seen FROM signatures WHERE id {ids}",
            sorted(set(ids) | set(base)),
        )
    }
    first_deploy = min((w.promoted_at for w in windows), default=at)
    imported = _exposure(store, windows, version, membership, at - lookback_seconds)
    if imported is not None:
        windows, source = imported, "requests"
    else:
        stable = {s for s in cand if s in base and float(meta[s][6]) < first_deploy}
        windows = _estimated_exposure(windows, cand, base, stable, at - lookback_seconds)
        source = "estimated" if windows else "none"
    evidence = [_evidence(sig, meta[sig], cand[sig], base.get(sig, {})) for sig in ids]
    evidence += [
        _evidence(sig, meta[sig], {}, base[sig]) for sig in sorted(base) if sig not in cand and sig in meta
    ]
    by_id = {e.signature: e for e in evidence}
    _fill_history(store, version, at, lookback_seconds, by_id, ids)
    # Spread, hosts, first seen and peaks only matter where a label is possible: signatures
    # unseen in older versions (NEW candidates) and those above their baseline rate.
    worth = [sig for sig in ids if _may_be_flagged(by_id[sig], windows, peak_min_events)]
    _fill_first_seen(store, version, by_id, worth)
    _fill_peaks(store, windows, version, by_id, [s for s in worth if by_id[s].events > peak_min_events])
    agg_c = sum(e.requests for e in evidence if e.channel in ERROR_CHANNELS)
    agg_b = sum(e.previous_requests for e in evidence if e.channel in ERROR_CHANNELS)
    return TrainSnapshot(
        version=version,
        at=at,
        previous_version=_previous(windows),
        stage=state.stage,
        next_stage=state.next_stage,
        rolled_back=state.rolled_back,
        windows=windows,
        signatures=evidence,
        exposure_source=source,
        aggregate_candidate_requests=agg_c,
        aggregate_baseline_requests=agg_b,
        max_window_events=_max_window(store, version, windows, at, gate_window),
    )


def _previous(windows: list[GroupWindow]) -> str | None:
    versions = [w.baseline_version for w in windows if w.baseline_version]
    return versions[-1] if versions else None


def _evidence(
    sig: str, meta: tuple[Any, ...], cand: dict[str, list[int]], base: dict[str, list[int]]
) -> SignatureEvidence:
    groups = sorted(set(cand) | set(base), key=lambda g: STAGES.index(g) if g in STAGES else 99)
    strata = [
        StratumCounts(
            g, cand.get(g, [0, 0])[0], cand.get(g, [0, 0])[1], base.get(g, [0, 0])[0], base.get(g, [0, 0])[1]
        )
        for g in groups
    ]
    return SignatureEvidence(
        signature=sig,
        title=str(meta[1]),
        channel=str(meta[2]),
        level=str(meta[3]),
        exc_class=meta[4],
        kind=str(meta[5]),
        strata=strata,
        events=sum(v[0] for v in cand.values()),
        requests=sum(v[1] for v in cand.values()),
        previous_events=sum(v[0] for v in base.values()),
        previous_requests=sum(v[1] for v in base.values()),
        first_seen_any_version=float(meta[6]),
        groups={g: v[0] for g, v in cand.items()},
        wikis=sum(v[2] for v in cand.values()),
    )


def _may_be_flagged(e: SignatureEvidence, windows: list[GroupWindow], peak_min_events: int) -> bool:
    """Cheap screen: could classify label this signature NEW, REGRESSED or LOGSPAM at all?"""
    if e.older_events_in_lookback == 0 and e.previous_requests == 0:
        return True  # unseen before: a NEW candidate
    ratio = {
        w.group: (w.exposure_candidate or 0.0) / w.exposure_baseline for w in windows if w.exposure_baseline
    }
    expected = sum(s.baseline_requests * ratio.get(s.group, 1.0) for s in e.strata)
    return e.requests > expected or e.events > peak_min_events


def _fill_first_seen(store: Store, version: str, by_id: dict[str, SignatureEvidence], ids: list[str]) -> None:
    """First/last seen in V, distinct hosts and the busiest host (a one-host spike is not the deploy).

    Host counts are kept per version, not per time slot, so the busiest host's share is
    taken over all of V's events and applied to the events in the windows.
    """
    for sig, first, last, total, hosts, top_host, top_events in store.query_in(
        "SELECT signature, first_seen, last_seen, events, hosts, top_host, top_host_events FROM signature_versions "
        "WHERE version = ? AND signature {ids}",
        ids,
        (version,),
    ):
        e = by_id[str(sig)]
        e.first_seen, e.last_seen = float(first), float(last)
        e.hosts = int(hosts)
        e.top_host = str(top_host) or None
        share = int(top_events) / int(total) if int(total) else 0.0
        e.top_host_events = round(share * e.events)


def _fill_peaks(
    store: Store,
    windows: list[GroupWindow],
    version: str,
    by_id: dict[str, SignatureEvidence],
    ids: list[str],
) -> None:
    """Busiest hour and 12-hour window of V (for the logspam rule), only where it can matter."""
    if not ids:
        return
    clause, params = _window_clause(windows, True)
    params = [version if p == "<candidate>" else p for p in params]
    hourly: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for sig, hour, events in store.query_in(
        "SELECT c.signature, c.slot / 6, SUM(c.events) FROM counts c JOIN wiki_groups g ON g.wiki = c.wiki "
        f"WHERE ({clause}) AND c.signature {{ids}} GROUP BY c.signature, c.slot / 6",
        ids,
        params,
    ):
        hourly[str(sig)][int(hour)] += int(events)
    for sig, series in hourly.items():
        e = by_id[sig]
        e.max_events_1h = max(series.values())
        hours = sorted(series)
        best = 0
        for h in hours:
            best = max(best, sum(series.get(h + k, 0) for k in range(12)))
        e.max_events_12h = best


def _fill_history(
    store: Store,
    version: str,
    at: float,
    lookback: float,
    by_id: dict[str, SignatureEvidence],
    ids: list[str],
) -> None:
    """Has each signature occurred in a version older than V within the lookback (for NEW)?

    Decided from per-version first/last seen wherever they settle it (the first or last
    event falls inside the lookback), which is nearly always; the 10-minute cells are
    scanned only for the pairs they cannot settle (first event before the lookback and
    last after `at`, which happens in replays). Counts shown are whole-version totals
    for settled pairs and exact window counts for scanned ones.
    """
    lo = at - lookback
    # Older versions that still served anything within the lookback (wiki_versions is small).
    live = store.query(
        "SELECT version FROM wiki_versions GROUP BY version HAVING MAX(last_slot) >= ? AND MIN(first_slot) <= ?",
        (int(lo // SLOT_SECONDS), int(at // SLOT_SECONDS)),
    )
    older = [str(r[0]) for r in live if str(r[0]) and version_key(str(r[0])) < version_key(version)]
    if not older:
        return
    marks = ",".join("?" * len(older))
    found: dict[str, dict[str, int]] = defaultdict(dict)
    unsettled: list[tuple[str, str]] = []
    for sig, v, first, last, events in store.query_in(
        f"SELECT signature, version, first_seen, last_seen, events FROM signature_versions WHERE version IN ({marks}) "
        "AND signature {ids}",
        ids,
        older,
    ):
        first, last = float(first), float(last)
        if last < lo or first > at:
            continue
        if lo <= first <= at or lo <= last <= at:
            found[str(sig)][str(v)] = int(events)
        else:
            unsettled.append((str(sig), str(v)))
    s0, s1 = int(lo // SLOT_SECONDS), _last_slot(at)
    for sig, v in unsettled:
        rows = store.query(
            "SELECT SUM(events) FROM counts WHERE signature = ? AND version = ? AND slot BETWEEN ? AND ?",
            (sig, v, s0, s1),
        )
        if rows[0][0]:
            found[sig][v] = int(rows[0][0])
    for sig, per_version in found.items():
        e = by_id[sig]
        e.older_events_in_lookback = sum(per_version.values())
        e.older_versions_in_lookback = tuple(sorted(per_version, key=version_key))


def _max_window(store: Store, version: str, windows: list[GroupWindow], at: float, window: float) -> int:
    """Busiest `window`-second stretch of V's error events since its latest promotion."""
    if not windows:
        return 0
    start = max(w.promoted_at for w in windows)
    rows = store.query(
        "SELECT bucket, events FROM error_buckets WHERE version = ? AND bucket BETWEEN ? AND ? ORDER BY bucket",
        (version, int(start // BUCKET_SECONDS), int(at // BUCKET_SECONDS)),
    )
    per = max(1, int(round(window / BUCKET_SECONDS)))
    counts = {int(b): int(n) for b, n in rows}
    best = 0
    for b in counts:
        best = max(best, sum(counts.get(b + k, 0) for k in range(per)))
    return best


def window_errors(store: Store, version: str, at: float, window: float) -> int:
    """Error events of V in the `window` seconds ending at `at` (the scap-style absolute check)."""
    rows = store.query(
        "SELECT COALESCE(SUM(events), 0) FROM error_buckets WHERE version = ? AND bucket > ? AND bucket <= ?",
        (version, int((at - window) // BUCKET_SECONDS), int(at // BUCKET_SECONDS)),
    )
    return int(rows[0][0])


def windowed_history(store: Store, window: float, since: float | None = None) -> list[int]:
    """Error counts per `window`-second window over history (all versions), for `gate analyze`."""
    per = max(1, int(round(window / BUCKET_SECONDS)))
    params: list[Any] = []
    where = ""
    if since is not None:
        where, params = "WHERE bucket >= ?", [int(since // BUCKET_SECONDS)]
    totals: dict[int, int] = defaultdict(int)
    for bucket, events in store.query(
        f"SELECT bucket, SUM(events) FROM error_buckets {where} GROUP BY bucket", params
    ):
        totals[int(bucket) // per] += int(events)
    if not totals:
        return []
    lo, hi = min(totals), max(totals)
    return [totals.get(k, 0) for k in range(lo, hi + 1)]


def now() -> float:
    return datetime.now(UTC).timestamp()
