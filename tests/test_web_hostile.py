"""Issue 8, the web and service half: what an attacker or a clumsy operator sends to the review,
gate and deploy endpoints. Each test reproduces a reported failure; where the store is involved
it runs on SQLite and on PostgreSQL (`db_url`), through a real app on a real train.

High 1: one review with `mute_until: inf` was stored and then broke every read.
High 5: a log line naming `1.36.0-wmf.99` moved a blocker off the train.
Medium: the gate said "go" for an unknown version; `at=NaN` and friends; bounded review fields;
errors with their own statuses; retractions (audited, nothing deleted).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import mw_line
from tests.web_client import Client, add_users, make_app
from tests.web_helpers import NEW, OLD, PROMOTIONS, Train, build_train
from traintriage.core.errors import InvalidInput
from traintriage.core.timeparse import iso
from traintriage.ingest.pipeline import ingest
from traintriage.services.reviews import ReviewChange, record_review
from traintriage.services.status import gate, train_status
from traintriage.store.db import Store
from traintriage.store.reviews import review_history, triage_state


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> tuple[Train, dict[str, str]]:
    """The web tests' train, ingested into this backend, with one user per role."""
    train = build_train(tmp_path / "train", db=db_url)
    return train, add_users(train.db)


def _counts(db: str) -> tuple[int, int]:
    with Store(db) as store:
        return (
            int(store.query("SELECT COUNT(*) FROM reviews")[0][0]),
            int(store.query("SELECT COUNT(*) FROM audit_log")[0][0]),
        )


# --- High 1: nothing unusable is stored; reads survive what was stored before ----------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mute_until", math.inf, "mute until is not a finite number"),
        ("mute_until", -math.inf, "mute until is not a finite number"),
        ("mute_until", math.nan, "mute until is not a finite number"),
        ("mute_until", 253402300799.0, "outside 2000-01-01..2100-01-01"),  # 9999-12-31T23:59:59Z
        ("mute_until", -1e20, "outside"),
        ("at", math.inf, "review time is not a finite number"),
        ("assignee", "a" * 5_000_000, "assignee is 5,000,000 characters long"),
        ("assignee", "ana\x00", "control characters"),
        ("version", "1" * 1_000_000, "version is 1,000,000 characters long"),
        ("version", "1.36.0\nwmf.28", "control or separator"),
        ("note", "n" * 4001, "note is 4,001 characters long"),
        ("tasks", tuple(f"T{i}" for i in range(1, 22)), "21 tasks at once"),
        ("tasks", ("https://phabricator.example/" + "x" * 400,), "at most 300 characters"),
        ("actor", "r" * 65, "reviewer is 65 characters long"),
    ],
)
def test_unusable_review_values_are_refused_at_the_service_and_nothing_is_stored(
    web: tuple[Train, dict[str, str]], field: str, value: Any, message: str
) -> None:
    """Bug: `{"verdict":"needs-info","mute_until":"inf"}` answered 500 but was stored, and from
    then on every page and command that met it failed. The service refuses it before writing."""
    train, _ = web
    before = _counts(train.db)
    change: dict[str, Any] = {
        "signature": train.new_sig,
        "actor": "dev",
        "verdict": "needs-info",
        "at": train.at,
    }
    change[field] = value
    with Store(train.db) as store, pytest.raises(InvalidInput, match=message):
        record_review(store, ReviewChange(**change))
    assert _counts(train.db) == before


@pytest.mark.parametrize("value", ["inf", "1e400", "NaN", "-1e20", "9999-12-31T23:59:59Z", "0001-01-01"])
def test_api_refuses_unusable_mute_times_with_422_and_stores_nothing(
    web: tuple[Train, dict[str, str]], value: str
) -> None:
    train, tokens = web
    client = Client(make_app(train))
    before = _counts(train.db)
    r = client.post(
        f"/api/v1/signatures/{train.new_sig}/reviews",
        json={"verdict": "needs-info", "mute_until": value},
        token=tokens["dev"],
    )
    assert r.status_code == 422 and "mute_until=" in r.json()["detail"]
    assert _counts(train.db) == before
    assert client.get(f"/api/v1/trains/{NEW}/status", token=tokens["dev"]).status_code == 200


