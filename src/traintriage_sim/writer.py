"""Streaming writers: one log file per UTC day and the matching truth rows, buffered.

Memory stays flat: lines go out in chunks as the engine produces them. gzip
files are written with mtime 0 and no name so a seed reproduces the same bytes.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
from pathlib import Path

from traintriage_sim.train import DAY_US

_FLUSH = 2000


class DayLogs:
    """Writes logs/mediawiki-YYYY-MM-DD.log[.gz] and truth/lines.jsonl side by side."""

    def __init__(self, out: Path, t_start: int, t_end: int, gz_days: int) -> None:
        self.out = out
        self.day0 = t_start // DAY_US
        self.ndays = max(1, -(-(t_end - t_start) // DAY_US))
        self.names = []
        for i in range(self.ndays):
            d = dt.date(1970, 1, 1) + dt.timedelta(days=self.day0 + i)
            suffix = ".log.gz" if i < gz_days else ".log"
            self.names.append(f"logs/mediawiki-{d.isoformat()}{suffix}")
        (out / "logs").mkdir(parents=True, exist_ok=True)
        (out / "truth").mkdir(parents=True, exist_ok=True)
        self.truth = open(out / "truth" / "lines.jsonl", "wb")  # noqa: SIM115 - closed in close()
        self.day = -1
        self.fh: io.BufferedIOBase | None = None
        self.raw: io.BufferedIOBase | None = None
        self.buf: list[bytes] = []
        self.tbuf: list[bytes] = []
        self.n = 0
        self.prefix = b""
        self.lines = 0
        self.bytes = 0

    def _open(self, day: int) -> None:
        self._close_file()
        self.day = day
        name = self.names[day]
        self.raw = open(self.out / name, "wb")  # noqa: SIM115
        self.fh = (
            gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, mtime=0, compresslevel=5)
            if name.endswith(".gz")
            else self.raw
        )
        self.n = 0
        self.prefix = b'{"file":"' + name.encode() + b'","line":'

    def _flush(self) -> None:
        if self.buf and self.fh is not None:
            data = b"".join(self.buf)
            self.bytes += len(data)
            self.fh.write(data)
            self.truth.write(b"".join(self.tbuf))
            self.buf.clear()
            self.tbuf.clear()

    def _close_file(self) -> None:
        self._flush()
        if self.fh is not None and self.fh is not self.raw:
            self.fh.close()
        if self.raw is not None:
            self.raw.close()
        self.fh = self.raw = None

    def write(self, ts: int, line: bytes, truth_tail: bytes) -> None:
        """`line` ends with a newline; `truth_tail` is e.g. b'"bug":"x"}\\n'."""
        day = min(ts // DAY_US - self.day0, self.ndays - 1)
        while day > self.day:
            self._open(self.day + 1)
        self.n += 1
        self.lines += 1
        self.buf.append(line)
        self.tbuf.append(b"%s%d,%s" % (self.prefix, self.n, truth_tail))
        if len(self.buf) >= _FLUSH:
            self._flush()

    def close(self) -> None:
        while self.day < self.ndays - 1:
            self._open(self.day + 1)
        self._close_file()
        self.truth.close()


def read_log(path: Path) -> bytes:
    """Whole content of a (possibly gzip) log file; for tests and small tools."""
    data = path.read_bytes()
    return gzip.GzipFile(fileobj=io.BytesIO(data)).read() if path.suffix == ".gz" else data
