"""Optional collaborators of the web app: the triage record (reviews, audit log) and
ownership routing. Each is imported when present; without them the app still runs
(read-only for reviews, every signature "unowned")."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from traintriage.core.vocabulary import VERDICTS
from traintriage.store.db import Store

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


# --- ownership ---------------------------------------------------------------------------


class Ownership:
    """Loaded ownership rules (or none) and routing of signatures to teams."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.rules: Any = None
        self.error: str | None = None
        owners = _module("traintriage.triage.owners")
        if owners is None:
            return
        if path is None and hasattr(owners, "default_owners_path"):
            default = owners.default_owners_path()
            path = str(default) if default else None
            self.path = path
        if path:
            try:
                self.rules = owners.load_owners(path)
            except Exception as err:  # noqa: BLE001 - a broken file must not stop the server
                self.error = f"{path}: {err}"

    @property
    def available(self) -> bool:
        return self.rules is not None

    def route(self, store: Store, ids: Iterable[str]) -> dict[str, Any]:
        """signature -> Routing (with .team, .project, .candidates); empty without rules."""
        ids = list(dict.fromkeys(ids))
        if not self.available or not ids:
            return {}
        mod = _module("traintriage.services.ownership")
        if mod is None or not hasattr(mod, "route_many"):
            return {}
        return dict(mod.route_many(store, self.rules, ids))

    def teams(self) -> list[str]:
        """Every team the rules name (for the team menus)."""
        rules = getattr(self.rules, "rules", None) or ()
        return sorted({str(r.owner) for r in rules if getattr(r, "owner", None)})


def team_of(routing: Any) -> str | None:
    team = getattr(routing, "team", None) if routing is not None else None
    return str(team) if team else None
