"""The triage meeting as use cases: its agenda for a train, and its minutes afterwards."""

from __future__ import annotations

from traintriage.detect.config import DetectionConfig
from traintriage.report.agenda import Agenda, Minutes, build_agenda, build_minutes
from traintriage.services.blockers import cached_states, linked_tasks
from traintriage.services.ownership import route_many
from traintriage.services.status import train_status
from traintriage.store.db import Store
from traintriage.store.reviews import review_history
from traintriage.triage.owners import OwnersFile

__all__ = ["agenda", "minutes"]


def agenda(
    store: Store,
    version: str,
    at: float,
    *,
    owners: OwnersFile | None = None,
    config: DetectionConfig | None = None,
) -> Agenda:
    """Per team, what the meeting has to decide for `version` as of `at`."""
    decision = train_status(store, version, at, config, owners=owners)
    return build_agenda(decision, linked_tasks(store, at), cached_states(store))


def minutes(
    store: Store,
    version: str,
    since: float,
    until: float,
    *,
    owners: OwnersFile | None = None,
    config: DetectionConfig | None = None,
) -> Minutes:
    """The verdicts recorded for `version` between `since` and `until`, and the decision after."""
    after = train_status(store, version, until, config, owners=owners)
    records = [r for rs in review_history(store).values() for r in rs if since <= r.at <= until]
    ids = sorted({r.signature for r in records})
    titles = {
        str(s): str(t) for s, t in store.query_in("SELECT id, title FROM signatures WHERE id {ids}", ids)
    }
    teams: dict[str, str] = {}
    if owners is not None and ids:
        teams = {s: r.team for s, r in route_many(store, owners, ids).items() if r.team}
    return build_minutes(version, records, since, until, titles=titles, teams=teams, after=after)
