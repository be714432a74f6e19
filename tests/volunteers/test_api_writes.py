"""Writes through the volunteers API: volunteers (register, verify), teams (create, members,
leader), activities (create, change, sign up, check-in code) and their sign-ups (confirm, cancel,
check in, approve hours), redemptions (idempotent redeem, cancel) and points adjustments (ask,
approve, reject). Each works for a permitted user, is refused for a read-only user (403) and
out of scope (404 for the row, 400 for an id in the body), and bad input answers 400 naming
the field."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.grids.conftest import grid_user  # noqa: F401 - a fixture used here
from volunteers.models import (
    ActivitySignup,
    Merchant,
    PointsAccount,
    PointsAdjustment,
    PointsKind,
    Redemption,
    RewardItem,
    ServiceHours,
    TeamMembership,
    Volunteer,
    VolunteerTeam,
)
from volunteers.services import activities as activity_services
from volunteers.services import ledger
from volunteers.services import people as people_services

from .conftest import fund, make_person

pytestmark = pytest.mark.django_db
API = "/api/v1"
H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)


def ok(response, code=200):
    assert response.status_code == code, response.content
    return response.json()


def refused(response, *fields):
    """A 400 whose body names exactly `fields`, each with at least one message."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == set(fields), body
    assert all(body[f] and all(isinstance(m, str) and m for m in body[f]) for f in fields)
    return body


def balance(person, kind=PointsKind.COMMUNITY):
    account = PointsAccount.objects.filter(person=person, kind=kind).first()
    return account.balance if account else Decimal("0.00")


# ---- volunteers --------------------------------------------------------------------------------


def test_staff_register_volunteers(users, api_for, places, tree, member):
    client = api_for(users["comm_a"])
    body = {"compound": places["wjy"].pk, "name": "刘芳", "phone": "13600000001",
            "skills": ["理发", " 理发 ", "水电维修"], "note": "周末有空"}
    row = ok(client.post(f"{API}/volunteers/", body, format="json"), 201)
    assert row["person"]["name"] == "刘芳" and row["org_unit"]["id"] == tree["a2"].pk
    assert row["skills"] == ["理发", "水电维修"] and row["verified"] is False
    assert row["phone"] == "13600000001"
    # An existing person, verified at once, belongs to their own unit by default.
    row = ok(client.post(f"{API}/volunteers/", {"person": member.pk, "verified": True},
                         format="json"), 201)
    assert row["verified"] is True and row["org_unit"]["id"] == member.org_unit_id
    assert Volunteer.objects.get(person=member).verified_by == users["comm_a"]
    # Bad input: each field named.
    refused(client.post(f"{API}/volunteers/", {"org_unit": tree["a2"].pk}, format="json"),
            "name", "phone")
    refused(client.post(f"{API}/volunteers/", {**body, "phone": "12"}, format="json"), "phone")
    refused(client.post(f"{API}/volunteers/", {**body, "skills": ["x" * 31]}, format="json"),
            "skills")
    refused(client.post(f"{API}/volunteers/", {**body, "skills": [str(i) for i in range(11)]},
                        format="json"), "skills")
    refused(client.post(f"{API}/volunteers/", {"name": "无处", "phone": "13600000002"},
                        format="json"), "org_unit")
    refused(client.post(f"{API}/volunteers/", {"person": member.pk}, format="json"), "person")
    refused(client.post(f"{API}/volunteers/", {**body, "compound": "abc"}, format="json"),
            "compound")


def test_registering_is_refused_out_of_scope_and_to_readers(users, api_for, places, member,
                                                           grid_user):
    body = {"compound": places["wjy"].pk, "name": "刘芳", "phone": "13600000001"}
    for reader in (users["auditor"], grid_user, users["nobody"]):
        assert api_for(reader).post(f"{API}/volunteers/", body).status_code == 403
    client = api_for(users["comm_b"])
    refused(client.post(f"{API}/volunteers/", body), "compound")
    refused(client.post(f"{API}/volunteers/", {"person": member.pk}), "person")
    assert not Volunteer.objects.exists()


