"""Database failures a user can act on, as core errors instead of driver tracebacks.

A damaged SQLite file, a full disk, a lost PostgreSQL connection: the driver raises its
own exception classes (`sqlite3.DatabaseError`, `psycopg.OperationalError`), which the
CLI and web app would report as bugs. `Store` passes each through `storage_error`, which
turns the conditions below into `Unavailable` / `StorageFull` with a message saying what
happened and what to do; anything else (a bad statement, a constraint) stays as it is,
because that is a bug or the caller's business. The transaction that failed was rolled
back: the store keeps what it had.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from traintriage.core.errors import StorageFull, Unavailable

_SQLITE_DAMAGED = {"SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_CORRUPT_INDEX", "SQLITE_CORRUPT_SEQUENCE"}


def driver_errors() -> tuple[type[BaseException], ...]:
    """The driver exception classes worth inspecting (psycopg's only when it is installed)."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - depends on the install
        return (sqlite3.DatabaseError,)
    return (sqlite3.DatabaseError, psycopg.Error)


def storage_error(err: BaseException, where: str) -> Exception | None:
    """The core error `err` stands for, or None when it is not a storage failure.

    `where` names the database (a path, or a URL without its password).
    """
    if isinstance(err, sqlite3.DatabaseError):
        return _sqlite(err, where)
    return _postgres(err, where)


def _sqlite(err: sqlite3.DatabaseError, where: str) -> Exception | None:
    name = getattr(err, "sqlite_errorname", "") or ""
    if name == "SQLITE_FULL":
        return StorageFull(f"database {where}: the disk is full ({err}); nothing of this write was stored")
    if name in _SQLITE_DAMAGED or name.startswith("SQLITE_CORRUPT"):
        return Unavailable(
            f"database {where} is damaged ({err}); restore it from a backup, "
            f"or try `sqlite3 {where} .recover` into a new file"
        )
    if name.startswith("SQLITE_IOERR") or name.startswith("SQLITE_CANTOPEN"):
        return Unavailable(f"database {where}: input/output error ({err}); check the disk and the file")
    if name.startswith("SQLITE_READONLY"):
        return Unavailable(f"database {where} is read-only ({err})")
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED"):
        return Unavailable(f"database {where} stayed locked by another process ({err}); try again")
    return None


def _postgres(err: BaseException, where: str) -> Exception | None:
    state = str(getattr(err, "sqlstate", "") or "")
    if state.startswith("53"):  # insufficient resources: 53100 disk full, 53200 out of memory, ...
        if state == "53100":
            return StorageFull(f"database {where}: the disk is full ({_first_line(err)}); nothing was stored")
        return Unavailable(f"database {where}: the server is out of resources ({_first_line(err)})")
    if state in ("XX001", "XX002"):
        return Unavailable(f"database {where} is damaged ({_first_line(err)}); restore it from a backup")
    if type(err).__name__ == "OperationalError" or state.startswith("08") or state.startswith("57P"):
        return Unavailable(f"database {where}: connection lost or refused ({_first_line(err)})")
    return None


def _first_line(err: Any) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
