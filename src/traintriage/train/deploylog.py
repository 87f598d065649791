"""Deployment history import: the formats teams already have, turned into DeploySteps.

Supported inputs (auto-detected per file, see ``detect_format``):

* ``wikiversions-log`` -- one wikiversions.json commit per line, as printed by
  ``git log --format='%cd %cn | %s' --date=format:'%Y-%m-%d %H:%M'``::

      2021-01-26 20:39 Ahmon Dancy    | group0 wikis to 1.36.0-wmf.28
      2021-01-26 20:46 Ahmon Dancy    | Rollback group0 to 1.36.0-wmf.27
      2021-01-19 21:51 Brennen Bearnes | Revert "group0 wikis to 1.36.0-wmf.27"

* ``sal`` -- Server Admin Log lines recording wikiversions syncs, either with
  the date inline (``2021-01-26 20:39 <dancy@deploy1001> rebuilt and
  synchronized wikiversions files: ...``) or under a ``== 2021-01-26 ==``
  heading (``* 20:39 dancy@deploy1001: ...``). SAL entries about anything
  else are not errors: they land in ``ParseResult.ignored``.
* ``snapshots-jsonl`` -- ``{"at": ISO8601, "wikiversions": {...}}`` per line;
  a directory of ``<ISO timestamp>.json`` wikiversions files works the same
  through ``parse_file``. Steps come from diffing consecutive snapshots.
* ``csv`` (header ``at,version,group[,actor]``), ``json`` (a list of
  ``{"at","version","group","actor"}``) and ``jsonl`` (one such object per
  line): what ``traintriage deploy record`` writes. ``group`` may be ``all``.

Times without an offset are UTC. Direction ("forward"/"rollback") of a plain
``X wikis to V`` line cannot be known from the line alone (``all wikis to
<previous version>`` is a rollback), so such steps are ``unknown-direction``
and ``timeline.Timeline`` decides by comparing versions. Blank lines and
``#`` comments are skipped; every other unreadable line becomes a ParseError
with its line number: JSON nested past the decoder's depth, CSV fields past
the csv module's limit, and times or versions that ``core.validate`` refuses
(a step dated 0001-01-01, a 10,000-character version) included.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

from traintriage.core.validate import check_time, check_version
from traintriage.core.versions import is_older, normalize_version, version_key
from traintriage.core.vocabulary import ALL, STAGES
from traintriage.train.groups import PROXY_MEMBERSHIP, GroupMembership

StepKind = Literal["forward", "rollback", "revert", "unknown-direction"]

FORMAT_WIKIVERSIONS_LOG = "wikiversions-log"
FORMAT_SAL = "sal"
FORMAT_SNAPSHOTS = "snapshots-jsonl"
FORMAT_SNAPSHOT_DIR = "snapshots-dir"
FORMAT_CSV = "csv"
FORMAT_JSON = "json"
FORMAT_JSONL = "jsonl"
FORMAT_UNKNOWN = "unknown"
LINE_FORMATS = (FORMAT_WIKIVERSIONS_LOG, FORMAT_SAL, FORMAT_SNAPSHOTS, FORMAT_CSV, FORMAT_JSON, FORMAT_JSONL)

CSV_HEADER = "at,version,group,actor"


# --- model -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeployStep:
    """One change of which version some groups run.

    ``version`` is the target; it is None for a Revert, whose target depends on
    what the reverted step changed (the timeline resolves it). ``groups`` are
    stages in promotion order (``all`` is expanded), or a ``wikis:<n>``
    pseudo-group for snapshot diffs touching no wiki of a known group.
    """

    at: datetime
    groups: tuple[str, ...]
    version: str | None
    actor: str | None
    kind: StepKind
    message: str
    source: str = "<input>"
    line: int = 0

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError(f"DeployStep.at must be timezone-aware, got {self.at.isoformat()}")
        object.__setattr__(self, "at", self.at.astimezone(UTC))
        check_time(self.at.timestamp(), f"deploy time {self.at.isoformat()}")  # InvalidInput
        if self.version is not None:
            check_version(self.version)

    @property
    def reverted_message(self) -> str | None:
        """For ``Revert "X"`` steps, X (the subject of the undone step)."""
        match = _REVERT.match(self.message)
        return match.group("inner") if match else None


@dataclass(frozen=True, slots=True)
class ParseError:
    """A line that could not be read (or, in ``ignored``, one that is not a train step)."""

    line: int
    text: str
    reason: str
    source: str = "<input>"

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}: {self.text!r}"


@dataclass(slots=True)
class ParseResult:
    """Steps sorted by time, plus everything that was not turned into a step."""

    steps: list[DeployStep] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)
    ignored: list[ParseError] = field(default_factory=list)
    format: str = FORMAT_UNKNOWN

    @property
    def ok(self) -> bool:
        return not self.errors

    def extend(self, other: ParseResult) -> None:
        """Merge another file's result (multi-file imports); keeps time order."""
        self.steps = sorted([*self.steps, *other.steps], key=lambda s: s.at)
        self.errors.extend(other.errors)
        self.ignored.extend(other.ignored)


