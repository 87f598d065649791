"""Who is asking, and may they? Sessions, API tokens, roles, scopes and CSRF.

* A browser logs in with a password and gets a signed session cookie (SessionMiddleware
  below); a deploy tool sends `Authorization: Bearer tt_...`.
* Permissions are scopes: `read` (every role), `review` (developer and up), `ingest`
  (deployer and up: record deploy steps), `admin` (admin: manage users). A token has the
  scopes it was created with, cut down to what its owner's role allows today.
* Every state-changing request that rides on the session cookie must carry the session's
  CSRF token (form field `csrf_token` or header `X-CSRF-Token`); otherwise 403.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from starlette.datastructures import FormData, MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from traintriage.store import accounts
from traintriage.store.accounts import User
from traintriage.web import security
from traintriage.web.views import Env

log = logging.getLogger(__name__)

SESSION_COOKIE = "tt_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginRequired(Exception):
    """A page needs a logged-in user: the app answers with a redirect to /login."""


@dataclass(frozen=True)
class Principal:
    user: User
    scopes: frozenset[str]
    via: str  # "session" or "token"
    token_id: str | None = None

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def role(self) -> str:
        return self.user.role

    def can(self, scope: str) -> bool:
        return scope in self.scopes

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user.name,
            "role": self.user.role,
            "team": self.user.team,
            "scopes": sorted(self.scopes),
            "via": self.via,
        }


# --- session cookie ----------------------------------------------------------------------


class SessionMiddleware:
    """Signed-cookie sessions (`request.session`), like Starlette's, on stdlib HMAC.

    The cookie is HttpOnly, SameSite=Lax, Secure when asked for, and re-signed on
    every response that has a session, so it expires `max_age` after the last visit.
    Every session gets a CSRF token, including the anonymous one of the login form.
    """

    def __init__(self, app: ASGIApp, secret: str, max_age: int, secure: bool) -> None:
        self.app, self.secret, self.max_age, self.secure = app, secret, max_age, secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        data: dict[str, Any] = {}
        raw = conn.cookies.get(SESSION_COOKIE)
        if raw:
            data = security.unsign_session(self.secret, raw, self.max_age) or {}
        had_cookie = bool(raw)
        if "csrf" not in data:
            data["csrf"] = security.new_csrf_token()
        scope["session"] = data

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                session = scope["session"]
                flags = f"; Path=/; Max-Age={self.max_age}; HttpOnly; SameSite=Lax"
                if self.secure:
                    flags += "; Secure"
                if session:
                    value = security.sign_session(self.secret, session)
                    headers.append("Set-Cookie", f"{SESSION_COOKIE}={value}{flags}")
                elif had_cookie:
                    headers.append(
                        "Set-Cookie", f"{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
                    )
            await send(message)

        await self.app(scope, receive, send_wrapper)


class SecurityHeadersMiddleware:
    """CSP without inline scripts or styles, no framing, nosniff, referrer policy, no caching."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in security.SECURITY_HEADERS:
                    headers[name] = value
                if not static:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_wrapper)


# --- dependencies ---------------------------------------------------------------------------


def get_env(request: Request) -> Iterator[Env]:
    """A store from the app's pool for this request, with the clock and ownership."""
    state = request.app.state
    store = state.pool.acquire()
    try:
        yield Env(
            store=store,
            now=state.settings.now(),
            ownership=state.ownership,
            config=state.settings.detection,
            source_url=state.settings.source_url,
        )
    finally:
        state.pool.release(store)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


TOUCH_EVERY = 60.0
"""Seconds between writes of a token's `last_used_at`: a read with a token is not a write."""


