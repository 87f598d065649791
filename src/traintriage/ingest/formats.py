"""Per-line readers: every supported log format maps into `model.Event`.

Formats are auto-detected per line, because real files mix them (rsyslog
spools, udp2log files with JSON context, exports from Logstash):

* MediaWiki Logstash JSON (`normalized_message`, `exception.*`, `mwversion`);
* the ECS variant of it (`error.*`, `service.version`, `labels.*`, `trace.id`);
* syslog lines whose payload is `@cee: {json}` (MediaWiki's CeeFormatter);
* plain udp2log text lines (`%datetime% [%reqId%] %host% %wiki% %mwversion% %channel% %level%: ...`);
* generic JSON logs of other applications, through a configurable `FieldMap`;
* any other text line, as a plain message (`fmt="text"`): what auto-detection falls
  back to, and what `LineReader(fmt="text")` reads every line as. A leading ISO 8601
  timestamp is taken as the event time and removed from the message.

A missing timestamp is a `LineError` unless the reader says otherwise:
`assume_time` (epoch seconds) stands in for it (`ingest --assume-time`), and
`require_time=False` gives 0.0 (`fingerprint`, which stores nothing).

A line that cannot be read becomes a `LineError` with a reason; nothing here
raises anything else on bad input (JSON nested past the decoder's depth, times out of
range, unusable version names included: see core/validate.py). The MediaWiki/ECS shapes are decoded by one typed msgspec
decoder (fields not declared are skipped without being materialised), which is
what keeps the hot path near one microsecond per line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from traintriage.core.errors import InvalidInput
from traintriage.core.events import Event
from traintriage.core.timeparse import parse_epoch_or_iso, parse_timestamp
from traintriage.core.validate import version_problem

MAX_LINE_BYTES = 1 << 20  # 1 MiB: longer lines are rejected, not truncated
NESTED_TOO_DEEPLY = "JSON nested too deeply"
_BOM = b"\xef\xbb\xbf"
_JSON_TAIL_ATTEMPTS = 256  # udp2log: candidate starts of a trailing JSON blob tried, at most


class LineError(Exception):
    """Why a line could not be read (carried as a value, raised only internally)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- typed shapes of the MediaWiki Logstash and ECS documents -------------------


class _Exc(msgspec.Struct, gc=False):
    message: str | None = None
    file: str | None = None
    trace: str | None = None
    class_: str | None = msgspec.field(default=None, name="class")


class _Url(msgspec.Struct, gc=False):
    full: str | None = None
    path: str | None = None


class _Host(msgspec.Struct, gc=False):
    name: str | None = None
    hostname: str | None = None


class _Labels(msgspec.Struct, gc=False):
    wiki: str | None = None
    normalized_message: str | None = None
    servergroup: str | None = None
    channel: str | None = None
    reqId: str | None = None
    mwversion: str | None = None


class _Error(msgspec.Struct, gc=False):
    type: str | None = None
    message: str | None = None
    stack_trace: str | None = None


class _OriginFile(msgspec.Struct, gc=False):
    name: str | None = None
    line: int | str | None = None


class _Origin(msgspec.Struct, gc=False):
    file: _OriginFile | None = None


class _Log(msgspec.Struct, gc=False):
    level: str | None = None
    logger: str | None = None
    origin: _Origin | None = None


class _Service(msgspec.Struct, gc=False):
    version: str | None = None
    name: str | None = None
    type: str | None = None


class _Trace(msgspec.Struct, gc=False):
    id: str | None = None


class _Doc(msgspec.Struct, gc=False):
    """Union of the Logstash and ECS MediaWiki shapes; every field optional."""

    timestamp: str | None = msgspec.field(default=None, name="@timestamp")
    message: str | None = None
    normalized_message: str | None = None
    channel: str | None = None
    level: str | None = None
    type: str | None = None
    host: str | _Host | None = None
    wiki: str | None = None
    mwversion: str | None = None
    reqId: str | None = None
    url: str | _Url | None = None
    server: str | None = None
    servergroup: str | None = None
    phpversion: str | None = None
    # MediaWiki flattens log context keys to the top level, so any of these names can
    # also arrive as a plain string from some extension's context: accept and ignore it.
    exception: _Exc | str | None = None
    error: _Error | str | None = None
    labels: _Labels | str | None = None
    service: _Service | str | None = None
    log: _Log | str | None = None
    trace: _Trace | str | None = None


_DOC_DECODER = msgspec.json.Decoder(_Doc)
_ANY_DECODER = msgspec.json.Decoder()