def test_verify_a_volunteer(users, api_for, tree, grid_user):
    person = make_person(tree["a2"], "刘芳", "13600000001")
    volunteer = people_services.register_volunteer(users["comm_a"], org_unit=tree["a2"],
                                                   person=person)
    url = f"{API}/volunteers/{volunteer.pk}/verify/"
    row = ok(api_for(users["secretary"]).post(url, {}))
    assert row["verified"] is True and row["verified_at"]
    volunteer.refresh_from_db()
    assert volunteer.verified_by == users["secretary"]
    row = ok(api_for(users["comm_a"]).post(url, {"verified": False}, format="json"))
    assert row["verified"] is False and row["verified_at"] is None
    refused(api_for(users["comm_a"]).post(url, {"verified": "maybe"}, format="json"),
            "verified")
    assert api_for(users["comm_b"]).post(url, {}).status_code == 404
    for reader in (users["auditor"], grid_user):
        assert api_for(reader).post(url, {}).status_code == 403
    assert api_for(users["nobody"]).post(url, {}).status_code == 403
    volunteer.refresh_from_db()
    assert volunteer.verified is False


# ---- teams -------------------------------------------------------------------------------------


def test_teams_create_members_and_leader(users, api_for, tree, volunteer, member, retired):
    client = api_for(users["comm_a"])
    row = ok(client.post(f"{API}/teams/", {"org_unit": tree["a"].pk, "name": "60工作室",
                                           "leader": volunteer.pk}), 201)
    assert row["leader"] == {"id": volunteer.pk, "name": volunteer.name}
    assert row["member_count"] == 1
    url = f"{API}/teams/{row['id']}"
    refused(client.post(f"{API}/teams/", {"org_unit": tree["a"].pk, "name": "60工作室"}), "name")
    refused(client.post(f"{API}/teams/", {"name": "银发队"}), "org_unit")
    refused(client.post(f"{API}/teams/", {"org_unit": tree["a"].pk, "name": "x" * 81}), "name")
    refused(client.post(f"{API}/teams/", {"org_unit": tree["a"].pk, "name": "银发队",
                                          "founded_on": "2026-13-01"}), "founded_on")

    assert ok(client.post(f"{url}/members/", {"person": member.pk}), 201)["person"]["id"] \
        == member.pk
    refused(client.post(f"{url}/members/", {"person": member.pk}), "person")
    refused(client.post(f"{url}/members/", {}), "person")
    rows = ok(client.get(f"{url}/members/"))
    assert [r["person"]["id"] for r in rows] == [volunteer.pk, member.pk]

    assert ok(client.post(f"{url}/leader/", {"person": member.pk}, format="json"))["leader"] \
        == {"id": member.pk, "name": member.name}
    refused(client.post(f"{url}/leader/", {"person": retired.pk}, format="json"), "person")
    refused(client.post(f"{url}/leader/", {"person": 2**40}, format="json"), "person")
    refused(client.post(f"{url}/leader/", {"person": "abc"}, format="json"), "person")

    refused(client.delete(f"{url}/members/{member.pk}/?left_on=2026-02-30"), "left_on")
    refused(client.delete(f"{url}/members/{member.pk}/?left_on=2000-01-01"), "left_on")
    assert client.delete(f"{url}/members/{member.pk}/").status_code == 204
    assert client.delete(f"{url}/members/{member.pk}/").status_code == 404
    team = ok(client.get(f"{url}/"))
    # The leader left: the team has none until one is chosen.
    assert team["member_count"] == 1 and team["leader"] is None
    assert ok(client.post(f"{url}/leader/", {"person": volunteer.pk}, format="json"))["leader"]
    assert ok(client.post(f"{url}/leader/", {"person": None}, format="json"))["leader"] is None


