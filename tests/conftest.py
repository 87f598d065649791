"""Shared fixtures: real SQLite files, a real PostgreSQL server started here, CLI runner.

PostgreSQL: `$TRAINTRIAGE_TEST_PG_DSN` if set; otherwise a throwaway cluster is
created with the Debian binaries (as the `postgres` user via runuser when we are
root, since initdb refuses root) on 127.0.0.1 and a free port. With
`TRAINTRIAGE_REQUIRE_PG=1` (CI) a missing server fails instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgserver import PgUnavailable, pg_cluster

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _unavailable(reason: str) -> None:
    if os.environ.get("TRAINTRIAGE_REQUIRE_PG"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """DSN of a PostgreSQL server for this test session (database 'postgres')."""
    if os.environ.get("TRAINTRIAGE_TEST_PG_DSN"):
        yield os.environ["TRAINTRIAGE_TEST_PG_DSN"]
        return
    try:
        cluster = pg_cluster()
        dsn = cluster.__enter__()
    except PgUnavailable as err:
        _unavailable(str(err))
        return
    try:
        yield dsn
    finally:
        cluster.__exit__(None, None, None)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped afterwards."""
    import psycopg

    name = "tt_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base = pg_server.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs against both backends."""
    if request.param == "sqlite":
        return str(tmp_path / "traintriage.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[object]:
    from traintriage.store.db import Store

    s = Store(db_url)
    yield s
    s.close()


@pytest.fixture(scope="session")
def loghub_dir() -> Path:
    path = SHARED / "data" / "loghub_2k"
    if not path.is_dir():
        pytest.skip("../shared/data/loghub_2k not present")
    return path
