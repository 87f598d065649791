"""Ownership attached to stored signatures: which team owns each, for pages, the CLI and decisions.

The routing itself is pure (triage/owners.py); the facts it needs come from the store
(store/owner_reads.py) in a few chunked queries, not one round trip per signature.
"""

from __future__ import annotations

from collections.abc import Sequence

from traintriage.store.db import Store
from traintriage.store.owner_reads import signature_facts
from traintriage.store.reads import SignatureDetail
from traintriage.triage.owners import OwnersFile, Routing, first_trace, route, signature_paths


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
