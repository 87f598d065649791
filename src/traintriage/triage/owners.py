"""Ownership: route an error signature to the team that owns the code it comes from.

An owners file (docs/owners.md) is CODEOWNERS-like: one rule per line,
`<matcher> <@team|-> [#ProjectTag]`. Matchers are path globs over
version-stripped paths (`includes/changes/`, `extensions/Echo/`),
`extension:Name`, `skin:Name`, `class:Exception\\Class` and `channel:name`.

Resolution follows the stack, not the file: the throw site is tried first,
then the signature's in-app frames top-down, then the frames of a stored
sample trace down the stack; the first candidate that gets a team wins (all
candidates are kept so a triager can see why). Only when no path gives a team
are class rules tried, then channel rules. Within one candidate the last
matching line wins, as in CODEOWNERS, so specific rules go below general ones.

Everything here is pure except `load_owners` (reads a file) and
`default_owners_path` (looks at the environment and the working directory).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from traintriage.grouping.rules import default_rules
from traintriage.grouping.stacktrace import normalize_path, parse_frames

KINDS = ("path", "extension", "skin", "class", "channel")
PATH_KINDS = frozenset({"path", "extension", "skin"})
NOBODY = "-"  # team of a rule that says "not here: keep looking down the stack"
TRACE_FRAMES = 100  # frames read per sample trace; deeper ones are entry points

_PREFIXED = re.compile(r"^(?P<kind>[A-Za-z]+):(?P<value>.*)$")
_TEAM = re.compile(r"@[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)?")
_PROJECT = re.compile(r"#[^\s#]+")
# Deploy directories that grouping's path prefixes may leave: php-master/, php/, /srv/x/php-1.2.3/.
_DEPLOY_DIR = re.compile(r"^(?:/srv/[^/]+/)?php(?:-[^/]+)?/")
_WILDCARD = frozenset("*?[")
_PATH_CACHE_LIMIT = 100_000

Predicate = Callable[[str], object]  # truthy when the subject matches


class OwnersError(Exception):
    """An owners file that cannot be read at all (missing, unreadable, not UTF-8)."""


# --- the file -------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerRule:
    """One rule line: `matcher` as written, its `kind`, the team (`-` = nobody) and project tag."""

    line: int
    matcher: str
    kind: str  # one of KINDS
    team: str
    project: str | None  # Phabricator-style tag without the leading '#'

    @property
    def value(self) -> str:
        """The pattern after the `kind:` prefix (the whole matcher for paths)."""
        return self.matcher if self.kind == "path" else self.matcher.split(":", 1)[1]

    @property
    def owner(self) -> str | None:
        """The team this rule gives, or None for a `-` (nobody) rule."""
        return None if self.team == NOBODY else self.team

    def describe(self) -> str:
        """`line 12: extension:Echo @growth-team #Notifications` for messages."""
        tag = f" #{self.project}" if self.project else ""
        return f"line {self.line}: {self.matcher} {self.team}{tag}"


@dataclass(frozen=True)
class OwnersFile:
    """Parsed rules in file order plus the lines that could not be parsed (line, reason)."""

    rules: tuple[OwnerRule, ...]
    errors: tuple[tuple[int, str], ...] = ()
    source: str = "<owners>"
    _compiled: RuleIndex | None = field(default=None, init=False, repr=False, compare=False)

    def error_lines(self) -> list[str]:
        """Errors as `SOURCE:LINE: reason`, the form editors and CI annotate."""
        return [f"{self.source}:{line}: {reason}" for line, reason in self.errors]

    def counts(self) -> dict[str, int]:
        """Rules per kind, for a one-line summary."""
        out = dict.fromkeys(KINDS, 0)
        for rule in self.rules:
            out[rule.kind] += 1
        return out

    def index(self) -> RuleIndex:
        """Compiled matchers, built once per file (route() is called for hundreds of signatures)."""
        compiled = self._compiled
        if compiled is None:
            compiled = RuleIndex(self.rules)
            object.__setattr__(self, "_compiled", compiled)
        return compiled


def parse_owners(text: str, source: str = "<owners>") -> OwnersFile:
    """Parse an owners file; bad lines become (line, reason) errors and good lines are kept."""
    rules: list[OwnerRule] = []
    errors: list[tuple[int, str]] = []
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parsed = _parse_line(number, line)
        if isinstance(parsed, str):
            errors.append((number, parsed))
        else:
            rules.append(parsed)
    return OwnersFile(tuple(rules), tuple(errors), source)


def load_owners(path: str | Path) -> OwnersFile:
    """Read and parse an owners file; raises OwnersError if it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OwnersError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise OwnersError(f"{path}: is a directory") from None
    except (OSError, UnicodeDecodeError) as err:
        raise OwnersError(f"{path}: cannot read: {err}") from None
    return parse_owners(text, source=str(path))


