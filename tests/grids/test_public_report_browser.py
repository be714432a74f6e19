"""A resident reports a problem on a phone, follows it by its code and rates the result, in
headless Chromium (skipped without it, like tests/governance/test_browser.py)."""

import io

import pytest
from PIL import Image

from grids.models import EventCategory, EventSource, EventStatus, GridEvent
from tests.governance.test_browser import ARTIFACTS, browser  # noqa: F401
from tests.grids.test_events_loop import walk

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def environment(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # A transactional test flushes the categories the data migration made: bring one back.
    category, _created = EventCategory.objects.get_or_create(
        code="environment", defaults={"name": "环境卫生"}
    )
    yield category


def png_bytes():
    image = Image.new("RGB", (120, 90), (230, 230, 230))
    for x in range(30, 90):
        for y in range(20, 70):
            image.putpixel((x, y), (200, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_resident_reports_follows_and_rates_on_a_phone(
    browser, live_server, places, users, grid_user, environment,  # noqa: F811
):
    category = environment
    page = browser.new_page(viewport=PHONE, locale="zh-CN")
    outside = []
    page.on("request", lambda r: None if r.url.startswith(live_server.url)
            or r.url.startswith("data:") else outside.append(r.url))

    # From the home page's resident services.
    page.goto(live_server.url + "/")
    page.click(".tile-report a[href='/report/']")
    page.wait_for_url("**/report/")
    # The compound is found by typing part of its name (live search, no reload).
    page.fill("#compound-q", "文锦")
    choice = page.locator("#compound-results label.choice", has_text="文锦苑")
    choice.wait_for()
    assert "滨河社区党委" in choice.inner_text()
    choice.click()
    assert page.is_checked(f"input[name=compound][value='{places['wjy'].pk}']")
    page.fill("input[name=place]", "1号楼")
    page.select_option("select[name=category]", str(category.pk))
    page.fill("textarea[name=description]", "1号楼楼道堆放杂物，堵塞消防通道，已有一周。")
    page.set_input_files("input[name=photo]", files=[
        {"name": "IMG_2024.png", "mimeType": "image/png", "buffer": png_bytes()}
    ])
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(ARTIFACTS / "report-form-phone.png"), full_page=True)
    page.click("#report-form button[type=submit]")
    page.wait_for_url("**/report/track/*/")

    code = page.inner_text("#tracking-code").strip()
    event = GridEvent.objects.get(tracking_code=code)
    assert event.status == EventStatus.REPORTED and event.source == EventSource.RESIDENT
    assert event.building == places["wjy1"] and event.photos.count() == 1
    # The photo thumbnail loads through the guarded view.
    page.wait_for_function("document.querySelector('.photos img').naturalWidth > 0")
    assert page.locator(".step.reached").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(ARTIFACTS / "report-tracking-phone.png"), full_page=True)

    # Staff take it round the loop; the resident comes back to the same page.
    walk(event, users["comm_a"], grid_user, EventStatus.CLOSED)
    page.reload()
    assert page.locator(".step.reached").count() == 6
    assert page.locator(".step.current").count() == 1
    assert page.locator(".steps li").last.get_attribute("aria-current") == "step"
    page.locator(".stars input[value='5'] + label").click()
    page.fill("textarea[name=comment]", "处理很及时，谢谢！")
    page.screenshot(path=str(ARTIFACTS / "report-rating-phone.png"), full_page=True)
    page.click(".rating-form button[type=submit]")
    page.wait_for_selector(".stars-shown")
    event.refresh_from_db()
    assert event.rating == 5 and event.status == EventStatus.CLOSED
    assert page.locator(".rating-form").count() == 0
    page.screenshot(path=str(ARTIFACTS / "report-rated-phone.png"), full_page=True)
    assert outside == []
    page.close()
