"""Signature search for the web pages and the API (the SQL of filters; teams and verdicts are
applied by the caller, since they come from ownership rules and reviews)."""

from __future__ import annotations

from traintriage.store.db import Store
from traintriage.store.reads import _SUMMARY_COLUMNS, SignatureSummary, _attach_versions, _summary


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_signatures(
    store: Store,
    *,
    text: str | None = None,
    version: str | None = None,
    channel: str | None = None,
    group: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[SignatureSummary]:
    """Signatures matching every given filter, most frequent first (in `version` if given).

    `text` matches the title, the exception class or a signature id prefix (case-insensitive);
    `group` keeps signatures with events on a wiki of that group (in `version` if given).
    """
    cols = ", ".join("s." + c for c in _SUMMARY_COLUMNS.split(", "))
    where: list[str] = []
    params: list[object] = []
    if version:
        source = "signature_versions v JOIN signatures s ON s.id = v.signature"
        where.append("v.version = ?")
        params.append(version)
        order = "v.events DESC, s.id"
    else:
        source = "signatures s"
        order = "s.events DESC, s.id"
    if text and text.strip():
        needle = text.strip()
        where.append(
            "(LOWER(s.title) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(s.exc_class, '')) LIKE ? ESCAPE '\\' "
            "OR s.id LIKE ? ESCAPE '\\')"
        )
        like = _like(needle)
        params += [like, like, _like(needle)[1:]]
    if channel:
        where.append("s.channel = ?")
        params.append(channel)
    if group:
        inner = "SELECT 1 FROM counts c JOIN wiki_groups g ON g.wiki = c.wiki WHERE c.signature = s.id AND g.grp = ?"
        params.append(group)
        if version:
            inner += " AND c.version = ?"
            params.append(version)
        where.append(f"EXISTS ({inner})")
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    rows = store.query(
        f"SELECT {cols} FROM {source} {clause} ORDER BY {order} LIMIT ? OFFSET ?",
        [*params, int(limit), int(offset)],
    )
    summaries = [_summary(r) for r in rows]
    _attach_versions(store, summaries)
    return summaries


def channels(store: Store) -> list[str]:
    """Distinct channels, for the filter menu."""
    return [str(r[0]) for r in store.query("SELECT DISTINCT channel FROM signatures ORDER BY channel")]


def versions_seen(store: Store) -> list[str]:
    """Distinct versions with events (for the filter menu, besides the deployed ones)."""
    return [str(r[0]) for r in store.query("SELECT DISTINCT version FROM signature_versions") if r[0]]
