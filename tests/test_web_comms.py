"""Agenda, minutes, summary, trends and task pages, and their JSON/CSV API, in-process (httpx over ASGI)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web_client import Client, add_users, copy_train, make_app
from tests.web_helpers import NEW, XSS_SCRIPT, Train, build_train
from traintriage.core.timeparse import iso
from traintriage.store.db import Store
from traintriage.store.reviews import add_review

pytestmark = pytest.mark.slow  # a web train per module: seconds of set-up


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Train:
    return build_train(tmp_path_factory.mktemp("web-comms"), xss=True)


@pytest.fixture
def site(built: Train, tmp_path: Path) -> Iterator[tuple[Client, Train, dict[str, str]]]:
    train = copy_train(built, tmp_path / "t")
    tokens = add_users(train.db)
    client = Client(make_app(train))
    client.login("vera")  # a viewer: every page here is read-only
    yield client, train, tokens


def test_pages_answer_for_a_reader(site: tuple[Client, Train, dict[str, str]]) -> None:
    client, train, _ = site
    agenda = client.get(f"/agenda?version={NEW}", html=True)
    assert agenda.status_code == 200 and "Train log triage · 1.36.0-wmf.28" in agenda.text
    assert "@growth-team" in agenda.text and "suggested verdict" in agenda.text
    summary = client.get(f"/summary?version={NEW}", html=True)
    assert summary.status_code == 200 and "Summary of 1.36.0-wmf.28 train deployment" in summary.text
    assert summary.text.count('<svg class="spark"') == 5
    trends = client.get("/trends", html=True)
    assert trends.status_code == 200
    assert trends.text.count('<svg class="chart trend"') == 5 and '<svg class="chart stacked"' in trends.text
    assert NEW in trends.text and "Open error backlog by team and age" in trends.text
    task = client.get(f"/signatures/{train.new_sig}/task", html=True)
    assert task.status_code == 200 and "==== Error ====" in task.text
    assert (
        'id="create-task" href="https://phabricator.wikimedia.org/maniphest/task/edit/form/46/?title='
        in task.text
    )
    short = client.get(f"/signatures/{train.new_sig[:8]}/task", html=True, follow_redirects=False)
    assert short.status_code == 303 and short.headers["location"] == f"/signatures/{train.new_sig}/task"
    assert client.get("/signatures/ffffffff/task", html=True).status_code == 404
    assert client.get("/trends?weeks=0", html=True).status_code == 422


def test_minutes_show_the_verdicts_of_the_meeting(site: tuple[Client, Train, dict[str, str]]) -> None:
    client, train, _ = site
    with Store(train.db) as store:
        add_review(
            store,
            signature=train.new_sig,
            verdict="blocker",
            reviewer="ana",
            note="breaks save",
            at=train.at - 60,
        )
    page = client.get(f"/agenda/minutes?version={NEW}&since={iso(train.at - 3600)}", html=True)
    assert page.status_code == 200 and "breaks save" in page.text and "rv-blocker" in page.text
    doc = client.get(f"/api/v1/trains/{NEW}/minutes?since={iso(train.at - 3600)}").json()
    assert [d["verdict"] for d in doc["decisions"]] == ["blocker"] and doc["verdict_after"] == "no-go"


def test_api_json_csv_and_tokens(site: tuple[Client, Train, dict[str, str]]) -> None:
    client, train, tokens = site
    anon = Client(client.app)
    assert anon.get("/api/v1/trends").status_code == 401
    rows = anon.get("/api/v1/trends", token=tokens["vera"]).json()
    assert any(r["version"] == NEW for r in rows)
    resp = anon.get("/api/v1/trends.csv", token=tokens["vera"])
    assert resp.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(resp.text)))
    assert parsed[-1]["version"] == NEW and "time_to_first_review_p90_seconds" in parsed[0]
    agenda = anon.get(f"/api/v1/trains/{NEW}/agenda", token=tokens["vera"]).json()
    assert agenda["version"] == NEW and "@growth-team" in agenda["teams"]
    summary = anon.get(f"/api/v1/trains/{NEW}/summary", token=tokens["vera"]).json()
    assert summary["subject"] == f"Summary of {NEW} train deployment"
    text = anon.get(f"/api/v1/trains/{NEW}/summary.txt", token=tokens["vera"])
    assert text.text.startswith(f"Summary of {NEW} train deployment")
    backlog = anon.get("/api/v1/backlog", token=tokens["vera"]).json()
    assert backlog["total"] >= 1
    cycle = anon.get("/api/v1/cycle?start=2021-01-01&weeks=30", token=tokens["vera"]).json()
    assert NEW in cycle["trains"]
    assert anon.get("/api/v1/cycle?start=2021-01-01&weeks=0", token=tokens["vera"]).status_code == 422
    assert anon.get("/api/v1/trains/1.36.0-wmf.99/summary", token=tokens["vera"]).status_code == 404
    schema = anon.get("/api/v1/openapi.json").json()
    assert "/api/v1/trends.csv" in schema["paths"] and "/api/v1/trains/{version}/agenda" in schema["paths"]


def test_hostile_log_text_is_escaped_on_every_new_page(site: tuple[Client, Train, dict[str, str]]) -> None:
    client, train, _ = site
    for path in (
        f"/agenda?version={NEW}",
        f"/summary?version={NEW}",
        "/trends",
        f"/signatures/{train.xss_sig}/task",
    ):
        body = client.get(path, html=True).text
        assert XSS_SCRIPT not in body, path
        assert "<img src=x" not in body and "<svg onload" not in body, path
    task = client.get(f"/signatures/{train.xss_sig}/task", html=True).text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in task
    assert 'href="javascript:' not in task
