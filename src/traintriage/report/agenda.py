"""The triage meeting: its agenda before, its minutes after (pure).

The agenda lists, per team, the NEW/REGRESSED/LOGSPAM signatures of the train still to
decide (unreviewed or needs-info), with counts, owner, linked tasks and a suggested verdict
with its reason; then what blocks, and resolved tasks that offer `fixed-in`. The minutes
list the verdicts recorded in the meeting's time window, per team, and the decision after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from traintriage.core.timeparse import iso
from traintriage.core.vocabulary import UNOWNED
from traintriage.detect.blockers import BlockerEvidence, TaskState
from traintriage.detect.classify import Entry
from traintriage.detect.decision import Decision, Review
from traintriage.report.text import clean
from traintriage.triage.reviews import ReviewRecord

__all__ = [
    "Agenda",
    "AgendaItem",
    "Minutes",
    "MinutesEntry",
    "agenda_text",
    "build_agenda",
    "build_minutes",
    "fixed_in_offers",
    "minutes_text",
    "suggest",
]


@dataclass(frozen=True)
class AgendaItem:
    signature: str
    title: str
    channel: str
    labels: tuple[str, ...]
    critical: bool
    requests: int
    events: int
    wikis: int
    first_seen: float | None
    team: str
    project: str | None
    review: str | None  # current verdict (needs-info, blocker, ...) or None
    tasks: tuple[TaskState, ...]
    suggestion: str
    reason: str
    blocking: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "title": self.title,
            "channel": self.channel,
            "labels": list(self.labels),
            "critical": self.critical,
            "requests": self.requests,
            "events": self.events,
            "wikis": self.wikis,
            "first_seen": iso(self.first_seen) if self.first_seen is not None else None,
            "team": self.team,
            "project": self.project,
            "review": self.review,
            "tasks": [t.to_dict() for t in self.tasks],
            "suggestion": self.suggestion,
            "reason": self.reason,
            "blocking": self.blocking,
        }


@dataclass(frozen=True)
class Agenda:
    version: str
    at: float
    stage: str | None
    next_stage: str | None
    verdict: str
    rule: str
    teams: Mapping[str, tuple[AgendaItem, ...]]
    blocker: BlockerEvidence | None = None
    offers: tuple[tuple[str, str], ...] = ()  # (signature, task): fixed-in offers
    decided: int = 0  # flagged signatures already reviewed

    @property
    def items(self) -> int:
        return sum(len(v) for v in self.teams.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "at": iso(self.at),
            "stage": self.stage,
            "next_stage": self.next_stage,
            "verdict": self.verdict,
            "rule": self.rule,
            "to_decide": self.items,
            "already_decided": self.decided,
            "teams": {t: [i.to_dict() for i in items] for t, items in self.teams.items()},
            "blocker_task": self.blocker.to_dict(self.at) if self.blocker else None,
            "fixed_in_offers": [{"signature": s, "task": t} for s, t in self.offers],
        }


def suggest(entry: Entry, review: Review | None, tasks: Sequence[TaskState]) -> tuple[str, str]:
    """A verdict to propose in the meeting, and why. A suggestion, never applied by itself."""
    resolved = [t for t in tasks if t.resolved]
    if resolved:
        return f"fixed-in {resolved[0].id}", f"{resolved[0].id} is resolved"
    open_tasks = [t for t in tasks if t.open]
    if review is not None and review.verdict == "needs-info":
        return "needs-info", f"waiting for information since {iso(review.at)} ({review.reviewer})"
    if "logspam" in {str(x) for x in entry.labels}:
        return "blocker", "over the logspam thresholds (100/h or 1000/12 h): new logspam blocks the train"
    if entry.critical:
        why = f"{'NEW' if 'new' in {str(x) for x in entry.labels} else 'REGRESSED'} in a critical channel ({entry.channel})"
        if open_tasks:
            return "blocker", f"{why}; tracked in {open_tasks[0].id}: make it a subtask of the blocker task"
        return "blocker", f"{why}: file a task and block the train"
    if open_tasks:
        return "known", f"already tracked in {open_tasks[0].id}"
    if "regressed" in {str(x) for x in entry.labels}:
        return "needs-info", "more frequent than in the previous version: find the change that made it worse"
    return "blocker", "new error messages block the train; `not-blocker` with a task if it is harmless"


def fixed_in_offers(
    linked: Mapping[str, Sequence[str]], states: Mapping[str, TaskState], reviews: Mapping[str, Review]
) -> list[tuple[str, str]]:
    """(signature, task) where a linked task is resolved and the signature is not yet fixed-in."""
    out = []
    for signature, tasks in sorted(linked.items()):
        review = reviews.get(signature)
        if review is not None and review.verdict == "fixed-in":
            continue
        for task in tasks:
            state = states.get(task)
            if state is not None and state.resolved:
                out.append((signature, task))
                break
    return out


def build_agenda(
    decision: Decision,
    linked: Mapping[str, Sequence[str]],
    states: Mapping[str, TaskState],
) -> Agenda:
    """Per team, what the meeting still has to decide for this train."""
    c = decision.classification
    seen: dict[str, Entry] = {}
    for e in (*c.new, *c.regressed, *c.logspam):
        seen.setdefault(e.signature, e)
    teams: dict[str, list[AgendaItem]] = {}
    decided = 0
    for sig, e in seen.items():
        review = decision.reviews.get(sig)
        if review is not None and review.verdict not in ("needs-info",):
            decided += 1
            continue
        owner = decision.owners.get(sig) or {}
        tasks = tuple(states.get(t) or TaskState(t, "", "unknown") for t in linked.get(sig, ()))
        suggestion, reason = suggest(e, review, tasks)
        item = AgendaItem(
            signature=sig,
            title=e.title,
            channel=e.channel,
            labels=tuple(str(x) for x in e.labels),
            critical=e.critical,
            requests=e.requests,
            events=e.events,
            wikis=e.wikis,
            first_seen=e.first_seen,
            team=str(owner.get("team") or UNOWNED),
            project=owner.get("project"),
            review=review.verdict if review else None,
            tasks=tasks,
            suggestion=suggestion,
            reason=reason,
            blocking=sig in decision.blocking,
        )
        teams.setdefault(item.team, []).append(item)
    ordered = {
        team: tuple(sorted(items, key=lambda i: (not i.blocking, not i.critical, -i.requests, i.signature)))
        for team, items in sorted(teams.items(), key=lambda kv: (kv[0] == UNOWNED, kv[0]))
    }
    return Agenda(
        version=decision.version,
        at=decision.at,
        stage=decision.stage,
        next_stage=decision.next_stage,
        verdict=decision.verdict,
        rule=decision.rule,
        teams=ordered,
        blocker=decision.blocker,
        offers=tuple(fixed_in_offers(linked, states, decision.reviews)),
        decided=decided,
    )


def agenda_text(agenda: Agenda, base_url: str | None = None) -> str:
    """The agenda as plain text (CLI, e-mail, a wiki page's draft)."""
    target = agenda.next_stage or "done"
    out = [
        f"Train log triage: {agenda.version} (on {agenda.stage or 'no group'}, next {target})",
        f"as of {iso(agenda.at)}: {agenda.verdict.upper()} ({agenda.rule})",
        f"{agenda.items} to decide, {agenda.decided} already decided",
    ]
    if agenda.blocker and agenda.blocker.task:
        open_ = agenda.blocker.open_subtasks
        out.append(f"blocker task {agenda.blocker.task.id}: {len(open_)} open subtask(s)")
        out += [f"  - {t.id} {clean(t.title)} [{clean(t.status, 20)}]" for t in open_]
    for team, items in agenda.teams.items():
        out += ["", f"## {team} ({len(items)})"]
        for i in items:
            flag = " BLOCKING" if i.blocking else ""
            out.append(f"- {i.signature[:8]} [{'/'.join(i.labels)}]{flag} {clean(i.title)}")
            seen = f", first seen {iso(i.first_seen)}" if i.first_seen is not None else ""
            out.append(f"    {i.requests:,} requests, {i.events:,} events, {i.wikis} wikis{seen}")
            if i.tasks:
                out.append("    tasks: " + ", ".join(f"{t.id} [{clean(t.status, 20)}]" for t in i.tasks))
            out.append(f"    suggest: {i.suggestion}: {i.reason}")
            if base_url:
                out.append(f"    {base_url.rstrip('/')}/signatures/{i.signature}")
    if agenda.offers:
        out += ["", "## resolved tasks: record fixed-in?"]
        out += [f"- {s[:8]}: fixed-in {t}" for s, t in agenda.offers]
    if not agenda.teams:
        out += ["", "Nothing left to decide."]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- #
# Minutes
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class MinutesEntry:
    at: float
    signature: str
    title: str
    team: str
    verdict: str
    target: str | None
    reviewer: str
    tasks: tuple[str, ...]
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "signature": self.signature,
            "title": self.title,
            "team": self.team,
            "verdict": self.verdict,
            "target": self.target,
            "reviewer": self.reviewer,
            "tasks": list(self.tasks),
            "note": self.note,
        }