def test_team_writes_are_refused_out_of_scope_and_to_readers(users, api_for, tree, volunteer,
                                                            grid_user):
    team = people_services.create_team(users["comm_a"], org_unit=tree["a2"], name="60工作室",
                                       leader=volunteer)
    far = make_person(tree["c1"], "金泽人")
    url = f"{API}/teams/{team.pk}"
    # Out of scope: the unit (400 in the body) and the team itself (404).
    refused(api_for(users["comm_b"]).post(f"{API}/teams/", {"org_unit": tree["a"].pk,
                                                            "name": "别人的队"}), "org_unit")
    for method, path, body in (("post", "members/", {"person": volunteer.pk}),
                               ("post", "leader/", {"person": volunteer.pk}),
                               ("delete", f"members/{volunteer.pk}/", None),
                               ("get", "members/", None)):
        response = getattr(api_for(users["comm_b"]), method)(f"{url}/{path}", body)
        assert response.status_code == 404, path
        if method != "get":
            for reader in (users["auditor"], grid_user):
                assert getattr(api_for(reader), method)(f"{url}/{path}", body).status_code \
                    == 403, path
    # A person outside the caller's units cannot be added.
    refused(api_for(users["comm_a"]).post(f"{url}/members/", {"person": far.pk}), "person")
    for reader in (users["auditor"], grid_user):
        response = api_for(reader).post(f"{API}/teams/", {"org_unit": tree["a"].pk,
                                                          "name": "银发队"})
        assert response.status_code == 403
    assert VolunteerTeam.objects.count() == 1
    assert list(TeamMembership.objects.values_list("person", flat=True)) == [volunteer.pk]


# ---- activities and sign-ups -------------------------------------------------------------------


def activity_body(unit, **fields):
    start = timezone.now() + 2 * H
    return {"org_unit": unit.pk, "title": "楼道清洁", "place": "文锦苑1号楼",
            "starts_at": start.isoformat(), "ends_at": (start + 2 * H).isoformat(),
            "capacity": 2, "points_per_hour": "10", **fields}


def test_create_and_change_an_activity(users, api_for, tree, grid_user):
    client = api_for(users["comm_a"])
    team = people_services.create_team(users["comm_a"], org_unit=tree["a"], name="60工作室")
    far_team = people_services.create_team(None, org_unit=tree["c"], name="金泽队")
    row = ok(client.post(f"{API}/activities/", activity_body(tree["a2"], team=team.pk),
                         format="json"), 201)
    assert row["team"]["id"] == team.pk and row["places_taken"] == 0
    assert Decimal(row["points_per_hour"]) == 10
    url = f"{API}/activities/{row['id']}/"
    body = activity_body(tree["a2"])
    refused(client.post(f"{API}/activities/", {**body, "ends_at": body["starts_at"]},
                        format="json"), "ends_at")
    refused(client.post(f"{API}/activities/", {**body, "capacity": 0}, format="json"),
            "capacity")
    refused(client.post(f"{API}/activities/", {**body, "title": "", "starts_at": "soon"},
                        format="json"), "title", "starts_at")
    refused(client.post(f"{API}/activities/", {**body, "points_per_hour": "-1"},
                        format="json"), "points_per_hour")
    refused(client.post(f"{API}/activities/", {**body, "org_unit": tree["b1"].pk},
                        format="json"), "org_unit")
    refused(client.post(f"{API}/activities/", {**body, "team": far_team.pk}, format="json"),
            "team")

    row = ok(client.patch(url, {"capacity": 5, "title": "楼道大扫除"}, format="json"))
    assert (row["capacity"], row["title"]) == (5, "楼道大扫除")
    refused(client.patch(url, {"ends_at": "2000-01-01T00:00:00+08:00"}, format="json"),
            "ends_at")
    refused(client.patch(url, {"capacity": "many"}, format="json"), "capacity")
    refused(client.put(url, {"title": "only a title"}, format="json"),
            "org_unit", "place", "starts_at", "ends_at", "capacity")
    row = ok(client.put(url, activity_body(tree["a2"], title="换了"), format="json"))
    assert row["title"] == "换了" and row["team"]["id"] == team.pk
    assert ok(client.patch(url, {"team": None}, format="json"))["team"] is None
    assert client.delete(url).status_code == 405
    assert api_for(users["comm_b"]).patch(url, {"capacity": 9}, format="json").status_code \
        == 404
    for reader in (users["auditor"], grid_user):
        assert api_for(reader).patch(url, {"capacity": 9}, format="json").status_code == 403
        assert api_for(reader).post(f"{API}/activities/", body, format="json").status_code \
            == 403


