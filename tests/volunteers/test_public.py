"""The public micro-wish pages: submit a wish (good input and every kind of bad input, never a
500), follow and rate it by its tracking code, the wish wall without personal data, and the
per-address rate limits."""

import io
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from volunteers.models import MicroWish, PointsEntry, WishStatus
from volunteers.services import wishes as services

pytestmark = pytest.mark.django_db
NEW = "/wishes/new/"


def image_bytes(fmt="PNG", size=(16, 16)):
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buffer, fmt)
    return buffer.getvalue()


def upload(content, name="photo.png"):
    return SimpleUploadedFile(name, content, content_type="image/png")


@pytest.fixture
def post_wish(client, places):
    def poster(c=None, **fields):
        data = {"compound": places["wjy"].pk, "building": "", "category": "daily_necessities",
                "wish": "腿脚不便，想请人帮忙买一袋大米", "contact_name": "陈阿姨",
                "contact_phone": "13712345678"}
        data.update(fields)
        data = {k: v for k, v in data.items() if v is not None}
        return (c or client).post(NEW, data)

    return poster


def errors(response):
    assert response.status_code == 200, response.status_code
    return response.context["form"].errors


def test_form_page_is_public_and_searches_compounds(client, places):
    response = client.get(NEW)
    assert response.status_code == 200 and b'name="viewport"' in response.content
    page = client.get(NEW, {"q": "文锦"}).content.decode()
    assert f'value="{places["wjy"].pk}"' in page
    assert client.get(NEW, {"q": "\x00" * 80}).status_code == 200


def test_good_wish_gets_a_tracking_page(client, post_wish, places):
    response = post_wish(building="1", photo=upload(image_bytes()))
    assert response.status_code == 302
    wish = MicroWish.objects.get()
    assert response["Location"] == f"/wishes/track/{wish.tracking_code}/"
    assert wish.building == places["wjy1"] and wish.photo and wish.org_unit == places["wjy"].org_unit
    page = client.get(response["Location"]).content.decode()
    assert wish.tracking_code in page and "13712345678" not in page
    assert 'aria-current="step"' in page
    # Codes are read aloud: case, spaces and dashes do not matter.
    code = wish.tracking_code.lower()
    assert client.get(f"/wishes/track/{code[:4]}-{code[4:]}/").status_code == 200


@pytest.mark.parametrize("field, value", [
    ("compound", ""), ("compound", "abc"), ("compound", "99999999"), ("compound", str(2**70)),
    ("category", ""), ("category", "bribes"), ("wish", ""), ("wish", "   "), ("wish", "长" * 501),
    ("contact_phone", ""), ("contact_phone", "abc-def"), ("contact_phone", "电话" * 20),
    ("contact_name", "名" * 41), ("building", "99号楼"), ("building", "x" * 21),
])
def test_bad_input_is_a_form_error(post_wish, field, value):
    assert field in errors(post_wish(**{field: value}))
    assert not MicroWish.objects.exists()


def test_missing_everything(client):
    form_errors = errors(client.post(NEW, {}))
    assert {"compound", "category", "wish", "contact_phone"} <= set(form_errors)


@pytest.mark.parametrize("content, name", [
    (b"<html><script>alert(1)</script>", "photo.png"), (b"", "photo.png"),
    (image_bytes("GIF"), "photo.gif"), (image_bytes("PNG")[:40], "photo.png"),
])
def test_bad_photos_are_refused(post_wish, content, name):
    assert "photo" in errors(post_wish(photo=upload(content, name)))
    assert not MicroWish.objects.exists()


def test_oversized_photo_is_refused(post_wish, settings):
    settings.GRID_EVENT_PHOTO_MAX_BYTES = 200
    assert "photo" in errors(post_wish(photo=upload(image_bytes(size=(64, 64)))))


def test_inactive_compound_is_refused(post_wish, places):
    places["hgd"].is_active = False
    places["hgd"].save()
    assert "compound" in errors(post_wish(compound=places["hgd"].pk))


def test_building_of_another_compound_is_not_found(post_wish, places):
    assert "building" in errors(post_wish(compound=places["hgd"].pk, building="1号楼"))


def test_csrf_is_checked(places):
    c = Client(enforce_csrf_checks=True)
    response = c.post(NEW, {"compound": places["wjy"].pk, "category": "other", "wish": "x",
                            "contact_phone": "13712345678"})
    assert response.status_code == 403 and not MicroWish.objects.exists()


