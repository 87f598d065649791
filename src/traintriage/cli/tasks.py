"""Tasks: draft and file a production-error task; follow the train's blocker task.

`traintriage task SIGNATURE` prints the task (Phabricator remarkup, Markdown or the
prefilled "create task" link) and the likely duplicates; `--file` files it to Phabricator
(Conduit) or a webhook and links it to the signature. `traintriage tasks blockers VERSION
--refresh` asks Phabricator for the blocker task and its subtasks and caches them for the
decision. A tracker that cannot be reached exits 69 (cli/errors.py).
"""

from __future__ import annotations

import os
from typing import Any

import click

from traintriage.cli.app import command, group
from traintriage.cli.errors import ConflictError, usage
from traintriage.cli.options import db_option, default_owners, dump, iso, json_option, now, one_line, open_db

_TRACKER_OPTIONS = (
    click.option(
        "--phabricator", metavar="URL", help="Phabricator base URL (default $TRAINTRIAGE_PHABRICATOR_URL)."
    ),
    click.option(
        "--webhook", metavar="URL", help="Generic task webhook (default $TRAINTRIAGE_TASK_WEBHOOK)."
    ),
    click.option(
        "--app-url",
        metavar="URL",
        help="This traintriage's web address, for links (default $TRAINTRIAGE_URL).",
    ),
)


def tracker_options(fn: Any) -> Any:
    for option in reversed(_TRACKER_OPTIONS):
        fn = option(fn)
    return fn


def _settings(phabricator: str | None, webhook: str | None, app_url: str | None) -> Any:
    from traintriage.services.tasks import TrackerSettings

    return TrackerSettings.from_env(phabricator=phabricator, webhook=webhook, app_url=app_url)


@command("task")
@click.argument("signature")
@click.option("--version", "version", help="The train version the task is about (default: the newest seen).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["remarkup", "markdown", "link", "json"]),
    default="remarkup",
    show_default=True,
    help="What to print.",
)
@click.option(
    "--owners", "owners_path", type=click.Path(dir_okay=False), help="Owners file (team and project tag)."
)
@click.option("--parent", metavar="T123", help="File as a subtask of this task.")
@click.option(
    "--blocker", "under_blocker", is_flag=True, help="File as a subtask of the version's blocker task."
)
@click.option(
    "--search/--no-search", default=True, show_default=True, help="Search Phabricator for open duplicates."
)
@click.option("--file", "do_file", is_flag=True, help="File the task (Phabricator, else the webhook).")
@click.option(
    "--backend",
    type=click.Choice(["phabricator", "webhook"]),
    help="Where to file (default: the configured one).",
)
@click.option("--force", is_flag=True, help="File even when a likely duplicate exists.")
@click.option("--as", "actor", help="Who files it (default: $USER).")
@tracker_options
@db_option
def task(
    signature: str,
    version: str | None,
    fmt: str,
    owners_path: str | None,
    parent: str | None,
    under_blocker: bool,
    search: bool,
    do_file: bool,
    backend: str | None,
    force: bool,
    actor: str | None,
    phabricator: str | None,
    webhook: str | None,
    app_url: str | None,
    db: str | None,
) -> None:
    """Draft (and with --file, file) the production-error task for SIGNATURE.

    The draft follows Wikimedia's Production Error form: title from the signature, an Error
    section (version, timestamp, PHP version, request id), the normalised message, a stack
    trace linked to the source at that version, Impact and Notes; URL anonymised, trace
    checked for leaked values. Before filing, already-linked tasks and open tasks are
    searched for likely duplicates; a likely one stops the filing unless --force.
    """
    from traintriage.services.tasks import draft_task, file_task, find_duplicates
    from traintriage.store.reads import resolve_signature

    if parent and under_blocker:
        usage("give --parent T123 or --blocker, not both")
    who = actor or os.environ.get("USER")
    if do_file and not who:
        usage("who files this task? give --as NAME (or set $USER)")
    settings = _settings(phabricator, webhook, app_url)
    owners = default_owners(owners_path)
    store = open_db(db)
    sig = resolve_signature(store, signature)
    draft = draft_task(
        store, sig, settings, version=version, owners=owners, parent=parent, under_blocker=under_blocker
    )
    client = settings.conduit() if search else None
    dups = find_duplicates(store, draft, client)
    if fmt == "json":
        dump({"draft": draft.to_dict(), "duplicates": dups.to_dict()})
    elif fmt == "link":
        click.echo(draft.create_url)
    else:
        click.echo(f"title: {draft.title}")
        click.echo(
            f"tags:  {', '.join(draft.projects)}" + (f"   parent: {draft.parent}" if draft.parent else "")
        )
        click.echo("")
        click.echo(draft.remarkup if fmt == "remarkup" else draft.markdown)
        click.echo(f"create link ({len(draft.create_url):,} characters):\n{draft.create_url}")
        for w in draft.warnings:
            click.echo(f"note: {w}", err=True)
    _print_duplicates(dups)
    if not do_file:
        return
    likely = list(dups.linked) + [t for t, score in dups.remote if score >= 0.6]
    if likely and not force:
        raise ConflictError(
            "likely duplicate(s): "
            + ", ".join(t.id for t in likely)
            + " — comment there, or file anyway with --force"
        )
    filed = file_task(store, draft, settings, actor=str(who), backend=backend)
    click.echo(f"filed {filed.id} {filed.url}".rstrip() + f" and linked it to {sig}")


