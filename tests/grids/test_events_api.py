"""The grid events API: scoping (department staff included), filters, masked phones, reporting,
every step route with its failure paths and permission boundaries, the log, categories,
departments, patrols and visits, and the pinned query count of the list."""

import datetime as dt
import zoneinfo

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from grids.models import (
    Building,
    Department,
    EventCategory,
    EventSource,
    EventStatus,
    GridEvent,
    GridWorker,
    GridWorkerKind,
    Household,
    HouseholdVisit,
    PatrolCheckin,
    PatrolPoint,
)
from grids.services import events as services
from party_org.models import Person, StaffRole
from tests.conftest import _user

pytestmark = pytest.mark.django_db

API = "/api/v1"
S = EventStatus
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def url(event, step=""):
    return f"{API}/events/{event.pk}/" + (f"{step}/" if step else "")


def fresh(user):
    """The user as a new request would load it: no permission or scope caches."""
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def events(open_event, places):
    return {
        "a": open_event(reporter_name="李女士", reporter_phone="13812345678"),
        "b": open_event(compound=places["hgd"], description="化工东院路灯不亮"),
    }


# ---- scoping ---------------------------------------------------------------------------------


def test_list_and_detail_are_scoped(events, users, api_for):
    a, b = events["a"], events["b"]
    assert ids(api_for(users["comm_a"]).get(f"{API}/events/")) == {a.pk}
    assert ids(api_for(users["comm_b"]).get(f"{API}/events/")) == {b.pk}
    assert ids(api_for(users["street"]).get(f"{API}/events/")) == {a.pk, b.pk}
    comm_b = api_for(users["comm_b"])
    assert comm_b.get(url(a)).status_code == 404
    assert comm_b.get(url(a, "logs")).status_code == 404
    assert comm_b.post(url(a, "file"), {}, format="json").status_code == 404
    assert not GridEvent.objects.get(pk=a.pk).case_number
    assert api_for(users["nobody"]).get(f"{API}/events/").status_code == 403
    assert APIClient().get(f"{API}/events/").status_code == 401


