"""Parse request counts per hour (exposure): how much traffic each version served.

CSV with header `hour,group,version,requests` or `hour,wiki,version,requests`;
`hour` is an ISO 8601 time (truncated to the hour) or epoch seconds. Rows that
can't be read become errors with their line number; good rows are kept.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

from traintriage.core.errors import InvalidInput
from traintriage.core.timeparse import parse_timestamp
from traintriage.core.validate import check_version
from traintriage.core.vocabulary import STAGES
from traintriage.train.groups import is_dbname


@dataclass(frozen=True)
class ExposureRow:
    hour: int  # epoch hour (seconds // 3600)
    scope: str  # "group" | "wiki"
    name: str
    version: str
    requests: int


@dataclass
class ExposureParse:
    rows: list[ExposureRow] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


MAX_REQUESTS = 10**15
"""A quadrillion requests in one hour is not a count but a typo; it would not fit a column either."""


def parse_exposure(text: str) -> ExposureParse:
    """Read an exposure CSV; see the module docstring for the format.

    Each line is read on its own, so a broken one (a NUL byte, a field past the csv
    module's limit, a 26-digit count, a group that is not a train stage, a version or
    time `core.validate` refuses) is an error with its line number, and the rest is kept.
    """
    out = ExposureParse()
    lines = text.lstrip("\ufeff").splitlines()
    header = _row(lines[0]) if lines else None
    if not header:
        out.errors.append((1, "empty file"))
        return out
    cols = [h.strip().lower() for h in header]
    if cols not in (["hour", "group", "version", "requests"], ["hour", "wiki", "version", "requests"]):
        out.errors.append((1, "header must be hour,group,version,requests or hour,wiki,version,requests"))
        return out
    scope = cols[1]
    seen: dict[tuple[int, str, str], int] = {}
    for number, line in enumerate(lines[1:], start=2):
        try:
            row = _row(line)
        except csv.Error as err:
            out.errors.append((number, f"invalid CSV: {err}"))
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != 4:
            out.errors.append((number, f"expected 4 columns, got {len(row)}"))
            continue
        try:
            parsed = _exposure_row(scope, *(c.strip() for c in row))
        except ValueError as err:
            out.errors.append((number, str(err)))
            continue
        key = (parsed.hour, parsed.name, parsed.version)
        if key in seen:
            out.errors.append((number, f"this hour was given on line {seen[key]} already (that one is kept)"))
            continue
        seen[key] = number
        out.rows.append(parsed)
    return out


def _row(line: str) -> list[str]:
    return next(csv.reader([line]), [])


def _exposure_row(scope: str, hour_text: str, name: str, version: str, requests_text: str) -> ExposureRow:
    """One checked row; ValueError (InvalidInput included) says what is wrong with it."""
    hour = int(parse_timestamp(hour_text) // 3600)
    if not (requests_text.isascii() and requests_text.isdigit()):
        raise InvalidInput(f"requests {requests_text[:40]!r} is not a non-negative integer")
    requests = int(requests_text) if len(requests_text) <= 16 else MAX_REQUESTS
    if requests >= MAX_REQUESTS:
        raise InvalidInput(
            f"requests {requests_text[:40]} ({len(requests_text)} digits) is out of range "
            f"(at most {MAX_REQUESTS - 1:,} per hour)"
        )
    if scope == "group" and name not in STAGES:
        raise InvalidInput(f"unknown group {name[:40]!r} (expected one of {', '.join(STAGES)})")
    if scope == "wiki" and not is_dbname(name):
        raise InvalidInput(f"not a wiki database name: {name[:40]!r}")
    return ExposureRow(hour, scope, name, check_version(version), requests)
