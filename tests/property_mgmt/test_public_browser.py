"""A resident on a phone opens their compound's page, reads the decision under notice, opens the
survey, enters their household's code and rates five aspects of the service; and staff take a
deliberation one step on, in headless Chromium (skipped without it, like
tests/governance/test_browser.py)."""

import datetime as dt

import pytest
from django.utils import timezone

from property_mgmt import services
from property_mgmt.models import DIMENSIONS, DeliberationStatus, EvaluationResponse
from tests.governance.test_browser import ARTIFACTS, browser  # noqa: F401

from .test_public import scene  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
TODAY = timezone.localdate()


def at(day, hour=10):
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def watch(page, live_server):
    outside = []
    page.on("request", lambda r: None if r.url.startswith(live_server.url)
            or r.url.startswith("data:") else outside.append(r.url))
    return outside


def fits(page):
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def decision_on_notice(user, compound):
    d = services.propose(user, compound=compound, topic="小区停车秩序整治",
                         background="车辆乱停占用消防通道", at=at(TODAY - dt.timedelta(days=6)))
    d = services.discuss(user, d, minutes="支部、业委会、物业和居民代表一致同意划线停车",
                         attendance=[("branch", "王建国"), ("committee", "李秀英"),
                                     ("company", "张经理")],
                         at=at(TODAY - dt.timedelta(days=5)))
    d = services.decide(user, d, decision="施划停车位76个，实行一车一位；外来车辆限时两小时。",
                        votes_for=11, votes_against=1, votes_abstain=1,
                        at=at(TODAY - dt.timedelta(days=4)))
    return services.publicise(user, d, days=7, start=TODAY - dt.timedelta(days=2),
                              at=at(TODAY - dt.timedelta(days=3)))


def test_a_resident_reads_the_notice_and_rates_the_service(
    browser, live_server, scene, users,  # noqa: F811
):
    compound, code = scene["compound"], scene["codes"][0]
    decision_on_notice(users["secretary"], compound)
    page = browser.new_page(viewport=PHONE, locale="zh-CN")
    outside = watch(page, live_server)

    page.goto(f"{live_server.url}/compounds/{compound.pk}/")
    assert page.locator("h1").inner_text() == "文锦苑"
    notice = page.locator(".pm-notice")
    assert notice.count() == 1 and "施划停车位76个" in notice.inner_text()
    assert "李秀英" in page.content() and "13833334444" not in page.content()
    assert fits(page)
    page.screenshot(path=str(ARTIFACTS / "compound-phone.png"), full_page=True)

    page.click(".pm-survey-call a[href='/evaluate/']")
    page.wait_for_url("**/evaluate/")
    # A mistyped code first: refused with a message, nothing else lost.
    page.fill("input[name=code]", "abcde 12345")
    page.click("#code-form button[type=submit]")
    page.wait_for_selector(".pm-refusal")
    assert fits(page)
    page.screenshot(path=str(ARTIFACTS / "evaluate-refused-phone.png"), full_page=True)
    page.fill("input[name=code]", f"{code.code[:5].lower()} {code.code[5:].lower()}")
    page.click("#code-form button[type=submit]")
    page.wait_for_selector("#rating-form")
    assert "文锦苑" in page.locator(".pm-survey-head").inner_text()
    chosen = dict(zip(DIMENSIONS, (5, 4, 2, 4, 5), strict=True))
    for dim, stars in chosen.items():
        page.locator(f"#dim-{dim} .stars input[value='{stars}'] + label").click()
    page.fill("textarea[name=comment]", "电梯维修太慢，保洁很好。")
    assert fits(page)
    page.screenshot(path=str(ARTIFACTS / "evaluate-rating-phone.png"), full_page=True)
    page.click("#rating-form button[type=submit]")
    page.wait_for_url("**/evaluate/thanks/")
    assert fits(page)
    page.screenshot(path=str(ARTIFACTS / "evaluate-thanks-phone.png"), full_page=True)

    response = EvaluationResponse.objects.get(code=code)
    assert {dim: getattr(response, dim) for dim in DIMENSIONS} == chosen
    assert response.comment == "电梯维修太慢，保洁很好。"
    # Back to the compound's page from the thank-you page.
    page.click(f"a[href='/compounds/{compound.pk}/']")
    page.wait_for_url(f"**/compounds/{compound.pk}/")
    assert outside == []
    page.close()


def test_staff_take_a_deliberation_one_step_on(browser, live_server, scene, users):  # noqa: F811
    d = services.propose(users["secretary"], compound=scene["compound"], topic="加装电梯",
                         background="6层老楼，老人上下楼难")
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    outside = watch(page, live_server)
    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", "sec_a2")
    page.fill("#id_password", "pw-Secret-123")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/property_mgmt/deliberation/{d.pk}/change/")
    page.click("a[data-step=discuss]")
    page.fill("textarea[name=minutes]", "各方同意申请加装电梯，费用按楼层分摊。")
    page.fill("input[name=party_branch]", "王建国")
    page.fill("input[name=party_company]", "张经理")
    page.fill("input[name=party_representatives]", "赵大妈，钱大爷")
    page.screenshot(path=str(ARTIFACTS / "admin-deliberation-step.png"), full_page=True)
    page.click(".submit-row input[type=submit]")
    page.wait_for_selector("a[data-step=decide]")
    assert page.locator(".pm-timeline tbody tr").count() == 2
    page.screenshot(path=str(ARTIFACTS / "admin-deliberation.png"), full_page=True)
    d.refresh_from_db()
    assert d.status == DeliberationStatus.DISCUSSING and d.attendance.count() == 4
    assert outside == []
    page.close()


def test_staff_read_results_and_the_watch_list(browser, live_server, scene, users,  # noqa: F811
                                               places, companies):
    for code, value in zip(scene["codes"][:3], (2, 3, 2), strict=True):
        services.submit_evaluation(code.code, {dim: value for dim in DIMENSIONS})
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    outside = watch(page, live_server)
    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", "comm_a")
    page.fill("#id_password", "pw-Secret-123")
    page.click("input[type=submit]")
    survey = scene["survey"]
    page.goto(f"{live_server.url}/admin/property_mgmt/serviceevaluation/{survey.pk}/change/")
    assert page.locator(".pm-bars tbody tr").count() == len(DIMENSIONS)
    page.screenshot(path=str(ARTIFACTS / "admin-evaluation.png"), full_page=True)
    page.goto(f"{live_server.url}/admin/property_mgmt/serviceevaluation/")
    page.click("text=" + page.locator(".object-tools a").first.inner_text())
    page.wait_for_selector(".pm-watch--red")
    page.screenshot(path=str(ARTIFACTS / "admin-watch-list.png"), full_page=True)
    services.start_service(users["comm_a"], places["bhza"], mode="subsidised",
                           company=companies["anju"],
                           started_on=services.add_months(TODAY, -5))
    page.goto(f"{live_server.url}/admin/property_mgmt/serviceperiod/")
    assert page.locator("#result_list tbody tr").count() == 2
    page.screenshot(path=str(ARTIFACTS / "admin-service-periods.png"), full_page=True)
    assert outside == []
    page.close()
