"""The feedback report and the emergency call list in headless Chromium (skipped without it).

Screenshots land in test-artifacts/ for a person to look at.
"""

import os
from pathlib import Path

import pytest

from party_org.services import duties as services
from tests.party_org.test_duties import D, register, world  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

if not Path(CHROMIUM).exists():
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        yield browser
        browser.close()


def login(browser, live_server, username):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    outside = []
    page.on("request", lambda r: None if r.url.startswith(live_server.url)
            or r.url.startswith("data:") else outside.append(r.url))
    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-Secret-123")
    page.click("input[type=submit]")
    return page, outside


def test_printable_feedback_report(browser, live_server, world, users):
    zhang = register(world, on=D(2025, 3, 1), post=world["legal"])
    services.record_service(None, zhang, D(2025, 4, 2), 2, "法律咨询")
    services.evaluate_registration(None, zhang, 2025, "excellent", "表现突出")
    register(world, who="wang", branch="b1", on=D(2025, 2, 1))
    page, outside = login(browser, live_server, "comm_a")
    page.goto(live_server.url + "/admin/party_org/workunit/")
    page.click(f"a[href$='/{world['tax'].pk}/feedback/']")
    page.fill("#id_month", "2025-04")
    page.click("form.report-form button[type=submit]")
    page.wait_for_load_state()
    sheet = page.locator(".report-sheet").inner_text()
    assert "张建国" in sheet and "法律咨询岗" in sheet and "王志强" not in sheet
    page.screenshot(path=str(ARTIFACTS / "feedback-report.png"), full_page=True)
    page.emulate_media(media="print")
    assert not page.locator("form.report-form").is_visible()
    assert not page.locator("#header").is_visible()
    assert page.locator(".report-sheet table").is_visible()
    page.screenshot(path=str(ARTIFACTS / "feedback-report-print.png"), full_page=True)
    assert outside == []
    page.close()


def test_emergency_call_list(browser, live_server, world, users):
    services.set_emergency_role(None, world["zhang"], "patrol", world["a2g"], "夜间巡逻")
    services.set_emergency_role(None, world["direct"], "supplies", world["a2"])
    activation = services.activate_emergency(users["comm_a"], world["a2"], "暴雨防汛")
    page, outside = login(browser, live_server, "comm_a")
    page.goto(live_server.url + f"/admin/party_org/emergencyactivation/{activation.pk}/change/")
    ack = activation.acknowledgements.get(member=world["direct"])
    page.fill(f"input[name=_note_{ack.pk}]", "已到岗")
    page.click(f"button[name=_acknowledge][value='{ack.pk}']")
    page.wait_for_load_state()
    rows = page.locator(".inline-group tbody tr").all_inner_texts()
    assert len([r for r in rows if "张建国" in r or "刘德明" in r]) == 2
    assert any("刘德明" in r and "已到岗" in r for r in rows)
    page.screenshot(path=str(ARTIFACTS / "emergency-call-list.png"), full_page=True)
    assert outside == []
    page.close()
