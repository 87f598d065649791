"""Stack trace parsing and in-app frame selection.

Signatures use the throw site and the top in-app frames, without line numbers
(lines shift whenever code moves between train versions) and without the
version segment of paths. Three trace dialects are understood: PHP/MediaWiki
(`#0 /path/File.php(12): Class->method(type)`), Java (`at pkg.Class.method(File.java:12)`)
and Python (`File "/path/x.py", line 12, in func`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from traintriage.grouping.mask import strip_versions
from traintriage.grouping.rules import GroupingRules

_PHP_FRAME = re.compile(r"^#\d+ (?P<path>.+?)(?:\((?P<line>\d+)\))?: (?P<func>[^(]+)")
_PHP_FROM = re.compile(r"^from (?P<path>.+?)\((?P<line>\d+)\)\s*$")
_JAVA_FRAME = re.compile(r"^\s*at (?P<func>[\w$.<>/]+)\((?P<path>[^:)]*)(?::(?P<line>\d+))?\)")
_PY_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')
_LINE_SUFFIX = re.compile(r"(?::\d+|\(\d+\))$")


@dataclass(frozen=True)
class Frame:
    """One stack frame with a version-free path and no line number."""

    path: str
    function: str
    line: int | None = None

    def key(self) -> str:
        return f"{self.path} {self.function}".strip()


def normalize_path(path: str, rules: GroupingRules) -> str:
    """Strip version segments, deploy prefixes and line suffixes from a file path."""
    path = strip_versions(path.strip())
    path = _LINE_SUFFIX.sub("", path)
    for prefix in rules.path_prefixes:
        path = prefix.sub("", path, count=1)
    return path


def parse_frames(trace: str, rules: GroupingRules, limit: int = 60) -> list[Frame]:
    """Frames from innermost to outermost (PHP's `#0` first), at most `limit`."""
    frames: list[Frame] = []
    for raw in trace.splitlines():
        if len(frames) >= limit:
            break
        line = raw.strip()
        if not line:
            continue
        m = _PHP_FRAME.match(line)
        if m:
            func = m["func"].strip()
            frames.append(
                Frame(normalize_path(m["path"], rules), func, int(m["line"]) if m["line"] else None)
            )
            continue
        m = _JAVA_FRAME.match(line)
        if m:
            frames.append(
                Frame(normalize_path(m["path"], rules), m["func"], int(m["line"]) if m["line"] else None)
            )
            continue
        m = _PY_FRAME.match(line)
        if m:
            frames.append(Frame(normalize_path(m["path"], rules), m["func"], int(m["line"])))
    if "Traceback (most recent call last)" in trace[:200]:
        frames.reverse()  # Python prints outermost first
    return frames


def is_in_app(frame: Frame, rules: GroupingRules) -> bool:
    """Library, error-handler and request-dispatch frames are not where the bug is."""
    if any(part in frame.path for part in rules.not_in_app_paths):
        return False
    if frame.function.startswith(rules.not_in_app_functions):
        return False
    return not is_dispatch(frame, rules)


def is_dispatch(frame: Frame, rules: GroupingRules) -> bool:
    """A frame that only routes the request (entry script, MediaWiki::run, ApiMain::execute...)."""
    path = frame.path
    for script in rules.dispatch_paths:
        if path == script or (path.endswith(script) and path[-len(script) - 1] == "/"):
            return True
    dispatch = rules.dispatch_functions
    return dispatch is not None and dispatch.match(frame.function) is not None


def top_in_app_frames(trace: str | None, rules: GroupingRules, count: int) -> list[Frame]:
    """The first `count` in-app frames, innermost first; stops parsing once found."""
    if not trace or count <= 0:
        return []
    if "Traceback (most recent call last)" in trace[:200]:  # Python: outermost first, parse it all
        return [f for f in parse_frames(trace, rules, limit=500) if is_in_app(f, rules)][:count]
    found: list[Frame] = []
    lines = trace.splitlines()
    for start in range(0, min(len(lines), 200), 10):
        for frame in parse_frames("\n".join(lines[start : start + 10]), rules):
            if is_in_app(frame, rules):
                found.append(frame)
                if len(found) == count:
                    return found
    return found


def in_app_frames(trace: str | None, rules: GroupingRules) -> list[Frame]:
    """The in-app frames of a trace, innermost first."""
    if not trace:
        return []
    return [f for f in parse_frames(trace, rules) if is_in_app(f, rules)]


def throw_site(exc_file: str | None, rules: GroupingRules) -> str | None:
    """`/srv/mediawiki/php-1.36.0-wmf.30/includes/X.php:1450` -> `includes/X.php`."""
    if not exc_file:
        return None
    return normalize_path(exc_file, rules)
