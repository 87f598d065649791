"""A small, real train for the web tests: logs ingested through the pipeline, deploy steps,
dblists and an owners file; plus hostile log lines for the XSS tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests.helpers import mw_line
from traintriage.core.timeparse import iso, parse_timestamp
from traintriage.ingest.pipeline import ingest
from traintriage.store.db import Store
from traintriage.store.trains import save_deploy_steps, save_membership
from traintriage.train.deploylog import DeployStep
from traintriage.train.groups import GroupMembership

OLD, NEW = "1.36.0-wmf.27", "1.36.0-wmf.28"
T0 = parse_timestamp("2021-01-19T12:00:00Z")  # wmf.28 reaches testwikis
PROMOTIONS = {"testwikis": T0, "group0": T0 + 3600, "group1": T0 + 26 * 3600}
AT = T0 + 30 * 3600  # group1 has run wmf.28 for 4 hours
GROUPS = {
    "testwikis": ["testwiki", "test2wiki"],
    "group0": ["mediawikiwiki", "officewiki", "metawiki"],
    "group1": ["commonswiki", "wikidatawiki", "dewiktionary", "frwikisource"],
    "group2": ["enwiki", "dewiki", "frwiki"],
}
OWNERS = """\
# web test owners
extension:Echo @growth-team #Notifications
includes/ @platform-team #MediaWiki-Core
"""

XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = "<img src=x onerror=window.__xss=1>"
XSS_SVG = '"><svg onload=window.__xss=1>'


@dataclass
class Train:
    db: str
    owners: str
    at: float
    new_sig: str = ""  # a NEW exception of @growth-team in wmf.28: no-go until reviewed
    stable_sigs: list[str] = field(default_factory=list)
    xss_sig: str = ""


def version_at(group: str, t: float) -> str:
    return NEW if group in PROMOTIONS and t >= PROMOTIONS[group] else OLD


def _steps() -> list[DeployStep]:
    def step(t: float, group: str, version: str) -> DeployStep:
        msg = f"{group} wikis to {version}" if group != "all" else f"all wikis to {version}"
        when = datetime.fromtimestamp(t, UTC)
        return DeployStep(
            when,
            ("testwikis", "group0", "group1", "group2") if group == "all" else (group,),
            version,
            "deployer",
            "forward",
            msg,
            "test",
            0,
        )

    steps = [step(T0 - 7 * 86400, "all", OLD)]
    steps += [step(t, g, NEW) for g, t in PROMOTIONS.items()]
    return steps


def _stable_lines(until: float) -> list[str]:
    """Two steady signatures on every wiki, every 20 minutes, in whichever version ran there."""
    lines = []
    n = 0
    t = T0 - 3 * 86400
    while t < until:
        for group, wikis in GROUPS.items():
            for wiki in wikis:
                for cls, msg, file in (
                    ("RuntimeException", "Cache miss for page 42", "includes/Cache.php:10"),
                    (
                        "Wikimedia\\Rdbms\\DBQueryError",
                        "Lock wait timeout exceeded",
                        "includes/libs/rdbms/Database.php:99",
                    ),
                ):
                    n += 1
                    lines.append(
                        mw_line(
                            ts=iso(t + (n * 97) % 1200),
                            version=version_at(group, t),
                            wiki=wiki,
                            req=f"s{n}",
                            host=f"mw{1300 + n % 9}",
                            cls=cls,
                            message=msg,
                            file=file,
                            frames=("includes/Bar.php(20): Bar->call()",),
                        )
                    )
        t += 1200
    return lines


def _new_lines() -> list[str]:
    """A NEW exception in wmf.28 (Echo): 40 requests on 5 wikis after group0 got it."""
    out = []
    for i in range(40):
        t = PROMOTIONS["group0"] + 600 + i * 2600
        wikis = [w for g in ("group0", "group1") if version_at(g, t) == NEW for w in GROUPS[g][:2]]
        wiki = wikis[i % len(wikis)]
        out.append(
            mw_line(
                ts=iso(t),
                version=NEW,
                wiki=wiki,
                req=f"n{i}",
                host=f"mw{1310 + i % 4}",
                cls="TypeError",
                message="Argument 1 passed to Echo\\Notifier::notify() must be of the type int, null given",
                file="extensions/Echo/includes/Notifier.php:77",
                frames=("extensions/Echo/includes/Hooks.php(88): Echo\\Notifier->notify()",),
            )
        )
    return out


def _xss_lines() -> list[str]:
    """A NEW error whose message, URL, wiki, trace and title carry HTML/JS payloads."""
    out = []
    wikis = GROUPS["group0"]
    for i in range(30):
        t = PROMOTIONS["group0"] + 900 + i * 2400
        wiki = wikis[i % len(wikis)] if i % 5 else f"{XSS_IMG}wiki"
        doc = json.loads(
            mw_line(
                ts=iso(t),
                version=NEW,
                wiki=wiki,
                req=f"x{i}",
                host=f"mw{1320 + i % 5}",
                cls=None,
                message=f"Hostile {XSS_SCRIPT} {XSS_IMG} {XSS_SVG} title",
                url="/wiki/X",
            )
        )
        doc["channel"] = "error"
        doc["url"] = f"javascript:window.__xss=1//{XSS_SVG}"
        doc["exception"] = {
            "class": "XssException",
            "message": f"Hostile {XSS_SCRIPT}",
            "file": f"/srv/mediawiki/php-{NEW}/includes/Xss.php:1",
            "trace": f"#0 /srv/mediawiki/php-{NEW}/includes/Xss.php(2): {XSS_IMG}\n#1 {XSS_SCRIPT} javascript:window.__xss=1",
        }
        out.append(json.dumps(doc))
    return out


def build_train(directory: Path, *, xss: bool = False, db: str | None = None) -> Train:
    """Write logs, ingest them into a fresh SQLite file (or the empty store at `db`, e.g. a
    PostgreSQL URL), record deploys and groups."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = _stable_lines(AT) + _new_lines() + (_xss_lines() if xss else [])
    lines.sort(key=lambda line: json.loads(line)["@timestamp"])
    log = directory / "errors.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = db or str(directory / "traintriage.db")
    owners = directory / "OWNERS"
    owners.write_text(OWNERS, encoding="utf-8")
    with Store(db) as store:
        ingest(store, [str(log)])
        save_membership(store, GroupMembership.from_lists(GROUPS), "test dblists")
        save_deploy_steps(store, _steps())
        train = Train(db, str(owners), AT)
        for sig, title in store.query("SELECT id, title FROM signatures"):
            if "Echo" in title:
                train.new_sig = sig
            elif "Hostile" in title:
                train.xss_sig = sig
            else:
                train.stable_sigs.append(sig)
    return train
