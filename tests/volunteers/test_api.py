"""The volunteers API: scoped, masked lists; wish filters and step routes; read-only records;
fixed numbers of queries per list."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from party_org.models import PartyMember
from tests.grids.conftest import grid_user  # noqa: F401 - a fixture used here
from volunteers.models import (
    Activity,
    Merchant,
    PointsKind,
    RewardItem,
    ServiceHours,
    Volunteer,
    VolunteerTeam,
    WishStatus,
)
from volunteers.services import mall
from volunteers.services import wishes as services

from .conftest import T0, fund

pytestmark = pytest.mark.django_db
API = "/api/v1"


def fresh(user):
    return get_user_model().objects.get(pk=user.pk)


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def wishes(submit, places, users, member):
    a = submit(contact_phone="13812345678")
    b = submit(compound=places["hgd"], category="repairs")
    c = submit(compound=places["jzhf"], at=T0 + timezone.timedelta(days=3))
    services.dispatch_wish(users["comm_a"], a, unit=a.org_unit)
    return {"a": a, "b": b, "c": c}


def test_wish_list_and_detail_are_scoped(wishes, users, api_for):
    assert ids(api_for(users["comm_a"]).get(f"{API}/wishes/")) == {wishes["a"].pk}
    assert ids(api_for(users["street"]).get(f"{API}/wishes/")) == {wishes["a"].pk,
                                                                   wishes["b"].pk}
    assert len(ids(api_for(users["admin"]).get(f"{API}/wishes/"))) == 3
    client = api_for(users["comm_b"])
    assert client.get(f"{API}/wishes/{wishes['a'].pk}/").status_code == 404
    assert api_for(users["nobody"]).get(f"{API}/wishes/").status_code == 403


def test_wish_phone_is_masked_without_the_permission(wishes, users, api_for, grid_user):
    url = f"{API}/wishes/{wishes['a'].pk}/"
    assert api_for(grid_user).get(url).json()["contact_phone"] == "138****5678"
    row = api_for(grid_user).get(f"{API}/wishes/").json()["results"][0]
    assert row["contact_phone"] == "138****5678"
    assert api_for(users["comm_a"]).get(url).json()["contact_phone"] == "13812345678"


def test_wish_filters(wishes, users, api_for, tree):
    client = api_for(users["admin"])
    get = lambda **q: ids(client.get(f"{API}/wishes/", q))  # noqa: E731
    assert get(status="dispatched") == {wishes["a"].pk}
    assert get(status=["submitted"]) == {wishes["b"].pk, wishes["c"].pk}
    assert get(category="repairs") == {wishes["b"].pk}
    assert get(ancestor=tree["s1"].pk) == {wishes["a"].pk, wishes["b"].pk}
    assert get(submitted_after="2026-05-06") == {wishes["c"].pk}
    assert get(submitted_before="2026-05-04") == {wishes["a"].pk, wishes["b"].pk}
    for bad in ({"status": "nope"}, {"category": "x"}, {"ancestor": "abc"},
                {"submitted_after": "2026-13-01"}, {"ancestor": str(2**70)}):
        response = client.get(f"{API}/wishes/", bad)
        assert response.status_code == 400, bad


def test_steps_through_the_api(wishes, users, api_for, member, tree):
    client = api_for(users["comm_a"])
    b = wishes["a"]
    url = f"{API}/wishes/{b.pk}"
    detail = client.get(f"{url}/").json()
    assert set(detail["allowed_actions"]) >= {"claim", "dispatch"}
    response = client.post(f"{url}/claim/", {"person": member.pk})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == WishStatus.CLAIMED
    assert response.json()["claimed_by"] == member.name
    response = client.post(f"{url}/fulfil/", {"note": ""})
    assert response.status_code == 400 and "note" in response.json()
    response = client.post(f"{url}/fulfil/", {"note": "送到了"})
    assert response.status_code == 200 and response.json()["status"] == WishStatus.FULFILLED
    # Nothing more for staff but the rating, which is the resident's.
    assert client.post(f"{url}/claim/", {"person": member.pk}).status_code == 400
    logs = client.get(f"{url}/logs/").json()
    assert [row["action"] for row in logs] == ["submit", "dispatch", "claim", "fulfil"]


def test_dispatch_and_reject_routes(wishes, users, api_for, member, tree):
    client = api_for(users["comm_b"])
    url = f"{API}/wishes/{wishes['b'].pk}"
    assert client.post(f"{url}/dispatch/", {}).status_code == 400
    assert client.post(f"{url}/dispatch/", {"unit": 2**40}).json().keys() == {"unit"}
    pm = PartyMember.objects.get(person=member)
    # A member of another community: outside comm_b's organisation.
    assert client.post(f"{url}/dispatch/", {"member": pm.pk}).status_code == 403
    response = client.post(f"{url}/dispatch/", {"unit": tree["b1"].pk, "note": "请接单"})
    assert response.status_code == 200, response.content
    assert response.json()["dispatched_to"] == {"kind": "unit", "id": tree["b1"].pk,
                                                "name": tree["b1"].name}
    c = api_for(users["admin"])
    url = f"{API}/wishes/{wishes['c'].pk}"
    assert c.post(f"{url}/reject/", {"reason": ""}).json().keys() == {"reason"}
    response = c.post(f"{url}/reject/", {"reason": "不属于微心愿"})
    assert response.status_code == 200 and response.json()["status"] == WishStatus.REJECTED
    assert c.post(f"{url}/reject/", {"reason": "again"}).status_code == 400
    # Steps on a wish outside the scope: 404; without the role: 403.
    assert api_for(users["comm_a"]).post(f"{url}/reject/", {"reason": "x"}).status_code == 404
    assert api_for(users["nobody"]).post(f"{url}/reject/", {"reason": "x"}).status_code == 403


def test_grid_worker_may_claim_but_not_dispatch(wishes, users, api_for, grid_user, member):
    url = f"{API}/wishes/{wishes['a'].pk}"
    client = api_for(grid_user)
    assert client.post(f"{url}/dispatch/", {"unit": wishes["a"].org_unit_id}).status_code == 403
    assert client.post(f"{url}/claim/", {"person": member.pk}).status_code == 200


def test_staff_enter_a_wish_taken_by_phone(users, api_for, places):
    client = api_for(users["comm_a"])
    body = {"compound": places["wjy"].pk, "building": places["wjy1"].pk, "wish": "买药",
            "category": "errands", "contact_phone": "13700001111"}
    response = client.post(f"{API}/wishes/", body)
    assert response.status_code == 201, response.content
    assert response.json()["status"] == WishStatus.SUBMITTED
    assert client.post(f"{API}/wishes/", {**body, "compound": places["hgd"].pk}).json().keys() \
        == {"compound"}
    assert client.post(f"{API}/wishes/", {**body, "contact_phone": "12"}).json().keys() == {
        "contact_phone"}
    assert client.post(f"{API}/wishes/", {**body, "category": "x"}).status_code == 400
    url = f"{API}/wishes/{response.json()['id']}/"
    assert client.patch(url, {"wish": "x"}).status_code == 405
    assert client.delete(url).status_code in (403, 405)


def test_wish_list_runs_a_fixed_number_of_queries(submit, users, api_for, places):
    def count(n):
        while len(services.MicroWish.objects.all()) < n:
            wish = submit(contact_phone="13700002222")
            services.dispatch_wish(users["comm_a"], wish, unit=wish.org_unit)
        client = api_for(fresh(users["comm_a"]))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{API}/wishes/")
        assert response.json()["count"] == n
        return len(queries)

    # Scope, the role's permissions (user and group), the count and the page (one join).
    assert count(2) == count(20) == 5


@pytest.fixture
def records(tree, users, volunteer, member, places):
    team = VolunteerTeam.objects.create(name="60工作室", org_unit=tree["a"], leader=volunteer)
    other = VolunteerTeam.objects.create(name="金泽队", org_unit=tree["c"])
    activity = Activity.objects.create(
        org_unit=tree["a2"], team=team, title="理发", place="文锦苑", capacity=5,
        starts_at=T0, ends_at=T0 + timezone.timedelta(hours=2), points_per_hour=Decimal(10),
    )
    hours = ServiceHours.objects.create(activity=activity, person=volunteer, hours=Decimal(2),
                                        approved_at=T0 + timezone.timedelta(hours=3))
    account = fund(volunteer, 50)
    shop = Merchant.objects.create(name="理发店", org_unit=tree["a"])
    item = RewardItem.objects.create(merchant=shop, name="理发", points_price=10, stock=3)
    far = Merchant.objects.create(name="金泽超市", org_unit=tree["c"])
    far_item = RewardItem.objects.create(merchant=far, name="米", points_price=10, stock=3)
    redemption = mall.redeem(None, item, volunteer)
    return {"team": team, "other": other, "activity": activity, "hours": hours,
            "account": account, "item": item, "far_item": far_item, "redemption": redemption}


# Scope, permissions (user and group), count, page; the volunteers' phones, read in full by
# community staff, are logged in one more query.
LIST_QUERIES = {"volunteers": 6}
ROUTES = ["volunteers", "teams", "activities", "service-hours", "points-entries",
          "points-balances", "reward-items", "redemptions"]


def test_records_are_scoped(records, users, api_for, volunteer):
    for route in ROUTES:
        mine = ids(api_for(users["comm_a"]).get(f"{API}/{route}/"))
        theirs = ids(api_for(users["comm_b"]).get(f"{API}/{route}/"))
        assert mine and not (mine & theirs), route
        assert api_for(users["nobody"]).get(f"{API}/{route}/").status_code == 403, route
    assert ids(api_for(users["comm_b"]).get(f"{API}/teams/")) == set()
    assert records["other"].pk in ids(api_for(users["admin"]).get(f"{API}/teams/"))
    assert records["far_item"].pk not in ids(api_for(users["comm_a"]).get(f"{API}/reward-items/"))


def test_records_are_read_only(records, users, api_for):
    # The ledger and approved hours move only through their services; the writable routes
    # are tested in test_api_writes.py.
    client = api_for(users["admin"])
    for route in ("service-hours", "points-entries", "points-balances", "reward-items"):
        assert client.post(f"{API}/{route}/", {}).status_code == 405, route


def test_record_fields(records, users, api_for, grid_user, volunteer):
    row = api_for(grid_user).get(f"{API}/volunteers/").json()["results"][0]
    assert row["phone"] == "139****0003" and row["person"]["name"] == volunteer.name
    assert api_for(users["comm_a"]).get(f"{API}/volunteers/").json()["results"][0]["phone"] \
        == "13900000003"
    client = api_for(users["comm_a"])
    activity = client.get(f"{API}/activities/").json()["results"][0]
    assert activity["team"]["name"] == "60工作室" and activity["places_taken"] == 0
    balance = client.get(f"{API}/points-balances/", {"kind": "community"}).json()["results"][0]
    assert Decimal(balance["balance"]) == Decimal(40)
    entries = client.get(f"{API}/points-entries/", {"reason": "spend"}).json()["results"]
    assert [Decimal(e["amount"]) for e in entries] == [Decimal(-10)]
    redemption = client.get(f"{API}/redemptions/").json()["results"][0]
    assert "code" not in redemption and redemption["status"] == "issued"
    assert client.get(f"{API}/points-balances/", {"kind": "x"}).status_code == 400
    team = client.get(f"{API}/teams/").json()["results"][0]
    assert team["member_count"] == 0


@pytest.mark.parametrize("route", ROUTES)
def test_record_lists_run_a_fixed_number_of_queries(route, records, users, api_for, tree,
                                                    volunteer, retired):
    def count():
        client = api_for(fresh(users["comm_a"]))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{API}/{route}/")
        assert response.status_code == 200
        return len(queries)

    before = count()
    # More rows of every kind.
    Volunteer.objects.create(person=retired, org_unit=tree["a2"], registered_at=timezone.now())
    VolunteerTeam.objects.create(name="银发队", org_unit=tree["a"], leader=retired)
    activity = Activity.objects.create(
        org_unit=tree["a1"], title="读报", place="滨河左岸", capacity=5,
        starts_at=T0, ends_at=T0 + timezone.timedelta(hours=2),
    )
    ServiceHours.objects.create(activity=activity, person=retired, hours=Decimal(1),
                                approved_at=T0)
    fund(retired, 30, PointsKind.COMMUNITY)
    fund(retired, 30, PointsKind.MEMBER)
    item = RewardItem.objects.create(merchant=records["item"].merchant, name="洗头",
                                     points_price=5, stock=3)
    mall.redeem(None, item, retired)
    mall.redeem(None, records["item"], volunteer)
    assert count() == before == LIST_QUERIES.get(route, 5)
