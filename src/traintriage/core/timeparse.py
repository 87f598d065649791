"""Fast, strict timestamp parsing for log lines.

Log timestamps are overwhelmingly RFC 3339 in UTC. Parsing them with
`datetime.fromisoformat` costs about a microsecond each, which matters at
hundreds of thousands of events per second, so the common UTC shapes are
parsed by slicing with a per-hour cache and everything else falls back to
the standard library.

Every time returned here has passed `validate.check_time` (finite, 2000..2100): the
fast path checks each hour once when it enters the cache, so the check costs nothing
per line; an out-of-range time raises `InvalidInput` (a ValueError) with the reason.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from traintriage.core.errors import InvalidInput
from traintriage.core.validate import check_epoch_number, check_time

_HOUR_CACHE: dict[str, int] = {}


_MINUTE_CACHE: dict[str, int] = {}


def _minute_epoch(prefix: str) -> int:
    """Epoch seconds of 'YYYY-MM-DDTHH:MM', validated and cached (log lines come in time order)."""
    minute = int(prefix[14:16])
    if minute > 59 or not prefix[14:16].isdigit():
        raise ValueError(prefix)
    value = _hour_epoch(prefix[:13]) + minute * 60
    if len(_MINUTE_CACHE) > 200_000:
        _MINUTE_CACHE.clear()
    _MINUTE_CACHE[prefix] = value
    return value


def _hour_epoch(prefix: str) -> int:
    """Epoch seconds of 'YYYY-MM-DDTHH' (or with a space), validated and cached."""
    value = _HOUR_CACHE.get(prefix)
    if value is None:
        if prefix[4] != "-" or prefix[7] != "-" or not prefix[:4].isdigit():
            raise ValueError(prefix)
        year, month, day, hour = int(prefix[0:4]), int(prefix[5:7]), int(prefix[8:10]), int(prefix[11:13])
        datetime(year, month, day, hour)  # range check: raises ValueError
        value = calendar.timegm((year, month, day, hour, 0, 0, 0, 0, 0))
        check_time(value)  # once per hour, then cached: the sane range costs nothing per line
        if len(_HOUR_CACHE) > 100_000:
            _HOUR_CACHE.clear()
        _HOUR_CACHE[prefix] = value
    return value


def parse_timestamp(text: str) -> float:
    """Return UTC epoch seconds for an ISO 8601 / RFC 3339 timestamp or epoch number.

    Raises ValueError with a readable reason on anything else.
    """
    # Fast path: "YYYY-MM-DD[T ]HH:MM:SS[.fff][Z|+00:00]" in UTC.
    if text.endswith("Z"):
        body = text[:-1]
    elif text.endswith("+00:00"):
        body = text[:-6]
    else:
        body = text
    n = len(body)
    if n >= 19 and (n == 19 or body[19] == ".") and body[10] in "T " and body[13] == ":" and body[16] == ":":
        base = _MINUTE_CACHE.get(body[:16])
        try:
            if base is None:
                base = _minute_epoch(body[:16])
            second = int(body[17:19])
            frac = float(body[19:]) if n > 20 else 0.0
        except InvalidInput:
            raise InvalidInput(f"time {text[:40]!r} is outside 2000-01-01..2100-01-01") from None
        except ValueError:
            raise ValueError(f"invalid timestamp {text[:40]!r}") from None
        if not (0 <= second <= 60 and 0.0 <= frac < 1.0):  # ".5e400" would be inf
            raise ValueError(f"invalid timestamp {text[:40]!r}")
        return base + second + frac
    return _parse_slow(text)


def _parse_slow(text: str) -> float:
    """Offsets other than UTC, compact forms, epoch numbers."""
    if len(text) >= 10 and text[4] == "-" and text[7] == "-":
        try:
            parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
        except ValueError:
            raise ValueError(f"invalid timestamp {text[:40]!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return check_time(parsed.timestamp(), f"time {text[:40]!r}")
    try:
        value = float(text)  # never overflows: 400 digits or "1e400" give inf, refused below
    except ValueError:
        raise ValueError(f"invalid timestamp {text[:40]!r}") from None
    return check_epoch_number(value, f"time {text[:40]!r}")


def parse_epoch_or_iso(value: object) -> float:
    """Accept a JSON number (seconds or milliseconds) or a string timestamp."""
    if isinstance(value, bool):
        raise ValueError("timestamp is a boolean")
    if isinstance(value, int | float):
        return check_epoch_number(value)
    if isinstance(value, str):
        return parse_timestamp(value)
    raise ValueError(f"timestamp has type {type(value).__name__}")


def iso(ts: float) -> str:
    """Format epoch seconds as an ISO 8601 UTC string with a Z suffix (for output).

    Never raises: a value no calendar can show (inf, NaN, beyond year 9999), which can only
    come from a row stored before times were validated (issue 8), is shown as
    `invalid time (inf)` instead of failing the whole page or command that lists it.
    """
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError, TypeError):
        return f"invalid time ({ts!r})"


def parse_when(text: str) -> float:
    """Parse a user-given time (CLI --at): ISO 8601, date only, or 'now'."""
    if text == "now":
        return datetime.now(UTC).timestamp()
    if len(text) == 10:
        text = text + "T00:00:00Z"
    return parse_timestamp(text)
