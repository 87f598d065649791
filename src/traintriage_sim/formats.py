"""Line formats: Logstash JSON, ECS JSON, syslog ``@cee:`` and udp2log text, plus broken lines.

Speed comes from templates: each (format, bug, version) is encoded once with
sentinel characters where per-event values go (time, host, wiki, URL, reqId,
concatenated variables), then turned into a bytes ``%`` format. An event is
then one tuple lookup and one ``%`` operation.
"""

from __future__ import annotations

import binascii
import random
import re
import struct
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from traintriage_sim.bugs import Bug

SLOTS = (
    "ts",
    "reqid",
    "host",
    "sg",
    "php",
    "wiki",
    "server",
    "shard",
    "url",
    "method",
    "referrer",
    "v0",
    "v1",
    "v2",
    "v3",
    "r0",
    "r1",
    "r2",
    "r3",
)
_SLOT_INDEX = {n: i for i, n in enumerate(SLOTS)}
_SENTINEL = re.compile(rb'"\xee\x80\x82(\w+)\xee\x80\x83"|\xee\x80\x80(\w+)\xee\x80\x81')
MONOLOG = {"DEBUG": 100, "INFO": 200, "NOTICE": 250, "WARNING": 300, "ERROR": 400, "CRITICAL": 500}
FORMATS = ("logstash", "ecs", "cee", "udp2log")
_encode = msgspec.json.encode


def slot(name: str) -> str:
    """Placeholder for a per-event value inside a JSON string or text."""
    return f"\ue000{name}\ue001"


def raw_slot(name: str) -> str:
    """Placeholder for a whole JSON value (e.g. referrer: null or a string)."""
    return f"\ue002{name}\ue003"


def json_escape(s: str) -> bytes:
    return _encode(s)[1:-1]


Template = tuple[bytes, Any]


def compile_template(data: bytes) -> Template:
    order: list[int] = []

    def repl(m: re.Match[bytes]) -> bytes:
        order.append(_SLOT_INDEX[(m.group(1) or m.group(2)).decode()])
        return b"%s"

    out = _SENTINEL.sub(repl, data.replace(b"%", b"%%"))
    return out + b"\n", itemgetter(*order)


def _logstash_doc(bug: Bug, version: str, vi: int, entry: str) -> dict[str, Any]:
    c = bug.content(version, vi, entry=entry)
    d: dict[str, Any] = {
        "@timestamp": slot("ts"),
        "@version": 1,
        "type": "mediawiki",
        "channel": bug.channel,
        "level": bug.level,
        "monolog_level": MONOLOG[bug.level],
        "host": slot("host"),
        "message": c.message,
    }
    if c.normalized is not None:
        d["normalized_message"] = c.normalized
    d.update(
        {
            "url": slot("url"),
            "http_method": slot("method"),
            "server": slot("server"),
            "referrer": raw_slot("referrer"),
            "phpversion": slot("php"),
            "servergroup": slot("sg"),
            "shard": slot("shard"),
            "wiki": slot("wiki"),
            "mwversion": version,
            "reqId": slot("reqid"),
        }
    )
    for k, v in c.context.items():
        d["c_" + k if k in d else k] = v
    if c.exc is not None:
        d["exception"] = c.exc
        d["exception_url"] = slot("url")
        d["caught_by"] = bug.caught_by
    return d


def _ecs_doc(bug: Bug, version: str, vi: int, entry: str) -> dict[str, Any]:
    c = bug.content(version, vi, entry=entry)
    log: dict[str, Any] = {"level": bug.level, "logger": bug.channel}
    extra: dict[str, Any] = {}
    if c.exc is not None:
        log["origin"] = {"file": {"name": c.file, "line": c.line}}
        extra["error"] = {"type": c.exc["class"], "message": c.exc["message"], "stack_trace": c.exc["trace"]}
    return {
        "@timestamp": slot("ts"),
        "ecs": {"version": "1.11.0"},
        "log": log,
        "message": c.message,
        **extra,
        "service": {"type": "mediawiki", "version": version},
        "trace": {"id": slot("reqid")},
        "labels": {
            "channel": bug.channel,
            "wiki": slot("wiki"),
            "normalized_message": c.normalized,
            "servergroup": slot("sg"),
            "shard": slot("shard"),
            "phpversion": slot("php"),
            "caught_by": bug.caught_by,
        },
        "url": {"full": f"https://{slot('server')}{slot('url')}"},
        "http": {"request": {"method": slot("method"), "referrer": raw_slot("referrer")}},
        "host": {"name": slot("host")},
    }


def _udp2log_line(bug: Bug, version: str, vi: int, entry: str) -> bytes:
    text = bug.content(version, vi, raw=True, entry=entry)
    c = bug.content(version, vi, entry=entry)
    ctx = dict(c.context)
    if c.exc is not None:
        ctx = {"exception_url": slot("url"), "reqId": slot("reqid"), "caught_by": bug.caught_by, **ctx}
    head = (
        f"{slot('ts')} [{slot('reqid')}] {slot('host')} {slot('wiki')} {version} {bug.channel} "
        f"{bug.level}: {text.message} "
    ).encode()
    return head + (_encode(ctx) if ctx else b"[]") + b" " + (_encode(c.exc) if c.exc is not None else b"[]")


def build_template(fmt: str, bug: Bug, version: str, vi: int, entry: str = "") -> Template:
    """The line template of one bug in one version, reached through one entry point."""
    entry = entry or bug.entries[0][0]
    if fmt == "logstash":
        return compile_template(_encode(_logstash_doc(bug, version, vi, entry)))
    if fmt == "ecs":
        return compile_template(_encode(_ecs_doc(bug, version, vi, entry)))
    if fmt == "cee":
        prefix = f"{slot('ts')} {slot('host')} mediawiki: @cee: ".encode()
        return compile_template(prefix + _encode(_logstash_doc(bug, version, vi, entry)))
    if fmt == "udp2log":
        return compile_template(_udp2log_line(bug, version, vi, entry))
    raise ValueError(fmt)


