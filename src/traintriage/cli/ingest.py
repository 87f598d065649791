"""`ingest` (logs into the store) and `fingerprint` (grouping without storing)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from traintriage.cli.app import command
from traintriage.cli.errors import FAILED
from traintriage.cli.options import WHEN, db_option, dump, field_map_option, json_option, open_db

FORMAT_HELP = (
    "auto: detect per line (MediaWiki/ECS/generic JSON, @cee syslog, udp2log), any other line "
    "as plain text; text: every line is a plain message."
)


def format_option(fn: Any) -> Any:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["auto", "text"]),
        default="auto",
        show_default=True,
        help=FORMAT_HELP,
    )(fn)


@command()
@click.argument("files", nargs=-1)
@field_map_option
@format_option
def fingerprint(files: tuple[str, ...], field_map: Any, fmt: str) -> None:
    """Group log lines without storing: one JSON object per input line.

    Reads FILES ('-' or none for stdin; .gz is fine) and prints
    {"line": N, "signature": ID, "title": ...} or {"line": N, "error": REASON},
    plus "file" when several files are given. Lines need no timestamp.
    Exit 1 if no file could be read.
    """
    from traintriage.grouping.signature import Grouper
    from traintriage.ingest.fingerprint import fingerprint_rows
    from traintriage.ingest.formats import LineReader
    from traintriage.ingest.sources import READ_ERRORS, SourceError, describe, open_binary

    reader = LineReader(field_map, fmt=fmt, require_time=False)
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
        sys.exit(FAILED)


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


@command()
@click.argument("files", nargs=-1, required=True)
@db_option
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, writable=True),
    help="Append rejected lines verbatim, each after a '# file:line: reason' line.",
)
@field_map_option
@format_option
@click.option(
    "--assume-time",
    type=WHEN,
    metavar="now|ISO-TIME",
    help="Time given to lines that carry none (else they are rejected): 'now' is the time this "
    "run started, the same for every such line; an ISO 8601 time is used as given.",
)
@click.option(
    "--batch",
    "batch_events",
    default=100_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Events per commit.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress and no per-line errors; summary only.")
@json_option(help="Print the summary as JSON.")
def ingest(
    files: tuple[str, ...],
    db: str | None,
    rejects: str | None,
    field_map: Any,
    fmt: str,
    assume_time: float | None,
    batch_events: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Read error logs (files, .gz, '-' for stdin) into the database.

    Re-running on the same files continues where the last run stopped: events
    are never counted twice. Every event needs a time: lines without one are
    rejected unless --assume-time gives it. Exit 1 if no file could be read.
    """
    from traintriage.ingest.pipeline import IngestOptions
    from traintriage.ingest.pipeline import ingest as run_ingest
    from traintriage.services.train import infer_wiki_groups

    store = open_db(db)
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

    # unbuffered: a write that fails (a full disk) fails there, with nothing left for close()
    rejects_fh = open(rejects, "ab", buffering=0) if rejects else None  # noqa: SIM115
    try:
        options = IngestOptions(
            batch_events=batch_events,
            field_map=field_map,
            fmt=fmt,
            assume_time=assume_time,
            rejects=rejects_fh,
            progress=progress,
            on_reject=on_reject,
        )
        report = run_ingest(store, list(files), options)
    finally:
        progress.done()
        if rejects_fh:
            rejects_fh.close()
    if report.events:  # new events may place wikis no dblist names: store their inferred groups
        infer_wiki_groups(store)
    # a source's counts are its totals over every run; the summary is about this run
    events = sum(s.events - (s.started or (0, 0))[0] for s in report.sources)
    rejected = sum(s.rejected - (s.started or (0, 0))[1] for s in report.sources)
    rate = events / report.seconds if report.seconds > 0 else 0.0
    if as_json:
        dump(
            {
                "events": events,
                "rejected": rejected,
                "seconds": round(report.seconds, 3),
                "events_per_second": round(rate),
                "new_signatures": report.new_signatures,
                "sources": [
                    {  # events and rejected: the source's totals, this run included
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
            f"ingested {events:,} events ({rejected:,} rejected) from {len(report.sources)} source(s) "
            f"in {report.seconds:.2f}s, {rate:,.0f} events/s; {report.new_signatures:,} new signatures"
        )
    if report.failed and len(report.failed) == len(report.sources):
        sys.exit(FAILED)


COMMANDS = [fingerprint, ingest]
