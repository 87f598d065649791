"""A damaged store and a full disk (issue 8): a clear message and an exit code, never a
driver traceback; the store keeps what was committed, and a rerun completes exactly.

The full disk is real: a 2 MiB tmpfs mounted in a private mount namespace (`unshare`),
so the test needs no root on the host and leaves no mount behind; it is skipped where
user namespaces are not allowed.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import mw_line, synthetic_lines
from traintriage.core.errors import StorageFull, Unavailable
from traintriage.ingest.pipeline import ingest
from traintriage.store.db import Store
from traintriage.store.failures import storage_error
from traintriage.store.reads import store_stats, top_signatures

EX_UNAVAILABLE = 69


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "traintriage", *args], capture_output=True, text=True, check=False
    )


def _damage(db: Path, tables: tuple[str, ...]) -> None:
    """Overwrite the root pages of some tables with garbage, as a bad disk or copy would."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    marks = ",".join("?" * len(tables))
    roots = [
        r[0] for r in conn.execute(f"SELECT rootpage FROM sqlite_master WHERE name IN ({marks})", tables)
    ]
    conn.close()
    assert len(roots) == len(tables)
    with db.open("r+b") as fh:
        for page in roots:
            fh.seek((page - 1) * page_size)
            fh.write(b"\xff" * page_size)


