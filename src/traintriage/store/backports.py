"""Imported backports per train (their SQL)."""

from __future__ import annotations

from collections.abc import Iterable

from traintriage.store.db import Store
from traintriage.train.backports import Backport


def save_backports(store: Store, backports: Iterable[Backport]) -> int:
    """Insert backports; one change per train is stored once (re-imports replace it). Returns how many were new."""
    rows = sorted(
        {
            (b.version, b.change): (
                b.version,
                b.change,
                b.at,
                " ".join(b.bugs),
                b.title,
                f"{b.source}:{b.line}",
            )
            for b in backports
        }.values()
    )
    if not rows:
        return 0
    before = int(store.query("SELECT COUNT(*) FROM backports")[0][0])
    with store.transaction() as cur:
        cur.executemany(
            store.sql(
                "INSERT INTO backports (version, change, at, bugs, title, source) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (version, change) DO UPDATE SET at = excluded.at, bugs = excluded.bugs, "
                "title = excluded.title, source = excluded.source"
            ),
            rows,
        )
    return int(store.query("SELECT COUNT(*) FROM backports")[0][0]) - before


def load_backports(store: Store) -> list[Backport]:
    out = []
    for version, change, at, bugs, title, source in store.query(
        "SELECT version, change, at, bugs, title, source FROM backports ORDER BY version, at, change"
    ):
        src, _, line = str(source).rpartition(":")
        out.append(
            Backport(
                str(version),
                str(change),
                float(at) if at is not None else None,
                tuple(str(bugs).split()),
                str(title),
                src,
                int(line) if line.isdigit() else 0,
            )
        )
    return out
