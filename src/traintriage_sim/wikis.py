"""Wikis, app servers, traffic and request URLs of the simulated farm.

Error rates are defined per request, so every event count can be checked
against the exposure that the same traffic model writes to exposure.csv.
Group membership follows mediawiki-config (group0.dblist also lists the test
wikis); in exposure and in the simulation the groups are disjoint, a wiki
belonging to the first stage that lists it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from traintriage_sim import data

GROUPS = ("testwikis", "group0", "group1", "group2")
AVG_REQUESTS_PER_HOUR = 60_000_000
"""App-server requests per hour across all wikis, daily average [synthesized]."""


@dataclass(frozen=True, slots=True)
class Wiki:
    db: str
    group: str
    server: str
    shard: str
    weight: float  # share of all requests, sums to 1
    family: str  # wikipedia | wiktionary | wikiquote | ... | special | closed | test


_RAW: tuple[tuple[str, str, str, str, float, str], ...] = (
    # testwikis
    ("testwiki", "testwikis", "test.wikipedia.org", "s3", 0.03, "test"),
    ("testwikidatawiki", "testwikis", "test.wikidata.org", "s3", 0.015, "test"),
    ("testcommonswiki", "testwikis", "test-commons.wikimedia.org", "s3", 0.008, "test"),
    # group0: mediawiki.org, private/special and closed wikis
    ("test2wiki", "group0", "test2.wikipedia.org", "s3", 0.01, "test"),
    ("mediawikiwiki", "group0", "www.mediawiki.org", "s3", 1.4, "special"),
    ("officewiki", "group0", "office.wikimedia.org", "s3", 0.04, "special"),
    ("collabwiki", "group0", "collab.wikimedia.org", "s3", 0.005, "special"),
    *(
        (db, "group0", host, "s3", 0.004, "closed")
        for db, host in (
            ("aawiki", "aa.wikipedia.org"),
            ("aawikibooks", "aa.wikibooks.org"),
            ("aawiktionary", "aa.wiktionary.org"),
            ("chowiki", "cho.wikipedia.org"),
            ("howiki", "ho.wikipedia.org"),
            ("hzwiki", "hz.wikipedia.org"),
            ("kjwiki", "kj.wikipedia.org"),
            ("krwiki", "kr.wikipedia.org"),
            ("muswiki", "mus.wikipedia.org"),
            ("mhwiktionary", "mh.wiktionary.org"),
            ("iiwiki", "ii.wikipedia.org"),
            ("ngwiki", "ng.wikipedia.org"),
            ("tokiponawiki", "tokipona.wikipedia.org"),
            ("dkwiktionary", "dk.wiktionary.org"),
            ("alswikibooks", "als.wikibooks.org"),
            ("angwikisource", "ang.wikisource.org"),
        )
    ),
    # group1: non-Wikipedias plus two Wikipedias
    ("wikidatawiki", "group1", "www.wikidata.org", "s8", 14.0, "special"),
    ("commonswiki", "group1", "commons.wikimedia.org", "s4", 7.5, "special"),
    ("metawiki", "group1", "meta.wikimedia.org", "s7", 0.8, "special"),
    ("loginwiki", "group1", "login.wikimedia.org", "s7", 0.8, "special"),
    ("specieswiki", "group1", "species.wikimedia.org", "s3", 0.15, "special"),
    ("foundationwiki", "group1", "foundation.wikimedia.org", "s3", 0.02, "special"),
    ("incubatorwiki", "group1", "incubator.wikimedia.org", "s3", 0.03, "special"),
    ("outreachwiki", "group1", "outreach.wikimedia.org", "s3", 0.01, "special"),
    ("sourceswiki", "group1", "wikisource.org", "s3", 0.02, "wikisource"),
    ("cawiki", "group1", "ca.wikipedia.org", "s7", 0.45, "wikipedia"),
    ("hewiki", "group1", "he.wikipedia.org", "s7", 0.55, "wikipedia"),
    *(
        (
            f"{lang}{fam}",
            "group1",
            f"{lang}.{fam}.org",
            "s2" if (lang, fam) == ("en", "wiktionary") else "s3",
            w,
            fam,
        )
        for lang, fam, w in (
            ("en", "wiktionary", 1.6),
            ("fr", "wiktionary", 0.4),
            ("de", "wiktionary", 0.25),
            ("mg", "wiktionary", 0.05),
            ("ru", "wiktionary", 0.1),
            ("pl", "wiktionary", 0.08),
            ("ja", "wiktionary", 0.06),
            ("zh", "wiktionary", 0.05),
            ("en", "wikiquote", 0.25),
            ("de", "wikiquote", 0.04),
            ("it", "wikiquote", 0.05),
            ("ru", "wikiquote", 0.03),
            ("en", "wikisource", 0.3),
            ("de", "wikisource", 0.08),
            ("fr", "wikisource", 0.08),
            ("pl", "wikisource", 0.03),
            ("en", "wikibooks", 0.25),
            ("de", "wikibooks", 0.05),
            ("en", "wikivoyage", 0.15),
            ("de", "wikivoyage", 0.06),
            ("en", "wikinews", 0.05),
            ("en", "wikiversity", 0.05),
            ("de", "wikiversity", 0.02),
            ("fr", "wikiversity", 0.02),
            ("es", "wikibooks", 0.03),
        )
    ),
    # group2: all other Wikipedias
    *(
        (f"{lang}wiki", "group2", f"{lang}.wikipedia.org", shard, w, "wikipedia")
        for lang, shard, w in (
            ("en", "s1", 38.0),
            ("de", "s5", 6.0),
            ("fr", "s6", 4.2),
            ("ja", "s6", 4.0),
            ("es", "s7", 3.5),
            ("ru", "s6", 3.2),
            ("it", "s2", 2.2),
            ("zh", "s2", 2.0),
            ("pt", "s2", 1.5),
            ("pl", "s2", 1.2),
            ("nl", "s2", 0.8),
            ("fa", "s7", 0.8),
            ("ar", "s7", 0.7),
            ("sv", "s2", 0.5),
            ("uk", "s7", 0.5),
            ("id", "s3", 0.5),
            ("tr", "s2", 0.5),
            ("vi", "s7", 0.4),
            ("ko", "s7", 0.4),
            ("cs", "s2", 0.4),
            ("hu", "s7", 0.3),
            ("fi", "s2", 0.3),
            ("simple", "s3", 0.3),
            ("no", "s2", 0.2),
            ("ro", "s7", 0.2),
            ("th", "s3", 0.2),
            ("el", "s3", 0.15),
            ("da", "s3", 0.12),
            ("bg", "s3", 0.1),
            ("sr", "s5", 0.1),
            ("ceb", "s5", 0.05),
            ("eo", "s3", 0.04),
        )
    ),
)


def _build() -> tuple[Wiki, ...]:
    total = sum(r[4] for r in _RAW)
    return tuple(Wiki(db, g, srv, shard, w / total, fam) for db, g, srv, shard, w, fam in _RAW)


WIKIS: tuple[Wiki, ...] = _build()
WIKI_INDEX: dict[str, int] = {w.db: i for i, w in enumerate(WIKIS)}
GROUP_WEIGHT: tuple[float, ...] = tuple(sum(w.weight for w in WIKIS if w.group == g) for g in GROUPS)
WIKIPEDIAS: frozenset[str] = frozenset(w.db for w in WIKIS if w.family == "wikipedia") | {
    "testwiki",
    "test2wiki",
}


# --- app servers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    servergroup: str
    ip: bytes  # IPv4, 4 bytes: part of mod_unique_id request ids
    php: str


_SG_RANGES = (
    ("parsoid", 1250, 1265),
    ("appserver", 1266, 1275),
    ("api_appserver", 1276, 1292),
    ("jobrunner", 1293, 1311),
    ("api_appserver", 1312, 1318),
    ("appserver", 1319, 1333),
    ("jobrunner", 1334, 1337),
    ("api_appserver", 1338, 1348),
    ("appserver", 1349, 1379),
    ("api_appserver", 1380, 1413),
    ("appserver", 1414, 1450),
)
_PHP = (
    "7.2.34-18+0~20210223.60+debian10~1.gbpb21322+wmf2",
    "7.2.31-1+0~20200514.41+debian9~1.gbpe2a56b+wmf1",
)


def _hosts() -> tuple[Host, ...]:
    out = []
    for sg, lo, hi in _SG_RANGES:
        for n in range(lo, hi + 1):
            ip = bytes((10, 64, (n % 4) * 16, 10 + n % 200))
            out.append(Host(f"mw{n}", sg, ip, _PHP[1] if n % 9 == 0 else _PHP[0]))
    return tuple(out)


HOSTS: tuple[Host, ...] = _hosts()
HOST_INDEX: dict[str, int] = {h.name: i for i, h in enumerate(HOSTS)}

ENTRY_SERVERGROUP = {
    "web": "appserver",
    "rc": "appserver",
    "contribs": "appserver",
    "edit": "appserver",
    "search": "appserver",
    "api": "api_appserver",
    "wbapi": "api_appserver",
    "rest": "api_appserver",
    "job": "jobrunner",
    "parsoid": "parsoid",
}
HOSTS_BY_ENTRY: dict[str, tuple[int, ...]] = {
    e: tuple(i for i, h in enumerate(HOSTS) if h.servergroup == sg) for e, sg in ENTRY_SERVERGROUP.items()
}


# --- traffic -------------------------------------------------------------------------------


def diurnal(epoch_hour: int) -> float:
    """Relative load of one UTC hour: evening-Europe peak, slightly quieter weekends."""
    h = epoch_hour % 24
    dow = (epoch_hour // 24 + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    f = 1.0 + 0.3 * math.cos(2 * math.pi * (h - 16) / 24)
    return f * 0.88 if dow >= 5 else f


# --- request URLs --------------------------------------------------------------------------


def _q(s: str) -> str:
    return quote(s, safe=":/()!,*'")


def _url(entry: str, wiki: Wiki, rng: random.Random) -> tuple[str, str, str | None]:
    """(url, http_method, referrer) for a request of this kind on this wiki."""
    t = _q(data.title(rng))
    base = f"https://{wiki.server}"
    ref_search = rng.choice(("https://www.google.com/", None, None, f"{base}/"))
    if entry == "web":
        return rng.choice(
            (
                (f"/wiki/{t}", "GET", ref_search),
                (f"/w/index.php?title={t}&action=history", "GET", f"{base}/wiki/{t}"),
                (f"/w/index.php?title={t}&oldid={data.rev_id(rng)}", "GET", None),
                (f"/w/index.php?title={t}&action=info", "GET", f"{base}/wiki/{t}"),
            )
        )
    if entry == "rc":
        return rng.choice(
            (
                (
                    "/w/index.php?title=Special:RecentChanges&days=30&limit=500&enhanced=1",
                    "GET",
                    f"{base}/wiki/Main_Page",
                ),
                (
                    "/wiki/Special:RecentChanges?hidebots=1&limit=100&days=7&enhanced=1&urlversion=2",
                    "GET",
                    None,
                ),
                (f"/w/index.php?title=Special:RecentChangesLinked&target={t}", "GET", None),
            )
        )
    if entry == "contribs":
        return rng.choice(
            (
                (
                    f"/w/index.php?title=Special:Contributions&target={data.client_ip(rng)}&limit=50",
                    "GET",
                    None,
                ),
                (
                    f"/wiki/Special:Contributions/{_q(data.user(rng).replace(' ', '_'))}",
                    "GET",
                    f"{base}/wiki/{t}",
                ),
                (f"/w/index.php?title=Special:Log&user={_q(data.user(rng))}&type=block", "GET", None),
            )
        )
    if entry == "edit":
        return (f"/w/index.php?title={t}&action=submit", "POST", f"{base}/w/index.php?title={t}&action=edit")
    if entry == "search":
        return (
            f"/w/index.php?search={_q(data.query(rng))}&title=Special:Search&go=Go",
            "GET",
            f"{base}/wiki/{t}",
        )
    if entry == "api":
        return rng.choice(
            (
                ("/w/api.php", "POST", None),
                (
                    f"/w/api.php?action=query&format=json&prop=revisions&titles={t}&rvprop=content",
                    "GET",
                    None,
                ),
                (
                    f"/w/api.php?action=query&list=usercontribs&ucuser={_q(data.user(rng))}&format=json",
                    "GET",
                    None,
                ),
                (
                    "/w/api.php?action=query&meta=userinfo&uiprop=options&format=json",
                    "GET",
                    f"{base}/wiki/{t}",
                ),
                ("/w/api.php?action=visualeditoredit&format=json", "POST", f"{base}/wiki/{t}?veaction=edit"),
            )
        )
    if entry == "wbapi":
        return rng.choice(
            (
                (f"/w/api.php?action=wbgetentities&ids={data.qid(rng)}&format=json", "GET", None),
                (
                    f"/w/api.php?action=wbsearchentities&search={_q(data.query(rng))}&language=en&format=json",
                    "GET",
                    None,
                ),
            )
        )
    if entry == "rest":
        return rng.choice(
            (
                (f"/w/rest.php/v1/page/{t}/history", "GET", None),
                (f"/w/rest.php/v1/search/page?q={_q(data.query(rng))}&limit=10", "GET", f"{base}/"),
            )
        )
    if entry == "parsoid":
        return rng.choice(
            (
                (f"/w/rest.php/{wiki.server}/v3/page/pagebundle/{t}/{data.rev_id(rng)}", "GET", None),
                (f"/w/rest.php/{wiki.server}/v3/transform/wikitext/to/html/{t}", "POST", None),
            )
        )
    if entry == "job":
        return ("/rpc/RunSingleJob.php", "POST", None)
    raise ValueError(f"unknown entry kind {entry!r}")


def url_pool(entry: str, wiki: Wiki, seed: int, size: int = 16) -> list[tuple[str, str, str | None]]:
    """A small fixed set of URLs per (entry, wiki): seeded by name so build order never matters."""
    rng = random.Random(f"{seed}/url/{entry}/{wiki.db}")
    return [_url(entry, wiki, rng) for _ in range(size)]


# --- dblists -------------------------------------------------------------------------------


def write_dblists(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for g in GROUPS:
        members = [w.db for w in WIKIS if w.group == g]
        head = [f"# {g}.dblist (traintriage simulator)"]
        if g == "group0":
            head.append("# Like operations/mediawiki-config, group0 also lists the test wikis.")
            members = [w.db for w in WIKIS if w.group == "testwikis"] + members
        (directory / f"{g}.dblist").write_text("\n".join(head + sorted(members)) + "\n", encoding="utf-8")
    (directory / "all.dblist").write_text("\n".join(sorted(w.db for w in WIKIS)) + "\n", encoding="utf-8")