def default_owners_path() -> str | None:
    """$TRAINTRIAGE_OWNERS if set (even if missing, so a typo fails loudly), else ./OWNERS if present."""
    env = os.environ.get("TRAINTRIAGE_OWNERS")
    if env:
        return env
    return "OWNERS" if Path("OWNERS").is_file() else None


def _parse_line(number: int, line: str) -> OwnerRule | str:
    """One non-comment line -> a rule, or the reason it is not one."""
    fields = line.split()
    if "#" in fields:  # a lone '#' starts a trailing comment; '#Tag' is a project
        fields = fields[: fields.index("#")]
    matcher, rest = fields[0], fields[1:]
    if not rest:
        return f"{matcher!r} has no team: expected '<matcher> @team [#Project]' (or '-' for nobody)"
    if len(rest) > 2:
        return "too many fields: one matcher, one team, at most one #Project (a trailing comment starts with '# ')"
    team, project = rest[0], (rest[1] if len(rest) == 2 else None)
    problem = _check_team(team, project)
    if problem:
        return problem
    kind, value = _split_matcher(matcher)
    problem = _check_matcher(kind, value)
    if problem:
        return problem
    return OwnerRule(number, matcher, kind, team, project[1:] if project else None)


def _split_matcher(matcher: str) -> tuple[str, str]:
    """`extension:Echo` -> ("extension", "Echo"); anything without a known prefix is a path."""
    m = _PREFIXED.match(matcher)
    if m:
        return m["kind"].lower(), m["value"]
    return "path", matcher


def _check_team(team: str, project: str | None) -> str | None:
    if team != NOBODY and not _TEAM.fullmatch(team):
        return f"team {team!r} must look like @team-name (or '-' for nobody)"
    if project is None:
        return None
    if team == NOBODY:
        return "a '-' (nobody) rule cannot name a project"
    if not _PROJECT.fullmatch(project):
        return f"{project!r} is not a project tag: expected #Project-Name"
    return None


def _check_matcher(kind: str, value: str) -> str | None:
    if kind not in KINDS:
        return f"unknown matcher {kind + ':'!r}: use a path, extension:, skin:, class: or channel:"
    if not value:
        return f"nothing after '{kind}:'"
    if kind in ("extension", "skin") and "/" in value:
        return f"a {kind} name has no '/': write {kind}s/{value} as a path rule instead"
    if kind == "path":
        if value.startswith("!"):
            return "negation ('!') is not supported: give the path its own rule (or '-' for nobody)"
        if not value.strip("/*"):
            return (
                f"catch-all path {value!r} would claim every throw site; leave errors unowned "
                "(they are listed) or use 'channel:*' as the last resort"
            )
    try:
        _compile(kind, value)
    except re.error as err:
        return f"bad pattern {value!r}: {err}"
    return None


# --- matching -------------------------------------------------------------------------


def _compile(kind: str, value: str) -> Predicate:
    """A predicate over a version-stripped path (path kinds), a class name or a channel."""
    if kind == "path":
        return _path_regex(value).fullmatch
    if kind in ("extension", "skin"):
        name = re.compile(fnmatch.translate(value))
        return lambda path: _repo_name(path, kind, name)
    if kind == "class":
        return _class_matcher(value)
    return re.compile(fnmatch.translate(value), re.IGNORECASE).match