@pytest.fixture
def upcoming(users, tree):
    """An activity starting in 20 minutes (check-in open), one place."""
    start = timezone.now() + 20 * M
    return activity_services.create_activity(
        users["secretary"], org_unit=tree["a2"], title="义诊", place="党群服务站",
        starts_at=start, ends_at=start + 2 * H, capacity=1, points_per_hour=5,
    )


def test_sign_up_confirm_cancel_and_check_in(upcoming, users, api_for, tree, volunteer, member,
                                             grid_user):
    client = api_for(users["comm_a"])
    url = f"{API}/activities/{upcoming.pk}"
    first = ok(client.post(f"{url}/signups/", {"person": volunteer.pk}), 201)
    assert first["status"] == "signed_up" and first["person"]["id"] == volunteer.pk
    second = ok(client.post(f"{url}/signups/", {"person": member.pk}), 201)
    assert second["status"] == "waitlisted"
    refused(client.post(f"{url}/signups/", {"person": member.pk}), "person")
    refused(client.post(f"{url}/signups/", {}), "person")
    far = make_person(tree["c1"], "金泽人")
    refused(client.post(f"{url}/signups/", {"person": far.pk}), "person")
    assert ok(client.get(f"{url}/"))["waiting"] == 1

    signups = f"{API}/activity-signups"
    assert ok(client.post(f"{signups}/{first['id']}/confirm/"))["status"] == "confirmed"
    refused(client.post(f"{signups}/{second['id']}/confirm/"), "detail")
    assert ok(client.post(f"{signups}/{first['id']}/cancel/"))["status"] == "cancelled"
    refused(client.post(f"{signups}/{first['id']}/cancel/"), "detail")
    # The waiting list moved up.
    assert ok(client.get(f"{signups}/{second['id']}/"))["status"] == "signed_up"
    listed = ok(client.get(f"{signups}/", {"activity": upcoming.pk, "status": "signed_up"}))
    assert [r["id"] for r in listed["results"]] == [second["id"]]

    refused(client.post(f"{signups}/{second['id']}/check-in/", {"code": "123"}), "code")
    issued = ok(client.post(f"{url}/checkin-code/"))
    code = issued["code"]
    assert len(code) == 6 and code.isdigit() and issued["opens_at"] < issued["closes_at"]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    refused(client.post(f"{signups}/{second['id']}/check-in/", {"code": wrong}), "code")
    refused(client.post(f"{signups}/{second['id']}/check-in/", {}), "code")
    assert ok(client.post(f"{signups}/{second['id']}/check-in/", {"code": code}))["status"] \
        == "checked_in"
    refused(client.post(f"{signups}/{second['id']}/check-in/", {"code": code}), "detail")
    # Hours only after the activity has ended.
    refused(client.post(f"{signups}/{second['id']}/approve-hours/", {"hours": "1"}), "detail")


