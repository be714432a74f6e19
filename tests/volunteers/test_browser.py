"""A resident makes a micro-wish on a phone, staff dispatch it in the admin, a member claims and
fulfils it, the resident rates it on the tracking page and the member's points go up; in
headless Chromium (skipped without it, like tests/governance/test_browser.py)."""

import pytest

from tests.governance.test_browser import ARTIFACTS, browser  # noqa: F401
from volunteers.models import MicroWish, PointsKind, WishStatus
from volunteers.selectors import balances
from volunteers.services import wishes as services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def environment(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.POINTS_WISH_REWARD = 10
    yield


def test_a_wish_from_phone_to_points(browser, live_server, places, users, member,  # noqa: F811
                                     tree, environment):
    page = browser.new_page(viewport=PHONE, locale="zh-CN")
    page.goto(live_server.url + "/wishes/new/")
    # Without JavaScript help: the search form reloads the page with the matching compounds.
    page.fill("#compound-q", "文锦")
    page.click("#compound-search button[type=submit]")
    choice = page.locator("#compound-results label.choice", has_text="文锦苑")
    choice.wait_for()
    choice.click()
    page.fill("input[name=building]", "1号楼")
    page.select_option("select[name=category]", "daily_necessities")
    page.fill("textarea[name=wish]", "腿脚不便，想请人帮忙买一袋大米送到家。")
    page.fill("input[name=contact_name]", "陈阿姨")
    page.fill("input[name=contact_phone]", "13712345678")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(ARTIFACTS / "wish-form-phone.png"), full_page=True)
    page.click("#wish-form button[type=submit]")
    page.wait_for_url("**/wishes/track/*/")
    code = page.inner_text("#tracking-code").strip()
    wish = MicroWish.objects.get(tracking_code=code)
    assert wish.status == WishStatus.SUBMITTED and wish.building == places["wjy1"]
    assert page.locator(".step.reached").count() == 1

    # Community staff dispatch it to the compound's branch in the admin.
    staff = browser.new_page()
    staff.goto(live_server.url + "/admin/login/")
    staff.fill("input[name=username]", users["comm_a"].username)
    staff.fill("input[name=password]", "pw-Secret-123")
    staff.click("input[type=submit]")
    staff.goto(f"{live_server.url}/admin/volunteers/microwish/{wish.pk}/change/")
    staff.click("a[data-action=dispatch]")
    staff.select_option("select[name=unit]", str(tree["a2"].pk))
    staff.fill("textarea[name=note]", "请党员认领")
    staff.click("input[type=submit].default")
    staff.wait_for_url(f"**/microwish/{wish.pk}/change/")
    staff.screenshot(path=str(ARTIFACTS / "wish-admin-dispatched.png"), full_page=True)
    wish.refresh_from_db()
    assert wish.status == WishStatus.DISPATCHED and wish.dispatched_to_unit == tree["a2"]
    staff.close()

    # A member claims and fulfils it on their own page (here through the services).
    services.claim_wish(None, wish, member)
    services.record_fulfilment(None, wish, note="大米已送到家。", person=member)
    before = balances(member)[PointsKind.MEMBER]

    page.reload()
    assert page.locator(".step.reached").count() == 4
    page.locator(".stars input[value='5'] + label").click()
    page.fill("textarea[name=comment]", "非常感谢！")
    page.screenshot(path=str(ARTIFACTS / "wish-rating-phone.png"), full_page=True)
    page.click(".rating-form button[type=submit]")
    page.wait_for_selector(".stars-shown")
    assert page.locator(".step.reached").count() == 5
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(ARTIFACTS / "wish-rated-phone.png"), full_page=True)
    wish.refresh_from_db()
    assert wish.status == WishStatus.RATED and wish.rating == 5 and wish.points_paid
    assert balances(member)[PointsKind.MEMBER] == before + 10
    page.close()
