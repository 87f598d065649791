"""The ground truth: bugs, where in the code they are thrown, and when they fire.

A bug is one root cause with one truth label. Its message is a template:

* ``<name>`` is a value the code concatenated into the text (ids, titles, IPs,
  durations...). It varies per event *inside* one label, and lands in
  ``message``, ``exception.message`` and ``normalized_message`` alike;
* ``{name}`` is a PSR-3 placeholder (context channels): kept literally in
  ``normalized_message``, expanded in ``message`` and added to the context;
* ``<P>``, ``<V>`` and ``<L0>``, ``<L1>``... are the version's
  ``/srv/mediawiki/php-<V>`` directory, the version and the line of frame n,
  so texts and traces change with every version while the label stays;
* ``<wiki>`` is the event's wiki.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from traintriage_sim import data
from traintriage_sim.formats import json_escape, slot

MAX_VARS = 4
POOL_SIZE = 256
KINDS = ("background", "new", "regressed", "fixed", "host-spike", "logspam", "deprecation")
CRITICAL_CHANNELS = frozenset({"exception", "fatal"})

Gen = Callable[[random.Random], str]


@dataclass(frozen=True, slots=True)
class CallSite:
    path: str  # relative to /srv/mediawiki/php-<V>/ unless absolute or "[internal function]"
    line: int
    call: str = ""


ENTRY_TAIL: dict[str, tuple[CallSite, ...]] = {
    "web": (
        CallSite("includes/MediaWiki.php", 542, "MediaWiki->performRequest()"),
        CallSite("includes/MediaWiki.php", 297, "MediaWiki->main()"),
        CallSite("index.php", 53, "MediaWiki->run()"),
        CallSite("/srv/mediawiki/w/index.php", 3, "require(string)"),
    ),
    "api": (
        CallSite("includes/api/ApiMain.php", 1593, "ApiMain->executeAction()"),
        CallSite("includes/api/ApiMain.php", 529, "ApiMain->executeActionWithErrorHandling()"),
        CallSite("api.php", 90, "ApiMain->execute()"),
        CallSite("/srv/mediawiki/w/api.php", 3, "require(string)"),
    ),
    "job": (
        CallSite("includes/jobqueue/JobRunner.php", 340, "JobRunner->doExecuteJob(Job)"),
        CallSite("extensions/EventBus/includes/JobExecutor.php", 79, "JobRunner->executeJob(Job)"),
        CallSite(
            "/srv/mediawiki/rpc/RunSingleJob.php",
            76,
            "MediaWiki\\Extension\\EventBus\\JobExecutor->execute(array)",
        ),
    ),
    "rest": (
        CallSite(
            "includes/Rest/Router.php",
            428,
            "MediaWiki\\Rest\\Router->executeHandler(MediaWiki\\Rest\\Handler)",
        ),
        CallSite(
            "includes/Rest/EntryPoint.php",
            167,
            "MediaWiki\\Rest\\Router->execute(MediaWiki\\Rest\\RequestFromGlobals)",
        ),
        CallSite("rest.php", 31, "MediaWiki\\Rest\\EntryPoint::main()"),
        CallSite("/srv/mediawiki/w/rest.php", 3, "require(string)"),
    ),
}
ENTRY_TAIL["edit"] = (
    CallSite("includes/MediaWiki.php", 511, "MediaWiki->performAction(Article, Title)"),
    *ENTRY_TAIL["web"],
)
ENTRY_TAIL.update({e: ENTRY_TAIL["web"] for e in ("rc", "contribs", "search")})
ENTRY_TAIL.update(wbapi=ENTRY_TAIL["api"], parsoid=ENTRY_TAIL["rest"])

_DEPRECATION_HEAD = (
    CallSite("[internal function]", 0, "MWExceptionHandler::handleError(int, string, string, int, array)"),
    CallSite("includes/debug/MWDebug.php", 375, "trigger_error(string, int)"),
    CallSite("includes/debug/MWDebug.php", 351, "MWDebug::sendRawDeprecated(string, bool, string)"),
    CallSite("includes/GlobalFunctions.php", 1050, "MWDebug::deprecated(string, string, string, int)"),
)


def line_at(path: str, line: int, vi: int) -> int:
    """Line of `path:line` in version index vi: about a quarter of files change per train."""
    if not line or path.startswith(("/", "[")):
        return line
    for k in range(1, vi + 1):
        h = zlib.crc32(f"{path}|{k}".encode())
        if h % 4 == 0:
            line += (h >> 8) % 41 - 12
    return max(line, 1)


@dataclass(frozen=True, slots=True)
class Content:
    """One bug rendered for one version; variable parts are slot sentinels."""

    message: str
    normalized: str | None
    context: dict[str, str]
    exc: dict[str, object] | None
    file: str | None
    line: int | None


_TOKEN = re.compile(r"<(\w+)>|\{([\w-]+)\}")


@dataclass(eq=False)
class Bug:
    """One root cause. Rates are events per hour on its eligible wikis at average traffic."""

    label: str
    kind: str
    channel: str
    level: str
    style: str  # exception | php | context | free
    message: str
    exc_class: str | None = None
    detail: str = ""  # appended to exception.message only
    frames: tuple[CallSite, ...] = ()
    deprecation: bool = False
    caught_by: str = "mwe_handler"
    entries: tuple[tuple[str, int], ...] = (("web", 1),)
    wikis: frozenset[str] | None = None
    per_hour: float = 1.0
    scale: str = "scaled"  # scaled | story (never below default size) | fixed (absolute)
    introduced: int | None = None
    regressed: int | None = None
    factor: float = 1.0
    fixed: int | None = None
    backport: tuple[int, int] | None = None  # (version index, epoch µs) the fix went live
    host: str | None = None
    window: tuple[int, int] | None = None  # epoch µs, host spikes
    burst: int = 1  # up to this many lines per request (same reqId)
    variables: tuple[tuple[str, Gen], ...] = ()
    placeholders: dict[str, str] = field(default_factory=dict)
    extra_context: dict[str, str] = field(default_factory=dict)
    note: str = ""
    trap: str = ""
    stream: str = (
        "main"  # random stream: bugs added later draw from their own, so older ones keep their events
    )

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind
        assert len(self.variables) <= MAX_VARS, self.label

    # --- activity ---------------------------------------------------------------------------
    def multiplier(self, vi: int, t_us: int) -> float:
        """Rate factor of this bug in version index vi at time t (0 = absent)."""
        if self.introduced is not None and vi < self.introduced:
            return 0.0
        if self.fixed is not None and vi >= self.fixed:
            return 0.0
        if self.window is not None and not self.window[0] <= t_us < self.window[1]:
            return 0.0
        if self.backport is not None:
            bv, bt = self.backport
            if vi > bv or (vi == bv and t_us >= bt):
                return 1.0 if self.regressed is not None else 0.0
        if self.regressed is not None and vi >= self.regressed:
            return self.factor
        return 1.0

    def pool(self, seed: int) -> list[tuple[bytes, ...]]:
        """Values of the concatenated variables: JSON-escaped then raw, padded to MAX_VARS each."""
        if not self.variables:
            return [(b"",) * (2 * MAX_VARS)]
        rng = random.Random(f"{seed}/vars/{self.label}")
        out = []
        for _ in range(POOL_SIZE):
            raw = [gen(rng) for _, gen in self.variables]
            raw += [""] * (MAX_VARS - len(raw))
            out.append(tuple(json_escape(v) for v in raw) + tuple(v.encode() for v in raw))
        return out

    # --- rendering --------------------------------------------------------------------------
    def _expand(self, text: str, version: str, vi: int, raw: bool, keep_placeholders: bool) -> str:
        names = [n for n, _ in self.variables]
        frames = self.frames

        def sub(m: re.Match[str]) -> str:
            var, ph = m.group(1), m.group(2)
            if ph is not None:
                if ph not in self.placeholders:
                    return m.group(0)
                return (
                    m.group(0)
                    if keep_placeholders
                    else self._expand(self.placeholders[ph], version, vi, raw, False)
                )
            if var == "P":
                return f"/srv/mediawiki/php-{version}"
            if var == "V":
                return version
            if var in ("wiki", "server"):
                return slot(var)
            if var[0] == "L" and var[1:].isdigit():
                f = frames[int(var[1:])]
                return str(line_at(f.path, f.line, vi))
            i = names.index(var)
            return slot(f"r{i}" if raw else f"v{i}")

        return _TOKEN.sub(sub, text)

    def _path(self, f: CallSite, version: str) -> str:
        return f.path if f.path.startswith(("/", "[")) else f"/srv/mediawiki/php-{version}/{f.path}"

    def _trace(self, version: str, vi: int, entry: str) -> str:
        fr = self.frames
        head = f"from {self._path(fr[0], version)}({line_at(fr[0].path, fr[0].line, vi)})"
        calls: list[CallSite] = []
        if self.deprecation:
            calls += _DEPRECATION_HEAD
            calls.append(CallSite(fr[0].path, fr[0].line, "wfDeprecated(string, string)"))
        elif self.style == "php":
            calls.append(
                CallSite(
                    fr[0].path, fr[0].line, "MWExceptionHandler::handleError(int, string, string, int, array)"
                )
            )
        calls += fr[1:]
        calls += ENTRY_TAIL[entry]  # the road this request took: one bug, many entry points
        lines = [head]
        for i, f in enumerate(calls):
            where = (
                "[internal function]"
                if f.path == "[internal function]"
                else f"{self._path(f, version)}({line_at(f.path, f.line, vi)})"
            )
            lines.append(f"#{i} {where}: {f.call}")
        lines.append(f"#{len(calls)} {{main}}")
        return "\n".join(lines)

    def content(self, version: str, vi: int, raw: bool = False, entry: str = "") -> Content:
        msg = self._expand(self.message, version, vi, raw, False)
        ctx = {k: self._expand(v, version, vi, raw, False) for k, v in self.extra_context.items()}
        if self.style in ("context", "free"):
            norm = self._expand(self.message, version, vi, raw, True) if self.style == "context" else None
            for ph in self.placeholders:
                ctx[ph] = self._expand(self.placeholders[ph], version, vi, raw, False)
            return Content(msg, norm, ctx, None, None, None)
        prefix = f"{self.exc_class}: " if self.style == "exception" else ""
        site = self.frames[0]
        line = line_at(site.path, site.line, vi)
        path = self._path(site, version)
        exc = {
            "class": self.exc_class or "ErrorException",
            "message": msg + self._expand(self.detail, version, vi, raw, False),
            "code": 0,
            "file": f"{path}:{line}",
            "trace": self._trace(version, vi, entry or self.entries[0][0]),
        }
        full = f"[{slot('reqid')}] {slot('url')}   {prefix}{msg}"
        norm = f"[{{reqId}}] {{exception_url}}   {prefix}{msg}"
        return Content(full, norm, ctx, exc, path, line)

    def title(self, version: str) -> str:
        """Phatality-style title: the message with variables shown as <name>."""

        def sub(m: re.Match[str]) -> str:
            var = m.group(1)
            if var == "P":
                return f"/srv/mediawiki/php-{version}"
            if var == "V":
                return version
            if var and var[0] == "L" and var[1:].isdigit():
                f = self.frames[int(var[1:])]
                return str(f.line)
            return m.group(0)

        text = _TOKEN.sub(sub, self.message)
        return f"{self.exc_class}: {text}" if self.style == "exception" else text


# --- the background catalog ------------------------------------------------------------------


def _const(v: str) -> Gen:
    return lambda _r: v


def _intr(lo: int, hi: int) -> Gen:
    return lambda r: str(r.randrange(lo, hi))


def _choice(*vals: str) -> Gen:
    return lambda r: r.choice(vals)


FLAGGED_REVS = frozenset(
    {
        "dewiki",
        "ruwiki",
        "plwiki",
        "huwiki",
        "fiwiki",
        "enwikibooks",
        "dewiktionary",
        "ruwiktionary",
        "testwiki",
        "cawiki",
    }
)
_DB = "includes/libs/rdbms/database/Database.php"
_DB_FRAMES = (
    CallSite(_DB, 1713),
    CallSite(_DB, 1688, "Wikimedia\\Rdbms\\Database->getQueryExceptionAndLog(string, int, string, string)"),
    CallSite(_DB, 1255, "Wikimedia\\Rdbms\\Database->reportQueryError(string, int, string, string, bool)"),
)
RARE = 1.0 / 168.0  # per_hour of a bug seen about once a week


def background() -> list[Bug]:
    """Old noise present in every version at a steady per-request rate (some very rare)."""
    memkey = "<wiki>:pcache:idhash:<pid>-0!canonical"
    return [
        Bug(
            "bg-memcached-timeout",
            "background",
            "memcached",
            "ERROR",
            "context",
            'Memcached error for key "{memcached-key}" on server "{memcached-server}": A TIMEOUT OCCURRED',
            entries=(("web", 3), ("api", 2), ("job", 1)),
            per_hour=45,
            variables=(("pid", data.page_id),),
            placeholders={"memcached-key": memkey, "memcached-server": "127.0.0.1:11213"},
        ),
        Bug(
            "bg-memcached-too-big",
            "background",
            "memcached",
            "ERROR",
            "context",
            'Memcached error for key "{memcached-key}" on server "{memcached-server}": ITEM TOO BIG',
            entries=(("api", 1), ("parsoid", 1)),
            per_hour=3,
            variables=(("n", _intr(10_000, 900_000)),),
            placeholders={
                "memcached-key": "WANCache:v:global:SqlBlobStore-blob:<wiki>:tt%3A<n>",
                "memcached-server": "127.0.0.1:11213",
            },
        ),
        Bug(
            "bg-dbquery-lockwait",
            "background",
            "DBQuery",
            "ERROR",
            "context",
            "Error 1205 from LinksUpdate::updateLinksTimestamp, {error} {sql1line} {db_server}",
            entries=(("job", 1),),
            per_hour=10,
            variables=(("ts", data.ts14), ("pid", data.page_id), ("dbip", data.db_ip)),
            placeholders={
                "error": "Lock wait timeout exceeded; try restarting transaction",
                "sql1line": "UPDATE  `page` SET page_links_updated = '<ts>' WHERE page_id = <pid>",
                "db_server": "<dbip>",
            },
            extra_context={
                "errno": "1205",
                "fname": "LinksUpdate::updateLinksTimestamp",
                "db_name": "<wiki>",
            },
        ),
        Bug(
            "bg-exc-deadlock",
            "background",
            "exception",
            "ERROR",
            "exception",
            "Error 1213: Deadlock found when trying to get lock; try restarting transaction (<dbip>)",
            exc_class="Wikimedia\\Rdbms\\DBQueryError",
            detail="\nFunction: WikiPage::updateRevisionOn\nQuery: UPDATE  `page` SET page_latest = <rev>,"
            "page_touched = '<ts>',page_is_new = 0 WHERE page_id = <pid>\n",
            frames=_DB_FRAMES
            + (
                CallSite(_DB, 2265, "Wikimedia\\Rdbms\\Database->query(string, string, int)"),
                CallSite(
                    "includes/libs/rdbms/database/DBConnRef.php",
                    68,
                    "Wikimedia\\Rdbms\\Database->update(string, array, array, string)",
                ),
                CallSite(
                    "includes/page/WikiPage.php",
                    1384,
                    "Wikimedia\\Rdbms\\DBConnRef->update(string, array, array, string)",
                ),
                CallSite(
                    "includes/Storage/DerivedPageDataUpdater.php",
                    1601,
                    "WikiPage->updateRevisionOn(Wikimedia\\Rdbms\\DBConnRef, MediaWiki\\Revision\\RevisionStoreRecord, int, bool)",
                ),
            ),
            entries=(("edit", 2), ("api", 1)),
            per_hour=5,
            variables=(("dbip", data.db_ip), ("rev", data.rev_id), ("ts", data.ts14), ("pid", data.page_id)),
        ),
        Bug(
            "bg-echo-undefined-title",
            "background",
            "error",
            "ERROR",
            "php",
            "PHP Notice: Undefined index: title",
            frames=(
                CallSite("extensions/Echo/includes/formatters/EchoFlyoutFormatter.php", 44),
                CallSite(
                    "extensions/Echo/includes/formatters/EchoEventFormatter.php",
                    83,
                    "EchoFlyoutFormatter->formatModel(EchoEventPresentationModel)",
                ),
                CallSite(
                    "extensions/Echo/includes/DataOutputFormatter.php",
                    190,
                    "EchoEventFormatter->format(EchoEvent, string)",
                ),
                CallSite(
                    "extensions/Echo/includes/api/ApiEchoNotifications.php",
                    222,
                    "EchoDataOutputFormatter::formatOutput(EchoNotification, string, User, Language)",
                ),
                CallSite("includes/api/ApiQuery.php", 253, "ApiEchoNotifications->execute()"),
            ),
            entries=(("api", 1),),
            per_hour=25,
            burst=3,
        ),
        Bug(
            "bg-warning-countable",
            "background",
            "error",
            "ERROR",
            "php",
            "PHP Warning: count(): Parameter must be an array or an object that implements Countable",
            frames=(
                CallSite(
                    "extensions/TimedMediaHandler/includes/WebVideoTranscode/WebVideoTranscode.php", 1150
                ),
                CallSite(
                    "extensions/TimedMediaHandler/includes/TimedMediaTransformOutput.php",
                    398,
                    "WebVideoTranscode::getSources(File, array, int)",
                ),
                CallSite("includes/parser/Parser.php", 5090, "TimedMediaTransformOutput->toHtml(array)"),
            ),
            entries=(("web", 1),),
            per_hour=8,
        ),
        Bug(
            "bg-notice-offset",
            "background",
            "error",
            "ERROR",
            "php",
            "PHP Notice: Undefined offset: <n>",
            frames=(
                CallSite("includes/parser/CoreParserFunctions.php", 1122),
                CallSite(
                    "includes/parser/Parser.php",
                    3290,
                    "CoreParserFunctions::pad(Parser, string, string, string)",
                ),
                CallSite(
                    "includes/parser/PPFrame_Hash.php", 329, "Parser->braceSubstitution(array, PPFrame_Hash)"
                ),
            ),
            entries=(("web", 2), ("parsoid", 1)),
            per_hour=6,
            variables=(("n", _intr(1, 13)),),
        ),
        Bug(
            "bg-deprecated-getflag",
            "background",
            "error",
            "WARNING",
            "php",
            "PHP Deprecated: Use of ParserOutput::getFlag was deprecated in MediaWiki 1.36. [Called from "
            "Wikibase\\Client\\Hooks\\ParserOutputUpdateHookHandler::doParserOutputUpdate in "
            "<P>/extensions/Wikibase/client/includes/Hooks/ParserOutputUpdateHookHandler.php at line <L0>]",
            frames=(
                CallSite("extensions/Wikibase/client/includes/Hooks/ParserOutputUpdateHookHandler.php", 98),
                CallSite(
                    "includes/HookContainer/HookContainer.php",
                    333,
                    "Wikibase\\Client\\Hooks\\ParserOutputUpdateHookHandler->onContentAlterParserOutput(WikitextContent, Title, ParserOutput)",
                ),
            ),
            deprecation=True,
            entries=(("web", 2), ("parsoid", 1)),
            per_hour=30,
        ),
        Bug(
            "bg-deprecated-revtext",
            "background",
            "error",
            "WARNING",
            "php",
            "PHP Deprecated: Use of Revision::getRevisionText was deprecated in MediaWiki 1.32. [Called from "
            "FlaggedRevision::getRevText in <P>/extensions/FlaggedRevs/backend/FlaggedRevision.php at line <L0>]",
            frames=(
                CallSite("extensions/FlaggedRevs/backend/FlaggedRevision.php", 361),
                CallSite(
                    "extensions/FlaggedRevs/frontend/FlaggablePageView.php",
                    822,
                    "FlaggedRevision->getRevText()",
                ),
            ),
            deprecation=True,
            entries=(("web", 1),),
            wikis=FLAGGED_REVS,
            per_hour=15,
        ),
        Bug(
            "bg-cirrus-backend",
            "background",
            "CirrusSearch",
            "ERROR",
            "free",
            "Search backend error during full_text search for '<q>' after <ms>: unknown: Status code 503",
            entries=(("search", 3), ("api", 1)),
            per_hour=20,
            variables=(("q", data.query), ("ms", _intr(10, 3000))),
        ),
        Bug(
            "bg-dbreplication-lag",
            "background",
            "DBReplication",
            "WARNING",
            "free",
            "Server <db> has <lag> seconds of lag (>= 6)",
            entries=(("web", 1), ("api", 1), ("job", 1)),
            per_hour=12,
            variables=(("db", data.db_host), ("lag", lambda r: f"{r.uniform(6, 40):.6f}")),
        ),
        Bug(
            "bg-ratelimit",
            "background",
            "ratelimit",
            "WARNING",
            "free",
            "User '<user>' (IP <ip>) tripped <wiki>:limiter:edit:user:<uid> at 'edit'",
            entries=(("edit", 2), ("api", 1)),
            per_hour=8,
            variables=(("user", data.user), ("ip", data.client_ip), ("uid", _intr(10_000, 41_000_000))),
        ),
        Bug(
            "bg-poolcounter",
            "background",
            "poolcounter",
            "WARNING",
            "free",
            "Pool key '<wiki>:pcache:idhash:<pid>-0!canonical' (ArticleView): Timeout waiting for the lock",
            entries=(("web", 1),),
            per_hour=6,
            variables=(("pid", data.page_id),),
        ),
        Bug(
            "bg-wmftimeout",
            "background",
            "exception",
            "ERROR",
            "exception",
            "the execution time limit of 60 seconds was exceeded",
            exc_class="WMFTimeoutException",
            frames=(
                CallSite("/srv/mediawiki/wmf-config/set-time-limit.php", 39),
                CallSite("[internal function]", 0, "{closure}(ExcimerTimer)"),
                CallSite(
                    "includes/parser/Preprocessor_Hash.php",
                    1100,
                    "Preprocessor_Hash->preprocessToObj(string, int)",
                ),
                CallSite(
                    "includes/parser/Parser.php", 2961, "Preprocessor_Hash->preprocessToObj(string, int)"
                ),
            ),
            entries=(("web", 2), ("api", 1)),
            per_hour=6,
        ),
        Bug(
            "bg-fatal-memory",
            "background",
            "fatal",
            "ERROR",
            "php",
            "PHP Fatal Error: Allowed memory size of 698351616 bytes exhausted (tried to allocate <n> bytes)",
            frames=(
                CallSite("includes/parser/ParserOutput.php", 1306),
                CallSite("includes/parser/Parser.php", 1640, "ParserOutput->setText(string)"),
            ),
            entries=(("web", 1), ("parsoid", 1), ("api", 1)),
            per_hour=2,
            variables=(("n", _choice("16384", "20480", "4096", "65536", "262144")),),
        ),
        Bug(
            "bg-getid-null-wikipage",
            "background",
            "exception",
            "ERROR",
            "exception",
            "Call to a member function getId() on null",
            exc_class="Error",
            frames=(
                CallSite("includes/page/WikiPage.php", 1560),
                CallSite("includes/page/WikiPage.php", 2081, "WikiPage->getRevisionRecordFromSlots()"),
                CallSite(
                    "includes/EditPage.php",
                    2331,
                    "WikiPage->doEditContent(WikitextContent, User, string, int, bool)",
                ),
            ),
            entries=(("edit", 1),),
            per_hour=3,
            trap="same message as new-getid-null-echo, thrown from a different code site",
        ),
        Bug(
            "bg-blob-revaccess",
            "background",
            "exception",
            "ERROR",
            "exception",
            "Failed to load data blob from tt:<n>",
            exc_class="MediaWiki\\Revision\\RevisionAccessException",
            frames=(
                CallSite("includes/Revision/RevisionStore.php", 1005),
                CallSite(
                    "includes/Revision/RevisionStore.php",
                    1113,
                    "MediaWiki\\Revision\\RevisionStore->loadSlotContent(MediaWiki\\Revision\\SlotRecord, NULL, NULL, NULL, int)",
                ),
                CallSite(
                    "includes/Revision/SlotRecord.php",
                    307,
                    "MediaWiki\\Revision\\RevisionStore->MediaWiki\\Revision\\{closure}(MediaWiki\\Revision\\SlotRecord)",
                ),
            ),
            entries=(("web", 1), ("api", 1)),
            per_hour=3,
            variables=(("n", _intr(1000, 900_000_000)),),
            trap="same text as bg-blob-mwexception, different exception class",
        ),
        Bug(
            "bg-blob-mwexception",
            "background",
            "exception",
            "ERROR",
            "exception",
            "Failed to load data blob from tt:<n>",
            exc_class="MWException",
            frames=(
                CallSite("extensions/FlaggedRevs/backend/FlaggedRevision.php", 372),
                CallSite(
                    "extensions/FlaggedRevs/frontend/FlaggablePageView.php",
                    822,
                    "FlaggedRevision->getRevText()",
                ),
            ),
            entries=(("web", 1),),
            wikis=FLAGGED_REVS,
            per_hour=1.5,
            variables=(("n", _intr(1000, 900_000_000)),),
            trap="same text as bg-blob-revaccess, different exception class",
        ),
        Bug(
            "bg-redis-connect",
            "background",
            "redis",
            "ERROR",
            "context",
            'Could not connect to server "{redis_server}"',
            entries=(("job", 2), ("web", 1)),
            per_hour=4,
            variables=(("rip", _choice("10.64.0.80", "10.64.16.21", "10.64.32.47")),),
            placeholders={"redis_server": "<rip>:6379"},
            trap="same text as bg-session-redis-connect, channel redis",
        ),
        Bug(
            "bg-session-redis-connect",
            "background",
            "session",
            "ERROR",
            "context",
            'Could not connect to server "{redis_server}"',
            entries=(("web", 1), ("api", 1)),
            per_hour=2,
            variables=(("rip", _choice("10.64.0.80", "10.64.16.21", "10.64.32.47")),),
            placeholders={"redis_server": "<rip>:6379"},
            trap="same text as bg-redis-connect, channel session",
        ),
        Bug(
            "bg-externalstore",
            "background",
            "ExternalStore",
            "WARNING",
            "free",
            "ExternalStoreDB::fetchBlob master fallback on DB://cluster<c>/<n>",
            entries=(("web", 1), ("api", 1)),
            per_hour=3,
            variables=(("c", _choice("24", "25", "26")), ("n", _intr(1, 99_999_999))),
        ),
        Bug(
            "bg-abusefilter-slow",
            "background",
            "AbuseFilter",
            "WARNING",
            "free",
            "Edit filter <f> on <wiki> is taking longer than expected (<ms> ms)",
            entries=(("edit", 1),),
            per_hour=2,
            variables=(("f", _intr(1, 1200)), ("ms", _intr(800, 9000))),
        ),
        Bug(
            "bg-headers-sent",
            "background",
            "error",
            "ERROR",
            "php",
            "PHP Warning: Cannot modify header information - headers already sent by (output started at "
            "<P>/includes/OutputHandler.php:<L1>)",
            frames=(
                CallSite("includes/WebResponse.php", 77),
                CallSite("includes/OutputHandler.php", 141, "WebResponse->header(string)"),
            ),
            entries=(("web", 1),),
            per_hour=2,
        ),
        Bug(
            "bg-export-title",
            "background",
            "exception",
            "ERROR",
            "exception",
            "Title '<title>' is not a valid page for export",
            exc_class="MWException",
            frames=(
                CallSite("includes/export/WikiExporter.php", 398),
                CallSite("includes/specials/SpecialExport.php", 392, "WikiExporter->pagesByName(array)"),
                CallSite("includes/specialpage/SpecialPage.php", 600, "SpecialExport->execute(NULL)"),
            ),
            entries=(("web", 1),),
            per_hour=1.5,
            variables=(("title", lambda r: data.title(r).replace("_", " ")),),
        ),
        Bug(
            "bg-rare-parsoid-utf8",
            "background",
            "exception",
            "ERROR",
            "exception",
            "Invariant failed: Bad UTF-8 at start of string",
            exc_class="Wikimedia\\Assert\\InvariantException",
            frames=(
                CallSite("vendor/wikimedia/assert/src/Assert.php", 224),
                CallSite(
                    "vendor/wikimedia/parsoid/src/Utils/Utils.php",
                    1017,
                    "Wikimedia\\Assert\\Assert::invariant(bool, string)",
                ),
            ),
            entries=(("parsoid", 1),),
            per_hour=4 * RARE,
            scale="fixed",
            note="rare: a handful a week",
        ),
        Bug(
            "bg-rare-thumb",
            "background",
            "thumbnail",
            "WARNING",
            "free",
            'Removing bad 0-byte thumbnail "/tmp/transform_<h>.jpg". unlink() succeeded',
            entries=(("web", 1),),
            per_hour=3 * RARE,
            scale="fixed",
            variables=(("h", data.hex_id),),
            note="rare: a handful a week",
        ),
        Bug(
            "bg-rare-booksources",
            "background",
            "exception",
            "ERROR",
            "exception",
            "Argument 1 passed to SpecialBookSources::isValidISBN() must be of the type string, null given, "
            "called in <P>/includes/specials/SpecialBookSources.php on line <L1>",
            exc_class="TypeError",
            frames=(
                CallSite("includes/specials/SpecialBookSources.php", 74),
                CallSite(
                    "includes/specials/SpecialBookSources.php", 61, "SpecialBookSources::isValidISBN(NULL)"
                ),
                CallSite("includes/specialpage/SpecialPage.php", 600, "SpecialBookSources->execute(NULL)"),
            ),
            entries=(("web", 1),),
            per_hour=5 * RARE,
            scale="fixed",
            note="rare: a handful a week",
        ),
        Bug(
            "bg-rare-jobqueue",
            "background",
            "exception",
            "ERROR",
            "exception",
            "Could not enqueue jobs from stream mediawiki.job.<t>",
            exc_class="JobQueueError",
            frames=(
                CallSite("extensions/EventBus/includes/JobQueueEventBus.php", 120),
                CallSite("includes/jobqueue/JobQueue.php", 374, "JobQueueEventBus->doBatchPush(array, int)"),
            ),
            entries=(("job", 1),),
            per_hour=2 * RARE,
            scale="fixed",
            caught_by="other",
            variables=(("t", _choice("refreshLinks", "htmlCacheUpdate", "cirrusSearchLinksUpdate")),),
            note="rare: a couple a week",
        ),
    ]


# --- one bug, many roads (issue 9) -------------------------------------------------------------


def roads() -> list[Bug]:
    """Bugs that reach the logs through several entry points and transports.

    Each is one root cause whose lines differ only by the road they took: the
    request's entry point (api.php vs index.php vs a job runner changes the
    bottom of the trace) and the transport (Logstash and @cee keep PSR-3
    placeholders in normalized_message, udp2log has only the rendered text and
    its context JSON). They come from the cases seen on a real train, and draw
    from their own random stream so the older bugs keep their events.
    """
    file_php = "includes/filerepo/file/File.php"
    return [
        Bug(
            "bg-strpos-empty-needle",
            "background",
            "error",
            "WARNING",
            "php",
            "PHP Warning: strpos(): Empty needle",
            frames=(
                CallSite(file_php, 2140),
                CallSite(file_php, 2140, "strpos(string, string)"),
            ),
            # The second in-app frame is the entry point's dispatch frame: ApiMain->executeAction
            # through api.php, MediaWiki->performAction through index.php, JobRunner in jobs.
            entries=(("api", 5), ("edit", 1), ("job", 1), ("rest", 1)),
            per_hour=6,
            stream="roads",
            trap="one bug through api.php, index.php, the job runner and rest.php: one signature",
        ),
        Bug(
            "bg-bagostuff-preferences",
            "background",
            "objectcache",
            "WARNING",
            "context",
            "BagOStuff::newFromRow: {count} preference items exceeded the limit of 500",
            entries=(("web", 2), ("api", 1)),
            per_hour=4,
            variables=(("n", _intr(501, 4000)),),
            placeholders={"count": "<n>"},
            stream="roads",
            trap="{count} kept in Logstash/ECS/@cee, rendered in udp2log: one signature",
        ),
        Bug(
            "bg-rdbms-lag-psr3",
            "background",
            "rdbms",
            "WARNING",
            "context",
            "server {db_server} has {lag} seconds of lag",
            entries=(("web", 1), ("api", 1), ("job", 1)),
            per_hour=5,
            variables=(("dbip", data.db_ip), ("lag", _intr(6, 40))),
            placeholders={"db_server": "<dbip>", "lag": "<lag>"},
            stream="roads",
            trap="placeholders in the first words, kept or rendered by transport: one signature",
        ),
        Bug(
            "bg-rdbms-lag-psr3-replica",
            "background",
            "rdbms",
            "WARNING",
            "context",
            "replica {db_server} stopped: {reason}",
            entries=(("job", 1),),
            per_hour=1,
            variables=(
                ("dbip", data.db_ip),
                ("r", _choice("IO thread not running", "SQL thread error 1062")),
            ),
            placeholders={"db_server": "<dbip>", "reason": "<r>"},
            stream="roads",
            trap="same channel and placeholder as bg-rdbms-lag-psr3, different words: stays apart",
        ),
    ]
