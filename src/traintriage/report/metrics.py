"""Train metrics and trends, pure: per-train rows, the error backlog, cycle figures, sparklines.

Per train (train-stats' definitions for the deploy numbers): first deploy, conductor,
whether it reached group2, rollbacks and the time rolled back, delay in days per group,
backports and bug-fix backports (a `Bug:` footer), blockers (subtasks of the blocker task),
errors flagged NEW/REGRESSED/LOGSPAM before a promotion ("new errors") per team, how many
were reviewed before their deadline, and the time from first seen to first review
(median and 90th percentile). Over time: the open backlog by team and age, the oldest
(over a year) called out, and cycle figures over a window of weeks.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from traintriage.core.timeparse import iso
from traintriage.core.vocabulary import UNOWNED
from traintriage.train.backports import Backport
from traintriage.train.timeline import TrainStats

__all__ = [
    "AGE_BUCKETS",
    "Backlog",
    "BacklogItem",
    "CycleFigures",
    "FlagFacts",
    "TrainRow",
    "backlog",
    "cycle",
    "percentile",
    "rows_csv",
    "sparkline",
    "train_row",
]

WEEK = 7 * 86400
DAY = 86400
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("under 1 week", 7 * DAY),
    ("1-4 weeks", 28 * DAY),
    ("1-3 months", 91 * DAY),
    ("3-12 months", 365 * DAY),
    ("over a year", math.inf),
)
_BARS = "▁▂▃▄▅▆▇█"


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-quantile (0..1) with linear interpolation between ranks; None for no values."""
    data = sorted(values)
    if not data:
        return None
    pos = (len(data) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


@dataclass(frozen=True)
class FlagFacts:
    """One signature a train flagged before a promotion, its team, and its first review for it."""

    signature: str
    team: str
    first_seen: float | None
    deadline: float
    first_review: float | None

    @property
    def in_time(self) -> bool:
        return self.first_review is not None and self.first_review <= self.deadline

    @property
    def wait(self) -> float | None:
        if self.first_review is None or self.first_seen is None:
            return None
        return max(0.0, self.first_review - self.first_seen)


@dataclass(frozen=True)
class TrainRow:
    version: str
    first_deploy: float | None
    conductor: str | None
    shipped: bool
    rollbacks: int
    rollback_seconds: int
    delays: Mapping[str, int | None]
    total_time: int | None
    backports: int
    bugfix_backports: int
    blockers: int | None  # subtasks of the blocker task (None: never fetched)
    new_errors: int
    new_by_team: Mapping[str, int] = field(default_factory=dict)
    reviewed_in_time: int = 0
    ttfr_median: float | None = None
    ttfr_p90: float | None = None

    @property
    def coverage(self) -> float | None:
        return self.reviewed_in_time / self.new_errors if self.new_errors else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "first_deploy": iso(self.first_deploy) if self.first_deploy is not None else None,
            "conductor": self.conductor,
            "shipped": self.shipped,
            "rollbacks": self.rollbacks,
            "rollback_seconds": self.rollback_seconds,
            **{f"{g}_delay_days": d for g, d in self.delays.items()},
            "total_time": self.total_time,
            "backports": self.backports,
            "bugfix_backports": self.bugfix_backports,
            "blockers": self.blockers,
            "new_errors": self.new_errors,
            "new_by_team": dict(self.new_by_team),
            "reviewed_in_time": self.reviewed_in_time,
            "coverage": round(self.coverage, 4) if self.coverage is not None else None,
            "time_to_first_review_median_seconds": _round(self.ttfr_median),
            "time_to_first_review_p90_seconds": _round(self.ttfr_p90),
        }


def _round(x: float | None) -> float | None:
    return round(x, 1) if x is not None else None


def train_row(
    stats: TrainStats, backports: Sequence[Backport], blockers: int | None, flags: Sequence[FlagFacts]
) -> TrainRow:
    """One train's row from its deploy statistics, its backports, blockers and flagged errors."""
    mine = [b for b in backports if b.version == stats.version]
    waits = [w for w in (f.wait for f in flags) if w is not None]
    teams = Counter(f.team or UNOWNED for f in flags)
    return TrainRow(
        version=stats.version,
        first_deploy=stats.first_deploy.timestamp() if stats.first_deploy else None,
        conductor=stats.conductor,
        shipped=stats.landings.get("group2") is not None,
        rollbacks=stats.rollbacks,
        rollback_seconds=stats.rollbacks_time,
        delays=dict(stats.delay_days),
        total_time=stats.total_time,
        backports=len({b.change for b in mine}),
        bugfix_backports=len({b.change for b in mine if b.bugfix}),
        blockers=blockers,
        new_errors=len(flags),
        new_by_team=dict(sorted(teams.items())),
        reviewed_in_time=sum(1 for f in flags if f.in_time),
        ttfr_median=statistics.median(waits) if waits else None,
        ttfr_p90=percentile(waits, 0.9),
    )


