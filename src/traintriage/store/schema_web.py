"""Migrations of the web app (users, API tokens, settings): version 4.

* `users`: a role (viewer, developer, deployer, admin), an optional team (the default
  queue), and an scrypt password hash (`scrypt$n$r$p$salt$hash`, NULL: no password login).
* `api_tokens`: only the sha256 of a token is stored; `prefix` (the first characters)
  lets a user tell tokens apart; `scopes` is a comma-separated subset of
  read, review, ingest, admin.
* `settings`: small key/value pairs, e.g. the session secret generated on first start.
"""

from __future__ import annotations

from traintriage.store.schema import Migration

WEB_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        4,
        "web: users, API tokens, settings",
        (
            """CREATE TABLE users (
                name TEXT PRIMARY KEY,
                role TEXT NOT NULL,
                team TEXT,
                password_hash TEXT,
                created_at {REAL} NOT NULL,
                disabled INTEGER NOT NULL DEFAULT 0
            )""",
            """CREATE TABLE api_tokens (
                id TEXT PRIMARY KEY,
                user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
                digest TEXT NOT NULL UNIQUE,
                prefix TEXT NOT NULL,
                scopes TEXT NOT NULL,
                label TEXT NOT NULL,
                created_at {REAL} NOT NULL,
                last_used_at {REAL},
                revoked INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX api_tokens_user ON api_tokens (user_name)",
            """CREATE TABLE settings (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            )""",
        ),
    ),
)
