"""Server-rendered pages: train (deployers), team queue (developers), signature, search, login.

Every form posts with the session's CSRF token; every page needs a logged-in user.
Log content reaches the templates as data and is escaped by Jinja2's autoescape.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from traintriage.core.vocabulary import STAGES, VERDICTS
from traintriage.store import accounts
from traintriage.store.reads import resolve_signature
from traintriage.web import actions, charts, security, views
from traintriage.web.api import parse_at
from traintriage.web.auth import (
    CsrfForm,
    Deployer,
    EnvDep,
    MaybePrincipal,
    Principal,
    Reader,
    Reviewer,
    login_session,
)
from traintriage.web.security import MAX_PASSWORD_LENGTH
from traintriage.web.throttle import MAX_NAME_LENGTH, client_address

router = APIRouter(include_in_schema=False)


def render(
    request: Request, name: str, context: dict[str, Any], principal: Principal | None, status: int = 200
) -> Response:
    settings = request.app.state.settings
    base = {
        "user": principal,
        "csrf": request.session.get("csrf"),
        "flash": request.session.pop("flash", None),
        "refresh": settings.refresh_seconds,
        "frozen_at": settings.at,
        "ownership_error": request.app.state.ownership.error,
    }
    return request.app.state.templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status
    )


def local_path(target: str | None, default: str = "/train") -> str:
    """Only same-site paths are followed after login or a form post (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _flash(request: Request, message: str) -> None:
    request.session["flash"] = message


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/train", status_code=303)


# --- login -------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None, *, principal: MaybePrincipal) -> Response:
    return render(request, "login.html", {"next": local_path(next), "error": None, "name": ""}, principal)


@router.post("/login")
def login(request: Request, form: CsrfForm, env: EnvDep) -> Response:
    name, password = _field(form, "name"), str(form.get("password") or "")
    target = local_path(_field(form, "next"))
    throttle = request.app.state.throttle
    address = client_address(request, request.app.state.trusted_proxies)
    wait = throttle.wait(name, address)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        context = {
            "next": target,
            "error": f"Too many failed logins; try again in {seconds} s.",
            "name": name,
        }
        response = render(request, "login.html", context, None, status=429)
        response.headers["Retry-After"] = str(seconds)
        return response
    valid_name = 0 < len(name) <= MAX_NAME_LENGTH
    user = accounts.get_user(env.store, name) if valid_name else None
    ok = len(password) <= MAX_PASSWORD_LENGTH and security.verify_password(
        user.password_hash if user else None, password
    )
    if not ok or user is None or user.disabled:
        throttle.fail(name if valid_name else "", address)
        context = {"next": target, "error": "Wrong user name or password.", "name": name[:MAX_NAME_LENGTH]}
        return render(request, "login.html", context, None, status=401)
    throttle.succeed(name, address)
    login_session(request, user)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, form: CsrfForm, env: EnvDep, principal: MaybePrincipal) -> Response:
    """End the session here and, through the user's session generation, everywhere: a
    cookie saved before logging out no longer works."""
    if principal is not None and principal.via == "session":
        accounts.end_sessions(env.store, principal.name)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


# --- train -----------------------------------------------------------------------------------


@router.get("/train", response_class=HTMLResponse)
def train_page(
    request: Request,
    version: str | None = None,
    at: str | None = None,
    *,
    env: EnvDep,
    principal: Reader,
) -> Response:
    when = parse_at(env, at)
    overview = views.trains(env, when)
    version = version or views.default_version(env, when)
    context: dict[str, Any] = {
        "overview": overview,
        "version": version,
        "at_param": at or "",
        "stages": STAGES,
    }
    if version:
        page = views.train_page(env, version, when)
        context.update(page=page, timeline_svg=charts.timeline_chart(page["history"], version, when))
    context["auto_refresh"] = not at
    return render(request, "train.html", context, principal)


@router.post("/train/{version}/deploy")
def record_deploy(
    request: Request,
    version: str,
    form: CsrfForm,
    env: EnvDep,
    principal: Deployer,
) -> Response:
    group = _field(form, "group")
    if group not in (*STAGES, "all"):
        raise HTTPException(422, f"unknown group {group!r}")
    result = actions.record_deploy(env, version, group, datetime.fromtimestamp(env.now, UTC), principal.name)
    _flash(request, f"Recorded: {result['message']}")
    return RedirectResponse(f"/train?version={quote(version)}", status_code=303)


# --- queue -----------------------------------------------------------------------------------


@router.get("/queue", response_class=HTMLResponse)
def queue_page(
    request: Request,
    version: str | None = None,
    team: str | None = None,
    at: str | None = None,
    *,
    env: EnvDep,
    principal: Reader,
) -> Response:
    when = parse_at(env, at)
    version = version or views.default_version(env, when)
    context: dict[str, Any] = {
        "version": version,
        "versions": views.known_versions(env),
        "at_param": at or "",
    }
    if version:
        context["queue"] = views.queue(env, version, team or principal.user.team or "all", when)
    context["verdicts"] = VERDICTS
    context["here"] = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return render(request, "queue.html", context, principal)


# --- signature -----------------------------------------------------------------------------------


@router.get("/signatures/{sig}", response_class=HTMLResponse)
def signature_page(request: Request, sig: str, env: EnvDep, principal: Reader) -> Response:
    full = resolve_signature(env.store, sig)  # NotFound: a 404 page (app.py)
    if full != sig:
        return RedirectResponse(f"/signatures/{full}", status_code=303)
    data = views.signature_page(env, full)
    wikis: dict[str, int] = {}
    for row in data["wikis"]:
        wikis[row["wiki"] or "(none)"] = wikis.get(row["wiki"] or "(none)", 0) + row["events"]
    top_wikis = sorted(wikis.items(), key=lambda kv: (-kv[1], kv[0]))[:12]
    context = {
        "sig": data,
        "chart": charts.counts_chart(data["hours"]),
        "wiki_chart": charts.bars(top_wikis),
        "verdicts": VERDICTS,
        "versions": [v for v in data["versions"]],
        "here": request.url.path,
    }
    return render(request, "signature.html", context, principal)


@router.post("/signatures/{sig}/review")
def review(
    request: Request,
    sig: str,
    form: CsrfForm,
    env: EnvDep,
    principal: Reviewer,
) -> Response:
    full = resolve_signature(env.store, sig)  # NotFound: a 404 page (app.py)
    verdict = _field(form, "verdict")
    actions.review(
        env,
        full,
        principal,
        verdict=verdict,
        version=_field(form, "version") or None,
        task=_field(form, "task") or None,
        note=_field(form, "note") or None,
        assignee=_field(form, "assignee") or None,
        target=_field(form, "target") or None,
    )
    _flash(request, f"{full[:8]} reviewed as {verdict}")
    return RedirectResponse(local_path(_field(form, "next"), f"/signatures/{full}"), status_code=303)


# --- search -----------------------------------------------------------------------------------


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    q: str | None = None,
    version: str | None = None,
    group: str | None = None,
    team: str | None = None,
    channel: str | None = None,
    verdict: str | None = None,
    *,
    env: EnvDep,
    principal: Reader,
) -> Response:
    filters = views.Filters(q, version, group, team, channel, verdict, 200)
    results = views.search(env, filters)
    context = {
        "filters": filters,
        "results": results,
        "choices": views.filter_choices(env),
        "api_query": urlencode(filters.to_dict()),
    }
    return render(request, "search.html", context, principal)
