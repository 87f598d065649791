"""Issue 8: sessions end on the server side (logout, absolute lifetime), tokens cannot be turned
against their owner's other tokens nor sit in a cookie, token auth survives a store that cannot
be written, and an admin cannot lock the web app out of administration. On SQLite and
PostgreSQL where the store is involved."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.web_client import PASSWORD, Client, add_users, make_app
from tests.web_helpers import Train, build_train
from traintriage.store import accounts
from traintriage.store.db import Store
from traintriage.web import security
from traintriage.web.app import SESSION_SECRET_KEY
from traintriage.web.auth import SESSION_COOKIE


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> tuple[Train, dict[str, str]]:
    train = build_train(tmp_path / "train", db=db_url)
    return train, add_users(train.db)


def _cookie_data(value: str) -> dict[str, object]:
    payload = value.split(".", 1)[0]
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert isinstance(data, dict)
    return data


def test_a_cookie_saved_before_logout_no_longer_works(web: tuple[Train, dict[str, str]]) -> None:
    """Bug: a session cookie copied before logout still worked after it (the session was only
    forgotten by the browser). Logout moves the user's session generation on the server."""
    train, _ = web
    app = make_app(train)
    browser = Client(app)
    assert browser.login("dev").status_code == 303
    saved = browser.cookies.get(SESSION_COOKIE)
    assert saved and browser.get("/api/v1/me").status_code == 200
    csrf = browser.csrf("/train")
    assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 303
    thief = Client(app)
    thief.cookies.set(SESSION_COOKIE, saved)
    assert thief.get("/api/v1/me").status_code == 401
    assert browser.login("dev").status_code == 303  # logging in again works
    assert browser.get("/api/v1/me").status_code == 200


def test_disabling_a_user_ends_their_sessions_and_reenabling_does_not_revive_them(
    web: tuple[Train, dict[str, str]],
) -> None:
    train, _ = web
    app = make_app(train)
    browser = Client(app)
    browser.login("dev")
    saved = browser.cookies.get(SESSION_COOKIE)
    with Store(train.db) as store:
        accounts.set_disabled(store, "dev", True)
        accounts.set_disabled(store, "dev", False)
    again = Client(app)
    again.cookies.set(SESSION_COOKIE, saved or "")
    assert again.get("/api/v1/me").status_code == 401


def test_sessions_have_an_absolute_lifetime(web: tuple[Train, dict[str, str]]) -> None:
    """Bug: sessions slid forever (every response re-signed the cookie). A session now ends
    `session_lifetime` after login, however active; a cookie re-signed yesterday does not help."""
    train, _ = web
    app = make_app(train, session_lifetime=3600)
    with Store(train.db) as store:
        secret = accounts.get_setting(store, SESSION_SECRET_KEY)
        user = accounts.get_user(store, "dev")
    assert secret and user
    base = {
        "user": "dev",
        "pwf": security.password_fingerprint(user.password_hash),
        "gen": user.session_generation,
        "csrf": "x",
    }
    fresh = Client(app)
    fresh.cookies.set(SESSION_COOKIE, security.sign_session(secret, {**base, "iat": int(time.time()) - 60}))
    assert fresh.get("/api/v1/me").status_code == 200
    old = Client(app)
    old.cookies.set(SESSION_COOKIE, security.sign_session(secret, {**base, "iat": int(time.time()) - 3700}))
    assert old.get("/api/v1/me").status_code == 401
    legacy = Client(app)  # a cookie from before generations and issue times existed
    legacy.cookies.set(
        SESSION_COOKIE, security.sign_session(secret, {"user": "dev", "pwf": base["pwf"], "csrf": "x"})
    )
    assert legacy.get("/api/v1/me").status_code == 401


def test_a_read_token_cannot_revoke_its_owners_other_tokens(web: tuple[Train, dict[str, str]]) -> None:
    """Bug: `DELETE /api/v1/tokens/{id}` with a read-scope token revoked any of the owner's
    tokens (204). A token may revoke itself; the others need a login session or admin scope."""
    train, tokens = web
    client = Client(make_app(train))
    with Store(train.db) as store:
        token, token_id, prefix, digest = security.new_token()
        accounts.create_token(
            store, token_id=token_id, user="dora", digest=digest, prefix=prefix, scopes=("read",), label="ro"
        )
        ingest_id = next(t.id for t in accounts.list_tokens(store, "dora") if t.id != token_id)
    assert client.request("DELETE", f"/api/v1/tokens/{ingest_id}", token=token).status_code == 403
    assert client.get("/api/v1/me", token=tokens["dora"]).status_code == 200  # still alive
    assert client.request("DELETE", f"/api/v1/tokens/{token_id}", token=token).status_code == 204
    assert client.get("/api/v1/me", token=token).status_code == 401
    assert client.login("dora").status_code == 303  # from a session: any of one's own
    csrf = client.csrf("/account")
    r = client.request("DELETE", f"/api/v1/tokens/{ingest_id}", headers={"x-csrf-token": csrf})
    assert r.status_code == 204


