"""Text helpers shared by the reports: log-derived strings made safe for terminals and mail."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean(text: str | None, limit: int = 300) -> str:
    """One line, no control characters (no terminal escapes), at most `limit` characters."""
    text = " ".join(_CONTROL.sub(" ", text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def duration(seconds: float | None) -> str:
    """3 d 13 h / 2 h 5 min / 45 min / 30 s; '-' for unknown."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s >= 86400:
        return f"{s // 86400} d {s % 86400 // 3600} h"
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    if s >= 60:
        return f"{s // 60} min"
    return f"{s} s"
