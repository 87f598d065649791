"""The communication commands as a user runs them (in-process through Click's runner), on a real
store with real local receivers (a Phabricator speaking Conduit, a webhook receiver, an SMTP server
on 127.0.0.1)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import cli
from tests.history_136 import TRAINS, wikiversions_log
from tests.test_report_pure import GIT_LOG
from tests.web_helpers import NEW, Train, build_train
from traintriage.core.timeparse import iso
from traintriage_sim.receivers import FakePhabricator, SmtpReceiver, WebhookReceiver, serve_http, serve_smtp

pytestmark = pytest.mark.slow  # local HTTP/SMTP receivers, CLI subprocesses: seconds per test

TOKEN = "api-demo-token"


@dataclass
class Out:
    returncode: int
    stdout: str
    stderr: str


def run(*args: str, env: dict[str, str] | None = None) -> Out:
    """`traintriage ARGS` in-process (CliRunner, so coverage sees the commands), stdout and stderr apart."""
    result = cli(*args, env=env)
    return Out(result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Train:
    return build_train(tmp_path_factory.mktemp("cli-comms"))


@pytest.fixture
def train(built: Train, tmp_path: Path) -> Train:
    db = tmp_path / "traintriage.db"
    shutil.copy(built.db, db)
    return Train(str(db), built.owners, built.at, built.new_sig, list(built.stable_sigs))


@pytest.fixture
def phab() -> Iterator[tuple[FakePhabricator, str]]:
    fake = FakePhabricator(TOKEN, projects=("notifications",))
    with serve_http(fake) as url:
        yield fake, url


def test_task_draft_file_and_blocker_follow(train: Train, phab: tuple[FakePhabricator, str]) -> None:
    fake, url = phab
    env = {
        "TRAINTRIAGE_DB": train.db,
        "TRAINTRIAGE_PHABRICATOR_URL": url,
        "TRAINTRIAGE_PHABRICATOR_TOKEN": TOKEN,
    }
    blocker = fake.add_task(f"{NEW} deployment blockers", subtype="release")
    out = run("tasks", "blockers", NEW, "--refresh", env=env)
    assert out.returncode == 0, out.stderr
    assert f"T{blocker} {NEW} deployment blockers [open]" in out.stdout and "no subtasks" in out.stdout
    out = run("task", train.new_sig[:8], "--owners", train.owners, "--blocker", env=env)
    assert out.returncode == 0, out.stderr
    assert "title: TypeError: Argument 1 passed to Echo\\Notifier::notify()" in out.stdout, out.stdout[:300]
    assert f"parent: T{blocker}" in out.stdout and "==== Error ====" in out.stdout
    assert "likely duplicates: none found" in out.stderr
    link = run("task", train.new_sig, "--format", "link", "--blocker", env=env)
    assert (
        link.stdout.startswith(f"{url}/maniphest/task/edit/form/46/?title=")
        and f"parent={blocker}" in link.stdout
    )
    md = json.loads(run("task", train.new_sig, "--format", "json", env=env).stdout)
    assert md["draft"]["markdown"].startswith("## TypeError")
    filed = run(
        "task", train.new_sig, "--owners", train.owners, "--blocker", "--file", "--as", "ana", env=env
    )
    assert filed.returncode == 0, filed.stderr
    task_id = next(int(k) for k, t in fake.tasks.items() if t.parents == [blocker])
    assert f"filed T{task_id}" in filed.stdout
    # filing again: the task is linked now, so it is a likely duplicate (exit 65 = conflict)
    again = run("task", train.new_sig, "--file", "--as", "ana", env=env)
    assert again.returncode == 65 and f"T{task_id}" in again.stderr and "--force" in again.stderr
    out = run("tasks", "blockers", NEW, "--refresh", env=env)
    assert f"OPEN   T{task_id} [open]" in out.stdout and f"({train.new_sig[:8]})" in out.stdout
    status = json.loads(run("train", "status", NEW, "--json", env=env).stdout)  # now: after the refresh
    rule = next(r for r in status["rules"] if r["id"] == "nogo.open-blocker-task")
    assert rule["fired"] and status["blocker_task"]["open_subtasks"] == [f"T{task_id}"]


def test_tracker_errors_exit_69_and_usage_errors_64(train: Train) -> None:
    env = {
        "TRAINTRIAGE_DB": train.db,
        "TRAINTRIAGE_PHABRICATOR_URL": "http://127.0.0.1:9",
        "TRAINTRIAGE_PHABRICATOR_TOKEN": TOKEN,
    }
    out = run("task", train.new_sig, "--file", "--as", "ana", "--no-search", env=env)
    assert out.returncode == 69 and "127.0.0.1:9" in out.stderr
    assert run("task", train.new_sig, "--parent", "T1", "--blocker", env=env).returncode == 64
    assert (
        run(
            "tasks",
            "blockers",
            NEW,
            "--refresh",
            env={"TRAINTRIAGE_DB": train.db, "TRAINTRIAGE_PHABRICATOR_URL": ""},
        ).returncode
        == 64
    )
    assert run("task", "ffffffff", env={"TRAINTRIAGE_DB": train.db}).returncode == 66


def test_notify_check_run_status(train: Train, tmp_path: Path) -> None:
    hook, box = WebhookReceiver(), SmtpReceiver()
    with serve_http(hook) as url, serve_smtp(box) as (host, port):
        config = tmp_path / "notify.toml"
        config.write_text(
            f"""
