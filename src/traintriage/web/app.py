"""The FastAPI application: settings, store pool, middleware, templates, routers.

`create_app(WebSettings(...))` is what `traintriage serve` runs under uvicorn and what the
tests drive in-process. There is no interactive /docs (FastAPI's loads Swagger UI from a
CDN, which the CSP forbids); the schema is at /api/v1/openapi.json.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.exceptions import HTTPException as StarletteHTTPException

from traintriage import __version__
from traintriage.core.errors import Conflict, NotFound, StorageFull, TraintriageError, Unavailable
from traintriage.core.timeparse import iso
from traintriage.detect.config import DetectionConfig
from traintriage.services.ownership import Ownership
from traintriage.store import accounts
from traintriage.store.db import Store, resolve_url
from traintriage.web import security
from traintriage.web.auth import LoginRequired, SecurityHeadersMiddleware, SessionMiddleware
from traintriage.web.limits import BodyLimitMiddleware, BodyLimits
from traintriage.web.sources import DEFAULT_SOURCE_URL, check_template
from traintriage.web.throttle import LoginThrottle, parse_networks

HERE = Path(__file__).parent
SESSION_SECRET_KEY = "session_secret"


def http_status(error: TraintriageError) -> int:
    """HTTP status of an error the library raised on purpose.

    None of them is ever 200, 409-for-no-go or 503-for-inconclusive on the gate: a deploy
    tool must not read a typo, a full disk or a broken database as an answer. Usage errors
    are 4xx (404 unknown, 409 clashes with stored data, 422 invalid); a full disk is 507;
    an unreachable or damaged database 500, like a bug (the body says which).
    """
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, StorageFull):
        return 507
    if isinstance(error, Unavailable):
        return 500
    return 422


@dataclass
class WebSettings:
    db: str | None = None
    owners: str | None = None
    source_url: str | None = DEFAULT_SOURCE_URL
    at: float | None = None  # a fixed "now", for demos and replays
    secure_cookies: bool = False
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    refresh_seconds: int = 60
    session_max_age: int = 86400  # idle: a session unused for a day ends
    session_lifetime: int = 7 * 86400  # absolute: a week after login, however active
    body_limits: BodyLimits = field(default_factory=BodyLimits)
    trusted_proxies: tuple[str, ...] = ()  # addresses/networks whose X-Forwarded-For is believed
    clock: Callable[[], float] = time.time

    def now(self) -> float:
        return self.at if self.at is not None else self.clock()


class StorePool:
    """One Store (connection) per concurrent request; idle ones are kept for reuse."""

    def __init__(self, url: str, keep: int = 8) -> None:
        self.url, self.keep = url, keep
        self._idle: list[Store] = []
        self._lock = threading.Lock()

    def acquire(self) -> Store:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return Store(self.url)

    def release(self, store: Store) -> None:
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(store)
                return
        store.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for store in idle:
            store.close()


def templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True)
    env.globals.update(iso=_iso, app_version=__version__)
    env.filters["num"] = _num
    env.filters["pct"] = _pct
    env.filters["short_time"] = _short_time
    return Jinja2Templates(env=env)


def _iso(value: float | None) -> str:
    return iso(value) if value is not None else "-"


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _short_time(value: str | None) -> str:
    """2021-01-27T20:10:00Z -> 01-27 20:10."""
    if not value:
        return "-"
    return value[5:16].replace("T", " ")


def create_app(settings: WebSettings | None = None) -> FastAPI:
    settings = settings or WebSettings()
    if settings.source_url:
        check_template(settings.source_url)
    url = resolve_url(settings.db)
    pool = StorePool(url)
    store = pool.acquire()
    try:
        secret = accounts.setting_or_create(store, SESSION_SECRET_KEY, security.new_secret())
    finally:
        pool.release(store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        pool.close()

    app = FastAPI(
        lifespan=lifespan,
        title="traintriage",
        version=__version__,
        description="Train log triage: signatures per train version, and go/no-go per stage.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.settings = settings
    app.state.pool = pool
    app.state.ownership = Ownership.load(settings.owners)  # once: requests never re-read it
    app.state.templates = templates()
    app.state.throttle = LoginThrottle()
    app.state.trusted_proxies = parse_networks(settings.trusted_proxies)
    app.add_middleware(
        SessionMiddleware, secret=secret, max_age=settings.session_max_age, secure=settings.secure_cookies
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(BodyLimitMiddleware, limits=settings.body_limits)  # outermost: before anything reads
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    from traintriage.web import admin, api, comms, pages

    app.include_router(api.router)
    app.include_router(comms.api)
    app.include_router(pages.router)
    app.include_router(comms.pages)
    app.include_router(admin.router)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
        return app.state.templates.TemplateResponse(
            request,
            "error.html",
            {
                "status": exc.status_code,
                "detail": exc.detail,
                "user": None,
                "csrf": request.session.get("csrf"),
            },
            status_code=exc.status_code,
            headers=headers,
        )

    @app.exception_handler(TraintriageError)
    async def _library_error(request: Request, exc: TraintriageError) -> Response:
        """The one place library errors become HTTP statuses (InvalidInput 422, NotFound 404, Conflict 409)."""
        return await _http_error(request, StarletteHTTPException(http_status(exc), str(exc)))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        """A bug: 500 with a short JSON body (the traceback goes to the server log)."""
        return JSONResponse(
            {"detail": f"internal error ({type(exc).__name__}): a bug, not an answer; see the server log"},
            status_code=500,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    return app
