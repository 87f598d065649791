"""Accounts and protection: passwords, sessions, CSRF, token scopes, roles, headers, CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.web_client import PASSWORD, Client, add_users, copy_train, make_app
from tests.web_helpers import NEW, Train, build_train
from traintriage.cli import main
from traintriage.store import accounts
from traintriage.store.db import Store
from traintriage.web import security

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Train, dict[str, str]]:
    train = build_train(tmp_path_factory.mktemp("train"))
    return train, add_users(train.db)


@pytest.fixture
def world(base: tuple[Train, dict[str, str]], tmp_path: Path) -> tuple[Train, dict[str, str], Client]:
    train, tokens = base
    copy = copy_train(train, tmp_path)
    return copy, tokens, Client(make_app(copy))


def test_password_hashes_are_salted_scrypt() -> None:
    a, b = security.hash_password("s3cret passphrase"), security.hash_password("s3cret passphrase")
    assert a != b and a.startswith("scrypt$16384$8$1$")
    assert security.verify_password(a, "s3cret passphrase") and security.verify_password(
        b, "s3cret passphrase"
    )
    assert not security.verify_password(a, "s3cret ") and not security.verify_password(None, "s3cret")
    assert not security.verify_password("md5$abc", "s3cret")
    token, token_id, prefix, digest = security.new_token()
    assert token.startswith("tt_") and len(token) > 40 and prefix == token[:10]
    assert digest == security.token_digest(token) and token not in digest


def test_tokens_are_stored_as_digests_only(base: tuple[Train, dict[str, str]]) -> None:
    train, tokens = base
    with Store(train.db) as store:
        rows = store.query("SELECT digest, prefix FROM api_tokens")
    assert rows and all(t not in str(rows) for t in tokens.values())
    assert {r[0] for r in rows} == {security.token_digest(t) for t in tokens.values()}


def test_login_wrong_password_and_session(world: tuple[Train, dict[str, str], Client]) -> None:
    _, _, client = world
    page = client.get("/train", html=True)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Ftrain"
    r = client.login("dev", "wrong")
    assert r.status_code == 401 and "Wrong user name or password" in r.text
    assert client.get("/api/v1/me").status_code == 401
    assert client.login("nobody").status_code == 401
    r = client.login("dev")
    assert r.status_code == 303 and r.headers["location"] == "/train"
    assert client.get("/api/v1/me").json()["via"] == "session"
    assert client.get("/train", html=True).status_code == 200
    # a forged cookie is ignored
    forged = Client(client.app)
    forged.cookies.set("tt_session", client.cookies["tt_session"][:-3] + "AAA")
    assert forged.get("/api/v1/me").status_code == 401


def test_next_is_never_an_open_redirect(world: tuple[Train, dict[str, str], Client]) -> None:
    _, _, client = world
    csrf = client.csrf()
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = client.post(
            "/login", data={"name": "dev", "password": PASSWORD, "csrf_token": csrf, "next": target}
        )
        assert r.headers["location"] == "/train"
        csrf = client.csrf("/train")


def test_csrf_is_required_on_every_form_and_session_write(
    world: tuple[Train, dict[str, str], Client],
) -> None:
    train, tokens, client = world
    r = client.post("/login", data={"name": "dev", "password": PASSWORD})
    assert r.status_code == 403  # even the login form (login CSRF)
    client.login("dev")
    form = {"verdict": "not-blocker", "version": NEW}
    assert client.post(f"/signatures/{train.new_sig}/review", data=form).status_code == 403
    bad = client.post(f"/signatures/{train.new_sig}/review", data={**form, "csrf_token": "x" * 43})
    assert bad.status_code == 403
    assert client.post("/logout", data={}).status_code == 403
    # JSON API on the session cookie: X-CSRF-Token needed
    r = client.post(f"/api/v1/signatures/{train.new_sig}/reviews", json=form)
    assert r.status_code == 403
    csrf = client.csrf("/train")
    r = client.post(f"/api/v1/signatures/{train.new_sig}/reviews", json=form, headers={"x-csrf-token": csrf})
    assert r.status_code == 201
    ok = client.post(
        f"/signatures/{train.new_sig}/review", data={**form, "csrf_token": csrf, "next": "/queue"}
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/queue"
    # a bearer token carries no ambient credential: no CSRF token needed
    r = client.post(f"/api/v1/signatures/{train.new_sig}/reviews", json=form, token=tokens["dev"])
    assert r.status_code == 201


def test_roles_viewer_cannot_review_developer_cannot_manage(
    world: tuple[Train, dict[str, str], Client],
) -> None:
    train, tokens, client = world
    client.login("vera")
    csrf = client.csrf("/train")
    r = client.post(
        f"/signatures/{train.new_sig}/review", data={"verdict": "not-blocker", "csrf_token": csrf}, html=True
    )
    assert r.status_code == 403 and "review" in r.text
    assert (
        client.post(
            f"/api/v1/signatures/{train.new_sig}/reviews", json={"verdict": "expected"}, token=tokens["vera"]
        ).status_code
        == 403
    )
    assert "viewers cannot review" in client.get(f"/queue?version={NEW}&team=all", html=True).text
    assert client.get("/admin/users", html=True).status_code == 403
    assert client.get("/api/v1/users", token=tokens["dev"]).status_code == 403
    assert (
        client.post(f"/train/{NEW}/deploy", data={"group": "group2", "csrf_token": csrf}).status_code == 403
    )
    # admins manage users
    admin = Client(client.app)
    admin.login("ada")
    assert "vera" in admin.get("/admin/users", html=True).text
    new = {"name": "kim", "role": "developer", "team": "@growth-team", "password": "pw-kim-123-long"}
    assert admin.post("/api/v1/users", json=new, token=tokens["ada"]).status_code == 201
    assert admin.post("/api/v1/users", json=new, token=tokens["ada"]).status_code == 422
    csrf = admin.csrf("/admin/users")
    r = admin.post("/admin/users/kim", data={"role": "viewer", "csrf_token": csrf})
    assert r.status_code == 303
    with Store(train.db) as store:
        kim = accounts.get_user(store, "kim")
    assert kim is not None and kim.role == "viewer" and kim.team == "@growth-team"


def test_token_scopes_are_cut_to_the_role_and_revocable(world: tuple[Train, dict[str, str], Client]) -> None:
    train, tokens, client = world
    assert security.effective_scopes("viewer", ("read", "review", "admin")) == frozenset({"read"})
    client.login("dev")
    csrf = client.csrf("/account")
    r = client.post("/account/tokens", data={"label": "ci", "scope": ["read"], "csrf_token": csrf})
    assert r.status_code == 200  # the token is in this answer, and nowhere else
    token = re.search(r'class="token">(tt_[^<]+)<', r.text).group(1)  # type: ignore[union-attr]
    assert token not in client.get("/account", html=True).text  # shown once
    assert client.get("/api/v1/me", token=token).json()["scopes"] == ["read"]
    r = client.post(f"/api/v1/signatures/{train.new_sig}/reviews", json={"verdict": "expected"}, token=token)
    assert r.status_code == 403  # a read token cannot review, although its owner can
    assert (
        client.post(
            "/account/tokens", data={"label": "x", "scope": ["admin"], "csrf_token": csrf}
        ).status_code
        == 403
    )
    token_id = client.get("/api/v1/tokens", token=token).json()[-1]["id"]
    assert client.request("DELETE", f"/api/v1/tokens/{token_id}", token=token).status_code == 204
    assert client.get("/api/v1/me", token=token).status_code == 401
    # a disabled user's tokens stop working
    with Store(train.db) as store:
        accounts.set_disabled(store, "vera", True)
    assert client.get("/api/v1/me", token=tokens["vera"]).status_code == 401


def test_password_change_ends_sessions(world: tuple[Train, dict[str, str], Client]) -> None:
    train, _, client = world
    client.login("dev")
    assert client.get("/api/v1/me").status_code == 200
    with Store(train.db) as store:
        accounts.set_password(store, "dev", security.hash_password("another one, longer"))
    assert client.get("/api/v1/me").status_code == 401


def test_security_headers_everywhere(world: tuple[Train, dict[str, str], Client]) -> None:
    _, tokens, client = world
    client.login("dev")
    for url in ("/train", "/login", "/static/app.css", "/api/v1/trains", "/nowhere"):
        h = client.get(url, html=True, token=tokens["dev"] if url.startswith("/api") else None).headers
        csp = h["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "same-origin"
    cookie = client.login("dev").headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/train", html=True).text
    assert "<style" not in page and " style=" not in page and "onclick" not in page
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/app.js" defer>']


def test_login_throttle(world: tuple[Train, dict[str, str], Client]) -> None:
    """Three free failures per name, then a delay (429 with Retry-After) even for the right
    password; tests/test_web_limits.py covers the delay, the address limit and the bounds."""
    _, _, client = world
    for _ in range(3):
        assert client.login("dev", "nope").status_code == 401
    waiting = client.login("dev")
    assert waiting.status_code == 429 and int(waiting.headers["retry-after"]) >= 1


def test_cli_user_add_and_token_create(tmp_path: Path, base: tuple[Train, dict[str, str]]) -> None:
    train = copy_train(base[0], tmp_path)
    runner = CliRunner()
    r = runner.invoke(
        main,
        [
            "user",
            "add",
            "lee",
            "--role",
            "developer",
            "--team",
            "@growth-team",
            "--password-stdin",
            "--db",
            train.db,
        ],
        input="pw of lee, long enough\n",
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["user", "add", "lee", "--role", "viewer", "--no-password", "--db", train.db])
    assert r.exit_code == 65 and "exists" in r.output  # EX_DATAERR: conflicts with a stored user
    r = runner.invoke(
        main, ["token", "create", "--user", "lee", "--scope", "read", "--scope", "review", "--db", train.db]
    )
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[0]
    assert token.startswith("tt_")
    r = runner.invoke(main, ["token", "create", "--user", "lee", "--scope", "admin", "--db", train.db])
    assert r.exit_code == 64 and "cannot hold" in r.output  # EX_USAGE
    client = Client(make_app(train))
    assert client.get("/api/v1/me", token=token).json()["scopes"] == ["read", "review"]
    assert client.login("lee", "pw of lee, long enough").status_code == 303
    r = runner.invoke(main, ["token", "list", "--json", "--db", train.db])
    listed = [t for t in __import__("json").loads(r.stdout) if t["user"] == "lee"]
    assert listed and token not in r.stdout
    assert runner.invoke(main, ["token", "revoke", listed[0]["id"], "--db", train.db]).exit_code == 0
    assert client.get("/api/v1/me", token=token).status_code == 401
