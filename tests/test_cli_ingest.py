"""ingest, fingerprint, signatures and show in-process (CliRunner): text, --json, stdin, partial
failures and the exit codes that go with them. tests/test_cli.py runs the same as real processes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.helpers import cli, mw_line
from traintriage.core.timeparse import parse_timestamp


def test_fingerprint_stdin_and_several_files(tmp_path: Path) -> None:
    lines = [mw_line(req="a"), '{"broken": ', mw_line(req="b", version="1.36.0-wmf.28")]
    out = cli("fingerprint", input="\n".join(lines) + "\n")
    assert out.exit_code == 0, out.output
    rows = [json.loads(r) for r in out.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3] and "file" not in rows[0]
    assert rows[0]["signature"] == rows[2]["signature"] and rows[1]["error"].startswith("invalid JSON")
    plain = tmp_path / "a.log"
    plain.write_text(mw_line() + "\n")
    packed = tmp_path / "b.log.gz"
    with gzip.open(packed, "wt") as fh:
        fh.write(mw_line(req="z") + "\n")
    both = [json.loads(r) for r in cli("fingerprint", str(plain), str(packed)).stdout.splitlines()]
    assert [(r["file"], r["line"]) for r in both] == [(str(plain), 1), (str(packed), 1)]


def test_fingerprint_exit_1_only_when_no_file_could_be_read(tmp_path: Path) -> None:
    good = tmp_path / "a.log"
    good.write_text(mw_line() + "\n")
    some = cli("fingerprint", str(tmp_path / "missing.log"), str(good))
    assert some.exit_code == 0 and "missing.log: cannot open" in some.stderr and some.stdout.count("\n") == 1
    none = cli("fingerprint", str(tmp_path / "missing.log"))
    assert none.exit_code == 1 and none.stdout == ""
    broken = tmp_path / "c.log.gz"
    broken.write_bytes(gzip.compress((mw_line() + "\n").encode())[:-12])  # cut short
    cut = cli("fingerprint", str(broken))
    assert cut.exit_code == 1 and "read error after line" in cut.stderr


def test_fingerprint_field_map_and_text_format(tmp_path: Path) -> None:
    fields = tmp_path / "map.toml"
    fields.write_text('[fields]\nmessage = "msg"\ntimestamp = "t"\n')
    out = cli(
        "fingerprint", "--field-map", str(fields), input='{"t": "2021-01-19T18:00:01Z", "msg": "disk full"}\n'
    )
    assert out.exit_code == 0 and json.loads(out.stdout)["title"] == "disk full", out.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[fields\n")
    refused = cli("fingerprint", "--field-map", str(bad), input="x\n")
    assert refused.exit_code == 64 and "bad.toml" in refused.stderr
    auto = json.loads(cli("fingerprint", input='{"not": "parsed"}\n').stdout)
    text = json.loads(cli("fingerprint", "--format", "text", input='{"not": "parsed"}\n').stdout)
    assert "missing required field" in auto["error"] and "error" not in text and text["signature"]


def test_ingest_text_json_quiet_rejects_and_resume(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("\n".join([mw_line(req=f"r{i}") for i in range(5)] + ["2021-01-19 no json here"]) + "\n")
    db, rejects = str(tmp_path / "t.db"), tmp_path / "rejects.txt"
    out = cli("ingest", str(log), "--db", db, "--rejects", str(rejects))
    assert out.exit_code == 0, out.output
    assert f"{log}: 5 events, 1 rejected" in out.stdout and "ingested 5 events (1 rejected)" in out.stdout
    assert (
        f"{log}:6: rejected: " in out.stderr
        and rejects.read_text().splitlines()[1] == "2021-01-19 no json here"
    )
    again = json.loads(cli("ingest", str(log), "--db", db, "--json").stdout)  # a re-run reads nothing new
    assert (again["events"], again["rejected"], again["sources"][0]["already_done"]) == (0, 0, True)
    assert (again["sources"][0]["events"], again["sources"][0]["rejected"]) == (5, 1)  # the source's totals
    text = cli("ingest", str(log), "--db", db)
    assert (
        "ingested 0 events (0 rejected)" in text.stdout and "(already ingested: nothing new)" in text.stdout
    )
    with log.open("a") as fh:
        fh.write(mw_line(req="r9") + "\n" + mw_line(req="partial"))  # the last line is still being written
    loud = cli("ingest", str(log), "--db", db)
    assert f"{log}: 6 events, 1 rejected (resumed after line 6)" in loud.stdout
    assert "ingested 1 events (0 rejected)" in loud.stdout and "do not end with a newline yet" in loud.stderr
    with log.open("a") as fh:
        fh.write("\n")  # ... and now it is complete
    quiet = cli("ingest", str(log), "--db", db, "-q")
    assert quiet.stdout.startswith("ingested 1 events (0 rejected)") and quiet.stderr == ""


def test_ingest_exit_1_only_when_no_source_could_be_read(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    none = cli("ingest", str(tmp_path / "missing.log"), "--db", db)
    assert none.exit_code == 1 and "cannot open" in none.stderr
    good = tmp_path / "a.log"
    good.write_text(mw_line() + "\n")
    some = cli("ingest", str(tmp_path / "missing.log"), str(good), "--db", db, "--json")
    assert some.exit_code == 0 and json.loads(some.stdout)["events"] == 1
    assert cli("ingest", str(good), "--batch", "0", "--db", db).exit_code == 64


def test_ingest_assume_time_for_lines_without_one(tmp_path: Path) -> None:
    log = tmp_path / "plain.log"
    log.write_text("something failed\n")
    db = str(tmp_path / "t.db")
    assert json.loads(cli("ingest", str(log), "--db", db, "--json").stdout)["rejected"] == 1
    other = tmp_path / "other.log"
    other.write_text("something failed\n")
    doc = json.loads(
        cli("ingest", str(other), "--assume-time", "2024-03-02T00:00:00Z", "--db", db, "--json").stdout
    )
    assert doc["events"] == 1
    shown = json.loads(cli("signatures", "--db", db, "--json").stdout)
    assert shown[0]["first_seen"] == parse_timestamp("2024-03-02T00:00:00Z")


def test_signatures_and_show_on_an_empty_and_a_filled_store(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    assert "no signatures yet; run `traintriage ingest FILE`" in cli("signatures", "--db", db).stdout
    assert (
        "no signatures in version 1.36.0-wmf.28 yet"
        in cli("signatures", "--version", "1.36.0-wmf.28", "--db", db).stdout
    )
    log = tmp_path / "x.log"
    log.write_text(
        "\n".join(mw_line(req=f"r{i}", wiki=w) for i, w in enumerate(["enwiki", "dewiki", "enwiki"])) + "\n"
    )
    cli("ingest", str(log), "--db", db)
    [sig] = json.loads(cli("signatures", "--db", db, "--json").stdout)
    assert sig["events"] == 3
    text = cli("show", sig["signature"][:6], "--db", db)
    assert text.exit_code == 0 and "top wikis:" in text.stdout and "enwiki" in text.stdout
    assert "samples (" in text.stdout and "url: /wiki/Main_Page" in text.stdout
    assert cli("show", "zz", "--db", db).exit_code == 66
