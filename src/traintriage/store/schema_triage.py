"""Migrations of the triage record (reviews, audit log): version 3."""

from __future__ import annotations

from traintriage.store.schema import Migration

TRIAGE_MIGRATIONS: tuple[Migration, ...] = ()
