"""Ingest: read sources, group events into signatures, count, commit with positions.

Exactly-once: every commit writes the batch's counts and each source's read
position (byte offset and line number) in the same transaction. Re-running
on the same file resumes after the last committed line, so re-ingesting never
counts an event twice, and a process killed at any point (kill -9) loses
nothing that a rerun won't read again.

Distinct requests: an event counts as a new request unless the same
(signature, reqId) pair was seen recently in this process (two generations of
`REQUEST_WINDOW` pairs). MediaWiki logs one error several times per request
within milliseconds, so this is exact in practice; a request split across a
process restart may be counted twice (documented in docs/storage.md).

Hostile input: any exception while reading or grouping one line makes that line a
reject (`file:line: reason`); the lines around it are kept and committed. A plain
file's last line without a newline is left for the next run (its writer may be in the
middle of it), and a read error midway (a truncated `.gz`) keeps the lines before it.

Concurrent ingests of one store (cron runs that overlap, several workers): each commit
compare-and-sets the read positions and the changed template-miner states it continues
from (store/ingest_claims.py). When another process got there first, nothing of the batch
is written; the miners are reloaded and reading restarts from the committed positions
(stdin from a spool of what was read since the last commit). Counts stay exact and one
template never becomes two signatures; the cost of a clash is reading a batch again.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from traintriage.core.errors import Conflict
from traintriage.core.events import Event
from traintriage.core.vocabulary import BUCKET_SECONDS, ERROR_CHANNELS, SLOT_SECONDS, UNKNOWN
from traintriage.grouping.drain import TemplateMiner
from traintriage.grouping.rules import default_rules, rules_for
from traintriage.grouping.signature import Grouper
from traintriage.ingest.batch import Batch, Checkpoint
from traintriage.ingest.formats import MAX_LINE_BYTES, FieldMap, LineError, LineReader
from traintriage.ingest.redact import redact_text, redact_trace, redact_url
from traintriage.ingest.sink import BatchSink
from traintriage.ingest.sources import (
    READ_ERRORS,
    Source,
    SourceError,
    SpooledStream,
    describe,
    iter_lines,
    open_binary,
    same_identity,
    unread_tail,
)

REQUEST_WINDOW = 100_000
SAMPLES_PER_RUN = 5
ERRORS_KEPT = 50
MAX_ATTEMPTS = 100  # clashes with concurrent ingests before giving up (each one means they progressed)


@dataclass
class IngestOptions:
    """Knobs of one ingest run."""

    batch_events: int = 100_000
    field_map: FieldMap = field(default_factory=FieldMap)
    max_line_bytes: int = MAX_LINE_BYTES
    fmt: str = "auto"  # "auto" (detect per line, plain text last) or "text" (every line a message)
    assume_time: float | None = None  # time of lines without one (None: reject them)
    algorithm: str | None = None  # grouping algorithm of a new store (None: the current one)
    rejects: BinaryIO | None = None
    progress: Callable[[int, int], None] | None = None  # (events, rejected) about twice a second
    on_reject: Callable[[str, int, str], None] | None = None  # (source name, line, reason)


@dataclass
class SourceReport:
    name: str
    events: int = 0
    rejected: int = 0
    resumed_at_line: int = 0
    already_done: bool = False
    error: str | None = None
    errors: list[tuple[int, str]] = field(default_factory=list)
    held_back: int = 0  # bytes after the last complete line, left for the next run
    last_line: int = 0  # the last line read (for "read error after line N")
    reported_upto: int = 0  # rejects up to this line were reported (a re-read after a clash is quiet)
    started: tuple[int, int] | None = None  # (events, rejected) stored before this run


@dataclass
class IngestReport:
    sources: list[SourceReport]
    seconds: float
    new_signatures: int

    @property
    def events(self) -> int:
        return sum(s.events for s in self.sources)

    @property
    def rejected(self) -> int:
        return sum(s.rejected for s in self.sources)

    @property
    def failed(self) -> list[SourceReport]:
        return [s for s in self.sources if s.error]


class _RequestDedupe:
    """Recently seen (signature, reqId) pairs, in two bounded generations."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.current: set[tuple[str, str]] = set()
        self.previous: set[tuple[str, str]] = set()

    def is_new(self, sig: str, req: str | None) -> bool:
        if not req:
            return True
        key = (sig, req)
        if key in self.current or key in self.previous:
            return False
        if len(self.current) >= self.window:
            self.previous, self.current = self.current, set()
        self.current.add(key)
        return True