def _path_regex(pattern: str) -> re.Pattern[str]:
    """CODEOWNERS-style glob -> regex over a whole path.

    Any '/' anchors at the deployment root (one tree holds core, extensions and
    skins, so `includes/` means core's, not every extension's); a pattern
    without '/' matches a file or directory name at any depth. A last segment
    without wildcards also covers everything below it; `dir/*` is one level only.
    """
    anchored = "/" in pattern
    body = pattern.strip("/")
    last = body.rsplit("/", 1)[-1]
    if pattern.endswith("/"):
        suffix = "/.*"
    elif last == "**" or _WILDCARD & set(last):
        suffix = ""
    else:
        suffix = "(?:/.*)?"
    return re.compile(("" if anchored else "(?:.*/)?") + _glob(body) + suffix, re.DOTALL)


def _glob(body: str) -> str:
    """Translate `*` (within a segment), `**` (across segments), `?` and `[...]`."""
    parts = body.split("/")
    out: list[str] = []
    for i, segment in enumerate(parts):
        last = i == len(parts) - 1
        if segment == "**":
            out.append(".*" if last else "(?:.*/)?")
        else:
            out.append(_segment(segment) + ("" if last else "/"))
    return "".join(out)


def _segment(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and "]" in segment[i + 2 :]:
            end = segment.index("]", i + 2)
            inner = segment[i + 1 : end]
            negate = inner[:1] in ("!", "^")
            out.append("[" + ("^" if negate else "") + inner[negate:].replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _repo_name(path: str, kind: str, name: re.Pattern[str]) -> bool:
    component = repo_of(path)
    return component is not None and component[0] == kind and name.match(component[1]) is not None


def _class_matcher(value: str) -> Predicate:
    """Case-insensitive like PHP; a pattern without a namespace also matches the short name."""
    pattern = re.compile(fnmatch.translate(value.lstrip("\\")), re.IGNORECASE)
    qualified = "\\" in value.lstrip("\\")

    def match(cls: str) -> bool:
        cls = cls.lstrip("\\")
        if pattern.match(cls):
            return True
        return not qualified and pattern.match(cls.rsplit("\\", 1)[-1]) is not None

    return match


def repo_of(path: str) -> tuple[str, str] | None:
    """`extensions/Echo/includes/X.php` -> ("extension", "Echo"); None for core, vendor, config."""
    parts = path.split("/", 2)
    if len(parts) == 3 and parts[1] and parts[0] in ("extensions", "skins"):
        return ("extension" if parts[0] == "extensions" else "skin"), parts[1]
    return None


@lru_cache(maxsize=65_536)
def owner_path(raw: str) -> str:
    """A path as rules see it: no deploy directory, no version segment, no line number."""
    return _DEPLOY_DIR.sub("", normalize_path(raw, default_rules()), count=1)


class RuleIndex:
    """Compiled rules per kind, with a per-path cache (many signatures share deep frames)."""

    def __init__(self, rules: Iterable[OwnerRule]) -> None:
        self.by_kind: dict[str, list[tuple[OwnerRule, Predicate]]] = {
            "path": [],
            "class": [],
            "channel": [],
        }
        for rule in rules:
            group = "path" if rule.kind in PATH_KINDS else rule.kind
            self.by_kind[group].append((rule, _compile(rule.kind, rule.value)))
        self._paths: dict[str, OwnerRule | None] = {}

    def last_match(self, group: str, subject: str) -> OwnerRule | None:
        """The last rule of this group matching `subject` (CODEOWNERS: later lines win)."""
        for rule, match in reversed(self.by_kind[group]):
            if match(subject):
                return rule
        return None

    def path_rule(self, path: str) -> OwnerRule | None:
        """The deciding path/extension/skin rule for one version-stripped path (cached)."""
        if path in self._paths:
            return self._paths[path]
        if len(self._paths) >= _PATH_CACHE_LIMIT:
            self._paths.clear()
        rule = self._paths[path] = self.last_match("path", path)
        return rule


# --- routing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Routing:
    """Who owns a signature, which rule said so, on what, and every candidate tried in order."""

    team: str | None
    project: str | None
    rule: OwnerRule | None
    matched: str | None  # the candidate the winning rule matched (a path, class:X or channel:Y)
    candidates: tuple[tuple[str, str | None], ...]  # (what was tried, team it would give)

    @property
    def owned(self) -> bool:
        return self.team is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "project": self.project,
            "rule": {"line": self.rule.line, "matcher": self.rule.matcher} if self.rule else None,
            "matched": self.matched,
            "candidates": [{"tried": what, "team": team} for what, team in self.candidates],
        }


def route(owners: OwnersFile, *, paths: Sequence[str], channel: str, exc_class: str | None) -> Routing:
    """Paths in order (first with a team wins), then the exception class, then the channel."""
    index = owners.index()
    tried: list[tuple[str, str | None]] = []
    winner: tuple[str, OwnerRule] | None = None
    cleaned = dict.fromkeys(p for p in map(owner_path, paths) if p and not p.startswith("["))
    subjects: list[tuple[str, str, str]] = [("path", p, p) for p in cleaned]
    if exc_class:
        subjects.append(("class", exc_class, f"class:{exc_class}"))
    subjects.append(("channel", channel, f"channel:{channel}"))
    for group, subject, label in subjects:
        rule = index.path_rule(subject) if group == "path" else index.last_match(group, subject)
        team = rule.owner if rule else None
        tried.append((label, team))
        if winner is None and rule is not None and team is not None:
            winner = (label, rule)
    if winner is None:
        return Routing(None, None, None, None, tuple(tried))
    label, rule = winner
    return Routing(rule.owner, rule.project, rule, label, tuple(tried))


def rule_for(owners: OwnersFile, candidate: str) -> OwnerRule | None:
    """The rule deciding one candidate as route() labels it (a path, `class:X` or `channel:Y`)."""
    index = owners.index()
    kind, _, subject = candidate.partition(":")
    if kind in ("class", "channel") and subject:
        return index.last_match(kind, subject)
    return index.path_rule(owner_path(candidate))


def signature_paths(explanation: list[dict[str, Any]], traces: Sequence[str]) -> list[str]:
    """Candidate paths in resolution order: throw site, in-app frames, then each trace down the stack."""
    found: dict[str, None] = {}
    for raw in _explained_paths(explanation):
        _add_path(found, raw)
    rules = default_rules()
    for trace in traces:
        for frame in parse_frames(trace, rules, limit=TRACE_FRAMES):
            _add_path(found, frame.path)
    return list(found)


def _explained_paths(explanation: list[dict[str, Any]]) -> list[str]:
    """The throw site first, then the in-app frames (`path function`) top-down."""
    parts = {part.get("component"): part.get("value") for part in explanation}
    paths: list[str] = []
    site = parts.get("throw site")
    if isinstance(site, str) and site:
        paths.append(site)
    frames = parts.get("in-app frames")
    if isinstance(frames, list):
        paths.extend(str(f).split(" ", 1)[0] for f in frames if f)
    return paths


def _add_path(found: dict[str, None], raw: str) -> None:
    path = owner_path(raw) if raw else ""
    if path and not path.startswith("["):  # "[internal function]" is not a file
        found.setdefault(path, None)


def first_trace(samples: Sequence[Mapping[str, Any]]) -> str | None:
    """The trace of the earliest sample (by time, then version), the one route_many reads too."""
    if not samples:
        return None
    earliest = min(samples, key=lambda s: (float(s.get("ts") or 0.0), str(s.get("version") or "")))
    trace = earliest.get("trace")
    return trace if isinstance(trace, str) and trace else None


def group_by_team(routings: Mapping[str, Routing], order: Iterable[str]) -> dict[str | None, list[str]]:
    """Signature ids per team (None = unowned), keeping `order` (e.g. most events first) within each."""
    out: dict[str | None, list[str]] = {}
    for sig in order:
        routing = routings.get(sig)
        if routing is not None:
            out.setdefault(routing.team, []).append(sig)
    return out
