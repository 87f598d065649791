"""Migrations of the triage record (reviews, audit log): version 3.

Both tables are append-only (store/reviews.py never updates or deletes a row): a new
review supersedes the older ones, and assignee, task links, mutes and notes are audit
events whose current value is folded from the log. Ids are assigned by the writer
under a lock (no AUTOINCREMENT/IDENTITY: the two dialects share one statement list).
"""

from __future__ import annotations

from traintriage.store.schema import Migration

TRIAGE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        3,
        "triage: reviews (verdicts per signature and version), audit log",
        (
            """CREATE TABLE reviews (
                id {BIGINT} PRIMARY KEY,
                signature TEXT NOT NULL,
                version TEXT,
                verdict TEXT NOT NULL,
                target TEXT,
                assignee TEXT,
                note TEXT,
                tasks TEXT NOT NULL,
                mute_until {REAL},
                mute_until_escalates INTEGER NOT NULL,
                reviewer TEXT NOT NULL,
                at {REAL} NOT NULL
            )""",
            "CREATE INDEX reviews_signature ON reviews (signature, at)",
            """CREATE TABLE audit_log (
                id {BIGINT} PRIMARY KEY,
                at {REAL} NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                signature TEXT,
                detail TEXT NOT NULL
            )""",
            "CREATE INDEX audit_log_signature ON audit_log (signature, id)",
            "CREATE INDEX audit_log_action ON audit_log (action, at)",
        ),
    ),
)
