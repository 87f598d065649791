"""`train status` and the stage `gate`: the decision for a version, for people and deploy tools.

The gate's exit code is its answer: 0 go, 1 no-go, 2 inconclusive. Anything that is
not an answer exits 64 or above (cli/errors.py), so a deploy tool never reads a typo
or a crash as a decision.
"""

from __future__ import annotations

from typing import Any

import click

from traintriage.cli.app import group
from traintriage.cli.errors import EX_SOFTWARE, EX_USAGE, Failed, usage
from traintriage.cli.options import (
    DURATION,
    WHEN,
    config_option,
    db_option,
    default_owners,
    dump,
    json_option,
    now,
    one_line,
    open_db,
)
from traintriage.core.vocabulary import STAGES


@group()
def train() -> None:
    """The train: status and decision for a version."""


@train.command("status")
@click.argument("version")
@click.option(
    "--at",
    "at",
    type=WHEN,
    help="Evaluate as of this time (ISO 8601, e.g. 2021-01-19T11:24:00Z); default now.",
)
@db_option
@config_option
@click.option(
    "--owners",
    "owners_path",
    type=click.Path(dir_okay=False),
    help="Owners file (default: $TRAINTRIAGE_OWNERS or ./OWNERS).",
)
@json_option(help="The stable JSON schema of docs/detection.md.")
def train_status_cmd(
    version: str, at: float | None, db: str | None, config: Any, owners_path: str | None, as_json: bool
) -> None:
    """Stage reached, next step, verdict, the rule that decided it and the evidence."""
    from traintriage.services.status import train_status
    from traintriage.services.train import load_train

    owners = default_owners(owners_path)
    store = open_db(db)
    context = load_train(store)
    when = now() if at is None else at
    decision = train_status(store, version, when, config, context=context, owners=owners)
    if as_json:
        dump(decision.to_dict())
        return
    _print_decision(decision)
    inferred = context.inferred_wikis
    if inferred:
        click.echo(
            f"\nnote: the groups of {inferred} wikis were inferred from when their events switched version "
            "(`traintriage groups show`; import dblists to be sure)"
        )


def _print_decision(decision: Any) -> None:
    d = decision.to_dict()
    click.echo(
        f"{d['version']} as of {d['at']}: stage {d['stage'] or 'not deployed'}, next {d['next_stage'] or '-'}"
    )
    rule = next((r for r in d["rules"] if r["id"] == d["rule"]), None)
    click.echo(f"verdict: {d['verdict'].upper()}  (rule {d['rule']}: {rule['description'] if rule else ''})")
    if rule and rule.get("detail"):
        click.echo(f"         {rule['detail']}")
    for key in ("new", "regressed", "logspam", "deprecation", "single_host", "fixed"):
        entries = d[key]
        if not entries:
            continue
        click.echo(f"\n{key.upper().replace('_', '-')} ({len(entries)}):")
        for e in entries[:15]:
            counts = " ".join(
                f"{g}:{c['candidate_requests']}/{c['baseline_requests']}" for g, c in e["counts"].items()
            )
            review = (
                f"{e['review']['verdict']} by {e['review']['reviewer']}" if e.get("review") else "untriaged"
            )
            owner = "" if e.get("owner") is None else (e["owner"].get("team") or "unowned")
            click.echo(f"  {e['signature']}  [{e['channel']}] {one_line(e['title'], 80)}")
            click.echo(
                f"  {'':16}  requests {counts}  wikis {e['wikis']}  first seen {e['first_seen']}  {owner}  {review}"
            )
        if len(entries) > 15:
            click.echo(f"  ... {len(entries) - 15} more (use --json)")
    if d.get("owners_to_ping"):
        click.echo("\nping: " + ", ".join(d["owners_to_ping"]))


GATE_HELP = f"""Stage gate for deploy tools: exit 0 go, 1 no-go, 2 inconclusive.

Prints the top five offending signatures. `traintriage gate analyze`
suggests the absolute threshold from history.

\b
Exit codes 0, 1 and 2 are the only answers. Errors are never answers:
{EX_USAGE} a usage error (missing or invalid option), {EX_SOFTWARE} an internal error (a bug),
other codes of 64 and above as listed in the README; treat any of them as
"no decision".
"""


@group(invoke_without_command=True, help=GATE_HELP)
@click.option("--version", "version", help="Train version, e.g. 1.36.0-wmf.28.")
@click.option("--stage", "stage", type=click.Choice(STAGES), help="The stage to enter or stay at.")
@click.option(
    "--window", default="20s", type=DURATION, show_default=True, help="Absolute-check window (scap: 20s)."
)
@click.option(
    "--threshold",
    type=click.IntRange(min=1),
    help="Errors per window that fail the gate (default: 10 on testwikis/group0, 150 after).",
)
@click.option("--at", "at", type=WHEN, help="Evaluate as of this time (default now).")
@db_option
@config_option
@json_option
@click.pass_context
def gate(
    ctx: click.Context,
    version: str | None,
    stage: str | None,
    window: float,
    threshold: int | None,
    at: float | None,
    db: str | None,
    config: Any,
    as_json: bool,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    if not version or not stage:
        usage("gate needs --version and --stage (or the `analyze` subcommand)")
    from traintriage.services.status import gate as run_gate

    owners = default_owners(None)
    store = open_db(db)
    when = now() if at is None else at
    result = run_gate(store, version, stage, when, window, config, threshold, owners=owners)
    if as_json:
        dump(result.to_dict())
    else:
        click.echo(f"gate {version} @ {stage}: {result.verdict.upper()} (exit {result.exit_code})")
        click.echo(f"  {result.reason}")
        click.echo(f"  errors in last {window:g}s: {result.window_errors} (threshold {result.threshold})")
        if result.offenders:
            click.echo("  top offenders:")
            for e in result.offenders:
                labels = ",".join(str(lbl) for lbl in e.labels)
                click.echo(f"    {e.signature} {e.requests:>6} req  [{labels}] {one_line(e.title, 90)}")
    ctx.exit(result.exit_code)


@gate.command("analyze")
@click.option("--window", default="20s", type=DURATION, show_default=True)
@click.option(
    "--days",
    default=90,
    show_default=True,
    type=click.IntRange(min=1),
    help="History to analyse, counted back from the newest event.",
)
@db_option
@json_option
def gate_analyze(window: float, days: int, db: str | None, as_json: bool) -> None:
    """Suggest the absolute threshold: ceil(mean + 3σ) of windowed error counts, outliers removed."""
    from traintriage.services.status import suggest_threshold
    from traintriage.store.reads import newest_event

    store = open_db(db)
    newest = newest_event(store)
    since = newest - days * 86400 if newest else None
    result = suggest_threshold(store, window, since)
    if result is None:
        raise Failed("not enough history to analyse (ingest some logs first)")
    if as_json:
        dump(result.to_dict())
        return
    click.echo(
        f"{result.windows:,} windows of {window:g}s over {days} days: mean {result.mean:.2f}, σ {result.stdev:.2f}, "
        f"{result.outliers_removed} outlier windows removed"
    )
    click.echo(
        f"suggested threshold: {result.threshold} errors per {window:g}s  (use: traintriage gate --threshold {result.threshold})"
    )


COMMANDS = [train, gate]