def sample_of(ev: Event) -> dict[str, Any]:
    """A redacted copy of the fields worth showing for one event."""
    out: dict[str, Any] = {
        "message": redact_text(ev.message),
        "channel": ev.channel,
        "level": ev.level,
        "version": ev.version,
        "wiki": ev.wiki,
        "host": ev.host,
        "reqId": ev.req_id,
        "format": ev.fmt,
    }
    if ev.normalized_message:
        out["normalized_message"] = redact_text(ev.normalized_message)
    if ev.url:
        out["url"] = redact_url(ev.url)
    if ev.server:
        out["server"] = ev.server
    if ev.servergroup:
        out["servergroup"] = ev.servergroup
    if ev.php_version:
        out["phpversion"] = ev.php_version
    if ev.exc_class:
        out["exception_class"] = ev.exc_class
    if ev.exc_message:
        out["exception_message"] = redact_text(ev.exc_message)
    if ev.exc_file:
        out["exception_file"] = ev.exc_file
    if ev.trace:
        out["trace"] = redact_trace(ev.trace)
    if ev.context:  # the template's placeholder values: `regroup` needs them to rebuild the template
        out["context"] = {k: redact_text(v) for k, v in ev.context.items()}
    return out


def unexpected_reason(err: BaseException) -> str:
    """The reject reason for a failure no reader anticipated (never a traceback)."""
    text = str(err)
    text = text if len(text) <= 200 else text[:199] + "…"
    return f"could not read the line ({type(err).__name__}: {text})" if text else type(err).__name__


def _sample(ev: Event) -> dict[str, Any]:
    """`sample_of`, never failing: a sample that can't be made must not lose the counted event."""
    try:
        return sample_of(ev)
    except Exception as err:  # noqa: BLE001
        return {"message": f"(no sample: {unexpected_reason(err)})", "format": ev.fmt}


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """No cyclic garbage collection while ingesting; the collector's state is restored after.

    The hot loop allocates a container per new count cell and per cache entry, and
    CPython's collector would walk all of them again and again (4-8 µs per event measured,
    issue 10) to find cycles the loop never makes. Objects alive at the start are frozen
    (moved out of the collector's view) and thawed after, so nothing is leaked: any cycle
    made meanwhile is collected by the first collection after the run.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def make_grouper(store: BatchSink, algorithm: str | None = None) -> tuple[Grouper, dict[str, int]]:
    """A Grouper whose template miners continue from the store's saved state, and the
    generation each miner was saved at (the base its next commit compare-and-sets)."""
    states, generations, ids = store.load_miners()
    miners = {scope: TemplateMiner.from_state(json.loads(state)) for scope, state in states.items()}
    # A store keeps grouping with the algorithm that made its signatures until it is
    # re-keyed (`traintriage regroup`); an empty store starts with the current one.
    stored = store.grouping_algorithms()
    if len(stored) == 1:
        rules = rules_for(next(iter(stored)))
    else:
        rules = rules_for(algorithm) if algorithm and not stored else default_rules()
    return Grouper(rules, miners=miners, known_templates=ids), generations


def _tables(batch: Batch) -> tuple[Any, Any, Any, Any, Any]:
    """The batch's dictionaries, bound to locals by the hot loop (rebound after each commit)."""
    return batch.signatures, batch.versions, batch.cells, batch.hosts, batch.buckets


