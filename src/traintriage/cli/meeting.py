"""The triage meeting and the weekly summary: `agenda VERSION` (and its minutes), `summary VERSION`."""

from __future__ import annotations

from typing import Any

import click

from traintriage.cli.app import command
from traintriage.cli.errors import usage
from traintriage.cli.options import (
    WHEN,
    config_option,
    db_option,
    default_owners,
    dump,
    json_option,
    now,
    open_db,
)


@command("agenda")
@click.argument("version")
@click.option("--at", "at", type=WHEN, help="As of this time (default now).")
@click.option("--owners", "owners_path", type=click.Path(dir_okay=False), help="Owners file (teams).")
@click.option("--minutes", "show_minutes", is_flag=True, help="Print the minutes of the meeting instead.")
@click.option("--since", type=WHEN, help="Minutes: start of the meeting (default: 2 hours before --at).")
@click.option("--app-url", metavar="URL", help="Links to the signature pages (default $TRAINTRIAGE_URL).")
@config_option
@db_option
@json_option
def agenda(
    version: str,
    at: float | None,
    owners_path: str | None,
    show_minutes: bool,
    since: float | None,
    app_url: str | None,
    config: Any,
    db: str | None,
    as_json: bool,
) -> None:
    """The train log triage agenda of VERSION: per team, the NEW/REGRESSED errors still to decide,
    with counts, owners and a suggested verdict; with --minutes, the verdicts recorded.
    """
    import os

    from traintriage.report.agenda import agenda_text, minutes_text
    from traintriage.services.meeting import agenda as build
    from traintriage.services.meeting import minutes

    owners = default_owners(owners_path)
    store = open_db(db)
    when = now() if at is None else at
    if show_minutes:
        start = since if since is not None else when - 7200
        if start > when:
            usage("--since is after --at")
        m = minutes(store, version, start, when, owners=owners, config=config)
        if as_json:
            dump(m.to_dict())
        else:
            click.echo(minutes_text(m), nl=False)
        return
    if since is not None:
        usage("--since goes with --minutes")
    a = build(store, version, when, owners=owners, config=config)
    if as_json:
        dump(a.to_dict())
        return
    click.echo(agenda_text(a, app_url or os.environ.get("TRAINTRIAGE_URL")), nl=False)


@command("summary")
@click.argument("version")
@click.option("--at", "at", type=WHEN, help="As of this time (default now).")
@click.option("--owners", "owners_path", type=click.Path(dir_okay=False), help="Owners file (teams).")
@click.option("--email", "as_email", is_flag=True, help="Print it as an e-mail message (headers and body).")
@click.option("--from", "sender", default="traintriage@localhost", show_default=True, help="E-mail sender.")
@click.option("--to", "recipients", multiple=True, help="E-mail recipient (repeatable).")
@click.option("--send", "channel", metavar="CHANNEL", help="Send it through this e-mail channel of --notify.")
@click.option(
    "--notify",
    "notify_path",
    type=click.Path(dir_okay=False),
    help="Notification configuration (for --send).",
)
@click.option("--app-url", metavar="URL", help="Link to the train page (default $TRAINTRIAGE_URL).")
@config_option
@db_option
@json_option
def summary(
    version: str,
    at: float | None,
    owners_path: str | None,
    as_email: bool,
    sender: str,
    recipients: tuple[str, ...],
    channel: str | None,
    notify_path: str | None,
    app_url: str | None,
    config: Any,
    db: str | None,
    as_json: bool,
) -> None:
    """The weekly summary of VERSION (train-stats' e-mail): conductor, blocker task, blockers,
    rollbacks, delays, new errors and how fast they were reviewed, sparklines over five trains.
    """
    import os

    from traintriage.report.summary import summary_email, summary_text
    from traintriage.services.metrics import train_summary

    owners = default_owners(owners_path)
    store = open_db(db)
    when = now() if at is None else at
    s = train_summary(
        store,
        version,
        now=when,
        owners=owners,
        config=config,
        base_url=app_url or os.environ.get("TRAINTRIAGE_URL"),
    )
    if channel:
        _send(s, channel, notify_path)
        click.echo(f"sent the summary of {version} through {channel}")
        return
    if as_json:
        dump(s.to_dict())
    elif as_email:
        click.echo(
            summary_email(s, sender=sender, to=recipients or ["train@localhost"]).as_string(), nl=False
        )
    else:
        click.echo(summary_text(s), nl=False)


def _send(s: Any, channel: str, notify_path: str | None) -> None:
    import os

    from traintriage.notify.config import load_config
    from traintriage.remote.smtp import SmtpServer, send
    from traintriage.report.summary import summary_email

    path = notify_path or os.environ.get("TRAINTRIAGE_NOTIFY")
    if not path:
        usage("--send needs --notify FILE (or $TRAINTRIAGE_NOTIFY)")
    cfg = load_config(str(path))
    ch = cfg.channels.get(channel)
    if ch is None or ch.type != "email":
        usage(f"--send {channel}: no e-mail channel of that name in {path}")
    assert ch.smtp_host and ch.sender
    user = os.environ.get(ch.username_env) if ch.username_env else None
    password = os.environ.get(ch.password_env) if ch.password_env else None
    send(
        SmtpServer(ch.smtp_host, ch.smtp_port, ch.starttls, user, password),
        summary_email(s, sender=ch.sender, to=ch.to),
    )


COMMANDS = [agenda, summary]
