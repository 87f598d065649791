"""JSON API: in-process (httpx + ASGITransport) on a real SQLite file with a real ingested train."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import mw_line
from tests.web_client import Client, add_users, copy_train, make_app
from tests.web_helpers import NEW, PROMOTIONS, Train, build_train
from traintriage.core.timeparse import iso
from traintriage.ingest.pipeline import ingest
from traintriage.store import accounts
from traintriage.store.db import Store
from traintriage.store.search import search_signatures
from traintriage.web import security
from traintriage.web.app import WebSettings, create_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Train, dict[str, str]]:
    train = build_train(tmp_path_factory.mktemp("train"))
    return train, add_users(train.db)


@pytest.fixture
def world(base: tuple[Train, dict[str, str]], tmp_path: Path) -> tuple[Train, dict[str, str], Client]:
    """A private copy of the train, its tokens, and a client of a fresh app on it."""
    train, tokens = base
    copy = copy_train(train, tmp_path)
    return copy, tokens, Client(make_app(copy))


def test_openapi_is_served_and_no_cdn_docs(world: tuple[Train, dict[str, str], Client]) -> None:
    _, _, client = world
    schema = client.get("/api/v1/openapi.json").json()
    for path in (
        "/api/v1/gate",
        "/api/v1/trains/{version}/status",
        "/api/v1/signatures/{sig}/reviews",
        "/api/v1/coverage",
    ):
        assert path in schema["paths"]
    assert not any(p.startswith(("/train", "/queue", "/login")) for p in schema["paths"])  # pages stay out
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404


def test_api_needs_a_token(world: tuple[Train, dict[str, str], Client]) -> None:
    _, tokens, client = world
    r = client.get("/api/v1/trains")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/v1/trains", token="tt_not-a-token").status_code == 401
    assert client.get("/api/v1/me", token=tokens["vera"]).json() == {
        "user": "vera",
        "role": "viewer",
        "team": None,
        "scopes": ["read"],
        "via": "token",
    }


def test_trains_status_and_overview(world: tuple[Train, dict[str, str], Client]) -> None:
    train, tokens, client = world
    t = tokens["vera"]
    trains = client.get("/api/v1/trains", token=t).json()
    assert trains["live"] == [NEW, "1.36.0-wmf.27"]
    assert trains["trains"][0]["state"]["stage"] == "group1"
    history = client.get(f"/api/v1/trains/{NEW}", token=t).json()
    assert [s["group"] for s in history["stages"] if s["promotions"]] == ["testwikis", "group0", "group1"]
    status = client.get(f"/api/v1/trains/{NEW}/status", token=t).json()
    assert (status["verdict"], status["rule"]) == ("no-go", "nogo.unreviewed-critical-new")
    entry = next(e for e in status["new"] if e["signature"] == train.new_sig)
    assert (
        entry["owner"]["team"] == entry["team"] == "@growth-team"
        and entry["blocking"]
        and entry["review"] is None
    )
    overview = client.get(f"/api/v1/trains/{NEW}/overview", token=t).json()
    assert [e["signature"] for e in overview["blockers"]] == [train.new_sig]
    assert list(overview["untriaged_by_team"]) == ["@growth-team"]
    assert overview["last_promotion"]["group"] == "group1"
    assert client.get("/api/v1/trains/9.99.0-wmf.1", token=t).status_code == 404


def test_gate_statuses_for_deploy_tools(world: tuple[Train, dict[str, str], Client]) -> None:
    train, tokens, client = world
    t = tokens["vera"]
    r = client.get(f"/api/v1/gate?version={NEW}&stage=group2", token=t)
    assert r.status_code == 409
    body = r.json()
    assert body["verdict"] == "no-go" and body["http_status"] == 409 and body["exit_code"] == 1
    assert body["top_offenders"][0]["signature"] == train.new_sig
    # Argo Rollouts' web provider treats non-2xx as an error: always_200 keeps the verdict in the body
    r = client.get(f"/api/v1/gate?version={NEW}&stage=group2&always_200=true", token=t)
    assert r.status_code == 200 and r.json()["verdict"] == "no-go"
    # too early on group0: inconclusive, ask again later
    early = iso(PROMOTIONS["group0"] + 300)
    r = client.get(f"/api/v1/gate?version={NEW}&stage=group1&at={early}", token=t)
    assert r.status_code == 503 and r.json()["verdict"] == "inconclusive"
    assert int(r.headers["retry-after"]) > 0
    # Flagger webhook: POST with the token in metadata
    flagger = {
        "name": "mw",
        "namespace": "prod",
        "phase": "Progressing",
        "metadata": {"version": NEW, "stage": "group2", "token": t},
    }
    assert client.post("/api/v1/gate", json=flagger).status_code == 409
    assert client.post("/api/v1/gate", json={**flagger, "metadata": {"version": NEW}}).status_code == 401
    # reviewed as not-blocker: go
    review = {"verdict": "not-blocker", "version": NEW, "task": "T123456", "note": "known flake"}
    assert (
        client.post(
            f"/api/v1/signatures/{train.new_sig}/reviews", json=review, token=tokens["dev"]
        ).status_code
        == 201
    )
    r = client.get(f"/api/v1/gate?version={NEW}&stage=group2", token=t)
    assert r.status_code == 200 and r.json()["verdict"] == "go"
    assert client.post("/api/v1/gate", json=flagger).status_code == 200
    assert client.get(f"/api/v1/gate?version={NEW}&stage=group9", token=t).status_code == 422
    assert client.get(f"/api/v1/gate?version={NEW}&window=soon", token=t).status_code == 422


def test_reviews_audit_and_validation(world: tuple[Train, dict[str, str], Client]) -> None:
    train, tokens, client = world
    sig = train.new_sig
    r = client.post(f"/api/v1/signatures/{sig[:8]}/reviews", json={"verdict": "known"}, token=tokens["dev"])
    assert r.status_code == 422 and "task" in r.json()["detail"]
    r = client.post(f"/api/v1/signatures/{sig}/reviews", json={"verdict": "maybe"}, token=tokens["dev"])
    assert r.status_code == 422
    r = client.post(
        f"/api/v1/signatures/{sig}/reviews",
        json={"verdict": "blocker", "task": "T42", "assignee": "dev"},
        token=tokens["dev"],
    )
    assert r.status_code == 201
    record = r.json()
    assert (record["verdict"], record["reviewer"], record["tasks"]) == ("blocker", "dev", ["T42"])
    history = client.get(f"/api/v1/signatures/{sig}/reviews", token=tokens["vera"]).json()
    assert [h["verdict"] for h in history] == ["blocker"]
    actions = [a["action"] for a in client.get(f"/api/v1/audit?signature={sig}", token=tokens["vera"]).json()]
    assert "review-added" in actions and "task-linked" in actions
    status = client.get(f"/api/v1/trains/{NEW}/status", token=tokens["vera"]).json()
    assert status["rule"] == "nogo.blocker-review"
    assert (
        client.post(
            "/api/v1/signatures/ffff0000/reviews", json={"verdict": "expected"}, token=tokens["dev"]
        ).status_code
        == 404
    )


def test_search_signature_queue_and_coverage(world: tuple[Train, dict[str, str], Client]) -> None:
    train, tokens, client = world
    t = tokens["vera"]

    def ids(query: str) -> list[str]:
        return [r["signature"] for r in client.get(f"/api/v1/signatures?{query}", token=t).json()["results"]]

    assert ids("q=echo") == [train.new_sig]
    assert ids(f"q={train.new_sig[:6]}") == [train.new_sig]
    assert ids("team=@growth-team") == [train.new_sig]
    assert set(ids("team=@platform-team")) == set(train.stable_sigs)
    assert ids("verdict=untriaged&channel=exception&q=typeerror") == [train.new_sig]
    assert ids(f"version={NEW}&group=testwikis") and train.new_sig not in ids(
        f"version={NEW}&group=testwikis"
    )
    assert train.new_sig in ids(f"version={NEW}&group=group0")
    assert ids("q=100%25_") == []  # LIKE wildcards are literal

    detail = client.get(f"/api/v1/signatures/{train.new_sig[:6]}", token=t).json()
    assert detail["signature"] == train.new_sig and detail["team"] == "@growth-team"
    assert detail["explanation"] and detail["samples"] and detail["hours"]
    assert {g["group"] for g in detail["groups"]} == {"group0", "group1"}
    assert client.get("/api/v1/signatures/zz", token=t).status_code == 404

    queue = client.get(f"/api/v1/queue?version={NEW}&team=@growth-team", token=t).json()
    assert [r["signature"] for r in queue["rows"]] == [train.new_sig] and queue["untriaged"] == 1
    assert client.get(f"/api/v1/queue?version={NEW}&team=@platform-team", token=t).json()["rows"] == []
    coverage = client.get(f"/api/v1/coverage?version={NEW}", token=t).json()
    assert coverage["signatures"] == 1 and coverage["owned"] == 1 and coverage["triaged"] == 0
    assert coverage["teams"]["@growth-team"]["blocking"] == 1


def test_deploy_steps_need_a_deployer_with_ingest_scope(world: tuple[Train, dict[str, str], Client]) -> None:
    _, tokens, client = world
    step = {"version": NEW, "group": "group2", "actor": "scap"}
    assert client.post("/api/v1/deploys", json=step, token=tokens["dev"]).status_code == 403
    r = client.post("/api/v1/deploys", json=step, token=tokens["dora"])
    assert r.status_code == 201 and r.json()["message"] == f"group2 wikis to {NEW}"
    state = client.get(f"/api/v1/trains/{NEW}", token=tokens["vera"]).json()["state"]
    assert state["stage"] == "group2" and state["complete"]
    assert (
        client.post("/api/v1/deploys", json={**step, "group": "group7"}, token=tokens["dora"]).status_code
        == 422
    )


def test_accounts_and_search_sql_on_both_backends(store: Store, tmp_path: Path) -> None:
    """The web's own SQL (store/accounts.py, store/search.py) on SQLite and PostgreSQL."""
    log = tmp_path / "e.log"
    log.write_text(
        "\n".join(
            mw_line(req=f"r{i}", wiki=w, message=m, cls="TypeError" if "Echo" in m else "RuntimeException")
            for i, (w, m) in enumerate(
                [("enwiki", "Echo broke on rate%_limit"), ("dewiki", "Cache miss"), ("enwiki", "Cache miss")]
            )
        )
        + "\n"
    )
    ingest(store, [str(log)])
    assert [s.title for s in search_signatures(store, text="rate%_l")] and not search_signatures(
        store, text="rate%xl"
    )
    assert len(search_signatures(store, channel="exception")) == 2
    assert len(search_signatures(store, text="runtimeexception", version="1.36.0-wmf.27")) == 1
    accounts.create_user(store, "u1", "developer", security.hash_password("pw of u1 long enough"), "@t")
    with pytest.raises(accounts.AccountError):
        accounts.create_user(store, "u1", "viewer")
    token, token_id, prefix, digest = security.new_token()
    accounts.create_token(
        store, token_id=token_id, user="u1", digest=digest, prefix=prefix, scopes=("read",), label="x"
    )
    found = accounts.token_by_digest(store, digest)
    assert found is not None and found.owner is not None and found.owner.team == "@t"
    accounts.touch_token(store, token_id)
    assert accounts.revoke_token(store, token_id, "u1") and accounts.token_by_digest(store, digest) is None
    assert (
        accounts.setting_or_create(store, "k", "a") == "a"
        and accounts.setting_or_create(store, "k", "b") == "a"
    )


