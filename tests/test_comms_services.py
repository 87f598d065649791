"""Communication use cases end to end on a real small train, against real local servers:
a Phabricator speaking Conduit, webhook receivers and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web_helpers import NEW, Train, build_train
from traintriage.notify.config import parse_config
from traintriage.remote.conduit import ConduitClient
from traintriage.services import notify as notify_service
from traintriage.services.blockers import refresh_blocker, refresh_linked_tasks
from traintriage.services.meeting import agenda, minutes
from traintriage.services.metrics import open_backlog, train_rows, train_summary
from traintriage.services.status import train_status
from traintriage.services.tasks import TrackerSettings, draft_task, file_task, find_duplicates
from traintriage.store import outbox
from traintriage.store.db import Store
from traintriage.store.reviews import add_review, audit_log, triage_state
from traintriage.triage.owners import load_owners
from traintriage_sim.receivers import FakePhabricator, SmtpReceiver, WebhookReceiver, serve_http, serve_smtp

pytestmark = pytest.mark.slow  # local HTTP/SMTP receivers, CLI subprocesses: seconds per test

TOKEN = "api-test-token"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Train:
    return build_train(tmp_path_factory.mktemp("comms-train"))


@pytest.fixture
def train(built: Train, tmp_path: Path) -> Iterator[tuple[Train, Store]]:
    """A private copy of the module's train (tests write reviews, tasks and outbox rows)."""
    import shutil

    db = tmp_path / "traintriage.db"
    shutil.copy(built.db, db)
    t = Train(str(db), built.owners, built.at, built.new_sig, list(built.stable_sigs))
    with Store(t.db) as store:
        yield t, store


@pytest.fixture
def phab() -> Iterator[tuple[FakePhabricator, str]]:
    fake = FakePhabricator(TOKEN, projects=("notifications", "mediawiki-core"))
    with serve_http(fake) as url:
        yield fake, url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- #
# The blocker task as a decision input
# --------------------------------------------------------------------------- #


def test_blocker_task_is_followed_cached_and_decides(
    train: tuple[Train, Store], phab: tuple[FakePhabricator, str]
) -> None:
    t, store = train
    fake, url = phab
    add_review(store, signature=t.new_sig, verdict="known", reviewer="ana", tasks=["T1"], at=t.at - 7200)
    before = train_status(store, NEW, t.at)
    assert before.verdict == "go" and before.blocker is None
    blocker = fake.add_task(f"{NEW} deployment blockers", subtype="release")
    sub = fake.add_task("Echo: notifier fatal on save", parent=blocker)
    client = ConduitClient(url, TOKEN)
    ev = refresh_blocker(store, client, NEW, now=t.at - 1800)
    assert ev is not None and ev.task is not None and ev.task.id == f"T{blocker}"
    d = train_status(store, NEW, t.at)
    assert (d.verdict, d.rule) == ("no-go", "nogo.open-blocker-task")
    rule = next(r for r in d.rules if r.id == d.rule)
    assert (
        f"T{sub} Echo: notifier fatal on save [open]" in rule.detail
        and "30 min before this decision" in rule.detail
    )
    # a replay before the fetch does not see it: decisions use what was known at the time
    assert train_status(store, NEW, t.at - 3600).blocker is None
    # the tracker down: the cached view stays, and says the refresh failed
    down = ConduitClient(f"http://127.0.0.1:{_free_port()}", TOKEN, timeout=2)
    refresh_blocker(store, down, NEW, now=t.at - 600)
    d2 = train_status(store, NEW, t.at)
    assert d2.rule == "nogo.open-blocker-task"
    assert "last refresh failed" in next(r for r in d2.rules if r.id == d2.rule).detail
    # resolved in Phabricator: the next refresh clears the rule
    fake.set_status(sub, "resolved")
    refresh_blocker(store, client, NEW, now=t.at - 300)
    assert train_status(store, NEW, t.at).verdict == "go"
    rows = store.query("SELECT COUNT(*) FROM blocker_views WHERE version = ?", (NEW,))
    assert rows[0][0] == 2  # one row per distinct content; refreshes move checked_at


