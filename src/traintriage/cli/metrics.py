"""Metrics and trends: import backports, per-train figures (CSV/JSON), the backlog, cycle figures."""

from __future__ import annotations

from typing import Any

import click

from traintriage.cli.app import command, group
from traintriage.cli.options import (
    WHEN,
    config_option,
    db_option,
    default_owners,
    dump,
    iso,
    json_option,
    now,
    open_db,
)


@group("backports")
def backports() -> None:
    """Backports (fixes cherry-picked onto a live wmf/<version> branch), for train metrics."""


@backports.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--version", "version", help="The train of every commit (git log without --decorate).")
@db_option
@json_option
def backports_import(path: str, version: str | None, db: str | None, as_json: bool) -> None:
    """Import `git log` output (Bug: footers count as bug fixes) or a CSV list (version,change,...)."""
    from traintriage.services.metrics import import_backports

    store = open_db(db)
    parsed, added = import_backports(store, path, version=version)
    if as_json:
        dump(
            {
                "backports": len(parsed.backports),
                "new": added,
                "bugfixes": sum(1 for b in parsed.backports if b.bugfix),
                "skipped_branch_commits": parsed.skipped,
                "errors": [str(e) for e in parsed.errors],
            }
        )
    else:
        for e in parsed.errors[:20]:
            click.echo(str(e), err=True)
        fixes = sum(1 for b in parsed.backports if b.bugfix)
        click.echo(
            f"{path}: {len(parsed.backports)} backport(s), {fixes} with a Bug: footer, {added} new; "
            f"{parsed.skipped} branch commit(s) skipped, {len(parsed.errors)} unreadable"
        )
    if parsed.errors and not parsed.backports:
        click.get_current_context().exit(1)


@command("trends")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text", show_default=True
)
@click.option(
    "--owners", "owners_path", type=click.Path(dir_okay=False), help="Owners file (new errors per team)."
)
@click.option(
    "--deploys-only", is_flag=True, help="Skip the replay of flagged errors (fast; deploy figures only)."
)
@config_option
@db_option
def trends(fmt: str, owners_path: str | None, deploys_only: bool, config: Any, db: str | None) -> None:
    """Per train: rollbacks and time rolled back, delays, backports, blockers, new errors per team,
    reviewed in time, time to first review (median, p90). Oldest first."""
    from traintriage.report.metrics import rows_csv
    from traintriage.services.metrics import train_rows

    owners = default_owners(owners_path)
    store = open_db(db)
    rows = train_rows(store, owners=owners, config=config, errors=not deploys_only)
    if fmt == "csv":
        click.echo(rows_csv(rows), nl=False)
        return
    if fmt == "json":
        dump([r.to_dict() for r in rows])
        return
    if not rows:
        click.echo("no trains yet: import a deploy log (`traintriage deploys import`)")
        return
    click.echo(
        f"{'version':<16} {'start':<10} {'rb':>3} {'rolled back':>12} {'delays':>8} {'bp':>4} {'blk':>4} {'new':>4} {'in time':>8} {'ttfr med':>9} {'p90':>9}"
    )
    for r in rows:
        delays = "/".join("-" if d is None else str(d) for d in r.delays.values())
        cov = f"{r.reviewed_in_time}/{r.new_errors}" if r.new_errors else "-"
        click.echo(
            f"{r.version:<16} {iso(r.first_deploy)[:10]:<10} {r.rollbacks:>3} {_dur(r.rollback_seconds):>12} {delays:>8} "
            f"{r.backports:>4} {('-' if r.blockers is None else r.blockers):>4} {r.new_errors:>4} {cov:>8} "
            f"{_dur(r.ttfr_median):>9} {_dur(r.ttfr_p90):>9}"
        )


def _dur(seconds: float | None) -> str:
    from traintriage.report.text import duration

    return duration(seconds)


@command("backlog")
@click.option("--at", "at", type=WHEN, help="As of this time (default now).")
@click.option("--owners", "owners_path", type=click.Path(dir_okay=False), help="Owners file (teams).")
@click.option(
    "--active-days",
    default=30,
    show_default=True,
    type=click.IntRange(1, 365),
    help="Seen within this many days.",
)
@db_option
@json_option
def backlog(
    at: float | None, owners_path: str | None, active_days: int, db: str | None, as_json: bool
) -> None:
    """Open errors (still occurring, not resolved by a review or a resolved task) by team and age."""
    from traintriage.report.metrics import AGE_BUCKETS
    from traintriage.report.text import clean
    from traintriage.services.metrics import open_backlog

    owners = default_owners(owners_path)
    store = open_db(db)
    b = open_backlog(store, now=now() if at is None else at, owners=owners, active_days=active_days)
    if as_json:
        dump(b.to_dict())
        return
    names = [n for n, _ in AGE_BUCKETS]
    click.echo(f"open errors: {b.total}")
    click.echo(f"{'team':<28}" + "".join(f"{n:>13}" for n in names))
    for team, counts in b.by_team.items():
        click.echo(f"{clean(team, 27):<28}" + "".join(f"{counts[n]:>13}" for n in names))
    if b.over_a_year:
        click.echo(f"\nover a year old ({len(b.over_a_year)}):")
        for i in b.over_a_year[:30]:
            click.echo(
                f"  {i.signature[:8]} since {iso(i.first_seen)[:10]} {clean(i.team, 30)} [{i.state}] {clean(i.title, 80)}"
            )


@command("cycle")
@click.option("--start", type=WHEN, help="First day of the window (default: the first train's start).")
@click.option("--weeks", default=30, show_default=True, type=click.IntRange(1, 520))
@db_option
@json_option
def cycle_cmd(start: float | None, weeks: int, db: str | None, as_json: bool) -> None:
    """Versions, backports and rollbacks of the trains started in a window of weeks."""
    from traintriage.services.metrics import cycle_figures, train_rows

    store = open_db(db)
    if start is None:
        rows = train_rows(store, errors=False)
        firsts = [r.first_deploy for r in rows if r.first_deploy is not None]
        start = min(firsts) if firsts else now()
    fig = cycle_figures(store, start, weeks)
    if as_json:
        dump(fig.to_dict())
        return
    click.echo(
        f"{iso(fig.start)[:10]} .. {iso(fig.end)[:10]} ({weeks} weeks): {len(fig.versions)} versions "
        f"({fig.shipped} reached every wiki), {fig.rollbacks} rollbacks ({_dur(fig.rollback_seconds)} rolled back), "
        f"{fig.backports} backports ({fig.bugfix_backports} with a Bug: footer)"
    )


COMMANDS = [backports, trends, backlog, cycle_cmd]
