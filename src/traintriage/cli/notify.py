"""Notifications: check the configuration, scan and deliver, see the outbox, send a test.

The configuration (channels, per-team subscriptions, the promotion schedule) is a TOML
file given with --notify or $TRAINTRIAGE_NOTIFY (docs/communication.md, examples/notify.toml).
"""

from __future__ import annotations

import os
import time
from typing import Any

import click

from traintriage.cli.app import group
from traintriage.cli.errors import usage
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


def _notify_config(path: str | None) -> Any:
    from traintriage.notify.config import load_config

    path = path or os.environ.get("TRAINTRIAGE_NOTIFY")
    if not path:
        usage("give the notification configuration: --notify FILE or $TRAINTRIAGE_NOTIFY")
    return load_config(str(path))


def notify_file_option(fn: Any) -> Any:
    return click.option(
        "--notify",
        "notify_path",
        type=click.Path(dir_okay=False),
        help="Notification configuration (TOML; default $TRAINTRIAGE_NOTIFY).",
    )(fn)


@group("notify")
def notify() -> None:
    """Tell teams about their errors: NEW/REGRESSED, blockers, decisions, reminders, logspam."""


@notify.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@json_option
def check(path: str, as_json: bool) -> None:
    """Validate a notification configuration and show who gets what, where."""
    from traintriage.notify.config import load_config

    cfg = load_config(path)
    if as_json:
        dump(
            {
                "base_url": cfg.base_url,
                "channels": {n: {"type": c.type, "target": c.describe()} for n, c in cfg.channels.items()},
                "subscriptions": [
                    {
                        "name": s.name,
                        "team": s.team,
                        "channel": s.channel,
                        "events": list(s.kinds),
                        "digest_minutes": s.digest_minutes,
                        "max_per_hour": s.max_per_hour,
                    }
                    for s in cfg.subscriptions
                ],
            }
        )
        return
    click.echo(f"{path}: {len(cfg.channels)} channel(s), {len(cfg.subscriptions)} subscription(s)")
    for name, c in cfg.channels.items():
        click.echo(f"  channel {name}: {c.describe()}")
    for s in cfg.subscriptions:
        how = f"digest every {s.digest_minutes} min" if s.digest_minutes else "immediately"
        team = "every team" if s.team == "*" else f"@{s.team}"
        click.echo(f"  {team} -> {s.channel}: {', '.join(s.kinds)} ({how}, at most {s.max_per_hour}/h)")
    stages = ", ".join(
        f"{g} {['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][d]} {h:02d}:{m:02d}"
        for g, (d, h, m) in cfg.schedule.times.items()
    )
    click.echo(f"  schedule (UTC): {stages}; reminders {cfg.schedule.lead_minutes} min before")


@notify.command("run")
@notify_file_option
@click.option("--at", "at", type=WHEN, help="Scan as of this time (replays); default now.")
@click.option(
    "--version", "versions", multiple=True, help="Scan these versions (default: the current train)."
)
@click.option("--owners", "owners_path", type=click.Path(dir_okay=False), help="Owners file (teams).")
@click.option("--no-send", is_flag=True, help="Only queue notices; deliver later.")
@click.option(
    "--watch", type=click.IntRange(min=5), metavar="SECONDS", help="Repeat every SECONDS until interrupted."
)
@config_option
@db_option
@json_option
def run(
    notify_path: str | None,
    at: float | None,
    versions: tuple[str, ...],
    owners_path: str | None,
    no_send: bool,
    watch: int | None,
    config: Any,
    db: str | None,
    as_json: bool,
) -> None:
    """Scan the current train into the outbox, then deliver what is due (retries included)."""
    from traintriage.services.notify import deliver, scan

    cfg = _notify_config(notify_path)
    owners = default_owners(owners_path)
    store = open_db(db)
    while True:
        when = now() if at is None else at
        scanned = scan(store, cfg, now=when, owners=owners, versions=list(versions) or None, detection=config)
        sent = None if no_send else deliver(store, cfg, now=when)
        if as_json:
            dump({"at": iso(when), "scan": scanned.to_dict(), "deliver": sent.to_dict() if sent else None})
        else:
            verdicts = (
                ", ".join(f"{v} {d.upper()}" for v, d in scanned.verdicts.items()) or "no train running"
            )
            click.echo(
                f"{iso(when)} scanned {verdicts}: {scanned.notices} notice(s), {scanned.queued} newly queued"
            )
            if sent is not None:
                click.echo(
                    f"  delivered {sent.items} notice(s) in {sent.messages} message(s); "
                    f"{sent.failed} failed, {sent.dead} given up, {sent.postponed} held by rate limits"
                )
                for err in sent.errors:
                    click.echo(f"  error: {err}", err=True)
        if watch is None:
            return
        time.sleep(watch)


@notify.command("status")
@db_option
@json_option
def status(db: str | None, as_json: bool) -> None:
    """The outbox: how many notices are pending, sent and given up, and why the last failed."""
    from traintriage.store import outbox

    store = open_db(db)
    counts = outbox.outbox_counts(store)
    dead = outbox.dead_rows(store)
    pending = outbox.pending_rows(store)
    if as_json:
        dump(
            {
                "counts": counts,
                "pending": [_row(r) for r in pending],
                "dead": [_row(r) for r in dead],
            }
        )
        return
    click.echo("outbox: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "empty"))
    for r in pending[:20]:
        err = f"  last error: {r.last_error}" if r.last_error else ""
        click.echo(f"  pending #{r.id} {r.kind} -> {r.subscription}, next try {iso(r.next_attempt_at)}{err}")
    for r in dead[:20]:
        click.echo(
            f"  given up #{r.id} {r.kind} -> {r.subscription} after {r.attempts} attempt(s): {r.last_error}"
        )
    if dead:
        click.echo("  (fix the channel, then `traintriage notify retry`)")


def _row(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "key": r.key,
        "subscription": r.subscription,
        "channel": r.channel,
        "kind": r.kind,
        "attempts": r.attempts,
        "next_attempt_at": iso(r.next_attempt_at),
        "last_error": r.last_error,
    }


@notify.command("retry")
@db_option
def retry(db: str | None) -> None:
    """Give every notice that was given up a fresh start."""
    from traintriage.store import outbox

    store = open_db(db)
    click.echo(f"{outbox.retry_dead(store, now=now())} notice(s) queued again")


@notify.command("test")
@click.argument("channel")
@notify_file_option
def test(channel: str, notify_path: str | None) -> None:
    """Send a test message to CHANNEL right away (not through the outbox)."""
    from traintriage.services.notify import send_test

    cfg = _notify_config(notify_path)
    send_test(cfg, channel)
    click.echo(f"sent a test message to {channel}")


COMMANDS = [notify]
