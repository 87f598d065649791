"""Concurrent ingests of one store (issue 8): the same file read by several processes is
counted once, different files at once never split a template into two signatures.

Real processes on real SQLite files and a real PostgreSQL database, started together;
plus deterministic interleavings: a second ingest commits in the middle of the first
(from the first one's reject callback), so the clash is certain, not a matter of timing.
"""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import synthetic_lines
from traintriage.ingest.pipeline import Ingester, IngestOptions, ingest
from traintriage.ingest.sources import SpooledStream
from traintriage.store.db import Store
from traintriage.store.reads import store_stats, top_signatures

pytestmark = pytest.mark.slow

TEMPLATES = (
    "Could not connect to server db{a} in {dc}",
    "Job queue for wiki {wiki} is backlogged by {n} jobs",
    "Memcached error for key {key}:{n} on server mc{a}",
    "Slow query on {table} table took {n} seconds",
)


WORDS = {
    "dc": ["eqiad", "codfw"],
    "wiki": ["enwiki", "dewiki", "frwiki"],
    "key": ["WANCache", "global", "local"],
    "table": ["page", "revision", "user"],
}


def free_text(n: int, seed: int, start_hour: int = 0) -> tuple[list[str], dict[int, int]]:
    """Free-text error lines of four templates (mined into templates, not exceptions).

    The first four lines give each template once with words chosen by `seed`, so two
    files with different seeds start each template with different words: the first
    message of a cluster names its signature, and two miners working apart would name
    the same template differently (the split this guards against).
    """
    rng = random.Random(seed)
    lines: list[str] = []
    per_template: dict[int, int] = {}
    for i in range(n):
        k = i if i < len(TEMPLATES) else rng.randrange(len(TEMPLATES))
        words = {w: (c[seed % len(c)] if i < len(TEMPLATES) else rng.choice(c)) for w, c in WORDS.items()}
        message = TEMPLATES[k].format(a=rng.randrange(1000, 2000), n=rng.randrange(10, 9999), **words)
        per_template[k] = per_template.get(k, 0) + 1
        ts = f"2021-01-19T{(start_hour + i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z"
        doc = {"@timestamp": ts, "type": "mediawiki", "channel": "rdbms", "level": "ERROR"}
        doc.update({"mwversion": "1.36.0-wmf.27", "wiki": "enwiki", "message": message})
        lines.append(json.dumps(doc))
    return lines, per_template


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _template_events(store: Store) -> dict[str, int]:
    """Events per free-text signature (one per template when nothing split)."""
    return {s.id: s.events for s in top_signatures(store, limit=1000) if s.channel == "rdbms"}


def _check_templates(store: Store, expected: dict[int, int]) -> None:
    got = _template_events(store)
    assert len(got) == len(TEMPLATES), f"a template was split: {sorted(got)}"
    assert sorted(got.values()) == sorted(expected.values())


