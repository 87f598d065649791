"""End to end in real headless Chromium (Debian's /usr/bin/chromium, no browser download)
against a real uvicorn server on 127.0.0.1: the triage flow, login/CSRF/roles, and XSS.

Skipped when /usr/bin/chromium is missing, unless $TRAINTRAIGE_REQUIRE_BROWSER or
$TRAINTRIAGE_REQUIRE_BROWSER is set (CI): then it fails.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web_client import PASSWORD, add_users, make_app
from tests.web_helpers import NEW, XSS_SCRIPT, Train, build_train

pytestmark = [pytest.mark.browser]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the suite (module scope: Playwright's loop ends with this module)."""
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("TRAINTRIAGE_REQUIRE_BROWSER") or os.environ.get("TRAINTRAIGE_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(train: Train) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(make_app(train), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Train]]:
    train = build_train(tmp_path_factory.mktemp("browser-train"))
    add_users(train.db)
    for url in _serve(train):
        yield url, train


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Train]]:
    train = build_train(tmp_path_factory.mktemp("xss-train"), xss=True)
    add_users(train.db)
    for url in _serve(train):
        yield url, train


def _login(browser: Any, base: str, name: str, password: str = PASSWORD) -> Any:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/train*")
    return page


def test_developer_review_turns_the_deployers_no_go_into_go(browser: Any, site: tuple[str, Train]) -> None:
    base, train = site
    deployer = _login(browser, base, "dora")
    assert deployer.inner_text("#verdict .badge") == "NO-GO"
    assert "nogo.unreviewed-critical-new" in deployer.inner_text("#verdict")
    assert train.new_sig[:8] in deployer.inner_text("body")  # listed as a blocker

    dev = _login(browser, base, "dev")
    dev.click("nav >> text=Team queue")
    dev.wait_for_url(f"{base}/queue*")
    assert "@growth-team" in dev.inner_text("h1")  # the developer's own team by default
    row = dev.locator(f'tr[data-sig="{train.new_sig}"]')
    assert "untriaged" in row.inner_text()
    assert "selected" in (row.get_attribute("class") or "")  # the first untriaged row is selected
    dev.keyboard.press("n")  # not-blocker, by keyboard
    dev.wait_for_load_state()
    dev.wait_for_selector(f'tr[data-sig="{train.new_sig}"] .rv-not-blocker')
    assert "reviewed as not-blocker" in dev.inner_text(".flash")

    deployer.reload()
    assert deployer.inner_text("#verdict .badge") == "GO"
    deployer.context.close()
    dev.context.close()


def test_login_csrf_and_roles_in_the_browser(browser: Any, site: tuple[str, Train]) -> None:
    base, train = site
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/queue")
    assert page.url.startswith(f"{base}/login?next=")
    page.fill("input[name=name]", "dev")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "Wrong user name or password" in page.inner_text(".error")
    context.close()

    viewer = _login(browser, base, "vera")
    viewer.goto(f"{base}/queue?version={NEW}&team=all")
    assert "viewers cannot review" in viewer.inner_text("#queue")
    assert viewer.locator("form.verdicts").count() == 0
    # a viewer forging the form post (with a valid CSRF token) is refused by role
    status = viewer.evaluate(
        """async ([sig, csrf]) => (await fetch('/signatures/' + sig + '/review', {method: 'POST',
             body: new URLSearchParams({verdict: 'not-blocker', csrf_token: csrf})})).status""",
        [train.new_sig, viewer.get_attribute("form[action='/logout'] input[name=csrf_token]", "value")],
    )
    assert status == 403
    viewer.context.close()

    dev = _login(browser, base, "dev")
    # without (or with a wrong) CSRF token, even a developer's post is refused
    for token in ("", "forged"):
        status = dev.evaluate(
            """async ([sig, csrf]) => (await fetch('/signatures/' + sig + '/review', {method: 'POST',
                 body: new URLSearchParams({verdict: 'blocker', csrf_token: csrf})})).status""",
            [train.new_sig, token],
        )
        assert status == 403
    # the CSP forbids inline scripts: an injected one does not run
    dev.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__inline = 1'; document.body.appendChild(s); }"
    )
    assert dev.evaluate("() => window.__inline") is None
    dev.context.close()


def test_hostile_log_text_is_shown_as_text_never_run(browser: Any, hostile_site: tuple[str, Train]) -> None:
    base, train = hostile_site
    page = _login(browser, base, "dev")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pages = [
        f"/train?version={NEW}",
        f"/queue?version={NEW}&team=all",
        f"/signatures/{train.xss_sig}",
        "/search?q=hostile",
        f"/search?q=%3Cscript%3E&version={NEW}",
    ]
    for path in pages:
        page.goto(base + path)
        page.wait_for_load_state("load")
        assert page.evaluate("() => window.__xss") is None, path
        text = page.inner_text("main")
        assert "<script>window.__xss=" in text, path  # the payload is displayed as text
        assert page.locator("main img").count() == 0, path
        assert page.locator("main svg[onload]").count() == 0, path
        assert page.locator('a[href^="javascript:"]').count() == 0, path
    page.goto(f"{base}/signatures/{train.xss_sig}")
    body = page.inner_text("main")
    assert XSS_SCRIPT in body and "<img src=x onerror=window.__xss=1>" in body  # message, trace, wiki
    assert "javascript:window.__xss=1" in body  # the URL, as text
    page.locator("details summary").first.click()
    page.wait_for_timeout(100)
    assert page.evaluate("() => window.__xss") is None and dialogs == []
    page.context.close()