_CSV_COLUMNS = (
    "version",
    "first_deploy",
    "conductor",
    "shipped",
    "rollbacks",
    "rollback_seconds",
    "group0_delay_days",
    "group1_delay_days",
    "group2_delay_days",
    "total_time",
    "backports",
    "bugfix_backports",
    "blockers",
    "new_errors",
    "reviewed_in_time",
    "coverage",
    "time_to_first_review_median_seconds",
    "time_to_first_review_p90_seconds",
)


def rows_csv(rows: Sequence[TrainRow]) -> str:
    """The per-train table as CSV (one row per train, oldest first); cells never start a formula."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for row in rows:
        d = row.to_dict()
        writer.writerow([_cell(d.get(c)) for c in _CSV_COLUMNS])
    return buf.getvalue()


def _cell(value: Any) -> str:
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- #
# Backlog
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class BacklogItem:
    """An error still occurring that no review resolved (fixed-in, expected, duplicate-of)."""

    signature: str
    title: str
    team: str
    first_seen: float
    last_seen: float
    state: str  # untriaged, needs-info, blocker, known, not-blocker

    def age(self, now: float) -> float:
        return max(0.0, now - self.first_seen)

    def to_dict(self, now: float) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "title": self.title,
            "team": self.team,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "age_days": round(self.age(now) / DAY, 1),
            "state": self.state,
        }


@dataclass(frozen=True)
class Backlog:
    now: float
    by_team: Mapping[str, Mapping[str, int]]
    over_a_year: tuple[BacklogItem, ...]
    total: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": iso(self.now),
            "total": self.total,
            "buckets": [b for b, _ in AGE_BUCKETS],
            "by_team": {t: dict(c) for t, c in self.by_team.items()},
            "over_a_year": [i.to_dict(self.now) for i in self.over_a_year],
        }


def backlog(items: Iterable[BacklogItem], now: float) -> Backlog:
    """Counts per team and age bucket; the items over a year old listed, oldest first."""
    by_team: dict[str, dict[str, int]] = defaultdict(lambda: {b: 0 for b, _ in AGE_BUCKETS})
    old, total = [], 0
    for item in items:
        age = item.age(now)
        bucket = next(name for name, limit in AGE_BUCKETS if age < limit)
        by_team[item.team or UNOWNED][bucket] += 1
        total += 1
        if bucket == "over a year":
            old.append(item)
    old.sort(key=lambda i: (i.first_seen, i.signature))
    return Backlog(now, dict(sorted(by_team.items())), tuple(old), total)


# --------------------------------------------------------------------------- #
# Cycle figures (versions, backports, rollbacks over a window of weeks)
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class CycleFigures:
    start: float
    end: float
    versions: tuple[str, ...]
    shipped: int
    rollbacks: int
    rollback_seconds: int
    backports: int
    bugfix_backports: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": iso(self.start),
            "end": iso(self.end),
            "weeks": round((self.end - self.start) / WEEK, 2),
            "versions": len(self.versions),
            "shipped": self.shipped,
            "rollbacks": self.rollbacks,
            "rollback_seconds": self.rollback_seconds,
            "backports": self.backports,
            "bugfix_backports": self.bugfix_backports,
            "trains": list(self.versions),
        }


def cycle(rows: Sequence[TrainRow], start: float, weeks: int = 30) -> CycleFigures:
    """Trains whose first deploy falls in [start, start + weeks), and their totals."""
    end = start + weeks * WEEK
    inside = [r for r in rows if r.first_deploy is not None and start <= r.first_deploy < end]
    return CycleFigures(
        start=start,
        end=end,
        versions=tuple(r.version for r in inside),
        shipped=sum(1 for r in inside if r.shipped),
        rollbacks=sum(r.rollbacks for r in inside),
        rollback_seconds=sum(r.rollback_seconds for r in inside),
        backports=sum(r.backports for r in inside),
        bugfix_backports=sum(r.bugfix_backports for r in inside),
    )


def sparkline(values: Sequence[float | None]) -> str:
    """▁▂▃▄▅▆▇█ scaled from 0 to the largest value; a missing value is a space."""
    known = [v for v in values if v is not None]
    top = max(known, default=0) or 1
    return "".join(" " if v is None else _BARS[min(7, int(round(7 * max(v, 0) / top)))] for v in values)