def _spawn(db: str, *files: str, batch: int = 1000) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "traintriage", "ingest", "--db", db, "--batch", str(batch), "-q", *files],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _run_together(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
        assert b"Traceback" not in err


@pytest.mark.parametrize("processes", [2, 4])
def test_same_file_by_several_processes_counts_once(db_url: str, tmp_path: Path, processes: int) -> None:
    lines, expected = synthetic_lines(6000, seed=5)
    text, per_template = free_text(2000, seed=6)
    path = _write(tmp_path / "same.log", lines + text)
    with Store(db_url) as store:  # migrated before the race, as a running deployment is
        pass
    _run_together([_spawn(db_url, str(path)) for _ in range(processes)])
    with Store(db_url) as store:
        assert store_stats(store)["events"] == 8000
        _check_templates(store, per_template)


@pytest.mark.parametrize("processes", [2, 4])
def test_different_files_at_once_split_no_template(db_url: str, tmp_path: Path, processes: int) -> None:
    files = []
    expected: dict[int, int] = {}
    for p in range(processes):
        text, per_template = free_text(2500, seed=100 + p, start_hour=p)
        for k, n in per_template.items():
            expected[k] = expected.get(k, 0) + n
        files.append(str(_write(tmp_path / f"part{p}.log", text)))
    with Store(db_url):
        pass
    _run_together([_spawn(db_url, f, batch=300) for f in files])
    with Store(db_url) as store:
        assert store_stats(store)["events"] == 2500 * processes
        _check_templates(store, expected)


def test_commit_in_the_middle_of_a_run_is_not_counted_twice(db_url: str, tmp_path: Path) -> None:
    """Deterministic clash on the read position: B ingests the whole file while A is reading it."""
    lines, _ = synthetic_lines(3000, seed=8, bad_every=1000)
    path = _write(tmp_path / "a.log", lines)
    other = Store(db_url)
    interleaved: list[int] = []

    def b_runs_now(name: str, line: int, reason: str) -> None:
        if not interleaved:
            interleaved.append(ingest(other, [str(path)]).events)

    with Store(db_url) as store:
        report = ingest(store, [str(path)], IngestOptions(batch_events=500, on_reject=b_runs_now))
        assert interleaved == [2997]
        assert store_stats(store)["events"] == 2997
        assert report.sources[0].events == 2997 and report.sources[0].rejected == 3
    other.close()


def test_template_clash_reloads_miners_and_rereads(db_url: str, tmp_path: Path) -> None:
    """Deterministic clash on a miner state: both mine the same new templates; A loses,
    reloads the miners B saved and re-reads its own file from the start."""
    a_lines, a_expected = free_text(1500, seed=1)
    b_lines, b_expected = free_text(1500, seed=2, start_hour=5)
    a = _write(tmp_path / "a.log", ["not a log line"] + a_lines)
    b = _write(tmp_path / "b.log", b_lines)
    other = Store(db_url)
    done: list[bool] = []

    def b_runs_now(name: str, line: int, reason: str) -> None:
        if not done:
            done.append(True)
            ingest(other, [str(b)])

    with Store(db_url) as store:
        ingester = Ingester(store, IngestOptions(on_reject=b_runs_now))
        report = ingester.run([str(a)])
        assert store_stats(store)["events"] == 3000
        _check_templates(store, {k: a_expected[k] + b_expected[k] for k in a_expected})
        assert ingester.conflicts == 1
        assert report.sources[0].rejected == 1 and len(report.sources[0].errors) == 1
    other.close()


def test_stdin_is_replayed_after_a_clash(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stdin cannot be read twice: what was read since the last commit is spooled and replayed."""
    a_lines, a_expected = free_text(1200, seed=11)
    b_lines, b_expected = free_text(1200, seed=12, start_hour=3)
    b = _write(tmp_path / "b.log", b_lines)
    stdin = "\n".join(["garbage"] + a_lines) + "\n"  # B commits before A's first commit
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    other = Store(db_url)
    done: list[int] = []

    def b_runs_now(name: str, line: int, reason: str) -> None:
        if not done:
            done.append(ingest(other, [str(b)]).events)

    with Store(db_url) as store:
        ingester = Ingester(store, IngestOptions(batch_events=400, on_reject=b_runs_now))
        report = ingester.run(["-"])
        assert ingester.conflicts >= 1 and done == [1200]
        assert (report.events, report.rejected) == (1200, 1)
        assert store_stats(store)["events"] == 2400
        _check_templates(store, {k: a_expected[k] + b_expected[k] for k in a_expected})
    other.close()


def test_spooled_stream_replays_uncommitted_lines_then_continues() -> None:
    stream = SpooledStream(io.BytesIO(b"one\ntwo\nthree\nfour\n"))
    assert [stream.readline(), stream.readline()] == [b"one\n", b"two\n"]
    stream.pending = (2, 2, 0)
    stream.commit()
    assert stream.readline() == b"three\n"
    stream.rewind()  # a clash: "three" was not committed
    assert stream.committed == (2, 2, 0)
    assert [stream.readline(), stream.readline(), stream.readline()] == [b"three\n", b"four\n", b""]
    stream.rewind()
    assert [stream.readline(), stream.readline(), stream.readline()] == [b"three\n", b"four\n", b""]
    stream.close()
