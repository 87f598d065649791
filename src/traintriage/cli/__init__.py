"""Command line: a thin layer over the library (no SQL, no grouping logic here).

Heavy imports (the store, the web stack) happen inside commands so that
`traintriage --help` stays fast.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from traintriage import __version__

DB_HELP = "Database: a SQLite file path or postgresql:// URL (default: $TRAINTRIAGE_DB or ./traintriage.db)."


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"traintriage: error: {message}", err=True)
    sys.exit(code)


def _open_store(db: str | None) -> Any:
    from traintriage.store.db import StoreError, open_store

    try:
        return open_store(db)
    except StoreError as err:
        _fail(str(err))


def _iso(ts: float) -> str:
    from traintriage.core.timeparse import iso

    return iso(ts)


def _dump(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="traintriage")
def main() -> None:
    """traintriage: production errors in, stable signatures out, per train version."""


# --- fingerprint ----------------------------------------------------------------------


FORMAT_HELP = (
    "auto: detect per line (MediaWiki/ECS/generic JSON, @cee syslog, udp2log), any other line "
    "as plain text; text: every line is a plain message."
)


@main.command()
@click.argument("files", nargs=-1)
@click.option(
    "--field-map",
    type=click.Path(exists=True, dir_okay=False),
    help="TOML field mapping for generic JSON logs.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "text"]),
    default="auto",
    show_default=True,
    help=FORMAT_HELP,
)
def fingerprint(files: tuple[str, ...], field_map: str | None, fmt: str) -> None:
    """Group log lines without storing: one JSON object per input line.

    Reads FILES ('-' or none for stdin; .gz is fine) and prints
    {"line": N, "signature": ID, "title": ...} or {"line": N, "error": REASON},
    plus "file" when several files are given. Lines need no timestamp.
    """
    from traintriage.grouping.signature import Grouper
    from traintriage.ingest.fingerprint import fingerprint_rows
    from traintriage.ingest.formats import LineReader
    from traintriage.ingest.sources import READ_ERRORS, SourceError, describe, open_binary

    reader = LineReader(_load_field_map(field_map), fmt=fmt, require_time=False)
    grouper = Grouper()
    names = list(files) or ["-"]
    many = len(names) > 1
    out = sys.stdout
    failed = 0
    for name in names:
        try:
            source = describe(name)
            stream = open_binary(source)
        except (SourceError, OSError) as err:
            click.echo(f"traintriage: error: {err}", err=True)
            failed += 1
            continue
        number = 0
        try:
            for row in fingerprint_rows(stream, reader, grouper):
                number = row["line"]
                out.write(json.dumps({"file": name, **row} if many else row, ensure_ascii=False) + "\n")
        except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
            sys.stderr.close()
            sys.exit(0)
        except READ_ERRORS as err:
            click.echo(f"traintriage: error: {name}: read error after line {number}: {err}", err=True)
            failed += 1
        finally:
            if name != "-":
                stream.close()
    if failed == len(names):
        sys.exit(1)


def _load_field_map(path: str | None) -> Any:
    from traintriage.ingest.formats import FieldMap

    if path is None:
        return FieldMap()
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        return FieldMap.from_mapping(data.get("fields", data))
    except (tomllib.TOMLDecodeError, ValueError, UnicodeDecodeError) as err:
        _fail(f"{path}: {err}")


# --- ingest ---------------------------------------------------------------------------


class _Progress:
    """A one-line progress display with events/s, only on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.start = time.perf_counter()

    def __call__(self, events: int, rejected: int) -> None:
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        sys.stderr.write(f"\r  {events:,} events  {rejected:,} rejected  {events / elapsed:,.0f} events/s   ")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 70 + "\r")


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--db", help=DB_HELP)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, writable=True),
    help="Append rejected lines verbatim, each after a '# file:line: reason' line.",
)
@click.option(
    "--field-map",
    type=click.Path(exists=True, dir_okay=False),
    help="TOML field mapping for generic JSON logs.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "text"]),
    default="auto",
    show_default=True,
    help=FORMAT_HELP,
)
@click.option(
    "--assume-time",
    metavar="now|ISO-TIME",
    help="Time given to lines that carry none (else they are rejected): 'now' is the time this "
    "run started, the same for every such line; an ISO 8601 time is used as given.",
)
@click.option("--batch", "batch_events", default=100_000, show_default=True, help="Events per commit.")
@click.option("--quiet", "-q", is_flag=True, help="No progress and no per-line errors; summary only.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def ingest(
    files: tuple[str, ...],
    db: str | None,
    rejects: str | None,
    field_map: str | None,
    fmt: str,
    assume_time: str | None,
    batch_events: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Read error logs (files, .gz, '-' for stdin) into the database.

    Re-running on the same files continues where the last run stopped: events
    are never counted twice. Every event needs a time: lines without one are
    rejected unless --assume-time gives it.
    """
    from traintriage.core.timeparse import parse_when
    from traintriage.ingest.pipeline import IngestOptions
    from traintriage.ingest.pipeline import ingest as run_ingest

    assumed: float | None = None
    if assume_time is not None:
        try:
            assumed = parse_when(assume_time)
        except ValueError:
            _fail(f"--assume-time {assume_time!r} is neither 'now' nor an ISO 8601 time")

    store = _open_store(db)
    progress = _Progress(sys.stderr.isatty() and not quiet and not as_json)
    shown = 0

    def on_reject(name: str, line: int, reason: str) -> None:
        nonlocal shown
        if quiet or as_json:
            return
        shown += 1
        if shown <= 20:
            if progress.enabled:
                progress.done()
            click.echo(f"{name}:{line}: rejected: {reason}", err=True)
        elif shown == 21:
            click.echo("... more rejected lines (see the summary; use --rejects FILE to keep them)", err=True)

    rejects_fh = open(rejects, "ab") if rejects else None  # noqa: SIM115
    try:
        options = IngestOptions(
            batch_events=batch_events,
            field_map=_load_field_map(field_map),
            fmt=fmt,
            assume_time=assumed,
            rejects=rejects_fh,
            progress=progress,
            on_reject=on_reject,
        )
        report = run_ingest(store, list(files), options)
    finally:
        progress.done()
        if rejects_fh:
            rejects_fh.close()
        store.close()
    rate = report.events / report.seconds if report.seconds > 0 else 0.0
    if as_json:
        _dump(
            {
                "events": report.events,
                "rejected": report.rejected,
                "seconds": round(report.seconds, 3),
                "events_per_second": round(rate),
                "new_signatures": report.new_signatures,
                "sources": [
                    {
                        "name": s.name,
                        "events": s.events,
                        "rejected": s.rejected,
                        "resumed_at_line": s.resumed_at_line,
                        "already_done": s.already_done,
                        "held_back_bytes": s.held_back,
                        "error": s.error,
                    }
                    for s in report.sources
                ],
            }
        )
    else:
        for s in report.sources:
            note = (
                " (already ingested: nothing new)"
                if s.already_done
                else (f" (resumed after line {s.resumed_at_line:,})" if s.resumed_at_line else "")
            )
            if s.error:
                click.echo(f"traintriage: error: {s.error}", err=True)
            elif not quiet:
                click.echo(f"{s.name}: {s.events:,} events, {s.rejected:,} rejected{note}")
            if s.held_back and not quiet:
                click.echo(
                    f"{s.name}: the last {s.held_back:,} bytes do not end with a newline yet "
                    "(a line still being written?): left for the next run",
                    err=True,
                )
        click.echo(
            f"ingested {report.events:,} events ({report.rejected:,} rejected) from {len(report.sources)} source(s) "
            f"in {report.seconds:.2f}s, {rate:,.0f} events/s; {report.new_signatures:,} new signatures"
        )
    if report.failed and len(report.failed) == len(report.sources):
        sys.exit(1)


# --- signatures / show ----------------------------------------------------------------


@main.command()
@click.option("--db", help=DB_HELP)
@click.option(
    "--version", "version", help="Only signatures seen in this train version, ranked by its counts."
)
@click.option("--limit", default=30, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def signatures(db: str | None, version: str | None, limit: int, as_json: bool) -> None:
    """Top error signatures with counts per version, first and last seen."""
    from traintriage.store.reads import top_signatures

    store = _open_store(db)
    try:
        rows = top_signatures(store, version, limit)
    finally:
        store.close()
    if as_json:
        _dump([r.to_dict() for r in rows])
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
            f"{r.id}  {r.events:>10,}  {_iso(r.first_seen)} .. {_iso(r.last_seen)}  [{r.channel}] {_one_line(r.title, 90)}"
        )
        click.echo(f"{'':16}  {'':>10}  versions: {versions}")


def _one_line(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@main.command()
@click.argument("signature")
@click.option("--db", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True)
def show(signature: str, db: str | None, as_json: bool) -> None:
    """Title, why it grouped, counts per version/wiki/hour, hosts and samples of one signature."""
    from traintriage.store.reads import NotFound, resolve_signature, signature_detail

    store = _open_store(db)
    try:
        detail = signature_detail(store, resolve_signature(store, signature))
    except NotFound as err:
        store.close()
        _fail(str(err))
        return
    store.close()
    if as_json:
        _dump(detail.to_dict())
        return
    s = detail.summary
    click.echo(f"signature {s.id}  ({s.algorithm}, {s.kind}, channel {s.channel})")
    click.echo(f"title     {s.title}")
    click.echo(f"events    {s.events:,}   first seen {_iso(s.first_seen)}   last seen {_iso(s.last_seen)}")
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
            f"{_iso(v.first_seen)} .. {_iso(v.last_seen)}"
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
            f"  - {_iso(sample['ts'])} {sample.get('wiki')} {sample.get('host')} {sample.get('version')}"
        )
        click.echo(f"    {_one_line(sample.get('message', ''), 160)}")
        if sample.get("url"):
            click.echo(f"    url: {sample['url']}")


# --- simulate -------------------------------------------------------------------------


@main.command()
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory to write into."
)
@click.option("--events", default=200_000, show_default=True, help="Approximate number of log lines.")
@click.option("--weeks", default=4, show_default=True, help="Train weeks to simulate (one version per week).")
@click.option("--seed", default=1, show_default=True)
@click.option("--start", default="2021-01-19", show_default=True, help="First Tuesday (YYYY-MM-DD).")
def simulate(out_dir: str, events: int, weeks: int, seed: int, start: str) -> None:
    """Generate a realistic multi-week train with logs, deploy log, dblists and ground truth."""
    import datetime as dt

    from traintriage_sim import simulate as run_simulation

    try:
        start_date = dt.date.fromisoformat(start)
    except ValueError:
        _fail(f"--start {start!r} is not a date (YYYY-MM-DD)")
        return
    summary = run_simulation(Path(out_dir), events=events, weeks=weeks, seed=seed, start=start_date)
    click.echo(str(summary))


# Command groups that live in their own modules register themselves on `main`.
from traintriage.cli import owners, regroup, review, train, web  # noqa: E402,F401

if __name__ == "__main__":  # pragma: no cover
    main()