def test_open_subtask_names_the_signature_it_links(
    train: tuple[Train, Store], phab: tuple[FakePhabricator, str]
) -> None:
    t, store = train
    fake, url = phab
    blocker = fake.add_task(f"{NEW} deployment blockers")
    sub = fake.add_task("Echo fatal", parent=blocker)
    add_review(store, signature=t.new_sig, verdict="known", reviewer="ana", tasks=[f"T{sub}"], at=t.at - 7200)
    refresh_blocker(store, ConduitClient(url, TOKEN), NEW, now=t.at - 60)
    d = train_status(store, NEW, t.at)
    rule = next(r for r in d.rules if r.id == "nogo.open-blocker-task")
    assert rule.fired and rule.signatures == (t.new_sig,)
    assert d.to_dict()["blocker_task"]["subtasks"][0]["signatures"] == [t.new_sig]


# --------------------------------------------------------------------------- #
# Filing a task
# --------------------------------------------------------------------------- #


def test_file_a_task_for_a_new_error_to_phabricator(
    train: tuple[Train, Store], phab: tuple[FakePhabricator, str]
) -> None:
    t, store = train
    fake, url = phab
    blocker = fake.add_task(f"{NEW} deployment blockers", subtype="release")
    dup = fake.add_task(
        "TypeError: Argument 1 passed to Echo\\Notifier::notify() must be of the type int, null given (group0)"
    )
    fake.add_task("TypeError: Argument 1 passed to something else must be of the type int, null given")
    settings = TrackerSettings(phabricator=url, token=TOKEN, app_url="https://tt.example.org")
    client = settings.conduit()
    assert client is not None
    refresh_blocker(store, client, NEW, now=t.at - 60)
    owners = load_owners(t.owners)
    draft = draft_task(store, t.new_sig, settings, version=NEW, owners=owners, under_blocker=True)
    assert draft.parent == f"T{blocker}"
    assert draft.title.startswith("TypeError: Argument 1 passed to Echo\\Notifier::notify()")
    assert "* mwversion: `1.36.0-wmf.28`" in draft.remarkup and "Owner: `@growth-team`." in draft.remarkup
    assert draft.projects == ("wikimedia-production-error", "Notifications")
    assert draft.create_url.startswith(f"{url}/maniphest/task/edit/form/46/?title=TypeError")
    dups = find_duplicates(store, draft, client)
    assert dups.remote and dups.remote[0][0].id == f"T{dup}" and dups.remote[0][1] > 0.3
    filed = file_task(store, draft, settings, actor="ana", at=t.at)
    task = fake.tasks[int(filed.id[1:])]
    assert task.parents == [blocker] and task.subtype == "error" and task.description == draft.remarkup
    assert sorted(fake.projects[p] for p in task.projects) == ["notifications", "wikimedia-production-error"]
    assert task.fields.get("custom.error.url") == draft.error_url  # None: the test lines carry no server
    assert filed.id in triage_state(store, [t.new_sig])[t.new_sig].tasks
    filed_entry = next(e for e in audit_log(store, signature=t.new_sig) if e.action == "task-filed")
    assert filed_entry.detail["backend"] == "phabricator" and filed_entry.actor == "ana"
    # the new subtask is open: filing refreshed the blocker view, so it blocks the train at once
    rule = next(r for r in train_status(store, NEW, t.at + 2).rules if r.id == "nogo.open-blocker-task")
    assert rule.fired and t.new_sig in rule.signatures
    # already linked now: the next duplicate search says so
    again = find_duplicates(store, draft, None)
    assert [x.id for x in again.linked] == [filed.id]


def test_file_a_task_through_the_webhook_backend(train: tuple[Train, Store]) -> None:
    t, store = train
    hook = WebhookReceiver()
    hook.responses.append((201, {"id": "T424242", "url": "https://tracker.example/T424242"}))
    with serve_http(hook) as url:
        settings = TrackerSettings(webhook=f"{url}/tasks", webhook_secret="s3")
        draft = draft_task(store, t.new_sig, settings, version=NEW)
        filed = file_task(store, draft, settings, actor="bob", at=t.at)
        hook.responses.append((200, {"ok": True}))
        with pytest.raises(Exception, match="without the new task"):
            file_task(store, draft, settings, actor="bob", at=t.at)
    body = hook.received[0].json()
    assert (
        body["type"] == "traintriage.task"
        and body["title"] == draft.title
        and body["markdown"] == draft.markdown
    )
    assert hook.received[0].headers["x-traintriage-signature"].startswith("sha256=")
    assert filed.id == "T424242" and "T424242" in triage_state(store, [t.new_sig])[t.new_sig].tasks


