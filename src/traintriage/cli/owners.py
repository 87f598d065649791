"""Owners commands: check an owners file against the stored signatures, explain one routing.

Thin Click layer over traintriage.triage.owners (pure) and store/owner_reads.py (SQL).
Exit codes: 0 file valid, 1 some line invalid (the valid ones are still applied and
shown), 64 the file could not be read at all, 66 no such signature (cli/errors.py).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from traintriage.cli.app import group
from traintriage.cli.errors import FAILED, OK, usage
from traintriage.cli.options import db_option, dump, json_option, load_owners, one_line, open_db
from traintriage.core.vocabulary import UNOWNED as UNOWNED_TEAM

UNOWNED = UNOWNED_TEAM.upper()  # shouted in text reports so it stands out


@group()
def owners() -> None:
    """Who owns an error: check an owners file, show how a signature is routed (docs/owners.md)."""


def _database_present(db: str | None) -> bool:
    """Checking a file must not create ./traintriage.db as a side effect."""
    from traintriage.store.db import resolve_url

    url = resolve_url(db)
    if url.startswith(("postgresql://", "postgres://")):
        return True
    return Path(url.removeprefix("sqlite:///").removeprefix("sqlite://")).is_file()


def _summary_line(owners_file: Any) -> str:
    counts = ", ".join(f"{n} {kind}" for kind, n in owners_file.counts().items() if n)
    errors = len(owners_file.errors)
    return (
        f"{owners_file.source}: {len(owners_file.rules)} rules ({counts or 'none'}), "
        f"{errors} invalid line{'' if errors == 1 else 's'}"
    )


# --- check ------------------------------------------------------------------------------


@owners.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@db_option
@click.option("--top", default=3, show_default=True, help="Titles shown per team (unowned: all).")
@json_option(help="Print [{signature, title, team, project, matched, candidates, ...}] for every signature.")
def owners_check(file: str, db: str | None, top: int, as_json: bool) -> None:
    """Validate an owners FILE, then show where it routes the stored signatures.

    Invalid lines are reported as FILE:LINE: reason on stderr (exit 1); the
    valid lines are still applied. Per team: signatures, events and the top
    titles; every unowned signature is listed.
    """
    owners_file = load_owners(file)
    for line in owners_file.error_lines():
        click.echo(line, err=True)
    rows, routings = _route_stored(db, owners_file, quiet=as_json)
    if as_json:
        dump([_json_row(sig, title, routings[sig]) for sig, title, _channel, _events in rows])
    else:
        click.echo(_summary_line(owners_file))
        if rows:
            _print_teams(rows, routings, top)
    sys.exit(FAILED if owners_file.errors else OK)


def _route_stored(db: str | None, owners_file: Any, quiet: bool) -> tuple[list[Any], dict[str, Any]]:
    """Every stored signature (most events first) and its routing; nothing if there is no database."""
    from traintriage.services.ownership import route_many
    from traintriage.store.db import resolve_url
    from traintriage.store.owner_reads import signatures_by_events

    if not _database_present(db):
        if not quiet:
            click.echo(f"no database at {resolve_url(db)}: only the file was checked (use --db)", err=True)
        return [], {}
    store = open_db(db)
    rows = signatures_by_events(store)
    routings = route_many(store, owners_file, [r[0] for r in rows])
    if not rows and not quiet:
        click.echo("no signatures in the database yet: nothing to route (run `traintriage ingest`)", err=True)
    return rows, routings


def _json_row(sig: str, title: str, routing: Any) -> dict[str, Any]:
    return {"signature": sig, "title": title, **routing.to_dict()}


def _print_teams(rows: list[Any], routings: dict[str, Any], top: int) -> None:
    from traintriage.triage.owners import group_by_team

    info = {sig: (title, channel, events) for sig, title, channel, events in rows}
    teams = group_by_team(routings, [r[0] for r in rows])
    owned = sorted((t for t in teams if t is not None), key=lambda t: (-len(teams[t]), t))
    total = sum(len(v) for v in teams.values())
    unowned = teams.get(None, [])
    click.echo(
        f"\nrouted {total:,} signatures: {total - len(unowned):,} owned by {len(owned)} teams, {len(unowned):,} unowned"
    )
    for team in owned:
        sigs = teams[team]
        tags = _top_projects([routings[s].project for s in sigs])
        events = sum(info[s][2] for s in sigs)
        click.echo(f"\n{team}{tags}: {len(sigs):,} signatures, {events:,} events")
        for sig in sigs[:top]:
            _print_signature(sig, info[sig], routings[sig].matched)
        if len(sigs) > top:
            click.echo(f"    ... {len(sigs) - top:,} more")
    events = sum(info[s][2] for s in unowned)
    click.echo(f"\n{UNOWNED}: {len(unowned):,} signatures, {events:,} events")
    for sig in unowned:
        _print_signature(sig, info[sig], None)


def _top_projects(projects: list[str | None], shown: int = 3) -> str:
    """The team's most used project tags, so the header stays one line."""
    counts = Counter(p for p in projects if p)
    ranked = [f"#{p}" for p, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    more = f" +{len(ranked) - shown} more" if len(ranked) > shown else ""
    return ("  " + " ".join(ranked[:shown]) + more) if ranked else ""


def _print_signature(sig: str, info: tuple[str, str, int], matched: str | None) -> None:
    title, channel, events = info
    click.echo(f"  {sig}  {events:>10,}  [{channel}] {one_line(title, 90)}")
    if matched:
        click.echo(f"  {'':16}  {'':>10}  via {matched}")


# --- show -------------------------------------------------------------------------------


@owners.command("show")
@click.argument("signature")
@click.option(
    "--owners",
    "owners_path",
    type=click.Path(dir_okay=False),
    help="Owners file (default: $TRAINTRIAGE_OWNERS, else ./OWNERS).",
)
@db_option
@json_option
def owners_show(signature: str, owners_path: str | None, db: str | None, as_json: bool) -> None:
    """Every candidate tried for one SIGNATURE, in order, and which rule won."""
    from traintriage.services.ownership import owner_of_signature
    from traintriage.store.reads import resolve_signature, signature_detail
    from traintriage.triage.owners import default_owners_path

    path = owners_path or default_owners_path()
    if path is None:
        usage("no owners file: pass --owners FILE, set $TRAINTRIAGE_OWNERS, or create ./OWNERS")
    owners_file = load_owners(path)
    for line in owners_file.error_lines():
        click.echo(f"warning: {line} (line ignored)", err=True)
    store = open_db(db)
    detail = signature_detail(store, resolve_signature(store, signature))
    routing = owner_of_signature(owners_file, detail)
    if as_json:
        dump({"signature": detail.summary.id, "title": detail.summary.title, **routing.to_dict()})
        return
    _print_routing(detail, owners_file, routing)


def _print_routing(detail: Any, owners_file: Any, routing: Any) -> None:
    s = detail.summary
    click.echo(f"signature {s.id}  [{s.channel}] {one_line(s.title, 100)}")
    click.echo(f"owners    {owners_file.source} ({len(owners_file.rules)} rules)")
    if routing.owned:
        tag = f"  #{routing.project}" if routing.project else ""
        click.echo(f"owner     {routing.team}{tag}")
        click.echo(f"          by {routing.rule.describe()}, matched {routing.matched}")
    else:
        click.echo(f"owner     {UNOWNED}: no rule gave a team to any of {len(routing.candidates)} candidates")
    click.echo(
        "\ncandidates (throw site, in-app frames, the earliest sample's trace down the stack, "
        "then class, then channel; the first with a team wins):"
    )
    from traintriage.triage.owners import rule_for

    width = min(max((len(what) for what, _ in routing.candidates), default=0), 90)
    for what, team in routing.candidates:
        mark = "=>" if routing.owned and what == routing.matched else "  "
        rule = rule_for(owners_file, what)
        why = f"line {rule.line}: {rule.matcher}" if rule else "no rule"
        click.echo(f"  {mark} {one_line(what, 90):<{width}}  {team or '-':<24}  ({why})")


COMMANDS = [owners]