# --- generic JSON field mapping --------------------------------------------------


@dataclass(frozen=True)
class FieldMap:
    """Where to find each event field in other applications' JSON logs.

    Each entry is a list of dotted paths tried in order; the first present wins.
    The defaults cover common conventions (Python logging JSON, Bunyan/Pino,
    Serilog compact, ECS, Logback's logstash encoder).
    """

    message: tuple[str, ...] = ("message", "msg", "@m", "@mt", "log", "text")
    timestamp: tuple[str, ...] = ("@timestamp", "timestamp", "time", "ts", "@t", "date", "datetime")
    level: tuple[str, ...] = ("level", "log.level", "severity", "@l", "levelname", "lvl")
    version: tuple[str, ...] = (
        "version",
        "mwversion",
        "service.version",
        "app_version",
        "release",
        "appVersion",
    )
    channel: tuple[str, ...] = ("channel", "logger", "logger_name", "log.logger", "name", "component")
    exc_class: tuple[str, ...] = (
        "exception.class",
        "error.type",
        "exc_type",
        "exception_class",
        "err.type",
        "exception.type",
    )
    exc_message: tuple[str, ...] = ("exception.message", "error.message", "err.message", "exc_message")
    trace: tuple[str, ...] = (
        "error.stack_trace",
        "stack_trace",
        "exception.trace",
        "stack",
        "err.stack",
        "exc_info",
        "@x",
        "exception.stacktrace",
    )
    host: tuple[str, ...] = ("host", "hostname", "host.name", "host.hostname")
    wiki: tuple[str, ...] = ("wiki", "tenant", "site", "labels.wiki")
    req_id: tuple[str, ...] = ("reqId", "request_id", "requestId", "trace.id", "trace_id", "req_id")
    url: tuple[str, ...] = ("url", "url.full", "request.url", "path")

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> FieldMap:
        """Build from a user mapping (e.g. a TOML table); unknown keys are an error."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ValueError(
                f"unknown field-map keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        values: dict[str, tuple[str, ...]] = {}
        for key, value in mapping.items():
            if isinstance(value, str):
                values[key] = (value,)
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                values[key] = tuple(value)
            else:
                raise ValueError(f"field-map key {key!r} must be a string or a list of strings")
        return cls(**values)


def _lookup(doc: dict[str, Any], paths: tuple[str, ...]) -> Any:
    for path in paths:
        if path in doc:
            value = doc[path]
        else:
            value = doc
            for part in path.split("."):
                if isinstance(value, dict) and part in value:
                    value = value[part]
                else:
                    value = None
                    break
        if value is not None and value != "":
            return value
    return None


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return msgspec.json.encode(value).decode()


# --- the readers -------------------------------------------------------------------


_VERSIONS_OK: set[str] = set()
"""Version names already checked (a log has a handful): the hot path checks each once."""


def _version(text: str | None) -> str | None:
    """None when absent or empty; the name when `validate.version_problem` accepts it."""
    if not text:
        return None
    if text not in _VERSIONS_OK:
        problem = version_problem(text)
        if problem is not None:
            raise LineError(problem)
        if len(_VERSIONS_OK) >= 10_000:
            _VERSIONS_OK.clear()
        _VERSIONS_OK.add(text)
    return text


def _host_name(host: str | _Host | None) -> str | None:
    if host is None or isinstance(host, str):
        return host
    return host.name or host.hostname


def _from_doc(doc: _Doc, fmt: str, missing_ts: float | None = None) -> Event:
    """Map the Logstash/ECS union shape to an Event (raises LineError).

    `missing_ts` is the time given to a document without `@timestamp` (None: reject it).
    """
    if doc.timestamp is None:
        if missing_ts is None:
            raise LineError("missing required field '@timestamp'" + NO_TIME_HINT)
        ts = missing_ts
    else:
        try:
            ts = parse_timestamp(doc.timestamp)
        except ValueError as err:
            raise LineError(str(err)) from None
    exc = doc.exception
    if isinstance(exc, _Exc):
        exc_class, exc_message, exc_file, trace = exc.class_, exc.message, exc.file, exc.trace
    else:
        exc_class = exc_message = exc_file = trace = None
    host = doc.host
    url = doc.url
    if fmt == "logstash" and doc.labels is None and doc.error is None and doc.log is None:
        # The MediaWiki Logstash shape: everything is a top-level string (the hot path).
        message = doc.message or doc.normalized_message or exc_message
        if not message:
            raise LineError("missing required field 'message'")
        level = doc.level
        version = doc.mwversion
        if version and version not in _VERSIONS_OK:
            version = _version(version)
        return Event(  # positional: this is the hot path (field order of model.Event)
            ts,
            message,
            doc.normalized_message,
            doc.channel or "",
            level.upper() if level else "",
            version or None,
            doc.wiki or None,
            host if host is None or isinstance(host, str) else (host.name or host.hostname),
            doc.reqId or None,
            exc_class,
            exc_message,
            exc_file,
            trace,
            url if url is None or isinstance(url, str) else (url.full or url.path),
            doc.server,
            doc.servergroup,
            fmt,
            php_version=doc.phpversion,
        )
    return _from_ecs(doc, fmt, ts, exc_class, exc_message, exc_file, trace)


def _from_ecs(
    doc: _Doc,
    fmt: str,
    ts: float,
    exc_class: str | None,
    exc_message: str | None,
    exc_file: str | None,
    trace: str | None,
) -> Event:
    """The ECS variant (and Logstash documents carrying ECS objects): renamed, nested fields."""
    labels = doc.labels if isinstance(doc.labels, _Labels) else None
    err = doc.error if isinstance(doc.error, _Error) else None
    log = doc.log if isinstance(doc.log, _Log) else None
    service = doc.service if isinstance(doc.service, _Service) else None
    trace_obj = doc.trace if isinstance(doc.trace, _Trace) else None
    normalized = doc.normalized_message
    channel = doc.channel
    wiki = doc.wiki
    version = doc.mwversion
    servergroup = doc.servergroup
    req_id = doc.reqId
    level = doc.level
    if labels is not None:
        normalized = normalized or labels.normalized_message
        channel = channel or labels.channel
        wiki = wiki or labels.wiki
        servergroup = servergroup or labels.servergroup
        req_id = req_id or labels.reqId
        version = version or labels.mwversion
    if service is not None and service.version:
        version = version or service.version
    if trace_obj is not None and trace_obj.id:
        req_id = req_id or trace_obj.id
    if log is not None:
        level = level or log.level
        channel = channel or log.logger
    if err is not None:
        exc_class = exc_class or err.type
        exc_message = exc_message or err.message
        trace = trace or err.stack_trace
    if exc_file is None and log is not None and log.origin is not None and log.origin.file is not None:
        origin = log.origin.file
        if origin.name:
            exc_file = f"{origin.name}:{origin.line}" if origin.line is not None else origin.name
    message = doc.message or normalized or exc_message
    if not message:
        raise LineError("missing required field 'message'")
    url = doc.url
    return Event(
        ts=ts,
        message=message,
        normalized_message=normalized,
        channel=channel or "",
        level=(level or "").upper(),
        version=_version(version),
        wiki=wiki or None,
        host=_host_name(doc.host),
        req_id=req_id or None,
        exc_class=exc_class,
        exc_message=exc_message,
        exc_file=exc_file,
        trace=trace,
        url=url if url is None or isinstance(url, str) else (url.full or url.path),
        server=doc.server,
        servergroup=servergroup,
        fmt=fmt,
        php_version=doc.phpversion,
    )


def _is_mediawiki_shape(doc: _Doc) -> str | None:
    """Return the format name when the document looks like MediaWiki Logstash or ECS."""
    if doc.mwversion is not None or doc.normalized_message is not None:
        return "logstash"  # the hot path: MediaWiki's own fields
    ecs = (
        isinstance(doc.labels, _Labels)
        or isinstance(doc.error, _Error)
        or isinstance(doc.service, _Service)
        or isinstance(doc.log, _Log)
    )
    if doc.type == "mediawiki":
        return "ecs" if ecs else "logstash"
    if isinstance(doc.exception, _Exc) and doc.channel is not None:
        return "logstash"
    return "ecs" if ecs else None


READ_FORMATS = ("auto", "text")
NO_TIME_HINT = " (no timestamp: pass --assume-time now|ISO-TIME to use one)"


@dataclass
class LineReader:
    """Turns one raw line (bytes, without newline) into an Event or a LineError.

    `fmt` is "auto" (detect per line, falling back to plain text) or "text" (every
    line is a plain message). A line without a timestamp gets `assume_time` when set,
    else 0.0 when `require_time` is false, else it is rejected.
    """

    field_map: FieldMap = field(default_factory=FieldMap)
    max_line_bytes: int = MAX_LINE_BYTES
    fmt: str = "auto"
    assume_time: float | None = None
    require_time: bool = True

    def __post_init__(self) -> None:
        if self.fmt not in READ_FORMATS:
            raise ValueError(f"unknown format {self.fmt!r} (known: {', '.join(READ_FORMATS)})")
        # The time a line without one gets; None: such a line is rejected.
        self._missing_ts: float | None = (
            self.assume_time if self.assume_time is not None else (None if self.require_time else 0.0)
        )

    def read(self, line: bytes) -> Event:
        """Parse one line; raise LineError with a human reason when it can't be read."""
        if len(line) > self.max_line_bytes:
            raise LineError(f"line too long ({len(line)} bytes > limit {self.max_line_bytes})")
        if self.fmt == "text":
            if line[:3] == _BOM:
                line = line[3:]
            if b"\x00" in line:
                raise LineError("binary data (NUL byte)")
            stripped = line.strip()
            if not stripped:
                raise LineError("empty line")
            return self._read_plain(stripped)
        if line[:1] == b"{":
            # The hot path: no copy of the line. A NUL byte cannot occur in valid JSON
            # (raw control characters are rejected by the decoder), so binary junk that
            # happens to start with "{" still fails below, with the decoder's reason.
            return self._read_json(line, "json")
        if line[:3] == _BOM:  # a UTF-8 byte order mark: files saved by editors, concatenated exports
            line = line[3:]
            if line[:1] == b"{":
                return self._read_json(line, "json")
        if b"\x00" in line:
            raise LineError("binary data (NUL byte)")
        stripped = line.strip()
        if not stripped:
            raise LineError("empty line")
        if stripped[:1] == b"{":
            return self._read_json(stripped, "json")
        cee = stripped.find(b"@cee:")
        if cee >= 0:
            return self._read_cee(stripped, cee)
        return self._read_text(stripped)

    def _read_json(self, data: bytes, hint: str) -> Event:
        try:
            doc = _DOC_DECODER.decode(data)
        except msgspec.ValidationError:
            return self._read_generic(data)
        except msgspec.DecodeError as err:
            raise LineError(_json_reason(data, err)) from None
        except UnicodeDecodeError as err:
            raise LineError(f"invalid UTF-8 at byte {err.start}") from None
        except RecursionError:
            raise LineError(NESTED_TOO_DEEPLY) from None
        fmt = _is_mediawiki_shape(doc)
        if fmt is None:
            return self._read_generic(data)
        ev = _from_doc(doc, fmt if hint == "json" else hint, self._missing_ts)
        if ev.normalized_message is not None and "{" in ev.normalized_message:
            ev.context = _context_values(data, ev.normalized_message)
        return ev

    def _read_cee(self, line: bytes, at: int) -> Event:
        payload = line[at + 5 :].strip()
        if payload[:1] != b"{":
            raise LineError("syslog @cee: payload is not a JSON object")
        try:
            doc = _DOC_DECODER.decode(payload)
        except msgspec.ValidationError:
            return self._read_generic(payload)
        except msgspec.DecodeError as err:
            raise LineError("syslog @cee: " + _json_reason(payload, err)) from None
        except UnicodeDecodeError as err:
            raise LineError(f"syslog @cee: invalid UTF-8 at byte {err.start}") from None
        except RecursionError:
            raise LineError("syslog @cee: " + NESTED_TOO_DEEPLY) from None
        header = line[:at].decode("utf-8", "replace").split()
        if doc.timestamp is None and header:
            doc.timestamp = header[0]
        if doc.host is None and len(header) > 1:
            doc.host = header[1]
        ev = _from_doc(doc, "syslog-cee", self._missing_ts)
        if ev.normalized_message is not None and "{" in ev.normalized_message:
            ev.context = _context_values(payload, ev.normalized_message)
        return ev

    def _read_generic(self, data: bytes) -> Event:
        try:
            obj = _ANY_DECODER.decode(data)
        except msgspec.DecodeError as err:
            raise LineError(_json_reason(data, err)) from None
        except UnicodeDecodeError as err:
            raise LineError(f"invalid UTF-8 at byte {err.start}") from None
        except RecursionError:
            raise LineError(NESTED_TOO_DEEPLY) from None
        if not isinstance(obj, dict):
            raise LineError("JSON value is not an object")
        fm = self.field_map
        message = _as_text(_lookup(obj, fm.message))
        if not message:
            raise LineError(f"missing required field 'message' (tried {', '.join(fm.message)})")
        raw_ts = _lookup(obj, fm.timestamp)
        if raw_ts is None:
            if self._missing_ts is None:
                raise LineError(
                    f"missing required field 'timestamp' (tried {', '.join(fm.timestamp)})" + NO_TIME_HINT
                )
            ts = self._missing_ts
        else:
            try:
                ts = parse_epoch_or_iso(raw_ts)
            except ValueError as err:
                raise LineError(str(err)) from None
        host = _lookup(obj, fm.host)
        if isinstance(host, dict):
            host = host.get("name") or host.get("hostname")
        return Event(
            ts=ts,
            message=message,
            channel=_as_text(_lookup(obj, fm.channel)) or "",
            level=(_as_text(_lookup(obj, fm.level)) or "").upper(),
            version=_version(_as_text(_lookup(obj, fm.version))),
            wiki=_as_text(_lookup(obj, fm.wiki)),
            host=_as_text(host),
            req_id=_as_text(_lookup(obj, fm.req_id)),
            exc_class=_as_text(_lookup(obj, fm.exc_class)),
            exc_message=_as_text(_lookup(obj, fm.exc_message)),
            trace=_as_text(_lookup(obj, fm.trace)),
            url=_as_text(_lookup(obj, fm.url)),
            fmt="json",
        )

    def _read_text(self, line: bytes) -> Event:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise LineError(f"invalid UTF-8 at byte {err.start}") from None
        match = _UDP2LOG.match(text)
        if match is None:
            return self._plain_event(text)
        return _from_udp2log(match)

    def _read_plain(self, line: bytes) -> Event:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise LineError(f"invalid UTF-8 at byte {err.start}") from None
        return self._plain_event(text)

    def _plain_event(self, text: str) -> Event:
        """Any text line as a message; a leading ISO 8601 timestamp is its time."""
        m = _LEADING_TS.match(text)
        ts: float | None = None
        if m is not None:
            try:
                ts = parse_timestamp(m["ts"].replace(",", "."))
            except InvalidInput as err:  # a timestamp, but out of range: never stored
                raise LineError(str(err)) from None
            except ValueError:
                ts = None
            else:
                text = text[m.end() :]
        if ts is None:
            if self._missing_ts is None:
                raise LineError("plain text line without a leading ISO 8601 timestamp" + NO_TIME_HINT)
            ts = self._missing_ts
        if not text.strip():
            raise LineError("missing required field 'message'")
        return Event(ts, text, fmt="text")