def _print_duplicates(dups: Any) -> None:
    def say(text: str) -> None:
        click.echo(text, err=True)

    if dups.remote_error:
        say(f"note: Phabricator search failed: {dups.remote_error}")
    if not dups.any:
        say("likely duplicates: none found")
        return
    say("likely duplicates:")
    for t in dups.linked:
        say(f"  {t.id} already linked to this signature [{t.status}] {one_line(t.title, 80)}")
    for task_id, title, score, sig in dups.similar:
        say(f"  {task_id} linked to similar signature {sig[:8]} (score {score:.2f}) {one_line(title, 70)}")
    for t, score in dups.remote[:8]:
        say(f"  {t.id} open in Phabricator (score {score:.2f}) {one_line(t.title, 80)}")


# --- tasks blockers / refresh -------------------------------------------------------


@group("tasks")
def tasks() -> None:
    """The task tracker: the train's blocker task, cached task states."""


@tasks.command("blockers")
@click.argument("version")
@click.option("--refresh", is_flag=True, help="Ask Phabricator first (else: show the cached view).")
@click.option(
    "--task",
    "task_id",
    metavar="T123",
    help="The blocker task, when it is not titled '<version> deployment blockers'.",
)
@click.option(
    "--phabricator", metavar="URL", help="Phabricator base URL (default $TRAINTRIAGE_PHABRICATOR_URL)."
)
@db_option
@json_option
def blockers(
    version: str, refresh: bool, task_id: str | None, phabricator: str | None, db: str | None, as_json: bool
) -> None:
    """The blocker task of VERSION and its subtasks (an open subtask blocks the train)."""
    from traintriage.services.blockers import blocker_evidence, refresh_blocker

    store = open_db(db)
    when = now()
    if refresh:
        client = _settings(phabricator, None, None).conduit()
        if client is None:
            usage("--refresh needs Phabricator: give --phabricator URL or set $TRAINTRIAGE_PHABRICATOR_URL")
        ev = refresh_blocker(store, client, version, task=task_id, now=when)
    else:
        ev = blocker_evidence(store, version)
    if as_json:
        dump(ev.to_dict(when) if ev else None)
        return
    if ev is None:
        click.echo(f"no view of the blocker task of {version} yet: run with --refresh")
        return
    if ev.error:
        click.echo(f"note: the last refresh failed: {ev.error}", err=True)
    if ev.task is None:
        click.echo(f"no blocker task found for {version} (checked {iso(ev.checked_at)})")
        return
    click.echo(f"{ev.task.id} {one_line(ev.task.title, 80)} [{ev.task.status}]  {ev.task.url or ''}".rstrip())
    click.echo(f"  fetched {iso(ev.fetched_at)}, last checked {iso(ev.checked_at)}")
    for t in ev.subtasks:
        mark = "OPEN  " if t.open else "closed"
        linked = f"  ({', '.join(s[:8] for s in t.signatures)})" if t.signatures else ""
        click.echo(f"  {mark} {t.id} [{t.status}] {one_line(t.title, 80)}{linked}")
    if not ev.subtasks:
        click.echo("  no subtasks")


@tasks.command("refresh")
@click.option(
    "--phabricator", metavar="URL", help="Phabricator base URL (default $TRAINTRIAGE_PHABRICATOR_URL)."
)
@db_option
def refresh(phabricator: str | None, db: str | None) -> None:
    """Refresh the cached state of every task linked to a signature (resolved ones offer fixed-in)."""
    from traintriage.services.blockers import refresh_linked_tasks

    client = _settings(phabricator, None, None).conduit()
    if client is None:
        usage("needs Phabricator: give --phabricator URL or set $TRAINTRIAGE_PHABRICATOR_URL")
    store = open_db(db)
    click.echo(f"refreshed {refresh_linked_tasks(store, client)} task(s)")


COMMANDS = [task, tasks]
