"""The command line as a user runs it: real processes, real files, stdin, exit codes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import mw_line

pytestmark = pytest.mark.slow


def run(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "traintriage", *args],
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        env=full_env,
    )


def test_fingerprint_stdin_one_row_per_line_in_order() -> None:
    lines = [mw_line(req="a"), "not a log line", mw_line(req="b", version="1.36.0-wmf.28"), '{"broken": ']
    out = run("fingerprint", stdin=("\n".join(lines) + "\n").encode())
    assert out.returncode == 0, out.stderr
    rows = [json.loads(r) for r in out.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["signature"] == rows[2]["signature"] and "title" in rows[0]
    assert rows[1]["title"] == "not a log line"  # plain text: a message, no timestamp needed
    assert rows[3]["error"].startswith("invalid JSON")
    assert "file" not in rows[0]


def test_fingerprint_several_files_names_them(tmp_path: Path) -> None:
    a = tmp_path / "a.log"
    a.write_text(mw_line() + "\n")
    b = tmp_path / "b.log.gz"
    with gzip.open(b, "wt") as fh:
        fh.write(mw_line(req="z") + "\n")
    out = run("fingerprint", str(a), str(b))
    rows = [json.loads(r) for r in out.stdout.splitlines()]
    assert [(r["file"], r["line"]) for r in rows] == [(str(a), 1), (str(b), 1)]
    assert rows[0]["signature"] == rows[1]["signature"]


def test_ingest_signatures_show_roundtrip(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("\n".join([mw_line(req=f"r{i}") for i in range(5)] + ["garbage line"]) + "\n")
    db = str(tmp_path / "t.db")
    rejects = tmp_path / "rejects.txt"
    out = run("ingest", "--db", db, "--rejects", str(rejects), str(log))
    assert out.returncode == 0, out.stderr
    assert "ingested 5 events (1 rejected)" in out.stdout
    reason = "plain text line without a leading ISO 8601 timestamp (no timestamp: pass --assume-time now|ISO-TIME to use one)"
    assert f"{log}:6: rejected: {reason}" in out.stderr
    assert rejects.read_text().splitlines() == [
        f"# {log}:6: {reason}",
        "garbage line",
    ]
    sigs = json.loads(run("signatures", "--db", db, "--json").stdout)
    assert len(sigs) == 1 and sigs[0]["events"] == 5 and sigs[0]["versions"]["1.36.0-wmf.27"]["events"] == 5
    shown = run("show", sigs[0]["signature"][:8], "--db", db)
    assert shown.returncode == 0 and "why these events grouped together" in shown.stdout
    detail = json.loads(run("show", sigs[0]["signature"], "--db", db, "--json").stdout)
    assert detail["samples"] and detail["explanation"]
    # TRAINTRIAGE_DB selects the same database
    env_sigs = json.loads(run("signatures", "--json", env={"TRAINTRIAGE_DB": db}).stdout)
    assert env_sigs[0]["signature"] == sigs[0]["signature"]


def test_errors_exit_nonzero_only_when_the_command_failed(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    out = run("ingest", "--db", db, str(tmp_path / "missing.log"))
    assert out.returncode == 1 and "cannot open" in out.stderr
    out = run("show", "ffff0000", "--db", db)
    assert out.returncode == 66 and "no signature" in out.stderr  # EX_NOINPUT
    out = run("signatures", "--db", str(tmp_path / "nodir" / "t.db"))
    assert out.returncode == 69 and "does not exist" in out.stderr  # EX_UNAVAILABLE
