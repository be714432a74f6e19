"""The real pages in headless Chromium (Debian's package, driven by Playwright).

Screenshots land in test-artifacts/ for a person to look at. Without /usr/bin/chromium the tests
skip, unless REQUIRE_BROWSER=1 (CI), where a missing browser is a failure.
"""

import os
import re
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not Path(CHROMIUM).exists():
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls in the test
    # (fixtures) are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def _watch_requests(page, live_server):
    outside = []
    page.on(
        "request",
        lambda request: None
        if request.url.startswith(live_server.url) or request.url.startswith("data:")
        else outside.append(request.url),
    )
    return outside


def test_home_on_a_phone(browser, live_server, tree):
    page = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN")
    outside = _watch_requests(page, live_server)
    page.goto(live_server.url + "/")
    assert page.locator("h1").inner_text() == "社区治理综合管理平台"
    # Mobile first: nothing wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.fill("input[name=q]", "金泽")
    page.click("form.search button")
    page.wait_for_load_state()
    assert "金泽社区党委" in page.locator(".directory").inner_text()
    assert "滨河社区党委" not in page.locator(".directory").inner_text()
    page.screenshot(path=str(ARTIFACTS / "home-phone.png"), full_page=True)
    assert outside == []
    page.close()


def test_admin_tree_as_community_staff(browser, live_server, users, tree):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    outside = _watch_requests(page, live_server)
    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", "comm_a")
    page.fill("#id_password", "pw-Secret-123")
    page.click("input[type=submit]")
    page.goto(live_server.url + "/admin/party_org/orgunit/")
    table = page.locator("#result_list").inner_text()
    assert "滨河社区党委" in table and "文锦苑小区党支部" in table
    assert "十二院城社区党委" not in table
    # Filter by kind through the sidebar, as staff would.
    page.click("#changelist-filter a[href*='kind=branch']")
    page.wait_for_load_state()
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3
    page.screenshot(path=str(ARTIFACTS / "admin-tree.png"), full_page=True)
    # The parent picker (autocomplete) offers only their own subtree.
    page.goto(live_server.url + "/admin/party_org/orgunit/add/")
    page.click(".field-parent .select2-selection")
    page.wait_for_selector(".select2-results__option:not(.loading-results)")
    options = page.locator(".select2-results__option").all_inner_texts()
    assert any("滨河社区党委" in o for o in options)
    assert not any("十二院城" in o or "金泽" in o for o in options)
    assert outside == []
    page.close()


def test_api_docs_load_offline(browser, live_server, db):
    page = browser.new_page(locale="zh-CN")
    outside = _watch_requests(page, live_server)
    page.goto(live_server.url + "/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert re.search("API", page.locator(".swagger-ui .info .title").inner_text())
    # Many tags: the docs offer a tag filter, which is how a reader finds one.
    page.fill(".swagger-ui .operation-filter-input", "org-units")
    page.wait_for_selector("text=/api/v1/org-units/{id}/stats/")
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
    assert outside == []
    page.close()