@pytest.mark.slow
def test_damaged_store_is_a_clear_error_in_ingest_signatures_and_gate(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    first = tmp_path / "a.log"
    first.write_text("\n".join(synthetic_lines(300)[0]) + "\n")
    assert _cli("ingest", "--db", str(db), str(first)).returncode == 0
    _damage(db, ("signatures", "counts", "error_buckets", "signature_versions"))
    second = tmp_path / "b.log"
    second.write_text(mw_line(req="new", message="something new") + "\n")
    for args in (
        ("signatures",),
        ("ingest", str(second)),
        ("gate", "--version", "1.36.0-wmf.28", "--stage", "group1", "--at", "2021-01-19T20:00:00Z"),
    ):
        out = _cli(*args, "--db", str(db))
        assert "Traceback" not in out.stderr, out.stderr
        assert out.returncode == EX_UNAVAILABLE, (args, out.returncode, out.stderr)
        assert f"database {db} is damaged (database disk image is malformed)" in out.stderr
        assert ".recover" in out.stderr


def test_damaged_store_raises_unavailable_from_the_store(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    path = tmp_path / "a.log"
    path.write_text("\n".join(synthetic_lines(300)[0]) + "\n")
    with Store(str(db)) as store:
        ingest(store, [str(path)])
    _damage(db, ("signatures",))
    with Store(str(db)) as store, pytest.raises(Unavailable, match="is damaged"):
        top_signatures(store)


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_unshare(), reason="needs user and mount namespaces (unshare -rm)")
def test_full_disk_during_ingest_is_a_clear_error_and_a_rerun_completes(tmp_path: Path) -> None:
    lines = [
        mw_line(req=f"r{i}", message=f"failure {i}", cls=f"Error{i % 1500}", wiki=f"wiki{i % 300}")
        for i in range(12_000)
    ]
    log = tmp_path / "big.log"
    log.write_text("\n".join(lines) + "\n")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    db = mnt / "t.db"
    check = (
        "from traintriage.store.db import Store\n"
        "from traintriage.store.reads import store_stats\n"
        f"s = Store({str(db)!r})\n"
        "rows = s.query('SELECT events FROM sources')\n"
        "print(store_stats(s)['events'], rows[0][0] if rows else 0, s.query('PRAGMA integrity_check')[0][0])\n"
    )
    tt = f"{sys.executable} -m traintriage"
    script = textwrap.dedent(
        f"""
        mount -t tmpfs -o size=2m tmpfs {mnt} || exit 99
        {tt} ingest --db {db} --batch 1000 -q {log} > /dev/null 2> {tmp_path}/err1; echo "rc1=$?"
        {sys.executable} -c "{check}"
        mount -o remount,size=256m {mnt}
        {tt} ingest --db {db} --batch 1000 -q {log} > /dev/null 2> {tmp_path}/err2; echo "rc2=$?"
        {sys.executable} -c "{check}"
        """
    )
    out = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    rc1, stored1, rc2, stored2 = out.stdout.split("\n")[:4]
    err1 = (tmp_path / "err1").read_text()
    assert rc1 == f"rc1={EX_UNAVAILABLE}" and "Traceback" not in err1
    assert "the disk is full" in err1 and "nothing of this write was stored" in err1
    events, checkpoint, integrity = stored1.split()
    assert events == checkpoint and integrity == "ok" and int(events) < 12_000  # exactly what was committed
    assert rc2 == "rc2=0", (tmp_path / "err2").read_text()
    assert stored2.split() == ["12000", "12000", "ok"]


@pytest.mark.slow
def test_full_disk_writing_rejects_names_the_file(tmp_path: Path) -> None:
    """`--rejects` on a full device: a clear I/O error naming the file; the counts were committed."""
    path = tmp_path / "a.log"
    path.write_text(mw_line() + "\nnot a log line\n")
    db = tmp_path / "t.db"
    out = _cli("ingest", "--db", str(db), "--rejects", "/dev/full", str(path))
    assert "Traceback" not in out.stderr and out.returncode == 74
    assert "/dev/full" in out.stderr and "No space left on device" in out.stderr
    with Store(str(db)) as store:
        assert store_stats(store)["events"] == 1


def test_storage_full_is_unavailable() -> None:
    assert issubclass(StorageFull, Unavailable)


@pytest.mark.postgres
def test_lost_postgresql_connection_is_unavailable(pg_url: str) -> None:
    """PostgreSQL's side of the same rule: a server-side failure is a clear `Unavailable`."""
    import psycopg

    with Store(pg_url) as store:
        pid = store.query("SELECT pg_backend_pid()")[0][0]
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(Unavailable, match="connection lost"):
            top_signatures(store)
        with pytest.raises(Unavailable, match="connection lost"), store.transaction() as cur:
            cur.execute("SELECT 1")


def test_driver_failures_map_to_core_errors() -> None:
    """The mapping itself, on real driver exception classes (store/failures.py)."""
    import psycopg

    def sqlite_error(name: str, code: int) -> sqlite3.DatabaseError:
        err = sqlite3.OperationalError(name.lower())
        err.sqlite_errorname, err.sqlite_errorcode = name, code  # type: ignore[attr-defined]
        return err

    cases = [
        (sqlite_error("SQLITE_FULL", 13), StorageFull, "the disk is full"),
        (sqlite_error("SQLITE_CORRUPT", 11), Unavailable, "is damaged"),
        (sqlite_error("SQLITE_NOTADB", 26), Unavailable, "is damaged"),
        (sqlite_error("SQLITE_IOERR_WRITE", 778), Unavailable, "input/output error"),
        (sqlite_error("SQLITE_READONLY", 8), Unavailable, "read-only"),
        (sqlite_error("SQLITE_BUSY", 5), Unavailable, "locked"),
        (psycopg.errors.DiskFull("no space"), StorageFull, "the disk is full"),
        (psycopg.errors.OutOfMemory("oom"), Unavailable, "out of resources"),
        (psycopg.errors.DataCorrupted("bad page"), Unavailable, "is damaged"),
        (psycopg.errors.AdminShutdown("bye"), Unavailable, "connection lost"),
        (psycopg.OperationalError("server closed the connection"), Unavailable, "connection lost"),
    ]
    for err, kind, words in cases:
        mapped = storage_error(err, "db")
        assert type(mapped) is kind and words in str(mapped), (err, mapped)
    assert storage_error(sqlite_error("SQLITE_ERROR", 1), "db") is None  # a bad statement: a bug
    assert storage_error(psycopg.errors.UniqueViolation("dup"), "db") is None
