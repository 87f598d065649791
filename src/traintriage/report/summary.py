"""The weekly train summary, in the spirit of train-stats' "Summary of <version> train deployment"
e-mail: conductor, blocker task, blockers, rollbacks, delays, new errors and how fast they were
reviewed, with sparklines over the last five trains (pure).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from traintriage.core.timeparse import iso
from traintriage.detect.blockers import BlockerEvidence
from traintriage.report.metrics import TrainRow, sparkline
from traintriage.report.text import clean, duration

__all__ = ["SummaryError", "TrainSummary", "summary_email", "summary_subject", "summary_text"]

VERSIONS_URL = "https://versions.toolforge.org/"


@dataclass(frozen=True)
class SummaryError:
    """A flagged error of the train and its first review (if any)."""

    signature: str
    title: str
    team: str
    labels: tuple[str, ...]
    wait: float | None  # first seen -> first review, seconds
    verdict: str | None
    reviewer: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "title": self.title,
            "team": self.team,
            "labels": list(self.labels),
            "time_to_first_review_seconds": round(self.wait, 1) if self.wait is not None else None,
            "verdict": self.verdict,
            "reviewer": self.reviewer,
        }


@dataclass(frozen=True)
class TrainSummary:
    row: TrainRow
    history: tuple[TrainRow, ...]  # the last five trains, oldest first, this one last
    rollbacks: tuple[dict[str, Any], ...] = ()
    blocker: BlockerEvidence | None = None
    errors: tuple[SummaryError, ...] = ()
    thanks: tuple[str, ...] = ()
    base_url: str | None = None
    at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def series(self) -> dict[str, list[float | None]]:
        """The sparkline series: one value per train of `history`."""
        return {
            "backports": [float(r.backports) for r in self.history],
            "rollbacks": [float(r.rollbacks) for r in self.history],
            "delay_days": [_max_delay(r) for r in self.history],
            "blockers": [float(r.blockers) if r.blockers is not None else None for r in self.history],
            "new_errors": [float(r.new_errors) for r in self.history],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.row.version,
            "subject": summary_subject(self.row.version),
            "train": self.row.to_dict(),
            "last_trains": [r.version for r in self.history],
            "series": self.series(),
            "sparklines": {k: sparkline(v) for k, v in self.series().items()},
            "rollback_events": list(self.rollbacks),
            "blocker_task": self.blocker.to_dict(self.at) if self.blocker and self.at is not None else None,
            "errors": [e.to_dict() for e in self.errors],
            "thanks": list(self.thanks),
        }


def _max_delay(r: TrainRow) -> float | None:
    known = [d for d in r.delays.values() if d is not None]
    return float(max(known)) if known else None


def summary_subject(version: str) -> str:
    return f"Summary of {version} train deployment"


def _num(values: Sequence[float | None]) -> str:
    return " ".join("-" if v is None else f"{v:g}" for v in values)


def summary_text(s: TrainSummary) -> str:
    """The e-mail body (plain text; log-derived strings cleaned)."""
    r = s.row
    out = [summary_subject(r.version), "=" * len(summary_subject(r.version)), ""]
    out.append(f"Conductor: {clean(r.conductor, 80) or 'unknown'}")
    if s.blocker and s.blocker.task:
        t = s.blocker.task
        out.append(f"Blocker task: {t.id} {t.url or ''}".rstrip())
        seen = s.blocker.checked_at or s.blocker.fetched_at
        if seen is not None:
            out.append(f"  (Phabricator checked {iso(seen)})")
    else:
        out.append("Blocker task: not known (run `traintriage tasks blockers --refresh`)")
    out.append(f"Versions: {VERSIONS_URL}")
    if s.base_url:
        out.append(f"Train page: {s.base_url.rstrip('/')}/train?version={r.version}")
    delays = "/".join("-" if d is None else str(d) for d in r.delays.values())
    coverage = f"{r.reviewed_in_time} of {r.new_errors}" + (
        f" ({100 * r.coverage:.0f}%)" if r.coverage is not None else ""
    )
    out += [
        "",
        "This train:",
        f"  started {iso(r.first_deploy) if r.first_deploy is not None else '-'}, "
        f"{'reached every wiki' if r.shipped else 'did not reach group2'}, total {duration(r.total_time)}",
        f"  rollbacks: {r.rollbacks} ({duration(r.rollback_seconds)} rolled back)",
        f"  delay in days (group0/group1/group2): {delays}",
        f"  backports: {r.backports} ({r.bugfix_backports} with a Bug: footer)",
        f"  blockers: {r.blockers if r.blockers is not None else 'unknown'}",
        f"  new errors: {r.new_errors}, reviewed before the next promotion: {coverage}",
        f"  time to first review: median {duration(r.ttfr_median)}, p90 {duration(r.ttfr_p90)}",
        "",
        f"Last {len(s.history)} trains ({', '.join(x.version for x in s.history)}):",
    ]
    names = {
        "backports": "backports",
        "rollbacks": "rollbacks",
        "delay_days": "delay (days)",
        "blockers": "blockers",
        "new_errors": "new errors",
    }
    for key, values in s.series().items():
        out.append(f"  {names[key]:<13} {sparkline(values)}  {_num(values)}")
    if s.rollbacks:
        out += ["", "Rollbacks:"]
        for rb in s.rollbacks:
            back = f", rolled forward {rb['restored_at']}" if rb.get("restored_at") else ""
            out.append(
                f"  - {rb['at']} from {', '.join(rb['from_groups'])} to {rb.get('to_version') or 'previous'}"
                f"{back} ({clean(rb.get('actor') or '?', 60)})"
            )
    if s.blocker and s.blocker.subtasks:
        out += ["", "Blockers:"]
        out += [f"  - {t.id} {clean(t.title)} [{clean(t.status, 20)}]" for t in s.blocker.subtasks]
    if s.errors:
        out += ["", "New errors:"]
        for e in s.errors:
            review = (
                f"first review after {duration(e.wait)} ({e.verdict} by {clean(e.reviewer, 60)})"
                if e.verdict
                else "not reviewed"
            )
            labels = f" [{'/'.join(e.labels)}]" if e.labels else ""
            out.append(f"  - {e.signature[:8]}{labels} {clean(e.title, 100)} {clean(e.team, 40)}: {review}")
    if s.thanks:
        out += [
            "",
            "Thanks to everyone who reported or resolved blockers: "
            + ", ".join(clean(t, 60) for t in s.thanks)
            + ".",
        ]
    return "\n".join(out) + "\n"


def summary_email(s: TrainSummary, *, sender: str, to: Sequence[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, ", ".join(to), summary_subject(s.row.version)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(summary_text(s))
    return msg
