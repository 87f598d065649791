"""Property-based fuzzing of every reader and import (issue 8), with Hypothesis.

Inputs are generated near the formats (MediaWiki/ECS JSON with hostile values, udp2log,
@cee syslog, plain text, deploy logs, exposure CSVs, dblists) and far from them (random
bytes). Properties: no exception other than the reader's own "this line is bad" error;
everything accepted passes core/validate.py; and for ingest, exactly accepted + rejected
= lines, the store holds exactly the accepted events, and a rerun adds nothing.

Bounded and reproducible: `derandomize=True` (the examples are a function of the test),
a fixed number of examples per property, no deadline (the machine is shared).
"""

from __future__ import annotations

import json
import math
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traintriage.core.validate import MAX_TIME, MIN_TIME, version_problem
from traintriage.grouping.signature import Grouper
from traintriage.ingest.fingerprint import fingerprint_rows
from traintriage.ingest.formats import LineError, LineReader
from traintriage.ingest.pipeline import ingest
from traintriage.store.db import Store
from traintriage.store.reads import store_stats
from traintriage.train.deploylog import parse_lines
from traintriage.train.exposure import parse_exposure
from traintriage.train.groups import DblistError, parse_dblist

pytestmark = pytest.mark.slow  # hundreds of examples each: seconds, not milliseconds

FUZZ = settings(
    derandomize=True,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ_STORE = settings(
    FUZZ,
    max_examples=25,
    suppress_health_check=[*FUZZ.suppress_health_check, HealthCheck.function_scoped_fixture],
)

# --- values that broke readers before, mixed with ordinary ones --------------------------

HOSTILE_TIMES = st.sampled_from(
    [
        "2021-01-19T18:00:01Z",
        "2021-01-19 18:00:01",
        "2021-01-19T18:00:01.123456+02:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "NaN",
        "inf",
        "-inf",
        "-1e20",
        "1e400",
        "9" * 400,
        "1611079201",
        "1611079201000",
        "2021-02-30T00:00:00Z",
        "2021-01-19T18:00:01.5e400Z",
        "",
    ]
)
HOSTILE_NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1611079201, 1611079201000, 10**26, -(10**20)]),
)
TEXT = st.text(max_size=40)
VERSIONS = st.one_of(
    st.sampled_from(["1.36.0-wmf.27", "1.36.0-wmf.28", "", " ", "1.36\x00", "v" * 150, "a b", "\u2028"]),
    TEXT,
)


JSON_LEAVES = st.one_of(st.none(), st.booleans(), HOSTILE_NUMBERS, TEXT, HOSTILE_TIMES)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(TEXT, children, max_size=3)),
    max_leaves=10,
)
MW_KEYS = [
    "@timestamp",
    "message",
    "normalized_message",
    "channel",
    "level",
    "type",
    "host",
    "wiki",
    "mwversion",
    "reqId",
    "url",
    "exception",
    "error",
    "labels",
    "service",
    "log",
    "trace",
    "time",
    "ts",
    "msg",
    "version",
]


@st.composite
def json_documents(draw: st.DrawFn) -> bytes:
    doc: dict[str, object] = {}
    if draw(st.booleans()):  # mostly the MediaWiki shape, so the typed decoder is exercised
        doc.update({"@timestamp": draw(HOSTILE_TIMES), "type": "mediawiki", "message": draw(TEXT)})
        doc["mwversion"] = draw(VERSIONS)
        if draw(st.booleans()):
            doc["exception"] = draw(
                st.one_of(
                    st.fixed_dictionaries(
                        {"class": TEXT, "message": TEXT, "file": TEXT, "trace": TEXT},
                        optional={"x": JSON_VALUES},
                    ),
                    JSON_VALUES,
                )
            )
    for key in draw(st.lists(st.sampled_from(MW_KEYS), max_size=5)):
        doc[key] = draw(st.one_of(JSON_VALUES, HOSTILE_TIMES, VERSIONS))
    deep = draw(st.sampled_from([0] * 9 + [10, 999, 1500, 5000]))
    if deep:
        doc["deep"] = "__DEEP__"
    text = json.dumps(doc, allow_nan=True)  # NaN/Infinity literals too: not JSON, must be rejected
    text = text.replace('"__DEEP__"', "[" * deep + "]" * deep)  # deeper than json.dumps can write
    return text.encode("utf-8", "surrogatepass")


