"""Ownership attached to stored signatures: which team owns each, for pages, the CLI and decisions.

The routing itself is pure (triage/owners.py); the facts it needs come from the store
(store/owner_reads.py) in a few queries, not one round trip per signature. An owners file
is loaded once by whoever starts (`Ownership.load`, the CLI's `--owners`), then passed in:
nothing here reads it again per request.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from traintriage.detect.decision import Decision
from traintriage.store.db import Store
from traintriage.store.owner_reads import signature_facts
from traintriage.store.reads import SignatureDetail
from traintriage.triage.owners import (
    OwnersError,
    OwnersFile,
    Routing,
    default_owners_path,
    first_trace,
    load_owners,
    route,
    signature_paths,
)


def route_many(store: Store, owners: OwnersFile, signature_ids: Sequence[str]) -> dict[str, Routing]:
    """Routing per signature id; ids not in the store are left out of the result."""
    out: dict[str, Routing] = {}
    for sig, facts in signature_facts(store, signature_ids).items():
        paths = signature_paths(facts.explanation, [facts.trace] if facts.trace else [])
        out[sig] = route(owners, paths=paths, channel=facts.channel, exc_class=facts.exc_class)
    return out


def owner_of_signature(owners: OwnersFile, detail: SignatureDetail) -> Routing:
    """Route one stored signature by its explanation and earliest sample (what `owners show` prints)."""
    trace = first_trace(detail.samples)
    paths = signature_paths(detail.explanation, [trace] if trace else [])
    return route(owners, paths=paths, channel=detail.summary.channel, exc_class=detail.summary.exc_class)


def with_owners(store: Store, decision: Decision, owners: OwnersFile) -> Decision:
    """The decision with each listed signature's owner ({team, project, matched}) and the teams
    to ping: those owning what blocks or waits for triage."""
    entries = decision.classification.entries
    routing = route_many(store, owners, [e.signature for e in entries])
    found = {sig: {"team": r.team, "project": r.project, "matched": r.matched} for sig, r in routing.items()}
    waiting = [
        e.signature
        for e in entries
        if e.signature in decision.blocking or (e.flagged and e.signature not in decision.reviews)
    ]
    ping = sorted({str(found[s]["team"]) for s in waiting if s in found and found[s]["team"]})
    return dataclasses.replace(decision, owners=found, owners_to_ping=tuple(ping))


@dataclass(frozen=True)
class Ownership:
    """The owners file a long-running front end (the web app) loaded at start, or none.

    A broken file does not stop the server: `error` says why and every signature is unowned.
    """

    rules: OwnersFile | None = None
    path: str | None = None
    error: str | None = None

    @classmethod
    def load(cls, path: str | None) -> Ownership:
        """The file at `path`, else $TRAINTRIAGE_OWNERS or ./OWNERS when there is one."""
        path = path or default_owners_path()
        if not path:
            return cls()
        try:
            return cls(load_owners(path), path)
        except OwnersError as err:
            return cls(None, path, str(err))

    @property
    def available(self) -> bool:
        return self.rules is not None

    def route(self, store: Store, ids: Iterable[str]) -> dict[str, Routing]:
        """signature -> Routing; empty without rules."""
        wanted = list(dict.fromkeys(ids))
        if self.rules is None or not wanted:
            return {}
        return route_many(store, self.rules, wanted)

    def team(self, store: Store, signature: str) -> str | None:
        found = self.route(store, [signature]).get(signature)
        return found.team if found is not None else None

    def teams(self) -> list[str]:
        """Every team the rules name (for the team menus)."""
        rules = self.rules.rules if self.rules is not None else ()
        return sorted({r.owner for r in rules if r.owner})
