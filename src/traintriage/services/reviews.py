"""Record a triage action (verdict, tasks, assignee, note, mute) in one transaction.

The CLI's `review` command and the web's review form and API call `record_review`: either
every change of the action is stored, with its audit entries, or none is. Reading the record
(history, audit log, state) stays in store/reviews.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from traintriage.core.errors import InvalidInput
from traintriage.core.validate import check_time, check_version
from traintriage.store.db import Store
from traintriage.store.reviews import SignatureTriage, triage_state, writing_triage
from traintriage.triage.reviews import (
    MAX_ASSIGNEE,
    MAX_NAME,
    MAX_NOTE,
    MAX_TASKS,
    MAX_VERDICT,
    ReviewRecord,
    check_text,
    parse_task,
)


@dataclass(frozen=True)
class ReviewChange:
    """What one reviewer does to one signature at once. `assignee` '' unassigns."""

    signature: str
    actor: str
    verdict: str | None = None
    version: str | None = None
    target: str | None = None
    tasks: Sequence[str] = ()
    note: str | None = None
    assignee: str | None = None
    mute_until: float | None = None
    mute_until_escalates: bool = False
    unmute: bool = False
    at: float | None = None

    def check(self) -> None:
        """Every field and their combination, before anything is written (InvalidInput).

        This is the one gate between what a reviewer sends (API, form, CLI) and the store:
        times must be finite and in 2000..2100, versions well-formed, text bounded (issue 8:
        a `mute_until` of `inf` was stored, and from then on every page and command that
        met it failed). Whether the version is on the deployment timeline is checked by the
        writer, against the stored timeline, in the same transaction.
        """
        check_text(self.actor, "reviewer", MAX_NAME)
        check_text(self.verdict, "verdict", MAX_VERDICT)
        check_text(self.target, "verdict target", MAX_VERDICT)
        check_text(self.assignee, "assignee", MAX_ASSIGNEE)
        check_text(self.note, "note", MAX_NOTE, multiline=True)
        if len(self.tasks) > MAX_TASKS:
            raise InvalidInput(f"{len(self.tasks)} tasks at once (limit {MAX_TASKS})")
        for task in self.tasks:
            parse_task(task)
        if self.version is not None and self.version.strip():
            check_version(self.version.strip(), "review version")
        if self.mute_until is not None:
            check_time(self.mute_until, "mute until")
        if self.at is not None:
            check_time(self.at, "review time")
        if self.mute_until is not None and self.mute_until_escalates:
            raise InvalidInput("give a mute-until time or mute-until-escalates, not both")
        if self.unmute and (self.mute_until is not None or self.mute_until_escalates):
            raise InvalidInput("unmute cannot be combined with a new mute")
        if self.verdict is None and self.version:
            raise InvalidInput("a version scopes a verdict: give the verdict too")
        changes = (
            self.tasks or self.note or self.assignee is not None or self.mute_until is not None,
            self.mute_until_escalates or self.unmute,
        )
        if self.verdict is None and not any(changes):
            raise InvalidInput("nothing to record: give a verdict, a task, a note, an assignee or a mute")


@dataclass(frozen=True)
class ReviewOutcome:
    """The review recorded (None without a verdict) and the signature's triage state after it."""

    signature: str
    review: ReviewRecord | None
    state: SignatureTriage

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"signature": self.signature}
        if self.review is not None:
            out["review"] = self.review.to_dict()
        out["state"] = self.state.to_dict()
        return out


def record_review(store: Store, change: ReviewChange) -> ReviewOutcome:
    """Store every part of `change` in one transaction (all or nothing), then read the state."""
    change.check()
    sig = change.signature
    record = None
    with writing_triage(store, change.actor, change.at) as w:
        if change.verdict is not None:
            record = w.review(
                sig,
                change.verdict.strip(),
                version=change.version or None,
                target=change.target or None,
                assignee=change.assignee,
                note=change.note,
                tasks=change.tasks,
                mute_until=change.mute_until,
                mute_until_escalates=change.mute_until_escalates,
            )
            if change.assignee is not None and not change.assignee.strip():
                w.assign(sig, None)
        else:
            for task in change.tasks:
                w.link(sig, task)
            if change.assignee is not None:
                w.assign(sig, change.assignee)
            if change.note:
                w.note(sig, change.note)
            if change.mute_until is not None or change.mute_until_escalates:
                w.mute(sig, until=change.mute_until, until_escalates=change.mute_until_escalates)
        if change.unmute:
            w.mute(sig)
    return ReviewOutcome(sig, record, triage_state(store, [sig]).get(sig, SignatureTriage()))
