"""The one internal event model every reader maps into.

Pure data, no I/O. Timestamps are UTC epoch seconds (float) so that bucketing by
hour is integer arithmetic; strings are kept as the log gave them (already
decoded from UTF-8) and are untrusted.
"""

from __future__ import annotations

import msgspec


class Event(msgspec.Struct, gc=False):
    """One production log event, whatever format it came in.

    `message` is the rendered message; `normalized_message` is the PSR-3 template
    (placeholders not expanded) when the producer gives one (MediaWiki does).
    `trace` is the (already redacted) stack trace text, frames one per line.
    `context` holds the values of the template's placeholders when the line had them.
    Readers on the hot path construct it positionally (field order is part of the API).
    """

    ts: float
    message: str
    normalized_message: str | None = None
    channel: str = ""
    level: str = ""
    version: str | None = None
    wiki: str | None = None
    host: str | None = None
    req_id: str | None = None
    exc_class: str | None = None
    exc_message: str | None = None
    exc_file: str | None = None
    trace: str | None = None
    url: str | None = None
    server: str | None = None
    servergroup: str | None = None
    fmt: str = ""
    # Values of the PSR-3 placeholders of `normalized_message` that the line carried
    # (MediaWiki's log context), as text; None when there are none or the format has none.
    context: dict[str, str] | None = None
    # The PHP version that ran the request (Logstash `phpversion`): shown in filed tasks.
    php_version: str | None = None


class Rejected(msgspec.Struct, gc=False, frozen=True):
    """A line that could not be read, with the reason (never raised, always reported)."""

    line: int
    reason: str