def test_a_new_token_is_shown_once_and_never_put_in_the_cookie(web: tuple[Train, dict[str, str]]) -> None:
    """Bug: a new API token sat in the (signed, not encrypted) session cookie until the next
    page. It is now in the response that created it, and nowhere else."""
    train, _ = web
    client = Client(make_app(train))
    client.login("dev")
    csrf = client.csrf("/account")
    r = client.post("/account/tokens", data={"csrf_token": csrf, "label": "ci", "scope": "read"}, html=True)
    assert r.status_code == 200
    shown = r.text.split('<code class="token">', 1)[1].split("<", 1)[0]
    assert shown.startswith("tt_")
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie and shown not in json.dumps(_cookie_data(cookie))
    assert shown not in client.get("/account", html=True).text  # shown once
    assert client.get("/api/v1/me", token=shown).status_code == 200


def test_token_auth_writes_last_used_rarely_and_survives_a_failed_write(
    web: tuple[Train, dict[str, str]],
) -> None:
    """Bug: token auth wrote `last_used` on every request, so under a full disk even the gate's
    GET answered 500. The write happens at most once a minute, and its failure is ignored."""
    train, tokens = web
    client = Client(make_app(train))
    t = tokens["vera"]
    assert client.get("/api/v1/me", token=t).status_code == 200
    with Store(train.db) as store:
        first = {x.id: x.last_used_at for x in accounts.list_tokens(store, "vera")}
    assert client.get("/api/v1/me", token=t).status_code == 200
    with Store(train.db) as store:
        assert {x.id: x.last_used_at for x in accounts.list_tokens(store, "vera")} == first
        # no write can succeed now: the table refuses updates (as a full disk would)
        if store.dialect == "sqlite":
            store.execute(
                "CREATE TRIGGER no_touch BEFORE UPDATE ON api_tokens BEGIN "
                "SELECT RAISE(FAIL, 'database or disk is full'); END"
            )
        else:
            store.execute(
                "ALTER TABLE api_tokens ADD CONSTRAINT no_touch CHECK (last_used_at IS NULL) NOT VALID"
            )
        store.execute("UPDATE users SET role = role")  # other writes still work
    fresh = Client(make_app(train))
    with Store(train.db) as store:
        token, token_id, prefix, digest = security.new_token()
        accounts.create_token(
            store, token_id=token_id, user="vera", digest=digest, prefix=prefix, scopes=("read",), label="new"
        )
    assert fresh.get("/api/v1/me", token=token).status_code == 200  # its touch failed, quietly


def test_admins_cannot_demote_or_disable_themselves_or_the_last_admin(
    web: tuple[Train, dict[str, str]],
) -> None:
    """Bug: an admin could demote or disable themselves through the API (the page refused it)."""
    train, tokens = web
    client = Client(make_app(train))
    t = tokens["ada"]
    assert client.request("PATCH", "/api/v1/users/ada", json={"role": "viewer"}, token=t).status_code == 422
    assert client.request("PATCH", "/api/v1/users/ada", json={"disabled": True}, token=t).status_code == 422
    assert client.request("PATCH", "/api/v1/users/ada", json={"team": "@ops"}, token=t).status_code == 200
    # a second admin may be demoted, but then ada is the last one and stays
    with Store(train.db) as store:
        accounts.create_user(store, "bo", "admin", security.hash_password(PASSWORD))
    bo = Client(make_app(train))
    assert bo.login("bo").status_code == 303
    csrf = bo.csrf("/train")
    r = bo.request("PATCH", "/api/v1/users/ada", json={"role": "deployer"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 200
    r = client.request("PATCH", "/api/v1/users/bo", json={"disabled": True}, token=t)
    assert r.status_code == 403  # ada is a deployer now: no admin scope
    r = bo.request("PATCH", "/api/v1/users/bo", json={"role": "viewer"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 422
    with Store(train.db) as store:
        assert accounts.count_admins(store) == 1
    r = bo.request("PATCH", "/api/v1/users/nobody", json={"role": "viewer"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 404


def test_passwords_need_twelve_characters(web: tuple[Train, dict[str, str]]) -> None:
    """Bug: 1-character passwords were accepted."""
    train, tokens = web
    client = Client(make_app(train))
    t = tokens["ada"]
    short = client.post("/api/v1/users", json={"name": "kim", "role": "viewer", "password": "x"}, token=t)
    assert short.status_code == 422 and "12 characters" in short.json()["detail"]
    r = client.request("PATCH", "/api/v1/users/dev", json={"password": "short"}, token=t)
    assert r.status_code == 422
    assert (
        client.post(
            "/api/v1/users", json={"name": "kim", "role": "viewer", "password": "a long passphrase"}, token=t
        ).status_code
        == 201
    )


def test_cli_refuses_short_passwords(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from traintriage.cli import main

    db = str(tmp_path / "t.db")
    r = CliRunner().invoke(main, ["user", "add", "kim", "--password-stdin", "--db", db], input="short\n")
    assert r.exit_code == 64 and "12 characters" in r.output


def test_unknown_cookie_keys_and_garbage_do_not_break_requests(web: tuple[Train, dict[str, str]]) -> None:
    train, _ = web
    client = Client(make_app(train))
    for value in ("garbage", "a.b", "x" * 5000):
        client.cookies = httpx.Cookies({SESSION_COOKIE: value})
        assert client.get("/api/v1/me").status_code == 401