# --- versions and times ------------------------------------------------------

_TIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T _](?P<h>\d{2})[:-]?(?P<m>\d{2})(?:[:-]?(?P<s>\d{2})(?P<frac>\.\d+)?)?"
    r"\s*(?P<tz>Z|UTC|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)


def parse_time(text: str) -> datetime:
    """Parse an ISO-8601-ish timestamp; no offset means UTC. Returns an aware UTC datetime.

    Also accepts ``18-05-00`` style times (snapshot file names cannot hold ``:``
    everywhere) and a trailing ``UTC``.
    """
    text = text.strip()
    match = _TIME.match(text)
    if match is None:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not a timestamp: {text[:40]!r}") from None
        return _checked(_aware(parsed), text)
    seconds = int(match["s"] or 0)
    micro = min(round(float(match["frac"]) * 1_000_000), 999_999) if match["frac"] else 0
    day = date.fromisoformat(match["date"])
    base = datetime(day.year, day.month, day.day, int(match["h"]), int(match["m"]), seconds, micro)
    return _checked(base.replace(tzinfo=_offset(match["tz"])).astimezone(UTC), text)


def _checked(at: datetime, text: str) -> datetime:
    """The time, if `core.validate` accepts it (2000..2100); InvalidInput otherwise."""
    try:
        check_time(at.timestamp(), f"time {text[:40]!r}")
    except OverflowError:  # a year-1 time with a negative offset: below datetime's range
        check_time(float("-inf"), f"time {text[:40]!r}")
    return at


def _offset(tz: str | None) -> timezone:
    if tz is None or tz.upper() in ("Z", "UTC"):
        return UTC
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _aware(value: datetime) -> datetime:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


# --- commit messages ---------------------------------------------------------

_GROUP_WORD = r"(?:testwikis|group\d+|all)"
_GROUP_LIST = rf"{_GROUP_WORD}(?:\s*(?:,|\+|&|\band\b)\s*{_GROUP_WORD})*"
_VERSION = r"(?:php-)?(?P<version>\d[\w.+~-]*)"
_TRAILER = r"(?:\s+.*)?$"
_PROMOTE = re.compile(rf"^(?P<groups>{_GROUP_LIST})\s+(?:wikis?\s+)?to\s+{_VERSION}{_TRAILER}", re.I)
_ROLLBACK = re.compile(
    rf"^(?:rollback|roll\s+back)\s+(?P<groups>{_GROUP_LIST})\s+(?:wikis?\s+)?to\s+{_VERSION}{_TRAILER}", re.I
)
_REVERT = re.compile(r'^Revert\s+"(?P<inner>.*)"(?:\s+.*)?$')
_MESSAGE_PATTERNS: tuple[tuple[re.Pattern[str], StepKind], ...] = (
    (_ROLLBACK, "rollback"),
    (_PROMOTE, "unknown-direction"),
)
_GROUP_SPLIT = re.compile(r"\s*(?:,|\+|&|\band\b)\s*", re.I)


@dataclass(frozen=True, slots=True)
class _Message:
    groups: tuple[str, ...]
    version: str | None
    kind: StepKind


class _Unreadable(ValueError):
    """Internal: a line or record is not understood (message is the reason)."""


def parse_message(message: str) -> tuple[tuple[str, ...], str | None, StepKind]:
    """Groups, target version and kind of a train commit subject; ValueError if not one.

    Public so that callers (CLI, web) can validate a message the same way.
    """
    parsed = _parse_message(message)
    return parsed.groups, parsed.version, parsed.kind