def _poison(db: str, sig: str, at: float) -> int:
    """Rows as an older version stored them: a review muted until `inf`, one made at year
    3000, and their audit entries (JSON `Infinity`)."""
    with Store(db) as store, store.transaction() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM reviews")
        rid = int(cur.fetchone()[0]) + 1
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM audit_log")
        aid = int(cur.fetchone()[0]) + 1
        rows = [
            (rid, sig, NEW, "needs-info", None, None, None, "[]", math.inf, 0, "mallory", at),
            (rid + 1, sig, NEW, "not-blocker", None, None, None, "[]", None, 0, "mallory", 32503680000.0),
        ]
        cur.executemany(
            store.sql(
                "INSERT INTO reviews (id, signature, version, verdict, target, assignee, note, tasks, "
                "mute_until, mute_until_escalates, reviewer, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            rows,
        )
        detail = json.dumps({"until": math.inf, "until_escalates": False, "version": NEW, "review": rid})
        cur.execute(
            store.sql(
                "INSERT INTO audit_log (id, at, actor, action, signature, detail) VALUES (?, ?, ?, ?, ?, ?)"
            ),
            (aid, at, "mallory", "mute-set", sig, detail),
        )
    return rid


def test_reads_survive_bad_review_rows_already_stored(web: tuple[Train, dict[str, str]]) -> None:
    """Rows stored before the validation existed: every read path keeps working, the bad
    values are skipped (an impossible review time drops the review; an impossible mute
    time is no mute), and an admin can retract the review (audited, nothing deleted)."""
    train, tokens = web
    rid = _poison(train.db, train.new_sig, train.at - 60)
    with Store(train.db) as store:
        history = review_history(store, [train.new_sig])[train.new_sig]
        assert [r.id for r in history] == [rid] and history[0].mute_until is None
        assert triage_state(store, [train.new_sig])[train.new_sig].mute_until is None
        assert train_status(store, NEW, train.at).verdict == "no-go"  # needs-info does not clear
    client = Client(make_app(train))
    t = tokens["ada"]
    for url in (
        f"/api/v1/gate?version={NEW}&stage=group1",
        f"/api/v1/trains/{NEW}/status",
        f"/api/v1/trains/{NEW}/overview",
        f"/api/v1/queue?version={NEW}&team=all",
        f"/api/v1/coverage?version={NEW}",
        f"/api/v1/signatures/{train.new_sig}",
        f"/api/v1/signatures/{train.new_sig}/reviews",
        f"/api/v1/signatures?q=Echo&version={NEW}",
        "/api/v1/audit",
    ):
        r = client.get(url, token=t)
        assert r.status_code in (200, 409), (url, r.status_code, r.text[:300])
    assert client.login("ada").status_code == 303
    for page in (
        f"/train?version={NEW}",
        "/queue?team=all",
        f"/signatures/{train.new_sig}",
        "/search?q=Echo",
    ):
        r = client.get(page, html=True)
        assert r.status_code == 200, (page, r.status_code)

    # the operator's way out: retract it (admin only), see it in the audit log
    assert (
        client.post(
            f"/api/v1/reviews/{rid}/retract", json={"reason": "poison"}, token=tokens["dev"]
        ).status_code
        == 403
    )
    done = client.post(
        f"/api/v1/reviews/{rid}/retract", json={"reason": "stored with mute_until=inf"}, token=t
    )
    assert done.status_code == 200 and done.json()["what"]["verdict"] == "needs-info"
    again = client.post(f"/api/v1/reviews/{rid}/retract", json={"reason": "again"}, token=t)
    assert again.status_code == 409
    assert client.get(f"/api/v1/signatures/{train.new_sig}/reviews", token=t).json() == []
    audit = client.get(f"/api/v1/audit?signature={train.new_sig}", token=t).json()
    assert audit[0]["action"] == "review-retracted" and audit[0]["actor"] == "ada"
    assert audit[0]["detail"]["reason"] == "stored with mute_until=inf"
    with Store(train.db) as store:  # nothing deleted
        assert store.query("SELECT COUNT(*) FROM reviews WHERE id = ?", (rid,))[0][0] == 1


def test_cli_reads_survive_bad_review_rows(tmp_path: Path) -> None:
    """The CLI's `train status` and `reviews` crashed with OverflowError on such rows."""
    from click.testing import CliRunner

    from traintriage.cli import main

    train = build_train(tmp_path / "train")
    _poison(train.db, train.new_sig, train.at - 60)
    runner = CliRunner()
    status = runner.invoke(main, ["train", "status", NEW, "--at", iso(train.at), "--db", train.db, "--json"])
    assert status.exit_code == 0, status.output
    reviews = runner.invoke(main, ["reviews", train.new_sig, "--db", train.db])
    assert reviews.exit_code == 0 and "Traceback" not in reviews.output, reviews.output
    audit = runner.invoke(main, ["audit", "--db", train.db])
    assert audit.exit_code == 0, audit.output


def test_iso_never_raises() -> None:
    assert iso(math.inf) == "invalid time (inf)"
    assert iso(math.nan) == "invalid time (nan)"
    assert iso(1e300).startswith("invalid time")


# --- High 5: versions from log lines do not scope a review ------------------------------------


def test_a_log_line_cannot_move_a_blocker_off_the_train(
    web: tuple[Train, dict[str, str]], tmp_path: Path
) -> None:
    """Bug: one event with `mwversion: 1.36.0-wmf.99` for an existing signature made a later
    review without a version apply to "wmf.99 and later": a blocker stopped blocking wmf.28 and
    the gate said GO. The inferred version is now the newest one on the deployment timeline."""
    train, tokens = web
    line = mw_line(
        ts=iso(train.at - 1800),
        version="1.36.0-wmf.99",
        wiki="commonswiki",
        req="evil",
        cls="TypeError",
        message="Argument 1 passed to Echo\\Notifier::notify() must be of the type int, null given",
        file="extensions/Echo/includes/Notifier.php:77",
        frames=("extensions/Echo/includes/Hooks.php(88): Echo\\Notifier->notify()",),
    )
    log = tmp_path / "evil.log"
    log.write_text(line + "\n")
    with Store(train.db) as store:
        ingest(store, [str(log)])
        seen = {
            r[0]
            for r in store.query(
                "SELECT version FROM signature_versions WHERE signature = ?", (train.new_sig,)
            )
        }
        assert "1.36.0-wmf.99" in seen  # the event was counted; it just does not scope reviews
    client = Client(make_app(train))
    r = client.post(
        f"/api/v1/signatures/{train.new_sig}/reviews", json={"verdict": "blocker"}, token=tokens["dev"]
    )
    assert r.status_code == 201 and r.json()["version"] == NEW
    gate_r = client.get(f"/api/v1/gate?version={NEW}&stage=group2", token=tokens["dev"])
    assert gate_r.status_code == 409 and gate_r.json()["verdict"] == "no-go"
    assert gate_r.json()["decision"]["rule"] == "nogo.blocker-review"
    with Store(train.db) as store:
        result = gate(store, NEW, "group2", train.at, 20)
        assert result.exit_code == 1
        audit = store.query(
            "SELECT detail FROM audit_log WHERE action = 'review-added' ORDER BY id DESC LIMIT 1"
        )
        assert json.loads(audit[0][0])["version_from"] == "inferred"


def test_a_given_review_version_must_be_known(web: tuple[Train, dict[str, str]]) -> None:
    """A typo such as `wmf.288` would scope a blocker to nothing: refused, as is a version no
    deploy step and no event has. Known versions are accepted."""
    train, tokens = web
    client = Client(make_app(train))
    url = f"/api/v1/signatures/{train.new_sig}/reviews"
    typo = client.post(url, json={"verdict": "blocker", "version": "1.36.0-wmf.288"}, token=tokens["dev"])
    assert typo.status_code == 422 and "is unknown" in typo.json()["detail"]
    ok = client.post(url, json={"verdict": "blocker", "version": OLD}, token=tokens["dev"])
    assert ok.status_code == 201 and ok.json()["version"] == OLD


# --- Medium: the gate and unknown versions; statuses of errors ---------------------------------


def test_gate_refuses_unknown_or_empty_versions(web: tuple[Train, dict[str, str]]) -> None:
    """Bug: `/api/v1/gate?version=typo` and a Flagger payload with a typo'd version answered
    200 "go". Unknown is 404, malformed 422: never an answer a deploy tool acts on."""
    train, tokens = web
    client = Client(make_app(train))
    t = tokens["vera"]
    typo = client.get("/api/v1/gate?version=1.36.0-wmf.2&stage=testwikis", token=t)
    assert typo.status_code == 404 and "no train '1.36.0-wmf.2'" in typo.json()["detail"]
    assert client.get("/api/v1/gate?version=&stage=group1", token=t).status_code == 422
    assert client.get("/api/v1/gate?version=%20&stage=group1", token=t).status_code == 422
    assert client.get("/api/v1/gate?version=" + "9" * 5000, token=t).status_code == 422
    flagger = client.post(
        "/api/v1/gate", json={"name": "mw", "metadata": {"version": "typo", "stage": "group1", "token": t}}
    )
    assert flagger.status_code == 404
    assert client.get("/api/v1/trains/typo/status", token=t).status_code == 404
    assert client.get("/api/v1/trains/typo/overview", token=t).status_code == 404
    assert client.get(f"/api/v1/gate?version={NEW}&stage=group1", token=t).status_code in (200, 409, 503)


def test_store_failures_and_bugs_have_their_own_status(web: tuple[Train, dict[str, str]]) -> None:
    """A damaged store (here: a table gone) answers 500 with a JSON body, on the gate too:
    never 200 (go), 409 (no-go) or 503 (inconclusive)."""
    train, tokens = web
    client = Client(make_app(train), raise_app_exceptions=False)
    with Store(train.db) as store:
        store.execute("DROP TABLE deploy_steps")
    r = client.get(f"/api/v1/gate?version={NEW}&stage=group1", token=tokens["vera"])
    assert r.status_code == 500 and "internal error" in r.json()["detail"]


def test_time_parameters_that_are_not_times_are_422_everywhere(tmp_path: Path) -> None:
    """`at=NaN|inf|1e400` answered 500 on many routes. Every route with a time parameter,
    found from the OpenAPI schema, and the pages answer 422."""
    train = build_train(tmp_path / "train")
    tokens = add_users(train.db)
    client = Client(make_app(train))
    schema = client.get("/api/v1/openapi.json").json()
    checked = 0
    for path, item in schema["paths"].items():
        get = item.get("get")
        if not get:
            continue
        params = {p["name"] for p in get.get("parameters", []) if p["in"] == "query"}
        times = params & {"at", "since", "until"}
        if not times:
            continue
        url = path.replace("{version}", NEW).replace("{sig}", train.new_sig)
        for name in sorted(times):
            for bad in ("NaN", "inf", "1e400", "-1e20", "0001-01-01"):
                extra = "&version=" + NEW if "version" in params and "{version}" not in path else ""
                r = client.get(f"{url}?{name}={bad}{extra}", token=tokens["ada"])
                assert r.status_code == 422, (path, name, bad, r.status_code, r.text[:200])
                checked += 1
    assert checked >= 40
    client.login("ada")
    for page in ("/train", "/queue"):
        assert client.get(f"{page}?at=NaN", html=True).status_code == 422
    assert client.get(f"/api/v1/gate?version={NEW}&window=nan", token=tokens["ada"]).status_code == 422


# --- deploy API --------------------------------------------------------------------------------


def test_deploy_api_takes_known_groups_and_the_callers_name(web: tuple[Train, dict[str, str]]) -> None:
    """Bug: any `group` text was accepted and `actor` was whatever the caller said."""
    train, tokens = web
    client = Client(make_app(train))
    t = tokens["dora"]
    for group in ("group7", "group1,enwiki", "testwikis group0", ""):
        r = client.post("/api/v1/deploys", json={"version": NEW, "group": group}, token=t)
        assert r.status_code == 422, group
    at = iso(PROMOTIONS["group1"] + 5 * 3600)
    r = client.post(
        "/api/v1/deploys", json={"version": NEW, "group": "group2", "at": at, "actor": "ada"}, token=t
    )
    assert r.status_code == 201 and r.json()["actor"] == "dora (for ada)"
    own = client.post(
        "/api/v1/deploys", json={"version": NEW, "group": "testwikis", "at": at, "actor": "dora"}, token=t
    )
    assert own.status_code == 201 and own.json()["actor"] == "dora"
    assert (
        client.post("/api/v1/deploys", json={"version": "x" * 101, "group": "group2"}, token=t).status_code
        == 422
    )


def test_deploy_steps_can_be_retracted_by_an_admin(web: tuple[Train, dict[str, str]]) -> None:
    """A step recorded by mistake (here: wmf.28 to group2 before its time) leaves the timeline
    when an admin retracts it; the row and an audit entry stay."""
    train, tokens = web
    client = Client(make_app(train))
    at = iso(PROMOTIONS["group1"] + 3600)
    assert (
        client.post(
            "/api/v1/deploys", json={"version": NEW, "group": "group2", "at": at}, token=tokens["dora"]
        ).status_code
        == 201
    )
    state = client.get(f"/api/v1/trains/{NEW}", token=tokens["vera"]).json()["state"]
    assert state["stage"] == "group2"
    steps = client.get(f"/api/v1/deploys?version={NEW}", token=tokens["vera"]).json()
    wrong = next(s for s in steps if s["message"] == f"group2 wikis to {NEW}")
    url = f"/api/v1/deploys/{wrong['id']}/retract"
    assert client.post(url, json={"reason": "x"}, token=tokens["dora"]).status_code == 403
    assert client.post(url, json={"reason": "recorded too early"}, token=tokens["ada"]).status_code == 200
    assert client.get(f"/api/v1/trains/{NEW}", token=tokens["vera"]).json()["state"]["stage"] == "group1"
    steps = client.get(f"/api/v1/deploys?version={NEW}", token=tokens["vera"]).json()
    assert next(s for s in steps if s["id"] == wrong["id"])["retracted"] is True
    audit = client.get("/api/v1/audit", token=tokens["vera"]).json()
    assert (
        audit[0]["action"] == "deploy-step-retracted" and audit[0]["detail"]["reason"] == "recorded too early"
    )
    assert (
        client.post(
            "/api/v1/deploys/000000000000/retract", json={"reason": "x"}, token=tokens["ada"]
        ).status_code
        == 404
    )


def test_cli_retracts_reviews_and_deploy_steps(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from traintriage.cli import main

    train = build_train(tmp_path / "train")
    runner = CliRunner()
    r = runner.invoke(
        main,
        [
            "review",
            train.new_sig,
            "--verdict",
            "blocker",
            "--as",
            "ana",
            "--at",
            iso(train.at - 60),
            "--db",
            train.db,
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    rid = json.loads(r.stdout)["review"]["id"]
    r = runner.invoke(
        main, ["retract", "review", str(rid), "--reason", "wrong signature", "--as", "ops", "--db", train.db]
    )
    assert r.exit_code == 0 and f"retracted review #{rid}" in r.output, r.output
    r = runner.invoke(
        main, ["retract", "review", str(rid), "--reason", "again", "--as", "ops", "--db", train.db]
    )
    assert r.exit_code == 65  # conflicts with stored data: retracted already
    r = runner.invoke(main, ["retract", "review", "999", "--reason", "x", "--as", "ops", "--db", train.db])
    assert r.exit_code == 66
    r = runner.invoke(main, ["retract", "review", "1", "--reason", " ", "--as", "ops", "--db", train.db])
    assert r.exit_code == 64
    steps = json.loads(runner.invoke(main, ["deploys", "steps", "--json", "--db", train.db]).stdout)
    last = steps[-1]
    r = runner.invoke(
        main, ["retract", "deploy-step", last["id"], "--reason", "typo", "--as", "ops", "--db", train.db]
    )
    assert r.exit_code == 0, r.output
    listing = runner.invoke(main, ["deploys", "steps", "--db", train.db]).stdout
    assert f"{last['id']}" in listing and "(retracted)" in listing


# --- review-history cost: a decision reads the newest review per version only ------------------


def test_latest_reviews_choose_exactly_what_the_full_history_would(store: Store, tmp_path: Path) -> None:
    """The decision now reads, per signature, the newest review of each version (SQL window)
    instead of every review ever made; for any time and any flagging the effective reviews are
    the same as from the whole history, retracted reviews included in neither."""
    import random

    from traintriage.core.versions import version_key
    from traintriage.store.reviews import latest_reviews
    from traintriage.triage.reviews import effective_reviews

    log = tmp_path / "a.log"
    log.write_text(
        "\n".join(mw_line(req=f"r{i}", message=f"failure number {i}", cls=f"E{i}") for i in range(6)) + "\n"
    )
    ingest(store, [str(log)])
    sigs = [str(r[0]) for r in store.query("SELECT id FROM signatures ORDER BY id")]
    rng = random.Random(8)
    t0 = 1_611_000_000.0
    rows = []
    for i in range(1, 601):
        version = rng.choice(["1.36.0-wmf.26", OLD, NEW, None])
        at = t0 + rng.randrange(0, 40) * 600  # many ties in time: the id breaks them
        verdict = rng.choice(["blocker", "not-blocker", "expected", "needs-info"])
        rows.append((i, rng.choice(sigs), version, verdict, None, None, None, '["T1"]', None, 0, "ann", at))
    with store.transaction() as cur:
        cur.executemany(
            store.sql(
                "INSERT INTO reviews (id, signature, version, verdict, target, assignee, note, tasks, "
                "mute_until, mute_until_escalates, reviewer, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            rows,
        )
        cur.executemany(
            store.sql(
                "INSERT INTO retractions (kind, target, actor, at, reason) VALUES ('review', ?, 'ops', ?, 'x')"
            ),
            [(str(i), t0) for i in rng.sample(range(1, 601), 60)],
        )
    full = review_history(store)
    assert sum(len(v) for v in full.values()) == 540
    for at in (None, t0 + 5 * 600, t0 + 20 * 600 + 1, t0 + 40 * 600):
        latest = latest_reviews(store, at)
        assert sum(len(v) for v in latest.values()) <= len(sigs) * 4
        for version in (OLD, NEW, "1.36.0-wmf.26"):
            for flag_seed in range(3):
                flagged = set(random.Random(flag_seed).sample(sigs, 3))
                a = effective_reviews(full, version, flagged.__contains__, version_key, at=at)
                b = effective_reviews(latest, version, flagged.__contains__, version_key, at=at)
                assert a == b, (at, version, flag_seed)
