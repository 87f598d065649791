"""Hostile and broken log lines (issue 8): every one is a per-line reject with its reason,
the good lines around it are kept and committed, and a rerun adds nothing.

The poison lines are built here, in the test, from the cases the issue reproduced.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import mw_line
from traintriage.core.errors import InvalidInput
from traintriage.core.timeparse import parse_epoch_or_iso, parse_timestamp
from traintriage.core.validate import check_time, check_version
from traintriage.ingest.formats import LineError, LineReader
from traintriage.ingest.pipeline import IngestOptions, ingest
from traintriage.store.db import Store
from traintriage.store.reads import store_stats, top_signatures

GOOD_TS = "2021-01-19T18:00:01Z"


def _doc(**fields: object) -> str:
    base: dict[str, object] = {
        "@timestamp": GOOD_TS,
        "type": "mediawiki",
        "channel": "exception",
        "level": "ERROR",
        "mwversion": "1.36.0-wmf.27",
        "wiki": "enwiki",
        "message": "poison",
    }
    base.update(fields)
    return json.dumps(base)


# (line, words the reject reason must contain)
POISON: list[tuple[str, str]] = [
    ('{"a":' * 1000 + "1" + "}" * 1000, "nested too deeply"),
    (_doc()[:-1] + ', "ctx": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    (
        "2021-01-19 18:00:01 [r1] mw1 enwiki 1.36.0-wmf.27 exception ERROR: m " + "[" * 3000 + "]" * 3000,
        "nested too deeply",
    ),
    ("host1 @cee: " + '{"x":' * 2000 + "1" + "}" * 2000, "nested too deeply"),
    (_doc(**{"@timestamp": "9" * 400}), "not a finite number"),
    (_doc(**{"@timestamp": "NaN"}), "not a finite number"),
    (_doc(**{"@timestamp": "inf"}), "not a finite number"),
    (_doc(**{"@timestamp": "-1e20"}), "outside 2000-01-01..2100-01-01"),
    (_doc(**{"@timestamp": "1e400"}), "not a finite number"),
    (_doc(**{"@timestamp": "0001-01-01T00:00:00Z"}), "outside 2000-01-01..2100-01-01"),
    (_doc(**{"@timestamp": "9999-12-31T23:59:59Z"}), "outside 2000-01-01..2100-01-01"),
    (_doc(**{"@timestamp": "2021-01-19T18:00:01.5e400Z"}), "invalid timestamp"),
    ('{"time": ' + "9" * 400 + ', "message": "generic"}', "400 digits"),
    ('{"time": -1e20, "message": "generic"}', "outside"),
    ('{"time": "NaN", "message": "generic"}', "not a finite number"),
    (_doc(mwversion=" "), "blank version"),
    (_doc(mwversion="v" * 10_000), "10,000 characters"),
    (_doc(mwversion="1.36\u0000"), "control"),
    ('{"@timestamp": "2021-01-19T18:00:01Z", "message": "m", "version": "a b"}', "spaces"),
    ("2021-01-19 18:00:01 [r1] mw1 enwiki " + "9" * 200 + " exception ERROR: m", "characters long"),
    ("9999-12-31T23:59:59Z a plain text line from the far future", "outside 2000-01-01..2100-01-01"),
    ("\ufeff0001-01-01 00:00:00 plain text, BOM first", "outside 2000-01-01..2100-01-01"),
]


def _good(i: int) -> str:
    return mw_line(req=f"g{i}", message=f"good line {i % 3}")


def _poison_file(path: Path) -> tuple[dict[int, str], int]:
    """Good lines around every poison line; returns {line: expected reason} and good count."""
    lines: list[str] = []
    expected: dict[int, str] = {}
    for i, (poison, reason) in enumerate(POISON):
        lines.append(_good(i))
        lines.append(poison)
        expected[len(lines)] = reason
    lines.append(_good(len(POISON)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return expected, len(lines) - len(expected)


@pytest.mark.parametrize(("line", "reason"), POISON, ids=range(len(POISON)))
def test_reader_rejects_poison_line_with_reason(line: str, reason: str) -> None:
    with pytest.raises(LineError) as info:
        LineReader().read(line.encode())
    assert reason in info.value.reason


def test_poison_lines_are_rejects_and_good_lines_are_committed(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "poison.log"
    expected, good = _poison_file(path)
    seen: list[tuple[str, int, str]] = []
    options = IngestOptions(on_reject=lambda name, line, reason: seen.append((name, line, reason)))
    report = ingest(store, [str(path)], options)
    assert (report.events, report.rejected) == (good, len(POISON))
    assert [(line, any(w in r for w in [expected[line]])) for _, line, r in seen] == [
        (line, True) for line in expected
    ]
    assert all(name == str(path) for name, _, _ in seen)
    assert store_stats(store)["events"] == good
    assert sum(s.events for s in top_signatures(store, limit=100)) == good
    rerun = ingest(store, [str(path)])
    assert rerun.sources[0].already_done
    assert store_stats(store)["events"] == good


def _cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "traintriage", *args], input=stdin, capture_output=True, check=False
    )


@pytest.mark.slow
def test_cli_ingest_and_fingerprint_report_file_line_reason(tmp_path: Path) -> None:
    path = tmp_path / "poison.log"
    expected, good = _poison_file(path)
    db = str(tmp_path / "t.db")
    out = _cli("ingest", "--db", db, str(path))
    err = out.stderr.decode()
    assert out.returncode == 0, err
    assert "Traceback" not in err
    assert f"ingested {good} events ({len(POISON)} rejected)" in out.stdout.decode()
    first = min(expected)
    assert f"{path}:{first}: rejected: JSON nested too deeply" in err
    again = _cli("ingest", "--db", db, str(path))
    assert "already ingested: nothing new" in again.stdout.decode()
    with Store(db) as s:
        assert store_stats(s)["events"] == good
    fp = _cli("fingerprint", str(path))
    assert fp.returncode == 0 and b"Traceback" not in fp.stderr
    rows = [json.loads(r) for r in fp.stdout.decode().splitlines()]
    assert len(rows) == good + len(POISON)
    errors = {r["line"]: r["error"] for r in rows if "error" in r}
    assert set(errors) == set(expected)
    assert all(expected[n] in reason for n, reason in errors.items())


def test_unexpected_failure_on_a_line_is_that_lines_reject(store: Store, tmp_path: Path) -> None:
    """Any exception, not only the anticipated ones: a grouping failure on one line."""
    path = tmp_path / "a.log"
    path.write_text("\n".join([_good(1), _doc(message="boom-trigger"), _good(2)]) + "\n")
    from traintriage.ingest.pipeline import Ingester

    ingester = Ingester(store)
    real = ingester.grouper.signature_of

    def fragile(ev):  # a real Grouper that fails on one message, as a bug would
        if "boom-trigger" in ev.message:
            raise KeyError("unexpected")
        return real(ev)

    ingester.grouper.signature_of = fragile  # type: ignore[method-assign]
    report = ingester.run([str(path)])
    assert (report.events, report.rejected) == (2, 1)
    assert report.sources[0].errors == [(2, "could not read the line (KeyError: 'unexpected')")]


def test_bom_at_line_start_is_accepted(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "bom.log"
    bom = b"\xef\xbb\xbf"
    text = bom + b"2021-01-19T18:00:01Z plain text after a BOM"
    path.write_bytes(bom + _good(1).encode() + b"\n" + bom + _good(2).encode() + b"\n" + text + b"\n")
    report = ingest(store, [str(path)])
    assert (report.events, report.rejected) == (3, 0)
    assert LineReader(fmt="text").read(text).message == "plain text after a BOM"
    assert LineReader().read(text).message == "plain text after a BOM"


def test_unterminated_last_line_is_read_when_finished(store: Store, tmp_path: Path) -> None:
    """A file still being written: 7 events written, 7 stored (was 6)."""
    lines = [_good(i) for i in range(7)]
    path = tmp_path / "growing.log"
    half = len(lines[6]) // 2
    path.write_text("\n".join(lines[:6]) + "\n" + lines[6][:half])
    first = ingest(store, [str(path)])
    assert (first.events, first.rejected) == (6, 0)
    assert first.sources[0].held_back == half
    with path.open("a") as fh:
        fh.write(lines[6][half:] + "\n")
    second = ingest(store, [str(path)])
    assert second.sources[0].resumed_at_line == 6 and second.sources[0].held_back == 0
    assert (second.events, second.rejected) == (7, 0)  # totals of the source so far
    assert store_stats(store)["events"] == 7


@pytest.mark.slow
def test_stdin_and_gzip_keep_their_unterminated_last_line(tmp_path: Path) -> None:
    """Only a plain file can still grow: stdin and a finished .gz end where they end."""
    gz = tmp_path / "a.log.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(_good(1) + "\n" + _good(2))
    db = str(tmp_path / "t.db")
    assert "ingested 2 events" in _cli("ingest", "--db", db, str(gz)).stdout.decode()
    out = _cli("ingest", "--db", db, "-", stdin=(_good(3) + "\n" + _good(4)).encode())
    assert "ingested 2 events" in out.stdout.decode()


@pytest.mark.slow
def test_corrupt_gzip_keeps_readable_lines_and_reports_the_line(store: Store, tmp_path: Path) -> None:
    lines = [mw_line(req=f"r{i}", message=f"distinct message {i}") for i in range(3000)]
    data = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1)
    gz = tmp_path / "cut.log.gz"
    gz.write_bytes(data[: len(data) * 2 // 3])  # truncated, as by a full disk or a copy cut short
    report = ingest(store, [str(gz)])
    src = report.sources[0]
    assert src.error is not None and src.events > 1000 and src.rejected == 0
    assert f"read error after line {src.events}:" in src.error
    assert store_stats(store)["events"] == src.events
    ingest(store, [str(gz)])
    assert store_stats(store)["events"] == src.events
    gz.write_bytes(data)  # the complete file (same head, same identity) resumes after it
    rest = ingest(store, [str(gz)])
    assert rest.sources[0].error is None
    assert store_stats(store)["events"] == 3000


@pytest.mark.slow
def test_corrupt_gzip_middle_keeps_lines_before(tmp_path: Path) -> None:
    lines = [mw_line(req=f"r{i}", message=f"distinct message {i}") for i in range(3000)]
    data = bytearray(gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1))
    middle = len(data) // 2
    data[middle : middle + 64] = b"\xff" * 64
    gz = tmp_path / "bad.log.gz"
    gz.write_bytes(bytes(data))
    db = str(tmp_path / "t.db")
    out = _cli("ingest", "--db", db, "--json", str(gz))
    assert b"Traceback" not in out.stderr
    summary = json.loads(out.stdout)
    error = summary["sources"][0]["error"]
    assert "read error after line" in error
    line = int(error.split("read error after line ", 1)[1].split(":", 1)[0])
    # deflate decodes damaged blocks into garbage lines (rejected) until the CRC check fails
    assert summary["events"] > 1000 and summary["events"] + summary["rejected"] == line
    with Store(db) as s:
        assert store_stats(s)["events"] == summary["events"]
    fp = _cli("fingerprint", str(gz))
    assert b"Traceback" not in fp.stderr and b"read error after line" in fp.stderr


def test_time_and_version_validators() -> None:
    assert check_time(1611079201.0) == 1611079201.0
    for bad in (float("nan"), float("inf"), -1e20, 0.0, 253402300799.0):
        with pytest.raises(InvalidInput):
            check_time(bad)
    for text in ("NaN", "inf", "1e400", "9" * 400, "0001-01-01", "9999-12-31T23:59:59Z"):
        with pytest.raises(InvalidInput):
            parse_timestamp(text)
    with pytest.raises(InvalidInput):
        parse_epoch_or_iso(int("9" * 26))
    assert check_version("1.36.0-wmf.28") == "1.36.0-wmf.28"
    for bad in ("", " ", "x" * 10_000, "1.36\x00", "1.36\n", "a b", "1.36\u2028"):
        with pytest.raises(InvalidInput):
            check_version(bad)