@dataclass(frozen=True)
class Minutes:
    version: str
    since: float
    until: float
    entries: tuple[MinutesEntry, ...]
    verdict_after: str
    rule_after: str
    attendees: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "since": iso(self.since),
            "until": iso(self.until),
            "decisions": [e.to_dict() for e in self.entries],
            "reviewers": list(self.attendees),
            "verdict_after": self.verdict_after,
            "rule_after": self.rule_after,
        }


def build_minutes(
    version: str,
    records: Sequence[ReviewRecord],
    since: float,
    until: float,
    *,
    titles: Mapping[str, str],
    teams: Mapping[str, str],
    after: Decision,
) -> Minutes:
    """Verdicts given for `version` (or version-less) in [since, until], oldest first."""
    entries = [
        MinutesEntry(
            r.at,
            r.signature,
            titles.get(r.signature, r.signature),
            teams.get(r.signature) or UNOWNED,
            r.verdict,
            r.target,
            r.reviewer,
            r.tasks,
            r.note,
        )
        for r in records
        if since <= r.at <= until and r.version in (version, None)
    ]
    entries.sort(key=lambda e: (e.at, e.signature))
    people = tuple(sorted({e.reviewer for e in entries}))
    return Minutes(version, since, until, tuple(entries), after.verdict, after.rule, people)


def minutes_text(m: Minutes) -> str:
    out = [
        f"Minutes: train log triage for {m.version}, {iso(m.since)} .. {iso(m.until)}",
        f"reviewers: {', '.join(m.attendees) or 'none'}",
        f"{len(m.entries)} decision(s) recorded; the train now: {m.verdict_after.upper()} ({m.rule_after})",
    ]
    by_team: dict[str, list[MinutesEntry]] = {}
    for e in m.entries:
        by_team.setdefault(e.team, []).append(e)
    for team in sorted(by_team):
        out += ["", f"## {team}"]
        for e in by_team[team]:
            target = f" {e.target}" if e.target else ""
            tasks = f" ({', '.join(e.tasks)})" if e.tasks else ""
            out.append(
                f"- {e.signature[:8]} {e.verdict}{target}{tasks} by {clean(e.reviewer, 80)}: {clean(e.title)}"
            )
            if e.note:
                out.append(f"    note: {clean(e.note, 1000)}")
    return "\n".join(out) + "\n"
