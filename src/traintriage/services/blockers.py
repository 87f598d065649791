"""Following each train's blocker task: refresh from Conduit into the cache, read it for decisions.

`refresh_blocker` is the only step that talks to Phabricator (run it from cron, `traintriage
tasks blockers --refresh`, or before the meeting); `blocker_evidence` reads the cache the
decision uses, so a decision never waits on the tracker and says how fresh its view is.
A failed refresh keeps the last view and records the error next to it.
"""

from __future__ import annotations

import time
from collections import defaultdict

from traintriage.detect.blockers import BlockerEvidence, TaskState
from traintriage.remote.conduit import ConduitClient
from traintriage.remote.http import DeliveryError
from traintriage.store.db import Store
from traintriage.store.reviews import triage_state
from traintriage.store.tasks import (
    load_blocker_view,
    load_task_states,
    record_blocker_error,
    save_blocker_view,
    save_task_states,
)

__all__ = ["blocker_evidence", "linked_tasks", "refresh_blocker", "refresh_linked_tasks"]


def linked_tasks(store: Store, at: float | None = None) -> dict[str, tuple[str, ...]]:
    """signature -> tasks linked in the triage record (as of `at`)."""
    return {sig: s.tasks for sig, s in triage_state(store, at=at).items() if s.tasks}


def _by_task(store: Store, at: float | None) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = defaultdict(list)
    for sig, tasks in linked_tasks(store, at).items():
        for task in tasks:
            out[task].append(sig)
    return {t: tuple(sorted(s)) for t, s in out.items()}


def blocker_evidence(store: Store, version: str, at: float | None = None) -> BlockerEvidence | None:
    """The cached view of `version`'s blocker task known at `at`, with the signatures each task links."""
    view = load_blocker_view(store, version, at)
    if view is None:
        return None
    sigs = _by_task(store, at)

    def linked(t: TaskState) -> TaskState:
        found = sigs.get(t.id) or (sigs.get(t.url, ()) if t.url else ())
        return TaskState(
            t.id, t.title, t.status, t.url, t.subtype, t.owner, t.closed_at, t.modified_at, found
        )

    return BlockerEvidence(
        version=version,
        task=linked(view.task) if view.task else None,
        subtasks=tuple(linked(t) for t in view.subtasks),
        fetched_at=view.fetched_at,
        checked_at=view.checked_at,
        source=view.source,
        error=view.error,
    )


def refresh_blocker(
    store: Store, client: ConduitClient, version: str, *, task: str | None = None, now: float | None = None
) -> BlockerEvidence | None:
    """Ask Phabricator for the blocker task (found by title, or `task`) and its subtasks; cache them.

    On failure the error is recorded and the previous view returned (with the error).
    """
    now = time.time() if now is None else now
    try:
        if task:
            found = client.tasks([task])
            blocker = found[0] if found else None
        else:
            blocker = client.find_blocker_task(version)
        subtasks = client.subtasks(blocker.id) if blocker else []
    except DeliveryError as err:
        record_blocker_error(store, version, str(err), source=client.base, at=now)
        return blocker_evidence(store, version)
    save_blocker_view(store, version, blocker, subtasks, source=client.base, at=now)
    save_task_states(store, ([blocker] if blocker else []) + list(subtasks), at=now)
    return blocker_evidence(store, version)


def refresh_linked_tasks(store: Store, client: ConduitClient, *, now: float | None = None) -> int:
    """Refresh the cached state of every Phabricator task linked to a signature; returns how many."""
    now = time.time() if now is None else now
    ids = sorted({t for tasks in linked_tasks(store).values() for t in tasks if t.startswith("T")})
    states: list[TaskState] = []
    for i in range(0, len(ids), 100):
        states += client.tasks(ids[i : i + 100])
    save_task_states(store, states, at=now)
    return len(states)


def cached_states(store: Store, tasks: list[str] | None = None) -> dict[str, TaskState]:
    return {t: s for t, (s, _checked) in load_task_states(store, tasks).items()}
