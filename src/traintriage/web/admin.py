"""Accounts: one's own API tokens (/account), user management for admins (/admin/users),
and their JSON twins under /api/v1 (/tokens, /users)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from traintriage.store import accounts
from traintriage.web import actions
from traintriage.web.auth import (
    Admin,
    CsrfForm,
    EnvDep,
    Principal,
    Reader,
    csrf_for_session,
)
from traintriage.web.pages import _field, _flash, render
from traintriage.web.security import ROLE_SCOPES

router = APIRouter()
pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["accounts"], dependencies=[Depends(csrf_for_session)])


# --- pages -------------------------------------------------------------------------------------


def _account_page(request: Request, env: EnvDep, principal: Principal, new_token: str | None) -> Response:
    context = {
        "tokens": [t for t in accounts.list_tokens(env.store, principal.name) if not t.revoked],
        "allowed": sorted(ROLE_SCOPES[principal.role]),
        "new_token": new_token,
    }
    return render(request, "account.html", context, principal)


@pages.get("/account", response_class=HTMLResponse)
def account(request: Request, env: EnvDep, principal: Reader) -> Response:
    return _account_page(request, env, principal, None)


@pages.post("/account/tokens")
def account_token(
    request: Request,
    form: CsrfForm,
    env: EnvDep,
    principal: Reader,
) -> Response:
    scopes = [str(s) for s in form.getlist("scope")] or ["read"]
    created = actions.create_token(env, principal.user, scopes, _field(form, "label") or "web")
    # shown once, in this response (no-store), and never put in the session cookie (issue 8)
    return _account_page(request, env, principal, created["token"])


@pages.post("/account/tokens/{token_id}/revoke")
def account_revoke(
    request: Request,
    token_id: str,
    form: CsrfForm,
    env: EnvDep,
    principal: Reader,
) -> Response:
    if not accounts.revoke_token(env.store, token_id, principal.name):
        raise HTTPException(404, "no such token")
    _flash(request, "Token revoked.")
    return RedirectResponse("/account", status_code=303)


@pages.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, env: EnvDep, principal: Admin) -> Response:
    context = {"users": accounts.list_users(env.store), "roles": accounts.ROLES}
    return render(request, "users.html", context, principal)


@pages.post("/admin/users")
def users_add(
    request: Request,
    form: CsrfForm,
    env: EnvDep,
    principal: Admin,
) -> Response:
    name = _field(form, "name")
    actions.add_user(
        env, name, _field(form, "role"), str(form.get("password") or "") or None, _field(form, "team")
    )
    _flash(request, f"User {name} added.")
    return RedirectResponse("/admin/users", status_code=303)


@pages.post("/admin/users/{name}")
def users_update(
    request: Request,
    name: str,
    form: CsrfForm,
    env: EnvDep,
    principal: Admin,
) -> Response:
    disabled = {"disable": True, "enable": False}.get(_field(form, "action"))
    actions.update_user(
        env,
        principal,
        name,
        role=_field(form, "role") or None,
        team=_field(form, "team") if "team" in form else None,
        password=str(form.get("password") or "") or None,
        disabled=disabled,
    )
    _flash(request, f"User {name} updated.")
    return RedirectResponse("/admin/users", status_code=303)


# --- API ---------------------------------------------------------------------------------------


class TokenIn(BaseModel):
    scopes: list[str] = Field(default_factory=lambda: ["read"])
    label: str = "api"


@api.get("/tokens", summary="The caller's API tokens (never the tokens themselves)")
def tokens(env: EnvDep, principal: Reader) -> list[dict[str, Any]]:
    return [t.to_dict() for t in accounts.list_tokens(env.store, principal.name)]


@api.post("/tokens", status_code=201, summary="Create an API token for the caller (shown once)")
def token_create(body: TokenIn, env: EnvDep, principal: Reader) -> dict[str, Any]:
    if principal.via == "token" and not principal.can("admin"):
        raise HTTPException(403, "tokens are created from a login session (or with an admin token)")
    return actions.create_token(env, principal.user, body.scopes, body.label)


@api.delete("/tokens/{token_id}", status_code=204, summary="Revoke one of the caller's tokens")
def token_revoke(token_id: str, env: EnvDep, principal: Reader) -> Response:
    """From a login session any of one's tokens; with a token, that token itself (a leaked
    token can retire itself), or any of the owner's with an admin-scope token."""
    if principal.via == "token" and token_id != principal.token_id and not principal.can("admin"):
        raise HTTPException(403, "a token may revoke only itself (or log in to manage your tokens)")
    if not accounts.revoke_token(env.store, token_id, principal.name):
        raise HTTPException(404, "no such token")
    return Response(status_code=204)


class UserIn(BaseModel):
    name: str
    role: str = "viewer"
    team: str | None = None
    password: str | None = None


class UserUpdate(BaseModel):
    role: str | None = None
    team: str | None = None
    password: str | None = None
    disabled: bool | None = None


@api.get("/users", summary="Users (admin)")
def users(env: EnvDep, _: Admin) -> list[dict[str, Any]]:
    return [u.to_dict() for u in accounts.list_users(env.store)]


@api.post("/users", status_code=201, summary="Add a user (admin)")
def user_create(body: UserIn, env: EnvDep, _: Admin) -> dict[str, Any]:
    return actions.add_user(env, body.name, body.role, body.password, body.team)


@api.patch("/users/{name}", summary="Change a user's role, team, password or disable them (admin)")
def user_update(name: str, body: UserUpdate, env: EnvDep, principal: Admin) -> dict[str, Any]:
    return actions.update_user(
        env, principal, name, role=body.role, team=body.team, password=body.password, disabled=body.disabled
    )


router.include_router(pages)
router.include_router(api)
