"""Parse request counts per hour (exposure): how much traffic each version served.

CSV with header `hour,group,version,requests` or `hour,wiki,version,requests`;
`hour` is an ISO 8601 time (truncated to the hour) or epoch seconds. Rows that
can't be read become errors with their line number; good rows are kept.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from traintriage.core.timeparse import parse_timestamp


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


def parse_exposure(text: str) -> ExposureParse:
    """Read an exposure CSV; see the module docstring for the format."""
    out = ExposureParse()
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        out.errors.append((1, "empty file"))
        return out
    cols = [h.strip().lower() for h in header]
    if cols not in (["hour", "group", "version", "requests"], ["hour", "wiki", "version", "requests"]):
        out.errors.append((1, "header must be hour,group,version,requests or hour,wiki,version,requests"))
        return out
    scope = cols[1]
    for number, row in enumerate(reader, start=2):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != 4:
            out.errors.append((number, f"expected 4 columns, got {len(row)}"))
            continue
        hour_text, name, version, requests_text = (c.strip() for c in row)
        try:
            hour = int(parse_timestamp(hour_text) // 3600)
        except ValueError as err:
            out.errors.append((number, str(err)))
            continue
        try:
            requests = int(requests_text)
        except ValueError:
            out.errors.append((number, f"requests {requests_text!r} is not an integer"))
            continue
        if requests < 0 or not name or not version:
            out.errors.append((number, "empty name/version or negative requests"))
            continue
        out.rows.append(ExposureRow(hour, scope, name, version, requests))
    return out
