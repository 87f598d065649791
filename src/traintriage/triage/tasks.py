"""A production-error task, drafted the way Wikimedia files them (Phatality's template), pure.

The draft has a title (the normalised message without its `[{reqId}] {exception_url}`
prefix), an Error section (version, timestamp, PHP version, request id, a Logstash link),
the normalised message, a stack-trace table whose locations link to the source at that
version's `wmf/<version>` branch, and Impact and Notes sections, in Phabricator remarkup
and in Markdown, plus a prefilled "create task" link for the Production Error form.

Log content is untrusted: the URL is anonymised (query values become `*`, `action=` kept),
the trace is redacted again (a line with quotes means argument values leaked: replaced),
and every value is escaped for the markup it lands in, so a message cannot mention people,
embed files, break the table or close a code block. A trace too long for a prefilled link
is left out of the link (Phabricator's URL limit, T255671), never silently cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

from traintriage.core.timeparse import iso
from traintriage.ingest.redact import redact_text, redact_trace, redact_url

__all__ = [
    "ErrorFacts",
    "Frame",
    "TaskDraft",
    "TaskLinks",
    "duplicate_candidates",
    "parse_trace",
    "render_task",
    "search_query",
    "task_title",
]

PRODUCTION_ERROR_TAG = "wikimedia-production-error"
MAX_TITLE = 200

_PREFIX = re.compile(r"^\[[^\]\s]{1,80}\]\s+(?:\{exception_url\}|\S+)\s{2,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_VERSION = re.compile(r"^\d+\.\d+[\w.-]*$")
_MW_PATH = re.compile(r"^/srv/mediawiki/php-(?P<version>[^/]+)/(?P<path>.+)$")
_CONFIG_PATH = re.compile(r"^/srv/mediawiki/(?P<path>(?:wmf-config|src|multiversion)/.+)$")
_LOCATION = re.compile(r"^(?P<file>[^()]+?)\((?P<line>\d+)\)(?::\s*(?P<call>.*))?$")
_WORD = re.compile(r"[A-Za-z_][\w\\:.>-]*[\w)]|[A-Za-z_]\w*")
_PLACEHOLDER = re.compile(r"^(?:\{[^}]*\}|<[a-z]+>|\*)$")


@dataclass(frozen=True)
class ErrorFacts:
    """What a task is about: one signature and one (redacted) sample event of it."""

    signature: str
    title: str  # the stored signature title (used when the sample has no message)
    channel: str = ""
    version: str | None = None
    timestamp: float | None = None
    normalized_message: str | None = None
    message: str | None = None
    exc_class: str | None = None
    php_version: str | None = None
    req_id: str | None = None
    url: str | None = None
    server: str | None = None
    trace: str | None = None
    events: int = 0
    requests: int = 0
    wikis: int = 0
    first_seen: float | None = None
    labels: tuple[str, ...] = ()
    team: str | None = None
    project: str | None = None


@dataclass(frozen=True)
class TaskLinks:
    """Where links in a task point. Every template is filled with URL-quoted values only."""

    phabricator: str = "https://phabricator.wikimedia.org"
    form: str = "/maniphest/task/edit/form/46/"
    blame: str = "https://gerrit.wikimedia.org/r/plugins/gitiles/{repo}/+blame/{branch}/{path}#{line}"
    logstash: str | None = "https://logstash.wikimedia.org/app/dashboards#/view/AXFV7JE83bOlOASGccsT"
    app: str | None = None  # the traintriage web app, for a link back to the signature page
    max_url: int = 8000  # longer prefilled links are cut by browsers and proxies (T255671)


@dataclass(frozen=True)
class Frame:
    """One stack frame: `#3` or `from`, where it is, what it called, and a source link."""

    label: str
    location: str
    call: str
    href: str | None = None


@dataclass(frozen=True)
class TaskDraft:
    """A task ready to file: both markups, the anonymised URL, tags and the prefilled link."""

    signature: str
    title: str
    remarkup: str
    markdown: str
    error_url: str | None
    projects: tuple[str, ...]
    parent: str | None
    create_url: str
    search: str
    frames: tuple[Frame, ...] = ()
    trace_in_link: bool = True
    warnings: tuple[str, ...] = field(default=())
    version: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "signature": self.signature,
            "title": self.title,
            "remarkup": self.remarkup,
            "markdown": self.markdown,
            "error_url": self.error_url,
            "projects": list(self.projects),
            "parent": self.parent,
            "version": self.version,
            "create_url": self.create_url,
            "search": self.search,
            "trace_in_link": self.trace_in_link,
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------- #
# Title, URL, trace
# --------------------------------------------------------------------------- #


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text)


def task_title(facts: ErrorFacts) -> str:
    """normalized_message (no PII, pre-trimmed) else message, without the request prefix."""
    raw = facts.normalized_message or (redact_text(facts.message) if facts.message else "") or facts.title
    text = _PREFIX.sub("", raw.strip(), count=1)
    text = " ".join(_clean(text).split())
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1] + "…"


def error_url(facts: ErrorFacts) -> str | None:
    """https://{server}{url} with query values anonymised; None without a usable URL."""
    url = (facts.url or "").strip()
    if not url or url.startswith("[no req]"):
        return None
    if url.startswith("/"):
        server = (facts.server or "").strip()
        if not server or not re.match(r"^[\w.-]+(?::\d+)?$", server):
            return None
        url = f"https://{server}{url}"
    if urlsplit(url).scheme not in ("http", "https"):
        return None
    return redact_url(_clean(url)).replace(" ", "%20")


