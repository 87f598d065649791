"""Exit codes: 0/1/2 are answers (the gate's go/no-go/inconclusive), 64 and above are errors.

One test per code, through the real command line on real SQLite files. The gate matters
most: a deploy tool must never read a typo or a crash as "ask again later".
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SimTrain, cli, mw_line
from traintriage.cli.errors import (
    EX_DATAERR,
    EX_IOERR,
    EX_NOINPUT,
    EX_SOFTWARE,
    EX_UNAVAILABLE,
    EX_USAGE,
    INTERRUPTED,
)
from traintriage.core.timeparse import iso, parse_timestamp

W27, W28 = "1.36.0-wmf.27", "1.36.0-wmf.28"


def gate(db: str, version: str, stage: str, at: str, *more: str) -> Any:
    return cli("gate", "--version", version, "--stage", stage, "--at", at, "--db", db, *more)


def _checkpoint(sim: Path, decision: str) -> tuple[str, str, str]:
    """(version, stage, time) 5 minutes before the first promotion the policy calls `decision`."""
    train = json.loads((sim / "truth" / "train.json").read_text())
    c = next(c for c in train["checkpoints"] if c["decision_practical"] == decision)
    return c["version"], c["group"], iso(parse_timestamp(c["time"]) - 300)


def test_gate_answers_are_0_go_1_no_go_2_inconclusive(sim_train: SimTrain, train_db: str) -> None:
    go = gate(train_db, *_checkpoint(sim_train.sim, "go"))
    assert go.exit_code == 0 and "GO (exit 0)" in go.stdout, go.output
    nogo = gate(train_db, *_checkpoint(sim_train.sim, "no-go"))
    assert nogo.exit_code == 1 and "NO-GO (exit 1)" in nogo.stdout, nogo.output
    assert "top offenders:" in nogo.stdout
    wait = gate(train_db, W27, "group0", "2021-01-19T12:00:00Z")  # wmf.27 not deployed yet
    assert wait.exit_code == 2 and "INCONCLUSIVE (exit 2)" in wait.stdout, wait.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gate", "--version", W28], "gate needs --version and --stage"),
        (["gate", "--version", W28, "--stage", "group9"], "'group9' is not one of"),
        (["gate", "--version", W28, "--stage", "group1", "--at", "yesterday"], "is not a date or ISO 8601"),
        (["gate", "--version", W28, "--stage", "group1", "--window", "fast"], "is not a duration"),
        (["gate", "--version", W28, "--stage", "group1", "--window", "-5s"], "must be a positive duration"),
        (["gate", "--version", W28, "--stage", "group1", "--threshold", "0"], "--threshold"),
        (["gate", "--version", W28, "--stage", "group1", "--bogus"], "No such option"),
        (["gate", "--version", W28, "--stage", "group1", "--config", "missing.toml"], "missing.toml"),
    ],
)
def test_gate_usage_errors_exit_64_never_2(args: list[str], message: str, train_db: str) -> None:
    out = cli(*args, "--db", train_db)
    assert out.exit_code == EX_USAGE == 64, out.output
    assert message in out.stderr and "Usage: traintriage gate" in out.stderr
    assert out.stdout == ""


def test_gate_bad_config_value_is_a_usage_error(train_db: str, tmp_path: Path) -> None:
    config = tmp_path / "tt.toml"
    config.write_text("[detection]\nfdr_q = 7\n")
    out = gate(train_db, W28, "group1", "2021-01-27T20:10:00Z", "--config", str(config))
    assert out.exit_code == EX_USAGE and "fdr_q" in out.stderr, out.output


def test_gate_crash_in_the_statistics_exits_70_not_inconclusive(train_db: str) -> None:
    """A ValueError inside the statistics used to exit 2 ("ask again later")."""
    with sqlite3.connect(train_db) as conn:  # corrupt data no import would accept
        conn.execute("UPDATE exposure SET requests = -5")
    out = gate(train_db, W28, "group1", "2021-01-27T20:10:00Z")
    assert out.exit_code == EX_SOFTWARE == 70, out.output
    assert "internal error: ValueError" in out.stderr and "This is a bug, not an answer" in out.stderr
    assert "Traceback" in out.stderr and "stats.py" in out.stderr  # what a bug report needs
    assert out.stdout == ""


def test_gate_without_a_database_exits_69(tmp_path: Path) -> None:
    out = gate(str(tmp_path / "no" / "such" / "dir.db"), W28, "group1", "2021-01-27T20:10:00Z")
    assert out.exit_code == EX_UNAVAILABLE == 69, out.output
    assert "does not exist" in out.stderr


def test_gate_help_documents_its_exit_codes() -> None:
    text = " ".join(cli("gate", "--help").stdout.split())
    assert "exit 0 go, 1 no-go, 2 inconclusive" in text
    assert "64 a usage error" in text and "70 an internal error" in text


def test_not_found_exits_66(train_db: str) -> None:
    out = cli("show", "ffff0000", "--db", train_db)
    assert out.exit_code == EX_NOINPUT == 66 and "no signature 'ffff0000'" in out.stderr
    out = cli("token", "revoke", "tt_nosuch", "--db", train_db)
    assert out.exit_code == EX_NOINPUT and "no live token" in out.stderr


def test_conflict_with_stored_data_exits_65(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    assert cli("user", "add", "ana", "--no-password", "--db", db).exit_code == 0
    again = cli("user", "add", "ana", "--no-password", "--db", db)
    assert again.exit_code == EX_DATAERR == 65 and "exists already" in again.stderr


def test_io_error_exits_74(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text(mw_line() + "\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = cli("ingest", str(log), "--db", str(tmp_path / "t.db"), "--rejects", str(blocker / "rejects.log"))
    assert out.exit_code == EX_IOERR == 74, out.output
    assert "Not a directory" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_ctrl_c_exits_130(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "traintriage", "ingest", "-", "--db", str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not db.exists() and time.monotonic() < deadline:  # the command is running: it opened the store
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == INTERRUPTED == 130, err
    assert "Aborted!" in err
