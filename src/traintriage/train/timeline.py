"""Replay deploy steps into "which group ran which version when", plus train stats.

Direction is decided here, not by the log wording: a group moving to an
older version (compared numerically, ``wmf.9 < wmf.10 < 1.37.0-wmf.1``) is
a rollback of the version it left; moving to a newer one is a roll-forward
of the target. A ``Revert "X"`` restores what the most recent not yet
reverted step with subject X changed. Unknown earlier versions are None and
count as older than anything (so the first ``group0 wikis to V`` in a log is
a roll-forward), except for steps declared as rollbacks.

Per-train statistics follow train-stats (``stats-per-train.py``; domain
notes §1.3/§3.1):

* ``rollbacks``: steps in which any group leaves the train version for an
  older one.
* ``rollbacks_time``: seconds from a rollback to the next roll-forward of the
  train to any group. A rollback while already rolled back does not restart
  the clock; an unrecovered (final) rollback adds 0.
* landing of a group: its last roll-forward to the version.
* ``groupN_delay_days``: whole days from the expected Tue/Wed/Thu of the week
  (Monday-based) of the first deploy to the landing date, in ``tz`` (UTC by
  default). train-stats took dates in US local time and reported ``% 7``;
  both differences are documented in tests/test_timeline.py.
* ``total_time``: last landing minus first deploy (= last minus first
  roll-forward).
* ``conductor``: most frequent actor of roll-forward steps (ties: earliest).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from traintriage.core.versions import is_older, normalize_version, version_key
from traintriage.core.vocabulary import ALL, STAGES
from traintriage.train.deploylog import DeployStep, parse_message
from traintriage.train.groups import GroupMembership, as_utc

EXPECTED_WEEKDAY: Mapping[str, int] = {"group0": 1, "group1": 2, "group2": 3}
"""Days after Monday each group is due: Tuesday, Wednesday, Thursday."""

BOT_ACTORS = frozenset({"jenkins-bot"})
"""Committers that never conduct a train (train-stats drops jenkins-bot)."""

_BEGINNING = datetime.min.replace(tzinfo=UTC)


class TimelineError(ValueError):
    """Raised by ``Timeline.build(strict=True)`` on the first replay error."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One group's version change inside a step (only real changes are kept)."""

    group: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class AppliedStep:
    """A step as replayed: what it actually changed, and for reverts what it undid."""

    step: DeployStep
    transitions: tuple[Transition, ...]
    undoes: DeployStep | None = None

    @property
    def at(self) -> datetime:
        return self.step.at

    def forward_groups(self, version: str) -> tuple[str, ...]:
        """Groups this step rolled forward to ``version``."""
        return tuple(t.group for t in self.transitions if t.after == version and self._forward(t, version))

    def rollback_groups(self, version: str) -> tuple[str, ...]:
        """Groups this step moved off ``version`` to an older (or unknown) one."""
        return tuple(
            t.group
            for t in self.transitions
            if t.before == version and (t.after is None or is_older(t.after, version))
        )

    def _forward(self, t: Transition, version: str) -> bool:
        if t.before is None:
            return self.step.kind != "rollback"
        return is_older(t.before, version)


@dataclass(frozen=True, slots=True)
class ReplayError:
    """A step the replay could not apply (e.g. a Revert of a step not in the log)."""

    step: DeployStep
    reason: str

    def __str__(self) -> str:
        return f"{self.step.source}:{self.step.line}: {self.reason}: {self.step.message!r}"


@dataclass(frozen=True, slots=True)
class Promotion:
    at: datetime
    group: str
    step: DeployStep


@dataclass(frozen=True, slots=True)
class Rollback:
    """Groups leaving the train version; ``restored_at`` is the next roll-forward (any group)."""

    at: datetime
    from_groups: tuple[str, ...]
    to_version: str | None
    restored_at: datetime | None
    step: DeployStep

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "from_groups": list(self.from_groups),
            "to_version": self.to_version,
            "restored_at": _iso(self.restored_at),
            "message": self.step.message,
            "actor": self.step.actor,
        }