def _source(path: str, line: str, links: TaskLinks) -> str | None:
    """Git blame link of a MediaWiki file at the branch of the version that ran it."""
    m = _MW_PATH.match(path)
    if m:
        version, inner = m["version"], m["path"]
        if not _VERSION.match(version):
            return None
        parts = inner.split("/")
        if len(parts) > 2 and parts[0] in ("extensions", "skins"):
            repo, inner = f"mediawiki/{parts[0]}/{parts[1]}", "/".join(parts[2:])
        elif len(parts) > 1 and parts[0] == "vendor":
            repo, inner = "mediawiki/vendor", "/".join(parts[1:])
        else:
            repo = "mediawiki/core"
        branch = f"refs/heads/wmf/{version}"
    else:
        c = _CONFIG_PATH.match(path)
        if not c:
            return None
        repo, inner, branch = "operations/mediawiki-config", c["path"], "refs/heads/master"
    if ".." in inner.split("/"):
        return None
    return links.blame.format(
        repo=quote(repo, safe="/"),
        branch=quote(branch, safe="/"),
        path=quote(inner, safe="/"),
        line=quote(line, safe=""),
    )


def parse_trace(trace: str | None, links: TaskLinks) -> tuple[Frame, ...]:
    """Frames of a redacted PHP trace; unreadable lines are kept as a call without location."""
    frames = []
    for raw in (trace or "").splitlines():
        line = _clean(raw).strip()
        if not line:
            continue
        label, _, rest = line.partition(" ")
        if not (label == "from" or re.match(r"^#\d+$", label)):
            label, rest = "", line
        m = _LOCATION.match(rest)
        if m:
            href = _source(m["file"].strip(), m["line"], links)
            location = f"{m['file'].strip()}({m['line']})"
            frames.append(Frame(label, location, (m["call"] or "").strip(), href))
        elif rest.startswith("[internal function]"):
            frames.append(Frame(label, "[internal function]", rest.partition(":")[2].strip()))
        else:
            frames.append(Frame(label, "", rest))
    return tuple(frames)


# --------------------------------------------------------------------------- #
# Escaping
# --------------------------------------------------------------------------- #


def _rm_mono(text: str) -> str:
    """Remarkup monospace is literal (no mentions, links or embeds inside); keep it one line.

    Link brackets are split too, so no `[[`/`]]` pair can form across cells.
    """
    text = text.replace("`", "'").replace("[[", "[ [").replace("]]", "] ]")
    return "`" + " ".join(text.split()) + "`"


def _rm_cell(text: str) -> str:
    """A table cell: the table splits on `|` before anything else, so none may remain."""
    return _rm_mono(text.replace("|", "¦")) if text else ""


def _rm_link(url: str, text: str) -> str:
    label = " ".join(text.replace("|", "¦").replace("]", ")").replace("[", "(").split())
    return f"[[ {url} | {label} ]]"


def _rm_block(text: str) -> str:
    """Inside a ``` block everything is literal except a closing fence."""
    return re.sub(r"`{3,}", lambda m: "'" * len(m.group(0)), text)


def _md_code(text: str) -> str:
    """A Markdown code span that no backtick run inside can close."""
    text = " ".join(text.split())
    run = max((len(r) for r in re.findall(r"`+", text)), default=0)
    fence = "`" * (run + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or run else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_cell(text: str) -> str:
    return _md_code(text).replace("|", "\\|") if text else ""


def _md_text(text: str) -> str:
    """Plain Markdown text: no HTML, no link or emphasis syntax, no mentions."""
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]#|@!~])", r"\\\1", out)


def _md_fence(text: str) -> str:
    run = max((len(r) for r in re.findall(r"`{3,}", text)), default=2)
    return "`" * (run + 1)


