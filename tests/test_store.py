"""Store plumbing shared by every query: id lists (`query_in`) on both backends."""

from __future__ import annotations

from traintriage.store.db import IN_CHUNK, Store


def test_query_in_covers_long_id_lists_with_parameters_around_them(store: Store) -> None:
    rows = [(f"k{i:05d}", "even" if i % 2 == 0 else "odd") for i in range(3 * IN_CHUNK)]
    with store.transaction() as cur:
        cur.executemany(store.sql("INSERT INTO settings (key, value) VALUES (?, ?)"), rows)
    wanted = [key for key, _ in rows[::3]] + ["missing"]  # 500 ids across every chunk, one unknown
    found = store.query_in(
        "SELECT key FROM settings WHERE value = ? AND key {ids} AND key <> ? ORDER BY key",
        wanted,
        before=["even"],
        after=["k00000"],
    )
    expected = sorted(k for k, v in rows[::3] if v == "even" and k != "k00000")
    assert [r[0] for r in found] == expected and len(expected) == IN_CHUNK // 2 - 1
    assert store.query_in("SELECT key FROM settings WHERE key {ids}", []) == []
    assert store.existing_signatures(["nope"]) == set()
