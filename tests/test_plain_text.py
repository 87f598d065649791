"""Plain text logs and lines without timestamps (issue 9): read, fingerprinted, ingested."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from traintriage.ingest.formats import LineError, LineReader

APP_LOG = [
    "2024-03-01 12:00:00,123 ERROR [pool-1] c.e.Billing: charge 4711 failed after 3 retries",
    "2024-03-01 12:00:05,900 ERROR [pool-2] c.e.Billing: charge 4812 failed after 5 retries",
    "2024-03-01 12:00:06,001 WARN  [main] c.e.Cache: evicted 120 entries",
]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "traintriage", *args], input=stdin, capture_output=True, text=True
    )


def test_any_text_line_is_a_message_with_its_leading_time() -> None:
    ev = LineReader().read(APP_LOG[0].encode())
    assert ev.fmt == "text"
    assert ev.message == "ERROR [pool-1] c.e.Billing: charge 4711 failed after 3 retries"
    assert ev.ts == pytest.approx(1709294400.123)
    bracketed = LineReader().read(b"[2024-03-01T12:00:00Z] disk full on /var")
    assert bracketed.message == "disk full on /var" and bracketed.ts == 1709294400.0


def test_text_format_reads_json_looking_lines_as_text() -> None:
    line = b'{"not": "parsed"}'
    ev = LineReader(fmt="text", require_time=False).read(line)
    assert ev.message == '{"not": "parsed"}' and ev.fmt == "text"
    with pytest.raises(ValueError, match="unknown format"):
        LineReader(fmt="xml")


def test_missing_time_rejected_assumed_or_zero() -> None:
    for line in (
        b"no time here",
        b'{"message": "generic json without time"}',
        b'{"type": "mediawiki", "channel": "error", "message": "no time"}',
    ):
        with pytest.raises(LineError, match="--assume-time"):
            LineReader().read(line)
        assert LineReader(assume_time=1000.0).read(line).ts == 1000.0
        assert LineReader(require_time=False).read(line).ts == 0.0


@pytest.mark.slow
def test_fingerprint_groups_plain_text_and_json_without_timestamps() -> None:
    lines = [
        "connection to 10.0.0.1 refused",
        "connection to 10.0.0.7 refused",
        '{"message": "user 17 logged out"}',
        '{"message": "user 42 logged out"}',
        "disk /dev/sda1 full",
    ]
    out = run("fingerprint", "--format", "auto", stdin="\n".join(lines) + "\n")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(r) for r in out.stdout.splitlines()]
    assert all("signature" in r for r in rows), rows
    sigs = [r["signature"] for r in rows]
    assert sigs[0] == sigs[1] and sigs[2] == sigs[3]
    assert len({sigs[0], sigs[2], sigs[4]}) == 3
    text = run("fingerprint", "--format", "text", stdin='{"message": "x"}\n')
    assert json.loads(text.stdout)["title"] == '{"<str>": "<str>"}'  # the line itself, masked


@pytest.mark.slow
def test_ingest_requires_time_unless_assumed(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("\n".join([*APP_LOG, "a line with no time at all"]) + "\n")
    db = str(tmp_path / "t.db")
    out = run("ingest", "--db", db, str(log))
    assert out.returncode == 0, out.stderr
    assert "ingested 3 events (1 rejected)" in out.stdout
    assert f"{log}:4: rejected: plain text line without a leading ISO 8601 timestamp" in out.stderr
    assert "--assume-time" in out.stderr
    other = tmp_path / "notime.log"
    other.write_text("job 17 stuck\njob 18 stuck\n")
    out = run("ingest", "--db", db, "--assume-time", "2024-03-02T00:00:00Z", str(other))
    assert out.returncode == 0, out.stderr
    assert "ingested 2 events (0 rejected)" in out.stdout
    sigs = json.loads(run("signatures", "--db", db, "--json").stdout)
    stuck = [s for s in sigs if "stuck" in s["title"]]
    assert len(stuck) == 1 and stuck[0]["events"] == 2
    assert stuck[0]["first_seen"] == 1709337600.0
    bad = run("ingest", "--db", db, "--assume-time", "yesterday-ish", str(other))
    assert bad.returncode == 64 and "'--assume-time': 'yesterday-ish'" in bad.stderr  # a usage error
