"""Open log sources (files, `.gz` files, stdin) and iterate their lines with positions.

A source's identity is a hash of its first bytes, so a rotated file that
reuses a name is read from the start, while the same file (or the same file
grown by appends) resumes at the committed read position.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import sys
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

IDENTITY_BYTES = 4096

READ_ERRORS: tuple[type[Exception], ...] = (OSError, EOFError, zlib.error)
"""What reading a source can raise midway: I/O errors, a truncated or corrupt `.gz`."""


@dataclass(frozen=True)
class Source:
    """One input: `name` as the user gave it, `key` as stored (absolute path or '-')."""

    name: str
    key: str
    identity: str
    compressed: bool

    @property
    def resumable(self) -> bool:
        return self.key != "-"


class SourceError(Exception):
    """A source that cannot be opened at all (missing, unreadable, corrupt gzip header)."""


def describe(name: str) -> Source:
    """Resolve a user-given name into a Source with its identity (reads the head only)."""
    if name == "-":
        return Source("-", "-", "stdin", False)
    path = os.path.abspath(name)
    try:
        with open(path, "rb") as fh:
            head = fh.read(IDENTITY_BYTES)
    except OSError as err:
        raise SourceError(f"{name}: cannot open: {err.strerror or err}") from None
    compressed = head[:2] == b"\x1f\x8b"
    ident = f"{len(head)}:{hashlib.blake2b(head, digest_size=12).hexdigest()}"
    return Source(name, path, ident, compressed)


def same_identity(stored: str, source: Source) -> bool:
    """True if the stored identity still describes the source's head.

    A file that was shorter than IDENTITY_BYTES when first read has grown since;
    compare only the bytes that were hashed then.
    """
    if stored == source.identity:
        return True
    try:
        length = int(stored.split(":", 1)[0])
    except ValueError:
        return False
    if length >= IDENTITY_BYTES or source.key == "-":
        return False
    with open(source.key, "rb") as fh:
        head = fh.read(length)
    return stored == f"{length}:{hashlib.blake2b(head, digest_size=12).hexdigest()}"


def unread_tail(source: Source, offset: int) -> int:
    """Bytes of a plain file after `offset` (an unterminated last line left for later)."""
    if source.key == "-" or source.compressed:
        return 0
    try:
        return max(0, os.stat(source.key).st_size - offset)
    except OSError:
        return 0


def open_binary(source: Source) -> BinaryIO:
    if source.key == "-":
        return sys.stdin.buffer
    raw: BinaryIO = open(source.key, "rb", buffering=1 << 20)  # noqa: SIM115 - caller closes
    if source.compressed:
        return io.BufferedReader(gzip.GzipFile(fileobj=raw, mode="rb"), buffer_size=1 << 20)
    return raw


def iter_lines(
    stream: BinaryIO,
    start_offset: int = 0,
    start_line: int = 0,
    *,
    seekable: bool = False,
    max_line: int = 1 << 20,
    hold_partial: bool = False,
) -> Iterator[tuple[int, int, bytes]]:
    """Yield (line number, offset after the line, line without newline) from a position.

    Offsets count uncompressed bytes, so a `.gz` source resumes by skipping.
    A line longer than `max_line` is yielded cut to `max_line + 1` bytes (so the
    reader rejects it as too long) and the rest of it is skipped without being
    held in memory.

    `hold_partial`: a last line without its newline is not yielded (the caller's
    position stays before it), because a file still being written ends in the middle
    of a line; it is read whole once the writer has finished it.
    """
    if start_offset:
        if seekable:
            stream.seek(start_offset)
        else:
            remaining = start_offset
            while remaining:
                chunk = stream.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
    offset = start_offset
    number = start_line
    limit = max_line + 2
    readline = stream.readline
    while True:
        raw = readline(limit)
        if not raw:
            return
        if raw.endswith(b"\n"):
            number += 1
            offset += len(raw)
            raw = raw[:-1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
        elif len(raw) == limit:
            size = len(raw)
            while True:  # skip the rest of an over-long line
                rest = readline(1 << 20)
                size += len(rest)
                if not rest:
                    if hold_partial:
                        return  # still being written: judged when it ends
                    break
                if rest.endswith(b"\n"):
                    break
            number += 1
            offset += size
            raw = raw[: max_line + 1]
        else:  # the last line, without a newline
            if hold_partial:
                return
            number += 1
            offset += len(raw)
        yield number, offset, raw


class SpooledStream:
    """A stream that cannot be re-read (stdin), kept since the last commit so it can be.

    Concurrent ingests resolve a clash by re-reading from the last commit
    (store/ingest_claims.py); a file is simply read again, stdin is replayed from here.
    Up to 8 MiB stay in memory, more goes to a temporary file.
    """

    def __init__(self, live: BinaryIO) -> None:
        self.live = live
        self.spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - closed in close()
        self.replay_at: int | None = None
        self.committed = (0, 0, 0)  # (line, events, rejected) as of the last commit
        self.pending = (0, 0, 0)  # the same, as of the lines read so far

    def readline(self, limit: int = -1) -> bytes:
        if self.replay_at is not None:
            self.spool.seek(self.replay_at)
            data = self.spool.readline(limit)
            if data:
                self.replay_at = self.spool.tell()
                return data
            self.replay_at = None  # replayed: the file position is at its end again
        data = self.live.readline(limit)
        if data:
            self.spool.write(data)
        return data

    def commit(self) -> None:
        """Everything read so far is committed: forget it."""
        self.spool.seek(0)
        self.spool.truncate()
        self.replay_at = None
        self.committed = self.pending

    def rewind(self) -> None:
        """Serve the uncommitted lines again, then continue with the live stream."""
        self.replay_at = 0
        self.pending = self.committed

    def close(self) -> None:
        self.spool.close()
