"""Triage logic, pure: verdict grammar, which review applies to which version, coverage.

The store (store/reviews.py) keeps every review and change; this module decides what
they mean, so the rules can be tested without a database and read in one place.
The rules are explained with examples in docs/triage.md.

* A verdict given in version N applies to N and every later version, except in a
  later version M whose classification flags the signature NEW or REGRESSED again
  (it then needs a fresh look). The newest review that applies wins.
* A mute is quiet, not a verdict: it never changes go/no-go.
* Coverage: the share of NEW/REGRESSED signatures reviewed before the train's next
  promotion, per version and team, and the time from first seen to first review.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

from traintriage.core.errors import InvalidInput
from traintriage.core.timeparse import iso
from traintriage.core.versions import version_key as default_version_key
from traintriage.core.vocabulary import CLEARING_VERDICTS, TARGET_VERDICTS, UNOWNED, VERDICTS, ReviewVerdict
from traintriage.detect.decision import Review

__all__ = [
    "CLEARING_VERDICTS",
    "UNOWNED",
    "VERDICTS",
    "CoverageRow",
    "FlaggedSignature",
    "ReviewRecord",
    "SignatureTriage",
    "TrainFlags",
    "applies",
    "check_review",
    "check_text",
    "coverage",
    "effective_reviews",
    "mute_active",
    "parse_task",
    "parse_verdict",
]

_TARGETS = TARGET_VERDICTS

_OLD_NAMES: Mapping[str, str] = {
    "duplicate": "duplicate-of <signature>",
    "fixed": "fixed-in <version or change>",
}

_SIGNATURE_ID = re.compile(r"^[0-9a-f]{4,64}$")
_TASK = re.compile(r"^T[1-9][0-9]{0,11}$")
_MAX_TARGET = 200

MAX_NAME = 64
"""Reviewer and assignee names: user names are 1-64 characters (store/accounts.py)."""
MAX_ASSIGNEE = 100
"""An assignee may be a person or a team handle (`@growth-team`)."""
MAX_NOTE = 4000
MAX_TASKS = 20
MAX_TASK = 300
"""A Phabricator id or a URL to a task."""
MAX_VERDICT = 300
"""A verdict with its target ('fixed-in' + a version or change URL)."""


VersionKey = Callable[[str], Any]


@dataclass(frozen=True)
class ReviewRecord:
    """One stored review, exactly as given (store/reviews.py writes and reads these).

    `version` is the version the verdict was given in; None means "before any version"
    (the signature had no versioned events), so it applies everywhere.
    """

    id: int
    signature: str
    version: str | None
    verdict: str
    target: str | None
    assignee: str | None
    note: str | None
    tasks: tuple[str, ...]
    mute_until: float | None
    mute_until_escalates: bool
    reviewer: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "signature": self.signature,
            "version": self.version,
            "verdict": self.verdict,
            "target": self.target,
            "assignee": self.assignee,
            "note": self.note,
            "tasks": list(self.tasks),
            "mute_until": iso(self.mute_until) if self.mute_until is not None else None,
            "mute_until_escalates": self.mute_until_escalates,
            "reviewer": self.reviewer,
            "at": iso(self.at),
        }


@dataclass(frozen=True)
class SignatureTriage:
    """A signature's triage state besides its verdict: assignee, linked tasks, mute.

    Folded from the audit log (store/reviews.py), as of some time.
    """

    assignee: str | None = None
    tasks: tuple[str, ...] = ()
    mute_until: float | None = None
    mute_until_escalates: bool = False
    mute_version: str | None = None

    @property
    def mute_set(self) -> bool:
        return self.mute_until is not None or self.mute_until_escalates

    def to_dict(self) -> dict[str, Any]:
        return {
            "assignee": self.assignee,
            "tasks": list(self.tasks),
            "mute_until": iso(self.mute_until) if self.mute_until is not None else None,
            "mute_until_escalates": self.mute_until_escalates,
            "mute_version": self.mute_version,
        }


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #


def parse_verdict(text: str) -> tuple[str, str | None]:
    """'duplicate-of 0123abcd' -> ('duplicate-of', '0123abcd'); 'expected' -> ('expected', None).

    Raises InvalidInput saying what is wrong and what would be right.
    """
    verdict, target = _split_verdict(text)
    return verdict, check_target(verdict, target)


def _split_verdict(text: str) -> tuple[str, str | None]:
    """A known verdict name and the raw target after it (not yet checked)."""
    parts = text.split()
    if not parts:
        raise InvalidInput(f"empty verdict: give one of {', '.join(VERDICTS)}")
    verdict = parts[0].lower()
    if verdict in _OLD_NAMES:
        raise InvalidInput(f"verdict {parts[0]!r}: say {_OLD_NAMES[verdict]!r}")
    if verdict not in VERDICTS:
        raise InvalidInput(f"unknown verdict {parts[0]!r}: give one of {', '.join(VERDICTS)}")
    if len(parts) > 2:
        raise InvalidInput(f"verdict {text.strip()!r}: at most one target after {verdict!r}")
    return verdict, parts[1] if len(parts) == 2 else None


def check_target(verdict: str, target: str | None) -> str | None:
    """The target a verdict needs (duplicate-of, fixed-in) and no target for the others."""
    target = target.strip() if target else None
    if verdict not in _TARGETS:
        if target:
            raise InvalidInput(f"verdict {verdict!r} takes no target (got {target!r})")
        return None
    if not target:
        raise InvalidInput(f"verdict {verdict!r} needs {_TARGETS[verdict]}, e.g. {_example(verdict)!r}")
    if any(c.isspace() for c in target) or len(target) > _MAX_TARGET:
        raise InvalidInput(f"{verdict} target {target!r}: one word of at most {_MAX_TARGET} characters")
    if verdict == "duplicate-of":
        target = target.lower()
        if not _SIGNATURE_ID.match(target):
            raise InvalidInput(f"duplicate-of {target!r}: not a signature id (hex, at least 4 digits)")
    return target


def _example(verdict: str) -> str:
    return "duplicate-of 0123abcd" if verdict == "duplicate-of" else "fixed-in 1.36.0-wmf.29"


def check_text(value: str | None, what: str, limit: int, *, multiline: bool = False) -> str | None:
    """`value` stripped (None when empty) if it has at most `limit` characters and no control
    characters (line breaks and tabs only when `multiline`); else InvalidInput naming `what`.

    Every free-text field of a review passes here before it is stored (and copied into the
    audit log): unbounded fields were a way to fill the store and every page (issue 8).
    """
    if value is None:
        return None
    text = value.strip()
    if len(text) > limit:
        raise InvalidInput(f"{what} is {len(text):,} characters long (limit {limit:,})")
    allowed = "\n\r\t" if multiline else ""
    if any(not c.isprintable() and c not in allowed and c != " " for c in text):
        raise InvalidInput(f"{what} contains control characters")
    return text or None


def parse_task(text: str) -> str:
    """A Phabricator task (`T123456`) or an http(s) URL; anything else raises InvalidInput."""
    task = text.strip()
    if len(task) > MAX_TASK:
        raise InvalidInput(f"task {task[:40]!r}...: at most {MAX_TASK} characters")
    if _TASK.match(task):
        return task
    if re.match(r"^t[1-9][0-9]{0,11}$", task):
        return "T" + task[1:]
    parts = urlsplit(task)
    if parts.scheme in ("http", "https") and parts.netloc and not any(c.isspace() for c in task):
        return task
    raise InvalidInput(f"task {text!r}: give a Phabricator task like T123456 or an http(s) URL")


def check_review(
    verdict: str,
    target: str | None,
    tasks: Iterable[str],
    *,
    linked_tasks: Iterable[str] = (),
    mute_until: float | None = None,
    mute_until_escalates: bool = False,
    at: float | None = None,
) -> tuple[str, str | None, tuple[str, ...]]:
    """Validate a review before it is stored: (verdict, target, tasks) or InvalidInput.

    `verdict` may carry its target ('fixed-in 1.36.0-wmf.29'). `known` needs a linked
    task, given now or linked to the signature before (`linked_tasks`).
    """
    name, inline = _split_verdict(verdict)
    if inline is not None and target is not None and inline.strip() != target.strip():
        raise InvalidInput(f"two different targets: {inline!r} in the verdict and {target!r}")
    final_target = check_target(name, inline if inline is not None else target)
    clean = tuple(dict.fromkeys(parse_task(t) for t in tasks))
    if name == "known" and not clean and not tuple(linked_tasks):
        raise InvalidInput("verdict 'known' needs a linked task (e.g. --task T123456)")
    if mute_until is not None and at is not None and mute_until <= at:
        raise InvalidInput(f"mute until {iso(mute_until)} is not in the future (review at {iso(at)})")
    return name, final_target, clean


# --------------------------------------------------------------------------- #
# Carry-over: which review applies to version M
# --------------------------------------------------------------------------- #


def applies(
    record: ReviewRecord, version: str, flagged: bool, version_key: VersionKey = default_version_key
) -> bool:
    """Does `record` apply to `version`, where the signature is `flagged` NEW/REGRESSED or not?

    It applies from its own version on (a version-less record everywhere), except in a
    later version that flags the signature again: that regression needs a fresh look.
    """
    if record.version is None:
        return not flagged
    given, asked = version_key(record.version), version_key(version)
    if given > asked:
        return False
    return given == asked or not flagged


def effective_reviews(
    history: Mapping[str, Sequence[ReviewRecord]],
    version: str,
    flagged_again: Callable[[str], bool],
    version_key: VersionKey = default_version_key,
    *,
    at: float | None = None,
    state: Mapping[str, SignatureTriage] | None = None,
    escalated: Callable[[str], bool] | None = None,
) -> dict[str, Review]:
    """The review that counts for each signature in `version`, as `decide()` takes them.

    `history` is newest first per signature (`review_history`). Only reviews made by
    `at` count. The newest record that `applies` wins; none applies -> no entry (the
    signature is unreviewed there). `state` adds assignee, all linked tasks and the mute;
    `escalated` (LOGSPAM or REGRESSED in `version`) ends a mute-until-escalates.
    """
    state = state or {}
    out: dict[str, Review] = {}
    for signature, records in history.items():
        flagged = flagged_again(signature)
        record = next(
            (
                r
                for r in _newest_first(records)
                if (at is None or r.at <= at) and applies(r, version, flagged, version_key)
            ),
            None,
        )
        if record is None:
            continue
        s = state.get(signature, SignatureTriage())
        tasks = tuple(dict.fromkeys((*record.tasks, *s.tasks)))
        muted = mute_active(
            s,
            version=version,
            at=at,
            escalated=bool(escalated and escalated(signature)),
            version_key=version_key,
        )
        out[signature] = Review(
            signature=signature,
            verdict=cast(ReviewVerdict, record.verdict),
            reviewer=record.reviewer,
            at=record.at,
            tasks=tasks,
            note=record.note,
            assignee=s.assignee if s.assignee is not None else record.assignee,
            target=record.target,
            version=record.version,
            muted=muted,
            mute_until=s.mute_until if muted else None,
        )
    return out


def _newest_first(records: Sequence[ReviewRecord]) -> list[ReviewRecord]:
    return sorted(records, key=lambda r: (r.at, r.id), reverse=True)


def mute_active(
    state: SignatureTriage,
    *,
    version: str,
    at: float | None,
    escalated: bool,
    version_key: VersionKey = default_version_key,
) -> bool:
    """Is the signature muted in `version` at `at`?

    A mute ends at its date, or (until-escalates) in a version later than the one it was
    set in where the signature is LOGSPAM or REGRESSED. A version-less mute ends at the
    first escalation anywhere.
    """
    if not state.mute_set:
        return False
    if state.mute_until is not None and at is not None and at >= state.mute_until:
        return False
    if state.mute_until_escalates and escalated:
        later = state.mute_version is None or version_key(version) > version_key(state.mute_version)
        if later:
            return False
    return True


# --------------------------------------------------------------------------- #
# Coverage
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class FlaggedSignature:
    """A signature flagged NEW/REGRESSED in a version, and when triage was due.

    `deadline` is the first promotion after the checkpoint that first flagged it;
    `first_seen` its first event in that version.
    """

    signature: str
    first_seen: float | None
    deadline: float


@dataclass(frozen=True)
class TrainFlags:
    """Everything a version's checkpoints flagged (built by store/reviews.train_flags)."""

    version: str
    flagged: tuple[FlaggedSignature, ...] = ()
    checkpoints: tuple[float, ...] = ()


