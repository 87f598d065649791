"""Triage commands: review a signature, read its history and the audit log, coverage.

Thin Click layer over services/reviews.py (a review is one transaction), store/reviews.py
(reading the record) and triage/ (rules in docs/triage.md).
Invalid input (unknown verdict, bad task) is a usage error (exit 64); an unknown
signature exits 66 (cli/errors.py).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import click

from traintriage.cli.app import command
from traintriage.cli.errors import usage
from traintriage.cli.options import WHEN, db_option, default_owners, dump, iso, json_option, open_db


def _resolve(store: Any, signature: str) -> str:
    from traintriage.store.reads import resolve_signature

    return resolve_signature(store, signature)


# --- review ------------------------------------------------------------------------------


@command("review")
@click.argument("signature")
@click.option(
    "--verdict",
    help="blocker, not-blocker, known, expected, 'duplicate-of SIGNATURE', 'fixed-in VERSION-OR-CHANGE', needs-info.",
)
@click.option(
    "--version",
    "version",
    help="The version the verdict is given in (default: the newest the signature was seen in).",
)
@click.option("--task", "tasks", multiple=True, help="Link a task: T123456 or an http(s) URL (repeatable).")
@click.option("--note", help="Free text kept with the record.")
@click.option("--assignee", help="Who follows this signature up ('' unassigns).")
@click.option(
    "--mute-until", "mute_until", type=WHEN, help="Mute until this date/time (listing and notifications)."
)
@click.option("--mute-until-escalates", is_flag=True, help="Mute until it is LOGSPAM or REGRESSED again.")
@click.option("--unmute", is_flag=True, help="Clear the mute.")
@click.option("--as", "actor", help="Who is reviewing (default: $USER).")
@click.option("--at", "at", type=WHEN, help="When it was decided (default now; for importing past triage).")
@db_option
@json_option
def review(
    signature: str,
    verdict: str | None,
    version: str | None,
    tasks: tuple[str, ...],
    note: str | None,
    assignee: str | None,
    mute_until: float | None,
    mute_until_escalates: bool,
    unmute: bool,
    actor: str | None,
    at: float | None,
    db: str | None,
    as_json: bool,
) -> None:
    """Record a verdict on SIGNATURE (an id or a unique prefix), or change its assignee,
    tasks, notes or mute without a new verdict.

    A verdict applies to its version and later ones, until a later version flags the
    signature NEW or REGRESSED again. Every change goes to the audit log.
    """
    from traintriage.services.reviews import ReviewChange, record_review

    who = actor or os.environ.get("USER")
    if not who:
        usage("who is reviewing? give --as NAME (or set $USER)")
    change = ReviewChange(
        signature=signature,
        actor=who,
        verdict=verdict,
        version=version,
        tasks=tasks,
        note=note,
        assignee=assignee,
        mute_until=mute_until,
        mute_until_escalates=mute_until_escalates,
        unmute=unmute,
        at=at,
    )
    change.check()  # a refused combination is a usage error before the store is opened
    store = open_db(db)
    outcome = record_review(store, dataclasses.replace(change, signature=_resolve(store, signature)))
    sig, state, out = outcome.signature, outcome.state, outcome.to_dict()
    if as_json:
        dump(out)
        return
    if "review" in out:
        r = out["review"]
        scope = f"{r['version']} and later" if r["version"] else "every version"
        target = f" {r['target']}" if r["target"] else ""
        click.echo(f"review #{r['id']}: {sig} {r['verdict']}{target} for {scope}, by {r['reviewer']}")
    else:
        click.echo(f"updated {sig}")
    click.echo("  " + _state_line(state))


def _state_line(state: Any) -> str:
    parts = [f"assignee {state.assignee or '-'}", f"tasks {', '.join(state.tasks) or '-'}"]
    if state.mute_until is not None:
        parts.append(f"muted until {iso(state.mute_until)}")
    if state.mute_until_escalates:
        parts.append("muted until it escalates")
    return "  ".join(parts)


# --- reviews (history) -------------------------------------------------------------------


@command("reviews")
@click.argument("signature", required=False)
@db_option
@json_option
def reviews_cmd(signature: str | None, db: str | None, as_json: bool) -> None:
    """Review history (newest first) with assignee, tasks and mute, of SIGNATURE or of all."""
    from traintriage.store.reviews import review_history, triage_state

    store = open_db(db)
    ids = [_resolve(store, signature)] if signature else None
    history = review_history(store, ids)
    states = triage_state(store, ids)
    signatures = sorted(set(history) | set(states)) if ids is None else ids
    if as_json:
        dump(
            {
                s: {
                    "state": states[s].to_dict() if s in states else None,
                    "reviews": [r.to_dict() for r in history.get(s, [])],
                }
                for s in signatures
            }
        )
        return
    if not signatures or not any(history.get(s) or s in states for s in signatures):
        click.echo("no reviews yet; record one with `traintriage review SIGNATURE --verdict ...`")
        return
    for s in signatures:
        click.echo(s + ("  " + _state_line(states[s]) if s in states else ""))
        for r in history.get(s, []):
            scope = f"{r.version} on" if r.version else "all versions"
            target = f" {r.target}" if r.target else ""
            extra = "".join(
                [
                    f"  {', '.join(r.tasks)}" if r.tasks else "",
                    f"  → {r.assignee}" if r.assignee else "",
                    f"  “{r.note}”" if r.note else "",
                ]
            )
            click.echo(f"  #{r.id:<5} {iso(r.at)}  {r.verdict}{target}  ({scope})  by {r.reviewer}{extra}")


# --- audit -------------------------------------------------------------------------------


@command("audit")
@click.option("--signature", help="Only changes to this signature (id or unique prefix).")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(min=1))
@db_option
@json_option
def audit_cmd(signature: str | None, limit: int, db: str | None, as_json: bool) -> None:
    """Every triage change, newest first: what, to which signature, by whom, when."""
    from traintriage.store.reviews import audit_log

    store = open_db(db)
    sig = _resolve(store, signature) if signature else None
    entries = audit_log(store, signature=sig, limit=limit)
    if as_json:
        dump([e.to_dict() for e in entries])
        return
    if not entries:
        click.echo("no triage changes yet")
        return
    for e in entries:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(e.detail.items()) if v not in (None, "", []))
        click.echo(f"#{e.id:<6} {iso(e.at)}  {e.actor:<12} {e.action:<17} {e.signature or '-'}  {detail}")


# --- coverage ----------------------------------------------------------------------------


def _owner_lookup(store: Any, owners: Any, ids: list[str]) -> Any:
    """Team per signature from the owners file; without one, every signature is unowned."""
    from traintriage.services.ownership import route_many

    if owners is None or not ids:
        return lambda _signature: None
    routes = route_many(store, owners, ids)

    def owner_of(signature: str) -> str | None:
        route = routes.get(signature)
        return route.team if route is not None else None

    return owner_of


@command("coverage")
@click.argument("version", required=False)
@click.option(
    "--owners",
    "owners_file",
    type=click.Path(dir_okay=False),
    help="Ownership rules file (default: $TRAINTRIAGE_OWNERS or ./OWNERS).",
)
@db_option
@json_option
def coverage_cmd(version: str | None, owners_file: str | None, db: str | None, as_json: bool) -> None:
    """Triage coverage per train and team: share of NEW/REGRESSED signatures reviewed
    before the next promotion, and the median time from first seen to first review."""
    from traintriage.core.versions import version_key
    from traintriage.services.coverage import train_flags
    from traintriage.services.train import load_train
    from traintriage.store.reviews import review_history
    from traintriage.triage.reviews import coverage

    owners = default_owners(owners_file)
    store = open_db(db)
    ctx = load_train(store)
    versions = [version] if version else ctx.timeline.versions()
    flags = [train_flags(store, v, context=ctx) for v in versions]
    ids = sorted({f.signature for t in flags for f in t.flagged})
    owner_of = _owner_lookup(store, owners, ids)
    history = review_history(store, ids) if ids else {}
    rows = coverage(flags, history, owner_of, version_key)
    if as_json:
        dump([r.to_dict() for r in rows])
        return
    if not rows:
        what = f"version {version}" if version else "any train"
        click.echo(f"nothing flagged before a promotion in {what} (or no deployments imported)")
        return
    click.echo(
        f"{'version':<18} {'team':<20} {'flagged':>7} {'reviewed in time':>16} {'share':>6}  median to 1st review"
    )
    for r in rows:
        median = r.median_time_to_first_review_seconds
        click.echo(
            f"{r.version:<18} {r.team:<20} {r.flagged:>7} {r.reviewed_before_next_promotion:>16} "
            f"{r.share:>6.0%}  {_duration(median) if median is not None else '-'}"
        )
        if r.unreviewed:
            more = f" (+{len(r.unreviewed) - 8} more)" if len(r.unreviewed) > 8 else ""
            click.echo(f"{'':<18} not reviewed in time: {', '.join(r.unreviewed[:8])}{more}")


def _duration(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{hours}h{mins:02d}m"


COMMANDS = [review, reviews_cmd, audit_cmd, coverage_cmd]
