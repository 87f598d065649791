"""JSON API under /api/v1: everything the pages show, reviews, deploy steps and the stage gate.

Authentication: `Authorization: Bearer tt_...` (an API token) or the browser session
(writes then need `X-CSRF-Token`). The gate answers with an HTTP status a deploy tool
can act on: 200 go, 409 no-go/hold/rollback, 503 inconclusive.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from traintriage.core.timeparse import iso
from traintriage.store.reads import resolve_signature
from traintriage.web import actions, views
from traintriage.web.auth import (
    Admin,
    Deployer,
    EnvDep,
    Reader,
    Reviewer,
    csrf_for_session,
    principal_from_token,
)
from traintriage.web.views import Env

router = APIRouter(prefix="/api/v1", tags=["api"], dependencies=[Depends(csrf_for_session)])


def parse_at(env: Env, at: str | None, name: str = "at") -> float:
    """A time parameter (ISO 8601, a date, 'now') or, when absent, the app's clock.

    Every time a request carries passes here: `NaN`, `inf`, `1e400` or a year outside
    2000..2100 is a 422 naming the parameter (core/validate.py sets the range).
    """
    if not at:
        return env.now
    from traintriage.core.timeparse import parse_when

    try:
        return parse_when(at[:64])
    except ValueError as err:  # InvalidInput included
        raise HTTPException(
            422, f"{name}={at[:64]!r} is not a usable ISO 8601 time (e.g. 2021-01-27T20:10:00Z): {err}"
        ) from None


def parse_window(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        value = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except (ValueError, IndexError):
        raise HTTPException(422, f"window={text[:40]!r} is not a duration like 20s, 1m, 90") from None
    if not math.isfinite(value) or value <= 0 or value > 86400:
        raise HTTPException(422, "window must be between 1 second and 1 day")
    return value


def full_id(env: Env, sig: str) -> str:
    """The full id of a signature prefix; NotFound becomes a 404 in app.py."""
    return resolve_signature(env.store, sig)


# --- who am I, trains ----------------------------------------------------------------------


@router.get("/me", summary="The caller: user, role, team, scopes")
def me(principal: Reader) -> dict[str, Any]:
    return principal.to_dict()


@router.get("/trains", summary="Every train with its state; live ones first")
def trains(at: str | None = None, *, env: EnvDep, _: Reader) -> dict[str, Any]:
    return views.trains(env, parse_at(env, at))


@router.get("/trains/{version}", summary="One train: stages, promotions, rollbacks, steps, state")
def train(version: str, at: str | None = None, *, env: EnvDep, _: Reader) -> dict[str, Any]:
    if version not in views.known_versions(env):
        raise HTTPException(404, f"no train {version!r}")
    return views.train_history(env, version, parse_at(env, at))


@router.get("/trains/{version}/status", summary="The decision (docs/detection.md schema)")
def train_status(version: str, at: str | None = None, *, env: EnvDep, _: Reader) -> dict[str, Any]:
    return views.decision_dict(views.decision(env, version, parse_at(env, at)))


@router.get(
    "/trains/{version}/overview", summary="The train page: verdict, blockers, untriaged by team, changes"
)
def train_overview(version: str, at: str | None = None, *, env: EnvDep, _: Reader) -> dict[str, Any]:
    return views.train_page(env, version, parse_at(env, at))


# --- gate ----------------------------------------------------------------------------------


def _gate_response(
    env: Env, version: str, stage: str | None, window: str, at: str | None, always_200: bool
) -> JSONResponse:
    result, status = views.gate_result(env, version, stage, parse_at(env, at), parse_window(window))
    body = result.to_dict()
    body["http_status"] = status
    headers = {}
    if result.verdict == "inconclusive" and result.decision is not None:
        ready = result.decision.classification.readiness.ready_in_minutes
        if ready:
            headers["Retry-After"] = str(int(ready * 60))
    return JSONResponse(body, status_code=200 if always_200 else status, headers=headers)


@router.get(
    "/gate",
    summary="Stage gate: 200 go, 409 no-go/hold/rollback, 503 inconclusive",
    responses={
        409: {"description": "no-go, hold or rollback"},
        503: {"description": "inconclusive: ask again"},
    },
)
def gate_get(
    version: str,
    stage: str | None = Query(
        None, description="testwikis, group0, group1 or group2 (default: the next stage)"
    ),
    window: str = Query("20s", description="absolute-check window (scap: 20s)"),
    at: str | None = None,
    always_200: bool = Query(
        False, description="answer 200 whatever the verdict (Argo Rollouts web metrics)"
    ),
    *,
    env: EnvDep,
    _: Reader,
) -> JSONResponse:
    return _gate_response(env, version, stage, window, at, always_200)


class FlaggerPayload(BaseModel):
    """What Flagger POSTs to a webhook; traintriage reads `metadata`."""

    name: str | None = None
    namespace: str | None = None
    phase: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


@router.post("/gate", summary="Stage gate as a Flagger webhook (metadata: version, stage, window, token)")
def gate_post(request: Request, payload: FlaggerPayload, env: EnvDep) -> JSONResponse:
    meta = payload.metadata
    principal = None
    if request.headers.get("authorization"):
        from traintriage.web.auth import get_principal

        principal = get_principal(request, env)
    elif meta.get("token"):
        principal = principal_from_token(env, meta["token"])
    if principal is None:
        raise HTTPException(401, "send a read token (Authorization header or metadata.token)")
    if not principal.can("read"):
        raise HTTPException(403, "this needs the 'read' permission")
    version = meta.get("version") or request.query_params.get("version")
    if not version:
        raise HTTPException(422, "metadata.version (or ?version=) is required")
    stage = meta.get("stage") or request.query_params.get("stage")
    return _gate_response(env, version, stage, meta.get("window", "20s"), meta.get("at"), False)


# --- queue, signatures, search ------------------------------------------------------------


@router.get("/queue", summary="A team's NEW/REGRESSED signatures in a train, untriaged and oldest first")
def queue(
    version: str | None = None,
    team: str | None = None,
    at: str | None = None,
    *,
    env: EnvDep,
    principal: Reader,
) -> dict[str, Any]:
    when = parse_at(env, at)
    version = version or views.default_version(env, when)
    if version is None:
        raise HTTPException(404, "no train yet")
    return views.queue(env, version, team or principal.user.team or "all", when)


@router.get("/signatures", summary="Search signatures (text, version, group, team, channel, verdict)")
def signatures(
    q: str | None = None,
    version: str | None = None,
    group: str | None = None,
    team: str | None = None,
    channel: str | None = None,
    verdict: str | None = None,
    limit: int = Query(100, ge=1, le=500),
    *,
    env: EnvDep,
    _: Reader,
) -> dict[str, Any]:
    return views.search(env, views.Filters(q, version, group, team, channel, verdict, limit))


@router.get("/signatures/{sig}", summary="One signature: explanation, counts, samples, reviews, audit")
def signature(sig: str, env: EnvDep, _: Reader) -> dict[str, Any]:
    data = views.signature_page(env, full_id(env, sig))
    for sample in data["samples"]:
        sample.pop("trace_lines", None)
    return data


@router.get("/signatures/{sig}/reviews", summary="Review history of a signature")
def reviews(sig: str, env: EnvDep, _: Reader) -> list[dict[str, Any]]:
    sig = full_id(env, sig)
    return views.review_history(env, [sig]).get(sig, [])


class ReviewIn(BaseModel):
    verdict: str = Field(description="blocker, not-blocker, known, expected, duplicate, fixed, needs-info")
    version: str | None = None
    task: str | None = Field(None, description="a task id or URL, e.g. T123456")
    note: str | None = Field(None, max_length=4000)
    assignee: str | None = None
    target: str | None = None
    mute_until: str | None = Field(None, description="ISO time: do not list it before then")


@router.post("/signatures/{sig}/reviews", status_code=201, summary="Record a review verdict")
def post_review(sig: str, body: ReviewIn, env: EnvDep, principal: Reviewer) -> dict[str, Any]:
    sig = full_id(env, sig)
    mute = parse_at(env, body.mute_until, "mute_until") if body.mute_until else None
    return actions.review(
        env,
        sig,
        principal,
        verdict=body.verdict,
        version=body.version,
        task=body.task,
        note=body.note,
        assignee=body.assignee,
        target=body.target,
        mute_until=mute,
    )


@router.get("/audit", summary="Audit log of triage actions")
def audit(
    signature: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    *,
    env: EnvDep,
    _: Reader,
) -> list[dict[str, Any]]:
    return views.audit(env, full_id(env, signature) if signature else None, limit)


@router.get("/coverage", summary="Triage and ownership coverage of a train's flagged signatures")
def coverage(
    version: str | None = None,
    at: str | None = None,
    *,
    env: EnvDep,
    _: Reader,
) -> dict[str, Any]:
    when = parse_at(env, at)
    version = version or views.default_version(env, when)
    if version is None:
        raise HTTPException(404, "no train yet")
    return views.coverage(env, version, when)


# --- deploy steps ----------------------------------------------------------------------------


class DeployIn(BaseModel):
    version: str = Field(max_length=100)
    group: str = Field(description="testwikis, group0, group1, group2 or all", max_length=40)
    at: str | None = Field(None, description="ISO time (default now)", max_length=64)
    actor: str | None = Field(
        None,
        max_length=64,
        description="who ran the deploy, as the tool reports it; recorded after the authenticated user",
    )


@router.post("/deploys", status_code=201, summary="Record a deployment step (deploy tools; deployer role)")
def post_deploy(body: DeployIn, env: EnvDep, principal: Deployer) -> dict[str, Any]:
    """The step's actor is the authenticated user; a tool's own `actor` is kept after it
    ("scap-bot (for ana)"), never instead of it, so the trail names who really called."""
    when = parse_at(env, body.at)
    reported = (body.actor or "").strip()
    actor = (
        principal.name if not reported or reported == principal.name else f"{principal.name} (for {reported})"
    )
    return actions.record_deploy(env, body.version, body.group, datetime.fromtimestamp(when, UTC), actor)


@router.get("/deploys", summary="Stored deploy steps with their ids (and whether they were retracted)")
def deploys(version: str | None = None, *, env: EnvDep, _: Reader) -> list[dict[str, Any]]:
    from traintriage.store.retractions import deploy_step_rows

    rows = [r for r in deploy_step_rows(env.store) if version is None or r["version"] == version]
    for r in rows:
        r["at"] = iso(r["at"])
    return rows


# --- retractions (admin) ---------------------------------------------------------------------


class RetractIn(BaseModel):
    reason: str = Field(min_length=1, max_length=4000, description="why (kept in the audit log)")


@router.post(
    "/reviews/{review_id}/retract",
    summary="Retract a review (admin; audited, nothing deleted): it stops counting everywhere",
)
def retract_review(review_id: int, body: RetractIn, env: EnvDep, principal: Admin) -> dict[str, Any]:
    from traintriage.services.retractions import retract_review as run

    return run(env.store, review_id, principal.name, body.reason).to_dict()


@router.post(
    "/deploys/{step_id}/retract",
    summary="Retract a deploy step (admin; audited, nothing deleted): the timeline drops it",
)
def retract_deploy(step_id: str, body: RetractIn, env: EnvDep, principal: Admin) -> dict[str, Any]:
    from traintriage.services.retractions import retract_deploy_step as run

    return run(env.store, step_id, principal.name, body.reason).to_dict()
