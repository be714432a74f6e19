"""The volunteers admin: the wish page's step buttons and forms (services decide), masked
phones, scoping, a fixed number of queries on the wish list, and the service-backed actions for
volunteers, activities, adjustments, the mall and honours."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import _user
from tests.grids.conftest import grid_user  # noqa: F401 - a fixture used here
from volunteers.models import (
    Activity,
    ActivitySignup,
    Honor,
    Merchant,
    MicroWish,
    PointsAdjustment,
    PointsKind,
    RewardItem,
    ServiceHours,
    SignupStatus,
    Volunteer,
    WishStatus,
)
from volunteers.services import activities, honours, mall

from .conftest import fund, make_person

pytestmark = pytest.mark.django_db
ADMIN = "/admin/volunteers"


def wish_url(wish, step=None):
    base = f"{ADMIN}/microwish/{wish.pk}"
    return f"{base}/step/{step}/" if step else f"{base}/change/"


def test_wish_list_is_scoped_and_runs_a_fixed_number_of_queries(submit, places, users,
                                                                  admin_client_for):
    other = submit(compound=places["hgd"])
    client = admin_client_for(users["comm_a"])

    def page(n):
        while MicroWish.objects.filter(compound=places["wjy"]).count() < n:
            submit(contact_phone="13700001234")
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{ADMIN}/microwish/")
        assert response.status_code == 200
        shown = {w.pk for w in response.context["cl"].result_list}
        assert other.pk not in shown and len(shown) == n
        return len(queries)

    # Session, user, scope, permissions, counts, the page with its compounds and claimants.
    assert page(3) == page(30) == 10


def test_wish_page_shows_the_allowed_steps_and_a_masked_phone(submit, users, admin_client_for,
                                                              grid_user):
    wish = submit(contact_phone="13812345678")
    page = admin_client_for(users["comm_a"]).get(wish_url(wish)).content.decode()
    assert set(re.findall(r'data-action="(\w+)"', page)) == {"dispatch", "reject", "withdraw"}
    assert "13812345678" in page
    page = admin_client_for(grid_user).get(wish_url(wish)).content.decode()
    # A grid worker takes wishes in but does not dispatch them.
    assert set(re.findall(r'data-action="(\w+)"', page)) == {"withdraw"}
    assert "138****5678" in page and "13812345678" not in page
    assert admin_client_for(users["comm_b"]).get(wish_url(wish)).status_code == 302


def test_dispatch_claim_fulfil_and_rate_through_the_step_forms(submit, users, admin_client_for,
                                                               tree, member):
    wish = submit()
    client = admin_client_for(users["comm_a"])
    assert client.get(wish_url(wish, "dispatch")).status_code == 200
    response = client.post(wish_url(wish, "dispatch"), {})
    assert response.status_code == 200 and response.context["form"].errors
    response = client.post(wish_url(wish, "dispatch"), {"unit": tree["a2"].pk, "note": "请接单"})
    assert response.status_code == 302
    wish.refresh_from_db()
    assert wish.status == WishStatus.DISPATCHED
    assert client.post(wish_url(wish, "claim"), {"person": member.pk}).status_code == 302
    response = client.post(wish_url(wish, "fulfil"), {"fulfilment_note": ""})
    assert response.status_code == 200 and "fulfilment_note" in response.context["form"].errors
    assert client.post(wish_url(wish, "fulfil"), {"fulfilment_note": "送到了"}).status_code == 302
    assert client.post(wish_url(wish, "rate"), {"rating": "9"}).status_code == 200
    assert client.post(wish_url(wish, "rate"), {"rating": "4"}).status_code == 302
    wish.refresh_from_db()
    assert wish.status == WishStatus.RATED and wish.points_paid
    # No step is left; a step not allowed now is refused with a message.
    response = client.post(wish_url(wish, "reject"), {"rejection_reason": "x"})
    assert response.status_code == 302
    wish.refresh_from_db()
    assert wish.status == WishStatus.RATED
    assert client.get(wish_url(wish, "nonsense")).status_code == 302


def test_reject_needs_a_reason(submit, users, admin_client_for):
    wish = submit()
    client = admin_client_for(users["comm_a"])
    response = client.post(wish_url(wish, "reject"), {"rejection_reason": "  "})
    assert response.status_code == 200 and response.context["form"].errors
    assert client.post(wish_url(wish, "reject"), {"rejection_reason": "不属于"}).status_code == 302
    wish.refresh_from_db()
    assert wish.status == WishStatus.REJECTED


def test_wishes_are_not_edited_or_deleted_in_the_admin(submit, users, admin_client_for):
    # Staff may add a wish taken by phone (tests/volunteers/test_admin_add.py), never edit it.
    wish = submit()
    client = admin_client_for(users["admin"])
    assert client.post(wish_url(wish), {"wish": "x"}).status_code == 403
    assert client.post(f"{ADMIN}/microwish/{wish.pk}/delete/", {"post": "yes"}).status_code \
        == 403


def test_verify_volunteers_action(tree, users, admin_client_for):
    person = make_person(tree["a2"], "新志愿者", "13900000099")
    v = Volunteer.objects.create(person=person, org_unit=tree["a2"], registered_at=timezone.now())
    client = admin_client_for(users["comm_a"])
    page = client.get(f"{ADMIN}/volunteer/").content.decode()
    assert "13900000099" in page
    client.post(f"{ADMIN}/volunteer/", {"action": "verify", "_selected_action": [v.pk]})
    v.refresh_from_db()
    assert v.verified and v.verified_by == users["comm_a"]


def test_issue_code_and_approve_hours(tree, users, admin_client_for, volunteer):
    start = timezone.now() - timezone.timedelta(minutes=10)
    activity = Activity.objects.create(
        org_unit=tree["a2"], title="清理楼道", place="文锦苑", capacity=5, starts_at=start,
        ends_at=start + timezone.timedelta(minutes=20), points_per_hour=Decimal(10),
    )
    activities.sign_up(None, activity, volunteer, at=start - timezone.timedelta(hours=1))
    client = admin_client_for(users["comm_a"])
    response = client.post(f"{ADMIN}/activity/", {"action": "issue_code",
                                                   "_selected_action": [activity.pk]},
                           follow=True)
    text = " ".join(str(m) for m in response.context["messages"])
    code = re.search(r"\b(\d{6})\b", text).group(1)
    activities.check_in(None, activity, volunteer, code)
    # Hours are approved after the activity: too early now.
    client.post(f"{ADMIN}/activity/", {"action": "approve_hours",
                                       "_selected_action": [activity.pk]})
    assert not ServiceHours.objects.exists()
    Activity.objects.filter(pk=activity.pk).update(
        ends_at=timezone.now() - timezone.timedelta(minutes=1))
    client.post(f"{ADMIN}/activity/", {"action": "approve_hours",
                                       "_selected_action": [activity.pk]})
    assert ServiceHours.objects.get().person == volunteer
    assert ActivitySignup.objects.get().status == SignupStatus.CHECKED_IN


def test_adjustment_is_asked_by_one_and_approved_by_another(tree, users, admin_client_for,
                                                            volunteer):
    client = admin_client_for(users["comm_a"])
    response = client.post(f"{ADMIN}/pointsadjustment/add/", {
        "person": volunteer.pk, "kind": PointsKind.COMMUNITY, "amount": "15",
        "reason": "补录纸质签到"})
    assert response.status_code == 302, response.content
    adjustment = PointsAdjustment.objects.get()
    client.post(f"{ADMIN}/pointsadjustment/", {"action": "approve",
                                               "_selected_action": [adjustment.pk]})
    adjustment.refresh_from_db()
    assert adjustment.status == "pending"  # not by the one who asked
    admin_client_for(users["street"]).post(
        f"{ADMIN}/pointsadjustment/", {"action": "approve", "_selected_action": [adjustment.pk]})
    adjustment.refresh_from_db()
    assert adjustment.status == "approved" and adjustment.entry.amount == Decimal(15)
    assert admin_client_for(users["admin"]).get(f"{ADMIN}/pointsentry/").status_code == 200
    assert admin_client_for(users["admin"]).get(f"{ADMIN}/pointsentry/add/").status_code == 403


def test_mall_saves_through_the_services_and_cancels_redemptions(tree, users, admin_client_for,
                                                                 volunteer):
    client = admin_client_for(users["street"])
    response = client.post(f"{ADMIN}/merchant/add/", {
        "name": "老王理发店", "org_unit": tree["a"].pk, "contact_phone": "13512345678",
        "is_active": "on"})
    assert response.status_code == 302, response.content
    shop = Merchant.objects.get()
    response = client.post(f"{ADMIN}/rewarditem/add/", {
        "merchant": shop.pk, "name": "理发", "points_price": "10", "points_kind": "community",
        "stock": "2", "is_active": "on"})
    assert response.status_code == 302, response.content
    item = RewardItem.objects.get()
    fund(volunteer, 30)
    redemption = mall.redeem(None, item, volunteer)
    client.post(f"{ADMIN}/redemption/", {"action": "cancel",
                                         "_selected_action": [redemption.pk]})
    redemption.refresh_from_db()
    item.refresh_from_db()
    assert redemption.status == "cancelled" and item.stock == 2
    # Out of scope for community B.
    assert admin_client_for(users["comm_b"]).get(f"{ADMIN}/merchant/{shop.pk}/change/") \
        .status_code == 302


def test_approve_honours(tree, users, admin_client_for, volunteer, places):
    honor = honours.nominate_honor(users["secretary"], person=volunteer,
                                   title="neighbour_helper", year=timezone.now().year,
                                   citation="热心邻里", compound=places["wjy"])
    admin_client_for(users["secretary"]).post(
        f"{ADMIN}/honor/", {"action": "approve", "_selected_action": [honor.pk]})
    assert Honor.objects.get().approved_at is None  # a secretary nominates, does not approve
    admin_client_for(users["comm_a"]).post(
        f"{ADMIN}/honor/", {"action": "approve", "_selected_action": [honor.pk]})
    assert Honor.objects.get().publicised


def test_every_list_page_opens(users, admin_client_for):
    client = admin_client_for(users["admin"])
    for model in ("microwish", "volunteer", "volunteerteam", "activity", "servicehours",
                  "pointsaccount", "pointsentry", "pointsadjustment", "merchant", "rewarditem",
                  "redemption", "honor"):
        assert client.get(f"{ADMIN}/{model}/").status_code == 200, model
    _user("plain")
