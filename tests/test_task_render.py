"""Drafting a production-error task (triage/tasks.py): Phatality's template, escaped, anonymised."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from traintriage.core.timeparse import parse_timestamp
from traintriage.triage.tasks import (
    ErrorFacts,
    TaskLinks,
    duplicate_candidates,
    parse_trace,
    render_task,
    search_query,
    task_title,
)

V = "1.36.0-wmf.30"
TRACE = "\n".join(
    [
        f"from /srv/mediawiki/php-{V}/includes/Revision/RevisionStore.php(1450)",
        f"#0 /srv/mediawiki/php-{V}/includes/changes/ChangesList.php(612): "
        "MediaWiki\\Revision\\RevisionStore->getRevisionById(NULL)",
        f"#1 /srv/mediawiki/php-{V}/extensions/Echo/includes/Hooks.php(178): ChangesList->insertDiffHist(string)",
        f"#2 /srv/mediawiki/php-{V}/vendor/wikimedia/assert/src/Assert.php(224): Assert::invariant(bool)",
        "#3 /srv/mediawiki/wmf-config/CommonSettings.php(88): require(string)",
        "#4 [internal function]: MediaWiki->run()",
        "#5 {main}",
    ]
)


def facts(**kw: object) -> ErrorFacts:
    base: dict[str, object] = dict(
        signature="a58cf8647430d444",
        title="TypeError: Argument 1 passed to <*>",
        channel="exception",
        version=V,
        timestamp=parse_timestamp("2021-02-10T15:21:07Z"),
        normalized_message="[{reqId}] {exception_url}   TypeError: Argument 1 passed to "
        "MediaWiki\\Revision\\RevisionStore::getRevisionById() must be of the type int, null given",
        php_version="7.2.34-18+0~20210223.60+debian10~1.gbpb21322+wmf2",
        req_id="YCP4cwpAIDMAAB3fQ0EAAAAQ",
        url="/w/index.php?title=Special:RecentChanges&days=30&action=history",
        server="www.mediawiki.org",
        trace=TRACE,
        events=52,
        requests=47,
        wikis=7,
        first_seen=parse_timestamp("2021-02-10T14:00:00Z"),
        labels=("new",),
        team="growth-team",
        project="Notifications",
    )
    base.update(kw)
    return ErrorFacts(**base)  # type: ignore[arg-type]


def test_title_is_the_normalised_message_without_the_request_prefix() -> None:
    assert task_title(facts()).startswith("TypeError: Argument 1 passed to MediaWiki\\Revision")
    plain = facts(normalized_message=None, message="[XO1PdwpAADk] /wiki/User:Alice?x=1   Oops at 10.1.2.3")
    assert task_title(plain) == "Oops at <ip>"
    assert task_title(facts(normalized_message=None, message=None)) == "TypeError: Argument 1 passed to <*>"


def test_error_section_trace_table_and_sections_in_remarkup() -> None:
    d = render_task(facts())
    r = d.remarkup
    assert r.startswith("==== Error ====\n* mwversion: `1.36.0-wmf.30`\n* timestamp: `2021-02-10T15:21:07Z`")
    assert "* phpversion: `7.2.34-18+0~20210223.60+debian10~1.gbpb21322+wmf2`" in r
    assert "* reqId: `YCP4cwpAIDMAAB3fQ0EAAAAQ`" in r  # quoted: Phabricator must not link it as a commit
    assert "Find reqId in Logstash ]]" in r and "reqId%3A%22YCP4cwpAIDMAAB3fQ0EAAAAQ%22" in r
    assert "```name=normalized_message,lines=10\n[{reqId}] {exception_url}   TypeError:" in r
    assert "| Frame | Location | Call\n| -- | -- | --\n" in r
    gitiles = "https://gerrit.wikimedia.org/r/plugins/gitiles/"
    assert (
        f"[[ {gitiles}mediawiki/core/+blame/refs/heads/wmf/{V}/includes/Revision/RevisionStore.php#1450 |"
        in r
    )
    assert f"{gitiles}mediawiki/extensions/Echo/+blame/refs/heads/wmf/{V}/includes/Hooks.php#178" in r
    assert f"{gitiles}mediawiki/vendor/+blame/refs/heads/wmf/{V}/wikimedia/assert/src/Assert.php#224" in r
    assert (
        f"{gitiles}operations/mediawiki-config/+blame/refs/heads/master/wmf-config/CommonSettings.php#88" in r
    )
    assert "| `#4` | `[internal function]` | `MediaWiki->run()`" in r
    assert "| `#5` |  | `{main}`" in r
    assert (
        "==== Impact ====\n47 requests (52 events) on 7 wikis in 1.36.0-wmf.30 since 2021-02-10T14:00:00Z (NEW"
        in r
    )
    assert (
        "==== Notes ====\nDrafted from traintriage signature `a58cf8647430d444`. Owner: `growth-team`." in r
    )
    assert d.projects == ("wikimedia-production-error", "Notifications")


def test_markdown_has_the_same_facts_and_links() -> None:
    md = render_task(facts(), TaskLinks(app="https://tt.example.org/")).markdown
    assert md.startswith("## TypeError: Argument 1 passed to MediaWiki\\\\Revision")
    assert "* mwversion: `1.36.0-wmf.30`" in md and "### Impact" in md and "### Notes" in md
    assert f"/mediawiki/extensions/Echo/+blame/refs/heads/wmf/{V}/includes/Hooks.php#178>)" in md
    assert (
        "[traintriage signature a58cf8647430d444](https://tt.example.org/signatures/a58cf8647430d444)" in md
    )


def test_url_is_anonymised_and_built_from_the_server() -> None:
    d = render_task(facts())
    assert d.error_url == "https://www.mediawiki.org/w/index.php?title=*&days=*&action=history"
    qs = parse_qs(urlsplit(d.create_url).query)
    assert qs["custom.error.url"] == [d.error_url]
    assert render_task(facts(url="javascript:alert(1)")).error_url is None
    assert render_task(facts(url="[no req]")).error_url is None
    assert render_task(facts(server="evil.org/x?")).error_url is None


def test_a_trace_with_quoted_values_is_redacted_and_flagged() -> None:
    leaked = (
        TRACE + "\n#6 /srv/mediawiki/php-1.36.0-wmf.30/includes/User.php(9): User->login('alice', 'hunter2')"
    )
    d = render_task(facts(trace=leaked))
    assert "hunter2" not in d.remarkup and "alice" not in d.markdown
    assert "(REDACTED)" in d.remarkup
    assert any("redacted" in w for w in d.warnings)


def test_hostile_content_cannot_break_out_of_its_markup() -> None:
    evil = "Boom ``` @alice {F1234} [[ https://evil.example | x ]] | col **b** <script>x</script>"
    trace = f"#0 /srv/mediawiki/php-{V}/includes/A.php(1): A->b(@alice | {{F1}} `` ]] ``` )"
    d = render_task(facts(normalized_message=evil, trace=trace))
    r = d.remarkup
    # the code block is closed exactly once: by our own fence
    assert r.count("```") == 2
    body = r.split("```name=normalized_message,lines=10\n", 1)[1].split("\n```", 1)[0]
    assert body.startswith("Boom ''' @alice")
    # the table row keeps three columns; the call is one literal monospace cell
    row = next(line for line in r.splitlines() if line.startswith("| `#0`"))
    assert re.sub(r"\[\[.*?\]\]", "", row).count("|") == 3
    assert "`A->b(@alice ¦ {F1} '' ] ] ''' )`" in row
    # outside literal contexts nothing hostile remains
    outside = re.sub(r"`[^`]*`", "", r.replace(body, ""))
    assert "@alice" not in outside and "{F" not in outside
    md = d.markdown
    assert "<script>" not in md.split("```")[0] and "&lt;script&gt;" in md
    md_row = next(line for line in md.splitlines() if line.startswith("| `#0`"))
    assert md_row.count("|") - md_row.count("\\|") == 4


def test_create_link_prefills_the_production_error_form() -> None:
    d = render_task(facts(), parent="T270000", projects=["#MediaWiki-Core"])
    parts = urlsplit(d.create_url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "phabricator.wikimedia.org",
        "/maniphest/task/edit/form/46/",
    )
    qs = parse_qs(parts.query)
    assert qs["title"] == [d.title]
    assert qs["description"] == [d.remarkup]
    assert qs["projects"] == ["wikimedia-production-error,Notifications,MediaWiki-Core"]
    assert qs["parent"] == ["270000"]
    with pytest.raises(ValueError, match="parent"):
        render_task(facts(), parent="270000; drop")


def test_too_long_trace_is_left_out_of_the_link_not_cut() -> None:
    long = "\n".join(
        f"#{i} /srv/mediawiki/php-{V}/includes/Deep{i}.php({i + 1}): Deep{i}->call(string, array)"
        for i in range(300)
    )
    d = render_task(facts(trace=long))
    assert len(d.create_url) <= TaskLinks().max_url
    assert not d.trace_in_link and any("too long" in w for w in d.warnings)
    assert "Deep299->call" in d.remarkup  # the full draft keeps it
    assert "Trace left out" in parse_qs(urlsplit(d.create_url).query)["description"][0]


def test_parse_trace_reads_every_frame_kind() -> None:
    frames = parse_trace(TRACE, TaskLinks())
    assert [f.label for f in frames] == ["from", "#0", "#1", "#2", "#3", "#4", "#5"]
    assert frames[1].location == f"/srv/mediawiki/php-{V}/includes/changes/ChangesList.php(612)"
    assert frames[1].call == "MediaWiki\\Revision\\RevisionStore->getRevisionById(NULL)"
    odd = parse_trace("#0 /srv/mediawiki/php-../../etc/passwd(1): x()\nnot a frame", TaskLinks())
    assert odd[0].href is None and odd[1] == odd[1].__class__("", "", "not a frame")


def test_search_query_quotes_meaningful_words() -> None:
    q = search_query("PHP Warning: Undefined array key <str> in {file} at 12")
    assert q == '"PHP" "Warning" "Undefined" "array" "key"'


def test_duplicate_candidates_rank_by_shared_words() -> None:
    found = duplicate_candidates(
        "Error: Call to a member function getId() on null",
        [
            ("T1", "Error: Call to a member function getId() on null in Echo"),
            ("T2", "PHP Notice: Undefined index: wpCaptchaWord"),
            ("T3", "Call to a member function getId() on null"),
        ],
    )
    assert [t for t, _, _ in found] == ["T1", "T3"]
    assert found[0][2] > found[1][2] >= 0.35
