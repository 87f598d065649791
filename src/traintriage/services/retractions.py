"""Retract a review or a deploy step (an operator's audited correction; nothing is deleted).

The CLI (`traintriage retract review|deploy-step`) and the API (admin) call these; the
rows stay, reads skip them, and the audit log says who retracted what and why
(store/retractions.py).
"""

from __future__ import annotations

from traintriage.core.errors import InvalidInput
from traintriage.store import retractions
from traintriage.store.db import Store
from traintriage.store.retractions import Retraction
from traintriage.triage.reviews import MAX_NAME, MAX_NOTE, check_text


def _checked(actor: str, reason: str) -> tuple[str, str]:
    who = check_text(actor, "actor", MAX_NAME)
    why = check_text(reason, "reason", MAX_NOTE, multiline=True)
    if not who:
        raise InvalidInput("who is retracting? (an actor name is required)")
    if not why:
        raise InvalidInput("say why (a reason is required: it goes to the audit log)")
    return who, why


def retract_review(store: Store, review_id: int, actor: str, reason: str) -> Retraction:
    """The review stops counting everywhere (decisions, pages, coverage); its row stays."""
    who, why = _checked(actor, reason)
    return retractions.retract_review(store, review_id, who, why)


def retract_deploy_step(store: Store, step_id: str, actor: str, reason: str) -> Retraction:
    """The step leaves the timeline (stages, promotions, rollbacks); its row stays."""
    who, why = _checked(actor, reason)
    return retractions.retract_deploy_step(store, step_id.strip().lower(), who, why)
