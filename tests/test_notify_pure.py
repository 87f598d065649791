"""Notifications, pure parts: events from decisions, formats, configuration, digests and limits."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from tests.test_classify import AT, CFG, sig, snapshot, stratum
from traintriage.core.errors import InvalidInput
from traintriage.detect.classify import classify
from traintriage.detect.decision import Decision, Review, decide
from traintriage.notify import formats
from traintriage.notify.config import parse_config
from traintriage.notify.events import (
    Notice,
    Schedule,
    decision_notice,
    matches,
    notices_for,
    reminder_notices,
    signature_notices,
)
from traintriage.notify.policy import backoff, digest_due, plan

HOSTILE = "boom <!channel> <https://evil.example|click> & \x03\x02red\r\nPRIVMSG #x :owned"


def decision(reviews: list[Review] | None = None) -> Decision:
    snap = snapshot(
        [
            sig("newexc", [stratum("group0", 12, 0)], older=0, title=f"Error: {HOSTILE}"),
            sig(
                "newwarn",
                [stratum("group0", 12, 0)],
                older=0,
                channel="error",
                level="WARNING",
                title="PHP Warning: x",
            ),
            sig("spam", [stratum("group0", 300, 0)], older=0, channel="error", max_1h=250, title="spammy"),
            *[sig(f"s{i}", [stratum("group0", 50, 50)]) for i in range(3)],
        ]
    )
    d = decide(snap, classify(snap, CFG), CFG, {r.signature: r for r in reviews or []})
    owners = {
        "newexc": {"team": "growth-team", "project": "Notifications", "matched": "x"},
        "newwarn": {"team": "web-team", "project": None, "matched": "y"},
    }
    return dataclasses.replace(d, owners=owners)


def test_new_regressed_logspam_notices_per_team_once_each() -> None:
    d = decision()
    notices = signature_notices(d)
    by_key = {n.key: n for n in notices}
    assert "new:1.41.0-wmf.2:newexc" in by_key and "new:1.41.0-wmf.2:newwarn" in by_key
    assert by_key["new:1.41.0-wmf.2:newexc"].team == "growth-team"
    assert by_key["new:1.41.0-wmf.2:newexc"].severity == "critical"
    assert by_key["new:1.41.0-wmf.2:newwarn"].team == "web-team"
    assert any(n.kind == "logspam" and n.team == "unowned" for n in notices)
    assert len(by_key) == len(notices)


def test_cleared_signatures_are_not_told_and_blocker_reviews_are() -> None:
    known = Review("newwarn", "known", "ana", AT - 60, "T1")
    blocker = Review("newexc", "blocker", "bob", AT - 30, "T2", note="breaks saving")
    notices = signature_notices(decision([known, blocker]))
    kinds = {(n.kind, n.signature) for n in notices}
    assert ("new", "newwarn") not in kinds
    assert ("new", "newexc") in kinds  # a blocker review does not clear it
    b = next(n for n in notices if n.kind == "blocker")
    assert (
        b.team == "growth-team"
        and "(T2)" in b.title
        and b.lines == ("reviewed as blocker by bob", "breaks saving")
    )


def test_decision_change_is_told_once_per_change() -> None:
    d = decision()
    first = decision_notice(d, None)
    assert first is not None and first.title == "1.41.0-wmf.2 -> group1: NO-GO" and first.team == "*"
    assert decision_notice(d, "no-go") is None
    changed = decision_notice(d, "go")
    assert changed is not None and changed.title.endswith("NO-GO (was GO)") and changed.key != "x"
    assert changed.data["previous"] == "go"


def test_schedule_parses_and_finds_the_next_promotion() -> None:
    assert Schedule.parse("group1", "Wed 20:00") == (2, 20, 0)
    for bad in ("Someday 20:00", "Wed 25:00", "Wed", "Wed 8pm"):
        with pytest.raises(ValueError):
            Schedule.parse("group1", bad)
    with pytest.raises(ValueError, match="unknown stage"):
        Schedule.parse("group9", "Wed 20:00")
    s = Schedule()
    tue = datetime(2021, 1, 26, 18, 0, tzinfo=UTC).timestamp()  # a Tuesday
    nxt = s.next_promotion("group1", tue)
    assert datetime.fromtimestamp(nxt or 0, UTC) == datetime(2021, 1, 27, 20, 0, tzinfo=UTC)
    wed_late = datetime(2021, 1, 27, 21, 0, tzinfo=UTC).timestamp()
    assert datetime.fromtimestamp(s.next_promotion("group1", wed_late) or 0, UTC).day == 3  # next week


def test_reminders_only_shortly_before_the_scheduled_promotion() -> None:
    d = decision()  # next stage group1
    promo = Schedule().next_promotion("group1", AT) or 0.0
    early = reminder_notices(d, Schedule(), promo - 3 * 3600)
    assert early == []
    soon = reminder_notices(d, Schedule(), promo - 3600)
    teams = {n.team: n for n in soon}
    assert set(teams) == {"growth-team", "web-team", "unowned"}
    assert "due in 60 min" in teams["growth-team"].title
    reviewed = decision([Review("newwarn", "not-blocker", "ana", AT - 60)])
    assert "web-team" not in {n.team for n in reminder_notices(reviewed, Schedule(), promo - 3600)}


def test_notices_for_combines_and_matches_subscriptions() -> None:
    d = decision()
    notices = notices_for(d, previous_verdict=None, schedule=None, now=AT)
    assert {n.kind for n in notices} == {"new", "logspam", "decision"}
    decision_n = next(n for n in notices if n.kind == "decision")
    new_growth = next(n for n in notices if n.team == "growth-team")
    assert matches(new_growth, "growth-team", ["new"]) and not matches(new_growth, "web-team", ["new"])
    assert matches(new_growth, "*", ["new"]) and not matches(new_growth, "growth-team", ["decision"])
    assert matches(decision_n, "growth-team", ["decision"])  # train-wide notices reach every team asking


def test_notice_round_trips_through_json() -> None:
    n = signature_notices(decision())[0]
    assert Notice.from_dict(json.loads(json.dumps(n.to_dict()))) == n


def test_formats_escape_hostile_titles() -> None:
    d = decision()
    n = next(x for x in signature_notices(d) if x.signature == "newexc")
    slack = formats.slack_payload([n], "https://tt.example.org")
    text = json.dumps(slack)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "<https://evil.example|click>" not in text
    assert "<https://tt.example.org/signatures/newexc|" in slack["blocks"][0]["text"]["text"]
    matrix = formats.matrix_content([n], "https://tt.example.org")
    assert matrix["msgtype"] == "m.notice" and "<!channel>" not in matrix["formatted_body"]
    assert "&lt;!channel&gt;" in matrix["formatted_body"]
    lines = formats.irc_lines([n] * 7, "https://tt.example.org")
    assert len(lines) == 6 and lines[-1] == "[traintriage] and 2 more notices"
    for line in lines:
        assert not any(ord(c) < 32 for c in line) and len(line.encode()) <= formats.IRC_MAX_BYTES
    assert lines[0].startswith("[traintriage] @growth-team NEW in 1.41.0-wmf.2: Error: boom")
    mail = formats.email_message([n], sender="tt@example.org", to=["a@example.org"], base_url=None)
    assert "\n" not in mail["Subject"] and "\r" not in mail["Subject"]
    assert mail["Subject"].startswith("[traintriage] NEW in 1.41.0-wmf.2")
    assert "PRIVMSG #x :owned" in mail.get_content()  # kept as text, on the title's line
    one = formats.webhook_payload([n], "https://tt.example.org", "d1")
    assert one["type"] == "traintriage.notice" and one["url"] == "https://tt.example.org/signatures/newexc"
    many = formats.webhook_payload([n, n], None, "d2")
    assert many["type"] == "traintriage.digest" and len(many["notices"]) == 2 and many["delivery"] == "d2"
    assert formats.absolute("https://x.org", "//evil.org/a") is None


CONFIG = """
base_url = "https://tt.example.org"
[schedule]
group1 = "Wed 19:00"
remind_minutes = 90
[channels.hook]
type = "webhook"
url = "http://127.0.0.1:9/hook"
secret_env = "HOOK_SECRET"
[channels.mail]
type = "email"
smtp = "127.0.0.1:8025"
from = "tt@example.org"
to = ["growth@example.org"]
[channels.room]
type = "matrix"
homeserver = "https://matrix.example.org"
room = "!abc:example.org"
token_env = "MATRIX_TOKEN"
[[subscriptions]]
team = "@growth-team"
channel = "hook"
[[subscriptions]]
team = "*"
channel = "mail"
events = ["decision", "blocker"]
digest_minutes = 30
max_per_hour = 4
"""


def test_config_parses_channels_subscriptions_and_schedule() -> None:
    cfg = parse_config(CONFIG, "notify.toml")
    assert cfg.base_url == "https://tt.example.org"
    assert cfg.schedule.times["group1"] == (2, 19, 0) and cfg.schedule.lead_minutes == 90
    assert cfg.channels["mail"].smtp_port == 8025 and cfg.channels["mail"].to == ("growth@example.org",)
    team, star = cfg.subscriptions
    assert (team.name, team.team, team.kinds) == (
        "growth-team->hook",
        "growth-team",
        ("new", "regressed", "logspam", "blocker", "reminder"),
    )
    assert (star.kinds, star.digest_minutes, star.max_per_hour) == (("decision", "blocker"), 30, 4)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('channel = "hook"\n[[subscriptions]]', 'channel = "nope"\n[[subscriptions]]'),
            "#1: unknown channel 'nope'",
        ),
        (('type = "webhook"', 'type = "pager"'), "[channels.hook]: type must be one of"),
        (('url = "http://127.0.0.1:9/hook"', 'url = "file:///etc/passwd"'), "is not an http(s) URL"),
        (('smtp = "127.0.0.1:8025"', 'smtp = "127.0.0.1:x"'), "smtp must be HOST or HOST:PORT"),
        (('room = "!abc:example.org"', 'room = "general"'), "room must be a room id"),
        (('events = ["decision", "blocker"]', 'events = ["everything"]'), "#2: events must list"),
        (("max_per_hour = 4", "max_per_hour = 0"), "max_per_hour must be 1 .. 3600"),
        (('group1 = "Wed 19:00"', 'group1 = "Wednesday evening"'), "[schedule]: group1"),
        (("base_url", "base_URL"), "unknown key(s) base_URL"),
        (("[channels.hook]", "[channels.hook"), "notify.toml: "),
    ],
)
def test_config_errors_name_the_file_the_table_and_the_reason(change: tuple[str, str], message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_config(CONFIG.replace(*change, 1), "notify.toml")
    assert str(err.value).startswith("notify.toml: ") and message in str(err.value)


def test_duplicate_subscription_names_are_refused() -> None:
    twice = CONFIG + '[[subscriptions]]\nteam = "growth-team"\nchannel = "hook"\n'
    with pytest.raises(InvalidInput, match="duplicate name"):
        parse_config(twice)


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4, 8, 20)] == [30, 60, 120, 240, 3600, 3600]


def test_digest_windows_are_aligned() -> None:
    assert digest_due(1000.0, 0) == 1000.0
    assert digest_due(1799.0, 30) == 1800.0 and digest_due(1800.0, 30) == 3600.0


def test_rate_limit_turns_a_flood_into_fewer_larger_messages() -> None:
    now = 10_000.0
    assert plan([1, 2, 3], [], digest=False, max_per_hour=5, now=now).messages == ((1,), (2,), (3,))
    p = plan(list(range(1, 11)), [now - 100], digest=False, max_per_hour=4, now=now)
    assert p.messages == ((1,), (2,), (3, 4, 5, 6, 7, 8, 9, 10))
    full = plan([1, 2], [now - 3000, now - 10], digest=False, max_per_hour=2, now=now)
    assert full.messages == () and full.postponed == (1, 2) and full.wait_until == now - 3000 + 3600
    assert plan([4, 5, 6], [], digest=True, max_per_hour=1, now=now).messages == ((4, 5, 6),)
    old = plan([1], [now - 3600], digest=False, max_per_hour=1, now=now)  # left the hour
    assert old.messages == ((1,),)