def test_script_in_the_wish_is_escaped(client, post_wish, users):
    post_wish(wish="<script>alert(1)</script>")
    wish = MicroWish.objects.get()
    page = client.get(f"/wishes/track/{wish.tracking_code}/").content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


@pytest.mark.parametrize("code", ["NOPE1234", "x" * 200, "%00", "码码码"])
def test_unknown_codes_are_404(client, code):
    assert client.get(f"/wishes/track/{code}/").status_code == 404
    assert client.post(f"/wishes/track/{code}/rate/", {"rating": 5}).status_code == 404


def test_rating_after_fulfilment_pays_the_member(client, submit, users, member):
    wish = submit()
    url = f"/wishes/track/{wish.tracking_code}/"
    # Not yet fulfilled: no rating form, and a posted rating is refused.
    assert b'name="rating"' not in client.get(url).content
    assert client.post(f"{url}rate/", {"rating": 5}).status_code == 400
    services.dispatch_wish(users["comm_a"], wish, unit=wish.org_unit)
    services.claim_wish(None, wish, member)
    services.record_fulfilment(None, wish, note="已送到家", person=member)
    page = client.get(url).content.decode()
    assert 'name="rating"' in page and "已送到家" in page and member.name not in page
    for bad in ({}, {"rating": "0"}, {"rating": "6"}, {"rating": "abc"},
                {"rating": "5", "comment": "长" * 301}):
        assert client.post(f"{url}rate/", bad).status_code == 400, bad
    assert not PointsEntry.objects.exists()
    response = client.post(f"{url}rate/", {"rating": "5", "comment": "谢谢！"})
    assert response.status_code == 302
    wish.refresh_from_db()
    assert wish.status == WishStatus.RATED and wish.points_paid
    assert PointsEntry.objects.get().account.person == member
    # Rated once only.
    assert client.post(f"{url}rate/", {"rating": "1"}).status_code == 400
    assert "★★★★★" in client.get(url).content.decode()


def test_rejected_wish_shows_the_reason(client, submit, users):
    wish = submit()
    services.reject_wish(users["comm_a"], wish, "请到社区服务站办理")
    assert "请到社区服务站办理" in client.get(f"/wishes/track/{wish.tracking_code}/").content \
        .decode()


def test_wish_wall_shows_open_wishes_without_personal_data(client, submit, users, places):
    shown = submit(contact_name="陈阿姨", contact_phone="13712345678", wish="想学用手机")
    services.dispatch_wish(users["comm_a"], shown, unit=shown.org_unit)
    hidden = submit(wish="还没派单的心愿")
    page = client.get("/wishes/").content.decode()
    assert "想学用手机" in page and "还没派单的心愿" not in page
    for private in ("陈阿姨", "13712345678", shown.tracking_code, hidden.tracking_code):
        assert private not in page
    assert "想学用手机" not in client.get("/wishes/", {"category": "repairs"}).content.decode()
    for params in ({"category": "<x>"}, {"page": "abc"}, {"page": "99999"}, {"page": "-1"}):
        assert client.get("/wishes/", params).status_code == 200


def test_wall_runs_a_fixed_number_of_queries(client, submit, users, django_assert_num_queries):
    for _ in range(3):
        wish = submit()
        services.dispatch_wish(users["comm_a"], wish, unit=wish.org_unit)
    with django_assert_num_queries(2):  # the count and the page
        assert client.get("/wishes/").status_code == 200


def test_submit_rate_limit(post_wish, settings):
    settings.VOLUNTEER_WISH_RATE_LIMIT = "2/600"
    assert post_wish().status_code == 302
    assert post_wish(wish="").status_code == 200  # a refused form counts too
    response = post_wish()
    assert response.status_code == 429 and response["Retry-After"]
    assert MicroWish.objects.count() == 1


def test_tracking_rate_limit(client, submit, settings):
    settings.VOLUNTEER_WISH_TRACK_RATE_LIMIT = "2/60"
    wish = submit()
    url = f"/wishes/track/{wish.tracking_code}/"
    assert client.get(url).status_code == 200
    assert client.get("/wishes/track/GUESS123/").status_code == 404
    assert client.get(url).status_code == 429
    assert client.post(f"{url}rate/", {"rating": 5}).status_code == 429
