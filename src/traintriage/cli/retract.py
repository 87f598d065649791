"""Audited retractions: `traintriage retract review ID` and `retract deploy-step ID`.

For an operator cleaning up a bad row (a review stored with a wrong value, a deploy step
with a wrong date): nothing is deleted, reads skip the row from then on, and the audit log
names who retracted it and why (services/retractions.py).
"""

from __future__ import annotations

import os

import click

from traintriage.cli.app import group
from traintriage.cli.errors import usage
from traintriage.cli.options import db_option, dump, json_option, open_db


@group()
def retract() -> None:
    """Retract a review or a deploy step (audited; nothing is deleted)."""


def _who(actor: str | None) -> str:
    who = actor or os.environ.get("USER")
    if not who:
        usage("who is retracting? give --as NAME (or set $USER)")
    return who


@retract.command("review")
@click.argument("review_id", type=click.IntRange(min=1))
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@click.option("--as", "actor", help="Who is retracting (default: $USER).")
@db_option
@json_option
def retract_review(review_id: int, reason: str, actor: str | None, db: str | None, as_json: bool) -> None:
    """Retract review REVIEW_ID (see `traintriage reviews SIG`): it stops counting everywhere."""
    from traintriage.services.retractions import retract_review as run

    done = run(open_db(db), review_id, _who(actor), reason)
    if as_json:
        dump(done.to_dict())
        return
    w = done.what
    click.echo(f"retracted review #{review_id} ({w['verdict']} on {w['signature']} by {w['by']})")


@retract.command("deploy-step")
@click.argument("step_id")
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@click.option("--as", "actor", help="Who is retracting (default: $USER).")
@db_option
@json_option
def retract_step(step_id: str, reason: str, actor: str | None, db: str | None, as_json: bool) -> None:
    """Retract deploy step STEP_ID (see `traintriage deploys steps`): the timeline drops it."""
    from traintriage.services.retractions import retract_deploy_step as run

    done = run(open_db(db), step_id, _who(actor), reason)
    if as_json:
        dump(done.to_dict())
        return
    click.echo(f"retracted deploy step {step_id}: {done.what['message']}")


COMMANDS = [retract]
