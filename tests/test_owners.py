"""Ownership: the owners file format, glob semantics, resolution order, bulk routing, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import mw_line
from traintriage.ingest.pipeline import ingest
from traintriage.services.ownership import owner_of_signature, route_many
from traintriage.store.db import Store
from traintriage.store.owner_reads import signatures_by_events
from traintriage.store.reads import signature_detail
from traintriage.triage.owners import (
    OwnersError,
    OwnersFile,
    default_owners_path,
    load_owners,
    owner_path,
    parse_owners,
    route,
    signature_paths,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "OWNERS"
V = "/srv/mediawiki/php-1.36.0-wmf.30/"


def owners(text: str) -> OwnersFile:
    parsed = parse_owners(text)
    assert parsed.errors == (), parsed.errors
    return parsed


def team_for(rules: str, path: str) -> str | None:
    return route(owners(rules), paths=[path], channel="exception", exc_class=None).team


# --- parsing ------------------------------------------------------------------------------


def test_parse_good_lines_kinds_projects_comments() -> None:
    parsed = owners(
        "# header comment\n"
        "\n"
        "includes/changes/**   @growth-team  #MediaWiki-Recent-changes\n"
        "extension:Echo @growth-team #Notifications   # trailing comment\n"
        "  skin:Vector @web-team\n"
        "class:Wikimedia\\Rdbms\\DBQueryError @data-persistence #DBA\n"
        "channel:memcached @sre/serviceops\n"
        "includes/MediaWiki.php -\n"
    )
    got = [(r.line, r.kind, r.value, r.team, r.project) for r in parsed.rules]
    assert got == [
        (3, "path", "includes/changes/**", "@growth-team", "MediaWiki-Recent-changes"),
        (4, "extension", "Echo", "@growth-team", "Notifications"),
        (5, "skin", "Vector", "@web-team", None),
        (6, "class", "Wikimedia\\Rdbms\\DBQueryError", "@data-persistence", "DBA"),
        (7, "channel", "memcached", "@sre/serviceops", None),
        (8, "path", "includes/MediaWiki.php", "-", None),
    ]
    assert parsed.rules[5].owner is None
    assert parsed.counts() == {"path": 2, "extension": 1, "skin": 1, "class": 1, "channel": 1}


def test_parse_bad_lines_reported_with_numbers_good_lines_kept() -> None:
    text = "\n".join(
        [
            "includes/api/ @platform",  # 1 ok
            "includes/Foo.php",  # 2 no team
            "includes/Bar.php growth-team",  # 3 team without @
            "includes/Baz.php @a #Tag extra",  # 4 too many fields
            "extension: @a",  # 5 empty name
            "extension:Echo/includes @a",  # 6 a name, not a path
            "repo:Echo @a",  # 7 unknown kind
            "**  @a",  # 8 catch-all
            "!includes/x.php @a",  # 9 negation
            "includes/y.php - #Tag",  # 10 nobody with a project
            "includes/z.php @a Tag",  # 11 project without '#'
            "skin:Vector @web-team",  # 12 ok
        ]
    )
    parsed = parse_owners(text, source="OWNERS")
    assert [r.line for r in parsed.rules] == [1, 12]
    assert [line for line, _ in parsed.errors] == list(range(2, 12))
    reasons = dict(parsed.errors)
    assert "no team" in reasons[2]
    assert "@team-name" in reasons[3]
    assert "too many fields" in reasons[4]
    assert "nothing after 'extension:'" in reasons[5]
    assert "has no '/'" in reasons[6]
    assert "unknown matcher 'repo:'" in reasons[7]
    assert "catch-all" in reasons[8]
    assert "negation" in reasons[9]
    assert "cannot name a project" in reasons[10]
    assert "not a project tag" in reasons[11]
    assert parsed.error_lines()[0] == f"OWNERS:2: {reasons[2]}"
    assert "bad pattern" in parse_owners("includes/[z-a]/ @t").errors[0][1]


def test_load_owners_reads_files_and_reports_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "OWNERS"
    path.write_text("\ufeffextension:Echo @growth-team\n", encoding="utf-8")
    assert load_owners(path).rules[0].matcher == "extension:Echo"
    assert load_owners(path).source == str(path)
    with pytest.raises(OwnersError, match="no such file"):
        load_owners(tmp_path / "missing")
    (tmp_path / "latin1").write_bytes(b"includes/\xe9 @a\n")
    with pytest.raises(OwnersError, match="cannot read"):
        load_owners(tmp_path / "latin1")


def test_example_owners_file_is_valid() -> None:
    parsed = load_owners(EXAMPLE)
    assert parsed.errors == ()
    assert len(parsed.rules) > 40


def test_default_owners_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRAINTRIAGE_OWNERS", raising=False)
    assert default_owners_path() is None
    (tmp_path / "OWNERS").write_text("")
    assert default_owners_path() == "OWNERS"
    monkeypatch.setenv("TRAINTRIAGE_OWNERS", "/etc/missing/OWNERS")
    assert default_owners_path() == "/etc/missing/OWNERS"  # a typo must fail loudly, not fall back


# --- glob semantics -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("includes/changes/", "includes/changes/ChangesList.php", True),
        ("includes/changes/", "includes/changes/sub/X.php", True),
        ("includes/changes/", "includes/changesfoo/X.php", False),
        ("includes/changes", "includes/changes/ChangesList.php", True),  # a literal last segment covers a dir
        ("includes/changes/**", "includes/changes/a/b/X.php", True),
        ("includes/api/*", "includes/api/ApiMain.php", True),
        ("includes/api/*", "includes/api/query/ApiQuery.php", False),  # CODEOWNERS: one level only
        ("includes/", "extensions/Echo/includes/X.php", False),  # a '/' anchors at the deploy root
        ("/includes/", "includes/X.php", True),
        ("**/includes/", "extensions/Echo/includes/X.php", True),
        ("Hooks.php", "extensions/Echo/includes/Hooks.php", True),  # no '/': any depth
        ("*.js", "resources/src/x.js", True),
        ("*.js", "resources/src/x.json", False),
        ("includes/*/Foo.php", "includes/a/Foo.php", True),
        ("includes/*/Foo.php", "includes/a/b/Foo.php", False),
        ("includes/**/Foo.php", "includes/a/b/Foo.php", True),
        ("includes/**/Foo.php", "includes/Foo.php", True),
        ("includes/Revision/Revision?tore.php", "includes/Revision/RevisionStore.php", True),
        ("includes/[Rr]evision/", "includes/revision/X.php", True),
        ("includes/[!R]evision/", "includes/Revision/X.php", False),
        ("includes/EditPage.php", "includes/EditPage.php", True),
        ("includes/EditPage.php", "includes/EditPage.phpx", False),
        ("extensions/Echo/", V + "extensions/Echo/includes/X.php", True),  # version-stripped first
    ],
)
def test_path_globs(pattern: str, path: str, matches: bool) -> None:
    assert (team_for(f"{pattern} @t", path) == "@t") is matches


def test_later_lines_win_for_one_path() -> None:
    rules = "includes/ @platform\nincludes/parser/ @parsing\nincludes/parser/Parsoid/ @cts\n"
    assert team_for(rules, "includes/Html.php") == "@platform"
    assert team_for(rules, "includes/parser/Parser.php") == "@parsing"
    assert team_for(rules, "includes/parser/Parsoid/X.php") == "@cts"
    mixed = "extension:Echo @growth\nextensions/Echo/includes/Push/ @infra\n"
    assert team_for(mixed, V + "extensions/Echo/includes/Push/X.php") == "@infra"
    assert team_for(mixed, V + "extensions/Echo/includes/X.php") == "@growth"
    general_last = "includes/parser/Parsoid/ @cts\nincludes/ @platform\n"
    assert team_for(general_last, "includes/parser/Parsoid/X.php") == "@platform"


def test_extension_and_skin_matchers_from_versioned_paths() -> None:
    rules = "extension:Echo @growth\nskin:Vector @web\nextension:Wikibase* @wmde\nskin:Minerva* @web\n"
    assert team_for(rules, V + "extensions/Echo/includes/X.php") == "@growth"
    assert (
        team_for(rules, "/srv/mediawiki/php-1.36.0-wmf.30/skins/Vector/includes/SkinVector.php:88") == "@web"
    )
    assert team_for(rules, V + "extensions/WikibaseLexeme/src/X.php") == "@wmde"
    assert team_for(rules, "/srv/mediawiki/php-master/skins/MinervaNeue/a.php") == "@web"
    assert team_for(rules, V + "extensions/EchoLike/X.php") is None  # names are whole segments
    assert team_for(rules, V + "includes/skins/Vector/X.php") is None  # only at the root
    assert team_for(rules, V + "extensions/Echo") is None  # a directory, not a file in it
    assert owner_path(V + "extensions/Echo/includes/X.php(12)") == "extensions/Echo/includes/X.php"


def test_class_and_channel_matchers() -> None:
    rules = owners(
        "class:Wikimedia\\Rdbms\\DB* @dba\n"
        "class:TypeError @types\n"
        "class:\\MWException @mw\n"
        "channel:memcached @sre\n"
        "channel:DB* @dba\n"
    )

    def who(cls: str | None, channel: str = "exception") -> str | None:
        return route(rules, paths=[], channel=channel, exc_class=cls).team

    assert who("Wikimedia\\Rdbms\\DBQueryError") == "@dba"
    assert who("\\wikimedia\\rdbms\\dbqueryerror") == "@dba"  # PHP class names ignore case
    assert who("TypeError") == "@types"
    assert who("Foo\\TypeError") == "@types"  # a pattern without a namespace matches the short name
    assert who("MWException") == "@mw"
    assert who("Other\\DBQueryError") is None
    assert who(None, "memcached") == "@sre"
    assert who(None, "DBReplication") == "@dba"
    assert who(None, "redis") is None


# --- resolution order -----------------------------------------------------------------------

RULES = """
includes/Revision/            @platform   #Revision-backend
includes/changes/             @growth     #Recent-changes
extension:Echo                @growth     #Notifications
includes/MediaWiki.php        -
class:TypeError               @php-types
channel:exception             @triage
"""


def test_throw_site_first_then_frames_top_down() -> None:
    paths = [
        V + "includes/Revision/RevisionStore.php",
        "includes/changes/ChangesList.php",
        "extensions/Echo/includes/X.php",
    ]
    r = route(owners(RULES), paths=paths, channel="exception", exc_class="TypeError")
    assert (r.team, r.project, r.matched) == (
        "@platform",
        "Revision-backend",
        "includes/Revision/RevisionStore.php",
    )
    assert r.rule is not None and r.rule.line == 2
    assert r.candidates == (
        ("includes/Revision/RevisionStore.php", "@platform"),
        ("includes/changes/ChangesList.php", "@growth"),
        ("extensions/Echo/includes/X.php", "@growth"),
        ("class:TypeError", "@php-types"),
        ("channel:exception", "@triage"),
    )


def test_top_frame_wins_over_deeper_frames() -> None:
    paths = ["includes/Html.php", "extensions/Echo/includes/X.php", "includes/changes/ChangesList.php"]
    r = route(owners(RULES), paths=paths, channel="exception", exc_class=None)
    assert (r.team, r.project, r.matched) == ("@growth", "Notifications", "extensions/Echo/includes/X.php")
    assert r.candidates[0] == ("includes/Html.php", None)


def test_nobody_rule_passes_down_the_stack() -> None:
    paths = ["includes/MediaWiki.php", "includes/changes/X.php"]
    r = route(owners("includes/ @platform\n" + RULES), paths=paths, channel="x", exc_class=None)
    assert r.matched == "includes/changes/X.php"
    assert r.candidates[0] == ("includes/MediaWiki.php", None)


def test_class_only_when_no_path_matches_and_channel_last() -> None:
    o = owners(RULES)
    by_class = route(o, paths=["includes/Html.php"], channel="exception", exc_class="TypeError")
    assert (by_class.team, by_class.matched) == ("@php-types", "class:TypeError")
    by_channel = route(o, paths=["includes/Html.php"], channel="exception", exc_class="LogicException")
    assert (by_channel.team, by_channel.matched) == ("@triage", "channel:exception")
    by_path = route(o, paths=["includes/changes/X.php"], channel="exception", exc_class="TypeError")
    assert by_path.team == "@growth"


def test_unowned_is_reported_with_every_candidate() -> None:
    r = route(owners(RULES), paths=["includes/Html.php", "index.php"], channel="memcached", exc_class=None)
    assert not r.owned and (r.team, r.project, r.rule, r.matched) == (None, None, None, None)
    assert r.candidates == (("includes/Html.php", None), ("index.php", None), ("channel:memcached", None))
    assert r.to_dict()["candidates"][2] == {"tried": "channel:memcached", "team": None}


def test_signature_paths_order_and_dedupe() -> None:
    explanation: list[dict[str, Any]] = [
        {"component": "channel", "value": "exception"},
        {
            "component": "in-app frames",
            "value": ["includes/changes/ChangesList.php ChangesList->x", "a.php f"],
        },
        {"component": "throw site", "value": "includes/Revision/RevisionStore.php"},
    ]
    trace = "\n".join(
        [
            f"from {V}includes/Revision/RevisionStore.php(1450)",
            f"#0 {V}includes/Revision/RevisionStore.php(1450): RevisionStore->getRevisionById(NULL)",
            f"#1 {V}includes/changes/ChangesList.php(88): RevisionStore->x()",
            "#2 [internal function]: Foo->bar()",
            f"#3 {V}extensions/Echo/includes/Hooks.php(12): ChangesList->y()",
            f"#4 {V}includes/MediaWiki.php(5): Echo->z()",
            "#5 {main}",
        ]
    )
    assert signature_paths(explanation, [trace]) == [
        "includes/Revision/RevisionStore.php",
        "includes/changes/ChangesList.php",
        "a.php",
        "extensions/Echo/includes/Hooks.php",
        "includes/MediaWiki.php",
    ]
    assert signature_paths([{"component": "channel", "value": "memcached"}], []) == []


# --- stored signatures: owner_of_signature and route_many on both backends ----------------


def _ingest_lines(store: Store, tmp_path: Path, lines: list[str]) -> None:
    log = tmp_path / "x.log"
    log.write_text("\n".join(lines) + "\n")
    report = ingest(store, [str(log)])
    assert report.events == len(lines) and not report.failed


def _sample_lines() -> list[str]:
    return [
        mw_line(  # thrown in core, reached from Echo: Echo's frame wins
            req="a",
            cls="TypeError",
            message="Argument 1 passed to RevisionStore::getRevisionById() must be int",
            file="includes/Revision/RevisionStore.php:1450",
            frames=(
                "includes/Revision/RevisionStore.php(1450): RevisionStore->getRevisionById()",
                "extensions/Echo/includes/DiscussionParser.php(88): X->y()",
                "includes/MediaWiki.php(5): Z->run()",
            ),
        ),
        mw_line(  # deep in a Vector frame, below two unowned core frames
            req="b",
            version="1.36.0-wmf.28",
            cls="RuntimeException",
            message="Bad state",
            file="includes/Html.php:10",
            frames=(
                "includes/Html.php(10): Html::element()",
                "includes/Linker.php(20): Html::rawElement()",
                "includes/OutputPage.php(30): Linker::link()",
                "skins/Vector/includes/SkinVector.php(40): OutputPage->x()",
            ),
        ),
        mw_line(req="c", channel="memcached", cls=None, message="Memcached error for key x on server y"),
        mw_line(req="d", channel="ratelimit", cls=None, message="User tripped a limit"),
    ]


OWNERS_TEXT = (
    "extension:Echo @growth-team #Notifications\nskin:Vector @web-team #Vector\nchannel:memcached @sre\n"
)


def test_route_many_matches_owner_of_signature_on_both_backends(store: Store, tmp_path: Path) -> None:
    _ingest_lines(store, tmp_path, _sample_lines())
    rows = signatures_by_events(store)
    ids = [r[0] for r in rows]
    assert len(ids) == 4
    o = owners(OWNERS_TEXT)
    bulk = route_many(store, o, [*ids, "0000000000000000"])
    assert set(bulk) == set(ids)  # unknown ids are left out
    for sig in ids:
        assert bulk[sig] == owner_of_signature(o, signature_detail(store, sig))
    by_channel = {channel: bulk[sig] for sig, _title, channel, _events in rows if channel != "exception"}
    assert by_channel["memcached"].team == "@sre"
    assert by_channel["ratelimit"].team is None
    teams = sorted(str(r.team) for r in bulk.values())
    assert teams == ["@growth-team", "@sre", "@web-team", "None"]
    vector = next(r for r in bulk.values() if r.team == "@web-team")
    assert vector.matched == "skins/Vector/includes/SkinVector.php"  # found in the sample trace
    assert [c[0] for c in vector.candidates[:3]] == [
        "includes/Html.php",
        "includes/Linker.php",
        "includes/OutputPage.php",
    ]


@pytest.mark.slow
def test_route_many_chunks_long_id_lists(tmp_path: Path) -> None:
    lines = [
        mw_line(
            req=f"r{i}", file=f"extensions/Ext{i}/X.php:1", frames=(f"extensions/Ext{i}/X.php(1): F->g()",)
        )
        for i in range(520)
    ]
    with Store(str(tmp_path / "t.db")) as store:
        _ingest_lines(store, tmp_path, lines)
        ids = [r[0] for r in signatures_by_events(store)]
        assert len(ids) == 520
        routed = route_many(store, owners("extension:Ext5* @five\n"), ids)
    assert len(routed) == 520
    assert sum(r.team == "@five" for r in routed.values()) == 31  # Ext5, Ext50..Ext59, Ext500..Ext519


# --- the command line -----------------------------------------------------------------------


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("TRAINTRIAGE_DB", "TRAINTRIAGE_OWNERS")}
    return subprocess.run(
        [sys.executable, "-m", "traintriage", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**full_env, **(env or {})},
    )


@pytest.fixture
def demo_db(tmp_path: Path) -> str:
    db = str(tmp_path / "t.db")
    with Store(db) as store:
        _ingest_lines(store, tmp_path, _sample_lines())
    return db


@pytest.mark.slow
def test_cli_check_valid_file_routes_and_lists_unowned(tmp_path: Path, demo_db: str) -> None:
    path = tmp_path / "OWNERS"
    path.write_text(OWNERS_TEXT)
    out = run("owners", "check", str(path), "--db", demo_db)
    assert out.returncode == 0, out.stderr
    assert f"{path}: 3 rules (1 extension, 1 skin, 1 channel), 0 invalid lines" in out.stdout
    assert "routed 4 signatures: 3 owned by 3 teams, 1 unowned" in out.stdout
    assert "@growth-team  #Notifications: 1 signatures" in out.stdout
    assert "via extensions/Echo/includes/DiscussionParser.php" in out.stdout
    unowned = out.stdout.split("UNOWNED: 1 signatures", 1)[1]
    assert "[ratelimit] User tripped a limit" in unowned


@pytest.mark.slow
def test_cli_check_invalid_lines_exit_1_and_still_route(tmp_path: Path, demo_db: str) -> None:
    path = tmp_path / "OWNERS"
    path.write_text("# teams\nextension:Echo growth\n" + OWNERS_TEXT + "bogus:thing @x\n")
    out = run("owners", "check", str(path), "--db", demo_db, "--json")
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f"{path}:2: team 'growth' must look like @team-name (or '-' for nobody)",
        f"{path}:6: unknown matcher 'bogus:': use a path, extension:, skin:, class: or channel:",
    ]
    rows = json.loads(out.stdout)
    assert len(rows) == 4
    assert set(rows[0]) >= {"signature", "title", "team", "project", "matched", "candidates"}
    echo = next(r for r in rows if r["team"] == "@growth-team")
    assert echo["project"] == "Notifications"
    assert echo["candidates"][0] == {"tried": "includes/Revision/RevisionStore.php", "team": None}
    assert [r["team"] for r in rows].count(None) == 1


@pytest.mark.slow
def test_cli_check_without_database_only_checks_the_file(tmp_path: Path) -> None:
    path = tmp_path / "OWNERS"
    path.write_text(OWNERS_TEXT)
    out = run("owners", "check", str(path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "only the file was checked" in out.stderr
    assert not (tmp_path / "traintriage.db").exists()  # checking never creates a database
    missing = run("owners", "check", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 64 and "no such file" in missing.stderr  # usage: EX_USAGE


@pytest.mark.slow
def test_cli_show_prints_candidates_and_winner(tmp_path: Path, demo_db: str) -> None:
    path = tmp_path / "OWNERS"
    path.write_text(OWNERS_TEXT)
    with Store(demo_db) as store:
        sig = next(r[0] for r in signatures_by_events(store) if "RevisionStore" in r[1])
    out = run("owners", "show", sig[:8], "--db", demo_db, env={"TRAINTRIAGE_OWNERS": str(path)})
    assert out.returncode == 0, out.stderr
    assert "owner     @growth-team  #Notifications" in out.stdout
    assert "by line 1: extension:Echo @growth-team #Notifications" in out.stdout
    lines = out.stdout.splitlines()
    winner = next(line for line in lines if line.startswith("  =>"))
    assert "extensions/Echo/includes/DiscussionParser.php" in winner and "(line 1: extension:Echo)" in winner
    assert any(line.strip().startswith("includes/Revision/RevisionStore.php") for line in lines)
    assert any(line.strip().startswith("channel:exception") and "(no rule)" in line for line in lines)
    as_json = json.loads(run("owners", "show", sig, "--db", demo_db, "--owners", str(path), "--json").stdout)
    assert as_json["team"] == "@growth-team" and as_json["signature"] == sig
    empty = tmp_path / "empty"
    empty.mkdir()
    none = run("owners", "show", sig, "--db", demo_db, cwd=empty)
    assert none.returncode == 64 and "no owners file" in none.stderr
