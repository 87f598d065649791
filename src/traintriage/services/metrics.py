"""Train metrics, trends, the backlog and the weekly summary, from the store (use cases).

The numbers are computed by report/metrics.py; this module gathers their inputs: the
deployment timeline, imported backports, cached blocker views, the errors each train
flagged before its promotions (replayed as the decision saw them) and the review record.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from traintriage.core.errors import InvalidInput, NotFound
from traintriage.core.versions import version_key
from traintriage.core.vocabulary import CLEARING_VERDICTS, UNOWNED
from traintriage.detect.config import DetectionConfig
from traintriage.report.metrics import (
    Backlog,
    BacklogItem,
    CycleFigures,
    FlagFacts,
    TrainRow,
    backlog,
    cycle,
    train_row,
)
from traintriage.report.summary import SummaryError, TrainSummary
from traintriage.services.blockers import blocker_evidence, cached_states, linked_tasks
from traintriage.services.coverage import train_flags
from traintriage.services.ownership import route_many
from traintriage.services.train import load_train
from traintriage.store.backports import load_backports, save_backports
from traintriage.store.db import Store
from traintriage.store.reviews import review_history
from traintriage.store.snapshot import TrainContext
from traintriage.store.tasks import load_blocker_view
from traintriage.train.backports import BackportParse, parse_backports
from traintriage.triage.owners import OwnersFile
from traintriage.triage.reviews import ReviewRecord, applies

__all__ = [
    "cycle_figures",
    "import_backports",
    "open_backlog",
    "train_rows",
    "train_summary",
]

RESOLVING = frozenset({"fixed-in", "expected", "duplicate-of"})
"""Verdicts after which an error is no longer in the backlog (not-blocker and known still are)."""


def import_backports(
    store: Store, path: str | Path, *, version: str | None = None
) -> tuple[BackportParse, int]:
    """Parse a backport list or `git log` file and store it; returns the parse and how many were new."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise InvalidInput(f"{p}: cannot read: {err}") from None
    try:
        parsed = parse_backports(text, str(p), version=version)
    except ValueError as err:
        raise InvalidInput(str(err)) from None
    return parsed, save_backports(store, parsed.backports)


def _first_reviews(
    history: Mapping[str, Sequence[ReviewRecord]], version: str, sig: str
) -> ReviewRecord | None:
    """The first review that counts for `sig` in `version` flagged (given in `version`, or version-less)."""
    found = [r for r in history.get(sig, ()) if applies(r, version, True)]
    return min(found, key=lambda r: (r.at, r.id)) if found else None


def _teams(store: Store, owners: OwnersFile | None, ids: Sequence[str]) -> dict[str, str]:
    if owners is None or not ids:
        return {}
    return {s: r.team for s, r in route_many(store, owners, list(ids)).items() if r.team}


def _flag_facts(
    store: Store,
    version: str,
    context: TrainContext,
    history: Mapping[str, Sequence[ReviewRecord]],
    owners: OwnersFile | None,
    config: DetectionConfig | None,
) -> list[FlagFacts]:
    flags = train_flags(store, version, context=context, config=config)
    teams = _teams(store, owners, [f.signature for f in flags.flagged])
    out = []
    for f in flags.flagged:
        first = _first_reviews(history, version, f.signature)
        out.append(
            FlagFacts(
                f.signature,
                teams.get(f.signature, UNOWNED),
                f.first_seen,
                f.deadline,
                first.at if first else None,
            )
        )
    return out


def _blockers(store: Store, version: str) -> int | None:
    view = load_blocker_view(store, version)
    return len(view.subtasks) if view is not None and view.task is not None else None


def train_rows(
    store: Store,
    *,
    versions: Sequence[str] | None = None,
    owners: OwnersFile | None = None,
    config: DetectionConfig | None = None,
    errors: bool = True,
    context: TrainContext | None = None,
) -> list[TrainRow]:
    """One row per train (oldest first). `errors` False skips the flagged-error replay (faster)."""
    return _rows_and_flags(store, versions, owners, config, errors, context)[0]


