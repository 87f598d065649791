"""Which moments are worth telling someone, derived from a decision (pure).

* `new` / `regressed`: a NEW or REGRESSED signature in the current train, for its team;
* `logspam`: a signature over the logspam thresholds;
* `blocker`: someone reviewed a signature as `blocker`;
* `decision`: the verdict for a train's next stage changed;
* `reminder`: untriaged NEW/REGRESSED errors shortly before a scheduled promotion.

Each notice has a `key`: the same key is never sent twice to the same subscription, so a
scan can run every minute and tell each thing once. Text is plain and untrusted (titles
come from logs); each channel format escapes it (notify/formats.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from traintriage.core.timeparse import iso
from traintriage.core.vocabulary import STAGES, UNOWNED
from traintriage.detect.classify import Entry
from traintriage.detect.decision import Decision

__all__ = [
    "ALL_TEAMS",
    "KINDS",
    "Notice",
    "Schedule",
    "decision_notice",
    "matches",
    "notices_for",
    "reminder_notices",
    "signature_notices",
    "team_key",
    "teams_of",
]

KINDS: tuple[str, ...] = ("new", "regressed", "logspam", "blocker", "decision", "reminder")
ALL_TEAMS = "*"
"""Team of a train-wide notice (a decision), and the subscription team that gets everything."""

_SEVERITY = {
    "rollback": "critical",
    "no-go": "warning",
    "hold": "warning",
    "inconclusive": "info",
    "go": "info",
}
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Notice:
    """One thing to tell. `link` is a path in the web app (made absolute by the formats)."""

    kind: str
    key: str
    team: str
    version: str
    at: float
    title: str
    lines: tuple[str, ...] = ()
    severity: str = "info"
    signature: str | None = None
    stage: str | None = None
    link: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "team": self.team,
            "version": self.version,
            "at": iso(self.at),
            "title": self.title,
            "lines": list(self.lines),
            "severity": self.severity,
            "signature": self.signature,
            "stage": self.stage,
            "link": self.link,
            "data": dict(self.data),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Notice:
        from traintriage.core.timeparse import parse_timestamp

        return cls(
            kind=str(d["kind"]),
            key=str(d["key"]),
            team=str(d["team"]),
            version=str(d["version"]),
            at=parse_timestamp(str(d["at"])),
            title=str(d["title"]),
            lines=tuple(str(x) for x in d.get("lines") or ()),
            severity=str(d.get("severity") or "info"),
            signature=d.get("signature"),
            stage=d.get("stage"),
            link=d.get("link"),
            data=dict(d.get("data") or {}),
        )


def _team(decision: Decision, signature: str) -> str:
    owner = decision.owners.get(signature)
    team = owner.get("team") if owner else None
    return str(team) if team else UNOWNED


def _open(decision: Decision, e: Entry) -> bool:
    review = decision.reviews.get(e.signature)
    return review is None or not review.clears


def _entry_lines(e: Entry) -> tuple[str, ...]:
    seen = f", first seen {iso(e.first_seen)}" if e.first_seen is not None else ""
    return (
        f"{e.requests:,} requests ({e.events:,} events) on {e.wikis:,} wikis{seen}",
        f"channel {e.channel}",
    )


def signature_notices(decision: Decision) -> list[Notice]:
    """NEW, REGRESSED and LOGSPAM signatures of the train not cleared by a review; blocker reviews."""
    v, out = decision.version, []
    c = decision.classification
    for kind, entries in (("new", c.new), ("regressed", c.regressed), ("logspam", c.logspam)):
        for e in entries:
            if not _open(decision, e):
                continue
            label = {"new": "NEW", "regressed": "REGRESSED", "logspam": "LOGSPAM"}[kind]
            extra = (
                (f"busiest hour {e.max_events_1h:,} events, 12 h {e.max_events_12h:,}",)
                if kind == "logspam"
                else ()
            )
            out.append(
                Notice(
                    kind=kind,
                    key=f"{kind}:{v}:{e.signature}",
                    team=_team(decision, e.signature),
                    version=v,
                    at=decision.at,
                    title=f"{label} in {v}: {e.title}",
                    lines=_entry_lines(e) + extra,
                    severity="critical" if e.critical else "warning",
                    signature=e.signature,
                    stage=decision.stage,
                    link=f"/signatures/{e.signature}",
                    data={"labels": [str(x) for x in e.labels], "requests": e.requests, "wikis": e.wikis},
                )
            )
    titles = {e.signature: e.title for e in c.entries}
    for review in sorted(decision.reviews.values(), key=lambda r: (r.at, r.signature)):
        if review.verdict != "blocker":
            continue
        task = f" ({review.task})" if review.task else ""
        out.append(
            Notice(
                kind="blocker",
                key=f"blocker:{v}:{review.signature}:{int(review.at)}",
                team=_team(decision, review.signature),
                version=v,
                at=review.at,
                title=f"BLOCKER for {v}: {titles.get(review.signature, review.signature)}{task}",
                lines=(f"reviewed as blocker by {review.reviewer}",)
                + ((review.note,) if review.note else ()),
                severity="critical",
                signature=review.signature,
                stage=decision.stage,
                link=f"/signatures/{review.signature}",
                data={"reviewer": review.reviewer, "task": review.task},
            )
        )
    return out


def decision_notice(decision: Decision, previous: str | None) -> Notice | None:
    """A notice when the verdict for the next stage differs from the last one told (None: first)."""
    if previous == decision.verdict:
        return None
    target = decision.next_stage or "done"
    rule = next((r for r in decision.rules if r.id == decision.rule), None)
    was = f" (was {previous.upper()})" if previous else ""
    lines = []
    if rule is not None:
        lines.append(f"{rule.id}: {rule.description}")
        if rule.detail and rule.detail != "none":
            lines.append(rule.detail)
    if decision.owners_to_ping:
        lines.append("teams to ping: " + ", ".join(decision.owners_to_ping))
    return Notice(
        kind="decision",
        key=f"decision:{decision.version}:{target}:{decision.verdict}:{int(decision.at)}",
        team=ALL_TEAMS,
        version=decision.version,
        at=decision.at,
        title=f"{decision.version} -> {target}: {decision.verdict.upper()}{was}",
        lines=tuple(lines),
        severity=_SEVERITY.get(decision.verdict, "info"),
        stage=decision.stage,
        link=f"/train?version={decision.version}",
        data={"verdict": decision.verdict, "previous": previous, "rule": decision.rule, "next_stage": target},
    )


# --------------------------------------------------------------------------- #
# Reminders before a scheduled promotion
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Schedule:
    """When each stage is promoted (weekday and UTC time), and how long before to remind.

    Wikimedia's defaults: group0 Tuesday, group1 Wednesday, group2 Thursday; the clock time
    depends on the conductor, so it is configuration.
    """

    times: Mapping[str, tuple[int, int, int]] = field(
        default_factory=lambda: {"group0": (1, 20, 0), "group1": (2, 20, 0), "group2": (3, 20, 0)}
    )  # stage -> (weekday 0=Monday, hour, minute), UTC
    lead_minutes: int = 120

    @staticmethod
    def parse(stage: str, text: str) -> tuple[int, int, int]:
        """'Wed 20:00' -> (2, 20, 0); raises ValueError naming what is wrong."""
        parts = text.strip().lower().split()
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r} (one of {', '.join(STAGES)})")
        if len(parts) != 2 or parts[0][:3] not in _WEEKDAYS:
            raise ValueError(f"{stage} = {text!r}: write a weekday and a UTC time, e.g. 'Wed 20:00'")
        try:
            hour, minute = (int(x) for x in parts[1].split(":"))
        except ValueError:
            raise ValueError(f"{stage} = {text!r}: time must be HH:MM") from None
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise ValueError(f"{stage} = {text!r}: time out of range")
        return _WEEKDAYS.index(parts[0][:3]), hour, minute

    def next_promotion(self, stage: str, now: float) -> float | None:
        """The first scheduled promotion of `stage` at or after `now` (None: not scheduled)."""
        if stage not in self.times:
            return None
        weekday, hour, minute = self.times[stage]
        t = datetime.fromtimestamp(now, UTC)
        day = t.replace(hour=hour, minute=minute, second=0, microsecond=0) + timedelta(
            days=(weekday - t.weekday()) % 7
        )
        if day.timestamp() < now:
            day += timedelta(days=7)
        return day.timestamp()


def reminder_notices(decision: Decision, schedule: Schedule, now: float) -> list[Notice]:
    """Per team, its untriaged NEW/REGRESSED/LOGSPAM errors when the next stage is due soon."""
    stage = decision.next_stage
    if stage is None:
        return []
    due = schedule.next_promotion(stage, now)
    if due is None or due - now > schedule.lead_minutes * 60:
        return []
    c = decision.classification
    waiting: dict[str, list[Entry]] = {}
    for e in (*c.new, *c.regressed, *c.logspam):
        review = decision.reviews.get(e.signature)
        if review is None or review.verdict == "needs-info":
            waiting.setdefault(_team(decision, e.signature), []).append(e)
    minutes = max(0, round((due - now) / 60))
    out = []
    for team, entries in sorted(waiting.items()):
        unique = list({e.signature: e for e in entries}.values())
        out.append(
            Notice(
                kind="reminder",
                key=f"reminder:{decision.version}:{stage}:{team}:{int(due)}",
                team=team,
                version=decision.version,
                at=now,
                title=f"{len(unique)} untriaged error(s) of {team} in {decision.version}; {stage} is due in {minutes} min",
                lines=tuple(f"{e.signature[:8]} {e.title}" for e in unique[:10])
                + ((f"and {len(unique) - 10} more",) if len(unique) > 10 else ()),
                severity="warning",
                stage=decision.stage,
                link=f"/queue?version={decision.version}&team={team}",
                data={"due": iso(due), "signatures": [e.signature for e in unique]},
            )
        )
    return out


def notices_for(
    decision: Decision, *, previous_verdict: str | None, schedule: Schedule | None, now: float
) -> list[Notice]:
    """Everything worth telling about one decision."""
    out = signature_notices(decision)
    change = decision_notice(decision, previous_verdict)
    if change is not None:
        out.append(change)
    if schedule is not None:
        out += reminder_notices(decision, schedule, now)
    return out


def team_key(team: str) -> str:
    """Teams compare without their '@' and case: '@Growth-Team' is 'growth-team'."""
    return team.strip().lstrip("@").lower()


def matches(notice: Notice, team: str, kinds: Iterable[str]) -> bool:
    """Does a subscription (team, kinds) get this notice? '*' gets every team's."""
    if notice.kind not in set(kinds):
        return False
    return team == ALL_TEAMS or notice.team == ALL_TEAMS or team_key(notice.team) == team_key(team)


def teams_of(notices: Sequence[Notice]) -> list[str]:
    return sorted({n.team for n in notices})
