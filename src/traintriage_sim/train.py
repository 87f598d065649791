"""The train timeline: versions, wikiversions commits, backports, holds, and time segments.

Groups are disjoint here (testwikis, group0 without the test wikis, group1,
group2), each running exactly one version at a time; a commit changes the
version of some groups. Everything downstream (traffic, which bugs can fire,
exposure.csv, conductor checkpoints) reads this one state machine, so the
logs, the deploy log and the truth cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from traintriage_sim.wikis import AVG_REQUESTS_PER_HOUR, GROUP_WEIGHT, GROUPS, diurnal

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
REFERENCE_TUESDAY = dt.date(2021, 1, 19)  # 1.36.0-wmf.27 reached testwikis that day
REFERENCE_N = 27
CONDUCTORS = (
    "Robin Castellano",
    "Ana Okonkwo",
    "Luc Martel",
    "Jonas Weber",
    "Priya Nair",
    "Mateo Ruiz",
    "Hannah Lindqvist",
)
"""Invented names; conductors rotate weekly like the real RelEng rotation."""
_PROMOTE_NAME = {0: "testwikis", 1: "group0", 2: "group1", 3: "all"}


def epoch_us(day: dt.date, hhmm: str = "00:00") -> int:
    h, m = map(int, hhmm.split(":"))
    return int(dt.datetime(day.year, day.month, day.day, h, m, tzinfo=dt.UTC).timestamp()) * 1_000_000


def iso(t_us: int) -> str:
    return dt.datetime.fromtimestamp(t_us / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def first_tuesday(start: dt.date) -> dt.date:
    return start + dt.timedelta(days=(1 - start.weekday()) % 7)


def version_names(start: dt.date, weeks: int) -> list[str]:
    """Base version (live everywhere at the start) then one version per week.

    wmf.N increments every calendar week, anchored on 1.36.0-wmf.27 = 2021-01-19.
    """
    n1 = max(2, REFERENCE_N + (first_tuesday(start) - REFERENCE_TUESDAY).days // 7)
    return [f"1.36.0-wmf.{n}" for n in range(n1 - 1, n1 + weeks)]


@dataclass(frozen=True, slots=True)
class Step:
    t: int
    actor: str
    message: str
    action: str  # forward | rollback
    group: str  # stage promoted (forward) or the widest stage touched (rollback)
    version: int  # version index the changed groups now run
    changed: tuple[tuple[int, int], ...]  # (group index, version before)
    state: tuple[int, ...]  # version index per group after the step
    cause: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class HotfixWindow:
    t: int
    version: int
    bugs: tuple[str, ...]
    window: str


@dataclass(frozen=True, slots=True)
class Hold:
    t: int
    version: int
    group: str
    note: str


@dataclass(slots=True)
class RolloutPlan:
    """Applies wikiversions commits in order; keeps the history."""

    versions: list[str]
    state: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    steps: list[Step] = field(default_factory=list)
    backports: list[HotfixWindow] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)

    def _apply(
        self,
        t: int,
        actor: str,
        message: str,
        action: str,
        group: str,
        groups: range | list[int],
        vi: int,
        cause: tuple[str, ...],
        note: str,
    ) -> Step:
        assert not self.steps or t > self.steps[-1].t, message
        changed = tuple((g, self.state[g]) for g in groups if self.state[g] != vi)
        for g in groups:
            self.state[g] = vi
        step = Step(t, actor, message, action, group, vi, changed, tuple(self.state), cause, note)
        self.steps.append(step)
        return step

    def forward(self, t: int, actor: str, upto: int, vi: int, note: str = "") -> Step:
        """`testwikis|group0|group1|all wikis to V`: every stage up to `upto` runs V."""
        msg = f"{_PROMOTE_NAME[upto]} wikis to {self.versions[vi]}"
        return self._apply(t, actor, msg, "forward", GROUPS[upto], range(upto + 1), vi, (), note)

    def revert(self, t: int, actor: str, cause: tuple[str, ...] = (), note: str = "") -> Step:
        """`Revert "<last forward message>"`: the groups it changed go back."""
        last = next(s for s in reversed(self.steps) if s.action == "forward")
        assert t > self.steps[-1].t
        changed = tuple((g, self.state[g]) for g, _ in last.changed)
        for g, before in last.changed:
            self.state[g] = before
        vi = last.changed[0][1] if last.changed else self.state[0]
        step = Step(
            t,
            actor,
            f'Revert "{last.message}"',
            "rollback",
            last.group,
            vi,
            changed,
            tuple(self.state),
            cause,
            note,
        )
        self.steps.append(step)
        return step

    def rollback_group0(
        self, t: int, actor: str, vi: int, cause: tuple[str, ...] = (), note: str = ""
    ) -> Step:
        return self._apply(
            t,
            actor,
            f"Rollback group0 to {self.versions[vi]}",
            "rollback",
            "group0",
            range(2),
            vi,
            cause,
            note,
        )

    def all_to(self, t: int, actor: str, vi: int, cause: tuple[str, ...] = (), note: str = "") -> Step:
        """`all wikis to <previous>`: the other rollback wording."""
        return self._apply(
            t, actor, f"all wikis to {self.versions[vi]}", "rollback", "group2", range(4), vi, cause, note
        )


def deploy_log_lines(tl: RolloutPlan) -> list[str]:
    """Lines as `git log --format='%cd %cn | %s'` prints them, names padded like the Appendix."""
    out = []
    for s in tl.steps:
        when = dt.datetime.fromtimestamp(s.t / 1e6, dt.UTC).strftime("%Y-%m-%d %H:%M")
        out.append(f"{when} {s.actor:<15} | {s.message}")
    return out


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of time with one wikiversions state, inside one UTC hour."""

    t0: int
    t1: int
    state: tuple[int, ...]
    requests: tuple[float, ...]  # per group


def segments(tl: RolloutPlan, t_start: int, t_end: int, extra_cuts: list[int]) -> list[Segment]:
    cuts = set(range(t_start, t_end + 1, HOUR_US))
    cuts.update(s.t for s in tl.steps)
    cuts.update(c for c in extra_cuts)
    points = sorted(c for c in cuts if t_start <= c <= t_end)
    out = []
    si = 0
    state: tuple[int, ...] = (0, 0, 0, 0)
    for a, b in zip(points, points[1:], strict=False):
        while si < len(tl.steps) and tl.steps[si].t <= a:
            state = tl.steps[si].state
            si += 1
        f = diurnal(a // HOUR_US) * AVG_REQUESTS_PER_HOUR * (b - a) / HOUR_US
        out.append(Segment(a, b, state, tuple(f * w for w in GROUP_WEIGHT)))
    return out
