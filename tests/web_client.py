"""In-process HTTP client for the web tests: httpx over ASGITransport, cookies kept between calls."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.web_helpers import Train
from traintriage.store import accounts
from traintriage.store.db import Store
from traintriage.web import security
from traintriage.web.app import WebSettings, create_app

PASSWORD = "correct horse battery"
USERS = {"vera": "viewer", "dev": "developer", "dora": "deployer", "ada": "admin"}


def _run(coro: Any) -> Any:
    """asyncio.run, in a worker thread when this thread already runs a loop (Playwright's sync API)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Client:
    """A browser-like client: one cookie jar; `html=True` asks for pages as a browser does."""

    def __init__(self, app: Any, *, raise_app_exceptions: bool = True) -> None:
        self.app = app
        self.cookies = httpx.Cookies()
        self.raise_app_exceptions = raise_app_exceptions  # False: see the 500 a real client gets

    def request(
        self, method: str, url: str, *, html: bool = False, token: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if html:
            headers.setdefault("accept", "text/html")
        if token:
            headers["authorization"] = f"Bearer {token}"

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=self.raise_app_exceptions)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", cookies=self.cookies
            ) as c:
                response = await c.request(method, url, headers=headers, **kw)
                self.cookies = c.cookies
                return response

        return _run(go())

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def csrf(self, page: str = "/login") -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', self.get(page, html=True).text)
        assert found, f"no CSRF token on {page}"
        return found.group(1)

    def login(self, name: str, password: str = PASSWORD) -> httpx.Response:
        return self.post(
            "/login", data={"name": name, "password": password, "csrf_token": self.csrf(), "next": "/train"}
        )


def add_users(db: str) -> dict[str, str]:
    """The four roles (one user each, same password) and a read+review token per user where allowed."""
    tokens = {}
    with Store(db) as store:
        for name, role in USERS.items():
            team = "@growth-team" if name == "dev" else None
            accounts.create_user(store, name, role, security.hash_password(PASSWORD), team)
            scopes = tuple(sorted(security.allowed_scopes(role)))
            token, token_id, prefix, digest = security.new_token()
            accounts.create_token(
                store, token_id=token_id, user=name, digest=digest, prefix=prefix, scopes=scopes, label="test"
            )
            tokens[name] = token
    return tokens


def copy_train(train: Train, target: Path) -> Train:
    """A private copy of a built train (its SQLite file) for tests that write."""
    target.mkdir(parents=True, exist_ok=True)
    db = target / "traintriage.db"
    shutil.copy(train.db, db)
    return Train(str(db), train.owners, train.at, train.new_sig, list(train.stable_sigs), train.xss_sig)


def make_app(train: Train, **settings: Any) -> Any:
    return create_app(WebSettings(db=train.db, owners=train.owners, at=train.at, **settings))


@contextlib.contextmanager
def live_server(app: Any) -> Iterator[str]:
    """A real uvicorn server for `app` on 127.0.0.1 and a free port, in a thread: its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
