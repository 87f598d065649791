"""kill -9 a real ingest process at random points; a rerun must give exact counts."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import synthetic_lines
from traintriage.store.db import Store
from traintriage.store.reads import store_stats, top_signatures

pytestmark = pytest.mark.slow

N = 60_000


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "traintriage", *args]


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    lines, expected = synthetic_lines(N, seed=3, bad_every=997)
    path = tmp_path_factory.mktemp("crash") / "big.log"
    path.write_text("\n".join(lines) + "\n")
    return path, expected


def _kill_during_ingest(db: str, path: Path, delay: float) -> None:
    proc = subprocess.Popen(
        _cli("ingest", "--db", db, "--batch", "2000", "-q", str(path)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_kill_9_then_resume_counts_exactly(db_url: str, log_file: tuple[Path, dict[str, int]]) -> None:
    path, expected = log_file
    rng = random.Random(11)
    with Store(db_url):  # migrate first so kills land in ingest, not in schema creation
        pass
    for _ in range(3):
        _kill_during_ingest(db_url, path, rng.uniform(0.4, 1.6))
    done = subprocess.run(_cli("ingest", "--db", db_url, "--json", str(path)), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"error": null' in done.stdout
    with Store(db_url) as store:
        by_class: dict[str, int] = {}
        for s in top_signatures(store, limit=100):
            by_class[s.exc_class or ""] = by_class.get(s.exc_class or "", 0) + s.events
            assert sum(v.events for v in s.versions) == s.events
        assert by_class == expected
        stats = store_stats(store)
        assert stats["events"] == sum(expected.values())
        rows = store.query("SELECT line, events, rejected FROM sources")
        assert rows[0][0] == N and rows[0][1] + rows[0][2] == N
        cells = store.query("SELECT SUM(events) FROM counts")[0][0]
        assert int(cells) == sum(expected.values())
