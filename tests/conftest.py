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
from typing import Any

import pytest

from tests.helpers import SimTrain
from tests.pgserver import PgUnavailable, pg_cluster

SHARED = Path(__file__).resolve().parents[2] / "shared"


PG_FIXTURES = {"pg_server", "pg_url"}
BROWSER_FIXTURES = {"browser"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark what needs PostgreSQL or Chromium by the fixtures it uses (`make quick` leaves them out)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        if names & PG_FIXTURES or params.get("db_url") == "postgres":
            item.add_marker(pytest.mark.postgres)
        if names & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)


SLOW_SECONDS = 1.0  # a test this slow belongs behind @pytest.mark.slow (`make quick` leaves those out)
_durations: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "slow" not in report.keywords:  # shared fixtures' set-up is not the test's
        _durations[report.nodeid] = report.duration


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Name the tests not marked slow whose run took SLOW_SECONDS or more (`make quick` shows them)."""
    slow = sorted((t, n) for n, t in _durations.items() if t >= SLOW_SECONDS)
    if slow and "not slow" in (config.getoption("markexpr") or ""):
        terminalreporter.section("slow tests not marked @pytest.mark.slow")
        for seconds, nodeid in reversed(slow):
            terminalreporter.write_line(f"{seconds:6.2f}s {nodeid}")


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


# --- a small simulated train, loaded once, copied per test -------------------------------


@pytest.fixture(scope="session")
def sim_train(tmp_path_factory: pytest.TempPathFactory) -> SimTrain:
    """wmf.26 -> wmf.28 over two weeks, 8k log lines: go, no-go, hold and inconclusive moments."""
    from traintriage.store.db import Store
    from traintriage_sim import simulate
    from traintriage_sim.scoring import load_simulation

    root = tmp_path_factory.mktemp("sim_train")
    simulate(root / "sim", events=8000, weeks=2, seed=1)
    with Store(str(root / "train.db")) as store:
        load_simulation(store, root / "sim")
    return SimTrain(root / "sim", root / "train.db")


@pytest.fixture
def train_db(sim_train: SimTrain, tmp_path: Path) -> str:
    return sim_train.copy(tmp_path)