@dataclass(frozen=True, slots=True)
class TrainState:
    """Where a train stands at a moment.

    ``stage`` is the highest stage running the version; ``next_stage`` the
    first stage not running it (None once every stage does).
    """

    version: str
    at: datetime
    stage: str | None
    next_stage: str | None
    rolled_back: bool
    groups: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return self.next_stage is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "at": _iso(self.at),
            "stage": self.stage,
            "next_stage": self.next_stage,
            "rolled_back": self.rolled_back,
            "groups": list(self.groups),
            "complete": self.complete,
        }


@dataclass(frozen=True, slots=True)
class TrainStats:
    """train-stats' per-train numbers (seconds and whole days)."""

    version: str
    first_deploy: datetime | None
    landings: Mapping[str, datetime | None]
    delay_days: Mapping[str, int | None]
    rollbacks: int
    rollbacks_time: int
    total_time: int | None
    conductor: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "conductor": self.conductor,
            "first_deploy": _iso(self.first_deploy),
            "landings": {g: _iso(t) for g, t in self.landings.items()},
            **{f"{g}_delay_days": d for g, d in self.delay_days.items()},
            "rollbacks": self.rollbacks,
            "rollbacks_time": self.rollbacks_time,
            "total_time": self.total_time,
        }


@dataclass(slots=True)
class _Replay:
    """Mutable state while replaying; Timeline keeps only the frozen results."""

    state: dict[str, str | None]
    applied: list[AppliedStep] = field(default_factory=list)
    errors: list[ReplayError] = field(default_factory=list)
    history: dict[str, tuple[list[datetime], list[str | None]]] = field(default_factory=dict)
    undone: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        for group, version in self.state.items():
            self.history[group] = ([_BEGINNING], [version])

    def apply(self, step: DeployStep) -> None:
        undoes: AppliedStep | None = None
        if step.kind == "revert":
            undoes = self._find_reverted(step)
            if undoes is None:
                self.errors.append(ReplayError(step, "Revert of a step not found earlier in the log"))
                return
            self.undone.add(id(undoes))
            changes = {t.group: t.before for t in undoes.transitions}
        elif step.version is None:
            self.errors.append(ReplayError(step, "step has no target version"))
            return
        else:
            changes = dict.fromkeys(step.groups, step.version)
        transitions = tuple(
            Transition(g, self.state.get(g), v) for g, v in changes.items() if self.state.get(g) != v
        )
        for t in transitions:
            self.state[t.group] = t.after
            times, versions = self.history.setdefault(t.group, ([_BEGINNING], [None]))
            times.append(step.at)
            versions.append(t.after)
        self.applied.append(AppliedStep(step, transitions, undoes.step if undoes else None))

    def _find_reverted(self, step: DeployStep) -> AppliedStep | None:
        """Most recent live step whose subject is the reverted one; else same groups and version."""
        inner = step.reverted_message or ""
        wanted = _norm(inner)
        live = [a for a in reversed(self.applied) if id(a) not in self.undone]
        for candidate in live:
            if _norm(candidate.step.message) == wanted:
                return candidate
        try:
            groups, version, kind = parse_message(inner)
        except ValueError:
            return None
        for candidate in live:
            s = candidate.step
            if kind != "revert" and s.kind != "revert" and (s.groups, s.version) == (groups, version):
                return candidate
        return None


