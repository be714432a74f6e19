"""The public activity pages (list, detail, sign-up with a waiting list, cancelling, check-in by
the organiser's code) and claiming wishes from the wall: the claimant's page with the resident's
phone, recording fulfilment with or without a photo, and who may see what."""

import datetime as dt
import io
import logging
import os
from urllib.parse import quote

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from volunteers import portal, views_activities
from volunteers.models import ActivitySignup, MicroWish, SignupStatus, WishStatus
from volunteers.services import activities as activity_services
from volunteers.services import wishes as wish_services

from .conftest import make_member, make_person

pytestmark = pytest.mark.django_db
H = dt.timedelta(hours=1)
St = SignupStatus
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def sign_in(client, person):
    session = client.session
    session[portal.SESSION_KEY] = person.pk
    session.save()
    return client


def login_redirect(response, next_url):
    assert response.status_code == 302
    login = reverse("volunteers_public:login")
    assert response["Location"] == f"{login}?next={quote(next_url, safe='')}"


def notices(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def image_bytes(fmt="PNG", size=(16, 16)):
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buffer, fmt)
    return buffer.getvalue()


def upload(content, name="photo.png"):
    return SimpleUploadedFile(name, content, content_type="image/png")


# ---- activities --------------------------------------------------------------------------------


@pytest.fixture
def make_activity(tree, users):
    def maker(unit=None, starts_in=2 * 24 * H, hours=2, capacity=2, title="楼道清洁", **fields):
        start = timezone.now() + starts_in
        return activity_services.create_activity(
            users["admin"], org_unit=unit or tree["a2"], title=title, place="文锦苑1号楼",
            starts_at=start, ends_at=start + hours * H, capacity=capacity,
            points_per_hour=fields.pop("points_per_hour", "10"), **fields,
        )

    return maker


@pytest.fixture
def people(tree):
    return [make_person(tree["a2"], name, f"1360000000{i}")
            for i, name in enumerate(("甲一", "乙二", "丙三"))]


def detail_url(activity):
    return f"/activities/{activity.pk}/"


def test_list_and_detail_show_the_activity_without_personal_data(client, make_activity, people,
                                                                  tree):
    activity = make_activity(capacity=3, description="带好手套")
    past = make_activity(title="去年的义诊", starts_in=-5 * H)
    activity_services.sign_up(None, activity, people[0])
    page = client.get("/activities/").content.decode()
    assert "楼道清洁" in page and "去年的义诊" not in page
    assert "文锦苑1号楼" in page and tree["a2"].name in page and detail_url(activity) in page
    detail = client.get(detail_url(activity))
    assert detail.status_code == 200
    assert detail.context["activity"].places_left == 2
    assert "带好手套" in detail.content.decode()
    for shown in (page, detail.content.decode()):
        assert people[0].name not in shown and people[0].phone not in shown
    # A past activity still has its page, which says it is over and offers nothing.
    old = client.get(detail_url(past))
    assert old.status_code == 200 and old.context["over"] and not old.context["can_sign_up"]
    assert client.get("/activities/999999/").status_code == 404


def test_list_filters_by_unit_and_compound(client, make_activity, tree, places):
    make_activity(title="支部活动")  # A2, 文锦苑's branch
    make_activity(unit=tree["a"], title="社区活动")  # above 文锦苑
    make_activity(unit=tree["b1"], title="化工东院活动")
    make_activity(unit=tree["a1"], title="隔壁小区活动")

    def titles(**params):
        return {a.title for a in client.get("/activities/", params).context["page"].object_list}

    assert titles() == {"支部活动", "社区活动", "化工东院活动", "隔壁小区活动"}
    assert titles(unit=tree["a"].pk) == {"支部活动", "社区活动", "隔壁小区活动"}
    assert titles(compound=places["wjy"].pk) == {"支部活动", "社区活动"}
    assert titles(compound=places["hgd"].pk) == {"化工东院活动"}
    found = client.get("/activities/", {"q": "文锦"}).content.decode()
    assert f"?compound={places['wjy'].pk}" in found
    for params in ({"unit": "abc"}, {"unit": str(2**70)}, {"compound": "-1"}, {"page": "x"},
                   {"page": "99999"}, {"q": "\x00" * 80}, {"unit": "99999"}):
        assert client.get("/activities/", params).status_code == 200