def test_sign_up_routes_are_refused_out_of_scope_and_to_readers(upcoming, users, api_for,
                                                                volunteer, grid_user):
    signup = activity_services.sign_up(users["comm_a"], upcoming, volunteer)
    url = f"{API}/activities/{upcoming.pk}"
    signups = f"{API}/activity-signups/{signup.pk}"
    routes = [(f"{url}/signups/", {"person": volunteer.pk}), (f"{url}/checkin-code/", {}),
              (f"{signups}/confirm/", {}), (f"{signups}/cancel/", {}),
              (f"{signups}/check-in/", {"code": "000000"}),
              (f"{signups}/approve-hours/", {"hours": "1"})]
    for path, body in routes:
        assert api_for(users["comm_b"]).post(path, body).status_code == 404, path
        for reader in (users["auditor"], grid_user):
            assert api_for(reader).post(path, body).status_code == 403, path
        assert api_for(users["nobody"]).post(path, body).status_code == 403, path
    signup.refresh_from_db()
    assert signup.status == "signed_up"
    assert not upcoming.__class__.objects.get(pk=upcoming.pk).checkin_code_hash
    assert ok(api_for(users["comm_a"]).get(f"{API}/activity-signups/"))["count"] == 1
    assert ok(api_for(users["comm_b"]).get(f"{API}/activity-signups/"))["count"] == 0


def test_approve_hours_after_the_activity(users, api_for, tree, volunteer, grid_user):
    now = timezone.now()
    activity = activity_services.create_activity(
        users["secretary"], org_unit=tree["a2"], title="理发", place="文锦苑",
        starts_at=now - 3 * H, ends_at=now - H, capacity=5, points_per_hour=10,
    )
    signup = activity_services.sign_up(None, activity, volunteer, at=now - 4 * H)
    code = activity_services.issue_checkin_code(users["secretary"], activity, now_=now - 3 * H)
    activity_services.check_in(None, activity, volunteer, code, now_=now - 2.5 * H)
    url = f"{API}/activity-signups/{signup.pk}/approve-hours/"
    client = api_for(users["secretary"])
    for bad in ("abc", "0", "-1", "1.25", "3"):
        refused(client.post(url, {"hours": bad}), "hours")
    refused(client.post(url, {}), "hours")
    for reader in (users["auditor"], grid_user):
        assert api_for(reader).post(url, {"hours": "2"}).status_code == 403
    row = ok(client.post(url, {"hours": "2"}), 201)
    assert Decimal(row["hours"]) == 2 and row["approved_by"] == users["secretary"].username
    assert balance(volunteer) == Decimal("20.00")
    refused(client.post(url, {"hours": "2"}), "detail")
    assert balance(volunteer) == Decimal("20.00")
    assert ServiceHours.objects.count() == 1


# ---- redemptions -------------------------------------------------------------------------------


@pytest.fixture
def mall(tree, volunteer):
    fund(volunteer, 50)
    shop = Merchant.objects.create(name="理发店", org_unit=tree["a"])
    far_shop = Merchant.objects.create(name="金泽超市", org_unit=tree["c"])
    return {
        "item": RewardItem.objects.create(merchant=shop, name="理发", points_price=10, stock=3),
        "dear": RewardItem.objects.create(merchant=shop, name="按摩", points_price=100,
                                          stock=3),
        "far": RewardItem.objects.create(merchant=far_shop, name="米", points_price=10,
                                         stock=3),
    }