# --------------------------------------------------------------------------- #
# Rendering
# --------------------------------------------------------------------------- #


def _logstash(facts: ErrorFacts, links: TaskLinks) -> str | None:
    """Find the request in Logstash (±1 day), as Phatality links it; only for a plain reqId."""
    if not links.logstash or not facts.req_id or not re.match(r"^[\w@-]{6,64}$", facts.req_id):
        return None
    if facts.timestamp is None:
        return None
    start, end = iso(facts.timestamp - 86400), iso(facts.timestamp + 86400)
    query = quote(f'reqId:"{facts.req_id}"', safe="")
    return (
        f"{links.logstash}?_g=(time:(from:'{start}',to:'{end}'))&_a=(query:(query_string:(query:'{query}')))"
    )


def _impact(facts: ErrorFacts) -> str:
    if not facts.events:
        return ""
    where = f" in {facts.version}" if facts.version else ""
    since = f" since {iso(facts.first_seen)}" if facts.first_seen is not None else ""
    labels = f" ({', '.join(x.upper() for x in facts.labels)} in this train)" if facts.labels else ""
    return f"{facts.requests:,} requests ({facts.events:,} events) on {facts.wikis:,} wikis{where}{since}{labels}."


def _facts_list(facts: ErrorFacts) -> list[tuple[str, str]]:
    rows = [
        ("mwversion", facts.version or "unknown"),
        ("timestamp", iso(facts.timestamp) if facts.timestamp is not None else "unknown"),
        ("phpversion", facts.php_version or "unknown"),
        ("reqId", facts.req_id or "unknown"),
    ]
    return [(k, _clean(v)) for k, v in rows]


def _remarkup(
    facts: ErrorFacts, message: str, frames: Sequence[Frame], url: str | None, links: TaskLinks, trace: bool
) -> str:
    out = ["==== Error ===="]
    for key, value in _facts_list(facts):
        out.append(f"* {key}: {_rm_mono(value)}")
    logstash = _logstash(facts, links)
    if logstash:
        out.append(f"* {_rm_link(logstash, 'Find reqId in Logstash')}")
    if url:
        out.append(f"* URL: {_rm_mono(url)}")
    out += ["", "```name=normalized_message,lines=10", _rm_block(message), "```"]
    if trace and frames:
        out += ["| Frame | Location | Call", "| -- | -- | --"]
        for f in frames:
            loc = _rm_link(f.href, f.location) if f.href else _rm_cell(f.location)
            out.append(f"| {_rm_cell(f.label)} | {loc} | {_rm_cell(f.call)}")
    elif frames:
        out.append("(Trace left out of this prefilled link: too long for a URL. See the signature page.)")
    out += ["", "==== Impact ====", _impact(facts), "", "==== Notes ===="]
    out.append(_notes(facts, links, remarkup=True))
    return "\n".join(out).rstrip() + "\n"


def _notes(facts: ErrorFacts, links: TaskLinks, *, remarkup: bool) -> str:
    sig = facts.signature
    team = ""
    if facts.team:  # '@team' outside a literal would mention someone
        team = f" Owner: {_rm_mono(facts.team) if remarkup else _md_code(facts.team)}."
    if links.app:
        target = f"{links.app.rstrip('/')}/signatures/{quote(sig, safe='')}"
        ref = (
            _rm_link(target, f"traintriage signature {sig}")
            if remarkup
            else f"[traintriage signature {sig}]({target})"
        )
    else:
        ref = f"traintriage signature {_rm_mono(sig) if remarkup else _md_code(sig)}"
    return f"Drafted from {ref}.{team}"


def _markdown(
    facts: ErrorFacts, title: str, message: str, frames: Sequence[Frame], url: str | None, links: TaskLinks
) -> str:
    out = [f"## {_md_text(title)}", "", "### Error"]
    for key, value in _facts_list(facts):
        out.append(f"* {key}: {_md_code(value)}")
    logstash = _logstash(facts, links)
    if logstash:
        out.append(f"* [Find reqId in Logstash](<{logstash}>)")
    if url:
        out.append(f"* URL: {_md_code(url)}")
    fence = _md_fence(message)
    out += ["", fence, message, fence]
    if frames:
        out += ["", "| Frame | Location | Call |", "| -- | -- | -- |"]
        for f in frames:
            loc = f"[{_md_code(f.location)}](<{f.href}>)" if f.href else _md_cell(f.location)
            out.append(f"| {_md_cell(f.label)} | {loc} | {_md_cell(f.call)} |")
    out += ["", "### Impact", _md_text(_impact(facts)), "", "### Notes", _notes(facts, links, remarkup=False)]
    return "\n".join(out).rstrip() + "\n"