@st.composite
def udp2log_lines(draw: st.DrawFn) -> bytes:
    words = st.text(alphabet=string.ascii_letters + string.digits + ".-_", min_size=1, max_size=12)
    ts = draw(st.sampled_from(["2021-01-19 18:00:01", "0001-01-01 00:00:00", "9999-12-31 23:59:59"]))
    tail = draw(st.one_of(st.just(""), json_documents().map(lambda b: " " + b.decode("utf-8", "replace"))))
    brackets = " " + "[" * draw(st.sampled_from([0, 3, 2000])) + "]" * draw(st.sampled_from([0, 3, 2000]))
    line = (
        f"{ts} [{draw(words)}] {draw(words)} {draw(words)} {draw(st.one_of(words, VERSIONS))} "
        f"{draw(words)} {draw(st.sampled_from(['ERROR', 'WARNING', 'x']))}: {draw(TEXT)}{tail}{brackets}"
    )
    return line.encode("utf-8", "surrogatepass")


LINES = st.one_of(
    json_documents(),
    udp2log_lines(),
    json_documents().map(lambda b: b"host1 app: @cee: " + b),
    json_documents().map(lambda b: b"\xef\xbb\xbf" + b),
    st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=80),
    st.sampled_from([b"", b" ", b"\x00", b"{", b"[]", b"@cee:", b"2021-01-19T18:00:01Z plain text"]),
)


def _check_event(ev: object) -> None:
    ts = ev.ts  # type: ignore[attr-defined]
    assert math.isfinite(ts) and MIN_TIME <= ts < MAX_TIME
    version = ev.version  # type: ignore[attr-defined]
    assert version is None or version_problem(version) is None


@FUZZ
@given(line=LINES)
def test_line_reader_never_raises_anything_but_line_error(line: bytes) -> None:
    grouper = Grouper()
    for reader in (LineReader(), LineReader(fmt="text"), LineReader(require_time=False)):
        try:
            ev = reader.read(line.replace(b"\n", b" "))
        except LineError as err:
            assert err.reason
            continue
        if reader.require_time:
            _check_event(ev)
        grouper.title_of(grouper.signature_of(ev))


# --- ingest into a real store: exact accounting and idempotence -------------------------------


def _lines_bytes(lines: list[bytes], crlf: bool) -> bytes:
    end = b"\r\n" if crlf else b"\n"
    return b"".join(line.replace(b"\n", b" ").replace(b"\r", b" ") + end for line in lines)


@FUZZ_STORE
@given(lines=st.lists(LINES, min_size=1, max_size=25), crlf=st.booleans(), tail=st.binary(max_size=30))
def test_ingest_accounts_for_every_line_and_a_rerun_adds_nothing(
    tmp_path_factory, lines: list[bytes], crlf: bool, tail: bytes
) -> None:
    work = tmp_path_factory.mktemp("fuzz")
    path = work / "fuzz.log"
    body = _lines_bytes(lines, crlf)
    tail = tail.replace(b"\n", b" ")
    path.write_bytes(body + tail)  # a last line without a newline is left for a later run
    with Store(str(work / "t.db")) as store:
        report = ingest(store, [str(path)])
        src = report.sources[0]
        assert src.error is None
        assert src.events + src.rejected == len(lines)
        assert src.held_back == len(tail)
        assert store_stats(store)["events"] == src.events
        rerun = ingest(store, [str(path)])
        assert rerun.sources[0].already_done or src.events + src.rejected == 0
        assert store_stats(store)["events"] == src.events


@settings(FUZZ, max_examples=60)
@given(lines=st.lists(LINES, max_size=20))
def test_fingerprint_gives_one_row_per_line(tmp_path_factory, lines: list[bytes]) -> None:
    import io

    rows = list(
        fingerprint_rows(io.BytesIO(_lines_bytes(lines, False)), LineReader(require_time=False), Grouper())
    )
    assert [r["line"] for r in rows] == list(range(1, len(lines) + 1))
    assert all(("signature" in r) != ("error" in r) for r in rows)


