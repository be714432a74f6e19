"""The public resident report pages (随手拍): the form, its bad inputs, the tracking page, the
rating, rate limits and who may see the photos."""

import io
import os
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from PIL import Image

from grids import ratelimit
from grids.models import (
    Compound,
    EventAction,
    EventCategory,
    EventSource,
    EventStatus,
    GridEvent,
    GridEventPhoto,
)
from grids.models.events import TRACKING_ALPHABET, new_tracking_code
from grids.services import events as services
from tests.grids.test_events_loop import walk

pytestmark = pytest.mark.django_db

S, A = EventStatus, EventAction
REPORT_URL = "/report/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def image_bytes(fmt="PNG", size=(32, 32), noise=False):
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (200, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def upload(content, name="photo.png", content_type="image/png"):
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture
def post_report(client, places, category):
    """Posts the report form with good values, overridden by keyword."""

    def poster(c=None, **fields):
        data = {
            "compound": places["wjy"].pk,
            "category": category.pk,
            "description": "3号楼楼道堆放杂物，堵塞消防通道",
            "place": "",
            "contact_name": "",
            "contact_phone": "",
        }
        data.update(fields)
        data = {k: v for k, v in data.items() if v is not None}
        return (c or client).post(REPORT_URL, data)

    return poster


def form_errors(response):
    return response.context["form"].errors


# ---- the form and the compound search ----------------------------------------------------------


def test_report_page_is_public_and_mobile(client, places, category):
    response = client.get(REPORT_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="viewport"' in html
    assert "http://" not in html and "https://" not in html  # no CDN
    assert "/static/grids/js/report.js" in html and "/static/grids/css/report.css" in html
    # Active categories only; the compound list waits for a search.
    EventCategory.objects.filter(code="other").update(is_active=False)
    html = client.get(REPORT_URL).content.decode()
    assert category.name in html and "其他" not in html
    assert 'name="compound" value=' not in html


def test_server_side_compound_search_without_javascript(client, places):
    html = client.get(REPORT_URL, {"q": "文锦"}).content.decode()
    assert re.search(rf'name="compound" value="{places["wjy"].pk}"', html)
    assert "滨河社区党委" in html  # the community, to tell same-named compounds apart
    assert f'name="compound" value="{places["hgd"].pk}"' not in html


def test_compound_search_endpoint(client, places, tree):
    def search(q):
        response = client.get("/report/compounds/", {"q": q})
        assert response.status_code == 200
        return response.json()["results"]

    assert search("文锦") == [{"id": places["wjy"].pk, "name": "文锦苑", "community": "滨河社区党委"}]
    # By community, by address; inactive compounds never.
    assert [r["id"] for r in search("十二院城")] == [places["hgd"].pk]
    assert [r["id"] for r in search("金泽路")] == [places["jzhf"].pk]
    assert search("金泽")[0]["community"] == "金泽社区党委"
    Compound.objects.filter(pk=places["hgd"].pk).update(is_active=False)
    assert search("十二院城") == []
    assert search("") == [] and search("   ") == [] and search("\x00") == []
    assert search("文锦\x00")[0]["id"] == places["wjy"].pk
    # A compound hung directly on its community.
    on_community = Compound.objects.create(org_unit=tree["b"], name="十二院城老小区",
                                           compound_type="old", address="x")
    assert search("老小区") == [{"id": on_community.pk, "name": "十二院城老小区",
                                "community": "十二院城社区党委"}]


def test_compound_search_is_capped_and_runs_two_queries(client, places, tree,
                                                        django_assert_num_queries):
    for n in range(25):
        unit = tree["a2"] if n % 2 else tree["b1"]
        Compound.objects.create(org_unit=unit, name=f"测试小区{n:02d}", compound_type="old",
                                address="测试路")
    with django_assert_num_queries(2):
        results = client.get("/report/compounds/", {"q": "测试"}).json()["results"]
    assert len(results) == 20
    assert {r["community"] for r in results} == {"滨河社区党委", "十二院城社区党委"}
    assert all(set(r) == {"id", "name", "community"} for r in results)


# ---- good input ---------------------------------------------------------------------------------


def test_good_report_makes_an_event_and_shows_its_code(client, post_report, places, category):
    response = post_report(
        place="1号楼", contact_name="李女士", contact_phone="138 1234 5678",
        photo=upload(image_bytes("PNG"), name="IMG_0001.PNG"),
    )
    assert response.status_code == 302
    event = GridEvent.objects.get()
    assert response["Location"] == f"/report/track/{event.tracking_code}/"
    assert event.status == S.REPORTED and event.source == EventSource.RESIDENT
    assert event.compound == places["wjy"] and event.building == places["wjy1"]
    assert event.location == "" and event.category == category
    assert event.reporter_name == "李女士" and event.reporter_phone == "138 1234 5678"
    assert event.reporter_user is None
    assert list(event.logs.values_list("action", flat=True)) == [A.REPORT]
    photo = event.photos.get()
    assert photo.stage == GridEventPhoto.Stage.REPORT and photo.image.name.endswith(".png")
    assert "IMG_0001" not in photo.image.name

    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert event.tracking_code in html and "3号楼楼道堆放杂物" in html
    assert "138 1234 5678" not in html and "李女士" not in html


def test_phone_jpegs_with_several_frames_are_accepted(post_report):
    # Many phones write MPO: a JPEG with extra frames; Pillow reports it as "MPO".
    frames = [Image.new("RGB", (16, 16), colour) for colour in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "MPO", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(buffer.getvalue())).format == "MPO"
    response = post_report(photo=upload(buffer.getvalue(), name="IMG.JPG",
                                        content_type="image/jpeg"))
    assert response.status_code == 302
    assert GridEvent.objects.get().photos.get().image.name.endswith(".jpg")


def test_unknown_building_is_kept_as_the_location(post_report, places):
    assert post_report(place="北门岗亭旁").status_code == 302
    event = GridEvent.objects.get()
    assert event.building is None and event.location == "北门岗亭旁"
    assert post_report(place="2").status_code == 302  # "2" is 2号楼
    assert GridEvent.objects.latest("pk").building == places["wjy2"]


@pytest.mark.parametrize("fmt,ext", [("JPEG", "jpg"), ("WEBP", "webp")])
def test_jpeg_and_webp_photos_are_accepted(post_report, fmt, ext):
    response = post_report(photo=upload(image_bytes(fmt), name=f"x.{ext}",
                                        content_type=f"image/{ext}"))
    assert response.status_code == 302
    assert GridEvent.objects.get().photos.get().image.name.endswith(f".{ext}")


# ---- bad input ----------------------------------------------------------------------------------


def test_missing_fields(client):
    response = client.post(REPORT_URL, {})
    assert response.status_code == 200
    assert {"compound", "category", "description"} <= set(form_errors(response))
    assert not GridEvent.objects.exists()
    response = client.post(REPORT_URL, {"description": "   "})
    assert "description" in form_errors(response)


def test_description_length(post_report):
    response = post_report(description="x" * 2001)
    assert "description" in form_errors(response) and not GridEvent.objects.exists()
    # Browsers send CRLF: a line break counts once, as the resident sees it.
    assert post_report(description=("y" * 9 + "\r\n") * 200).status_code == 302
    assert len(GridEvent.objects.get().description) == 1999


@pytest.mark.parametrize("field,value", [
    ("compound", "abc"),
    ("compound", "99999999999999999999999"),
    ("compound", "-1"),
    ("compound", "1.5"),
    ("category", "999999"),
    ("category", "x"),
    ("contact_phone", "call me maybe"),
    ("contact_name", "名" * 41),
    ("place", "楼" * 101),
])
def test_garbage_values_are_form_errors(post_report, field, value):
    response = post_report(**{field: value})
    assert response.status_code == 200
    assert field in form_errors(response)
    assert not GridEvent.objects.exists()


def test_inactive_compound_or_category_is_refused(post_report, places, category):
    Compound.objects.filter(pk=places["wjy"].pk).update(is_active=False)
    assert "compound" in form_errors(post_report())
    Compound.objects.filter(pk=places["wjy"].pk).update(is_active=True)
    EventCategory.objects.filter(pk=category.pk).update(is_active=False)
    assert "category" in form_errors(post_report())
    assert not GridEvent.objects.exists()


def test_chosen_compound_stays_chosen_after_an_error(post_report, places):
    html = post_report(description="").content.decode()
    assert re.search(rf'value="{places["wjy"].pk}" checked', html)


@pytest.mark.parametrize("content,name", [
    (b"just some text, not a photo\n", "photo.jpg"),
    (b"<?php echo 'hi'; ?>", "photo.png"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "photo.png"),  # a PNG signature and nothing else
])
def test_non_image_files_are_refused(post_report, content, name):
    response = post_report(photo=upload(content, name=name))
    assert response.status_code == 200 and "photo" in form_errors(response)
    assert not GridEvent.objects.exists() and not GridEventPhoto.objects.exists()


def test_other_image_formats_are_refused(post_report):
    for fmt in ("GIF", "BMP", "TIFF"):
        response = post_report(photo=upload(image_bytes(fmt), name="photo.jpg"))
        assert "photo" in form_errors(response), fmt
    assert not GridEvent.objects.exists()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_images_are_refused(post_report, fmt):
    whole = image_bytes(fmt, size=(128, 128), noise=True)
    response = post_report(photo=upload(whole[: len(whole) * 2 // 3], name="photo.img"))
    assert "photo" in form_errors(response)
    assert not GridEvent.objects.exists()


def test_empty_file_is_refused(post_report):
    assert "photo" in form_errors(post_report(photo=upload(b"", name="photo.png")))


def test_oversized_photo_is_refused(post_report, settings):
    settings.GRID_EVENT_PHOTO_MAX_BYTES = 2000
    big = image_bytes("PNG", size=(64, 64), noise=True)
    assert len(big) > 2000
    response = post_report(photo=upload(big))
    assert response.status_code == 200 and "photo" in form_errors(response)
    assert not GridEvent.objects.exists()
    small = image_bytes("PNG", size=(8, 8))
    assert post_report(photo=upload(small)).status_code == 302


def test_huge_upload_is_cut_off_with_a_message(post_report, settings):
    # Past the default cap (5 MB): the upload handler stops reading it.
    huge = b"\xff\xd8\xff" + b"\x00" * (settings.GRID_EVENT_PHOTO_MAX_BYTES + 1024)
    response = post_report(photo=upload(huge, name="huge.jpg", content_type="image/jpeg"))
    assert response.status_code == 200
    assert form_errors(response)["photo"]
    assert response.context["form"].oversized == {"photo"}  # not read to the end
    assert not GridEvent.objects.exists()


def test_csrf_is_still_checked(places, category):
    client = Client(enforce_csrf_checks=True)
    response = client.post(REPORT_URL, {"compound": places["wjy"].pk, "category": category.pk,
                                        "description": "x"})
    assert response.status_code == 403 and not GridEvent.objects.exists()
    client.get(REPORT_URL)
    token = client.cookies["csrftoken"].value
    response = client.post(REPORT_URL, {"compound": places["wjy"].pk, "category": category.pk,
                                        "description": "x", "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_script_in_the_text_is_escaped(client, post_report):
    script = "<script>alert('x')</script>"
    response = post_report(description=f"楼道 {script} 杂物", place=f"<b>{script}</b>")
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert script not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    # The search results and the JSON are escaped too.
    Compound.objects.create(org_unit=GridEvent.objects.get().org_unit, name=script,
                            compound_type="old", address="x")
    html = client.get(REPORT_URL, {"q": "script"}).content.decode()
    assert script not in html
    assert client.get("/report/compounds/", {"q": "script"}).json()["results"][0]["name"] == script


# ---- rate limits --------------------------------------------------------------------------------


def test_report_rate_limit_per_address(post_report, settings):
    settings.GRID_REPORT_RATE_LIMIT = "2/600"
    assert post_report().status_code == 302
    assert post_report(description="").status_code == 200  # a refused form counts too
    response = post_report()
    assert response.status_code == 429 and response["Retry-After"]
    assert GridEvent.objects.count() == 1
    # X-Forwarded-For is not trusted without a proxy in front...
    assert post_report(c=Client(HTTP_X_FORWARDED_FOR="10.9.9.9")).status_code == 429
    # ...another address is its own count.
    assert post_report(c=Client(REMOTE_ADDR="10.0.0.2")).status_code == 302
    # Only posting is limited: the form still opens.
    assert Client().get(REPORT_URL).status_code == 200


def test_trusted_proxy_address(rf, settings):
    request = rf.get("/", HTTP_X_FORWARDED_FOR="1.1.1.1, 2.2.2.2, 3.3.3.3",
                     REMOTE_ADDR="10.0.0.1")
    settings.TRUSTED_PROXY_COUNT = 0
    assert ratelimit.client_address(request) == "10.0.0.1"
    settings.TRUSTED_PROXY_COUNT = 1
    assert ratelimit.client_address(request) == "3.3.3.3"
    settings.TRUSTED_PROXY_COUNT = 2
    assert ratelimit.client_address(request) == "2.2.2.2"
    settings.TRUSTED_PROXY_COUNT = 5
    assert ratelimit.client_address(request) == "1.1.1.1"
    settings.GRID_TRACK_RATE_LIMIT = "nonsense"
    assert ratelimit.limit_for("track") == (30, 60)
    settings.GRID_TRACK_RATE_LIMIT = "0/60"
    assert ratelimit.limit_for("track") == (30, 60)


def test_tracking_rate_limit_stops_code_guessing(client, open_event, settings):
    settings.GRID_TRACK_RATE_LIMIT = "3/60"
    event = open_event()
    for guess in ("AAAAAAAAAAAA", "BBBBBBBBBBBB"):
        assert client.get(f"/report/track/{guess}/").status_code == 404
    assert client.get("/report/track/", {"code": "CCCCCCCCCCCC"}).status_code == 404
    # Over the limit even the right code waits; so does rating.
    assert client.get(f"/report/track/{event.tracking_code}/").status_code == 429
    assert client.post(f"/report/track/{event.tracking_code}/rate/",
                       {"rating": 5}).status_code == 429
    assert Client(REMOTE_ADDR="10.0.0.3").get(
        f"/report/track/{event.tracking_code}/").status_code == 200


# ---- tracking -----------------------------------------------------------------------------------


def test_tracking_lookup(client, open_event):
    event = open_event()
    assert client.get("/report/track/").status_code == 200
    response = client.get("/report/track/", {"code": "NOSUCHCODE22"})
    assert response.status_code == 404 and response.context["not_found"]
    assert "grids/track_lookup.html" in [t.name for t in response.templates]
    response = client.get("/report/track/", {"code": ""})
    assert response.status_code == 200 and "code" in response.context["form"].errors
    # Codes are case-insensitive and may be typed with spaces or dashes.
    typed = event.tracking_code.lower()
    typed = f"{typed[:4]}-{typed[4:8]} {typed[8:]}"
    response = client.get("/report/track/", {"code": typed})
    assert response.status_code == 302
    assert response["Location"] == f"/report/track/{event.tracking_code}/"
    assert client.get(f"/report/track/{event.tracking_code.lower()}/").status_code == 200
    for junk in ("x" * 500, "%00", "' OR 1=1 --", "ÄÖÜ", "ＡＢＣＤ"):
        assert client.get(f"/report/track/{junk}/").status_code == 404
        assert client.get("/report/track/", {"code": junk}).status_code in (200, 404)


def test_tracking_codes_cannot_be_derived(open_event):
    first, second = open_event(), open_event()
    assert first.tracking_code != second.tracking_code
    codes = [new_tracking_code() for _ in range(100)]
    assert len(set(codes)) == 100
    assert all(len(c) == 12 and set(c) <= set(TRACKING_ALPHABET) for c in codes)
    assert len(TRACKING_ALPHABET) == 32 == len(set(TRACKING_ALPHABET))
    # Random, not counted: consecutive codes share no more than chance does.
    same = sum(a == b for x, y in zip(codes, codes[1:]) for a, b in zip(x, y))
    assert same < 12 * 99 / 8


def test_tracking_page_shows_steps_but_nothing_internal(client, open_event, users, grid_user,
                                                        department):
    event = open_event(reporter_name="李女士", reporter_phone="13812345678")
    walk(event, users["comm_a"], grid_user, S.IN_PROGRESS)
    services.escalate(grid_user, event, department=department, note="需城管执法 13900001111")
    response = client.get(f"/report/track/{event.tracking_code}/")
    assert response.status_code == 200
    steps = response.context["steps"]
    assert [s["reached"] for s in steps] == [True, True, True, True, False, False]
    assert [s["current"] for s in steps] == [False, False, False, True, False, False]
    assert all(s["at"] for s in steps[:4])
    html = response.content.decode()
    for secret in ("grid_a2", "comm_a", "城管科", "13900001111", "需城管执法", "13812345678",
                   "李女士", event.case_number):
        assert secret not in html
    assert not response.context["show_result"]
    services.report_result(grid_user, event, "已清理杂物，通道畅通")
    html = client.get(f"/report/track/{event.tracking_code}/").content.decode()
    assert "已清理杂物，通道畅通" in html
    services.send_back(users["comm_a"], event, "楼道仍有杂物，王某某负责")
    response = client.get(f"/report/track/{event.tracking_code}/")
    assert "王某某" not in response.content.decode()
    assert not response.context["show_result"]


def test_tracking_page_query_count(client, open_event, users, grid_user):
    fresh = open_event()
    closed = walk(open_event(), users["comm_a"], grid_user, S.CLOSED)
    counts = []
    for event in (fresh, closed):
        url = f"/report/track/{event.tracking_code}/"
        client.get(url)  # now remembered in the session
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        counts.append(len(queries))
    # The session, the event, its log, its photos: however long the log.
    assert counts == [4, 4]


def test_duplicate_shows_skipped_steps_as_not_reached(client, open_event, users):
    original, copy = open_event(), open_event()
    services.link_duplicate(users["comm_a"], copy, original)
    steps = client.get(f"/report/track/{copy.tracking_code}/").context["steps"]
    assert [s["reached"] for s in steps] == [True, False, False, False, False, True]


# ---- rating -------------------------------------------------------------------------------------


def test_rating_on_the_tracking_page(client, open_event, users, grid_user):
    event = open_event()
    url = f"/report/track/{event.tracking_code}/"
    assert not client.get(url).context["can_rate"]
    # Not closed yet: refused with a message.
    response = client.post(url + "rate/", {"rating": 5})
    assert response.status_code == 400 and response.context["rating_form"].non_field_errors()
    walk(event, users["comm_a"], grid_user, S.CLOSED)
    response = client.get(url)
    assert response.context["can_rate"] and 'name="rating"' in response.content.decode()
    for bad in ({"rating": 7}, {"rating": 0}, {"rating": "x"}, {}):
        response = client.post(url + "rate/", bad)
        assert response.status_code == 400 and "rating" in response.context["rating_form"].errors
    response = client.post(url + "rate/", {"rating": 4, "comment": "长" * 301})
    assert "comment" in response.context["rating_form"].errors
    event.refresh_from_db()
    assert event.rating is None

    response = client.post(url + "rate/", {"rating": 5, "comment": "很及时 <b>谢谢</b>"})
    assert response.status_code == 302 and response["Location"] == url
    event.refresh_from_db()
    assert event.rating == 5 and event.status == S.CLOSED
    page = client.get(url)
    assert not page.context["can_rate"]
    assert "很及时 &lt;b&gt;谢谢&lt;/b&gt;" in page.content.decode()
    # Cannot rate twice.
    response = client.post(url + "rate/", {"rating": 1})
    assert response.status_code == 400 and response.context["rating_form"].non_field_errors()
    event.refresh_from_db()
    assert event.rating == 5 and event.status == S.CLOSED


def test_two_stars_reopen_the_event(client, open_event, users, grid_user):
    event = walk(open_event(), users["comm_a"], grid_user, S.CLOSED)
    url = f"/report/track/{event.tracking_code}/"
    assert client.post(url + "rate/", {"rating": 2, "comment": "没扫干净"}).status_code == 302
    event.refresh_from_db()
    assert event.status == S.IN_PROGRESS and event.reopened_count == 1
    assert list(event.logs.values_list("action", flat=True))[-2:] == [A.RATE, A.REOPEN]
    response = client.get(url)
    assert not response.context["can_rate"]
    assert [s["reached"] for s in response.context["steps"]] == [True] * 4 + [False] * 2
    # Worked again and closed: the resident may rate the new result.
    services.report_result(grid_user, event, "重新清理")
    services.close_event(users["comm_a"], event)
    assert client.get(url).context["can_rate"]
    assert client.post(url + "rate/", {"rating": 5}).status_code == 302


def test_rating_an_unknown_code(client):
    assert client.post("/report/track/NOSUCHCODE22/rate/", {"rating": 5}).status_code == 404
    assert client.get("/report/track/NOSUCHCODE22/rate/").status_code == 405


# ---- photos -------------------------------------------------------------------------------------


@pytest.fixture
def photo_event(post_report):
    response = post_report(photo=upload(image_bytes("PNG"), name="p.png"))
    event = GridEvent.objects.get()
    return event, event.photos.get(), response["Location"]


def test_photo_view_permissions(photo_event, admin_client_for, users, tree):
    from party_org.models import StaffRole
    from tests.conftest import _user

    event, photo, track_url = photo_event
    url = f"/report/photos/{photo.pk}/"
    # Staff in scope (and any superuser) yes.
    for user in (users["comm_a"], users["street"], users["admin"],
                 _user("grid_a2x", StaffRole.GRID_WORKER, tree["a2"])):
        response = admin_client_for(user).get(url)
        assert response.status_code == 200, user
        assert response["Content-Type"] == "image/png"
        assert b"".join(response.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
    # Staff elsewhere, a user without a role, and a stranger: 404.
    for user in (users["comm_b"], users["nobody"]):
        assert admin_client_for(user).get(url).status_code == 404
    stranger = Client()
    assert stranger.get(url).status_code == 404
    # Once the stranger has opened the tracking page, the page's photos show.
    html = stranger.get(track_url).content.decode()
    assert f'src="{url}"' in html and photo.image.url not in html
    response = stranger.get(url)
    assert response.status_code == 200 and response["Cache-Control"].startswith("private")


def test_photo_view_edge_cases(client, photo_event, users, grid_user):
    event, photo, track_url = photo_event
    client.get(track_url)
    assert client.get("/report/photos/999999/").status_code == 404
    assert client.get("/report/photos/99999999999999999999999/").status_code == 404
    # Result photos are not granted by the tracking page.
    walk(event, users["comm_a"], grid_user, S.IN_PROGRESS)
    services.report_result(grid_user, event, "已处理",
                           photos=[upload(image_bytes("PNG"), name="r.png")])
    result = event.photos.get(stage=GridEventPhoto.Stage.RESULT)
    assert client.get(f"/report/photos/{result.pk}/").status_code == 404
    # A file gone from the disk is a 404, not a 500.
    photo.image.storage.delete(photo.image.name)
    assert client.get(f"/report/photos/{photo.pk}/").status_code == 404


def test_home_page_links_to_the_report_form(client, tree):
    assert 'href="/report/"' in client.get("/").content.decode()
