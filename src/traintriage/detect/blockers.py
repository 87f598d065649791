"""The train's blocker task as decision evidence: pure data, fetched elsewhere.

Each train version has one task titled `<version> deployment blockers`; serious issues are
attached to it as subtasks, and "all serious issues must be resolved before resuming routine
code deployments". An open subtask therefore blocks the train (rule
`nogo.open-blocker-task`). The decision never calls the task tracker: a service fetches the
task and its subtasks, caches them with the time of the fetch, and passes the cached view in,
so a decision is as fast as ever and says how fresh its view of the tracker is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from traintriage.core.timeparse import iso

__all__ = ["OPEN_STATUSES", "BlockerEvidence", "TaskState", "is_open_status"]

OPEN_STATUSES: frozenset[str] = frozenset({"open", "progress", "stalled"})
"""Phabricator statuses that count as open (scap warns when the blocker task is neither open nor progress)."""

_CLOSED_STATUSES = frozenset({"resolved", "declined", "invalid", "duplicate", "wontfix", "spite"})


def is_open_status(status: str) -> bool:
    """Open unless the tracker says closed; an unknown status is treated as open (fails safe)."""
    s = status.strip().lower()
    return s in OPEN_STATUSES or s not in _CLOSED_STATUSES


@dataclass(frozen=True)
class TaskState:
    """One task as the tracker last reported it.

    `signatures` are the signatures the triage record links to this task (so a resolved
    task can offer `fixed-in` for them, and an open blocker names what it blocks on).
    """

    id: str  # "T123456"
    title: str
    status: str  # tracker's status value: open, progress, stalled, resolved, declined, ...
    url: str | None = None
    subtype: str | None = None
    owner: str | None = None
    closed_at: float | None = None
    modified_at: float | None = None
    signatures: tuple[str, ...] = ()

    @property
    def open(self) -> bool:
        return is_open_status(self.status)

    @property
    def resolved(self) -> bool:
        return self.status.strip().lower() == "resolved"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "open": self.open,
            "url": self.url,
            "subtype": self.subtype,
            "owner": self.owner,
            "closed_at": iso(self.closed_at) if self.closed_at is not None else None,
            "modified_at": iso(self.modified_at) if self.modified_at is not None else None,
            "signatures": list(self.signatures),
        }


@dataclass(frozen=True)
class BlockerEvidence:
    """The cached view of one version's blocker task and its subtasks.

    `fetched_at` is when the tracker last reported this content; `checked_at` when it was
    last asked (the content may be unchanged since `fetched_at`). None: never fetched.
    `error` is the last refresh's failure, if the newest attempt failed.
    """

    version: str
    task: TaskState | None
    subtasks: tuple[TaskState, ...] = ()
    fetched_at: float | None = None
    checked_at: float | None = None
    source: str = ""
    error: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def open_subtasks(self) -> tuple[TaskState, ...]:
        return tuple(t for t in self.subtasks if t.open)

    def age(self, at: float) -> float | None:
        """Seconds between the last check of the tracker and `at` (None: never checked)."""
        seen = self.checked_at if self.checked_at is not None else self.fetched_at
        return None if seen is None else max(0.0, at - seen)

    def to_dict(self, at: float | None = None) -> dict[str, Any]:
        age = self.age(at) if at is not None else None
        return {
            "version": self.version,
            "task": self.task.to_dict() if self.task else None,
            "subtasks": [t.to_dict() for t in self.subtasks],
            "open_subtasks": [t.id for t in self.open_subtasks],
            "fetched_at": iso(self.fetched_at) if self.fetched_at is not None else None,
            "checked_at": iso(self.checked_at) if self.checked_at is not None else None,
            "age_seconds": round(age) if age is not None else None,
            "source": self.source,
            "error": self.error,
        }
