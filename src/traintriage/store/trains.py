"""Persist what the train model needs: deployment steps, wiki groups, exposure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from traintriage.core.vocabulary import SLOT_SECONDS
from traintriage.store.db import Store
from traintriage.train.deploylog import DeployStep
from traintriage.train.exposure import ExposureRow
from traintriage.train.groups import GroupMembership


def save_deploy_steps(store: Store, steps: Iterable[DeployStep]) -> int:
    """Insert steps; the same step imported twice is stored once. Returns how many were new."""
    rows = [
        (
            s.at.timestamp(),
            ",".join(s.groups),
            s.version or "",
            s.actor or "",
            s.kind,
            s.message,
            s.source,
            s.line,
        )
        for s in steps
    ]
    if not rows:
        return 0
    before = int(store.query("SELECT COUNT(*) FROM deploy_steps")[0][0])
    with store.transaction() as cur:
        cur.executemany(
            store.sql(
                "INSERT INTO deploy_steps (at, groups, version, actor, kind, message, source, line) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (at, groups, version, message) DO NOTHING"
            ),
            rows,
        )
    return int(store.query("SELECT COUNT(*) FROM deploy_steps")[0][0]) - before


def load_deploy_steps(store: Store) -> list[DeployStep]:
    """All stored steps in time order, except those an operator retracted (store/retractions.py)."""
    from traintriage.store.retractions import retracted, step_id

    gone = retracted(store, "deploy-step")
    out = []
    for at, groups, version, actor, kind, message, source, line in store.query(
        "SELECT at, groups, version, actor, kind, message, source, line FROM deploy_steps ORDER BY at, line"
    ):
        if gone and step_id(at, groups, version, message) in gone:
            continue
        try:
            step = DeployStep(
                at=datetime.fromtimestamp(float(at), UTC),
                groups=tuple(g for g in str(groups).split(",") if g),
                version=version or None,
                actor=actor or None,
                kind=kind,
                message=message,
                source=source,
                line=int(line),
            )
        except (ValueError, OverflowError, OSError):
            continue  # stored before times and versions were validated (issue 8): on no timeline
        out.append(step)
    return out


def events_have_version(store: Store, version: str) -> bool:
    """Has any stored event this version (index signature_versions_version)?"""
    return bool(store.query("SELECT 1 FROM signature_versions WHERE version = ? LIMIT 1", (version,)))


def save_membership(store: Store, membership: GroupMembership, source: str, inferred: bool = False) -> int:
    """Store wiki -> group; listed (not inferred) membership always wins over inferred."""
    rows = []
    for group in membership.lists:
        for wiki in sorted(membership.wikis_in(group)):
            rows.append((wiki, group, 1 if inferred else 0, source))
    if not rows:
        return 0
    guard = "WHERE wiki_groups.inferred = 1" if inferred else ""
    with store.transaction() as cur:
        cur.executemany(
            store.sql(
                "INSERT INTO wiki_groups (wiki, grp, inferred, source) VALUES (?, ?, ?, ?) "
                f"ON CONFLICT (wiki) DO UPDATE SET grp = excluded.grp, inferred = excluded.inferred, "
                f"source = excluded.source {guard}"
            ),
            rows,
        )
    return len(rows)


def load_membership(store: Store) -> GroupMembership:
    lists: dict[str, set[str]] = defaultdict(set)
    for wiki, grp in store.query("SELECT wiki, grp FROM wiki_groups"):
        lists[str(grp)].add(str(wiki))
    return GroupMembership.from_lists(lists)


def membership_counts(store: Store) -> dict[str, tuple[int, int]]:
    """group -> (listed wikis, inferred wikis)."""
    out: dict[str, tuple[int, int]] = {}
    for grp, listed, inferred in store.query(
        "SELECT grp, SUM(CASE WHEN inferred = 0 THEN 1 ELSE 0 END), SUM(inferred) FROM wiki_groups GROUP BY grp"
    ):
        out[str(grp)] = (int(listed), int(inferred))
    return out


def save_exposure(store: Store, rows: Iterable[ExposureRow]) -> int:
    """Upsert request counts; re-importing a file replaces values instead of adding them."""
    data = sorted({(r.version, r.scope, r.name, r.hour): r.requests for r in rows}.items())
    if not data:
        return 0
    with store.transaction() as cur:
        cur.executemany(
            store.sql(
                "INSERT INTO exposure (version, scope, name, hour, requests) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (version, scope, name, hour) DO UPDATE SET requests = excluded.requests"
            ),
            [(v, s, n, h, req) for (v, s, n, h), req in data],
        )
    return len(data)


def exposure_changes(store: Store, rows: Iterable[ExposureRow]) -> list[tuple[ExposureRow, int]]:
    """Rows that would replace a stored, different count for the same hour: (row, stored count).

    An import replaces rather than adds (a corrected file is imported again), so the CLI
    says which hours it changes instead of overwriting them silently.
    """
    wanted = {(r.version, r.scope, r.name, r.hour): r for r in rows}
    if not wanted:
        return []
    stored = store.query_in(
        "SELECT version, scope, name, hour, requests FROM exposure WHERE version {ids}",
        sorted({key[0] for key in wanted}),
    )
    changes = []
    for version, scope, name, hour, requests in stored:
        row = wanted.get((str(version), str(scope), str(name), int(hour)))
        if row is not None and row.requests != int(requests):
            changes.append((row, int(requests)))
    return sorted(changes, key=lambda c: (c[0].hour, c[0].scope, c[0].name, c[0].version))


def wiki_version_hours(store: Store) -> list[tuple[str, str, int]]:
    """(wiki, version, time) observations for inferring groups from events.

    Cells are 10-minute slots, so the first slot a wiki reported a version is observed
    at its end and the last slot at its start: moments when the wiki surely ran it.
    """
    out = []
    for w, v, first, last in store.query("SELECT wiki, version, first_slot, last_slot FROM wiki_versions"):
        out.append((str(w), str(v), int(first) * SLOT_SECONDS + SLOT_SECONDS - 1))
        if int(last) > int(first):
            out.append((str(w), str(v), int(last) * SLOT_SECONDS))
    return out
