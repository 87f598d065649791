"""Backports: fixes cherry-picked onto a live `wmf/<version>` branch, imported for train metrics.

A backport is any change merged to a train's branch after it was cut; a backport whose
commit message has a `Bug: T123` footer is counted as a bug fix (train-stats counts such
"escapes"). Two inputs (auto-detected):

* `git log` output in its default (medium) or `--pretty=fuller` form, e.g. of
  `git log $(git merge-base origin/master origin/wmf/V)..origin/wmf/V`. The version is
  given by the caller (`--version`) or read from a `wmf/<version>` decoration. RelEng's
  automatic branch commits ("Creating new wmf/… branch", "Branch commit for wmf/…") are not
  backports and are skipped. A `Change-Id:` footer identifies the change (cherry-picks of
  one change to two branches count once per branch), else the commit id.
* a CSV list with a header naming at least `version` and `change` (optional `at`, `bug`
  or `bugs` with task ids separated by spaces, `title`).

Unreadable entries are reported as `source:line: reason` and never stop the import.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime

from traintriage.core.versions import normalize_version
from traintriage.train.deploylog import ParseError, parse_time

__all__ = ["Backport", "BackportParse", "parse_backports"]

_VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?-wmf\.\d+)")
_COMMIT = re.compile(r"^commit ([0-9a-f]{7,40})(?:\s+\((?P<refs>[^)]*)\))?\s*$")
_BUG = re.compile(r"^\s*Bug:\s*(T[1-9]\d*)\s*$", re.IGNORECASE)
_CHANGE_ID = re.compile(r"^\s*Change-Id:\s*(I[0-9a-f]{40})\s*$")
_BRANCH_COMMIT = re.compile(
    r"^(Creating new wmf/|Branch commit for wmf/|Updating submodules? for wmf/)", re.I
)
_GIT_DATE = "%a %b %d %H:%M:%S %Y %z"


@dataclass(frozen=True)
class Backport:
    version: str
    change: str
    at: float | None
    bugs: tuple[str, ...]
    title: str
    source: str = ""
    line: int = 0

    @property
    def bugfix(self) -> bool:
        return bool(self.bugs)


@dataclass
class BackportParse:
    backports: list[Backport]
    errors: list[ParseError]
    skipped: int = 0  # branch-cut commits, not backports


def parse_backports(text: str, source: str = "<input>", *, version: str | None = None) -> BackportParse:
    """Backports from `git log` output or a CSV list (see the module docstring)."""
    if version is not None and not _VERSION.fullmatch(normalize_version(version)):
        raise ValueError(f"--version {version!r}: not a train version like 1.36.0-wmf.28")
    first = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    if first.startswith("commit "):
        return _git_log(text, source, version)
    if "," in first and "version" in first.lower() and "change" in first.lower():
        return _csv(text, source, version)
    return BackportParse(
        [],
        [
            ParseError(
                1, first[:200], "neither `git log` output nor a CSV with version,change columns", source
            )
        ],
    )


def _git_date(text: str) -> float:
    text = text.strip()
    try:
        return datetime.strptime(text, _GIT_DATE).timestamp()
    except ValueError:
        return parse_time(text).timestamp()


def _git_log(text: str, source: str, version: str | None) -> BackportParse:
    out = BackportParse([], [])
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("commit ")]
    if version is None:  # `git log --decorate` names the branch at its tip only: it holds for the log
        found = {
            v.group(1)
            for i in starts
            if (m := _COMMIT.match(lines[i])) and m.group("refs") and (v := _VERSION.search(m.group("refs")))
        }
        version = found.pop() if len(found) == 1 else None
    for n, start in enumerate(starts):
        block = lines[start : starts[n + 1] if n + 1 < len(starts) else len(lines)]
        try:
            bp = _commit(block, source, start + 1, version)
        except ValueError as err:
            out.errors.append(ParseError(start + 1, block[0][:200], str(err), source))
            continue
        if bp is None:
            out.skipped += 1
        else:
            out.backports.append(bp)
    return out


def _commit(block: list[str], source: str, line: int, version: str | None) -> Backport | None:
    m = _COMMIT.match(block[0])
    if not m:
        raise ValueError("not a `commit <sha>` line")
    sha = m.group(1)
    headers: dict[str, str] = {}
    body: list[str] = []
    for raw in block[1:]:
        if raw.startswith("    "):
            body.append(raw[4:])
        elif ":" in raw and not body and raw.strip():
            key, _, value = raw.partition(":")
            headers[key.strip().lower()] = value.strip()
    date = headers.get("commitdate") or headers.get("date")
    if not date:
        raise ValueError("commit without a Date: header")
    subject = next((b.strip() for b in body if b.strip()), "")
    if _BRANCH_COMMIT.match(subject):
        return None
    if version is None:
        raise ValueError("which train? give --version or log with --decorate on the wmf/<version> branch")
    v = normalize_version(version)
    bugs = tuple(dict.fromkeys(b.group(1).upper() for b in map(_BUG.match, body) if b))
    change = next((c.group(1) for c in map(_CHANGE_ID.match, body) if c), sha)
    return Backport(v, change, _git_date(date), bugs, subject[:300], source, line)


def _csv(text: str, source: str, version: str | None) -> BackportParse:
    out = BackportParse([], [])
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    for row in reader:
        number = reader.line_num
        get = {k: (row.get(orig) or "").strip() for k, orig in fields.items()}
        try:
            v = normalize_version(get.get("version") or version or "")
            if not _VERSION.fullmatch(v):
                raise ValueError(f"version {v!r} is not a train version like 1.36.0-wmf.28")
            change = get.get("change", "")
            if not change or any(c.isspace() for c in change):
                raise ValueError("change is empty or not one word")
            at = parse_time(get["at"]).timestamp() if get.get("at") else None
            raw_bugs = (get.get("bugs") or get.get("bug") or "").replace(",", " ").split()
            bad = [b for b in raw_bugs if not re.fullmatch(r"T[1-9]\d*", b)]
            if bad:
                raise ValueError(f"bug {bad[0]!r} is not a task id like T123456")
        except ValueError as err:
            out.errors.append(
                ParseError(
                    number, ",".join(row.get(f) or "" for f in reader.fieldnames or []), str(err), source
                )
            )
            continue
        out.backports.append(
            Backport(
                v, change, at, tuple(dict.fromkeys(raw_bugs)), get.get("title", "")[:300], source, number
            )
        )
    return out