# PSR-3 placeholders whose values the typed decoder already reads (or that never matter
# for grouping): a template with only these needs no second decode.
_KNOWN_PLACEHOLDERS = frozenset({"reqId", "exception_url", "url", "wiki", "host", "mwversion"})
_PLACEHOLDER_KEY = re.compile(r"\{([A-Za-z_][\w.\-]*)\}")
_KEYS_CACHE: dict[str, tuple[str, ...]] = {}


def _ambiguous_keys(template: str) -> tuple[str, ...]:
    """The placeholders whose values the rendered message cannot tell apart, or ().

    Grouping reads a value back from the rendered message by the template's literal
    text around it; two placeholders separated only by whitespace (`{error} {sql1line}`)
    cannot be split that way, so only then are the context values decoded (a second,
    untyped decode of the line, which costs a few microseconds).
    """
    parts = _PLACEHOLDER_KEY.split(template)  # literal, key, literal, key, ..., literal
    literals, keys = parts[0::2], parts[1::2]
    if not any(not lit.strip() for lit in literals[1:-1]):
        return ()
    return tuple(k for k in dict.fromkeys(keys) if k not in _KNOWN_PLACEHOLDERS)


def _context_values(data: bytes, template: str) -> dict[str, str] | None:
    """Values of the template's placeholders from the JSON document (top level, then `labels`).

    MediaWiki flattens its log context to the top level of Logstash documents (ECS puts
    it under `labels`); grouping uses the values to build one template whatever the
    transport. The second, untyped decode only runs for templates whose values the
    rendered message cannot give (see `_ambiguous_keys`).
    """
    keys = _KEYS_CACHE.get(template)
    if keys is None:
        keys = _ambiguous_keys(template)
        if len(_KEYS_CACHE) > 10_000:
            _KEYS_CACHE.clear()
        _KEYS_CACHE[template] = keys
    if not keys:
        return None
    try:
        obj = _ANY_DECODER.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict):
        return None
    labels = obj.get("labels")
    scopes = (obj, labels) if isinstance(labels, dict) else (obj,)
    out: dict[str, str] = {}
    for key in keys:
        for scope in scopes:
            value = scope.get(key)
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                out[key] = value if isinstance(value, str) else str(value)
                break
    return out or None