def test_linked_task_states_are_refreshed_and_resolved_ones_offer_fixed_in(
    train: tuple[Train, Store], phab: tuple[FakePhabricator, str]
) -> None:
    t, store = train
    fake, url = phab
    n = fake.add_task("Echo notifier fatal", status="resolved")
    add_review(
        store, signature=t.new_sig, verdict="needs-info", reviewer="ana", tasks=[f"T{n}"], at=t.at - 600
    )
    assert refresh_linked_tasks(store, ConduitClient(url, TOKEN), now=t.at) == 1
    a = agenda(store, NEW, t.at, owners=load_owners(t.owners))
    assert a.offers == ((t.new_sig, f"T{n}"),)
    item = a.teams["@growth-team"][0]
    assert item.suggestion == f"fixed-in T{n}" and item.tasks[0].status == "resolved"


# --------------------------------------------------------------------------- #
# Notifications
# --------------------------------------------------------------------------- #


def _config(hook: str, mail: tuple[str, int], matrix: str, extra: str = "") -> str:
    return f"""
base_url = "https://tt.example.org"
[channels.growth]
type = "webhook"
url = "{hook}/growth"
secret_env = "TT_TEST_HOOK_SECRET"
[channels.chat]
type = "slack"
url = "{hook}/slack"
[channels.irc]
type = "irc"
url = "{hook}/irc"
[channels.room]
type = "matrix"
homeserver = "{matrix}"
room = "!train:example.org"
token_env = "TT_TEST_MATRIX_TOKEN"
[channels.mail]
type = "email"
smtp = "{mail[0]}:{mail[1]}"
from = "traintriage@example.org"
to = ["releng@example.org"]
[[subscriptions]]
team = "growth-team"
channel = "growth"
[[subscriptions]]
team = "*"
channel = "mail"
events = ["decision", "new", "blocker"]
[[subscriptions]]
team = "*"
channel = "chat"
events = ["decision"]
[[subscriptions]]
team = "*"
channel = "irc"
[[subscriptions]]
team = "*"
channel = "room"
events = ["new"]
{extra}
"""