def test_redeem_through_the_api_is_idempotent(mall, users, api_for, volunteer):
    client = api_for(users["comm_a"])
    item = mall["item"]
    body = {"item": item.pk, "person": volunteer.pk}
    first = client.post(f"{API}/redemptions/", body, HTTP_IDEMPOTENCY_KEY="visit-1")
    row = ok(first, 201)
    assert row["status"] == "issued" and Decimal(row["points"]) == 10 and "code" not in row
    # A retry with the key (header or field) answers the same redemption and pays nothing.
    for _ in range(3):
        again = client.post(f"{API}/redemptions/", body, HTTP_IDEMPOTENCY_KEY="visit-1")
        assert ok(again)["id"] == row["id"] and again["Idempotent-Replayed"] == "true"
    assert ok(client.post(f"{API}/redemptions/", {**body, "idempotency_key": "visit-1"}))["id"] \
        == row["id"]
    assert ok(client.post(f"{API}/redemptions/", {**body, "idempotency_key": "visit-1"},
                          HTTP_IDEMPOTENCY_KEY="visit-1"))["id"] == row["id"]
    item.refresh_from_db()
    assert balance(volunteer) == Decimal("40.00") and item.stock == 2
    assert Redemption.objects.count() == 1
    # The key with another request, or two keys at once, is refused.
    refused(client.post(f"{API}/redemptions/", {**body, "quantity": 2},
                        HTTP_IDEMPOTENCY_KEY="visit-1"), "idempotency_key")
    refused(client.post(f"{API}/redemptions/", {**body, "idempotency_key": "a"},
                        HTTP_IDEMPOTENCY_KEY="b"), "idempotency_key")
    refused(client.post(f"{API}/redemptions/", body, HTTP_IDEMPOTENCY_KEY="k" * 65),
            "idempotency_key")
    # Keys are per login: another login's same key is a new redemption.
    other = ok(api_for(users["street"]).post(f"{API}/redemptions/", body,
                                             HTTP_IDEMPOTENCY_KEY="visit-1"), 201)
    assert other["id"] != row["id"]
    # Without a key every request is a new one.
    ok(client.post(f"{API}/redemptions/", body), 201)
    assert balance(volunteer) == Decimal("20.00")
    item.refresh_from_db()
    assert item.stock == 0


def test_redeem_bad_input_and_scope(mall, users, api_for, volunteer, tree, grid_user):
    client = api_for(users["comm_a"])
    body = {"item": mall["item"].pk, "person": volunteer.pk}
    refused(client.post(f"{API}/redemptions/", {**body, "quantity": 0}), "quantity")
    refused(client.post(f"{API}/redemptions/", {**body, "quantity": 4}), "quantity")
    refused(client.post(f"{API}/redemptions/", {**body, "item": mall["dear"].pk}), "person")
    refused(client.post(f"{API}/redemptions/", {**body, "item": mall["far"].pk}), "item")
    refused(client.post(f"{API}/redemptions/", {**body, "item": "x"}), "item")
    refused(client.post(f"{API}/redemptions/", {**body, "item": 2**70}, format="json"), "item")
    far = make_person(tree["c1"], "金泽人")
    refused(client.post(f"{API}/redemptions/", {**body, "person": far.pk}), "person")
    RewardItem.objects.filter(pk=mall["item"].pk).update(is_active=False)
    refused(client.post(f"{API}/redemptions/", body), "item")
    RewardItem.objects.filter(pk=mall["item"].pk).update(is_active=True)
    refused(api_for(users["comm_b"]).post(f"{API}/redemptions/", body), "item", "person")
    for reader in (users["auditor"], users["secretary"], grid_user, users["nobody"]):
        assert api_for(reader).post(f"{API}/redemptions/", body).status_code == 403
    assert not Redemption.objects.exists() and balance(volunteer) == Decimal("50.00")


def test_cancel_a_redemption(mall, users, api_for, volunteer, grid_user):
    client = api_for(users["comm_a"])
    row = ok(client.post(f"{API}/redemptions/", {"item": mall["item"].pk,
                                                 "person": volunteer.pk, "quantity": 2}), 201)
    url = f"{API}/redemptions/{row['id']}/cancel/"
    # The community's mall is outside the branch secretary's and the grid worker's view.
    for outsider in (users["comm_b"], users["secretary"], grid_user):
        assert api_for(outsider).post(url).status_code == 404
    assert api_for(users["auditor"]).post(url).status_code == 403
    assert balance(volunteer) == Decimal("30.00")
    assert ok(client.post(url))["status"] == "cancelled"
    mall["item"].refresh_from_db()
    assert balance(volunteer) == Decimal("50.00") and mall["item"].stock == 3
    refused(client.post(url), "detail")
    assert balance(volunteer) == Decimal("50.00")


# ---- points adjustments ------------------------------------------------------------------------


