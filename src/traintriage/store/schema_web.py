"""Migrations of the web app (users, API tokens, settings): version 4."""

from __future__ import annotations

from traintriage.store.schema import Migration

WEB_MIGRATIONS: tuple[Migration, ...] = ()