def test_owners_from_environment_are_loaded_once(
    base: tuple[Train, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bug (issue 7): with ownership from $TRAINTRIAGE_OWNERS (serve's default) the overview, queue
    and coverage answered 500 (an owner dict where a team name was expected). The file is read
    once at start: changing it afterwards changes nothing until a restart."""
    train, tokens = base
    copy = copy_train(train, tmp_path)
    monkeypatch.setenv("TRAINTRIAGE_OWNERS", copy.owners)
    monkeypatch.chdir(tmp_path)
    client = Client(create_app(WebSettings(db=copy.db, owners=None, at=copy.at)))
    Path(copy.owners).write_text("extension:Echo @other-team\n")
    t = tokens["vera"]
    status = client.get(f"/api/v1/trains/{NEW}/status", token=t)
    assert status.status_code == 200
    entry = next(e for e in status.json()["new"] if e["signature"] == train.new_sig)
    assert entry["owner"]["team"] == entry["team"] == "@growth-team"
    overview = client.get(f"/api/v1/trains/{NEW}/overview", token=t)
    assert overview.status_code == 200 and list(overview.json()["untriaged_by_team"]) == ["@growth-team"]
    queue = client.get(f"/api/v1/queue?version={NEW}&team=@growth-team", token=t)
    assert queue.status_code == 200 and [r["signature"] for r in queue.json()["rows"]] == [train.new_sig]
    coverage = client.get(f"/api/v1/coverage?version={NEW}", token=t)
    assert coverage.status_code == 200 and coverage.json()["owned"] == 1
    assert coverage.json()["teams"]["@growth-team"]["signatures"] == 1
    page = client.get(f"/api/v1/signatures/{train.new_sig}", token=t)
    assert page.status_code == 200 and page.json()["team"] == "@growth-team"
