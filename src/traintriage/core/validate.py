"""The one place that decides whether a time or a version name may be stored.

Every reader and import (log lines, deploy logs, `deploy record`, exposure CSVs) passes
the times and versions it accepts through here. A value outside these rules is refused
with `InvalidInput` (a per-line reject for files) instead of being stored, because one
stored bad value breaks every later read that meets it (issue 8: a deploy step dated
0001-01-01, an event at 9999-12-31T23:59:59Z, a time of `inf` or `NaN`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from traintriage.core.errors import InvalidInput

MIN_TIME = 946_684_800.0
"""2000-01-01T00:00:00Z: no train log, deploy step or request count is older."""

MAX_TIME = 4_102_444_800.0
"""2100-01-01T00:00:00Z (exclusive): far enough for any real clock, near enough to format."""

MAX_VERSION_LENGTH = 100
"""`1.36.0-wmf.28` is 13 characters; build ids with a commit hash stay well under 100."""


def _describe_time(ts: float) -> str:
    if math.isfinite(ts) and -62_135_596_800 <= ts < 253_402_300_800:  # years 1..9999
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return repr(ts)


def check_time(ts: float, what: str = "time") -> float:
    """Return `ts` (UTC epoch seconds) if finite and in [2000-01-01, 2100-01-01); else InvalidInput.

    `what` names the value in the message; the default "time" adds the value itself.
    """
    if MIN_TIME <= ts < MAX_TIME:  # False for NaN as well
        return ts
    return _out_of_range(ts, what)


def _out_of_range(ts: float, what: str) -> float:
    label = f"{what} {_describe_time(ts)}" if what == "time" else what
    if not math.isfinite(ts):
        raise InvalidInput(f"{label} is not a finite number")
    raise InvalidInput(f"{label} is outside 2000-01-01..2100-01-01")


def check_epoch_number(value: int | float, what: str = "time") -> float:
    """A JSON/CSV number as epoch seconds (values above 1e11 are milliseconds), checked.

    Integers of any size are compared before converting, so a 400-digit number is a
    clear InvalidInput and never an OverflowError.
    """
    if isinstance(value, int) and not -(10**15) < value < 10**15:
        raise InvalidInput(f"{what} {str(value)[:20]}... has {len(str(abs(value)))} digits")
    seconds = value / 1000.0 if value > 1e11 else float(value)
    return check_time(seconds, what)


def version_problem(text: str) -> str | None:
    """Why `text` is not an acceptable version name, or None when it is.

    A version is 1 to 100 printable characters without spaces: what scap, wikiversions
    and build tools produce. Empty, blank, control characters (NUL), line breaks and
    Unicode separators are refused; they would be invisible or ambiguous in every view.
    """
    if not text:
        return "empty version"
    if not text.strip():
        return "blank version"
    if len(text) > MAX_VERSION_LENGTH:
        return f"version is {len(text):,} characters long (limit {MAX_VERSION_LENGTH})"
    if not text.isprintable():
        return f"version {text[:40]!r} contains control or separator characters"
    if " " in text:
        return f"version {text[:40]!r} contains spaces"
    return None


def check_version(text: str, what: str = "version") -> str:
    """Return `text` if it is an acceptable version name (see `version_problem`); else InvalidInput."""
    problem = version_problem(text)
    if problem is not None:
        raise InvalidInput(problem if what == "version" else f"{what}: {problem}")
    return text
