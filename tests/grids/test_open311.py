"""Open311 GeoReport v2: services and requests shapes, the steps in status_notes, the query
parameters (ids, codes, status, the 90-day window), one request by id, errors in the
specification's form, scoping and no anonymous access."""

import datetime as dt
import zoneinfo

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from grids.models import EventCategory, GridEvent
from grids.services import events as services
from tests.grids.test_events_loop import walk

pytestmark = pytest.mark.django_db

BASE = "/api/v1/open311/v2"
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def requests(client, **params):
    response = client.get(f"{BASE}/requests.json", params)
    assert response.status_code == 200, response.content
    return response.json()


def request_ids(client, **params):
    return {row["service_request_id"] for row in requests(client, **params)}


def test_services_are_the_active_categories(users, api_for, category):
    hidden = EventCategory.objects.exclude(pk=category.pk).first()
    hidden.is_active = False
    hidden.save()
    response = api_for(users["comm_a"]).get(f"{BASE}/services.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    rows = response.json()
    codes = [row["service_code"] for row in rows]
    assert category.code in codes and hidden.code not in codes
    assert codes == list(EventCategory.objects.filter(is_active=True).values_list("code",
                                                                                  flat=True))
    row = rows[codes.index(category.code)]
    assert set(row) == {"service_code", "service_name", "description", "metadata", "type",
                        "keywords", "group"}
    assert row["service_name"] == category.name and row["metadata"] is False
    assert row["type"] == "realtime" and row["group"]


def test_a_request_with_the_steps_so_far(open_event, users, grid_user, api_for, places,
                                         category, department):
    at = dt.datetime(2026, 11, 1, 9, 0, tzinfo=SHANGHAI)
    event = open_event(at=at, location="3号楼东侧")
    services.file_event(users["comm_a"], event, at=at + dt.timedelta(hours=1))
    services.assign_event(users["comm_a"], event, grid_user, at=at + dt.timedelta(hours=2))
    client = api_for(users["comm_a"])
    params = {"start_date": "2026-10-01T00:00:00+08:00", "end_date": "2026-11-30T00:00:00+08:00"}
    [row] = requests(client, **params)
    assert set(row) == {
        "service_request_id", "status", "status_notes", "service_name", "service_code",
        "description", "agency_responsible", "requested_datetime", "updated_datetime",
        "expected_datetime", "address", "lat", "long",
    }
    assert row["service_request_id"] == GridEvent.objects.get(pk=event.pk).case_number
    assert row["status"] == "open"
    assert row["service_code"] == category.code and row["service_name"] == category.name
    assert row["description"] == event.description
    assert row["agency_responsible"] == places["wjy"].org_unit.name
    assert row["requested_datetime"] == "2026-11-01T09:00:00+08:00"
    assert row["updated_datetime"] == "2026-11-01T11:00:00+08:00"
    assert row["expected_datetime"] == timezone.localtime(event.final_due_at).replace(
        microsecond=0).isoformat()
    assert row["address"] == "文锦苑 3号楼东侧"
    assert row["lat"] is None and row["long"] is None
    notes = row["status_notes"]
    assert notes.count("2026-11-01") == 3
    assert notes.index("09:00") < notes.index("10:00") < notes.index("11:00")
    # Escalated to a department: the department answers for it; the compound's coordinates.
    places["wjy"].latitude, places["wjy"].longitude = 37.87, 112.55
    places["wjy"].save()
    services.escalate(grid_user, event, department=department, note="需要执法",
                      at=at + dt.timedelta(hours=3))
    [row] = requests(client, **params)
    assert row["agency_responsible"] == department.name
    assert (row["lat"], row["long"]) == (37.87, 112.55)
    # Closed: all six steps, and the status closed.
    services.start_event(grid_user, event)
    services.report_result(grid_user, event, "已清理")
    services.close_event(users["comm_a"], event)
    [row] = requests(client, **params)
    assert row["status"] == "closed"
    assert row["status_notes"].count("；") == 5 or row["status_notes"].count("; ") == 5


def test_query_parameters(open_event, users, api_for, places, grid_user):
    now = timezone.now()
    old = open_event(at=now - dt.timedelta(days=120))
    recent = open_event(at=now - dt.timedelta(days=3))
    closed = walk(open_event(at=now - dt.timedelta(days=1)), users["comm_a"], grid_user,
                  "closed")
    hazard = EventCategory.objects.get(code="safety_hazard")
    other = open_event(category=hazard, at=now - dt.timedelta(hours=5))
    number = lambda e: GridEvent.objects.get(pk=e.pk).case_number or e.tracking_code  # noqa: E731
    client = api_for(users["comm_a"])
    # The default window is the last 90 days.
    assert request_ids(client) == {number(recent), number(closed), number(other)}
    assert request_ids(client, status="open") == {number(recent), number(other)}
    assert request_ids(client, status="closed") == {number(closed)}
    assert request_ids(client, status="open,closed") == request_ids(client)
    assert request_ids(client, service_code=hazard.code) == {number(other)}
    assert request_ids(client, service_code=f"{hazard.code},{recent.category.code}") == (
        request_ids(client)
    )
    # An older window, given by its start: 90 days from there.
    start = timezone.localtime(now - dt.timedelta(days=121)).isoformat()
    assert request_ids(client, start_date=start) == {number(old)}
    end = timezone.localtime(now - dt.timedelta(days=2)).isoformat()
    assert request_ids(client, end_date=end) == {number(recent)}
    # Ids override every other parameter, the old one included; codes are case-blind.
    wanted = f"{number(old)},{recent.tracking_code.lower()},NOPE"
    assert request_ids(client, service_request_id=wanted, status="closed") == {
        number(old), number(recent)}
    # Bad parameters: the specification's error list, never a 500.
    for params in ({"status": "pending"}, {"start_date": "last week"},
                   {"end_date": "2026-13-45"},
                   {"start_date": "2026-01-01T00:00:00+08:00",
                    "end_date": "2026-06-01T00:00:00+08:00"},
                   {"start_date": "2026-06-01T00:00:00+08:00",
                    "end_date": "2026-05-01T00:00:00+08:00"}):
        response = client.get(f"{BASE}/requests.json", params)
        assert response.status_code == 400, params
        [error] = response.json()
        assert error["code"] == 400 and error["description"], params


def test_one_request_by_id(open_event, users, api_for, places):
    event = open_event()
    client = api_for(users["comm_a"])
    response = client.get(f"{BASE}/requests/{event.tracking_code}.json")
    assert response.status_code == 200
    [row] = response.json()
    assert row["service_request_id"] == event.tracking_code and row["status"] == "open"
    services.file_event(users["comm_a"], event)
    event.refresh_from_db()
    [row] = client.get(f"{BASE}/requests/{event.case_number}.json").json()
    assert row["service_request_id"] == event.case_number
    response = client.get(f"{BASE}/requests/NOSUCHCASE.json")
    assert response.status_code == 404
    assert response.json()[0]["code"] == 404
    # Another community's event does not exist for comm_b.
    response = api_for(users["comm_b"]).get(f"{BASE}/requests/{event.case_number}.json")
    assert response.status_code == 404


def test_requests_are_scoped(open_event, users, api_for, places, department):
    a = open_event()
    b = open_event(compound=places["hgd"])
    assert request_ids(api_for(users["comm_a"])) == {a.tracking_code}
    assert request_ids(api_for(users["comm_b"])) == {b.tracking_code}
    assert request_ids(api_for(users["street"])) == {a.tracking_code, b.tracking_code}
    assert request_ids(api_for(department.staff_user)) == set()
    services.escalate(users["comm_b"], b, department=department, note="需要执法")
    # A new request loads the user afresh (the department check is cached on the user).
    staff = api_for(get_user_model().objects.get(pk=department.staff_user.pk))
    assert request_ids(staff) == {b.tracking_code}


def test_only_staff_may_read(users, api_for, open_event):
    event = open_event()
    for path in ("services.json", "requests.json", f"requests/{event.tracking_code}.json"):
        response = APIClient().get(f"{BASE}/{path}")
        assert response.status_code in (401, 403), path
        assert response.json()[0]["code"] == response.status_code
        assert event.description not in response.content.decode()
        assert api_for(users["nobody"]).get(f"{BASE}/{path}").status_code == 403, path


def test_requests_run_a_fixed_number_of_queries(open_event, users, api_for):
    def count(n):
        while GridEvent.objects.count() < n:
            services.file_event(users["comm_a"], open_event())
        client = api_for(get_user_model().objects.get(pk=users["comm_a"].pk))
        with CaptureQueriesContext(connection) as queries:
            assert len(requests(client)) == n
        return len(queries)

    # The role's permissions (user and group), the scope, the user's departments, the events and
    # their logs.
    assert count(2) == count(12) == 6
