"""`signatures` (the top list) and `show` (one signature in full)."""

from __future__ import annotations

import click

from traintriage.cli.app import command
from traintriage.cli.options import db_option, dump, iso, json_option, one_line, open_db


@command()
@db_option
@click.option(
    "--version", "version", help="Only signatures seen in this train version, ranked by its counts."
)
@click.option("--limit", default=30, show_default=True, type=click.IntRange(min=1))
@json_option
def signatures(db: str | None, version: str | None, limit: int, as_json: bool) -> None:
    """Top error signatures with counts per version, first and last seen."""
    from traintriage.store.reads import top_signatures

    rows = top_signatures(open_db(db), version, limit)
    if as_json:
        dump([r.to_dict() for r in rows])
        return
    if not rows:
        click.echo(
            "no signatures"
            + (f" in version {version}" if version else "")
            + " yet; run `traintriage ingest FILE`"
        )
        return
    for r in rows:
        versions = "  ".join(f"{v.version or '(none)'}:{v.events:,}" for v in r.versions[-4:])
        click.echo(
            f"{r.id}  {r.events:>10,}  {iso(r.first_seen)} .. {iso(r.last_seen)}  [{r.channel}] {one_line(r.title, 90)}"
        )
        click.echo(f"{'':16}  {'':>10}  versions: {versions}")


@command()
@click.argument("signature")
@db_option
@json_option
def show(signature: str, db: str | None, as_json: bool) -> None:
    """Title, why it grouped, counts per version/wiki/hour, hosts and samples of one signature."""
    from traintriage.store.reads import resolve_signature, signature_detail

    store = open_db(db)
    detail = signature_detail(store, resolve_signature(store, signature))
    if as_json:
        dump(detail.to_dict())
        return
    s = detail.summary
    click.echo(f"signature {s.id}  ({s.algorithm}, {s.kind}, channel {s.channel})")
    click.echo(f"title     {s.title}")
    click.echo(f"events    {s.events:,}   first seen {iso(s.first_seen)}   last seen {iso(s.last_seen)}")
    click.echo("\nwhy these events grouped together:")
    for part in detail.explanation:
        mark = "+" if part.get("contributes") else "-"
        value = part.get("value")
        if isinstance(value, list):
            value = " | ".join(value) or "(none)"
        hint = f"   ({part['hint']})" if part.get("hint") else ""
        click.echo(f"  {mark} {part['component']}: {value}{hint}")
    click.echo("\nper version:")
    for v in s.versions:
        click.echo(
            f"  {v.version or '(none)':<20} {v.events:>10,} events {v.requests:>10,} requests   "
            f"{iso(v.first_seen)} .. {iso(v.last_seen)}"
        )
    click.echo("\ntop wikis:")
    for version, wiki, events, requests in detail.wikis[:10]:
        click.echo(
            f"  {version or '(none)':<20} {wiki or '(none)':<24} {events:>10,} events {requests:>8,} requests"
        )
    click.echo("\ntop hosts:")
    for version, host, events in detail.hosts[:5]:
        click.echo(f"  {version or '(none)':<20} {host or '(none)':<24} {events:>10,} events")
    click.echo(f"\nsamples ({len(detail.samples)}, redacted):")
    for sample in detail.samples[:3]:
        click.echo(
            f"  - {iso(sample['ts'])} {sample.get('wiki')} {sample.get('host')} {sample.get('version')}"
        )
        click.echo(f"    {one_line(sample.get('message', ''), 160)}")
        if sample.get("url"):
            click.echo(f"    url: {sample['url']}")


COMMANDS = [signatures, show]