@dataclass(frozen=True)
class CoverageRow:
    """Triage coverage of one train for one team."""

    version: str
    team: str
    flagged: int
    reviewed_before_next_promotion: int
    share: float
    median_time_to_first_review_seconds: float | None
    unreviewed: tuple[str, ...] = field(default=())  # flagged, not reviewed before the deadline

    def to_dict(self) -> dict[str, Any]:
        median = self.median_time_to_first_review_seconds
        return {
            "version": self.version,
            "team": self.team,
            "flagged": self.flagged,
            "reviewed_before_next_promotion": self.reviewed_before_next_promotion,
            "share": round(self.share, 4),
            "median_time_to_first_review_seconds": round(median, 1) if median is not None else None,
            "unreviewed": list(self.unreviewed),
        }


def coverage(
    trains: Iterable[TrainFlags],
    history: Mapping[str, Sequence[ReviewRecord]],
    owner_of: Callable[[str], str | None] | None = None,
    version_key: VersionKey = default_version_key,
) -> list[CoverageRow]:
    """Per (version, team): flagged signatures, how many were reviewed by their deadline,
    and the median time from first seen (in that version) to the first review for it.

    A review counts for version V when it `applies` there with the signature flagged:
    given in V itself (an older verdict is stale for a regression). Any verdict counts,
    needs-info included: someone looked. Rows: newest version first, then team.
    """
    owner_of = owner_of or (lambda _signature: None)
    rows: list[CoverageRow] = []
    for train in sorted(trains, key=lambda t: version_key(t.version), reverse=True):
        by_team: dict[str, list[FlaggedSignature]] = defaultdict(list)
        for f in train.flagged:
            by_team[owner_of(f.signature) or UNOWNED].append(f)
        for team in sorted(by_team):
            flagged = sorted(by_team[team], key=lambda f: f.signature)
            reviewed, waits, missed = 0, [], []
            for f in flagged:
                times = [
                    r.at for r in history.get(f.signature, ()) if applies(r, train.version, True, version_key)
                ]
                if times and min(times) <= f.deadline:
                    reviewed += 1
                else:
                    missed.append(f.signature)
                if times and f.first_seen is not None:
                    waits.append(max(0.0, min(times) - f.first_seen))
            rows.append(
                CoverageRow(
                    version=train.version,
                    team=team,
                    flagged=len(flagged),
                    reviewed_before_next_promotion=reviewed,
                    share=reviewed / len(flagged),
                    median_time_to_first_review_seconds=statistics.median(waits) if waits else None,
                    unreviewed=tuple(missed),
                )
            )
    return rows