def test_list_is_paged(client, make_activity, monkeypatch):
    monkeypatch.setattr(views_activities, "ACTIVITY_PAGE", 2)
    for n in range(5):
        make_activity(title=f"活动{n}", starts_in=(n + 1) * 24 * H)
    first = client.get("/activities/")
    assert [a.title for a in first.context["page"].object_list] == ["活动0", "活动1"]
    last = client.get("/activities/", {"page": 3})
    assert [a.title for a in last.context["page"].object_list] == ["活动4"]


def test_list_runs_a_fixed_number_of_queries(client, make_activity, people, tree,
                                             django_assert_num_queries):
    for n in range(4):
        activity = make_activity(title=f"活动{n}", team=None)
        activity_services.sign_up(None, activity, people[n % 3])
    with django_assert_num_queries(2):  # the count and the page
        assert client.get("/activities/").status_code == 200
    with django_assert_num_queries(3):  # and the unit
        assert client.get("/activities/", {"unit": tree["a"].pk}).status_code == 200


def test_signing_up_needs_the_light_login(client, make_activity):
    activity = make_activity()
    url = f"/activities/{activity.pk}/sign-up/"
    login_redirect(client.post(url), url)
    assert not ActivitySignup.objects.exists()
    # Back from signing in, the GET lands on the activity's page without signing up.
    sign_in(client, make_person(activity.org_unit, "某人"))
    assert client.get(url)["Location"] == detail_url(activity)
    assert not ActivitySignup.objects.exists()


def test_sign_up_waiting_list_and_cancel(client, make_activity, people):
    activity = make_activity(capacity=1)
    first, second = people[0], people[1]
    response = sign_in(client, first).post(f"/activities/{activity.pk}/sign-up/")
    assert response["Location"] == detail_url(activity)
    assert ActivitySignup.objects.get(person=first).status == St.SIGNED_UP
    page = client.get(detail_url(activity))
    assert page.context["holds_place"] and page.context["can_cancel"]
    assert page.context["activity"].places_left == 0
    # Twice is refused with a message.
    again = client.post(f"/activities/{activity.pk}/sign-up/", **EN)
    assert notices(again) == ["Already signed up for this activity."]

    other = sign_in(type(client)(), second)
    response = other.post(f"/activities/{activity.pk}/sign-up/")
    assert ActivitySignup.objects.get(person=second).status == St.WAITLISTED
    page = other.get(detail_url(activity))
    assert page.context["waiting_number"] == 1 and not page.context["holds_place"]
    assert not page.context["can_check_in"]

    # The first cancels: the second moves up.
    assert client.post(f"/activities/{activity.pk}/cancel/").status_code == 302
    assert ActivitySignup.objects.get(person=first).status == St.CANCELLED
    assert ActivitySignup.objects.get(person=second).status == St.SIGNED_UP
    assert client.get(detail_url(activity)).context["can_sign_up"]
    # Cancelling without a sign-up says so.
    third = sign_in(type(client)(), people[2])
    assert notices(third.post(f"/activities/{activity.pk}/cancel/", **EN)) == [
        "You have not signed up for this activity."]


def test_sign_up_is_closed_once_started(client, make_activity, people):
    activity = make_activity(starts_in=-H, hours=3)
    response = sign_in(client, people[0]).post(f"/activities/{activity.pk}/sign-up/", **EN)
    assert notices(response) == ["The activity has started; sign-up is closed."]
    assert not ActivitySignup.objects.exists()


@pytest.fixture
def soon(make_activity, users):
    """An activity starting in 10 minutes (check-in is open) and its code."""
    activity = make_activity(starts_in=dt.timedelta(minutes=10))
    activity.code = activity_services.issue_checkin_code(users["admin"], activity)
    return activity


def check_in(client, activity, code):
    return client.post(f"/activities/{activity.pk}/check-in/", {"code": code}, **EN)