class Timeline:
    """Immutable replay of a deployment history; answers version/stage/stats questions.

    Query times may be aware datetimes or UTC epoch seconds (as in events).
    Construct with ``Timeline.build``; wiki names resolve through ``membership``.
    """

    def __init__(
        self,
        applied: Iterable[AppliedStep],
        history: Mapping[str, tuple[list[datetime], list[str | None]]],
        membership: GroupMembership | None = None,
        errors: Iterable[ReplayError] = (),
    ) -> None:
        self.applied: tuple[AppliedStep, ...] = tuple(applied)
        self.errors: tuple[ReplayError, ...] = tuple(errors)
        self.membership = membership
        self._history = {g: (tuple(ts), tuple(vs)) for g, (ts, vs) in history.items()}

    @classmethod
    def build(
        cls,
        steps: Iterable[DeployStep],
        membership: GroupMembership | None = None,
        *,
        initial: Mapping[str, str] | None = None,
        strict: bool = False,
    ) -> Timeline:
        """Replay ``steps`` in time order (stable for equal times).

        ``initial`` gives versions known before the first step (``all`` allowed).
        Steps that cannot be applied are kept in ``errors``; ``strict`` raises
        TimelineError instead.
        """
        start: dict[str, str | None] = {}
        for group, version in (initial or {}).items():
            for g in STAGES if group == ALL else (group,):
                start[g] = normalize_version(version)
        replay = _Replay(start)
        for step in sorted(steps, key=lambda s: s.at):
            replay.apply(step)
        if strict and replay.errors:
            raise TimelineError(str(replay.errors[0]))
        return cls(replay.applied, replay.history, membership, replay.errors)

    # --- point-in-time questions ---------------------------------------------------

    def version_at(self, group_or_wiki: str, t: datetime | float) -> str | None:
        """Version a group (or a wiki, through membership) ran at ``t``; None if unknown."""
        group = self._group_for(group_or_wiki)
        if group is None or group not in self._history:
            return None
        times, versions = self._history[group]
        index = bisect.bisect_right(times, as_utc(t)) - 1
        return versions[index] if index >= 0 else None

    def live_versions(self, t: datetime | float) -> list[str]:
        """Distinct versions the stages ran at ``t``, newest first."""
        found = {v for g in STAGES if (v := self.version_at(g, t)) is not None}
        return sorted(found, key=version_key, reverse=True)

    def stage_of(self, version: str, t: datetime | float) -> str | None:
        """Highest stage running ``version`` at ``t``."""
        on = self._stages_on(version, t)
        return on[-1] if on else None

    def train_state(self, version: str, t: datetime | float) -> TrainState:
        """Stage, next stage and whether the train is rolled back at ``t``."""
        when = as_utc(t)
        on = self._stages_on(version, when)
        missing = [s for s in STAGES if s not in on]
        rolled_back = any(
            r.at <= when and (r.restored_at is None or r.restored_at > when) for r in self.rollbacks(version)
        )
        return TrainState(
            version, when, on[-1] if on else None, missing[0] if missing else None, rolled_back, on
        )

    # --- per-train history ------------------------------------------------------------

    def versions(self) -> list[str]:
        """Every version any group ran, newest first."""
        seen = {v for a in self.applied for t in a.transitions for v in (t.before, t.after) if v}
        seen |= {v for _, vs in self._history.values() for v in vs if v}
        return sorted(seen, key=version_key, reverse=True)

    def promotions(self, version: str) -> list[Promotion]:
        """Every roll-forward of ``version``, one entry per group, in time order."""
        return [Promotion(a.at, g, a.step) for a in self.applied for g in a.forward_groups(version)]

    def rollbacks(self, version: str) -> list[Rollback]:
        """Steps that moved groups off ``version`` to older ones, with when it came back."""
        found: list[tuple[AppliedStep, tuple[str, ...]]] = []
        restored: dict[int, datetime] = {}
        pending: list[int] = []
        for applied in self.applied:
            if applied.forward_groups(version):
                restored.update(dict.fromkeys(pending, applied.at))
                pending = []
            groups = applied.rollback_groups(version)
            if groups:
                pending.append(len(found))
                found.append((applied, groups))
        return [
            Rollback(a.at, groups, _target(a, groups[0]), restored.get(i), a.step)
            for i, (a, groups) in enumerate(found)
        ]

    def stats(self, version: str, *, tz: tzinfo = UTC) -> TrainStats:
        """train-stats' numbers for one train; dates for delays are taken in ``tz``."""
        promotions = self.promotions(version)
        rollbacks = self.rollbacks(version)
        landings: dict[str, datetime | None] = dict.fromkeys(STAGES)
        for p in promotions:
            if p.group in landings:
                landings[p.group] = p.at
        first = promotions[0].at if promotions else None
        last = max((p.at for p in promotions), default=None)
        return TrainStats(
            version=version,
            first_deploy=first,
            landings=landings,
            delay_days={g: _delay(first, landings[g], g, tz) for g in EXPECTED_WEEKDAY},
            rollbacks=len(rollbacks),
            rollbacks_time=_rolled_back_seconds(rollbacks),
            total_time=_seconds(last - first) if first and last else None,
            conductor=self._conductor(version),
        )

    def explain(self, version: str, *, tz: tzinfo = UTC) -> dict[str, Any]:
        """JSON-ready account of one train: stats, per-stage times, rollbacks, steps."""
        stats = self.stats(version, tz=tz)
        promotions = self.promotions(version)
        stages = [
            {
                "group": g,
                "promotions": [_iso(p.at) for p in promotions if p.group == g],
                "landed": _iso(stats.landings.get(g)),
                "delay_days": stats.delay_days.get(g),
            }
            for g in STAGES
        ]
        return {
            **stats.to_dict(),
            "stages": stages,
            "rollback_events": [r.to_dict() for r in self.rollbacks(version)],
            "steps": [_step_dict(a, version) for a in self.applied if _touches(a, version)],
        }

    def to_dict(self, *, tz: tzinfo = UTC) -> dict[str, Any]:
        """Every train's explanation plus replay errors."""
        return {
            "trains": [self.explain(v, tz=tz) for v in self.versions()],
            "errors": [str(e) for e in self.errors],
        }

    # --- helpers -------------------------------------------------------------------

    def _group_for(self, name: str) -> str | None:
        if name in self._history or name in STAGES:
            return name
        return self.membership.group_of(name) if self.membership else None

    def _stages_on(self, version: str, t: datetime | float) -> tuple[str, ...]:
        return tuple(s for s in STAGES if self.version_at(s, t) == version)

    def _conductor(self, version: str) -> str | None:
        actors = Counter(
            a.step.actor
            for a in self.applied
            if a.step.actor and a.step.actor not in BOT_ACTORS and a.forward_groups(version)
        )
        return actors.most_common(1)[0][0] if actors else None