def _json_reason(data: bytes, err: msgspec.DecodeError) -> str:
    message = str(err)
    if "UTF-8" in message or "utf-8" in message:
        return f"invalid UTF-8 ({message})"
    return f"invalid JSON ({message})"


# %datetime% [%reqId%] %host% %wiki% %mwversion% %channel% %level_name%: %message% %context% %exception%
_UDP2LOG = re.compile(
    r"(?P<ts>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) "
    r"\[(?P<req>[^\]]*)\] (?P<host>\S+) (?P<wiki>\S+) (?P<version>\S+) (?P<channel>\S+) "
    r"(?P<level>[A-Z]+): (?P<rest>.*)\Z",
    re.S,
)


# A leading ISO 8601 date-time (optionally in brackets) of a plain text line, e.g.
# "2024-03-01 12:00:00,123 ERROR ..." or "[2024-03-01T12:00:00Z] ...".
_LEADING_TS = re.compile(
    r"\[?(?P<ts>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)\]?(?:\s+|\Z)"
)


def _split_trailing_json(rest: str) -> tuple[str, list[Any]]:
    """Peel `{context}` and `{exception}`/`[]` JSON blobs off the end of a udp2log message.

    Each blob's start is searched from the end; the number of candidate starts tried is
    capped so that a hostile line full of " [" cannot cost quadratic time.
    """
    blobs: list[Any] = []
    text = rest.rstrip()
    for _ in range(2):
        if not text.endswith(("}", "]")):
            break
        opener = "{" if text.endswith("}") else "["
        start = text.rfind(" " + opener)
        attempts = 0
        while start >= 0 and attempts < _JSON_TAIL_ATTEMPTS:
            attempts += 1
            candidate = text[start + 1 :]
            try:
                blobs.insert(0, _ANY_DECODER.decode(candidate))
            except msgspec.DecodeError:
                start = text.rfind(" " + opener, 0, start)
                continue
            except RecursionError:
                raise LineError(NESTED_TOO_DEEPLY) from None
            text = text[:start].rstrip()
            break
        else:
            break
    return text, blobs