def _parse_message(message: str, depth: int = 0) -> _Message:
    text = " ".join(message.split())
    revert = _REVERT.match(text)
    if revert:
        if depth > 8:
            raise _Unreadable("revert nested too deeply")
        inner = _parse_message(revert.group("inner"), depth + 1)
        return _Message(inner.groups, None, "revert")
    for pattern, kind in _MESSAGE_PATTERNS:
        match = pattern.match(text)
        if match:
            version = check_version(match.group("version").rstrip(".,;:)"))
            return _Message(_expand_groups(match.group("groups")), version, kind)
    raise _Unreadable(
        "not a train step (expected '<group> wikis to V', 'Rollback <group> to V' or 'Revert \"...\"')"
    )


def _expand_groups(text: str) -> tuple[str, ...]:
    names = {g.lower() for g in _GROUP_SPLIT.split(text.strip()) if g}
    if ALL in names:
        return STAGES
    unknown = names - set(STAGES)
    if unknown:
        raise _Unreadable(f"unknown group {sorted(unknown)[0]!r} (expected one of {', '.join(STAGES)}, all)")
    return tuple(s for s in STAGES if s in names)


def _step_from_message(at: datetime, actor: str | None, message: str, source: str, line: int) -> DeployStep:
    parsed = _parse_message(message)
    return DeployStep(at, parsed.groups, parsed.version, actor, parsed.kind, message.strip(), source, line)


# --- line cleaning and detection ---------------------------------------------


def _clean(raw: str) -> str:
    """Drop CR/LF, trailing blanks and a UTF-8 BOM."""
    return raw.rstrip("\r\n").rstrip().lstrip("\ufeff")


def _meaningful(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    for number, text in lines:
        if text and not text.lstrip().startswith("#"):
            yield number, text


_LOG_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*(?:Z|UTC|[+-]\d{2}:?\d{2}))?)"
    r"\s+(?P<name>[^|]*?)\s*\|\s*(?P<msg>.*)$",
    re.I,
)
_SAL_HEADING = re.compile(r"^=+\s*(?P<date>\d{4}-\d{2}-\d{2})\s*=+$")
_SAL_ENTRY = re.compile(
    r"^(?:\*\s*)?(?:(?P<date>\d{4}-\d{2}-\d{2})[ T])?(?P<time>\d{2}:\d{2}(?::\d{2})?)\s+"
    r"(?:<(?P<nick>[^>@\s]+)(?:@[^>\s]*)?>|(?P<user>[^\s:@<>]+)(?:@[^\s:]+)?:)\s*(?P<text>.*)$"
)
_SAL_SYNC = re.compile(
    r"(?:rebuilt\s+and\s+)?synchroni[sz]ed\s+wikiversions(?:\s+files)?\s*:\s*(?P<msg>.+)$", re.I
)
_CSV_HEADER = re.compile(r'^\s*"?at"?\s*,', re.I)


def detect_format(first_lines: Iterable[str]) -> str:
    """Guess the format from the first meaningful lines (up to 50).

    JSON is recognised by its first character; CSV by an ``at,...`` header;
    otherwise the line format with the most matching lines wins.
    """
    sample = [t for _, t in _meaningful((i, _clean(line)) for i, line in enumerate(first_lines))][:50]
    if not sample:
        return FORMAT_UNKNOWN
    head = sample[0].lstrip()
    if head.startswith("["):
        return FORMAT_JSON
    if head.startswith("{"):
        return FORMAT_SNAPSHOTS if _is_snapshot_line(head) else FORMAT_JSONL
    if _CSV_HEADER.match(head):
        return FORMAT_CSV
    log_hits = sum(1 for t in sample if _LOG_LINE.match(t))
    sal_hits = sum(1 for t in sample if _SAL_HEADING.match(t) or _SAL_ENTRY.match(t) or _SAL_SYNC.search(t))
    if log_hits == sal_hits == 0:
        return FORMAT_UNKNOWN
    return FORMAT_WIKIVERSIONS_LOG if log_hits > sal_hits else FORMAT_SAL


def _is_snapshot_line(text: str) -> bool:
    try:
        obj = _loads(text)
    except ValueError:
        return '"wikiversions"' in text
    return isinstance(obj, dict) and "wikiversions" in obj