def _target(applied: AppliedStep, group: str) -> str | None:
    return next(t.after for t in applied.transitions if t.group == group)


def _rolled_back_seconds(rollbacks: list[Rollback]) -> int:
    """Sum of episodes: first rollback of an episode until the roll-forward ending it."""
    episode_start: dict[datetime, datetime] = {}
    for r in rollbacks:
        if r.restored_at is not None:
            episode_start.setdefault(r.restored_at, r.at)
    return sum(_seconds(end - start) for end, start in episode_start.items())


def _delay(first: datetime | None, landed: datetime | None, group: str, tz: tzinfo) -> int | None:
    if first is None or landed is None:
        return None
    first_day = first.astimezone(tz).date()
    expected: date = first_day - timedelta(days=first_day.weekday() - EXPECTED_WEEKDAY[group])
    return (landed.astimezone(tz).date() - expected).days


def _seconds(delta: timedelta) -> int:
    return round(delta.total_seconds())


def _touches(applied: AppliedStep, version: str) -> bool:
    return applied.step.version == version or any(version in (t.before, t.after) for t in applied.transitions)


def _step_dict(applied: AppliedStep, version: str) -> dict[str, Any]:
    return {
        "at": _iso(applied.at),
        "actor": applied.step.actor,
        "message": applied.step.message,
        "effect": _effect(applied, version),
        "changes": [{"group": t.group, "from": t.before, "to": t.after} for t in applied.transitions],
        "source": f"{applied.step.source}:{applied.step.line}",
    }


def _effect(applied: AppliedStep, version: str) -> str:
    """How a step affected ``version``: forward, rollback, superseded (left for a newer
    version), rollback-target (a newer train was rolled back onto it), no-op or other."""
    if applied.forward_groups(version):
        return "forward"
    if applied.rollback_groups(version):
        return "rollback"
    if not applied.transitions:
        return "no-op"
    if any(t.before == version for t in applied.transitions):
        return "superseded"
    if any(t.after == version for t in applied.transitions):
        return "rollback-target"
    return "other"


def _norm(message: str) -> str:
    return " ".join(message.split())


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None
