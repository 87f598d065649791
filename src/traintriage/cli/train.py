"""Train commands: deployment history, wiki groups, exposure, train status and the stage gate.

Thin Click layer over train/, store/ and detect/: parse options, call the
library, print. Exit codes are part of the interface for deploy tools.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from traintriage.cli import DB_HELP, _dump, _fail, _iso, _open_store, main


def _parse_at(value: str | None) -> float:
    from traintriage.core.timeparse import parse_when

    if value is None:
        return parse_when("now")
    try:
        return parse_when(value)
    except ValueError:
        _fail(f"--at {value!r} is not an ISO 8601 time (e.g. 2021-01-19T11:24:00Z)", 2)
        raise


# --- deploys ----------------------------------------------------------------------------


@main.group()
def deploys() -> None:
    """Deployment history: import it, list it."""


@deploys.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--db", help=DB_HELP)
@click.option("--format", "fmt", help="Force a format instead of auto-detecting it per file.")
@click.option("--json", "as_json", is_flag=True)
def deploys_import(files: tuple[str, ...], db: str | None, fmt: str | None, as_json: bool) -> None:
    """Import deployment history (wikiversions commit log, SAL, snapshots, CSV/JSON).

    The format is detected per file. Unreadable lines are reported with their
    line numbers; the readable ones are imported. Importing twice is harmless.
    """
    from traintriage.store.trains import load_membership, save_deploy_steps
    from traintriage.train.deploylog import parse_file

    store = _open_store(db)
    membership = load_membership(store)
    report: list[dict[str, Any]] = []
    failed = 0
    for name in files:
        path = Path(name)
        if not path.exists():
            click.echo(f"traintriage: error: {name}: no such file or directory", err=True)
            failed += 1
            continue
        try:
            result = parse_file(path, fmt=fmt, membership=membership if len(membership) else None)
        except (OSError, ValueError) as err:
            click.echo(f"traintriage: error: {name}: {err}", err=True)
            failed += 1
            continue
        added = save_deploy_steps(store, result.steps)
        for error in result.errors[:20]:
            click.echo(f"{error.source}:{error.line}: {error.reason}: {error.text[:120]!r}", err=True)
        if len(result.errors) > 20:
            click.echo(f"{name}: ... {len(result.errors) - 20} more unreadable lines", err=True)
        report.append(
            {
                "file": name,
                "format": result.format,
                "steps": len(result.steps),
                "new": added,
                "errors": len(result.errors),
                "ignored": len(result.ignored),
            }
        )
    store.close()
    if as_json:
        _dump(report)
    else:
        for r in report:
            click.echo(
                f"{r['file']}: {r['format']}: {r['steps']} steps ({r['new']} new), {r['errors']} unreadable lines, "
                f"{r['ignored']} other entries ignored"
            )
    if failed == len(files):
        sys.exit(1)


@deploys.command("list")
@click.option("--db", help=DB_HELP)
@click.option("--version", "version", help="Only this train.")
@click.option("--json", "as_json", is_flag=True)
def deploys_list(db: str | None, version: str | None, as_json: bool) -> None:
    """Trains with their stages, rollbacks and train-stats numbers."""
    from traintriage.services.train import load_train

    store = _open_store(db)
    ctx = load_train(store, infer=False)
    store.close()
    versions = [version] if version else ctx.timeline.versions()
    data = [ctx.timeline.explain(v) for v in versions]
    if as_json:
        _dump(data)
        return
    if not data:
        click.echo("no deployments yet; run `traintriage deploys import FILE`")
    for v in versions:
        s = ctx.timeline.stats(v)
        landed = ", ".join(f"{g} {_short(t)}" for g, t in s.landings.items() if t)
        delays = "/".join("-" if d is None else str(d) for d in s.delay_days.values())
        click.echo(
            f"{v:<16} rollbacks {s.rollbacks} ({s.rollbacks_time}s rolled back)  delays g0/g1/g2 {delays}  "
            f"conductor {s.conductor or '?'}"
        )
        click.echo(f"{'':<16} landed: {landed or '-'}")


def _short(t: Any) -> str:
    return t.strftime("%m-%d %H:%M")


@main.group()
def deploy() -> None:
    """Record a deployment step as it happens (for deploy tools)."""


@deploy.command("record")
@click.option("--version", "version", required=True, help="Version now running, e.g. 1.36.0-wmf.28.")
@click.option("--group", "group", required=True, help="testwikis, group0, group1, group2 or all.")
@click.option("--at", "at", help="When (ISO 8601); default now.")
@click.option("--actor", help="Who deployed.")
@click.option("--db", help=DB_HELP)
def deploy_record(version: str, group: str, at: str | None, actor: str | None, db: str | None) -> None:
    """Record that GROUP now runs VERSION (a roll-forward or a rollback)."""
    from datetime import UTC, datetime

    from traintriage.store.trains import save_deploy_steps
    from traintriage.train.deploylog import DeployStep, parse_message

    when = datetime.fromtimestamp(_parse_at(at), UTC)
    message = f"{group} wikis to {version}" if group != "all" else f"all wikis to {version}"
    try:
        groups, target, kind = parse_message(message)
    except ValueError as err:
        _fail(f"cannot record {message!r}: {err}", 2)
        return
    step = DeployStep(
        at=when,
        groups=groups,
        version=target,
        actor=actor,
        kind=kind,
        message=message,
        source="deploy record",
        line=0,
    )
    store = _open_store(db)
    added = save_deploy_steps(store, [step])
    store.close()
    click.echo(
        f"recorded {when.strftime('%Y-%m-%dT%H:%M:%SZ')} {message}" + ("" if added else " (already recorded)")
    )


# --- groups / exposure -------------------------------------------------------------------


@main.group()
def groups() -> None:
    """Wiki group membership (dblists)."""


@groups.command("import")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--db", help=DB_HELP)
def groups_import(directory: str, db: str | None) -> None:
    """Import testwikis/group0/group1/group2(/all).dblist files from DIRECTORY."""
    from traintriage.store.trains import membership_counts, save_membership
    from traintriage.train.groups import DblistError, load_dblists

    try:
        membership = load_dblists(directory)
    except (DblistError, OSError) as err:
        _fail(str(err))
        return
    store = _open_store(db)
    n = save_membership(store, membership, str(directory))
    counts = membership_counts(store)
    store.close()
    click.echo(f"imported {n} wikis: " + ", ".join(f"{g} {c[0]}" for g, c in sorted(counts.items())))


@groups.command("show")
@click.option("--db", help=DB_HELP)
@click.option("--infer/--no-infer", default=True, help="Infer groups of wikis no dblist names (default on).")
@click.option("--json", "as_json", is_flag=True)
def groups_show(db: str | None, infer: bool, as_json: bool) -> None:
    """Wikis per group, listed (from dblists) and inferred (from events and deploys)."""
    from traintriage.services.train import infer_wiki_groups
    from traintriage.store.trains import membership_counts

    store = _open_store(db)
    if infer:
        infer_wiki_groups(store)
    counts = membership_counts(store)
    store.close()
    if as_json:
        _dump({g: {"listed": c[0], "inferred": c[1]} for g, c in counts.items()})
        return
    for g, (listed, inferred) in sorted(counts.items()):
        click.echo(f"{g:<10} {listed:>5} listed {inferred:>5} inferred")
    if any(c[1] for c in counts.values()):
        click.echo(
            "inferred: from when each wiki's events switched version, matched to the deployment timeline"
        )


@main.group()
def exposure() -> None:
    """Request counts per hour and version (traffic each version served)."""


@exposure.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--db", help=DB_HELP)
def exposure_import(file: str, db: str | None) -> None:
    """Import a CSV `hour,group,version,requests` (or `hour,wiki,version,requests`)."""
    from traintriage.store.trains import save_exposure
    from traintriage.train.exposure import parse_exposure

    try:
        text = Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        _fail(f"{file}: not UTF-8 text ({err})")
        return
    parsed = parse_exposure(text)
    for line, reason in parsed.errors:
        click.echo(f"{file}:{line}: {reason}", err=True)
    store = _open_store(db)
    n = save_exposure(store, parsed.rows)
    store.close()
    click.echo(f"imported {n} exposure rows ({len(parsed.errors)} unreadable lines)")
    if not parsed.rows and parsed.errors:
        sys.exit(1)


def _json_default(value: Any) -> Any:
    return str(value)


def dump_compact(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=_json_default)


__all__ = ["deploys", "deploy", "groups", "exposure", "_iso"]


# --- train status / gate -------------------------------------------------------------------


def _load_config(path: str | None) -> Any:
    """[detection] table of a TOML config file (--config or $TRAINTRIAGE_CONFIG)."""
    import os
    import tomllib

    from traintriage.detect.config import ConfigError, DetectionConfig

    path = path or os.environ.get("TRAINTRIAGE_CONFIG")
    if not path:
        return DetectionConfig()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        return DetectionConfig.from_mapping(data.get("detection", {}))
    except (OSError, tomllib.TOMLDecodeError, ConfigError) as err:
        _fail(f"{path}: {err}", 2)


def _parse_window(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except (ValueError, IndexError):
        _fail(f"--window {text!r} is not a duration like 20s, 1m, 90", 2)
        raise


@main.group()
def train() -> None:
    """The train: status and decision for a version."""


@train.command("status")
@click.argument("version")
@click.option(
    "--at", "at", help="Evaluate as of this time (ISO 8601, e.g. 2021-01-19T11:24:00Z); default now."
)
@click.option("--db", help=DB_HELP)
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="TOML file with a [detection] table."
)
@click.option(
    "--owners",
    "owners_path",
    type=click.Path(dir_okay=False),
    help="Owners file (default: $TRAINTRIAGE_OWNERS or ./OWNERS).",
)
@click.option("--json", "as_json", is_flag=True, help="The stable JSON schema of docs/detection.md.")
def train_status_cmd(
    version: str,
    at: str | None,
    db: str | None,
    config_path: str | None,
    owners_path: str | None,
    as_json: bool,
) -> None:
    """Stage reached, next step, verdict, the rule that decided it and the evidence."""
    from traintriage.services.status import train_status
    from traintriage.services.train import load_train

    when = _parse_at(at)
    config = _load_config(config_path)
    owners = _load_owners_file(owners_path)
    store = _open_store(db)
    try:
        context = load_train(store)
        decision = train_status(store, version, when, config, context=context, owners=owners)
        inferred = context.inferred_wikis
    finally:
        store.close()
    if as_json:
        _dump(decision.to_dict())
        return
    _print_decision(decision)
    if inferred:
        click.echo(
            f"\nnote: the groups of {inferred} wikis were inferred from when their events switched version "
            "(`traintriage groups show`; import dblists to be sure)"
        )


def _load_owners_file(path: str | None) -> Any:
    """An explicit --owners file must load; without it, the default file is used if present."""
    from traintriage.triage.owners import OwnersError, default_owners_path, load_owners

    path = path or default_owners_path()
    if path is None:
        return None

    try:
        owners = load_owners(path)
    except OwnersError as err:
        _fail(str(err), 2)
    for line in owners.error_lines():
        click.echo(line, err=True)
    return owners


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
            click.echo(f"  {e['signature']}  [{e['channel']}] {_clip(e['title'], 80)}")
            click.echo(
                f"  {'':16}  requests {counts}  wikis {e['wikis']}  first seen {e['first_seen']}  {owner}  {review}"
            )
        if len(entries) > 15:
            click.echo(f"  ... {len(entries) - 15} more (use --json)")
    if d.get("owners_to_ping"):
        click.echo("\nping: " + ", ".join(d["owners_to_ping"]))


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@main.group(invoke_without_command=True)
@click.option("--version", "version", help="Train version, e.g. 1.36.0-wmf.28.")
@click.option("--stage", "stage", help="testwikis, group0, group1 or group2.")
@click.option("--window", default="20s", show_default=True, help="Absolute-check window (scap: 20s).")
@click.option(
    "--threshold",
    type=int,
    help="Errors per window that fail the gate (default: 10 on testwikis/group0, 150 after).",
)
@click.option("--at", "at", help="Evaluate as of this time (default now).")
@click.option("--db", help=DB_HELP)
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def gate(
    ctx: click.Context,
    version: str | None,
    stage: str | None,
    window: str,
    threshold: int | None,
    at: str | None,
    db: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Stage gate for deploy tools: exit 0 go, 1 no-go, 2 inconclusive.

    Prints the top five offending signatures. `traintriage gate analyze`
    suggests the absolute threshold from history.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not version or not stage:
        _fail("gate needs --version and --stage (or the `analyze` subcommand)", 2)
        return
    from traintriage.services.status import gate as run_gate

    seconds = _parse_window(window)
    config = _load_config(config_path)
    when = _parse_at(at)
    owners = _load_owners_file(None)
    store = _open_store(db)
    try:
        result = run_gate(store, version, stage, when, seconds, config, threshold, owners=owners)
    except ValueError as err:
        store.close()
        _fail(str(err), 2)
        return
    store.close()
    if as_json:
        _dump(result.to_dict())
    else:
        click.echo(f"gate {version} @ {stage}: {result.verdict.upper()} (exit {result.exit_code})")
        click.echo(f"  {result.reason}")
        click.echo(f"  errors in last {seconds:g}s: {result.window_errors} (threshold {result.threshold})")
        if result.offenders:
            click.echo("  top offenders:")
            for e in result.offenders:
                labels = ",".join(str(lbl) for lbl in e.labels)
                click.echo(f"    {e.signature} {e.requests:>6} req  [{labels}] {_clip(e.title, 90)}")
    sys.exit(result.exit_code)


@gate.command("analyze")
@click.option("--window", default="20s", show_default=True)
@click.option(
    "--days", default=90, show_default=True, help="History to analyse, counted back from the newest event."
)
@click.option("--db", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True)
def gate_analyze(window: str, days: int, db: str | None, as_json: bool) -> None:
    """Suggest the absolute threshold: ceil(mean + 3σ) of windowed error counts, outliers removed."""
    from traintriage.services.status import suggest_threshold

    seconds = _parse_window(window)
    store = _open_store(db)
    from traintriage.store.reads import newest_event

    newest = newest_event(store)
    since = newest - days * 86400 if newest else None
    result = suggest_threshold(store, seconds, since)
    store.close()
    if result is None:
        _fail("not enough history to analyse (ingest some logs first)")
        return
    if as_json:
        _dump(result.to_dict())
        return
    click.echo(
        f"{result.windows:,} windows of {seconds:g}s over {days} days: mean {result.mean:.2f}, σ {result.stdev:.2f}, "
        f"{result.outliers_removed} outlier windows removed"
    )
    click.echo(
        f"suggested threshold: {result.threshold} errors per {seconds:g}s  (use: traintriage gate --threshold {result.threshold})"
    )