def _rows_and_flags(
    store: Store,
    versions: Sequence[str] | None,
    owners: OwnersFile | None,
    config: DetectionConfig | None,
    errors: bool,
    context: TrainContext | None,
) -> tuple[list[TrainRow], dict[str, list[FlagFacts]]]:
    ctx = context or load_train(store)
    known = ctx.timeline.versions()
    chosen = sorted(versions if versions is not None else known, key=version_key)
    backports = load_backports(store)
    history = review_history(store) if errors else {}
    rows, flags_by_version = [], {}
    for v in chosen:
        if not ctx.timeline.promotions(v):
            continue
        flags = _flag_facts(store, v, ctx, history, owners, config) if errors else []
        flags_by_version[v] = flags
        rows.append(train_row(ctx.timeline.stats(v), backports, _blockers(store, v), flags))
    return rows, flags_by_version


def cycle_figures(store: Store, start: float, weeks: int = 30) -> CycleFigures:
    """Versions, backports and rollbacks of the trains started in `weeks` weeks from `start`."""
    if not 1 <= weeks <= 520:
        raise InvalidInput("weeks must be 1 .. 520")
    return cycle(train_rows(store, errors=False), start, weeks)


def open_backlog(
    store: Store, *, now: float | None = None, owners: OwnersFile | None = None, active_days: int = 30
) -> Backlog:
    """Errors seen in the last `active_days` that no review resolved, by team and age."""
    now = time.time() if now is None else now
    rows = store.query(
        "SELECT id, title, first_seen, last_seen FROM signatures WHERE last_seen >= ? ORDER BY first_seen",
        (now - active_days * 86400,),
    )
    ids = [str(r[0]) for r in rows]
    history = review_history(store, ids) if ids else {}
    links = linked_tasks(store)
    states = cached_states(store)
    teams = _teams(store, owners, ids)
    items = []
    for sig, title, first, last in rows:
        if float(first) > now:
            continue
        records = [r for r in history.get(str(sig), ()) if r.at <= now]
        newest = max(records, key=lambda r: (r.at, r.id)) if records else None
        if newest is not None and newest.verdict in RESOLVING:
            continue
        if any(states.get(t) is not None and states[t].resolved for t in links.get(str(sig), ())):
            continue
        state = newest.verdict if newest is not None else "untriaged"
        items.append(
            BacklogItem(str(sig), str(title), teams.get(str(sig), UNOWNED), float(first), float(last), state)
        )
    return backlog(items, now)


def train_summary(
    store: Store,
    version: str,
    *,
    now: float | None = None,
    owners: OwnersFile | None = None,
    config: DetectionConfig | None = None,
    base_url: str | None = None,
) -> TrainSummary:
    """The weekly summary of `version`, with the four trains before it for the sparklines."""
    now = time.time() if now is None else now
    ctx = load_train(store)
    deployed = sorted((v for v in ctx.timeline.versions() if ctx.timeline.promotions(v)), key=version_key)
    if version not in deployed:
        raise NotFound(f"no deployment of {version} on the timeline (import the deploy log first)")
    last_five = deployed[: deployed.index(version) + 1][-5:]
    rows, flags_by_version = _rows_and_flags(store, last_five, owners, config, True, ctx)
    row = next(r for r in rows if r.version == version)
    history = review_history(store)
    flags = flags_by_version[version]
    titles = {
        str(s): str(t)
        for s, t in store.query_in(
            "SELECT id, title FROM signatures WHERE id {ids}", sorted(f.signature for f in flags)
        )
    }
    errors = []
    for f in flags:
        first = _first_reviews(history, version, f.signature)
        errors.append(
            SummaryError(
                f.signature,
                titles.get(f.signature, f.signature),
                f.team,
                (),
                f.wait,
                first.verdict if first else None,
                first.reviewer if first else None,
            )
        )
    thanks = sorted(
        {
            r.reviewer
            for rs in history.values()
            for r in rs
            if r.version == version
            and (r.verdict == "blocker" or r.verdict in CLEARING_VERDICTS and _was_blocker(rs, r))
        }
    )
    return TrainSummary(
        row=row,
        history=tuple(rows),
        rollbacks=tuple(ctx.timeline.explain(version)["rollback_events"]),
        blocker=blocker_evidence(store, version),  # the newest view: a summary looks back
        errors=tuple(errors),
        thanks=tuple(thanks),
        base_url=base_url,
        at=now,
    )


def _was_blocker(records: Sequence[ReviewRecord], r: ReviewRecord) -> bool:
    """Did this clearing review resolve an earlier `blocker` verdict?"""
    return any(o.verdict == "blocker" and o.at < r.at for o in records)
