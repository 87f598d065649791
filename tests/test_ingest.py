"""Ingest into real SQLite and PostgreSQL: counts, idempotence, resume, bad input."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from tests.helpers import mw_line, synthetic_lines
from traintriage.ingest.pipeline import IngestOptions, ingest
from traintriage.store.db import Store
from traintriage.store.reads import resolve_signature, signature_detail, store_stats, top_signatures


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def events_by_class(store: Store) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in top_signatures(store, limit=1000):
        out[s.exc_class or s.title] = out.get(s.exc_class or s.title, 0) + s.events
    return out


@pytest.mark.slow
def test_counts_per_signature_version_wiki(store: Store, tmp_path: Path) -> None:
    lines, expected = synthetic_lines(3000, bad_every=100)
    report = ingest(store, [str(write(tmp_path / "a.log", lines))], IngestOptions(batch_events=500))
    assert report.rejected == 30 and report.events == 2970
    assert events_by_class(store) == expected
    sigs = top_signatures(store)
    assert len(sigs) == 3  # values, versions and line numbers do not split a bug
    for s in sigs:
        assert {v.version for v in s.versions} == {"1.36.0-wmf.27", "1.36.0-wmf.28"}
        assert sum(v.events for v in s.versions) == s.events
    detail = signature_detail(store, sigs[0].id)
    assert sum(e for _, _, e, _ in detail.wikis) == sigs[0].events
    assert sum(e for _, _, e, _ in detail.hours) == sigs[0].events
    assert 0 < len(detail.samples) <= 10
    # each request logged the error up to twice: distinct requests are fewer than events
    assert sum(v.requests for v in sigs[0].versions) < sigs[0].events
    stats = store_stats(store)
    assert stats["events"] == 2970 and stats["counts"] <= 3 * 2 * 3 * 24 * 5


def test_reingest_same_file_counts_nothing_twice(store: Store, tmp_path: Path) -> None:
    lines, expected = synthetic_lines(1000)
    path = write(tmp_path / "a.log", lines)
    ingest(store, [str(path)])
    again = ingest(store, [str(path)])
    assert again.sources[0].already_done
    assert events_by_class(store) == expected
    # appended lines are picked up, earlier ones are not re-counted
    more, more_expected = synthetic_lines(200, seed=99)
    with path.open("a") as fh:
        fh.write("\n".join(more) + "\n")
    report = ingest(store, [str(path)])
    assert report.sources[0].resumed_at_line == 1000
    total = {k: expected.get(k, 0) + more_expected.get(k, 0) for k in set(expected) | set(more_expected)}
    assert events_by_class(store) == total


def test_gzip_and_rejects_file(store: Store, tmp_path: Path) -> None:
    lines, _ = synthetic_lines(500, bad_every=50)
    gz = tmp_path / "a.log.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    rejects = io.BytesIO()
    report = ingest(store, [str(gz)], IngestOptions(rejects=rejects))
    assert (report.events, report.rejected) == (490, 10)
    kept = rejects.getvalue().decode().splitlines()
    assert len(kept) == 20
    assert kept[0].startswith(f"# {gz}:50: invalid JSON")
    assert kept[1] == lines[49]
    assert ingest(store, [str(gz)]).sources[0].already_done


def test_missing_file_is_reported_and_others_still_read(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "ok.log", [mw_line()])
    report = ingest(store, [str(tmp_path / "nope.log"), str(path)])
    assert report.sources[0].error and "cannot open" in report.sources[0].error
    assert report.events == 1


def test_rotated_file_with_same_name_is_read_from_start(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "a.log", [mw_line(req=f"r{i}", message=f"first {i}") for i in range(5)])
    ingest(store, [str(path)])
    write(path, [mw_line(req=f"x{i}", message="rotated", cls="LogicException") for i in range(3)])
    report = ingest(store, [str(path)])
    assert report.sources[0].resumed_at_line == 0 and report.events == 3


def test_show_by_prefix(store: Store, tmp_path: Path) -> None:
    ingest(store, [str(write(tmp_path / "a.log", [mw_line()]))])
    sig = top_signatures(store)[0].id
    assert resolve_signature(store, sig[:6]) == sig