class Ingester:
    """Reads sources into one store; keeps grouping state across sources."""

    def __init__(self, store: BatchSink, options: IngestOptions | None = None) -> None:
        self.store = store
        self.options = options or IngestOptions()
        self.grouper, self.generations = make_grouper(store, self.options.algorithm)
        # committed position of each source read in this run: the base of its next claim
        self.bases: dict[str, tuple[str, int, int] | None] = {}
        self.stdin: SpooledStream | None = None
        self.conflicts = 0
        self.reader = LineReader(
            self.options.field_map,
            self.options.max_line_bytes,
            fmt=self.options.fmt,
            assume_time=self.options.assume_time,
        )
        self.dedupe = _RequestDedupe(REQUEST_WINDOW)
        self.samples_taken: dict[tuple[str, str], int] = {}
        self.batch = Batch(render=_sample)
        self.pending_rejects: list[bytes] = []
        self.new_signature_ids: set[str] = set()
        self._last_progress = 0.0
        self._events = 0
        self._rejected = 0

    def run(self, names: list[str]) -> IngestReport:
        start = time.perf_counter()
        reports = [SourceReport(name) for name in names]
        try:
            with no_cyclic_gc():
                for attempt in range(1, MAX_ATTEMPTS + 1):
                    try:
                        for report in reports:
                            self._ingest_one(report)
                        self._flush()
                        break
                    except Conflict:
                        if attempt == MAX_ATTEMPTS:
                            raise Conflict(
                                f"gave up after {attempt} clashes with concurrent ingests of the same store; "
                                "what was committed is kept, run again to continue"
                            ) from None
                        self._restart()
        finally:
            if self.stdin is not None:
                self.stdin.close()
        return IngestReport(reports, time.perf_counter() - start, len(self.new_signature_ids))

    def _restart(self) -> None:
        """Another ingest committed first: drop the batch, reload the miners, re-read from the
        committed positions (reports and rejects already shown are not repeated)."""
        self.conflicts += 1
        self.grouper, self.generations = make_grouper(self.store, self.options.algorithm)
        self.bases = {}
        self.batch = Batch(render=_sample)
        self.pending_rejects = []
        self.dedupe = _RequestDedupe(REQUEST_WINDOW)
        self.samples_taken = {}
        if self.stdin is not None:
            self.stdin.rewind()

    # --- one source -------------------------------------------------------------------

    def _ingest_one(self, report: SourceReport) -> None:
        name = report.name
        report.error = None
        report.held_back = 0
        try:
            source = describe(name)
        except SourceError as err:
            report.error = str(err)
            return
        start_offset = start_line = events = rejected = 0
        if source.resumable:
            cp = self.batch.checkpoints.get(source.key)  # read earlier in this run, not committed yet
            if cp is None:
                cp = self.store.load_checkpoint(source.key)
                self.bases[source.key] = None if cp is None else (cp.identity, cp.offset, cp.line)
            if cp is not None and same_identity(cp.identity, source):
                start_offset, start_line, events, rejected = cp.offset, cp.line, cp.events, cp.rejected
        elif self.stdin is not None:  # re-read after a clash: replay from the last commit
            start_line, events, rejected = self.stdin.committed
        report.events, report.rejected = events, rejected
        if report.started is None:
            report.started = (events, rejected)
            report.resumed_at_line = start_line
        try:
            stream = self._open(source)
        except OSError as err:
            report.error = f"{name}: cannot open: {err}"
            return
        report.last_line = start_line
        try:
            self._read(source, stream, start_offset, start_line, report)
        except READ_ERRORS as err:  # e.g. a truncated or corrupt .gz: the lines before it are kept
            report.error = f"{name}: read error after line {report.last_line}: {err or type(err).__name__}"
        finally:
            if source.key != "-":
                stream.close()
        report.already_done = (
            report.events,
            report.rejected,
        ) == report.started and report.resumed_at_line > 0

    def _open(self, source: Source) -> BinaryIO:
        if source.key != "-":
            return open_binary(source)
        if self.stdin is None:
            self.stdin = SpooledStream(open_binary(source))
        return cast(BinaryIO, self.stdin)

    def _read(self, source: Source, stream: BinaryIO, offset: int, line: int, report: SourceReport) -> None:
        """The hot loop: Batch.add and _RequestDedupe.is_new inlined (keep them in step)."""
        read = self.reader.read
        signature_of = self.grouper.signature_of
        dedupe = self.dedupe
        samples_taken = self.samples_taken
        batch = self.batch
        signatures, versions, cells, hosts, buckets = _tables(batch)
        batch_limit = self.options.batch_events
        seekable = not source.compressed and source.key != "-"
        error_channels = ERROR_CHANNELS
        progress = self.options.progress
        number = line
        position = offset
        pending = 0
        lines = iter_lines(
            stream,
            offset,
            line,
            seekable=seekable,
            max_line=self.options.max_line_bytes,
            hold_partial=seekable,
        )
        try:
            for number, position, raw in lines:
                try:
                    ev = read(raw)
                    info = signature_of(ev)
                except LineError as err:
                    self._reject(source, report, number, err.reason, raw)
                    continue
                except Exception as err:  # noqa: BLE001 - whatever one line does, it is that line's reject
                    self._reject(source, report, number, unexpected_reason(err), raw)
                    continue
                sig = info.id
                ts = ev.ts
                version = ev.version or UNKNOWN
                req = ev.req_id
                if req:
                    rkey = (sig, req)
                    if rkey in dedupe.current or rkey in dedupe.previous:
                        new_request = 0
                    else:
                        new_request = 1
                        if len(dedupe.current) >= dedupe.window:
                            dedupe.previous, dedupe.current = dedupe.current, set()
                        dedupe.current.add(rkey)
                else:
                    new_request = 1
                ckey = (sig, version, ev.wiki or UNKNOWN, int(ts // SLOT_SECONDS))
                c = cells.get(ckey)
                if c is None:
                    cells[ckey] = [1, new_request, ts, ts]
                    vkey = (sig, version)
                    taken = versions.get(vkey)
                    if taken is None:
                        if sig not in signatures:
                            signatures[sig] = info
                        taken = versions[vkey] = samples_taken.get(vkey, 0)
                    if taken < SAMPLES_PER_RUN:  # samples: up to 5 per (signature, version) and run
                        versions[vkey] = samples_taken[vkey] = taken + 1
                        batch.samples.setdefault(vkey, []).append((ts, ev))  # redacted if kept
                else:
                    c[0] += 1
                    c[1] += new_request
                    if ts < c[2]:
                        c[2] = ts
                    elif ts > c[3]:
                        c[3] = ts
                hkey = (sig, version, ev.host or UNKNOWN)
                hosts[hkey] = hosts.get(hkey, 0) + 1
                if info.channel in error_channels and ev.level != "DEBUG":
                    bkey = (version, int(ts // BUCKET_SECONDS))
                    buckets[bkey] = buckets.get(bkey, 0) + 1
                pending += 1
                if not pending & 0x3FFF and progress is not None:
                    self._tick(progress, batch.events + pending)
                if pending >= batch_limit:
                    batch.events += pending
                    report.events += pending
                    pending = 0
                    self._checkpoint(source, report, position, number)
                    self._flush()
                    batch = self.batch
                    signatures, versions, cells, hosts, buckets = _tables(batch)
        finally:  # the lines read so far count, even when the source fails midway
            report.last_line = number
            batch = self.batch
            batch.events += pending
            report.events += pending
            self._checkpoint(source, report, position, number)
        if seekable:
            report.held_back = unread_tail(source, position)

    def _reject(self, source: Source, report: SourceReport, number: int, reason: str, raw: bytes) -> None:
        report.rejected += 1
        if number > report.reported_upto:  # not a line re-read after a clash
            report.reported_upto = number
            self._rejected += 1
            if len(report.errors) < ERRORS_KEPT:
                report.errors.append((number, reason))
            if self.options.on_reject is not None:
                self.options.on_reject(source.name, number, reason)
        if self.options.rejects is not None:
            header = f"# {source.name}:{number}: {reason}\n".encode("utf-8", "replace")
            self.pending_rejects.append(header + raw + b"\n")

    def _checkpoint(self, source: Source, report: SourceReport, offset: int, line: int) -> None:
        if source.resumable:
            self.batch.checkpoints[source.key] = Checkpoint(
                source.key, source.identity, offset, line, report.events, report.rejected
            )
        elif self.stdin is not None:
            self.stdin.pending = (line, report.events, report.rejected)
        self._report_progress(report)

    def _tick(self, progress: Callable[[int, int], None], in_batch: int) -> None:
        now = time.monotonic()
        if now - self._last_progress >= 0.5:
            self._last_progress = now
            progress(self._events + in_batch, self._rejected)

    def _report_progress(self, report: SourceReport) -> None:
        if self.options.progress is None:
            return
        now = time.monotonic()
        if now - self._last_progress >= 0.5:
            self._last_progress = now
            self.options.progress(self._events + self.batch.events, self._rejected)

    # --- commit -----------------------------------------------------------------------------

    def _flush(self) -> None:
        """Commit the batch; on `Conflict` nothing is written and the caller restarts."""
        batch = self.batch
        if batch.is_empty() and not self.pending_rejects:
            return
        grouper = self.grouper
        for key, info in grouper.new_templates.items():
            batch.templates[key] = info.id
        for scope in grouper.changed_scopes:
            batch.miner_states[scope] = json.dumps(grouper.miners[scope].to_state())
            batch.miner_base[scope] = self.generations.get(scope)
        for source in batch.checkpoints:
            batch.checkpoint_base[source] = self.bases[source]
        for sig, info in batch.signatures.items():
            if info.template_scope is not None:
                batch.titles[sig] = grouper.title_of(info)
        new_ids = self._new_signatures(batch)
        self.store.apply_batch(batch)
        # committed: what this batch continued from is now what the next one continues from
        grouper.new_templates.clear()
        grouper.changed_scopes.clear()
        for scope in batch.miner_states:
            self.generations[scope] = self.generations.get(scope, 0) + 1
        for source, cp in batch.checkpoints.items():
            self.bases[source] = (cp.identity, cp.offset, cp.line)
        if self.stdin is not None:
            self.stdin.commit()
        self.new_signature_ids.update(new_ids)
        if self.pending_rejects and self.options.rejects is not None:
            self._write_rejects(self.options.rejects)
        self.pending_rejects = []
        self._events += batch.events
        self.batch = Batch(render=_sample)

    def _write_rejects(self, out: BinaryIO) -> None:
        """Append the batch's rejected lines (after its commit: a clash must not repeat them)."""
        try:
            out.writelines(self.pending_rejects)
            out.flush()
        except OSError as err:  # a full disk: the counts are committed, say which file failed
            name = getattr(out, "name", "the rejects file")
            raise OSError(err.errno, f"cannot write rejected lines to {name}: {err.strerror or err}") from err

    def _new_signatures(self, batch: Batch) -> set[str]:
        ids = list(batch.signatures)
        if not ids:
            return set()
        existing = self.store.existing_signatures(ids)
        return {i for i in ids if i not in existing}


def ingest(store: BatchSink, names: list[str], options: IngestOptions | None = None) -> IngestReport:
    """Ingest the named sources ('-' is stdin) into the store."""
    return Ingester(store, options).run(names)