def test_check_in_with_the_right_code_once(client, soon, people):
    activity_services.sign_up(None, soon, people[0])
    sign_in(client, people[0])
    assert client.get(detail_url(soon)).context["can_check_in"]
    response = check_in(client, soon, soon.code)
    assert response.status_code == 302 and response["Location"] == detail_url(soon)
    signup = ActivitySignup.objects.get(person=people[0])
    assert signup.status == St.CHECKED_IN and signup.checked_in_at
    # Twice: a clear message, nothing changes.
    again = check_in(client, soon, soon.code)
    assert again.status_code == 200
    assert again.context["checkin_form"].non_field_errors() == ["You have already checked in."]
    assert "You have already checked in." in again.content.decode()


def test_a_wrong_code_is_refused_and_counted(client, soon, people):
    activity_services.sign_up(None, soon, people[0])
    sign_in(client, people[0])
    wrong = "000000" if soon.code != "000000" else "111111"
    response = check_in(client, soon, wrong)
    assert response.status_code == 200
    assert response.context["checkin_form"].errors["code"] == ["The check-in code is wrong."]
    assert f'value="{wrong}"' in response.content.decode()  # what was typed stays
    signup = ActivitySignup.objects.get(person=people[0])
    assert signup.status == St.SIGNED_UP and signup.checkin_failures == 1
    assert check_in(client, soon, "").context["checkin_form"].errors["code"]
    assert check_in(client, soon, "12ab<>").context["checkin_form"].errors["code"]


def test_no_check_in_without_a_place_or_outside_the_window(client, soon, make_activity,
                                                           people, users):
    # Waitlisted or not signed up: no place to check in to.
    sign_in(client, people[0])
    response = check_in(client, soon, soon.code)
    assert response.context["checkin_form"].non_field_errors() == [
        "You do not hold a place in this activity."]
    # Too early: the window opens shortly before the start.
    later = make_activity(starts_in=2 * 24 * H)
    code = activity_services.issue_checkin_code(users["admin"], later)
    activity_services.sign_up(None, later, people[0])
    response = check_in(client, later, code)
    assert response.context["checkin_form"].errors["code"] == [
        "Check-in is not open at this time."]
    # Too late: a while after the end.
    over = make_activity(starts_in=-5 * H, hours=2)
    late_code = activity_services.issue_checkin_code(users["admin"], over,
                                                     now_=over.starts_at - 2 * H)
    activity_services.sign_up(None, over, people[0], at=over.starts_at - 3 * H)
    response = check_in(client, over, late_code)
    assert response.context["checkin_form"].errors["code"] == [
        "Check-in is not open at this time."]
    assert "Check-in is not open at this time." in response.content.decode()
    # A code of another activity does not work here.
    activity_services.sign_up(None, soon, people[0])
    other = make_activity(starts_in=dt.timedelta(minutes=5))
    other_code = activity_services.issue_checkin_code(users["admin"], other)
    if other_code != soon.code:
        assert check_in(client, soon, other_code).context["checkin_form"].errors["code"]
    assert ActivitySignup.objects.filter(status=St.CHECKED_IN).count() == 0


def test_check_in_needs_the_light_login(client, soon):
    url = f"/activities/{soon.pk}/check-in/"
    login_redirect(client.post(url, {"code": soon.code}), url)


# ---- claiming wishes from the wall ------------------------------------------------------------


@pytest.fixture
def open_wish(submit, users):
    wish = submit(contact_name="陈阿姨", contact_phone="13712345678", wish="帮忙修一下水龙头")
    return wish_services.dispatch_wish(users["comm_a"], wish, unit=wish.org_unit)


def claimed_url(wish):
    return f"/wishes/claimed/{wish.pk}/"


def test_the_wall_offers_a_claim_button_and_claiming_needs_the_login(client, open_wish):
    page = client.get("/wishes/").content.decode()
    url = f"/wishes/{open_wish.pk}/claim/"
    assert f'action="{url}"' in page and "13712345678" not in page and "陈阿姨" not in page
    login_redirect(client.post(url), url)
    open_wish.refresh_from_db()
    assert open_wish.status == WishStatus.DISPATCHED and open_wish.claimed_by is None