# --- imports ------------------------------------------------------------------------------------

DEPLOY_LINES = st.one_of(
    st.builds(
        lambda t, name, g, v: f"{t} {name} | {g} wikis to {v}",
        HOSTILE_TIMES,
        TEXT,
        st.sampled_from(["group0", "group1", "all", "group9", "testwikis"]),
        VERSIONS,
    ),
    st.builds(lambda t, v, g: f"{t},{v},{g},actor", HOSTILE_TIMES, VERSIONS, TEXT),
    json_documents().map(lambda b: b.decode("utf-8", "replace")),
    st.builds(
        lambda t, v: json.dumps({"at": t, "wikiversions": {"enwiki": v}}),
        HOSTILE_TIMES,
        st.one_of(VERSIONS, JSON_VALUES),
    ),
    st.builds(lambda d: "[" * d + "]" * d, st.sampled_from([1, 999, 5000])),
    TEXT,
)


@settings(FUZZ, max_examples=150)
@given(
    lines=st.lists(DEPLOY_LINES, max_size=15),
    fmt=st.sampled_from([None, "wikiversions-log", "sal", "csv", "json", "jsonl", "snapshots-jsonl"]),
)
def test_deploy_log_parsers_never_crash_and_store_only_valid_steps(lines: list[str], fmt: str | None) -> None:
    text = [line.replace("\n", " ").replace("\r", " ") + "\n" for line in lines]
    if fmt == "csv":
        text.insert(0, "at,version,group,actor\n")
    result = parse_lines(text, "fuzz", fmt=fmt)
    for step in result.steps:
        assert MIN_TIME <= step.at.timestamp() < MAX_TIME
        assert step.version is None or version_problem(step.version) is None
    for error in result.errors:
        assert 0 <= error.line <= len(text) + 1 and error.reason
    if fmt in ("wikiversions-log", "jsonl", "csv"):  # one outcome per meaningful line, exactly
        meaningful = [t for t in text if t.strip() and not t.lstrip().startswith("#")]
        header = 1 if fmt == "csv" and meaningful else 0
        assert len(result.steps) + len(result.errors) + len(result.ignored) == len(meaningful) - header


EXPOSURE_FIELDS = st.one_of(
    HOSTILE_TIMES,
    VERSIONS,
    st.sampled_from(["group0", "group9", "enwiki", "12", "9" * 26, "-5", "1e3"]),
    TEXT,
)


@FUZZ
@given(
    rows=st.lists(st.lists(EXPOSURE_FIELDS, min_size=0, max_size=5), max_size=15),
    scope=st.sampled_from(["group", "wiki"]),
)
def test_exposure_parser_accounts_for_every_row(rows: list[list[str]], scope: str) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["hour", scope, "version", "requests"])
    for row in rows:
        writer.writerow([f.replace("\n", " ").replace("\r", " ") for f in row])
    text = buffer.getvalue()
    parsed = parse_exposure(text)
    blank = sum(1 for line in text.splitlines()[1:] if not line.strip() or line.strip() == '""')
    assert len(parsed.rows) + len(parsed.errors) + blank == len(text.splitlines()) - 1
    for row in parsed.rows:
        assert 0 <= row.requests < 10**15 and version_problem(row.version) is None
        assert MIN_TIME <= row.hour * 3600 < MAX_TIME


@settings(FUZZ, max_examples=100)
@given(data=st.binary(max_size=200))
def test_dblist_reader_refuses_junk_with_its_own_error(tmp_path_factory, data: bytes) -> None:
    from traintriage.train.groups import load_dblists

    work: Path = tmp_path_factory.mktemp("dblist")
    (work / "group1.dblist").write_bytes(data)
    try:
        membership = load_dblists(work)
    except DblistError as err:
        assert "group1.dblist" in str(err)
        return
    assert all(membership.group_of(w) == "group1" for w in membership.wikis_in("group1"))
    text = data.decode("utf-8").lstrip("\ufeff")
    assert len(membership) == len(set(parse_dblist(text.splitlines())))
