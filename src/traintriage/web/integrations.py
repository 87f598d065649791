"""Optional collaborators of the web app: the triage record (reviews, audit log) and
ownership routing. Each is imported when present; without them the app still runs
(read-only for reviews, every signature "unowned")."""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType
from typing import Any

from traintriage.core.vocabulary import VERDICTS

FALLBACK_VERDICTS: tuple[str, ...] = VERDICTS


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def reviews() -> ModuleType | None:
    """traintriage.store.reviews (add_review, review_history, audit_log, link_task, ...)."""
    return _module("traintriage.store.reviews")


def triage() -> ModuleType | None:
    return _module("traintriage.triage.reviews")


def verdicts() -> tuple[str, ...]:
    mod = triage()
    found = getattr(mod, "VERDICTS", None) if mod else None
    return tuple(found) if found else FALLBACK_VERDICTS


NEEDS_TARGET = ("duplicate-of", "fixed-in")
"""Verdicts that take a target (a signature id, a version or change)."""


def as_dict(record: Any) -> dict[str, Any]:
    """JSON-ready form of a record from the triage or ownership modules."""
    if record is None:
        return {}
    if hasattr(record, "to_dict"):
        return dict(record.to_dict())
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return dataclasses.asdict(record)
    if isinstance(record, dict):
        return dict(record)
    return {"value": str(record)}
