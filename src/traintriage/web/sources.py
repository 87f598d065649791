"""Links from stack frames to the source at the version that ran (Phatality-style).

The URL comes from a template with `{repo}`, `{version}`, `{path}` and `{line}`; without
`{repo}` in it, `{path}` is the path under the MediaWiki checkout (core). Every value is
URL-quoted, and only http(s) templates are accepted, so a hostile trace cannot turn a
link into `javascript:`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

DEFAULT_SOURCE_URL = "https://gerrit.wikimedia.org/g/{repo}/+/refs/heads/wmf/{version}/{path}#{line}"

_LOCATION = re.compile(
    r"(?P<where>/srv/mediawiki/php-(?P<version>[0-9][\w.-]*)/(?P<path>[\w./@+-]+?\.\w+)"
    r"(?:\((?P<line>\d+)\)|:(?P<line2>\d+))?)"
)


class SourceTemplateError(ValueError):
    """The source URL template is unusable."""


def check_template(template: str) -> str:
    if not template.startswith(("https://", "http://")):
        raise SourceTemplateError("the source URL template must start with https:// or http://")
    try:
        template.format(repo="r", version="v", path="p", line="1")
    except (KeyError, IndexError, ValueError) as err:
        raise SourceTemplateError(f"bad source URL template: {err}") from None
    return template


@dataclass(frozen=True)
class Piece:
    """Part of a trace line: plain text, or a location with its link."""

    text: str
    href: str | None = None


def _repo_and_path(path: str) -> tuple[str, str]:
    parts = path.split("/")
    if len(parts) > 2 and parts[0] in ("extensions", "skins"):
        return f"mediawiki/{parts[0]}/{parts[1]}", "/".join(parts[2:])
    if len(parts) > 1 and parts[0] == "vendor":
        return "mediawiki/vendor", "/".join(parts[1:])
    return "mediawiki/core", path


def source_link(template: str | None, version: str | None, path: str, line: str | None) -> str | None:
    if not template or not version:
        return None
    repo, inner = _repo_and_path(path)
    if "{repo}" not in template:
        inner = path
    return template.format(
        repo=quote(repo, safe="/"),
        version=quote(version, safe=""),
        path=quote(inner, safe="/"),
        line=quote(line or "", safe=""),
    )


def link_line(text: str, template: str | None, version: str | None) -> list[Piece]:
    """Split one trace line into text and linked locations."""
    pieces: list[Piece] = []
    pos = 0
    for m in _LOCATION.finditer(text):
        if m.start() > pos:
            pieces.append(Piece(text[pos : m.start()]))
        href = source_link(template, version or m["version"], m["path"], m["line"] or m["line2"])
        pieces.append(Piece(m["where"], href))
        pos = m.end()
    if pos < len(text):
        pieces.append(Piece(text[pos:]))
    return pieces


def link_trace(trace: str | None, template: str | None, version: str | None) -> list[list[Piece]]:
    return [link_line(line, template, version) for line in (trace or "").splitlines()]
