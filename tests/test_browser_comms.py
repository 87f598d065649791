"""The communication pages in real headless Chromium against a real server on 127.0.0.1:
trend charts drawn server-side, the agenda and summary, a task draft, hostile text never run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_browser import _login, _serve, browser  # noqa: F401  (the module-scoped Chromium fixture)
from tests.web_client import add_users
from tests.web_helpers import NEW, Train, build_train

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def comms_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Train]]:
    train = build_train(tmp_path_factory.mktemp("browser-comms"), xss=True)
    add_users(train.db)
    for url in _serve(train):
        yield url, train


def test_trend_charts_agenda_summary_and_task_in_the_browser(
    browser: Any,  # noqa: F811
    comms_site: tuple[str, Train],
) -> None:
    base, train = comms_site
    page = _login(browser, base, "dev")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append("dialog " + d.message), d.dismiss()))

    page.click("nav >> text=Trends")
    page.wait_for_url(f"{base}/trends")
    charts = page.locator("svg.chart.trend")
    assert charts.count() == 5
    box = charts.first.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 100  # drawn, laid out, visible
    assert page.locator("svg.chart.trend rect.bar").count() > 0
    assert page.locator("svg.chart.stacked rect.bar").count() > 0  # the backlog by team and age
    assert NEW in page.inner_text("#trend-table")
    assert "@growth-team" in page.inner_text("#new-by-team").lower()  # headers are upper-cased by CSS
    tip = page.locator("svg.chart.trend rect.bar title").first.text_content() or ""
    assert "1.36.0-wmf." in tip  # each bar says what it is

    page.click("nav >> text=Agenda")
    page.wait_for_url(f"{base}/agenda")
    assert f"Train log triage · {NEW}" in page.inner_text("#agenda-title")
    assert "@growth-team" in page.inner_text("main") and "blocker" in page.inner_text(".suggestion >> nth=0")
    page.click(f"a[href='/signatures/{train.new_sig}/task'] >> nth=0")
    page.wait_for_url(f"{base}/signatures/{train.new_sig}/task")
    assert "==== Error ====" in page.inner_text("#remarkup")
    href = page.get_attribute("#create-task", "href") or ""
    assert href.startswith("https://phabricator.wikimedia.org/maniphest/task/edit/form/46/?title=")

    page.click("nav >> text=Summary")
    page.wait_for_url(f"{base}/summary")
    assert page.inner_text("#summary-title") == f"Summary of {NEW} train deployment"
    assert page.locator("svg.spark").count() == 5
    assert "Conductor: deployer" in page.inner_text("#summary-text")

    for path in ("/agenda", "/trends", f"/signatures/{train.xss_sig}/task", f"/summary?version={NEW}"):
        page.goto(base + path)
        page.wait_for_load_state("load")
        assert page.evaluate("() => window.__xss") is None, path
        assert page.locator("main img").count() == 0, path
    page.goto(f"{base}/signatures/{train.xss_sig}/task")
    assert "<script>window.__xss=1</script>" in page.inner_text("#remarkup")  # shown as text
    assert errors == []
    page.context.close()
