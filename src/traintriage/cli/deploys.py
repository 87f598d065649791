"""The train's inputs: deployment history (`deploys`, `deploy record`), wiki groups, exposure.

Thin layer over services/train.py: each import is one service call.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from traintriage.cli.app import group
from traintriage.cli.errors import FAILED, usage
from traintriage.cli.options import WHEN, db_option, dump, json_option, now, open_db
from traintriage.core.errors import InvalidInput
from traintriage.core.timeparse import iso
from traintriage.core.vocabulary import STAGES


@group()
def deploys() -> None:
    """Deployment history: import it, list it."""


@deploys.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@db_option
@click.option("--format", "fmt", help="Force a format instead of auto-detecting it per file.")
@json_option
def deploys_import(files: tuple[str, ...], db: str | None, fmt: str | None, as_json: bool) -> None:
    """Import deployment history (wikiversions commit log, SAL, snapshots, CSV/JSON).

    The format is detected per file. Unreadable lines are reported with their
    line numbers; the readable ones are imported. Importing twice is harmless.
    Exit 1 if no file could be read.
    """
    from traintriage.services.train import import_deploys

    store = open_db(db)
    report: list[dict[str, Any]] = []
    failed = 0
    for name in files:
        try:
            result = import_deploys(store, name, fmt)
        except InvalidInput as err:  # this file is unreadable as a whole: say so, go on with the next
            click.echo(f"traintriage: error: {err}", err=True)
            failed += 1
            continue
        for error in result.errors[:20]:
            click.echo(f"{error.source}:{error.line}: {error.reason}: {error.text[:120]!r}", err=True)
        if len(result.errors) > 20:
            click.echo(f"{name}: ... {len(result.errors) - 20} more unreadable lines", err=True)
        report.append(result.to_dict())
    if as_json:
        dump(report)
    else:
        for r in report:
            click.echo(
                f"{r['file']}: {r['format']}: {r['steps']} steps ({r['new']} new), {r['errors']} unreadable lines, "
                f"{r['ignored']} other entries ignored"
            )
    if failed == len(files):
        sys.exit(FAILED)


@deploys.command("list")
@db_option
@click.option("--version", "version", help="Only this train.")
@json_option
def deploys_list(db: str | None, version: str | None, as_json: bool) -> None:
    """Trains with their stages, rollbacks and train-stats numbers."""
    from traintriage.services.train import load_train

    ctx = load_train(open_db(db), infer=False)
    versions = [version] if version else ctx.timeline.versions()
    data = [ctx.timeline.explain(v) for v in versions]
    if as_json:
        dump(data)
        return
    if not data:
        click.echo("no deployments yet; run `traintriage deploys import FILE`")
    for v in versions:
        s = ctx.timeline.stats(v)
        landed = ", ".join(f"{g} {t.strftime('%m-%d %H:%M')}" for g, t in s.landings.items() if t)
        delays = "/".join("-" if d is None else str(d) for d in s.delay_days.values())
        click.echo(
            f"{v:<16} rollbacks {s.rollbacks} ({s.rollbacks_time}s rolled back)  delays g0/g1/g2 {delays}  "
            f"conductor {s.conductor or '?'}"
        )
        click.echo(f"{'':<16} landed: {landed or '-'}")


@deploys.command("steps")
@db_option
@click.option("--version", "version", help="Only steps of this version.")
@json_option
def deploys_steps(db: str | None, version: str | None, as_json: bool) -> None:
    """Stored deploy steps with their ids (for `traintriage retract deploy-step ID`)."""
    from traintriage.store.retractions import deploy_step_rows

    rows = [r for r in deploy_step_rows(open_db(db)) if version is None or r["version"] == version]
    if as_json:
        dump(rows)
        return
    for r in rows:
        state = "  (retracted)" if r["retracted"] else ""
        click.echo(f"{r['id']}  {iso(r['at'])}  {r['message']}  [{r['source']}:{r['line']}]{state}")


@group()
def deploy() -> None:
    """Record a deployment step as it happens (for deploy tools)."""


@deploy.command("record")
@click.option("--version", "version", required=True, help="Version now running, e.g. 1.36.0-wmf.28.")
@click.option(
    "--group", "group_name", required=True, type=click.Choice([*STAGES, "all"]), help="Which wikis."
)
@click.option("--at", "at", type=WHEN, help="When (ISO 8601); default now.")
@click.option("--actor", help="Who deployed.")
@db_option
def deploy_record(version: str, group_name: str, at: float | None, actor: str | None, db: str | None) -> None:
    """Record that GROUP now runs VERSION (a roll-forward or a rollback)."""
    from datetime import UTC, datetime

    from traintriage.services.train import record_deploy

    if actor is not None and ("\n" in actor or "\r" in actor):
        usage("--actor must be a single line")
    when = datetime.fromtimestamp(now() if at is None else at, UTC)
    step = record_deploy(open_db(db), version, group_name, when, actor, source="deploy record")
    click.echo(f"recorded {step.at} {step.message}" + ("" if step.new else " (already recorded)"))


# --- groups / exposure -------------------------------------------------------------------


@group()
def groups() -> None:
    """Wiki group membership (dblists)."""


@groups.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@db_option
def groups_import(directory: str, db: str | None) -> None:
    """Import testwikis/group0/group1/group2(/all).dblist files from DIRECTORY."""
    from traintriage.services.train import import_groups

    counts = import_groups(open_db(db), directory)
    listed = sum(c[0] for c in counts.values())
    click.echo(
        f"imported {directory}: {listed} wikis listed: "
        + ", ".join(f"{g} {c[0]}" for g, c in sorted(counts.items()))
    )


@groups.command("show")
@db_option
@click.option("--infer/--no-infer", default=True, help="Infer groups of wikis no dblist names (default on).")
@json_option
def groups_show(db: str | None, infer: bool, as_json: bool) -> None:
    """Wikis per group, listed (from dblists) and inferred (from events and deploys)."""
    from traintriage.services.train import infer_wiki_groups
    from traintriage.store.trains import membership_counts

    store = open_db(db)
    if infer:
        infer_wiki_groups(store)
    counts = membership_counts(store)
    if as_json:
        dump({g: {"listed": c[0], "inferred": c[1]} for g, c in counts.items()})
        return
    if not counts:
        click.echo("no wiki groups yet; run `traintriage groups import DIRECTORY`")
    for g, (listed, inferred) in sorted(counts.items()):
        click.echo(f"{g:<10} {listed:>5} listed {inferred:>5} inferred")
    if any(c[1] for c in counts.values()):
        click.echo(
            "inferred: from when each wiki's events switched version, matched to the deployment timeline"
        )


@group()
def exposure() -> None:
    """Request counts per hour and version (traffic each version served)."""


@exposure.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@db_option
def exposure_import(file: str, db: str | None) -> None:
    """Import a CSV `hour,group,version,requests` (or `hour,wiki,version,requests`).

    Unreadable lines are reported and skipped; exit 1 if none could be read.
    """
    from traintriage.services.train import import_exposure

    try:
        text = Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        usage(f"{file}: not UTF-8 text ({err})")
    result = import_exposure(open_db(db), text)
    for line, reason in result.errors:
        click.echo(f"{file}:{line}: {reason}", err=True)
    for row, old in result.replaced[:10]:
        click.echo(
            f"replaced {row.scope} {row.name} {row.version} {iso(row.hour * 3600)}: "
            f"{old:,} -> {row.requests:,} requests",
            err=True,
        )
    if len(result.replaced) > 10:
        click.echo(f"... {len(result.replaced) - 10} more hours replaced", err=True)
    replaced = (
        f", {len(result.replaced)} of them replacing different stored counts" if result.replaced else ""
    )
    click.echo(f"imported {result.stored} exposure rows{replaced} ({len(result.errors)} unreadable lines)")
    if not result.stored and result.errors:
        sys.exit(FAILED)


COMMANDS = [deploys, deploy, groups, exposure]