def test_points_adjustments_ask_approve_reject(users, api_for, volunteer, tree, grid_user):
    client = api_for(users["secretary"])
    body = {"person": volunteer.pk, "kind": "community", "amount": "20",
            "reason": "补记三月服务"}
    row = ok(client.post(f"{API}/points-adjustments/", body), 201)
    assert row["status"] == "pending" and row["requested_by"] == users["secretary"].username
    assert balance(volunteer) == 0
    refused(client.post(f"{API}/points-adjustments/", {**body, "amount": "abc"}), "amount")
    refused(client.post(f"{API}/points-adjustments/", {**body, "amount": "0"}), "amount")
    refused(client.post(f"{API}/points-adjustments/", {**body, "amount": "1.234"}), "amount")
    refused(client.post(f"{API}/points-adjustments/", {**body, "reason": " "}), "reason")
    refused(client.post(f"{API}/points-adjustments/", {**body, "kind": "gold"}), "kind")
    far = make_person(tree["c1"], "金泽人")
    refused(client.post(f"{API}/points-adjustments/", {**body, "person": far.pk}), "person")

    url = f"{API}/points-adjustments/{row['id']}"
    # The secretary may ask but not approve; a reader neither; another community not at all.
    for user in (users["secretary"], users["auditor"]):
        assert api_for(user).post(f"{url}/approve/").status_code == 403
    assert api_for(users["comm_b"]).post(f"{url}/approve/").status_code == 404
    assert api_for(grid_user).post(f"{url}/approve/").status_code == 403
    approved = ok(api_for(users["comm_a"]).post(f"{url}/approve/", {"note": "属实"}))
    assert approved["status"] == "approved" and approved["entry"]
    assert balance(volunteer) == Decimal("20.00")
    refused(api_for(users["street"]).post(f"{url}/approve/"), "detail")
    assert balance(volunteer) == Decimal("20.00")

    # Nobody approves their own request; a rejection needs its reason.
    mine = ok(api_for(users["comm_a"]).post(f"{API}/points-adjustments/",
                                            {**body, "amount": "-5"}), 201)
    url = f"{API}/points-adjustments/{mine['id']}"
    assert api_for(users["comm_a"]).post(f"{url}/approve/").status_code == 403
    refused(api_for(users["street"]).post(f"{url}/reject/", {"note": ""}), "note")
    rejected = ok(api_for(users["street"]).post(f"{url}/reject/", {"note": "重复申请"}))
    assert rejected["status"] == "rejected" and rejected["decision_note"] == "重复申请"
    assert balance(volunteer) == Decimal("20.00")
    for reader in (users["auditor"], grid_user, users["nobody"]):
        assert api_for(reader).post(f"{API}/points-adjustments/", body).status_code == 403
    assert ok(api_for(users["comm_b"]).get(f"{API}/points-adjustments/"))["count"] == 0
    listed = ok(api_for(users["comm_a"]).get(f"{API}/points-adjustments/",
                                             {"status": "pending"}))
    assert listed["count"] == 0
    assert PointsAdjustment.objects.count() == 2


# ---- fixed numbers of queries ------------------------------------------------------------------


def fresh(user):
    return get_user_model().objects.get(pk=user.pk)


@pytest.mark.parametrize("route", ["activity-signups", "points-adjustments"])
def test_new_lists_run_a_fixed_number_of_queries(route, users, api_for, tree, upcoming):
    def count():
        client = api_for(fresh(users["comm_a"]))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{API}/{route}/")
        assert response.status_code == 200
        return len(queries), response.json()["count"]

    def grow(n):
        for i in range(n):
            person = make_person(tree["a2"], f"居民{ActivitySignup.objects.count()}-{i}")
            activity_services.sign_up(None, upcoming, person)
            ledger.request_adjustment(users["secretary"], person, PointsKind.COMMUNITY, 5, "补记")

    grow(1)
    small, rows = count()
    grow(10)
    large, more = count()
    assert more > rows and small == large
