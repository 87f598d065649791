"""Weekly train stories and the bugs that drive them.

Four patterns repeat (A, B, C, D), modelled on the real 1.36.0-wmf.27..30
trains (domain.md §1.3 and Appendix):

* A: NEW fatal on group0 -> ``Revert "group0 wikis to V"``, backport, re-roll a
  day later; a Wikipedia-only fatal -> ``Revert "all wikis to V"`` that night.
* B: an unrelated single-host spike makes the conductor ``Rollback group0``;
  a new warning floods at >100/h after group1 -> group2 held until a backport.
* C: a Wikibase fatal -> ``Revert "group1 wikis to V"``, an enwiki-only fatal
  after group2 -> ``all wikis to <previous>``, both re-rolled the same day.
* D: a clean week; only warnings, deprecations and a slow regression.

Cycle 0 uses hand-written messages; later cycles synthesize fresh, distinct
ones so every label stays a different bug.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from traintriage_sim import data
from traintriage_sim.bugs import Bug, CallSite, _intr, background, roads
from traintriage_sim.train import (
    CONDUCTORS,
    REFERENCE_N,
    Hold,
    HotfixWindow,
    RolloutPlan,
    epoch_us,
    first_tuesday,
    version_names,
)
from traintriage_sim.wikis import WIKIPEDIAS, WIKIS


@dataclass
class Scenario:
    versions: list[str]
    timeline: RolloutPlan
    bugs: list[Bug]
    t_start: int
    t_end: int


@dataclass
class _Week:
    tl: RolloutPlan
    vi: int
    tuesday: dt.date
    k: int  # how many times this pattern ran before
    actor: str
    rng: random.Random
    used: set[str] = field(default_factory=set)
    n_synth: int = 0

    @property
    def v(self) -> str:
        return self.tl.versions[self.vi]

    @property
    def tag(self) -> str:
        return "wmf" + self.v.rsplit(".", 1)[1]

    def t(self, day: int, hhmm: str) -> int:
        return epoch_us(self.tuesday + dt.timedelta(days=day), hhmm)

    def backport(self, t: int, bugs: list[Bug], window: str) -> tuple[int, int]:
        self.tl.backports.append(HotfixWindow(t, self.vi, tuple(b.label for b in bugs), window))
        return (self.vi, t)

    def bug(self, name: str, kind: str, curated: dict[str, Any], category: str, **timing: Any) -> Bug:
        """Curated text on the first cycle, a synthesized distinct one afterwards."""
        spec = dict(curated) if self.k == 0 else {**curated, **_synth(category, self.rng, self.used)}
        if self.k:  # the curated name would describe a text this bug no longer has
            self.n_synth += 1
            name = f"{category}{self.n_synth}"
        label = f"{kind if kind != 'deprecation' else 'depr'}-{name}-{self.tag}"
        return Bug(label, kind, **spec, **timing)


# --- synthesized texts for later cycles -------------------------------------------------------

_EXTS = (
    ("GrowthExperiments", "HomepageModules\\Mentorship", "getMentor"),
    ("Echo", "EchoNotificationController", "notify"),
    ("CentralAuth", "CentralAuthUser", "loadState"),
    ("VisualEditor", "ApiVisualEditorEdit", "saveWikitext"),
    ("MobileFrontend", "MobileFormatter", "filterContent"),
    ("Kartographer", "Tag\\TagHandler", "parseArguments"),
    ("DiscussionTools", "CommentParser", "parse"),
    ("Translate", "MessageGroups\\MessageGroups", "getGroup"),
    ("ProofreadPage", "Page\\PageContentHandler", "serializeContent"),
    ("Score", "Score", "generateImages"),
    ("Math", "MathRenderer", "readFromDatabase"),
    ("Thanks", "ApiRevThank", "execute"),
    ("TemplateData", "TemplateDataBlob", "parse"),
    ("UploadWizard", "ApiQueryAllCampaigns", "execute"),
)
_CLASSES = (
    "InvalidArgumentException",
    "UnexpectedValueException",
    "LogicException",
    "RuntimeException",
    "DomainException",
    "OutOfBoundsException",
)
_PROBLEMS = (
    "unexpected null value",
    "invalid state transition",
    "missing required key 'data'",
    "cannot modify an immutable object",
    "expected array, got string",
    "unknown format 'v2'",
    "no such group",
    "bad offset",
)
_KEYS = ("wpSummary", "pageid", "revid", "ns", "lang", "variant", "tags", "mentor", "group", "token")
_APIS = (
    "Title::getPrefixedText with a non-string",
    "Hooks::run",
    "User::getRights",
    "Parser::getTitle",
    "Revision::getContent",
    "OutputPage::addWikiText",
    "WikiPage::getRevision",
    "Linker::link",
)


def _unique(rng: random.Random, used: set[str], make: Any) -> Any:
    for _ in range(1000):
        key, value = make()
        if key not in used:
            used.add(key)
            return value
    raise RuntimeError("ran out of distinct synthesized messages")


def _synth(category: str, rng: random.Random, used: set[str]) -> dict[str, Any]:
    def ext() -> tuple[str, str, str, str]:
        e, cls, m = rng.choice(_EXTS)
        return e, cls, m, f"extensions/{e}/includes/{cls.replace(chr(92), '/')}.php"

    if category == "exception":

        def make() -> tuple[str, dict[str, Any]]:
            e, cls, m, path = ext()
            exc, prob = rng.choice(_CLASSES), rng.choice(_PROBLEMS)
            msg = f"MediaWiki\\Extension\\{e}\\{cls}::{m}: {prob}"
            frames = (
                CallSite(path, rng.randrange(40, 900)),
                CallSite(
                    "includes/HookContainer/HookContainer.php",
                    333,
                    f"MediaWiki\\Extension\\{e}\\{cls}->{m}()",
                ),
            )
            return msg + exc, {
                "style": "exception",
                "message": msg,
                "exc_class": exc,
                "frames": frames,
                "variables": (),
                "detail": "",
                "placeholders": {},
            }

        return _unique(rng, used, make)
    if category in ("warning", "logspam"):

        def make() -> tuple[str, dict[str, Any]]:
            e, cls, m, path = ext()
            msg = f"PHP {rng.choice(('Warning', 'Notice'))}: Undefined index: {rng.choice(_KEYS)}"
            return msg + path, {
                "style": "php",
                "channel": "error",
                "message": msg,
                "exc_class": None,
                "frames": (CallSite(path, rng.randrange(40, 900)),),
                "variables": (),
                "detail": "",
                "deprecation": False,
                "placeholders": {},
            }

        return _unique(rng, used, make)
    if category == "deprecation":

        def make() -> tuple[str, dict[str, Any]]:
            e, cls, m, path = ext()
            api = rng.choice(_APIS)
            msg = (
                f"PHP Deprecated: Use of {api} was deprecated in MediaWiki 1.36. [Called from "
                f"MediaWiki\\Extension\\{e}\\{cls}::{m} in <P>/{path} at line <L0>]"
            )
            return api + e, {
                "style": "php",
                "channel": "error",
                "level": "WARNING",
                "message": msg,
                "exc_class": None,
                "frames": (CallSite(path, rng.randrange(40, 900)),),
                "variables": (),
                "detail": "",
                "deprecation": True,
                "placeholders": {},
            }

        return _unique(rng, used, make)
    if category == "free":

        def make() -> tuple[str, dict[str, Any]]:
            e, cls, m, _ = ext()
            prob = rng.choice(_PROBLEMS)
            return e + prob, {
                "style": "free",
                "channel": e,
                "message": f"{cls}::{m}: {prob} on <wiki> (id <n>)",
                "variables": (("n", _intr(1, 10_000_000)),),
                "exc_class": None,
                "frames": (),
                "detail": "",
                "placeholders": {},
            }

        return _unique(rng, used, make)
    raise ValueError(category)


# --- the four weekly patterns --------------------------------------------------------------------

_RC_TYPEERROR = dict(
    channel="exception",
    level="ERROR",
    style="exception",
    exc_class="TypeError",
    message="Argument 1 passed to MediaWiki\\Revision\\RevisionStore::getRevisionById() must be of the type int, "
    "null given, called in <P>/includes/changes/ChangesList.php on line <L1>",
    frames=(
        CallSite("includes/Revision/RevisionStore.php", 1450),
        CallSite(
            "includes/changes/ChangesList.php",
            612,
            "MediaWiki\\Revision\\RevisionStore->getRevisionById(NULL)",
        ),
        CallSite(
            "includes/changes/EnhancedChangesList.php",
            178,
            "ChangesList->insertDiffHist(string, RecentChange)",
        ),
        CallSite(
            "includes/specials/SpecialRecentChanges.php",
            451,
            "EnhancedChangesList->recentChangesLine(RecentChange, bool)",
        ),
        CallSite("includes/specialpage/SpecialPage.php", 600, "SpecialRecentChanges->execute(NULL)"),
    ),
    entries=(("rc", 1),),
)


def _pattern_a(w: _Week) -> list[Bug]:
    tl, a = w.tl, w.actor
    fix1, fix2 = w.t(1, "11:05"), w.t(2, "23:10")
    fatal = w.bug(
        "rc-typeerror",
        "new",
        _RC_TYPEERROR,
        "exception",
        per_hour=550,
        scale="story",
        backport=(w.vi, fix1),
        introduced=w.vi,
        note="NEW fatal that made the conductor revert group0; fixed by a backport next morning",
    )
    cite = w.bug(
        "cite-typeerror",
        "new",
        dict(
            channel="exception",
            level="ERROR",
            style="exception",
            exc_class="TypeError",
            message="Argument 2 passed to Cite\\ReferencesFormatter::formatRefsList() must be of the type array, null given, "
            "called in <P>/extensions/Cite/src/ReferencesFormatter.php on line <L1>",
            frames=(
                CallSite("extensions/Cite/src/ReferencesFormatter.php", 104),
                CallSite(
                    "extensions/Cite/src/ReferencesFormatter.php",
                    71,
                    "Cite\\ReferencesFormatter->formatRefsList(Parser, NULL, bool)",
                ),
                CallSite(
                    "extensions/Cite/src/Cite.php",
                    420,
                    "Cite\\ReferencesFormatter->formatReferences(Parser, array, bool, bool)",
                ),
                CallSite(
                    "includes/parser/Parser.php", 4293, "Cite\\Cite->checkRefsNoReferences(Parser, bool)"
                ),
            ),
            entries=(("web", 2), ("parsoid", 1)),
        ),
        "exception",
        wikis=WIKIPEDIAS,
        per_hour=60,
        scale="story",
        introduced=w.vi,
        backport=(w.vi, fix2),
        note="Wikipedia-only fatal, visible on the group1 Wikipedias (cawiki, hewiki) a day before group2; "
        'caused Revert "all wikis to V"',
    )
    w.backport(fix1, [fatal], "UTC morning")
    w.backport(fix2, [cite], "UTC late")
    tl.forward(w.t(0, "17:59"), a, 0, w.vi)
    tl.forward(w.t(0, "20:03"), a, 1, w.vi)
    tl.revert(w.t(0, "21:51"), a, cause=(fatal.label,), note="new fatal on group0")
    tl.forward(w.t(1, "15:21"), a, 1, w.vi)
    tl.forward(w.t(1, "20:25"), a, 2, w.vi)
    tl.forward(w.t(2, "20:03"), a, 3, w.vi)
    tl.revert(w.t(2, "21:28"), a, cause=(cite.label,), note="fatal spike on Wikipedias")
    tl.forward(w.t(3, "00:28"), a, 3, w.vi)
    ga = "extensions/GrowthExperiments/includes/HomepageModules/Mentorship.php"
    return [
        fatal,
        cite,
        w.bug(
            "growth-foreach",
            "new",
            dict(
                channel="error",
                level="ERROR",
                style="php",
                message="PHP Warning: Invalid argument supplied for foreach()",
                frames=(
                    CallSite(ga, 248),
                    CallSite(ga, 131, "GrowthExperiments\\HomepageModules\\Mentorship->getMentorInfo()"),
                ),
                entries=(("web", 1),),
            ),
            "warning",
            per_hour=6,
            introduced=w.vi,
            note="new warning, persists",
        ),
        w.bug(
            "translate-addwikitext",
            "deprecation",
            dict(
                channel="error",
                level="WARNING",
                style="php",
                deprecation=True,
                message="PHP Deprecated: Use of OutputPage::addWikiText was deprecated in MediaWiki 1.32. [Called from "
                "SpecialPageTranslation::showPage in <P>/extensions/Translate/tag/SpecialPageTranslation.php at line <L0>]",
                frames=(CallSite("extensions/Translate/tag/SpecialPageTranslation.php", 211),),
                entries=(("web", 1),),
            ),
            "deprecation",
            per_hour=12,
            introduced=w.vi,
            wikis=frozenset(
                {
                    "mediawikiwiki",
                    "metawiki",
                    "commonswiki",
                    "wikidatawiki",
                    "incubatorwiki",
                    "testwiki",
                    "foundationwiki",
                    "outreachwiki",
                    "specieswiki",
                }
            ),
            note="new deprecation: blocks the following week's train",
        ),
        w.bug(
            "centralauth-mid",
            "fixed",
            dict(
                channel="error",
                level="ERROR",
                style="php",
                message="PHP Notice: Trying to get property 'mId' of non-object",
                frames=(
                    CallSite("extensions/CentralAuth/includes/CentralAuthUser.php", 2261),
                    CallSite(
                        "extensions/CentralAuth/includes/CentralAuthHooks.php",
                        1210,
                        "CentralAuthUser->getId()",
                    ),
                ),
                entries=(("web", 1), ("api", 1)),
            ),
            "warning",
            per_hour=5,
            fixed=w.vi,
            note="old notice, fixed in this version",
        ),
        w.bug(
            "mcrouter-mw1384",
            "host-spike",
            dict(
                channel="memcached",
                level="ERROR",
                style="context",
                message='Memcached error for key "{memcached-key}" on server "{memcached-server}": '
                "SERVER HAS FAILED AND IS DISABLED UNTIL TIMED RETRY",
                entries=(("api", 1),),
                variables=(("pid", data.page_id),),
                placeholders={
                    "memcached-key": "<wiki>:pcache:idhash:<pid>-0!canonical",
                    "memcached-server": "127.0.0.1:11213",
                },
            ),
            "free",
            per_hour=300,
            scale="story",
            host="mw1384",
            window=(w.t(2, "09:12"), w.t(2, "09:42")),
            note="local mcrouter trouble on one host for 30 min; unrelated to the train",
        ),
    ]


def _pattern_b(w: _Week) -> list[Bug]:
    tl, a = w.tl, w.actor
    fix_exc, fix = w.t(2, "11:05"), w.t(2, "23:05")
    spike = w.bug(
        "opcache-mw1268",
        "host-spike",
        dict(
            channel="exception",
            level="ERROR",
            style="exception",
            exc_class="Error",
            message="Class 'MediaWiki\\HookContainer\\HookRunner' not found",
            frames=(
                CallSite("includes/MediaWiki.php", 580),
                CallSite("includes/MediaWiki.php", 542, "MediaWiki->performRequest()"),
            ),
            entries=(("web", 1),),
        ),
        "exception",
        per_hour=400,
        scale="story",
        host="mw1268",
        window=(w.t(0, "20:31"), w.t(0, "21:01")),
        note="opcache corruption on one app server during the group0 window; both versions hit by traffic; "
        "the conductor rolled group0 back for it",
    )
    getid = w.bug(
        "getid-null-echo",
        "new",
        dict(
            channel="exception",
            level="ERROR",
            style="exception",
            exc_class="Error",
            message="Call to a member function getId() on null",
            frames=(
                CallSite("extensions/Echo/includes/DiscussionParser.php", 131),
                CallSite(
                    "extensions/Echo/includes/DiscussionParser.php",
                    52,
                    "EchoDiscussionParser::generateEventsForRevision(MediaWiki\\Revision\\RevisionStoreRecord, bool)",
                ),
                CallSite(
                    "extensions/Echo/includes/EchoHooks.php",
                    602,
                    "EchoDiscussionParser::generateEventsForRevision(MediaWiki\\Revision\\RevisionStoreRecord, bool)",
                ),
            ),
            entries=(("edit", 1),),
        ),
        "exception",
        per_hour=40,
        scale="story",
        introduced=w.vi,
        backport=(w.vi, fix_exc),
        trap="same message as bg-getid-null-wikipage, different code site",
        note="NEW exception on group0 that the conductor missed at the group1 promotion; backported next morning",
    )
    spam = w.bug(
        "vector-nonnumeric",
        "logspam",
        dict(
            channel="error",
            level="ERROR",
            style="php",
            message="PHP Warning: A non-numeric value encountered",
            frames=(
                CallSite("skins/Vector/includes/SkinVector.php", 410),
                CallSite("skins/Vector/includes/SkinVector.php", 285, "SkinVector->getMenuProps()"),
            ),
            entries=(("web", 1),),
        ),
        "logspam",
        per_hour=400,
        scale="story",
        introduced=w.vi,
        backport=(w.vi, fix),
        note="new warning over 100/h once group1 runs it: group2 held until the backport",
    )
    w.backport(fix_exc, [getid], "UTC morning")
    w.backport(fix, [spam], "UTC late")
    tl.forward(w.t(0, "18:05"), a, 0, w.vi)
    tl.forward(w.t(0, "20:39"), a, 1, w.vi)
    tl.rollback_group0(
        w.t(0, "20:46"),
        a,
        w.vi - 1,
        cause=(spike.label,),
        note="error spike from one host; unrelated, re-rolled next day",
    )
    tl.forward(w.t(1, "13:10"), a, 1, w.vi)
    tl.forward(w.t(1, "20:15"), a, 2, w.vi)
    tl.holds.append(Hold(w.t(2, "20:00"), w.vi, "group2", f"held for logspam {spam.label}"))
    tl.forward(w.t(2, "23:40"), a, 3, w.vi)
    return [
        spike,
        getid,
        spam,
        w.bug(
            "html-multibyte",
            "regressed",
            dict(
                channel="error",
                level="ERROR",
                style="php",
                message="PHP Warning: htmlspecialchars(): Invalid multibyte sequence in argument",
                frames=(
                    CallSite("includes/Html.php", 528),
                    CallSite("includes/Html.php", 250, "htmlspecialchars(string)"),
                ),
                entries=(("web", 2), ("api", 1)),
            ),
            "warning",
            per_hour=3,
            regressed=w.vi,
            factor=10,
            note="old warning, ten times more frequent from this version on",
        ),
        w.bug(
            "centralauth-attach",
            "new",
            dict(
                channel="CentralAuth",
                level="WARNING",
                style="free",
                message="Global user '<user>' has no local account on <wiki>, attaching (uid <n>)",
                entries=(("web", 1), ("api", 1)),
                variables=(("user", data.user), ("n", _intr(1, 60_000_000))),
            ),
            "free",
            per_hour=4,
            introduced=w.vi,
            note="new free-text warning, persists",
        ),
        w.bug(
            "captcha-word",
            "fixed",
            dict(
                channel="error",
                level="ERROR",
                style="php",
                message="PHP Notice: Undefined index: wpCaptchaWord",
                frames=(
                    CallSite("extensions/ConfirmEdit/includes/SimpleCaptcha.php", 1022),
                    CallSite(
                        "extensions/ConfirmEdit/includes/SimpleCaptcha.php",
                        860,
                        "SimpleCaptcha->passCaptchaFromRequest(WebRequest, User)",
                    ),
                ),
                entries=(("edit", 1),),
            ),
            "warning",
            per_hour=4,
            fixed=w.vi,
            note="old notice, fixed in this version",
        ),
    ]


def _pattern_c(w: _Week) -> list[Bug]:
    tl, a = w.tl, w.actor
    fix1, fix2 = w.t(1, "18:05"), w.t(2, "18:10")
    wb = w.bug(
        "wikibase-storage",
        "new",
        dict(
            channel="exception",
            level="ERROR",
            style="exception",
            exc_class="Wikibase\\Lib\\Store\\StorageException",
            message="Failed to load entity <qid> from revision <rev>",
            frames=(
                CallSite("extensions/Wikibase/lib/includes/Store/Sql/WikiPageEntityMetaDataLookup.php", 233),
                CallSite(
                    "extensions/Wikibase/lib/includes/Store/Sql/WikiPageEntityRevisionLookup.php",
                    118,
                    "Wikibase\\Lib\\Store\\Sql\\WikiPageEntityMetaDataLookup->loadRevisionInformation(array, string)",
                ),
                CallSite(
                    "extensions/Wikibase/repo/includes/Api/GetEntities.php",
                    281,
                    "Wikibase\\Lib\\Store\\Sql\\WikiPageEntityRevisionLookup->getEntityRevision(Wikibase\\DataModel\\Entity\\ItemId, int, string)",
                ),
            ),
            entries=(("wbapi", 2), ("api", 1)),
            variables=(("qid", data.qid), ("rev", data.rev_id)),
        ),
        "exception",
        wikis=frozenset({"wikidatawiki", "commonswiki", "testwikidatawiki", "testcommonswiki"}),
        per_hour=120,
        scale="story",
        introduced=w.vi,
        backport=(w.vi, fix1),
        note='NEW Wikibase fatal on group1: Revert "group1 wikis to V", backport, re-roll',
    )
    pt = w.bug(
        "pagetriage-getuser",
        "new",
        dict(
            channel="exception",
            level="ERROR",
            style="exception",
            exc_class="Error",
            message="Call to a member function getUser() on null",
            frames=(
                CallSite("extensions/PageTriage/includes/PageTriageUtil.php", 512),
                CallSite(
                    "extensions/PageTriage/includes/Api/ApiPageTriageList.php",
                    96,
                    "MediaWiki\\Extension\\PageTriage\\PageTriageUtil::getUserInfo(array)",
                ),
            ),
            entries=(("api", 1), ("web", 1)),
        ),
        "exception",
        wikis=frozenset({"enwiki", "testwiki"}),
        per_hour=80,
        scale="story",
        introduced=w.vi,
        backport=(w.vi, fix2),
        note="enwiki-only fatal, invisible before group2: all wikis rolled back to the previous version",
    )
    perf = w.bug(
        "dbperf-writes",
        "new",
        dict(
            channel="DBPerformance",
            level="WARNING",
            style="free",
            message="Expectation (writes <= 0) by MediaWiki::main not met (actual: <n>): [transaction <h> writes to <ip> (<wiki>)]",
            entries=(("web", 1),),
            variables=(("n", _intr(1, 9)), ("h", lambda r: data.hex_id(r, 6)), ("ip", data.db_ip)),
        ),
        "free",
        per_hour=10,
        introduced=w.vi,
        backport=(w.vi, fix2),
        note="new free-text warning, backported",
    )
    w.backport(fix1, [wb], "UTC afternoon")
    w.backport(fix2, [pt, perf], "UTC afternoon")
    tl.forward(w.t(0, "13:12"), a, 0, w.vi)
    tl.forward(w.t(0, "14:17"), a, 1, w.vi)
    tl.forward(w.t(1, "14:25"), a, 2, w.vi)
    tl.revert(w.t(1, "14:36"), a, cause=(wb.label,), note="new fatal on Wikidata")
    tl.forward(w.t(1, "19:07"), a, 2, w.vi)
    tl.forward(w.t(2, "13:43"), a, 3, w.vi)
    tl.all_to(w.t(2, "14:21"), a, w.vi - 1, cause=(pt.label,), note="fatal on enwiki")
    tl.forward(w.t(2, "19:30"), a, 3, w.vi)
    return [
        wb,
        pt,
        perf,
        w.bug(
            "links-lockwait",
            "regressed",
            dict(
                channel="exception",
                level="ERROR",
                style="exception",
                exc_class="Wikimedia\\Rdbms\\DBQueryError",
                message="Error 1205: Lock wait timeout exceeded; try restarting transaction (<dbip>)",
                detail="\nFunction: LinksUpdate::updateLinksTimestamp\nQuery: UPDATE  `page` SET page_links_updated = "
                "'<ts>' WHERE page_id = <pid>\n",
                frames=(
                    CallSite("includes/libs/rdbms/database/Database.php", 1713),
                    CallSite(
                        "includes/libs/rdbms/database/Database.php",
                        1688,
                        "Wikimedia\\Rdbms\\Database->getQueryExceptionAndLog(string, int, string, string)",
                    ),
                    CallSite(
                        "includes/deferred/LinksUpdate.php",
                        1190,
                        "Wikimedia\\Rdbms\\Database->update(string, array, array, string)",
                    ),
                    CallSite("includes/jobqueue/jobs/RefreshLinksJob.php", 302, "LinksUpdate->doUpdate()"),
                ),
                entries=(("job", 1),),
                caught_by="other",
                variables=(("dbip", data.db_ip), ("ts", data.ts14), ("pid", data.page_id)),
            ),
            "exception",
            per_hour=3,
            regressed=w.vi,
            factor=8,
            note="old DB error, eight times more frequent: nobody noticed",
        ),
        w.bug(
            "math-hooksrun",
            "deprecation",
            dict(
                channel="error",
                level="WARNING",
                style="php",
                deprecation=True,
                message="PHP Deprecated: Use of Hooks::run was deprecated in MediaWiki 1.35. [Called from "
                "MediaWiki\\Extension\\Math\\MathRenderer::readFromDatabase in <P>/extensions/Math/src/MathRenderer.php at line <L0>]",
                frames=(CallSite("extensions/Math/src/MathRenderer.php", 318),),
                entries=(("web", 1),),
            ),
            "deprecation",
            per_hour=20,
            introduced=w.vi,
            note="new deprecation: blocks the following week's train",
        ),
        w.bug(
            "flow-contentmodel",
            "fixed",
            dict(
                channel="exception",
                level="ERROR",
                style="exception",
                exc_class="UnexpectedValueException",
                message="Unknown content model 'flow-board' for page <pid>",
                frames=(
                    CallSite("includes/content/ContentHandlerFactory.php", 247),
                    CallSite(
                        "includes/content/ContentHandler.php",
                        255,
                        "MediaWiki\\Content\\ContentHandlerFactory->getContentHandler(string)",
                    ),
                ),
                entries=(("web", 1),),
                variables=(("pid", data.page_id),),
            ),
            "exception",
            per_hour=3,
            fixed=w.vi,
            note="old exception, fixed in this version",
        ),
    ]


def _pattern_d(w: _Week) -> list[Bug]:
    tl, a = w.tl, w.actor
    fix = w.t(1, "11:10")
    notice = w.bug(
        "mf-undefined-title",
        "new",
        dict(
            channel="error",
            level="ERROR",
            style="php",
            message="PHP Notice: Undefined variable: title",
            frames=(
                CallSite("extensions/MobileFrontend/includes/MobileFrontendHooks.php", 230),
                CallSite(
                    "includes/HookContainer/HookContainer.php",
                    333,
                    "MobileFrontendHooks::onBeforePageDisplay(OutputPage, Skin)",
                ),
            ),
            entries=(("web", 1),),
        ),
        "warning",
        per_hour=8,
        introduced=w.vi,
        backport=(w.vi, fix),
        note="new notice, fixed by a backport the next morning",
    )
    w.backport(fix, [notice], "UTC morning")
    tl.forward(w.t(0, "18:04"), a, 0, w.vi)
    tl.forward(w.t(0, "20:29"), a, 1, w.vi)
    tl.forward(w.t(1, "20:12"), a, 2, w.vi)
    tl.forward(w.t(2, "20:06"), a, 3, w.vi)
    group2 = frozenset(x.db for x in WIKIS if x.group == "group2")
    return [
        notice,
        w.bug(
            "abusefilter-pregmatch",
            "regressed",
            dict(
                channel="error",
                level="ERROR",
                style="php",
                message="PHP Warning: preg_match(): Compilation failed: missing closing parenthesis at offset <n>",
                frames=(
                    CallSite("extensions/AbuseFilter/includes/Parser/AbuseFilterParser.php", 1288),
                    CallSite(
                        "extensions/AbuseFilter/includes/Parser/AbuseFilterParser.php",
                        1190,
                        "preg_match(string, string)",
                    ),
                ),
                entries=(("edit", 1),),
                variables=(("n", _intr(3, 60)),),
            ),
            "warning",
            per_hour=1,
            regressed=w.vi,
            factor=15,
            note="old warning, fifteen times more frequent",
        ),
        w.bug(
            "pageimages-deprecated",
            "deprecation",
            dict(
                channel="error",
                level="WARNING",
                style="php",
                deprecation=True,
                message="PHP Deprecated: Use of WikiPage::getRevision was deprecated in MediaWiki 1.35. [Called from "
                "PageImages\\Hooks\\LinksUpdateHookHandler::getPageImageCandidates in "
                "<P>/extensions/PageImages/includes/Hooks/LinksUpdateHookHandler.php at line <L0>]",
                frames=(CallSite("extensions/PageImages/includes/Hooks/LinksUpdateHookHandler.php", 141),),
                entries=(("job", 1),),
            ),
            "deprecation",
            per_hour=15,
            introduced=w.vi,
            note="new deprecation: blocks the following week's train",
        ),
        w.bug(
            "revid-invalid-job",
            "new",
            dict(
                channel="exception",
                level="ERROR",
                style="exception",
                exc_class="InvalidArgumentException",
                message="Invalid revision ID: <rev>",
                frames=(
                    CallSite("includes/jobqueue/jobs/HTMLCacheUpdateJob.php", 88),
                    CallSite("includes/jobqueue/JobRunner.php", 379, "HTMLCacheUpdateJob->run()"),
                ),
                entries=(("job", 1),),
                caught_by="other",
                variables=(("rev", data.rev_id),),
            ),
            "exception",
            wikis=group2,
            per_hour=0.8,
            scale="story",
            introduced=w.vi,
            note="rare NEW exception on group2-only code: appears only after the last promotion",
        ),
        w.bug(
            "memcached-conn",
            "fixed",
            dict(
                channel="memcached",
                level="ERROR",
                style="context",
                message='Memcached error for key "{memcached-key}" on server "{memcached-server}": CONNECTION FAILURE',
                entries=(("job", 1),),
                variables=(("n", _intr(1, 9_000_000)),),
                placeholders={
                    "memcached-key": "<wiki>:page-restrictions:v1:<n>",
                    "memcached-server": "127.0.0.1:11213",
                },
            ),
            "free",
            per_hour=4,
            fixed=w.vi,
            note="old memcached error, fixed in this version",
        ),
    ]


_PATTERNS = (_pattern_a, _pattern_b, _pattern_c, _pattern_d)


def build(start: dt.date, weeks: int, seed: int) -> Scenario:
    versions = version_names(start, weeks)
    tl = RolloutPlan(versions)
    bugs = background()
    tue = first_tuesday(start)
    rng = random.Random(f"{seed}/scenario")
    used: set[str] = set()
    n1 = int(versions[1].rsplit(".", 1)[1])
    for w in range(weeks):
        actor = CONDUCTORS[(n1 + w - REFERENCE_N) % len(CONDUCTORS)]
        week = _Week(tl, w + 1, tue + dt.timedelta(days=7 * w), w // 4, actor, rng, used)
        bugs += _PATTERNS[w % 4](week)
    bugs += roads()  # their own random stream: the bugs above keep their events
    t0 = epoch_us(start)
    t1 = epoch_us(tue + dt.timedelta(days=7 * weeks))
    labels = [b.label for b in bugs]
    assert len(labels) == len(set(labels)), "duplicate bug labels"
    return Scenario(versions, tl, bugs, t0, t1)