# --- timestamps and request ids ----------------------------------------------------------------


class Clock:
    """Formats epoch microseconds fast: events come in time order, so the minute is usually cached."""

    def __init__(self) -> None:
        self._hours: dict[int, tuple[bytes, bytes]] = {}
        self._minute = (-1, b"", b"")
        self._rid_hi: dict[int, bytes] = {}

    def _prefix(self, hour: int) -> tuple[bytes, bytes]:
        p = self._hours.get(hour)
        if p is None:
            d = datetime.fromtimestamp(hour * 3600, UTC)
            p = (d.strftime("%Y-%m-%dT%H:").encode(), d.strftime("%Y-%m-%d %H:").encode())
            self._hours[hour] = p
        return p

    def _min(self, minute: int) -> tuple[int, bytes, bytes]:
        m = self._minute
        if m[0] != minute:
            hour, mm = divmod(minute, 60)
            iso_p, text_p = self._prefix(hour)
            m = self._minute = (minute, b"%s%02d:" % (iso_p, mm), b"%s%02d:" % (text_p, mm))
        return m

    def minute_prefix(self, minute: int) -> bytes:
        """`2021-01-19T18:05:` for an epoch minute."""
        return self._min(minute)[1]

    def rid_time_hi(self, sec: int) -> bytes:
        """First 4 chars of a mod_unique_id: the top 3 bytes of the time (change every 256 s)."""
        hi = self._rid_hi.get(sec >> 8)
        if hi is None:
            if len(self._rid_hi) > 256:
                self._rid_hi.clear()
            hi = self._rid_hi[sec >> 8] = _b64(struct.pack(">I", sec)[:3])
        return hi

    def iso(self, ts: int) -> bytes:
        minute, rem = divmod(ts, 60_000_000)
        s, us = divmod(rem, 1_000_000)
        return b"%s%02d.%06d+00:00" % (self._min(minute)[1], s, us)

    def ecs(self, ts: int) -> bytes:
        minute, rem = divmod(ts, 60_000_000)
        return b"%s%02d.%03dZ" % (self._min(minute)[1], rem // 1_000_000, rem % 1_000_000 // 1000)

    def text(self, ts: int) -> bytes:
        minute, rem = divmod(ts, 60_000_000)
        return b"%s%02d" % (self._min(minute)[2], rem // 1_000_000)

    def rid_time(self, ts: int) -> bytes:
        """First 8 chars of a mod_unique_id: 4 bytes of time and the 10.64 of the server IP."""
        sec = ts // 1_000_000
        return self.rid_time_hi(sec) + RID_LOW[sec & 255]


def _b64(b: bytes) -> bytes:
    return binascii.b2a_base64(b, newline=False).translate(_B64_ALT)


_B64_ALT = bytes.maketrans(b"+/", b"@-")
RID_LOW = [_b64(bytes((i, 10, 64))) for i in range(256)]


def rid_host(ip4: bytes) -> bytes:
    """Chars 9-12 of a mod_unique_id: the last two IP bytes and the high pid byte (0)."""
    assert ip4[:2] == b"\x0a\x40"
    return binascii.b2a_base64(ip4[2:] + b"\x00", newline=False).translate(_B64_ALT)


def rid_tails(rng: random.Random, n: int = 65536) -> list[bytes]:
    """Last 12 chars (pid, counter, thread index): a seeded pool, so a reqId costs two joins."""
    chars = _b64(rng.randbytes(9 * n))  # 9 bytes -> exactly 12 chars, so slices stay aligned
    return [chars[i : i + 12] for i in range(0, 12 * n, 12)]


# --- malformed lines -----------------------------------------------------------------------------

MALFORMED_KINDS = ("truncated", "invalid-utf8", "missing-fields", "binary-blob", "over-long")
OVER_LONG_BYTES = 2 * 1024 * 1024 + 512


def _json_part(line: bytes) -> tuple[bytes, bytes] | None:
    i = line.find(b"{")
    if i < 0 or line.startswith(b"20") and b"@cee: " not in line[:80]:
        return None  # udp2log text
    return line[:i], line[i:]


def malformed(kind: str, line: bytes, rng: random.Random) -> bytes:
    """Corrupt one rendered line (without its newline) the way real pipelines do."""
    if kind == "binary-blob":
        return rng.randbytes(rng.randrange(64, 2048)).replace(b"\n", b"\x00").replace(b"\r", b"\x01")
    if kind == "truncated":
        return line[: max(8, int(len(line) * rng.uniform(0.15, 0.9)))]
    if kind == "invalid-utf8":
        at = line.find(b'"message":"')
        at = at + 11 if at >= 0 else max(line.find(b": ") + 2, 0)
        return line[:at] + rng.choice((b"\xff\xfe", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80")) + line[at:]
    parts = _json_part(line)
    if parts is None:
        return line[: len(line) // 2]
    prefix, body = parts
    doc = msgspec.json.decode(body)
    if kind == "missing-fields":
        doc.pop("@timestamp", None)
        if rng.random() < 0.5:
            doc.pop("message", None)
    elif kind == "over-long":
        filler = "INSERT INTO `text` (old_text) VALUES ('" + "x" * OVER_LONG_BYTES + "')"
        target = doc.get("exception") if isinstance(doc.get("exception"), dict) else doc
        target["message"] = str(target.get("message", "")) + "\nQuery: " + filler
    return prefix + _encode(doc)
