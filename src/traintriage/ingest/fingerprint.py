"""Group lines without storing them (`traintriage fingerprint`): one row per input line.

The same per-line rule as ingest: whatever a line does (broken JSON, nesting past the
decoder's depth, a time out of range, a bug of ours), it becomes that line's `error`
row and the next line is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from traintriage.grouping.signature import Grouper
from traintriage.ingest.formats import LineError, LineReader
from traintriage.ingest.pipeline import unexpected_reason
from traintriage.ingest.sources import iter_lines


def fingerprint_rows(stream: BinaryIO, reader: LineReader, grouper: Grouper) -> Iterator[dict[str, Any]]:
    """`{"line": N, "signature": ID, "title": T}` or `{"line": N, "error": REASON}` per line.

    Read errors of the stream itself (a truncated `.gz`) propagate after the rows of
    the lines before them.
    """
    for number, _offset, raw in iter_lines(stream, max_line=reader.max_line_bytes):
        try:
            info = grouper.signature_of(reader.read(raw))
            row: dict[str, Any] = {"line": number, "signature": info.id, "title": grouper.title_of(info)}
        except LineError as err:
            row = {"line": number, "error": err.reason}
        except Exception as err:  # noqa: BLE001 - one line's failure is that line's row
            row = {"line": number, "error": unexpected_reason(err)}
        yield row
