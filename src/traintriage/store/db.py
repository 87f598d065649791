"""The one place that talks SQL: SQLite (embedded default) and PostgreSQL.

Both backends share the schema and every statement; the differences are the
parameter style (`?` is rewritten to `%s` for psycopg), column types (see
migrations.py) and how transactions start (SQLite: `BEGIN IMMEDIATE` on one
connection, WAL mode; PostgreSQL: psycopg transactions). Upserts use
`INSERT ... AS t ... ON CONFLICT ... DO UPDATE SET x = t.x + excluded.x`,
which both accept, and never touch the same key twice in one statement.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from traintriage.core.errors import Unavailable
from traintriage.ingest.batch import Batch, Checkpoint
from traintriage.store.failures import driver_errors, storage_error
from traintriage.store.ingest_claims import claim_batch, load_miner_states
from traintriage.store.migrations import MIGRATIONS, SAMPLES_PER_VERSION, render

DEFAULT_DB = "traintriage.db"
IN_CHUNK = 500  # ids per SQLite IN list: well under its variable limit
SQLITE_CACHE_KIB = 65_536  # page cache per connection (64 MiB; a limit, not an allocation)


class StoreError(Unavailable):
    """A database problem worth showing to a user (bad URL, newer schema, ...)."""


def resolve_url(db: str | None) -> str:
    """`--db` beats `TRAINTRIAGE_DB` beats ./traintriage.db."""
    return db or os.environ.get("TRAINTRIAGE_DB") or DEFAULT_DB


class Store:
    """A connection to one traintriage database, with migrations applied."""

    dialect: str

    def __init__(self, url: str) -> None:
        self.url = url
        self._driver_errors = driver_errors()
        if url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgresql"
            self._conn: Any = _connect_pg(url)
        else:
            self.dialect = "sqlite"
            path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
            self._conn = _connect_sqlite(path)
        self.migrate()

    # --- plumbing -----------------------------------------------------------------

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ordered(self, items: Any) -> Any:
        """Rows in key order on PostgreSQL (concurrent writers then lock rows in the same
        order and cannot deadlock); as they come on SQLite, which has one writer."""
        return sorted(items) if self.dialect == "postgresql" else items

    def sql(self, statement: str) -> str:
        return statement if self.dialect == "sqlite" else statement.replace("?", "%s")

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A write transaction; yields a cursor. SQLite takes the write lock up front.

        A damaged file, a full disk or a lost connection raises `Unavailable`/`StorageFull`
        (store/failures.py) after the rollback: the store keeps what it had.
        """
        conn = self._conn
        try:
            if self.dialect == "sqlite":
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn.cursor()
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:  # a failed COMMIT (SQLITE_FULL) may leave it open
                        with suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                    raise
            else:
                with conn.transaction(), conn.cursor() as cur:
                    yield cur
        except self._driver_errors as err:
            failure = self._failure(err)
            if failure is None:
                raise
            raise failure from err

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query and return all rows."""
        try:
            if self.dialect == "sqlite":
                return list(self._conn.execute(statement, params).fetchall())
            with self._conn.cursor() as cur:
                cur.execute(self.sql(statement), params)
                rows = cur.fetchall()
            return list(rows)
        except self._driver_errors as err:
            failure = self._failure(err)
            if failure is None:
                raise
            raise failure from err

    def _failure(self, err: BaseException) -> Exception | None:
        """The core error a driver failure stands for (store/failures.py), or None."""
        where = self.url if self.dialect == "sqlite" else _safe_url(self.url)
        return storage_error(err, where)

    def query_in(
        self, statement: str, ids: Sequence[Any], before: Sequence[Any] = (), after: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Rows of `statement` for a list of ids, where `{ids}` stands for `IN (...)` after a column.

        Written as `... WHERE signature {ids}` with `before`/`after` the parameters around
        it. PostgreSQL gets one array parameter (`= ANY(?)`, planned once, no length limit);
        SQLite gets chunks of `IN (?, ...)` under its variable limit. Empty ids: no rows.
        """
        if not ids:
            return []
        if self.dialect == "postgresql":
            return self.query(statement.format(ids="= ANY(?::text[])"), [*before, list(ids), *after])
        rows: list[tuple[Any, ...]] = []
        for i in range(0, len(ids), IN_CHUNK):
            chunk = list(ids[i : i + IN_CHUNK])
            marks = ",".join("?" * len(chunk))
            rows += self.query(statement.format(ids=f"IN ({marks})"), [*before, *chunk, *after])
        return rows

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        with self.transaction() as cur:
            cur.execute(self.sql(statement), params)

    # --- migrations ---------------------------------------------------------------

    def schema_version(self) -> int:
        rows = self.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        return int(rows[0][0])

    def migrate(self) -> None:
        """Apply pending migrations, each in its own transaction."""
        with self.transaction() as cur:
            if self.dialect == "postgresql":
                cur.execute("SELECT pg_advisory_xact_lock(7326915)")
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at "
                + ("REAL" if self.dialect == "sqlite" else "DOUBLE PRECISION")
                + " NOT NULL)"
            )
        current = self.schema_version()
        latest = MIGRATIONS[-1].version
        if current > latest:
            raise StoreError(
                f"database schema version {current} is newer than this traintriage ({latest}); upgrade traintriage"
            )
        applied = {int(r[0]) for r in self.query("SELECT version FROM schema_migrations")}
        for migration in MIGRATIONS:
            if migration.version in applied:
                continue  # any missing one is applied, not only those above the highest
            with self.transaction() as cur:
                if self.dialect == "postgresql":
                    cur.execute("SELECT pg_advisory_xact_lock(7326915)")
                    cur.execute("SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,))
                    if cur.fetchone():
                        continue
                for statement in migration.statements:
                    cur.execute(render(statement, self.dialect))
                cur.execute(
                    self.sql("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
                    (migration.version, migration.name, time.time()),
                )

    # --- ingest -------------------------------------------------------------------

    def load_checkpoint(self, source: str) -> Checkpoint | None:
        rows = self.query(
            "SELECT source, identity, read_offset, line, events, rejected FROM sources WHERE source = ?",
            (source,),
        )
        if not rows:
            return None
        r = rows[0]
        return Checkpoint(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]))

    def load_miners(self) -> tuple[dict[str, str], dict[str, int], dict[tuple[str, int], str]]:
        """Miner state and generation per scope, and the (scope, cluster) -> signature map."""
        return load_miner_states(self)

    def grouping_algorithms(self) -> set[str]:
        """The grouping algorithms of the stored signatures (empty for a new store)."""
        return {str(r[0]) for r in self.query("SELECT DISTINCT algorithm FROM signatures")}

    def existing_signatures(self, ids: Sequence[str]) -> set[str]:
        """Which of these signature ids are already stored."""
        return {str(r[0]) for r in self.query_in("SELECT id FROM signatures WHERE id {ids}", ids)}

    def apply_batch(self, batch: Batch) -> None:
        """Write a batch and its read positions in one transaction (exactly-once ingest)."""
        versions = batch.version_totals()  # derived from the cells once, used twice
        with self.transaction() as cur:
            claim_batch(self, cur, batch)  # first: Conflict if a concurrent ingest got there first
            self._write_signatures(cur, batch, versions)
            self._write_counts(cur, batch, versions)
            self._refresh_host_summary(cur, batch)
            self._write_samples(cur, batch)
            self._write_templates(cur, batch)
            self._write_checkpoints(cur, batch)

    def _write_signatures(
        self, cur: Any, batch: Batch, versions: dict[tuple[str, str], tuple[float, float, int, int]]
    ) -> None:
        rows = []
        totals = batch.signature_totals(versions)
        for sig, (first, last, events) in self.ordered(totals.items()):
            info = batch.signatures[sig]
            title = batch.titles.get(sig, info.title)
            rows.append(
                (
                    sig,
                    info.algorithm,
                    info.kind,
                    info.channel,
                    info.level,
                    info.exc_class,
                    title,
                    json.dumps(info.explanation),
                    first,
                    last,
                    int(events),
                )
            )
        if rows:
            cur.executemany(
                self.sql(
                    """INSERT INTO signatures AS s (id, algorithm, kind, channel, level, exc_class, title, explanation,
                           first_seen, last_seen, events)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (id) DO UPDATE SET
                           title = excluded.title,
                           explanation = excluded.explanation,
                           first_seen = CASE WHEN excluded.first_seen < s.first_seen THEN excluded.first_seen ELSE s.first_seen END,
                           last_seen = CASE WHEN excluded.last_seen > s.last_seen THEN excluded.last_seen ELSE s.last_seen END,
                           events = s.events + excluded.events"""
                ),
                rows,
            )
        refresh = [(t, s) for s, t in batch.titles.items() if s not in totals]
        if refresh:
            cur.executemany(self.sql("UPDATE signatures SET title = ? WHERE id = ?"), refresh)

    def _upsert(
        self, cur: Any, target: str, columns: str, pg_types: str, rows: list[tuple[Any, ...]], conflict: str
    ) -> None:
        """Insert-or-merge many rows: one `unnest` statement on PostgreSQL (about 2.5x faster than
        a row at a time, style.md §3.3), `executemany` on SQLite. Keys must be unique in `rows`
        (batches are pre-aggregated), as PostgreSQL's ON CONFLICT requires."""
        if not rows:
            return
        if self.dialect == "postgresql":
            arrays = ", ".join(f"%s::{t}[]" for t in pg_types.split())
            cur.execute(
                f"INSERT INTO {target} ({columns}) SELECT * FROM unnest({arrays}) {conflict}",
                [list(col) for col in zip(*rows, strict=True)],
            )
        else:
            marks = ", ".join("?" * len(columns.split(",")))
            cur.executemany(f"INSERT INTO {target} ({columns}) VALUES ({marks}) {conflict}", rows)

    def _write_counts(
        self, cur: Any, batch: Batch, versions: dict[tuple[str, str], tuple[float, float, int, int]]
    ) -> None:
        self._upsert(
            cur,
            "signature_versions AS v",
            "signature, version, first_seen, last_seen, events, requests",
            "text text float8 float8 int8 int8",
            [(s, v, a[0], a[1], a[2], a[3]) for (s, v), a in self.ordered(versions.items())],
            """ON CONFLICT (signature, version) DO UPDATE SET
                first_seen = CASE WHEN excluded.first_seen < v.first_seen THEN excluded.first_seen ELSE v.first_seen END,
                last_seen = CASE WHEN excluded.last_seen > v.last_seen THEN excluded.last_seen ELSE v.last_seen END,
                events = v.events + excluded.events,
                requests = v.requests + excluded.requests""",
        )
        self._upsert(
            cur,
            "counts AS c",
            "version, slot, signature, wiki, events, requests",
            "text int8 text text int8 int8",
            [(v, h, s, w, a[0], a[1]) for (s, v, w, h), a in self.ordered(batch.cells.items())],
            """ON CONFLICT (version, slot, signature, wiki) DO UPDATE SET
                events = c.events + excluded.events,
                requests = c.requests + excluded.requests""",
        )
        self._upsert(
            cur,
            "wiki_versions AS w",
            "wiki, version, first_slot, last_slot, events",
            "text text int8 int8 int8",
            [(w, v, a[0], a[1], a[2]) for (w, v), a in self.ordered(batch.wiki_versions().items())],
            """ON CONFLICT (wiki, version) DO UPDATE SET
                first_slot = CASE WHEN excluded.first_slot < w.first_slot THEN excluded.first_slot ELSE w.first_slot END,
                last_slot = CASE WHEN excluded.last_slot > w.last_slot THEN excluded.last_slot ELSE w.last_slot END,
                events = w.events + excluded.events""",
        )
        self._upsert(
            cur,
            "error_buckets AS b",
            "version, bucket, events",
            "text int8 int8",
            [(v, b, n) for (v, b), n in self.ordered(batch.buckets.items())],
            "ON CONFLICT (version, bucket) DO UPDATE SET events = b.events + excluded.events",
        )
        self._upsert(
            cur,
            "signature_hosts AS h",
            "signature, version, host, events",
            "text text text int8",
            [(s, v, h, n) for (s, v, h), n in self.ordered(batch.hosts.items())],
            "ON CONFLICT (signature, version, host) DO UPDATE SET events = h.events + excluded.events",
        )

    def _refresh_host_summary(self, cur: Any, batch: Batch) -> None:
        """Keep hosts / busiest host per (signature, version) next to its totals for fast reads."""
        pairs = self.ordered(list({(s, v) for (s, v, _h) in batch.hosts}))
        if not pairs:
            return
        cur.executemany(
            self.sql(
                """UPDATE signature_versions SET
                       hosts = (SELECT COUNT(*) FROM signature_hosts h
                                WHERE h.signature = signature_versions.signature AND h.version = signature_versions.version),
                       top_host_events = (SELECT MAX(events) FROM signature_hosts h
                                WHERE h.signature = signature_versions.signature AND h.version = signature_versions.version),
                       top_host = (SELECT host FROM signature_hosts h
                                WHERE h.signature = signature_versions.signature AND h.version = signature_versions.version
                                ORDER BY events DESC, host LIMIT 1)
                   WHERE signature = ? AND version = ?"""
            ),
            pairs,
        )

    def _write_samples(self, cur: Any, batch: Batch) -> None:
        for (sig, version), samples in sorted(batch.samples.items()):
            cur.execute(
                self.sql(
                    "SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM samples WHERE signature = ? AND version = ?"
                ),
                (sig, version),
            )
            count, top = cur.fetchone()
            room = SAMPLES_PER_VERSION - int(count)
            if room <= 0:
                continue
            render = batch.render
            rows = [
                (sig, version, int(top) + i + 1, ts, json.dumps(render(event), ensure_ascii=False))
                for i, (ts, event) in enumerate(samples[:room])
            ]
            cur.executemany(
                self.sql("INSERT INTO samples (signature, version, seq, ts, event) VALUES (?, ?, ?, ?, ?)"),
                rows,
            )

    def _write_templates(self, cur: Any, batch: Batch) -> None:
        if batch.templates:
            cur.executemany(
                self.sql(
                    "INSERT INTO templates (scope, cluster, signature) VALUES (?, ?, ?) ON CONFLICT (scope, cluster) DO NOTHING"
                ),
                [(scope, cluster, sig) for (scope, cluster), sig in sorted(batch.templates.items())],
            )
        unclaimed = sorted((k, v) for k, v in batch.miner_states.items() if k not in batch.miner_base)
        if unclaimed:
            cur.executemany(
                self.sql(
                    "INSERT INTO miner_state AS m (scope, state) VALUES (?, ?) "
                    "ON CONFLICT (scope) DO UPDATE SET state = excluded.state, generation = m.generation + 1"
                ),
                unclaimed,
            )

    def _write_checkpoints(self, cur: Any, batch: Batch) -> None:
        now = time.time()
        for cp in batch.checkpoints.values():
            if cp.source in batch.checkpoint_base:
                continue  # written by claim_batch
            cur.execute(
                self.sql(
                    """INSERT INTO sources AS s (source, identity, read_offset, line, events, rejected, updated_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (source) DO UPDATE SET identity = excluded.identity,
                           read_offset = excluded.read_offset, line = excluded.line, events = excluded.events,
                           rejected = excluded.rejected, updated_at = excluded.updated_at"""
                ),
                (cp.source, cp.identity, cp.offset, cp.line, cp.events, cp.rejected, now),
            )


def _connect_sqlite(path: str) -> sqlite3.Connection:
    if path not in ("", ":memory:"):
        parent = Path(path).expanduser().resolve().parent
        if not parent.is_dir():
            raise StoreError(f"cannot open database {path}: directory {parent} does not exist")
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        # A page cache that holds the pages one ingest batch touches (the default is 2 MB).
        conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    except sqlite3.DatabaseError as err:
        raise StoreError(f"cannot open database {path}: {err}") from None
    return conn


def _connect_pg(url: str) -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - depends on the install
        raise StoreError(
            "PostgreSQL support needs the 'postgres' extra: pip install 'traintriage[postgres]'"
        ) from None
    try:
        return psycopg.connect(url, autocommit=True)
    except psycopg.Error as err:
        raise StoreError(f"cannot connect to {_safe_url(url)}: {str(err).strip()}") from None


def _safe_url(url: str) -> str:
    """Hide a password in a connection URL before printing it."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url


def open_store(db: str | None = None) -> Store:
    """Open (and migrate) the store chosen by --db / TRAINTRIAGE_DB / default."""
    return Store(resolve_url(db))
