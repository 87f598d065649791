"""Pages and API of the meeting and the trends: agenda and minutes, the weekly summary,
trends with server-side SVG charts and CSV/JSON export, and a signature's task draft.

Every page needs a logged-in reader; log content reaches the templates as data and is
escaped by Jinja2 (charts escape their own labels). Reports that replay a whole history
are cached per store fingerprint (store/stamps.py), so a page reload costs a few queries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from traintriage.core.errors import InvalidInput, NotFound
from traintriage.report.agenda import Agenda
from traintriage.report.metrics import AGE_BUCKETS, TrainRow, rows_csv
from traintriage.report.summary import summary_subject, summary_text
from traintriage.services.meeting import agenda as build_agenda
from traintriage.services.meeting import minutes as build_minutes
from traintriage.services.metrics import cycle_figures, open_backlog, train_rows, train_summary
from traintriage.services.tasks import TrackerSettings, draft_task, find_duplicates
from traintriage.store.reads import resolve_signature
from traintriage.store.stamps import data_stamp
from traintriage.web import trend_charts, views
from traintriage.web.api import parse_at
from traintriage.web.auth import EnvDep, Reader
from traintriage.web.pages import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["api"])

T = TypeVar("T")
_CACHE: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()


def _cached(env: views.Env, name: str, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """`compute()` once per (report, arguments, store contents); a few entries kept."""
    full = (env.store.url, name, key, data_stamp(env.store))
    with _LOCK:
        if full in _CACHE:
            return _CACHE[full]
    value = compute()
    with _LOCK:
        if len(_CACHE) > 32:
            _CACHE.clear()
        _CACHE[full] = value
    return value


def _rows(env: views.Env) -> list[TrainRow]:
    return _cached(
        env,
        "rows",
        (),
        lambda: train_rows(env.store, owners=env.ownership.rules, config=env.config, context=env.train),
    )


def _version(env: views.Env, version: str | None, at: float) -> str | None:
    return version or views.default_version(env, at)


# --------------------------------------------------------------------------- #
# Agenda and minutes
# --------------------------------------------------------------------------- #


@pages.get("/agenda", response_class=HTMLResponse)
def agenda_page(
    request: Request, version: str | None = None, at: str | None = None, *, env: EnvDep, principal: Reader
) -> Response:
    when = parse_at(env, at)
    version = _version(env, version, when)
    agenda: Agenda | None = None
    if version:
        agenda = build_agenda(env.store, version, when, owners=env.ownership.rules, config=env.config)
    context = {
        "version": version,
        "versions": views.known_versions(env),
        "agenda": agenda,
        "at_param": at or "",
    }
    return render(request, "agenda.html", context, principal)


@pages.get("/agenda/minutes", response_class=HTMLResponse)
def minutes_page(
    request: Request,
    version: str,
    since: str | None = None,
    until: str | None = None,
    *,
    env: EnvDep,
    principal: Reader,
) -> Response:
    end = parse_at(env, until)
    start = parse_at(env, since) if since else end - 7200
    if start > end:
        raise HTTPException(422, "since is after until")
    m = build_minutes(env.store, version, start, end, owners=env.ownership.rules, config=env.config)
    return render(request, "minutes.html", {"version": version, "minutes": m}, principal)


@api.get("/trains/{version}/agenda", summary="The triage meeting's agenda of a train, per team")
def agenda_json(version: str, at: str | None = None, *, env: EnvDep, _: Reader) -> dict[str, Any]:
    when = parse_at(env, at)
    return build_agenda(env.store, version, when, owners=env.ownership.rules, config=env.config).to_dict()


@api.get("/trains/{version}/minutes", summary="Verdicts recorded for a train in a time window")
def minutes_json(
    version: str, since: str | None = None, until: str | None = None, *, env: EnvDep, _: Reader
) -> dict[str, Any]:
    end = parse_at(env, until)
    start = parse_at(env, since) if since else end - 7200
    return build_minutes(
        env.store, version, start, end, owners=env.ownership.rules, config=env.config
    ).to_dict()


# --------------------------------------------------------------------------- #
# Summary
# --------------------------------------------------------------------------- #


def _summary(env: views.Env, version: str, when: float) -> Any:
    try:
        return _cached(
            env,
            "summary",
            (version, when),
            lambda: train_summary(
                env.store,
                version,
                now=when,
                owners=env.ownership.rules,
                config=env.config,
                base_url=TrackerSettings.from_env().app_url,
            ),
        )
    except NotFound as err:
        raise HTTPException(404, str(err)) from None


@pages.get("/summary", response_class=HTMLResponse)
def summary_page(
    request: Request, version: str | None = None, at: str | None = None, *, env: EnvDep, principal: Reader
) -> Response:
    when = parse_at(env, at)
    version = _version(env, version, when)
    context: dict[str, Any] = {
        "version": version,
        "versions": views.known_versions(env),
        "at_param": at or "",
    }
    if version:
        s = _summary(env, version, when)
        series = s.series()
        names = {
            "backports": "backports",
            "rollbacks": "rollbacks",
            "delay_days": "delay (days)",
            "blockers": "blockers",
            "new_errors": "new errors",
        }
        context.update(
            summary=s,
            subject=summary_subject(version),
            text=summary_text(s),
            sparks=[(names[k], trend_charts.sparkline(v, label=names[k]), v) for k, v in series.items()],
        )
    return render(request, "summary.html", context, principal)


@api.get("/trains/{version}/summary", summary="The weekly summary of a train (train-stats' e-mail) as JSON")
def summary_json(version: str, at: str | None = None, *, env: EnvDep, _: Reader) -> dict[str, Any]:
    return dict(_summary(env, version, parse_at(env, at)).to_dict())


@api.get(
    "/trains/{version}/summary.txt",
    summary="The weekly summary as e-mail text",
    response_class=PlainTextResponse,
)
def summary_txt(version: str, at: str | None = None, *, env: EnvDep, _: Reader) -> PlainTextResponse:
    return PlainTextResponse(summary_text(_summary(env, version, parse_at(env, at))))


# --------------------------------------------------------------------------- #
# Trends
# --------------------------------------------------------------------------- #


def _hours(v: float | None) -> float | None:
    return round(v / 3600, 2) if v is not None else None


@pages.get("/trends", response_class=HTMLResponse)
def trends_page(
    request: Request, weeks: int = 30, at: str | None = None, *, env: EnvDep, principal: Reader
) -> Response:
    if not 1 <= weeks <= 520:
        raise HTTPException(422, "weeks must be 1 .. 520")
    when = parse_at(env, at)
    rows = _rows(env)
    labels = [r.version for r in rows]
    charts = {
        "rollbacks": trend_charts.grouped_bars(
            labels,
            [
                ("rollbacks", [float(r.rollbacks) for r in rows]),
                ("hours rolled back", [r.rollback_seconds / 3600 for r in rows]),
            ],
            title="Rollbacks and hours rolled back per train",
        ),
        "delays": trend_charts.grouped_bars(
            labels,
            [
                (g, [None if r.delays.get(g) is None else float(r.delays[g] or 0) for r in rows])
                for g in ("group0", "group1", "group2")
            ],
            title="Delay per group (days late)",
            unit=" d",
        ),
        "backports": trend_charts.grouped_bars(
            labels,
            [
                ("backports", [float(r.backports) for r in rows]),
                ("with a Bug: footer", [float(r.bugfix_backports) for r in rows]),
                ("blockers", [None if r.blockers is None else float(r.blockers) for r in rows]),
            ],
            title="Backports and blockers per train",
        ),
        "errors": trend_charts.grouped_bars(
            labels,
            [
                ("new errors", [float(r.new_errors) for r in rows]),
                ("reviewed before the next promotion", [float(r.reviewed_in_time) for r in rows]),
            ],
            title="New errors per train and how many were reviewed in time",
        ),
        "review_time": trend_charts.grouped_bars(
            labels,
            [("median", [_hours(r.ttfr_median) for r in rows]), ("p90", [_hours(r.ttfr_p90) for r in rows])],
            title="Time from first seen to first review (hours)",
            unit=" h",
        ),
    }
    teams = sorted({t for r in rows for t in r.new_by_team})
    backlog = _cached(
        env, "backlog", (when,), lambda: open_backlog(env.store, now=when, owners=env.ownership.rules)
    )
    charts["backlog"] = trend_charts.stacked_rows(
        backlog.by_team, [b for b, _ in AGE_BUCKETS], title="Open errors by team and age"
    )
    cycle = None
    firsts = [r.first_deploy for r in rows if r.first_deploy is not None]
    if firsts:
        start = max(min(firsts), max(firsts) - (weeks - 1) * 7 * 86400)
        cycle = _cached(env, "cycle", (start, weeks), lambda: cycle_figures(env.store, start, weeks))
    context = {
        "rows": rows,
        "teams": teams,
        "charts": charts,
        "backlog": backlog,
        "cycle": cycle,
        "weeks": weeks,
    }
    return render(request, "trends.html", context, principal)


@api.get("/trends", summary="Per-train metrics (oldest first) as JSON")
def trends_json(env: EnvDep, _: Reader) -> list[dict[str, Any]]:
    return [r.to_dict() for r in _rows(env)]


@api.get("/trends.csv", summary="Per-train metrics as CSV", response_class=PlainTextResponse)
def trends_csv(env: EnvDep, _: Reader) -> Response:
    return Response(
        rows_csv(_rows(env)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="traintriage-trends.csv"'},
    )


@api.get("/backlog", summary="Open errors by team and age (over a year old listed)")
def backlog_json(at: str | None = None, *, env: EnvDep, _: Reader) -> dict[str, Any]:
    when = parse_at(env, at)
    return open_backlog(env.store, now=when, owners=env.ownership.rules).to_dict()


@api.get("/cycle", summary="Versions, backports and rollbacks of the trains started in a window of weeks")
def cycle_json(start: str, weeks: int = 30, *, env: EnvDep, _: Reader) -> dict[str, Any]:
    try:
        return cycle_figures(env.store, parse_at(env, start), weeks).to_dict()
    except InvalidInput as err:
        raise HTTPException(422, str(err)) from None


# --------------------------------------------------------------------------- #
# Task draft
# --------------------------------------------------------------------------- #


@pages.get("/signatures/{sig}/task", response_class=HTMLResponse)
def task_page(
    request: Request, sig: str, version: str | None = None, *, env: EnvDep, principal: Reader
) -> Response:
    try:
        full = resolve_signature(env.store, sig)
    except NotFound as err:
        raise HTTPException(404, str(err)) from None
    if full != sig:
        return RedirectResponse(f"/signatures/{full}/task", status_code=303)
    settings = TrackerSettings.from_env()
    try:
        draft = draft_task(env.store, full, settings, version=version, owners=env.ownership.rules)
    except InvalidInput as err:
        raise HTTPException(422, str(err)) from None
    dups = find_duplicates(env.store, draft, None)  # no tracker call while rendering a page
    return render(request, "task.html", {"draft": draft, "dups": dups, "sig": full}, principal)