def _loads(text: str) -> object:
    """`json.loads`, with nesting past the decoder's depth a ValueError like any bad JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise _Unreadable("invalid JSON: nested too deeply") from None


# --- entry points --------------------------------------------------------------


def parse_lines(
    lines: Iterable[str],
    source: str = "<input>",
    *,
    fmt: str | None = None,
    membership: GroupMembership | None = None,
) -> ParseResult:
    """Parse deployment history text; ``fmt`` forces a format instead of detecting it.

    ``membership`` names groups for snapshot diffs (default: train-stats'
    proxy wikis, see ``groups.PROXY_WIKIS``).
    """
    numbered = [(i, _clean(raw)) for i, raw in enumerate(lines, start=1)]
    fmt = fmt or detect_format(text for _, text in numbered)
    result = ParseResult(format=fmt)
    parser = _LINE_PARSERS.get(fmt)
    if parser is not None:
        parser(numbered, source, result, membership)
    else:
        reason = (
            "unrecognized line (format not detected)" if fmt == FORMAT_UNKNOWN else f"unknown format {fmt!r}"
        )
        result.errors.extend(ParseError(n, t, reason, source) for n, t in _meaningful(numbered))
    result.steps = _sort_steps(result.steps)
    return result


def parse_file(
    path: str | Path, *, fmt: str | None = None, membership: GroupMembership | None = None
) -> ParseResult:
    """Parse one file, or a directory of ``<ISO timestamp>.json`` wikiversions snapshots."""
    path = Path(path)
    if path.is_dir():
        return _parse_snapshot_dir(path, membership)
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return parse_lines(handle, str(path), fmt=fmt, membership=membership)


def format_csv_record(at: datetime, version: str, group: str, actor: str | None = None) -> str:
    """One CSV line (no newline) in the format ``parse_lines`` reads; validates first."""
    if actor and ("\n" in actor or "\r" in actor):
        raise ValueError("actor must be a single line")
    step = _step_from_record(
        {"at": at.isoformat(), "version": version, "group": group, "actor": actor}, "<record>", 0
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="")
    iso = step.at.isoformat().replace("+00:00", "Z")
    writer.writerow([iso, step.version, group.strip().lower(), actor or ""])
    return buffer.getvalue()


# --- per-format parsers -----------------------------------------------------------


def _parse_log(
    numbered: list[tuple[int, str]], source: str, result: ParseResult, _m: GroupMembership | None
) -> None:
    for number, text in _meaningful(numbered):
        match = _LOG_LINE.match(text)
        if match is None:
            result.errors.append(
                ParseError(number, text, "expected 'YYYY-MM-DD HH:MM Name | message'", source)
            )
            continue
        try:
            at = parse_time(match["ts"])
            step = _step_from_message(at, match["name"] or None, match["msg"], source, number)
        except ValueError as exc:
            result.errors.append(ParseError(number, text, str(exc), source))
            continue
        result.steps.append(step)


def _parse_sal(
    numbered: list[tuple[int, str]], source: str, result: ParseResult, _m: GroupMembership | None
) -> None:
    day: str | None = None
    for number, text in _meaningful(numbered):
        heading = _SAL_HEADING.match(text.strip())
        if heading:
            day = heading["date"]
            continue
        entry = _SAL_ENTRY.match(text.strip())
        if entry is None:
            result.errors.append(
                ParseError(number, text, "not a SAL entry ('HH:MM user@host: text')", source)
            )
            continue
        sync = _SAL_SYNC.search(entry["text"])
        if sync is None:
            result.ignored.append(ParseError(number, text, "SAL entry is not a wikiversions sync", source))
            continue
        entry_day = entry["date"] or day
        if entry_day is None:
            result.errors.append(
                ParseError(number, text, "time without a date (no '== YYYY-MM-DD ==' above)", source)
            )
            continue
        try:
            at = parse_time(f"{entry_day} {entry['time']}")
            step = _step_from_message(at, entry["nick"] or entry["user"], sync["msg"], source, number)
        except ValueError as exc:
            result.errors.append(ParseError(number, text, str(exc), source))
            continue
        result.steps.append(step)


def _parse_csv(
    numbered: list[tuple[int, str]], source: str, result: ParseResult, _m: GroupMembership | None
) -> None:
    rows = list(_meaningful(numbered))
    if not rows:
        return
    header_line, header_text = rows[0]
    try:
        header = [h.strip().lower() for h in next(csv.reader([header_text]))]
    except csv.Error as exc:
        result.errors.append(ParseError(header_line, header_text[:200], f"invalid CSV header: {exc}", source))
        return
    missing = {"at", "version", "group"} - set(header)
    if missing:
        result.errors.append(
            ParseError(header_line, header_text, f"CSV header lacks {sorted(missing)}", source)
        )
        return
    for number, text in rows[1:]:
        try:
            values = next(csv.reader([text]))
        except csv.Error as exc:  # a NUL byte, a field past the csv module's size limit
            result.errors.append(ParseError(number, text[:200], f"invalid CSV: {exc}", source))
            continue
        if len(values) > len(header):
            result.errors.append(
                ParseError(number, text, f"{len(values)} fields, header has {len(header)}", source)
            )
            continue
        record = dict(zip(header, values, strict=False))
        _append_record(record, source, number, text, result)


def _parse_json_array(
    numbered: list[tuple[int, str]], source: str, result: ParseResult, _m: GroupMembership | None
) -> None:
    text = "\n".join(t for _, t in numbered)
    for number, item in _iter_json_array(text):
        if isinstance(item, _Unreadable):
            result.errors.append(ParseError(number, _line_text(numbered, number), str(item), source))
            continue
        _append_record(item, source, number, _line_text(numbered, number), result)


def _parse_jsonl(
    numbered: list[tuple[int, str]], source: str, result: ParseResult, _m: GroupMembership | None
) -> None:
    for number, text in _meaningful(numbered):
        try:
            record = _loads(text)
        except _Unreadable as exc:
            result.errors.append(ParseError(number, text[:200], str(exc), source))
            continue
        except ValueError as exc:
            result.errors.append(ParseError(number, text[:200], f"invalid JSON: {exc}", source))
            continue
        _append_record(record, source, number, text, result)


def _parse_snapshots(
    numbered: list[tuple[int, str]], source: str, result: ParseResult, membership: GroupMembership | None
) -> None:
    snapshots: list[_Snapshot] = []
    for number, text in _meaningful(numbered):
        try:
            obj = _loads(text)
            if not isinstance(obj, dict) or "at" not in obj or "wikiversions" not in obj:
                raise _Unreadable('expected {"at": ..., "wikiversions": {...}}')
            snapshots.append(
                _Snapshot(parse_time(str(obj["at"])), _mapping(obj["wikiversions"]), source, number)
            )
        except ValueError as exc:
            result.errors.append(ParseError(number, text, str(exc), source))
    result.steps.extend(_diff_all(snapshots, membership))


_LINE_PARSERS = {
    FORMAT_WIKIVERSIONS_LOG: _parse_log,
    FORMAT_SAL: _parse_sal,
    FORMAT_CSV: _parse_csv,
    FORMAT_JSON: _parse_json_array,
    FORMAT_JSONL: _parse_jsonl,
    FORMAT_SNAPSHOTS: _parse_snapshots,
}


# --- deployment records (CSV / JSON / JSONL) -----------------------------------------


def _append_record(record: object, source: str, number: int, text: str, result: ParseResult) -> None:
    try:
        result.steps.append(_step_from_record(record, source, number))
    except ValueError as exc:
        result.errors.append(ParseError(number, text, str(exc), source))


def _step_from_record(record: object, source: str, number: int) -> DeployStep:
    if not isinstance(record, Mapping):
        raise _Unreadable('expected an object {"at", "version", "group", "actor"}')
    at_text, version, group = (str(record.get(k) or "").strip() for k in ("at", "version", "group"))
    if not (at_text and version and group):
        raise _Unreadable("'at', 'version' and 'group' are required")
    version = normalize_version(version)
    groups = _expand_groups(group)
    actor = str(record.get("actor") or "").strip() or None
    label = ALL if groups == STAGES else " + ".join(groups)
    message = f"{label} wikis to {version}"
    return DeployStep(
        parse_time(at_text), groups, version, actor, "unknown-direction", message, source, number
    )


def _iter_json_array(text: str) -> Iterator[tuple[int, object]]:
    """Items of a top-level JSON array with the line each starts on.

    A syntax error ends the walk with one ``_Unreadable`` item at its line.
    """
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if not text.startswith("[", pos):
        yield _line_of(text, pos), _Unreadable("expected a JSON array of deployments")
        return
    pos = _skip_ws(text, pos + 1)
    if text.startswith("]", pos):
        return
    while True:
        try:
            item, end = decoder.raw_decode(text, pos)
        except ValueError as exc:
            yield _line_of(text, pos), _Unreadable(f"invalid JSON: {exc}")
            return
        except RecursionError:
            yield _line_of(text, pos), _Unreadable("invalid JSON: nested too deeply")
            return
        yield _line_of(text, pos), item
        pos = _skip_ws(text, end)
        if text.startswith(",", pos):
            pos = _skip_ws(text, pos + 1)
        elif text.startswith("]", pos):
            return
        else:
            yield _line_of(text, pos), _Unreadable("expected ',' or ']' in JSON array")
            return


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _line_text(numbered: list[tuple[int, str]], number: int) -> str:
    return numbered[number - 1][1] if 0 < number <= len(numbered) else ""


# --- snapshots -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Snapshot:
    at: datetime
    versions: dict[str, str]
    source: str
    line: int


def _mapping(obj: object) -> dict[str, str]:
    if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
        raise _Unreadable("wikiversions must map wiki names to version strings")
    return {str(k): check_version(normalize_version(v), f"wiki {str(k)[:40]!r}") for k, v in obj.items()}


def _parse_snapshot_dir(directory: Path, membership: GroupMembership | None) -> ParseResult:
    result = ParseResult(format=FORMAT_SNAPSHOT_DIR)
    snapshots: list[_Snapshot] = []
    for path in sorted(directory.glob("*.json")):
        try:
            at = parse_time(path.stem)
            with path.open(encoding="utf-8") as handle:
                snapshots.append(_Snapshot(at, _mapping(_loads(handle.read())), str(path), 0))
        except (ValueError, OSError) as exc:
            result.errors.append(ParseError(0, path.name, str(exc), str(path)))
    result.steps = _sort_steps(_diff_all(snapshots, membership))
    return result


def _diff_all(snapshots: list[_Snapshot], membership: GroupMembership | None) -> list[DeployStep]:
    ordered = sorted(snapshots, key=lambda s: s.at)
    steps: list[DeployStep] = []
    for before, after in zip(ordered, ordered[1:], strict=False):
        steps.extend(
            diff_snapshots(before.versions, after.versions, after.at, membership, after.source, after.line)
        )
    return steps


def diff_snapshots(
    before: Mapping[str, str],
    after: Mapping[str, str],
    at: datetime,
    membership: GroupMembership | None = None,
    source: str = "<snapshot>",
    line: int = 0,
) -> list[DeployStep]:
    """Steps explaining how ``before`` became ``after``: one per target version.

    Groups are those of the changed wikis (first-stage rule); a group counts
    as moved if any of its wikis moved. Without ``membership`` only the
    train-stats proxy wikis resolve. Changed wikis of no known group are
    counted in the message; if none resolves, the step's group is
    ``wikis:<n>``. Wikis added or removed between snapshots are not steps.
    Kind is forward/rollback when all moved wikis agree, else unknown-direction.
    """
    membership = membership or PROXY_MEMBERSHIP
    by_target: dict[str, list[tuple[str, str]]] = {}
    for wiki in sorted(before.keys() & after.keys()):
        old, new = normalize_version(before[wiki]), normalize_version(after[wiki])
        if old != new:
            by_target.setdefault(new, []).append((wiki, old))
    return [_diff_step(v, moved, at, membership, source, line) for v, moved in sorted(by_target.items())]


def _diff_step(
    version: str,
    moved: list[tuple[str, str]],
    at: datetime,
    membership: GroupMembership,
    source: str,
    line: int,
) -> DeployStep:
    found = {membership.group_of(w) for w, _ in moved}
    groups = tuple(s for s in STAGES if s in found)
    unknown = sum(1 for w, _ in moved if membership.group_of(w) is None)
    label = ALL if groups == STAGES else " + ".join(groups)
    if not groups:
        groups, label = (f"wikis:{unknown}",), f"wikis:{unknown}"
    olds = {old for _, old in moved}
    kind: StepKind = "unknown-direction"
    if all(is_older(o, version) for o in olds):
        kind = "forward"
    elif all(is_older(version, o) for o in olds):
        kind = "rollback"
    detail = f"{len(moved)} wikis from {', '.join(sorted(olds, key=version_key))}"
    if unknown and label != f"wikis:{unknown}":
        detail += f"; {unknown} of no known group"
    message = f"{label} wikis to {version} (snapshot diff: {detail})"
    return DeployStep(at, groups, version, None, kind, message, source, line)


# --- ordering ------------------------------------------------------------------


def _sort_steps(steps: list[DeployStep]) -> list[DeployStep]:
    """Sort by time. Ties (minute-resolution logs) keep file order, or reverse
    file order when the file is mostly newest-first (plain ``git log``)."""
    if not steps:
        return steps
    in_file = sorted(steps, key=lambda s: (s.source, s.line))
    pairs = list(zip(in_file, in_file[1:], strict=False))
    descending = sum(1 for a, b in pairs if a.source == b.source and b.at < a.at)
    ascending = sum(1 for a, b in pairs if a.source == b.source and b.at > a.at)
    sign = -1 if descending > ascending else 1
    return sorted(steps, key=lambda s: (s.at, s.source, sign * s.line))