def test_claiming_shows_the_phone_to_the_claimant(client, open_wish, member, caplog):
    sign_in(client, member)
    # Back from signing in: a page to confirm.
    confirm = client.get(f"/wishes/{open_wish.pk}/claim/")
    assert confirm.status_code == 200 and confirm.context["may_claim"]
    assert "13712345678" not in confirm.content.decode()
    response = client.post(f"/wishes/{open_wish.pk}/claim/")
    assert response["Location"] == claimed_url(open_wish)
    open_wish.refresh_from_db()
    assert open_wish.status == WishStatus.CLAIMED and open_wish.claimed_by == member
    with caplog.at_level(logging.INFO, logger="volunteers.personal_data"):
        page = client.get(claimed_url(open_wish))
    body = page.content.decode()
    assert page.status_code == 200
    assert "13712345678" in body and "陈阿姨" in body and "帮忙修一下水龙头" in body
    assert "文锦苑" in body and page.context["holding"]
    assert any(r.wish_id == open_wish.pk and r.person_id == member.pk for r in caplog.records)
    # The wish has left the wall; asking to claim it again leads to its page.
    assert "帮忙修一下水龙头" not in client.get("/wishes/").content.decode()
    assert client.get(f"/wishes/{open_wish.pk}/claim/")["Location"] == claimed_url(open_wish)


def test_a_second_claimer_is_refused(client, open_wish, member, volunteer):
    wish_services.claim_wish(None, open_wish, member)
    sign_in(client, volunteer)
    response = client.post(f"/wishes/{open_wish.pk}/claim/", **EN)
    assert response["Location"] == reverse("volunteers_public:wall")
    assert notices(response) == ["A wish that is “claimed” cannot be claimed."]
    open_wish.refresh_from_db()
    assert open_wish.claimed_by == member
    # Nor may they see the claimant's page.
    assert client.get(claimed_url(open_wish)).status_code == 404
    assert client.get(f"/wishes/{open_wish.pk}/claim/")["Location"] == reverse(
        "volunteers_public:wall")


def test_a_claimant_cannot_take_a_wish_of_their_own_household(client, submit, users, household):
    wish = submit(contact_phone="13800000009", wish="给我家老人买药")
    wish_services.dispatch_wish(users["comm_a"], wish, unit=wish.org_unit)
    assert MicroWish.objects.get(pk=wish.pk).household == household
    sign_in(client, household.son)
    response = client.post(f"/wishes/{wish.pk}/claim/", **EN)
    assert notices(response) == ["You cannot take a wish from your own household."]
    assert MicroWish.objects.get(pk=wish.pk).status == WishStatus.DISPATCHED
    # The refusal is shown on the wall it sends them back to.
    wall = client.get(response["Location"], **EN).content.decode()
    assert "You cannot take a wish from your own household." in wall
    assert client.get(claimed_url(wish)).status_code == 404


def test_only_members_and_verified_volunteers_claim(client, open_wish, tree):
    nobody = make_person(tree["a2"], "路人", "13600009999")
    sign_in(client, nobody)
    confirm = client.get(f"/wishes/{open_wish.pk}/claim/")
    assert confirm.status_code == 200 and not confirm.context["may_claim"]
    response = client.post(f"/wishes/{open_wish.pk}/claim/", **EN)
    assert notices(response) == ["Only party members and verified volunteers take wishes."]
    assert MicroWish.objects.get(pk=open_wish.pk).status == WishStatus.DISPATCHED
    assert client.post("/wishes/999999/claim/").status_code == 404


def test_a_wish_sent_to_a_named_member_is_theirs(client, submit, users, member, tree):
    wish = submit()
    wish_services.dispatch_wish(users["comm_a"], wish, member=member.membership)
    other = make_member(tree["a2"], "别的党员", phone="13600001111")
    sign_in(client, other)
    assert client.get(f"/wishes/{wish.pk}/claim/")["Location"] == reverse(
        "volunteers_public:wall")
    assert client.post(f"/wishes/{wish.pk}/claim/").status_code == 302
    assert MicroWish.objects.get(pk=wish.pk).claimed_by is None
    sign_in(client, member)
    assert client.get(f"/wishes/{wish.pk}/claim/").status_code == 200
    assert client.post(f"/wishes/{wish.pk}/claim/")["Location"] == claimed_url(wish)


# ---- recording fulfilment ----------------------------------------------------------------------


@pytest.fixture
def claimed(client, open_wish, member):
    wish_services.claim_wish(None, open_wish, member)
    sign_in(client, member)
    return open_wish