base_url = "http://127.0.0.1:8080"
[channels.growth]
type = "webhook"
url = "{url}/growth"
[channels.mail]
type = "email"
smtp = "{host}:{port}"
from = "tt@example.org"
to = ["releng@example.org"]
[[subscriptions]]
team = "@growth-team"
channel = "growth"
[[subscriptions]]
team = "*"
channel = "mail"
events = ["decision"]
"""
        )
        env = {
            "TRAINTRIAGE_DB": train.db,
            "TRAINTRIAGE_OWNERS": train.owners,
            "TRAINTRIAGE_NOTIFY": str(config),
        }
        check = run("notify", "check", str(config))
        assert check.returncode == 0 and "@growth-team -> growth: new, regressed" in check.stdout
        out = run("notify", "run", "--at", iso(train.at), env=env)
        assert out.returncode == 0, out.stderr
        assert f"scanned {NEW} NO-GO: 2 notice(s), 2 newly queued" in out.stdout
        assert "delivered 2 notice(s) in 2 message(s); 0 failed" in out.stdout
        status = json.loads(run("notify", "status", "--json", env=env).stdout)
        assert status["counts"] == {"sent": 2}
        assert run("notify", "test", "growth", env=env).returncode == 0
    kinds = [r.json()["kind"] for r in hook.received]
    assert kinds == ["new", "test"]
    assert len(box.mails) == 1 and "NO-GO" in box.mails[0].message()["Subject"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[channels.x]\ntype = "pager"\n')
    out = run("notify", "check", str(bad))
    assert out.returncode == 64 and "bad.toml: [channels.x]: type must be one of" in out.stderr


def test_agenda_minutes_and_summary(train: Train) -> None:
    env = {"TRAINTRIAGE_DB": train.db, "TRAINTRIAGE_OWNERS": train.owners}
    at = iso(train.at)
    out = run("agenda", NEW, "--at", at, env=env)
    assert out.returncode == 0, out.stderr
    assert "## @growth-team (1)" in out.stdout and "suggest: blocker" in out.stdout
    agenda = json.loads(run("agenda", NEW, "--at", at, "--json", env=env).stdout)
    assert agenda["to_decide"] == 1 and list(agenda["teams"]) == ["@growth-team"]
    review = run(
        "review",
        train.new_sig,
        "--verdict",
        "not-blocker",
        "--task",
        "T5",
        "--as",
        "ana",
        "--at",
        iso(train.at + 60),
        env=env,
    )
    assert review.returncode == 0, review.stderr
    minutes = run("agenda", NEW, "--minutes", "--since", at, "--at", iso(train.at + 600), env=env)
    assert "1 decision(s) recorded; the train now: GO" in minutes.stdout
    assert f"- {train.new_sig[:8]} not-blocker (T5) by ana" in minutes.stdout
    summary = run("summary", NEW, "--at", iso(train.at + 600), env=env)
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.startswith(f"Summary of {NEW} train deployment")
    assert "Conductor: deployer" in summary.stdout and "Last 2 trains" in summary.stdout
    email = run(
        "summary", NEW, "--at", iso(train.at + 600), "--email", "--to", "wikitech@example.org", env=env
    )
    assert (
        f"Subject: Summary of {NEW} train deployment" in email.stdout
        and "To: wikitech@example.org" in email.stdout
    )
    doc = json.loads(run("summary", NEW, "--at", iso(train.at + 600), "--json", env=env).stdout)
    assert doc["train"]["version"] == NEW and set(doc["sparklines"]) >= {"rollbacks", "new_errors"}


def test_trends_backlog_and_backports(train: Train, tmp_path: Path) -> None:
    env = {"TRAINTRIAGE_DB": train.db, "TRAINTRIAGE_OWNERS": train.owners}
    log = tmp_path / "wmf28.log"
    log.write_text(GIT_LOG)
    out = run("backports", "import", str(log), env=env)
    assert (
        out.returncode == 0
        and "2 backport(s), 1 with a Bug: footer, 2 new; 1 branch commit(s) skipped, 1 unreadable"
        in out.stdout
    )
    assert "wmf28.log:24: commit without a Date: header" in out.stderr
    rows = list(csv.DictReader(io.StringIO(run("trends", "--format", "csv", env=env).stdout)))
    row = next(r for r in rows if r["version"] == NEW)
    assert (row["backports"], row["bugfix_backports"], row["new_errors"]) == ("2", "1", "1")
    text = run("trends", env=env).stdout
    assert NEW in text and "ttfr med" in text
    backlog = json.loads(run("backlog", "--at", iso(train.at), "--json", env=env).stdout)
    assert backlog["total"] >= 1 and "@growth-team" in backlog["by_team"]


def test_cycle_figures_reproduced_from_the_imported_136_history(tmp_path: Path) -> None:
    """train-stats' per-train rollbacks and rolled-back time, imported as a deploy log, come back
    exactly; the 30-week window from the first 1.36 deploy has 23 versions and 27 rollbacks."""
    db = str(tmp_path / "history.db")
    log = tmp_path / "wikiversions.log"
    log.write_text(wikiversions_log())
    out = run("deploys", "import", "--db", db, str(log))
    assert out.returncode == 0, out.stderr
    rows = json.loads(run("trends", "--format", "json", "--deploys-only", "--db", db).stdout)
    got = {r["version"]: (r["rollbacks"], r["rollback_seconds"], r["conductor"]) for r in rows}
    del got["1.35.0-wmf.41"]  # the version running before the cycle
    assert got == {v: (n, s, c) for v, _first, n, s, c in TRAINS}
    whole = json.loads(run("cycle", "--db", db, "--weeks", "40", "--json").stdout)
    assert (whole["versions"], whole["rollbacks"], whole["shipped"]) == (32, 36, 32)  # + 1.35.0-wmf.41
    essay = json.loads(run("cycle", "--db", db, "--start", "2020-07-21", "--weeks", "30", "--json").stdout)
    assert (essay["versions"], essay["rollbacks"]) == (23, 27)
    assert essay["trains"][0] == "1.36.0-wmf.1" and essay["trains"][-1] == "1.36.0-wmf.30"
    later = json.loads(run("cycle", "--db", db, "--start", "2020-09-08", "--weeks", "30", "--json").stdout)
    assert (later["versions"], later["rollbacks"]) == (24, 30)


def test_summary_is_sent_through_an_email_channel(train: Train, tmp_path: Path) -> None:
    box = SmtpReceiver()
    with serve_smtp(box) as (host, port):
        config = tmp_path / "notify.toml"
        config.write_text(
            f'[channels.mail]\ntype = "email"\nsmtp = "{host}:{port}"\nfrom = "tt@example.org"\n'
            'to = ["wikitech-l@example.org"]\n'
        )
        env = {"TRAINTRIAGE_DB": train.db}
        out = run("summary", NEW, "--at", iso(train.at), "--send", "mail", "--notify", str(config), env=env)
        assert out.returncode == 0, out.stderr
        assert run("summary", NEW, "--send", "nope", "--notify", str(config), env=env).returncode == 64
    (mail,) = box.mails
    msg = mail.message()
    assert msg["Subject"] == f"Summary of {NEW} train deployment" and mail.rcpt_to == [
        "wikitech-l@example.org"
    ]
    assert "Last 2 trains" in msg.get_content()