def test_department_staff_see_and_acknowledge_the_events_called_to_them(
    events, users, department, api_for
):
    a = events["a"]
    staff = api_for(department.staff_user)
    assert ids(staff.get(f"{API}/events/")) == set()
    response = api_for(users["comm_a"]).post(
        url(a, "escalate"), {"department": department.pk, "note": "需要城管执法"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["department"] == {"id": department.pk, "name": department.name}
    staff = api_for(fresh(department.staff_user))
    assert ids(staff.get(f"{API}/events/")) == {a.pk}
    assert staff.get(url(events["b"])).status_code == 404
    detail = staff.get(url(a)).json()
    assert detail["allowed_actions"] == ["acknowledge"]
    assert [row["action"] for row in staff.get(url(a, "logs")).json()] == ["report", "escalate"]
    # Steps that are not theirs are refused by the service.
    assert staff.post(url(a, "file"), {}, format="json").status_code == 403
    response = staff.post(url(a, "acknowledge"), {"note": "已到场"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["department_acknowledged_at"] is not None
    assert response.json()["allowed_actions"] == []
    assert staff.post(url(a, "acknowledge"), {}, format="json").status_code == 400
    # Another department's staff, or a user with no role, cannot acknowledge it.
    other = Department.objects.create(name="住建科", org_unit=department.org_unit)
    stranger = get_user_model().objects.create_user("zhujian", password="pw-Secret-123")
    other.staff.add(stranger)
    assert api_for(stranger).post(url(a, "acknowledge"), {}, format="json").status_code == 404


# ---- reading ---------------------------------------------------------------------------------


def test_the_fields_of_an_event(events, users, api_for, places, category):
    a = events["a"]
    row = api_for(users["comm_a"]).get(f"{API}/events/").json()["results"][0]
    assert row["tracking_code"] == a.tracking_code and row["case_number"] is None
    assert row["status"] == "reported" and row["status_display"]
    assert row["category"] == {"id": category.pk, "code": category.code, "name": category.name}
    assert row["compound"] == {"id": places["wjy"].pk, "name": "文锦苑"}
    assert row["org_unit"]["id"] == places["wjy"].org_unit_id
    assert row["handler"] is None and row["building"] is None
    assert row["is_overdue"] is False and row["reopened_count"] == 0
    assert "allowed_actions" not in row
    detail = api_for(users["comm_a"]).get(url(a)).json()
    assert detail["allowed_actions"] == ["file", "escalate", "duplicate"]


def test_reporter_phone_is_masked_without_the_personal_data_permission(
    events, users, grid_user, api_for
):
    a = events["a"]
    masked = api_for(grid_user).get(url(a)).json()
    assert masked["reporter_phone"] == "138****5678"
    row = api_for(grid_user).get(f"{API}/events/").json()["results"][0]
    assert row["reporter_phone"] == "138****5678"
    assert api_for(users["comm_a"]).get(url(a)).json()["reporter_phone"] == "13812345678"


def test_filters(events, users, api_for, places, tree, grid_user, category):
    a, b = events["a"], events["b"]
    street = api_for(users["street"])
    services.file_event(users["comm_a"], a)
    hazard = EventCategory.objects.exclude(pk=category.pk).first()
    c = services.report_event(users["comm_a"], category=hazard, source=EventSource.HOTLINE,
                              compound=places["wjy"], building=places["wjy1"],
                              description="1号楼电动车楼道充电")
    get = lambda **params: ids(street.get(f"{API}/events/", params))  # noqa: E731
    assert get(status="filed") == {a.pk}
    assert get(status=["filed", "reported"]) == {a.pk, b.pk, c.pk}
    assert get(category=hazard.code) == {c.pk}
    assert get(category=str(hazard.pk)) == {c.pk}
    assert get(category="no-such-code") == set()
    assert get(source="hotline_12345") == {c.pk}
    assert get(source=["hotline_12345", "resident"]) == {a.pk, b.pk, c.pk}
    assert get(compound=places["hgd"].pk) == {b.pk}
    assert get(ancestor=tree["a"].pk) == {a.pk, c.pk}
    assert get(ancestor=tree["b"].pk) == {b.pk}
    assert ids(api_for(users["comm_a"]).get(f"{API}/events/", {"ancestor": tree["b"].pk})) == set()
    assert get(search=a.case_number) == {a.pk}
    assert get(search=b.tracking_code) == {b.pk}
    assert get(search="电动车") == {c.pk}
    # Overdue: open and past the step's deadline.
    GridEvent.objects.filter(pk=b.pk).update(due_at=timezone.now() - dt.timedelta(hours=1))
    assert get(overdue="true") == {b.pk}
    assert get(overdue="false") == {a.pk, c.pk}
    # Escalated and duplicates.
    services.escalate(users["comm_a"], c, to_unit=tree["a"], note="需要社区协调")
    assert get(escalated="true") == {c.pk}
    services.link_duplicate(users["street"], b, a)
    assert get(duplicate="true") == {b.pk}
    assert get(duplicate="false") == {a.pk, c.pk}
    # Ordering.
    rows = street.get(f"{API}/events/", {"ordering": "reported_at"}).json()["results"]
    assert [row["id"] for row in rows] == [a.pk, b.pk, c.pk]
    # Bad values are a 400 naming the parameter, never a 500.
    for params, key in (({"status": "lost"}, "status"),
                        ({"reported_after": "yesterday"}, "reported_after"),
                        ({"ancestor": "x"}, "ancestor"), ({"compound": "-1"}, "compound"),
                        ({"category": "9" * 30}, "category")):
        response = street.get(f"{API}/events/", params)
        assert response.status_code == 400 and key in response.json(), params


def test_date_filters_use_local_dates(open_event, users, api_for):
    # 00:30 in Shanghai on 2 March is still 1 March in UTC.
    early = open_event(at=dt.datetime(2026, 3, 2, 0, 30, tzinfo=SHANGHAI))
    late = open_event(at=dt.datetime(2026, 3, 1, 23, 30, tzinfo=SHANGHAI))
    client = api_for(users["comm_a"])
    get = lambda **params: ids(client.get(f"{API}/events/", params))  # noqa: E731
    assert get(reported_after="2026-03-02") == {early.pk}
    assert get(reported_before="2026-03-01") == {late.pk}
    assert get(reported_after="2026-03-01", reported_before="2026-03-01") == {late.pk}
    assert get(reported_after="2026-03-01", reported_before="2026-03-02") == {early.pk, late.pk}
    assert get(reported_after="2026-03-03") == set()


def test_list_runs_a_fixed_number_of_queries(open_event, users, grid_user, api_for, places):
    worker = fresh(grid_user)

    def count(n):
        while GridEvent.objects.count() < n:
            event = open_event(reporter_name="王", reporter_phone="13900001111")
            services.file_event(users["comm_a"], event)
            services.assign_event(users["comm_a"], event, worker)
        client = api_for(fresh(users["comm_a"]))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{API}/events/")
        assert response.status_code == 200 and response.json()["count"] == n
        return len(queries)

    # Scope, the role's permissions (user and group), the user's departments, the count, the page
    # and one query for each related table that is set on the page (here only the handlers).
    assert count(3) == count(25) == 7


# ---- reporting -------------------------------------------------------------------------------


def test_report_an_event(users, api_for, places, category):
    body = {
        "category": category.pk, "source": "hotline_12345", "compound": places["wjy"].pk,
        "building": places["wjy1"].pk, "description": "楼道灯坏了", "location": "1单元",
        "latitude": "37.870000", "longitude": "112.550000",
        "reporter_name": "赵先生", "reporter_phone": "13700001234",
    }
    response = api_for(users["comm_a"]).post(f"{API}/events/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "reported" and data["building"]["id"] == places["wjy1"].pk
    assert data["allowed_actions"]
    event = GridEvent.objects.get(pk=data["id"])
    assert event.reporter_user == users["comm_a"] and event.source == EventSource.HOTLINE
    assert event.logs.get().action == "report"


def test_reporting_needs_the_permission_and_a_compound_in_scope(
    users, api_for, places, category
):
    body = {"category": category.pk, "source": "patrol", "compound": places["wjy"].pk,
            "description": "井盖缺失"}
    assert api_for(users["auditor"]).post(f"{API}/events/", body, format="json").status_code == 403
    assert api_for(users["nobody"]).post(f"{API}/events/", body, format="json").status_code == 403
    client = api_for(users["comm_a"])
    cases = [
        ({"compound": places["hgd"].pk}, "compound"),
        ({"compound": None}, "compound"),
        ({"building": places["wjy1"].pk, "compound": places["jzhf"].pk}, "compound"),
        ({"category": 10**30}, "category"),
        ({"source": "rumour"}, "source"),
        ({"description": ""}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"reporter_phone": "call me"}, "reporter_phone"),
        ({"latitude": "91"}, "latitude"),
        ({"latitude": "37.8"}, "latitude"),
    ]
    other = EventCategory.objects.exclude(pk=category.pk).first()
    other.is_active = False
    other.save()
    cases.append(({"category": other.pk}, "category"))
    for change, key in cases:
        response = client.post(f"{API}/events/", {**body, **change}, format="json")
        assert response.status_code == 400 and key in response.json(), (change, response.json())
    # A building of another compound in scope.
    other_building = Building.objects.create(compound=places["hgd"], number="9号楼")
    response = api_for(users["street"]).post(
        f"{API}/events/", {**body, "building": other_building.pk}, format="json"
    )
    assert response.status_code == 400 and "building" in response.json()
    assert not GridEvent.objects.exists()


def test_events_are_never_edited_or_deleted(events, users, api_for):
    client = api_for(users["admin"])
    a = events["a"]
    assert client.put(url(a), {"description": "x"}, format="json").status_code == 405
    assert client.patch(url(a), {"description": "x"}, format="json").status_code == 405
    assert client.delete(url(a)).status_code == 405
    assert client.post(f"{API}/event-logs/", {}, format="json").status_code == 405
    assert GridEvent.objects.get(pk=a.pk).description == a.description


# ---- the steps -------------------------------------------------------------------------------


def test_every_step_through_the_api(events, users, grid_user, api_for):
    a = events["a"]
    staff, worker = api_for(users["comm_a"]), api_for(grid_user)

    def step(client, name, body=None, expect=200):
        response = client.post(url(a, name), body or {}, format="json")
        assert response.status_code == expect, (name, response.content)
        return response.json()

    data = step(staff, "file", {"note": "立案"})
    assert data["status"] == "filed" and data["case_number"].startswith("SJ")
    data = step(staff, "assign", {"handler": grid_user.pk})
    assert data["status"] == "assigned" and data["handler"]["id"] == grid_user.pk
    assert data["handler"]["username"] == grid_user.username
    assert step(worker, "start")["status"] == "in_progress"
    data = step(worker, "feedback", {"result": "已清理杂物", "note": "附照片"})
    assert data["status"] == "feedback" and data["result"] == "已清理杂物"
    assert step(staff, "send-back", {"note": "仍有纸箱"})["status"] == "in_progress"
    assert step(worker, "feedback", {"result": "全部清走"})["status"] == "feedback"
    data = step(staff, "close")
    assert data["status"] == "closed" and data["closed_at"] and data["handling_seconds"] >= 0
    logs = staff.get(url(a, "logs")).json()
    assert [row["action"] for row in logs] == [
        "report", "file", "assign", "start", "feedback", "send_back", "feedback", "close",
    ]
    assert logs[0]["actor"] is None and logs[0]["actor_label"]
    assert logs[1]["actor"] == users["comm_a"].username and logs[1]["note"] == "立案"
    assert logs[1]["from_status"] == "reported" and logs[1]["to_status"] == "filed"
    assert logs[1]["event"] == a.pk


def test_illegal_and_forbidden_steps(events, users, grid_user, api_for, tree, department):
    a, b = events["a"], events["b"]
    staff, worker = api_for(users["comm_a"]), api_for(grid_user)

    def post(client, step, body=None, event=a):
        return client.post(url(event, step), body or {}, format="json")

    # Illegal from the current status: 400 with a message; nothing logged.
    response = post(staff, "close")
    assert response.status_code == 400 and response.json()["detail"]
    assert post(staff, "start").status_code == 400
    # A grid worker may not file; an auditor may take no step at all.
    assert post(worker, "file").status_code == 403
    assert post(api_for(users["auditor"]), "file").status_code == 403
    assert a.logs.count() == 1
    assert post(staff, "file").status_code == 200
    # Handlers: unknown, out of range, not a number, out of scope.
    for value, expect in ((999999, 400), (2**70, 400), ("x", 400), (None, 400)):
        response = post(staff, "assign", {"handler": value})
        assert response.status_code == expect and "handler" in response.json(), value
    response = post(staff, "assign", {"handler": users["comm_b"].pk})
    assert response.status_code == 400 and "handler" in response.json()
    assert post(staff, "assign", {"handler": grid_user.pk}).status_code == 200
    # Only the handler (or a filer) starts it.
    other_worker = api_for(users["secretary"])
    assert post(staff, "feedback", {"result": "x"}).status_code == 400
    assert post(worker, "start").status_code == 200
    response = post(worker, "feedback", {"result": ""})
    assert response.status_code == 400 and "result" in response.json()
    assert post(worker, "feedback", {"result": "已处理"}).status_code == 200
    response = post(staff, "send-back", {"note": " "})
    assert response.status_code == 400 and "note" in response.json()
    assert post(other_worker, "close").status_code == 200  # the branch secretary files too
    # Escalation: both targets, neither, unknown, not above the event.
    response = post(staff, "escalate", {"note": "x", "to_unit": tree["a"].pk,
                                        "department": department.pk}, event=b)
    assert response.status_code == 404  # B is not comm_a's
    b_staff = api_for(users["comm_b"])
    response = post(b_staff, "escalate", {"note": "x", "to_unit": tree["b"].pk,
                                          "department": department.pk}, event=b)
    assert response.status_code == 400
    assert post(b_staff, "escalate", {"note": "x"}, event=b).status_code == 400
    response = post(b_staff, "escalate", {"note": "x", "to_unit": 999999}, event=b)
    assert response.status_code == 400 and "to_unit" in response.json()
    response = post(b_staff, "escalate", {"note": "x", "department": 999999}, event=b)
    assert response.status_code == 400 and "department" in response.json()
    response = post(b_staff, "escalate", {"note": "x", "to_unit": tree["a"].pk}, event=b)
    assert response.status_code == 400 and "to_unit" in response.json()
    response = post(b_staff, "escalate", {"note": "", "to_unit": tree["b"].pk}, event=b)
    assert response.status_code == 400 and "note" in response.json()
    response = post(b_staff, "escalate", {"note": "需要街道协调", "to_unit": tree["s1"].pk},
                    event=b)
    assert response.status_code == 200 and response.json()["escalated_to"]["id"] == tree["s1"].pk
    assert response.json()["was_escalated"] is True
    # Nobody to acknowledge for: 400.
    assert post(b_staff, "acknowledge", event=b).status_code == 400
    # Duplicates: unknown, out of scope, itself, a closed event cannot be linked.
    response = post(b_staff, "duplicate", {"original": 999999}, event=b)
    assert response.status_code == 400 and "original" in response.json()
    response = post(b_staff, "duplicate", {"original": a.pk}, event=b)
    assert response.status_code == 400 and "original" in response.json()
    response = post(b_staff, "duplicate", {"original": b.pk}, event=b)
    assert response.status_code == 400 and "original" in response.json()
    street = api_for(users["street"])
    assert post(street, "duplicate", {"original": b.pk}, event=a).status_code == 400
    response = post(street, "duplicate", {"original": a.pk, "note": "同一问题"}, event=b)
    assert response.status_code == 200, response.content
    assert response.json()["duplicate_of"] == a.pk and response.json()["status"] == "closed"
    # Bad bodies.
    assert post(street, "file", {"note": "x" * 2001}, event=a).status_code == 400


# ---- the log, categories, departments --------------------------------------------------------


def test_event_log_is_scoped(events, users, api_for):
    a, b = events["a"], events["b"]
    services.file_event(users["comm_b"], b)
    rows = api_for(users["comm_a"]).get(f"{API}/event-logs/").json()["results"]
    assert {row["event"] for row in rows} == {a.pk}
    rows = api_for(users["street"]).get(f"{API}/event-logs/", {"event": b.pk}).json()["results"]
    assert [row["action"] for row in rows] == ["file", "report"]
    response = api_for(users["street"]).get(f"{API}/event-logs/", {"action": "file"})
    assert {row["event"] for row in response.json()["results"]} == {b.pk}
    assert ids(api_for(users["comm_a"]).get(f"{API}/event-logs/", {"event": b.pk})) == set()
    assert api_for(users["nobody"]).get(f"{API}/event-logs/").status_code == 403


def test_event_categories_are_read_only_reference_data(users, grid_user, api_for, category):
    client = api_for(grid_user)
    rows = client.get(f"{API}/event-categories/").json()["results"]
    assert category.code in {row["code"] for row in rows}
    row = client.get(f"{API}/event-categories/{category.pk}/").json()
    assert row["total_hours"] == category.total_hours
    assert client.post(f"{API}/event-categories/", {}, format="json").status_code in (403, 405)
    assert api_for(users["admin"]).delete(
        f"{API}/event-categories/{category.pk}/").status_code == 405
    assert api_for(users["nobody"]).get(f"{API}/event-categories/").status_code == 403


def test_departments_are_scoped_and_managed_by_the_street(
    events, users, grid_user, tree, api_for, department
):
    department.contact_phone = "13512345678"
    department.save()
    street = api_for(users["street"])
    assert ids(street.get(f"{API}/departments/")) == {department.pk}
    assert ids(api_for(users["comm_a"]).get(f"{API}/departments/")) == set()
    row = street.get(f"{API}/departments/{department.pk}/").json()
    assert row["contact_phone"] == "13512345678"
    assert row["staff"] == [department.staff_user.pk]
    response = street.post(f"{API}/departments/", {
        "name": "市场监管所", "org_unit": tree["s1"].pk, "staff": [grid_user.pk],
    }, format="json")
    assert response.status_code == 201, response.content
    new = Department.objects.get(pk=response.json()["id"])
    assert list(new.staff.all()) == [grid_user]
    response = street.post(f"{API}/departments/", {"name": "越界科", "org_unit": tree["s2"].pk},
                           format="json")
    assert response.status_code == 400 and "org_unit" in response.json()
    response = street.post(f"{API}/departments/", {"name": "市场监管所",
                                                   "org_unit": tree["s1"].pk}, format="json")
    assert response.status_code == 400
    response = api_for(users["comm_a"]).post(
        f"{API}/departments/", {"name": "x", "org_unit": tree["a"].pk}, format="json"
    )
    assert response.status_code == 403
    # Called for an event: it stays on record.
    services.escalate(users["comm_a"], events["a"], department=department, note="x")
    assert street.delete(f"{API}/departments/{department.pk}/").status_code == 409
    assert street.delete(f"{API}/departments/{new.pk}/").status_code == 204


def test_department_phone_is_masked_without_the_permission(users, tree, api_for, department):
    department.contact_phone = "13512345678"
    department.save()
    worker = _user("grid_s1", StaffRole.GRID_WORKER, tree["s1"])
    row = api_for(worker).get(f"{API}/departments/{department.pk}/").json()
    assert row["contact_phone"] == "135****5678"


# ---- patrols and visits ----------------------------------------------------------------------


@pytest.fixture
def patrols(places, tree):
    rows = {}
    for key, compound, unit in (("a", places["wjy"], tree["a2"]), ("b", places["hgd"], tree["b1"])):
        person = Person.objects.create(org_unit=unit, name=f"网格员{key}", phone="13800000000")
        worker = GridWorker.objects.create(person=person, kind=GridWorkerKind.FULL_TIME,
                                           org_unit=unit)
        point = PatrolPoint.objects.create(compound=compound, name="消防通道")
        household = Household.objects.create(compound=compound, room="101")
        rows[key] = {
            "worker": worker, "point": point, "household": household,
            "checkin": PatrolCheckin.objects.create(
                point=point, worker=worker, note="畅通",
                at=dt.datetime(2026, 5, 1, 0, 30, tzinfo=SHANGHAI),
            ),
            "visit": HouseholdVisit.objects.create(
                household=household, worker=worker, visited_on=dt.date(2026, 5, 1),
                findings="独居老人身体良好",
            ),
        }
    return rows


def test_patrols_and_visits_are_scoped_read_only_lists(patrols, users, api_for, places):
    a, b = patrols["a"], patrols["b"]
    client = api_for(users["comm_a"])
    for path, key in (("patrol-points", "point"), ("patrol-checkins", "checkin"),
                      ("household-visits", "visit")):
        assert ids(client.get(f"{API}/{path}/")) == {a[key].pk}, path
        assert ids(api_for(users["street"]).get(f"{API}/{path}/")) == {a[key].pk, b[key].pk}
        assert client.get(f"{API}/{path}/{b[key].pk}/").status_code == 404
        assert client.post(f"{API}/{path}/", {}, format="json").status_code in (403, 405)
        assert api_for(users["admin"]).delete(
            f"{API}/{path}/{a[key].pk}/").status_code == 405
        assert api_for(users["nobody"]).get(f"{API}/{path}/").status_code == 403
    street = api_for(users["street"])
    for path, key in (("patrol-checkins", "checkin"), ("household-visits", "visit")):
        get = lambda **params: ids(street.get(f"{API}/{path}/", params))  # noqa: E731
        assert get(compound=places["hgd"].pk) == {b[key].pk}
        assert get(worker=a["worker"].pk) == {a[key].pk}
        assert get(after="2026-05-01", before="2026-05-01") == {a[key].pk, b[key].pk}
        assert get(after="2026-05-02") == set()
        assert get(before="2026-04-30") == set()
        assert street.get(f"{API}/{path}/", {"after": "May"}).status_code == 400
    row = street.get(f"{API}/patrol-checkins/{a['checkin'].pk}/").json()
    assert row["compound_name"] == "文锦苑" and row["worker_name"] == "网格员a"


def test_the_fast_list_rendering_matches_drf(open_event, users, grid_user, department, places,
                                             tree, rf):
    """EventSerializer builds its output by hand for speed; it must equal DRF's own rendering,
    with every reference set and with none."""
    from rest_framework import serializers as drf
    from rest_framework.request import Request

    from grids.api.events import EventDetailSerializer, EventSerializer

    worker = fresh(grid_user)
    full = open_event(building=places["wjy1"], reporter_name="王", reporter_phone="13900001111",
                      latitude="37.870000", longitude="112.550000", location="1单元")
    services.file_event(users["comm_a"], full)
    services.assign_event(users["comm_a"], full, worker)
    services.escalate(worker, full, to_unit=tree["a"], note="需社区协调")
    services.escalate(worker, full, department=department, note="需执法")
    dup = open_event()
    services.link_duplicate(users["comm_a"], dup, full)
    bare = open_event()
    request = Request(rf.get("/api/v1/events/"))
    request.user = users["comm_a"]
    for event in GridEvent.objects.filter(pk__in=[full.pk, dup.pk, bare.pk]):
        for cls in (EventSerializer, EventDetailSerializer):
            serializer = cls(context={"request": request})
            fast = serializer.to_representation(event)
            slow = drf.ModelSerializer.to_representation(cls(context={"request": request}), event)
            assert fast == dict(slow), (cls.__name__, event.pk)
