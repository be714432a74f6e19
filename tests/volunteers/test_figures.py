"""Volunteer figures through the stats endpoint: a scenario with known numbers (wishes in every
step, claimed before and in the period, volunteers registered before and after, hours, points,
redemptions used and cancelled, inside and outside the subtree and the period) and a fixed number
of queries."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from party_org.selectors import Subtree
from party_org.statistics import Period, registry
from tests.conftest import _user
from volunteers.models import (
    Activity,
    EntryReason,
    Merchant,
    PointsKind,
    RewardItem,
    ServiceHours,
    Volunteer,
)
from volunteers.services import ledger, mall
from volunteers.services import wishes as services

from .conftest import make_person

pytestmark = pytest.mark.django_db

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}
ONLY = "wishes,volunteers,service_hours,points,redemptions"
GROUPS = 5  # figure groups in volunteers/figures.py
QUERIES = 7  # three for wishes, one for each other group


def at(month, day, hour=9):
    return timezone.make_aware(dt.datetime(2025, month, day, hour))


def stats(client, unit, params=MARCH):
    response = client.get(f"/api/v1/org-units/{unit.pk}/stats/", {**params, "figures": ONLY})
    assert response.status_code == 200, response.content
    return {f["name"]: f for f in response.json()["figures"]}


def values(client, unit, params=MARCH):
    return {name: f["value"] for name, f in stats(client, unit, params).items()}


def volunteer(unit, name, registered, verified=None):
    person = make_person(unit, name)
    Volunteer.objects.create(person=person, org_unit=unit, registered_at=registered,
                             verified=verified is not None, verified_at=verified)
    return person


@pytest.fixture
def scene(tree, places, users, member, settings):
    settings.POINTS_WISH_REWARD = 10
    staff = users["comm_a"]

    def wish(submitted, where="wjy"):
        return services.submit_wish(
            None, compound=places[where], wish="买米", category="daily_necessities",
            contact_phone="13700000000", at=submitted,
        )

    def walk(w, claim=None, fulfil=None, rate=None, who=member, by=staff):
        services.dispatch_wish(by, w, unit=w.org_unit, at=w.submitted_at + dt.timedelta(hours=1))
        if claim:
            services.claim_wish(by, w, who, at=claim)
        if fulfil:
            services.record_fulfilment(by, w, note="送到了", at=fulfil)
        if rate:
            services.rate_wish(None, w, rate[0], tracking_code=w.tracking_code, at=rate[1])
        return w

    v1 = volunteer(tree["a2"], "志愿者一", at(1, 10), verified=at(1, 11))
    volunteer(tree["a2"], "志愿者二", at(3, 10))
    volunteer(tree["a2"], "志愿者三", at(4, 10), verified=at(4, 11))  # after the period
    volunteer(tree["c1"], "金泽志愿者", at(1, 1), verified=at(1, 2))  # another street

    # Claims 2h, 4h, 6h and 216h after submission (median 5h); fulfilments 12h and 24h (18h).
    walk(wish(at(3, 1)), claim=at(3, 1, 11), fulfil=at(3, 1, 21), rate=(5, at(3, 2, 12)))
    walk(wish(at(3, 3)), claim=at(3, 3, 13), fulfil=at(3, 4, 9), rate=(3, at(3, 6)))
    walk(wish(at(3, 5)), claim=at(3, 5, 15), who=v1)
    services.reject_wish(staff, wish(at(3, 7)), "不属于微心愿范围", at=at(3, 7, 10))
    wish(at(3, 8))
    walk(wish(at(2, 20)), claim=at(3, 1, 9))  # submitted before, claimed in the period
    walk(wish(at(3, 2), "jzhf"), by=users["admin"])  # outside the communities of S1

    # 50 公分 in February; 3 approved hours at 10 a hour in March; 2 hours in April.
    ledger.post_entry(ledger.account_for(v1, PointsKind.COMMUNITY), 50, EntryReason.EARN_POST,
                      "fig:feb", at=at(2, 1))
    for day, month, hours in ((15, 3, 3), (2, 4, 2)):
        activity = Activity.objects.create(
            org_unit=tree["a2"], title="清理楼道", place="文锦苑", capacity=10,
            starts_at=at(month, day), ends_at=at(month, day, 12),
                points_per_hour=Decimal(10),
        )
        row = ServiceHours.objects.create(activity=activity, person=v1, hours=Decimal(hours),
                                          approved_at=at(month, day, 14))
        ledger.earn_for_hours(row, at=row.approved_at)

    shop_user = _user("shop")
    shop = Merchant.objects.create(name="老王理发", org_unit=tree["a"])
    shop.users.add(shop_user)
    item = RewardItem.objects.create(merchant=shop, name="理发", points_price=10, stock=10)
    feb = mall.redeem(None, item, v1, idempotency_key="fig-1", at=at(2, 28))
    mall.mark_used(shop_user, feb.code, at=at(3, 1))
    used = mall.redeem(None, item, v1, idempotency_key="fig-2", at=at(3, 20))
    mall.mark_used(shop_user, used.code, at=at(3, 25))
    cancelled = mall.redeem(None, item, v1, idempotency_key="fig-3", at=at(3, 21))
    mall.cancel_redemption(None, cancelled, person=v1, at=at(3, 22))
    return {"v1": v1}


def test_known_numbers_for_the_community(tree, users, api_for, scene):
    got = values(api_for(users["admin"]), tree["a"])
    assert got["wishes.submitted"] == 5
    assert {k.split(".")[-1]: v for k, v in got.items() if k.startswith("wishes.status.")} == {
        "submitted": 1, "dispatched": 0, "claimed": 1, "fulfilled": 0, "rated": 2,
        "rejected": 1, "withdrawn": 0,
    }
    assert got["wishes.fulfilment_rate"] == 0.5  # 2 of the 4 not rejected or withdrawn
    assert got["wishes.claimed"] == 4
    assert got["wishes.fulfilled"] == 2
    assert got["wishes.median_hours_to_claim"] == 5.0
    assert got["wishes.median_hours_to_fulfil"] == 18.0
    assert got["wishes.rated"] == 2
    assert got["wishes.mean_rating"] == 4.0
    assert got["volunteers.registered"] == 2
    assert got["volunteers.verified"] == 1
    assert got["volunteers.active"] == 1
    assert got["service_hours.approved"] == 3.0
    assert got["service_hours.people"] == 1
    assert got["points.earned.community"] == 30.0
    assert got["points.earned.member"] == 20.0
    assert got["points.spent.community"] == 20.0
    assert got["points.spent.member"] == 0.0
    assert got["redemptions.issued"] == 2
    assert got["redemptions.used"] == 2
    assert got["redemptions.cancelled"] == 1


def test_rate_carries_its_parts(tree, users, api_for, scene):
    rate = stats(api_for(users["admin"]), tree["a"])["wishes.fulfilment_rate"]
    assert (rate["numerator"], rate["denominator"]) == (2, 4)


def test_other_subtrees_and_periods(tree, users, api_for, scene):
    client = api_for(users["admin"])
    other = values(client, tree["c"])
    assert other["wishes.submitted"] == 1
    assert other["wishes.status.dispatched"] == 1
    assert other["volunteers.registered"] == 1
    assert other["redemptions.issued"] == 0
    assert other["wishes.median_hours_to_claim"] is None
    assert other["wishes.mean_rating"] is None
    assert other["wishes.fulfilment_rate"] is None or other["wishes.fulfilment_rate"] == 0

    april = values(client, tree["a"], {"from": "2025-04-01", "to": "2025-04-30"})
    assert april["wishes.submitted"] == 0
    assert april["volunteers.registered"] == 3
    assert april["volunteers.verified"] == 2
    assert april["volunteers.active"] == 1
    assert april["service_hours.approved"] == 2.0
    assert april["points.earned.community"] == 20.0

    whole = values(client, tree["district"], {"to": "2025-12-31"})
    assert whole["wishes.submitted"] == 7
    assert whole["volunteers.registered"] == 4
    assert whole["redemptions.issued"] == 3


def test_scoped_user_sees_own_subtree_only(tree, users, api_for, scene):
    client = api_for(users["comm_a"])
    assert values(client, tree["a"])["wishes.submitted"] == 5
    response = client.get(f"/api/v1/org-units/{tree['c'].pk}/stats/", MARCH)
    assert response.status_code in (403, 404)


def test_fixed_number_of_queries(tree, users, scene):
    period = Period(dt.date(2025, 3, 1), dt.date(2025, 3, 31))
    counts = []
    for node in (tree["a2"], tree["district"]):
        subtree = Subtree.of(node)
        with CaptureQueriesContext(connection) as ctx:
            registry.compute(subtree, period, only=ONLY.split(","))
        counts.append(len(ctx.captured_queries))
    assert counts == [QUERIES, QUERIES]


def test_empty_database_gives_zeros_not_errors(tree, users, api_for):
    got = values(api_for(users["admin"]), tree["a"])
    assert got["wishes.submitted"] == 0
    assert got["wishes.median_hours_to_fulfil"] is None
    assert got["points.spent.member"] == 0.0
    assert got["redemptions.cancelled"] == 0
    assert Decimal(str(got["service_hours.approved"])) == 0