def test_fulfilment_without_a_photo(client, claimed):
    response = client.post(claimed_url(claimed), {"note": "水龙头已换新"})
    assert response["Location"] == claimed_url(claimed)
    claimed.refresh_from_db()
    assert claimed.status == WishStatus.FULFILLED and claimed.fulfilment_note == "水龙头已换新"
    assert not claimed.fulfilment_photo
    # Afterwards the page stays, the phone masked and no form.
    page = client.get(claimed_url(claimed))
    body = page.content.decode()
    assert page.status_code == 200 and page.context["form"] is None
    assert "13712345678" not in body and "137****5678" in body and "水龙头已换新" in body
    # A second record is refused with a message, not a 500.
    again = client.post(claimed_url(claimed), {"note": "再来一次"})
    assert again.status_code == 200 and again.context["form"].non_field_errors()


def test_fulfilment_with_a_photo(client, claimed):
    response = client.post(claimed_url(claimed),
                           {"note": "已修好", "photo": upload(image_bytes("JPEG"), "a.jpg")})
    assert response.status_code == 302
    claimed.refresh_from_db()
    assert claimed.status == WishStatus.FULFILLED
    assert claimed.fulfilment_photo.name.startswith("wishes/fulfilment/")
    assert claimed.fulfilment_photo.name.endswith(".jpg")


@pytest.mark.parametrize("content, name", [
    (b"<html><script>alert(1)</script>", "photo.png"), (image_bytes("GIF"), "photo.gif"),
    (image_bytes("PNG")[:40], "photo.png"),
])
def test_a_bad_photo_is_refused_and_the_note_kept(client, claimed, content, name):
    response = client.post(claimed_url(claimed), {"note": "已修好", "photo": upload(content, name)})
    assert response.status_code == 200
    form = response.context["form"]
    assert "photo" in form.errors and form["note"].value() == "已修好"
    claimed.refresh_from_db()
    assert claimed.status == WishStatus.CLAIMED and not claimed.fulfilment_photo


def test_an_oversized_photo_and_an_empty_note_are_refused(client, claimed, settings):
    settings.GRID_EVENT_PHOTO_MAX_BYTES = 200
    response = client.post(claimed_url(claimed),
                           {"note": " ", "photo": upload(image_bytes(size=(64, 64)))})
    assert {"note", "photo"} <= set(response.context["form"].errors)
    assert MicroWish.objects.get(pk=claimed.pk).status == WishStatus.CLAIMED


def test_the_claimed_page_is_the_claimants_alone(client, claimed, volunteer):
    url = claimed_url(claimed)
    stranger = sign_in(type(client)(), volunteer)
    assert stranger.get(url).status_code == 404
    assert stranger.post(url, {"note": "冒充"}).status_code == 404
    assert MicroWish.objects.get(pk=claimed.pk).status == WishStatus.CLAIMED
    login_redirect(type(client)().get(url), url)
    assert client.get("/wishes/claimed/999999/").status_code == 404


def test_an_expired_claim_hides_the_phone(client, claimed):
    MicroWish.objects.filter(pk=claimed.pk).update(
        claim_expires_at=timezone.now() - dt.timedelta(minutes=1))
    page = client.get(claimed_url(claimed))
    assert page.status_code == 200 and page.context["expired"] and page.context["form"] is None
    assert "13712345678" not in page.content.decode()
    response = client.post(claimed_url(claimed), {"note": "晚了"}, **EN)
    assert response.context["form"].non_field_errors() == [
        "The claim has expired; the wish is going back to the wall."]
    # Once it is released, the page is gone.
    wish_services.release_expired_claims()
    assert client.get(claimed_url(claimed)).status_code == 404


def test_the_wall_with_claim_buttons_runs_a_fixed_number_of_queries(
        client, submit, users, member, django_assert_num_queries):
    for _ in range(3):
        wish = submit()
        wish_services.dispatch_wish(users["comm_a"], wish, unit=wish.org_unit)
    with django_assert_num_queries(2):  # the count and the page
        assert client.get("/wishes/").status_code == 200
    sign_in(client, member)
    with django_assert_num_queries(2):  # signed in: the wall does not look the person up
        assert client.get("/wishes/").status_code == 200