def _template_from_context(message: str, context: dict[str, Any]) -> str | None:
    """Rebuild the PSR-3 template of a rendered udp2log message from its context.

    udp2log lines carry the rendered message and, separately, the context values.
    Values with spaces change how many words a message has, which would keep the
    rendered line apart from the same event's Logstash form; they are put back as
    `{key}` placeholders. Single-word values are left for masking (a key like
    `fname` may be literal in the template, and guessing wrong would split a bug).
    """
    values = sorted(
        ((k, v) for k, v in context.items() if isinstance(v, str) and " " in v.strip() and v in message),
        key=lambda kv: -len(kv[1]),
    )
    if not values:
        return None
    for key, value in values:
        message = message.replace(value, "{" + key + "}")
    return message


def _from_udp2log(match: re.Match[str]) -> Event:
    try:
        ts = parse_timestamp(match["ts"])
    except ValueError as err:
        raise LineError(str(err)) from None
    message, blobs = _split_trailing_json(match["rest"])
    if not message:
        raise LineError("missing required field 'message'")
    exc: dict[str, Any] = {}
    context: dict[str, Any] = {}
    for blob in blobs:
        if isinstance(blob, dict) and ("class" in blob or "trace" in blob):
            exc = blob
        elif isinstance(blob, dict):
            context = blob
            if isinstance(blob.get("exception"), dict):
                exc = blob["exception"]

    def _opt(value: str) -> str | None:
        return None if value in ("-", "") else value

    normalized = context.get("normalized_message")
    if not isinstance(normalized, str):
        normalized = _template_from_context(message, context)
    values = {
        k: v if isinstance(v, str) else str(v)
        for k, v in context.items()
        if isinstance(v, str | int | float) and not isinstance(v, bool)
    }
    return Event(
        context=values or None,
        ts=ts,
        message=message,
        normalized_message=normalized,
        channel=match["channel"],
        level=match["level"],
        version=_version(_opt(match["version"])),
        wiki=_opt(match["wiki"]),
        host=_opt(match["host"]),
        req_id=_opt(match["req"]),
        exc_class=_as_text(exc.get("class")),
        exc_message=_as_text(exc.get("message")),
        exc_file=_as_text(exc.get("file")),
        trace=_as_text(exc.get("trace")),
        url=_as_text(context.get("url")),
        fmt="udp2log",
    )
