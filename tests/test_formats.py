"""Every supported log format maps into the one Event model; bad lines get reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from traintriage.core.timeparse import parse_timestamp
from traintriage.ingest.formats import FieldMap, LineError, LineReader

DATA = Path(__file__).parent / "data"
EXAMPLES = [line.encode() for line in (DATA / "mediawiki_examples.jsonl").read_text().splitlines()]


def read(line: str | bytes, reader: LineReader | None = None):
    return (reader or LineReader()).read(line.encode() if isinstance(line, str) else line)


def test_logstash_exception_fields() -> None:
    ev = read(EXAMPLES[4])
    assert ev.fmt == "logstash"
    assert ev.channel == "exception" and ev.level == "ERROR"
    assert ev.version == "1.36.0-wmf.30" and ev.wiki == "mediawikiwiki" and ev.host == "mw1276"
    assert ev.req_id == "YCP4cwpAIDMAAB3fQ0EAAAAQ"
    assert ev.exc_class == "TypeError"
    assert ev.exc_file.endswith("RevisionStore.php:1450")
    assert ev.trace.startswith("from /srv/mediawiki/php-1.36.0-wmf.30/")
    assert ev.normalized_message.startswith("[{reqId}] {exception_url}   TypeError")
    assert ev.ts == pytest.approx(parse_timestamp("2021-02-10T15:21:07.112233Z"))


def test_all_domain_examples_read() -> None:
    reader = LineReader()
    events = [reader.read(line) for line in EXAMPLES]
    assert [e.channel for e in events] == [
        "exception",
        "error",
        "memcached",
        "exception",
        "exception",
        "exception",
        "error",
    ]
    assert events[3].version is None and events[3].wiki is None  # php-wmerrors fatal outside MediaWiki
    assert events[3].exc_class is None
    assert events[6].level == "WARNING"


def test_ecs_variant_maps_renamed_fields() -> None:
    doc = {
        "@timestamp": "2021-02-10T15:21:07Z",
        "message": "TypeError: boom",
        "error": {
            "type": "TypeError",
            "message": "boom",
            "stack_trace": "#0 /srv/mediawiki/php-1.36.0-wmf.30/a.php(1): f()",
        },
        "service": {"version": "1.36.0-wmf.30", "type": "mediawiki"},
        "trace": {"id": "abc-123"},
        "labels": {
            "wiki": "enwiki",
            "normalized_message": "TypeError: boom",
            "channel": "exception",
            "servergroup": "appserver",
        },
        "url": {"full": "https://en.wikipedia.org/wiki/X?a=1"},
        "log": {
            "level": "ERROR",
            "origin": {"file": {"name": "/srv/mediawiki/php-1.36.0-wmf.30/a.php", "line": 12}},
        },
        "host": {"name": "mw1300"},
    }
    ev = read(json.dumps(doc))
    assert ev.fmt == "ecs"
    assert (ev.exc_class, ev.version, ev.req_id, ev.wiki, ev.channel) == (
        "TypeError",
        "1.36.0-wmf.30",
        "abc-123",
        "enwiki",
        "exception",
    )
    assert ev.url == "https://en.wikipedia.org/wiki/X?a=1" and ev.host == "mw1300"
    assert ev.exc_file == "/srv/mediawiki/php-1.36.0-wmf.30/a.php:12"
    assert ev.trace.startswith("#0")


def test_syslog_cee_payload() -> None:
    payload = EXAMPLES[2].decode()
    ev = read(f"2020-06-08T04:23:54.618073+00:00 mw1384 mediawiki: @cee: {payload}")
    assert ev.fmt == "syslog-cee" and ev.channel == "memcached" and ev.version == "1.35.0-wmf.35"


def test_cee_without_timestamp_takes_syslog_header() -> None:
    ev = read(
        '2021-01-19T18:00:01Z mw1300 mediawiki: @cee: {"message": "x", "channel": "redis", "type": "mediawiki"}'
    )
    assert ev.host == "mw1300" and ev.ts == parse_timestamp("2021-01-19T18:00:01Z")


def test_udp2log_line_with_context_and_exception() -> None:
    line = (
        "2021-01-19 18:00:01 [YCP4cwpAIDMAAB3fQ0EAAAAQ] mw1276 enwiki 1.36.0-wmf.27 exception ERROR: "
        '[YCP4cwpAIDMAAB3fQ0EAAAAQ] /wiki/X   RuntimeException: boom {"url": "/wiki/X"} '
        '{"class": "RuntimeException", "message": "boom", "file": "/srv/mediawiki/php-1.36.0-wmf.27/a.php:3", "trace": "#0 {main}"}'
    )
    ev = read(line)
    assert ev.fmt == "udp2log"
    assert (ev.host, ev.wiki, ev.version, ev.channel, ev.level) == (
        "mw1276",
        "enwiki",
        "1.36.0-wmf.27",
        "exception",
        "ERROR",
    )
    assert ev.message == "[YCP4cwpAIDMAAB3fQ0EAAAAQ] /wiki/X   RuntimeException: boom"
    assert ev.exc_class == "RuntimeException" and ev.url == "/wiki/X"


def test_udp2log_plain_message() -> None:
    ev = read(
        '2021-01-19 18:00:01 [-] mw1276 enwiki 1.36.0-wmf.27 memcached ERROR: Memcached error for key "k" on server "s": A TIMEOUT OCCURRED {} []'
    )
    assert ev.req_id is None and ev.message.endswith("A TIMEOUT OCCURRED")


def test_generic_json_default_and_custom_mapping() -> None:
    ev = read(
        '{"time": 1611079201, "msg": "worker crashed", "severity": "error", "logger": "queue", "release": "2.3.1", "stack": ["a", "b"]}'
    )
    assert (ev.message, ev.level, ev.channel, ev.version, ev.trace, ev.fmt) == (
        "worker crashed",
        "ERROR",
        "queue",
        "2.3.1",
        "a\nb",
        "json",
    )
    assert ev.ts == 1611079201
    fm = FieldMap.from_mapping({"message": "payload.text", "version": ["build.id"], "timestamp": "when"})
    ev = read(
        '{"when": "2021-01-19T18:00:01Z", "payload": {"text": "hi"}, "build": {"id": "v9"}}', LineReader(fm)
    )
    assert (ev.message, ev.version) == ("hi", "v9")
    with pytest.raises(ValueError, match="unknown field-map keys: nope"):
        FieldMap.from_mapping({"nope": "x"})


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"@timestamp": "2021-01-19T18:00:01Z", "message": "x"', "invalid JSON"),
        (b'{"@timestamp": "2021-01-19T18:00:01Z", "message": "\xff\xfe"}', "invalid UTF-8"),
        (b"\x00\x01\x02binary", "binary data"),
        (
            b'{"type": "mediawiki", "channel": "error", "message": "no time"}',
            "missing required field '@timestamp'",
        ),
        (b'{"type": "mediawiki", "@timestamp": "2021-01-19T18:00:01Z"}', "missing required field 'message'"),
        (b'{"type": "mediawiki", "@timestamp": "yesterday", "message": "m"}', "invalid timestamp"),
        (b'{"foo": 1}', "missing required field 'message'"),
        (b"[1, 2, 3]", "plain text line without a leading ISO 8601 timestamp"),
        (b"just some words", "plain text line without a leading ISO 8601 timestamp"),
        (b"   ", "empty line"),
        (b"host: @cee: not json", "@cee: payload is not a JSON object"),
        (b"\xff\xfe plain", "invalid UTF-8"),
    ],
)
def test_bad_lines_are_rejected_with_reason(line: bytes, reason: str) -> None:
    with pytest.raises(LineError) as info:
        LineReader().read(line)
    assert reason in info.value.reason


def test_line_size_limit() -> None:
    reader = LineReader(max_line_bytes=100)
    with pytest.raises(LineError, match="line too long"):
        reader.read(b'{"message": "' + b"x" * 200 + b'"}')


def test_wrong_types_fall_back_to_generic_mapping() -> None:
    # level as a number does not fit the MediaWiki shape: read through the generic mapping
    ev = read(
        '{"@timestamp": "2021-01-19T18:00:01Z", "message": "m", "level": 40, "mwversion": "1.36.0-wmf.1"}'
    )
    assert ev.message == "m" and ev.level == "40" and ev.version == "1.36.0-wmf.1"


def test_timestamps() -> None:
    assert parse_timestamp("2021-01-19T18:00:01Z") == 1611079201
    assert parse_timestamp("2021-01-19T18:00:01.5+00:00") == 1611079201.5
    assert parse_timestamp("2021-01-19 18:00:01") == 1611079201
    assert parse_timestamp("2021-01-19T19:00:01+01:00") == 1611079201
    assert parse_timestamp("1611079201000") == 1611079201
    with pytest.raises(ValueError):
        parse_timestamp("2021-13-45T99:00:00Z")