def _projects(facts: ErrorFacts, extra: Iterable[str]) -> tuple[str, ...]:
    tags = [PRODUCTION_ERROR_TAG]
    if facts.project:
        tags.append(facts.project)
    tags += list(extra)
    clean = [t.strip().lstrip("#") for t in tags if t and t.strip().lstrip("#")]
    return tuple(dict.fromkeys(t for t in clean if re.match(r"^[\w.-]{1,100}$", t)))


def render_task(
    facts: ErrorFacts,
    links: TaskLinks | None = None,
    *,
    parent: str | None = None,
    projects: Iterable[str] = (),
) -> TaskDraft:
    """The task for one signature; `parent` (T123) makes it a subtask, e.g. of the blocker task."""
    links = links or TaskLinks()
    warnings: list[str] = []
    title = task_title(facts)
    message = _clean(facts.normalized_message or redact_text(facts.message or "") or facts.title)
    # the request prefix stays a template: a filled-in request id and URL are not for a task
    message = _PREFIX.sub("[{reqId}] {exception_url}   ", message, count=1)
    trace = redact_trace(facts.trace) if facts.trace else None
    if trace and "(REDACTED)" in trace:
        warnings.append("trace lines with quoted values were redacted (argument values leaked)")
    frames = parse_trace(trace, links)
    url = error_url(facts)
    if facts.url and url is None:
        warnings.append("the request URL was not usable and is left out")
    if parent is not None and not re.match(r"^T[1-9]\d*$", parent):
        raise ValueError(f"parent {parent!r}: give a task like T123456")
    tags = _projects(facts, projects)
    remarkup = _remarkup(facts, message, frames, url, links, trace=True)
    create = _create_url(links, title, remarkup, url, tags, parent)
    in_link = True
    if len(create) > links.max_url and frames:
        in_link = False
        warnings.append("the trace is too long for a prefilled link and was left out of it")
        create = _create_url(
            links, title, _remarkup(facts, message, frames, url, links, trace=False), url, tags, parent
        )
    return TaskDraft(
        signature=facts.signature,
        title=title,
        remarkup=remarkup,
        markdown=_markdown(facts, title, message, frames, url, links),
        error_url=url,
        projects=tags,
        parent=parent,
        create_url=create,
        search=search_query(title),
        frames=frames,
        trace_in_link=in_link,
        warnings=tuple(warnings),
        version=facts.version,
    )


def _create_url(
    links: TaskLinks, title: str, description: str, url: str | None, tags: Sequence[str], parent: str | None
) -> str:
    params: dict[str, str] = {"title": title, "description": description}
    if url:
        params["custom.error.url"] = url
    if tags:
        params["projects"] = ",".join(tags)
    if parent:
        params["parent"] = parent[1:]
    return f"{links.phabricator.rstrip('/')}{links.form}?{urlencode(params, quote_via=quote)}"


# --------------------------------------------------------------------------- #
# Duplicates
# --------------------------------------------------------------------------- #


_PLACEHOLDERS = re.compile(r"\{[^}]*\}|<[a-z*]+>")


def _words(title: str) -> list[str]:
    text = _PLACEHOLDERS.sub(" ", title)
    return [w for w in _WORD.findall(text) if not _PLACEHOLDER.match(w) and len(w) > 2]


def search_query(title: str, limit: int = 10) -> str:
    """Full-text query for open tasks: each meaningful title word quoted (as Phatality searches)."""
    words = list(dict.fromkeys(w.replace('"', "") for w in _words(title)))[:limit]
    return " ".join(f'"{w}"' for w in words)


def _token_set(text: str) -> set[str]:
    return {w.lower().strip(".:") for w in _words(text) if not any(c.isdigit() for c in w)}


def duplicate_candidates(
    title: str, candidates: Iterable[tuple[str, str]], *, threshold: float = 0.35, limit: int = 5
) -> list[tuple[str, str, float]]:
    """(task, title, score) of tasks whose titles share enough words with `title`, best first.

    The score is the Jaccard index of the title word sets (digits and placeholders ignored);
    a likely duplicate is worth a look before filing, never a reason to skip filing.
    """
    mine = _token_set(title)
    if not mine:
        return []
    scored = []
    for task, other in candidates:
        theirs = _token_set(other)
        if not theirs:
            continue
        score = len(mine & theirs) / len(mine | theirs)
        if score >= threshold:
            scored.append((task, other, round(score, 3)))
    scored.sort(key=lambda t: (-t[2], t[0]))
    return scored[:limit]
