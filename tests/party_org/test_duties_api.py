"""The API of 双报到, posts and emergencies: scoping, writes through the services, filters and
pinned query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from party_org.models import (
    EmergencyActivation,
    PostAssignment,
    ServiceRecord,
    WorkUnit,
)
from party_org.services import duties as services
from tests.party_org.test_duties import D, populate, register, world  # noqa: F401
from tests.party_org.test_duties_admin import rows  # noqa: F401

pytestmark = pytest.mark.django_db

API = "/api/v1"


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# model path, key of the A row, key of the B row
SCOPED = [
    ("registrations", "reg_a", "reg_b"),
    ("posts", "legal", "legal_b"),
    ("emergency-roles", "role_a", "role_b"),
    ("emergency-activations", "act_a", "act_b"),
]


@pytest.mark.parametrize("path, mine, theirs", SCOPED)
def test_lists_and_details_are_scoped(rows, users, api_for, path, mine, theirs):
    client = api_for(users["comm_a"])
    assert ids(client.get(f"{API}/{path}/")) == {rows[mine].pk}
    assert ids(api_for(users["street"]).get(f"{API}/{path}/")) == {rows[mine].pk, rows[theirs].pk}
    assert client.get(f"{API}/{path}/{rows[mine].pk}/").status_code == 200
    url = f"{API}/{path}/{rows[theirs].pk}/"
    assert client.get(url).status_code == 404
    assert client.patch(url, {"title": "x", "name": "x"}, format="json").status_code in (404, 405)
    assert client.delete(url).status_code in (404, 405)


def test_service_records_and_assignments_are_scoped(rows, users, api_for):
    client = api_for(users["comm_a"])
    records = ids(client.get(f"{API}/service-records/"))
    assert records == set(ServiceRecord.objects.filter(registration=rows["reg_a"]).values_list(
        "pk", flat=True))
    assignments = ids(client.get(f"{API}/post-assignments/"))
    assert assignments == set(PostAssignment.objects.filter(post=rows["legal"]).values_list(
        "pk", flat=True))
    theirs = ServiceRecord.objects.get(registration=rows["reg_b"])
    assert client.delete(f"{API}/service-records/{theirs.pk}/").status_code == 404
    assert ServiceRecord.objects.filter(pk=theirs.pk).exists()


def test_filters_cannot_reach_b(rows, users, api_for):
    client = api_for(users["comm_a"])
    for path in ("registrations", "service-records", "posts", "post-assignments",
                 "emergency-roles", "emergency-activations"):
        assert ids(client.get(f"{API}/{path}/", {"ancestor": rows["b"].pk})) == set(), path
    assert ids(client.get(f"{API}/registrations/", {"search": "王志强"})) == set()


def test_registration_filters(rows, users, api_for):
    client = api_for(users["street"])
    other = register(rows, who="zhao")
    assert ids(client.get(f"{API}/registrations/", {"work_unit": rows["coal"].pk})) == {other.pk}
    assert ids(client.get(f"{API}/registrations/", {"ancestor": rows["a"].pk})) == {
        rows["reg_a"].pk, other.pk
    }
    services.end_registration(None, other, D(2025, 5, 1))
    assert ids(client.get(f"{API}/registrations/", {"status": "ended"})) == {other.pk}
    assert client.get(f"{API}/registrations/", {"status": "paused"}).status_code == 400
    data = client.get(f"{API}/registrations/{rows['reg_a'].pk}/").json()
    assert data["member_name"] == "张建国" and data["post_name"] == "法律咨询岗"
    assert (data["service_count"], data["service_hours"]) == (1, "2.0")
    assert "phone" not in str(data) and "id_number" not in str(data)


def test_create_registration_through_the_service(rows, users, api_for):
    client = api_for(users["comm_a"])
    payload = {
        "member": rows["zhao"].pk, "work_unit": rows["coal"].pk, "branch": rows["a2"].pk,
        "registered_on": "2025-03-01", "commitment": "亮身份", "post": rows["legal"].pk,
    }
    response = client.post(f"{API}/registrations/", payload, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["service_count"] == 0
    again = client.post(f"{API}/registrations/", payload, format="json")
    assert again.status_code == 400 and "赵丽华" in str(again.json()["member"])
    # Out of scope: B's branch and B's member are not valid choices.
    for change in ({"branch": rows["b1"].pk}, {"member": rows["wang"].pk},
                   {"post": rows["legal_b"].pk}):
        response = client.post(f"{API}/registrations/", {**payload, **change}, format="json")
        assert response.status_code == 400 and set(change) <= set(response.json()), change
    response = client.post(f"{API}/registrations/", {**payload, "member": rows["direct"].pk},
                           format="json")
    assert response.status_code == 400 and "member" in response.json()
    # The member and branch do not change afterwards.
    url = f"{API}/registrations/{rows['reg_a'].pk}/"
    response = client.patch(url, {"branch": rows["a1a"].pk}, format="json")
    assert response.status_code == 400
    response = client.patch(url, {"commitment": "新的承诺"}, format="json")
    assert response.status_code == 200 and response.json()["commitment"] == "新的承诺"


def test_end_and_evaluate_actions(rows, users, api_for):
    client = api_for(users["secretary"])
    url = f"{API}/registrations/{rows['reg_a'].pk}/"
    response = client.post(url + "evaluate/", {"year": 2025, "rating": "good", "comment": "好"},
                           format="json")
    assert response.status_code == 200 and response.json()["rating"] == "good"
    response = client.post(url + "evaluate/", {"year": 2025, "rating": "excellent"},
                           format="json")
    assert response.status_code == 200
    assert [e["rating"] for e in client.get(url).json()["evaluations"]] == ["excellent"]
    assert client.post(url + "evaluate/", {"year": 1990, "rating": "good"},
                       format="json").status_code == 400
    response = client.post(url + "end/", {"ended_on": "2025-06-30"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "ended"
    assert client.post(url + "end/", {}, format="json").status_code == 400
    b_url = f"{API}/registrations/{rows['reg_b'].pk}/"
    assert client.post(b_url + "end/", {}, format="json").status_code == 404


def test_service_records_through_the_service(rows, users, api_for):
    client = api_for(users["comm_a"])
    payload = {"registration": rows["reg_a"].pk, "served_on": "2025-04-20", "hours": "1.5",
               "activity": "文明劝导"}
    response = client.post(f"{API}/service-records/", payload, format="json")
    assert response.status_code == 201, response.json()
    assert ServiceRecord.objects.get(pk=response.json()["id"]).recorded_by == users["comm_a"]
    for change in ({"served_on": "2999-01-01"}, {"hours": "25"}, {"hours": "0.2"},
                   {"registration": rows["reg_b"].pk}):
        response = client.post(f"{API}/service-records/", {**payload, **change}, format="json")
        assert response.status_code == 400 and set(change) <= set(response.json()), change
    assert ids(client.get(f"{API}/service-records/", {
        "served_from": "2025-04-15", "served_to": "2025-04-30"})) == {
        ServiceRecord.objects.get(activity="文明劝导").pk
    }


def test_posts_and_assignments(rows, users, api_for):
    client = api_for(users["comm_a"])
    response = client.post(f"{API}/posts/", {
        "org_unit": rows["a2"].pk, "kind": "health_advice", "name": "健康咨询岗",
        "duties": "测血压",
    }, format="json")
    assert response.status_code == 201, response.json()
    post_id = response.json()["id"]
    duplicate = client.post(f"{API}/posts/", {
        "org_unit": rows["a2"].pk, "kind": "other", "name": "健康咨询岗", "duties": "x",
    }, format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.json()
    assert client.post(f"{API}/posts/", {
        "org_unit": rows["b1"].pk, "kind": "other", "name": "越权岗", "duties": "x",
    }, format="json").status_code == 400
    assert ids(client.get(f"{API}/posts/", {"kind": "health_advice"})) == {post_id}
    assert ids(client.get(f"{API}/posts/", {"ancestor": rows["a1"].pk})) == set()
    response = client.post(f"{API}/post-assignments/", {
        "post": post_id, "member": rows["zhao"].pk, "started_on": "2025-02-01",
    }, format="json")
    assert response.status_code == 201, response.json()
    assignment = response.json()["id"]
    holders = client.get(f"{API}/posts/{post_id}/").json()["holders"]
    assert [h["member_name"] for h in holders] == ["赵丽华"]
    response = client.post(f"{API}/post-assignments/", {
        "post": post_id, "member": rows["li"].pk, "started_on": "2025-02-01",
    }, format="json")
    assert response.status_code == 400 and "member" in response.json()
    response = client.patch(f"{API}/post-assignments/{assignment}/", {"ended_on": "2025-06-30"},
                            format="json")
    assert response.status_code == 200 and response.json()["ended_on"] == "2025-06-30"
    assert client.get(f"{API}/posts/{post_id}/").json()["holders"] == []
    assert client.delete(f"{API}/posts/{rows['legal'].pk}/").status_code == 409


def test_emergency_activation_through_the_api(rows, users, api_for):
    services.set_emergency_role(None, rows["direct"], "supplies", rows["a2"])
    client = api_for(users["comm_a"])
    url = f"{API}/emergency-activations/"
    response = client.post(url, {"org_unit": rows["a2"].pk, "title": "重复"}, format="json")
    assert response.status_code == 400 and "文锦苑停电" in str(response.json())
    services.end_emergency(None, rows["act_a"])
    response = client.post(url, {"org_unit": rows["a"].pk, "title": "暴雨", "reason": "防汛"},
                           format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["acknowledgements"] == {"called": 2, "acknowledged": 0, "pending": 2}
    detail = f"{url}{data['id']}/"
    members = client.get(detail).json()["members"]
    assert {m["member_name"] for m in members} == {"张建国", "刘德明"}
    assert all(m["acknowledged_at"] is None for m in members)
    # A2's secretary does not see a community-wide activation at all.
    assert api_for(users["secretary"]).get(detail).status_code == 404
    response = client.post(detail + "acknowledge/", {"member": rows["direct"].pk,
                                                     "note": "已到岗"}, format="json")
    assert response.status_code == 200 and response.json()["acknowledged_at"]
    response = client.post(detail + "acknowledge/", {"member": rows["wang"].pk}, format="json")
    assert response.status_code == 400
    counts = client.get(detail).json()["acknowledgements"]
    assert counts == {"called": 2, "acknowledged": 1, "pending": 1}
    assert ids(client.get(url, {"is_open": "true"})) == {data["id"]}
    assert client.post(detail + "end/").status_code == 200
    assert EmergencyActivation.objects.get(pk=data["id"]).ended_at is not None
    assert ids(client.get(url, {"is_open": "true"})) == set()
    assert client.post(url, {"org_unit": rows["b"].pk, "title": "越权"},
                       format="json").status_code == 400


def test_secretary_acknowledges_in_its_branch_but_cannot_end(rows, users, api_for):
    secretary = api_for(users["secretary"])
    detail = f"{API}/emergency-activations/{rows['act_a'].pk}/"
    response = secretary.post(detail + "acknowledge/", {"member": rows["zhang"].pk},
                              format="json")
    assert response.status_code == 200 and response.json()["acknowledged_at"]
    assert secretary.post(detail + "end/").status_code == 403
    assert secretary.post(f"{API}/emergency-activations/",
                          {"org_unit": rows["a2g"].pk, "title": "x"},
                          format="json").status_code == 403
    assert EmergencyActivation.objects.get(pk=rows["act_a"].pk).ended_at is None


def test_emergency_roles_through_the_api(rows, users, api_for):
    client = api_for(users["comm_a"])
    url = f"{API}/emergency-roles/"
    response = client.post(url, {"member": rows["direct"].pk, "kind": "supplies",
                                 "place": rows["a2"].pk}, format="json")
    assert response.status_code == 201, response.json()
    role = response.json()["id"]
    response = client.patch(f"{url}{role}/", {"kind": "care"}, format="json")
    assert response.status_code == 200 and response.json()["kind"] == "care"
    response = client.patch(f"{url}{role}/", {"place": rows["b1"].pk}, format="json")
    assert response.status_code == 400
    response = client.post(url, {"member": rows["li"].pk, "kind": "patrol",
                                 "place": rows["s1"].pk}, format="json")
    assert response.status_code == 400  # S1 is out of scope for community staff
    assert client.delete(f"{url}{role}/").status_code == 204


def test_work_units(rows, users, api_for):
    url = f"{API}/work-units/"
    payload = {"name": "迎泽区人民医院", "kind": "institution", "contact_phone": "13912345678"}
    assert api_for(users["secretary"]).post(url, payload, format="json").status_code == 403
    response = api_for(users["comm_a"]).post(url, payload, format="json")
    assert response.status_code == 201, response.json()
    unit = response.json()["id"]
    assert response.json()["contact_phone"] == "13912345678"  # community staff may see it
    masked = api_for(users["auditor"]).get(f"{url}{unit}/").json()["contact_phone"]
    assert masked == "139****5678"
    assert api_for(users["comm_a"]).post(url, payload, format="json").status_code == 400
    assert api_for(users["comm_b"]).get(f"{url}{unit}/").status_code == 200  # city-wide
    assert api_for(users["comm_a"]).delete(f"{url}{rows['tax'].pk}/").status_code == 403
    assert api_for(users["street"]).delete(f"{url}{rows['tax'].pk}/").status_code == 409
    assert api_for(users["street"]).delete(f"{url}{unit}/").status_code == 204
    assert not WorkUnit.objects.filter(pk=unit).exists()


def test_nobody_gets_nothing(rows, users, api_for):
    for path in ("registrations", "posts", "emergency-activations", "work-units"):
        assert api_for(users["nobody"]).get(f"{API}/{path}/").status_code == 403


# ---- query counts ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "work-units", "registrations", "service-records", "posts", "post-assignments",
    "emergency-roles", "emergency-activations",
])
def test_list_query_count_does_not_grow(world, users, api_for, path):
    client = api_for(users["comm_a"])
    populate(world, 2, "小")
    url = f"{API}/{path}/"
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        first = client.get(url)
    populate(world, 18, "大")
    with CaptureQueriesContext(connection) as big:
        second = client.get(url)
    assert second.json()["count"] >= 20 > first.json()["count"]
    assert len(small) == len(big), [q["sql"] for q in big]


def test_registration_list_query_count_is_pinned(world, users, api_for):
    client = api_for(users["comm_a"])
    populate(world, 20, "批")
    client.get(f"{API}/registrations/")
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"{API}/registrations/")
    assert response.json()["count"] == 20
    # count, the page (members, units, branches and posts joined), the evaluations.
    assert len(ctx) == 3, [q["sql"] for q in ctx]


def test_activation_detail_query_count_does_not_grow(world, users, api_for):
    client = api_for(users["comm_a"])
    populate(world, 2, "小")
    small_act = EmergencyActivation.objects.order_by("-pk").first()
    populate(world, 18, "大")
    big_act = EmergencyActivation.objects.order_by("-pk").first()
    client.get(f"{API}/emergency-activations/{small_act.pk}/")
    with CaptureQueriesContext(connection) as small:
        client.get(f"{API}/emergency-activations/{small_act.pk}/")
    with CaptureQueriesContext(connection) as big:
        response = client.get(f"{API}/emergency-activations/{big_act.pk}/")
    assert len(response.json()["members"]) == 20
    assert len(small) == len(big)