def test_notifications_reach_webhook_slack_irc_matrix_and_smtp_once(
    train: tuple[Train, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    t, store = train
    monkeypatch.setenv("TT_TEST_HOOK_SECRET", "hook-secret")
    monkeypatch.setenv("TT_TEST_MATRIX_TOKEN", "syt_token")
    owners = load_owners(t.owners)
    hook, matrix, box = WebhookReceiver(), WebhookReceiver(), SmtpReceiver()
    with serve_http(hook) as hook_url, serve_http(matrix) as matrix_url, serve_smtp(box) as mail:
        config = parse_config(_config(hook_url, mail, matrix_url))
        scanned = notify_service.scan(store, config, now=t.at, owners=owners)
        assert scanned.versions == [NEW] and scanned.verdicts == {NEW: "no-go"}
        assert scanned.kinds["new"] == 1 and scanned.kinds["decision"] == 1
        sent = notify_service.deliver(store, config, now=t.at)
        assert sent.failed == 0 and sent.items == scanned.queued
        # a second scan tells nothing twice
        assert notify_service.scan(store, config, now=t.at + 60, owners=owners).queued == 0
        assert notify_service.deliver(store, config, now=t.at + 60).messages == 0
    paths = [r.path for r in hook.received]
    assert paths.count("/growth") == 1 and paths.count("/slack") == 1 and paths.count("/irc") == 2
    growth = next(r for r in hook.received if r.path == "/growth")
    doc = growth.json()
    assert doc["type"] == "traintriage.notice" and doc["kind"] == "new" and doc["team"] == "@growth-team"
    assert doc["signature"] == t.new_sig and doc["url"] == f"https://tt.example.org/signatures/{t.new_sig}"
    from traintriage.remote.http import signature

    assert growth.headers["x-traintriage-signature"] == signature("hook-secret", growth.body)
    assert growth.headers["x-traintriage-delivery"].startswith("tt-")
    slack = next(r for r in hook.received if r.path == "/slack").json()
    assert "NO-GO" in slack["text"]
    irc = next(r for r in hook.received if r.path == "/irc").text.splitlines()
    assert any(line.startswith("[traintriage] @growth-team NEW in 1.36.0-wmf.28") for line in irc)
    (put,) = matrix.received
    assert put.method == "PUT" and put.path.startswith(
        "/_matrix/client/v3/rooms/%21train%3Aexample.org/send/m.room.message/tt-"
    )
    assert put.headers["authorization"] == "Bearer syt_token" and put.json()["msgtype"] == "m.notice"
    subjects = sorted(m.message()["Subject"] for m in box.mails)
    assert len(subjects) == 2 and any("NO-GO" in s for s in subjects) and any("NEW in" in s for s in subjects)
    assert all(m.rcpt_to == ["releng@example.org"] for m in box.mails)


def test_failed_deliveries_are_retried_with_backoff_and_survive_a_restart(
    train: tuple[Train, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    t, store = train
    hook, box = WebhookReceiver(), SmtpReceiver()
    box.temporary_failures = 1
    hook.responses += [(503, {"busy": True}), (503, {"busy": True})]
    with serve_http(hook) as url, serve_smtp(box) as mail:
        text = f"""
[channels.hook]
type = "webhook"
url = "{url}/hook"
[channels.mail]
type = "email"
smtp = "{mail[0]}:{mail[1]}"
from = "tt@example.org"
to = ["a@example.org"]
[[subscriptions]]
team = "*"
channel = "hook"
events = ["new"]
[[subscriptions]]
team = "*"
channel = "mail"
events = ["new"]
"""
        config = parse_config(text)
        notify_service.scan(store, config, now=t.at)
        first = notify_service.deliver(store, config, now=t.at)
        assert first.failed == 2 and first.messages == 0
        assert outbox.outbox_counts(store) == {"pending": 2}
        # too early: the backoff (30 s) has not passed
        assert notify_service.deliver(store, config, now=t.at + 10).messages == 0
        # a new process (fresh connection) picks up the durable outbox
        with Store(t.db) as again:
            second = notify_service.deliver(again, config, now=t.at + 31)
        assert second.messages == 1 and second.failed == 1  # mail delivered, webhook failed again (503)
        third = notify_service.deliver(store, config, now=t.at + 31 + 59)
        assert third.messages == 0  # second failure waits 60 s
        fourth = notify_service.deliver(store, config, now=t.at + 31 + 61)
        assert fourth.messages == 1
    assert outbox.outbox_counts(store) == {"sent": 2}
    assert len(hook.received) == 3 and len(box.mails) == 1
    assert len({r.headers["x-traintriage-delivery"] for r in hook.received}) == 1  # same message, same id


def test_permanent_failure_is_dead_listed_and_can_be_retried(train: tuple[Train, Store]) -> None:
    t, store = train
    hook = WebhookReceiver()
    hook.responses.append((404, {"no": "such hook"}))
    with serve_http(hook) as url:
        config = parse_config(
            f'[channels.h]\ntype = "webhook"\nurl = "{url}/h"\n[[subscriptions]]\nteam = "*"\nchannel = "h"\nevents = ["new"]\n'
        )
        notify_service.scan(store, config, now=t.at)
        report = notify_service.deliver(store, config, now=t.at)
        assert report.dead == 1 and "HTTP 404" in report.errors[0]
        (dead,) = outbox.dead_rows(store)
        assert "HTTP 404" in (dead.last_error or "")
        assert outbox.retry_dead(store, now=t.at + 5) == 1
        assert notify_service.deliver(store, config, now=t.at + 5).messages == 1


def test_rate_limit_and_digest_bundle_a_flood(train: tuple[Train, Store]) -> None:
    t, store = train
    hook = WebhookReceiver()
    with serve_http(hook) as url:
        config = parse_config(
            f'[channels.h]\ntype = "webhook"\nurl = "{url}/h"\n'
            f'[[subscriptions]]\nteam = "*"\nchannel = "h"\nmax_per_hour = 1\n'
            f'[channels.d]\ntype = "webhook"\nurl = "{url}/d"\n'
            f'[[subscriptions]]\nteam = "*"\nchannel = "d"\ndigest_minutes = 60\n'
        )
        notify_service.scan(store, config, now=t.at)
        assert outbox.outbox_counts(store)["pending"] == 4  # NEW + decision, for each subscription
        notify_service.deliver(store, config, now=t.at)
        h = [r.json() for r in hook.received if r.path == "/h"]
        assert len(h) == 1 and h[0]["type"] == "traintriage.digest" and len(h[0]["notices"]) == 2
        assert [r for r in hook.received if r.path == "/d"] == []  # the digest waits for its window
        # the verdict changes: a new notice, but the hourly budget is spent: it waits
        add_review(store, signature=t.new_sig, verdict="not-blocker", reviewer="ana", at=t.at + 30)
        notify_service.scan(store, config, now=t.at + 60)
        assert notify_service.deliver(store, config, now=t.at + 60).postponed == 1
        assert notify_service.deliver(store, config, now=t.at + 3599).messages == 0
        window_end = (int(t.at) // 3600 + 1) * 3600
        notify_service.deliver(store, config, now=max(window_end, t.at + 3601))
        h = [r.json() for r in hook.received if r.path == "/h"]
        assert len(h) == 2 and "(was NO-GO)" in h[1]["title"]
        d = [r.json() for r in hook.received if r.path == "/d"]
        assert len(d) == 1 and d[0]["type"] == "traintriage.digest" and len(d[0]["notices"]) == 3


def test_reminder_before_the_scheduled_promotion(train: tuple[Train, Store]) -> None:
    t, store = train
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(t.at, UTC)
    day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][at.weekday()]
    due = at.replace(minute=0, second=0, microsecond=0).hour + 1
    hook = WebhookReceiver()
    with serve_http(hook) as url:
        config = parse_config(
            f'[schedule]\ngroup2 = "{day} {due:02d}:00"\nremind_minutes = 90\n'
            f'[channels.h]\ntype = "webhook"\nurl = "{url}/h"\n'
            f'[[subscriptions]]\nteam = "growth-team"\nchannel = "h"\nevents = ["reminder"]\n'
        )
        notify_service.scan(store, config, now=t.at, owners=load_owners(t.owners))
        notify_service.deliver(store, config, now=t.at)
    (msg,) = [r.json() for r in hook.received]
    assert msg["kind"] == "reminder" and msg["team"] == "@growth-team" and "group2 is due in" in msg["title"]


def test_missing_secret_is_retryable_not_lost(train: tuple[Train, Store]) -> None:
    t, store = train
    os.environ.pop("TT_NOT_SET", None)
    config = parse_config(
        '[channels.h]\ntype = "webhook"\nurl = "http://127.0.0.1:9/h"\nsecret_env = "TT_NOT_SET"\n'
        '[[subscriptions]]\nteam = "*"\nchannel = "h"\nevents = ["new"]\n'
    )
    notify_service.scan(store, config, now=t.at)
    report = notify_service.deliver(store, config, now=t.at)
    assert report.failed == 1 and report.dead == 0 and "TT_NOT_SET is not set" in report.errors[0]


# --------------------------------------------------------------------------- #
# Meeting, summary, metrics
# --------------------------------------------------------------------------- #


def test_agenda_then_minutes(train: tuple[Train, Store]) -> None:
    t, store = train
    owners = load_owners(t.owners)
    a = agenda(store, NEW, t.at, owners=owners)
    assert list(a.teams) == ["@growth-team"] and a.teams["@growth-team"][0].signature == t.new_sig
    assert a.teams["@growth-team"][0].suggestion == "blocker"
    add_review(
        store,
        signature=t.new_sig,
        verdict="blocker",
        reviewer="ana",
        tasks=["T9"],
        note="save broken",
        at=t.at + 60,
    )
    m = minutes(store, NEW, t.at, t.at + 3600, owners=owners)
    assert [(e.signature, e.verdict, e.team) for e in m.entries] == [(t.new_sig, "blocker", "@growth-team")]
    assert m.verdict_after == "no-go" and m.rule_after == "nogo.blocker-review"
    assert agenda(store, NEW, t.at + 120, owners=owners).teams == {}


def test_summary_and_metrics_of_the_train(train: tuple[Train, Store]) -> None:
    t, store = train
    owners = load_owners(t.owners)
    add_review(store, signature=t.new_sig, verdict="not-blocker", reviewer="ana", tasks=["T9"], at=t.at - 600)
    rows = train_rows(store, owners=owners)
    row = next(r for r in rows if r.version == NEW)
    assert row.new_errors >= 1 and row.new_by_team.get("@growth-team") == 1
    assert row.ttfr_median is not None and row.ttfr_p90 is not None
    s = train_summary(store, NEW, now=t.at, owners=owners)
    assert s.row.version == NEW and s.history[-1].version == NEW
    e = next(x for x in s.errors if x.signature == t.new_sig)
    assert e.verdict == "not-blocker" and e.reviewer == "ana" and e.team == "@growth-team"
    b = open_backlog(store, now=t.at, owners=owners)
    assert b.total >= 1 and "@growth-team" in b.by_team  # not-blocker is still an open error
    json.dumps(s.to_dict())