def principal_from_token(env: Env, token: str) -> Principal | None:
    found = accounts.token_by_digest(env.store, security.token_digest(token))
    if found is None or found.owner is None:
        return None
    now = time.time()
    if found.last_used_at is None or now - found.last_used_at >= TOUCH_EVERY:
        try:
            accounts.touch_token(env.store, found.id, now)
        except Exception as err:  # bookkeeping only: a full disk or a locked store must not fail a read
            log.warning("could not record the use of token %s: %s", found.id, err)
    scopes = security.effective_scopes(found.owner.role, found.scopes)
    return Principal(found.owner, scopes, "token", found.id)


def get_principal(request: Request, env: Annotated[Env, Depends(get_env)]) -> Principal | None:
    """The token's or the session's user, or None (anonymous)."""
    token = _bearer(request)
    if token is not None:
        principal = principal_from_token(env, token)
        if principal is None:
            raise HTTPException(401, "invalid or revoked API token", headers={"WWW-Authenticate": "Bearer"})
        return principal
    session = request.session
    name = session.get("user")
    if not name:
        return None
    user = accounts.get_user(env.store, str(name))
    lifetime = request.app.state.settings.session_lifetime
    issued = session.get("iat")
    if (
        user is None
        or user.disabled
        or session.get("pwf") != security.password_fingerprint(user.password_hash)
        or session.get("gen") != user.session_generation
        or not isinstance(issued, int | float)
        or not 0 <= time.time() - issued <= lifetime
    ):
        session.clear()  # logged out: a fresh CSRF token comes with the next response
        session["csrf"] = security.new_csrf_token()
        return None
    return Principal(user, security.allowed_scopes(user.role), "session")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def require(scope: str) -> Any:
    """Dependency: a principal with `scope` (401 if anonymous, 403 if not allowed)."""

    def dependency(
        request: Request, principal: Annotated[Principal | None, Depends(get_principal)]
    ) -> Principal:
        if principal is None:
            if _is_api(request):
                raise HTTPException(401, "authentication required", headers={"WWW-Authenticate": "Bearer"})
            raise LoginRequired()
        if not principal.can(scope):
            raise HTTPException(403, f"this needs the '{scope}' permission (you are {principal.role})")
        return principal

    return dependency


def check_csrf(request: Request, given: str | None) -> None:
    if not security.csrf_matches(request.session.get("csrf"), given):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


async def csrf_form(request: Request) -> FormData:
    """Dependency for HTML form posts: the form, after its CSRF token was checked."""
    form = await request.form()
    given = request.headers.get("x-csrf-token") or form.get("csrf_token")
    check_csrf(request, given if isinstance(given, str) else None)
    return form


def csrf_for_session(request: Request) -> None:
    """Dependency for the JSON API: cookie-authenticated writes need `X-CSRF-Token`.

    Requests with a bearer token carry no ambient credential, so they need none; anonymous
    ones are turned away by the permission checks.
    """
    if request.method in UNSAFE_METHODS and _bearer(request) is None and request.session.get("user"):
        check_csrf(request, request.headers.get("x-csrf-token"))


def login_session(request: Request, user: User) -> None:
    """Start a fresh session for `user` (new CSRF token: no session fixation).

    The session carries the user's session generation (logout, a password change or
    disabling moves it, ending every session of the user on the server side) and its
    issue time (`iat`): it ends `session_lifetime` after login however active it is.
    """
    request.session.clear()
    request.session.update(
        user=user.name,
        pwf=security.password_fingerprint(user.password_hash),
        gen=user.session_generation,
        iat=int(time.time()),
        csrf=security.new_csrf_token(),
    )


# Parameter types for the routes (FastAPI dependencies as Annotated aliases).
EnvDep = Annotated[Env, Depends(get_env)]
MaybePrincipal = Annotated[Principal | None, Depends(get_principal)]
Reader = Annotated[Principal, Depends(require("read"))]
Reviewer = Annotated[Principal, Depends(require("review"))]
Deployer = Annotated[Principal, Depends(require("ingest"))]
Admin = Annotated[Principal, Depends(require("admin"))]
CsrfForm = Annotated[FormData, Depends(csrf_form)]
