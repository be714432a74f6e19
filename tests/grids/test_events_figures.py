"""Event, patrol and visit figures through the stats endpoint: a scenario with known numbers
(events in every step, escalated, late, reopened, duplicates, hotline calls this year and last,
check-ins and visits, inside and outside the subtree and the period) and a fixed number of
queries."""

import datetime as dt

import pytest
from django.utils import timezone

from grids.figures.events import shifted_year_back, year_before
from grids.models import (
    EventCategory,
    EventSource,
    EventStatus,
    GridWorkerKind,
    Household,
    HouseholdVisit,
    PatrolCheckin,
    PatrolPoint,
)
from grids.services import events as services
from grids.services import gridding
from party_org.models import Person
from party_org.selectors import Subtree
from party_org.statistics import Period, registry

pytestmark = pytest.mark.django_db

S = EventStatus
SRC = EventSource
MARCH = {"from": "2025-03-01", "to": "2025-03-31"}
ONLY = ["events", "patrols"]


def at(year, month, day, hour=9, minute=0):
    return timezone.make_aware(dt.datetime(year, month, day, hour, minute))


def cat(code):
    return EventCategory.objects.get(code=code)


class Scene:
    """Opens events and walks them through the loop at given times."""

    def __init__(self, places, users, grid_user, department):
        self.places, self.users, self.grid_user = places, users, grid_user
        self.department = department
        self.staff = {"wjy": users["comm_a"], "hgd": users["comm_b"], "jzhf": users["admin"]}
        self.handler = {"wjy": grid_user, "hgd": users["comm_b"], "jzhf": users["admin"]}

    def report(self, where, code, source, when):
        return services.report_event(
            None, category=cat(code) if isinstance(code, str) else code, source=source,
            compound=self.places[where], description=f"{where} {code} {when:%m-%d}", at=when,
        )

    def walk(self, event, where, to, start, end=None):
        """Steps an hour apart from `start`; the last step (feedback → close) lands on `end`."""
        staff, handler = self.staff[where], self.handler[where]
        hour = dt.timedelta(hours=1)
        steps = [
            (S.FILED, lambda t: services.file_event(staff, event, at=t)),
            (S.ASSIGNED, lambda t: services.assign_event(staff, event, handler, at=t)),
            (S.IN_PROGRESS, lambda t: services.start_event(handler, event, at=t)),
            (S.FEEDBACK, lambda t: services.report_result(handler, event, "已处理", at=t)),
            (S.CLOSED, lambda t: services.close_event(staff, event, at=t)),
        ]
        order = [S.REPORTED, *(status for status, _step in steps)]
        when = start
        for status, step in steps:
            if event.status == to:
                break
            if order.index(status) <= order.index(event.status):
                continue
            if status == S.FEEDBACK and end is not None:
                when = end - hour
            elif status == S.CLOSED and end is not None:
                when = end
            else:
                when = when + hour
            step(when)
        return event

    def closed(self, where, code, source, reported, closed, escalate=None):
        event = self.report(where, code, source, reported)
        if escalate is not None:
            self.walk(event, where, S.IN_PROGRESS, reported)
            escalate(event, reported + dt.timedelta(hours=4))
        return self.walk(event, where, S.CLOSED, reported + dt.timedelta(hours=4), closed)


@pytest.fixture
def scene(places, users, grid_user, department, tree):
    sc = Scene(places, users, grid_user, department)
    h = dt.timedelta(hours=1)
    # In street S1, reported in March 2025 ------------------------------------------------------
    # Closed in March: 24 h, on time, in the grid.
    e1 = sc.closed("wjy", "environment", SRC.RESIDENT, at(2025, 3, 2), at(2025, 3, 3))
    # 240 h, late (safety hazards have 60 h), escalated to the community.
    sc.closed(
        "wjy", "safety_hazard", SRC.PATROL, at(2025, 3, 5, 10), at(2025, 3, 15, 10),
        escalate=lambda e, t: services.escalate(sc.grid_user, e, to_unit=tree["a"],
                                                note="需社区协调", at=t),
    )
    # 12 h, on time.
    sc.closed("hgd", "public_order", SRC.HOTLINE, at(2025, 3, 10, 8), at(2025, 3, 10, 20))
    # 72 h, on time, called to a department which reported.
    def call_department(event, t):
        services.escalate(sc.grid_user, event, department=department, note="需执法", at=t)
        services.acknowledge(department.staff_user, event, at=t + h)

    sc.closed("wjy", "property_dispute", SRC.HOTLINE, at(2025, 3, 6), at(2025, 3, 9),
              escalate=call_department)
    # Closed after 24 h, rated 1 star (reopened), closed again: 96 h from report.
    e13 = sc.closed("wjy", "environment", SRC.RESIDENT, at(2025, 3, 7), at(2025, 3, 8))
    services.rate_event(None, e13, 1, "没解决", at=at(2025, 3, 9))
    assert e13.status == S.IN_PROGRESS
    services.report_result(sc.grid_user, e13, "已彻底清理", at=at(2025, 3, 11, 8))
    services.close_event(sc.staff["wjy"], e13, at=at(2025, 3, 11, 9))
    services.rate_event(None, e13, 5, at=at(2025, 3, 12))
    # Open at each step, all overdue now.
    sc.walk(sc.report("wjy", "facility_repair", SRC.HOTLINE, at(2025, 3, 12)), "wjy",
            S.IN_PROGRESS, at(2025, 3, 12))
    sc.walk(sc.report("hgd", "neighbour_dispute", SRC.VISIT, at(2025, 3, 20)), "hgd",
            S.FILED, at(2025, 3, 20))
    sc.report("wjy", "other", SRC.PARTY_MEMBER, at(2025, 3, 25))
    sc.walk(sc.report("wjy", "environment", SRC.OTHER, at(2025, 3, 28)), "wjy",
            S.FEEDBACK, at(2025, 3, 28))
    sc.walk(sc.report("wjy", "environment", SRC.RESIDENT, at(2025, 3, 30)), "wjy",
            S.ASSIGNED, at(2025, 3, 30))
    # A locally added category, reported in March, closed in April.
    noise = EventCategory.objects.create(code="noise", name="噪音扰民")
    sc.closed("wjy", noise, SRC.RESIDENT, at(2025, 3, 18), at(2025, 4, 2))
    # A duplicate of e1 (left out everywhere, though closed in March).
    dup = sc.report("wjy", "environment", SRC.HOTLINE, at(2025, 3, 2, 10))
    services.link_duplicate(sc.staff["wjy"], dup, e1, at=at(2025, 3, 2, 11))
    # Reported in February, closed in March after 288 h: late, escalated to the street.
    sc.closed(
        "wjy", "environment", SRC.RESIDENT, at(2025, 2, 20), at(2025, 3, 4),
        escalate=lambda e, t: services.escalate(sc.grid_user, e, to_unit=tree["s1"],
                                                note="需街道协调", at=t),
    )
    # Reported and closed in February, or reported on 1 April local time: outside the period.
    sc.closed("wjy", "environment", SRC.HOTLINE, at(2025, 2, 3), at(2025, 2, 4))
    sc.report("hgd", "environment", SRC.HOTLINE, at(2025, 4, 1, 0, 10))
    # Reported just now: open but not overdue.
    services.report_event(None, category=cat("environment"), source=SRC.RESIDENT,
                          compound=places["wjy"], description="刚刚上报")
    # Hotline calls a year before: two in March 2024, one duplicate, one in February.
    first = sc.closed("wjy", "environment", SRC.HOTLINE, at(2024, 3, 1, 0, 5),
                      at(2024, 3, 2))
    sc.closed("hgd", "public_order", SRC.HOTLINE, at(2024, 3, 31, 23, 50), at(2024, 4, 2))
    dup_before = sc.report("wjy", "environment", SRC.HOTLINE, at(2024, 3, 5))
    services.link_duplicate(sc.staff["wjy"], dup_before, first, at=at(2024, 3, 5, 10))
    sc.closed("wjy", "environment", SRC.HOTLINE, at(2024, 2, 29, 23), at(2024, 3, 1))
    # Street S2 (outside S1): a hotline call closed in March and an overdue open event.
    sc.closed("jzhf", "environment", SRC.HOTLINE, at(2025, 3, 3), at(2025, 3, 4))
    sc.report("jzhf", "safety_hazard", SRC.RESIDENT, at(2025, 3, 3))
    sc.closed("jzhf", "environment", SRC.HOTLINE, at(2024, 3, 3), at(2024, 3, 4))

    # Patrols and visits ----------------------------------------------------------------------
    workers = {}
    for key, unit in (("a", tree["a"]), ("b", tree["b"]), ("c", tree["c"])):
        person = Person.objects.create(org_unit=unit, name=f"网格员{key}", phone="13800000000")
        workers[key] = gridding.register_worker(None, person, GridWorkerKind.FULL_TIME, unit)
    points = {
        key: PatrolPoint.objects.create(compound=places[key], name="消防通道")
        for key in ("wjy", "hgd", "jzhf")
    }
    checkins = [
        ("wjy", "a", at(2025, 3, 1, 0, 5)), ("wjy", "a", at(2025, 3, 15)),
        ("hgd", "b", at(2025, 3, 20)), ("wjy", "a", at(2025, 3, 31, 23, 30)),  # 4 in March
        ("wjy", "a", at(2025, 2, 28, 23, 55)), ("wjy", "a", at(2025, 4, 1, 0, 10)),
        ("jzhf", "c", at(2025, 3, 10)),
    ]
    for point, worker, when in checkins:
        PatrolCheckin.objects.create(point=points[point], worker=workers[worker], at=when)
    homes = {
        key: Household.objects.create(compound=places[key], room="101")
        for key in ("wjy", "hgd", "jzhf")
    }
    visits = [
        ("wjy", "a", dt.date(2025, 3, 1)), ("hgd", "b", dt.date(2025, 3, 31)),  # 2 in March
        ("wjy", "a", dt.date(2025, 2, 28)), ("wjy", "a", dt.date(2025, 4, 1)),
        ("jzhf", "c", dt.date(2025, 3, 5)),
    ]
    for home, worker, day in visits:
        HouseholdVisit.objects.create(household=homes[home], worker=workers[worker],
                                      visited_on=day)
    return sc


def stats(client, node, params=MARCH, figures="events,patrols"):
    response = client.get(f"/api/v1/org-units/{node.pk}/stats/", {**params, "figures": figures})
    assert response.status_code == 200, response.content
    return {row["name"]: row for row in response.json()["figures"]}


def values(rows):
    return {name: row["value"] for name, row in rows.items()}


def test_street_figures_for_march(scene, tree, users, api_for):
    rows = stats(api_for(users["street"]), tree["s1"])
    got = values(rows)
    assert got["events.reported"] == 11
    assert {s: got[f"events.status.{s}"] for s in S.values} == {
        "reported": 1, "filed": 1, "assigned": 1, "in_progress": 1, "feedback": 1, "closed": 6,
    }
    assert {c: got[f"events.category.{c}"] for c in (
        "environment", "safety_hazard", "property_dispute", "neighbour_dispute",
        "facility_repair", "public_order", "other", "added")} == {
        "environment": 4, "safety_hazard": 1, "property_dispute": 1, "neighbour_dispute": 1,
        "facility_repair": 1, "public_order": 1, "other": 1, "added": 1,
    }
    assert {s: got[f"events.source.{s}"] for s in SRC.values} == {
        "patrol": 1, "resident": 4, "hotline_12345": 3, "household_visit": 1,
        "party_member": 1, "other": 1,
    }
    closure = rows["events.closure_rate"]
    assert (closure["numerator"], closure["denominator"], closure["value"]) == (6, 11, 0.5455)
    assert got["events.closed"] == 6
    on_time = rows["events.on_time_rate"]
    assert (on_time["numerator"], on_time["denominator"]) == (4, 6)
    in_grid = rows["events.resolved_in_grid"]
    assert (in_grid["numerator"], in_grid["denominator"], in_grid["value"]) == (3, 6, 0.5)
    # 12, 24, 72, 96, 240, 288 hours: the mean of the middle two.
    assert got["events.median_handling_hours"] == 84.0
    assert got["events.overdue"] == 6
    assert got["events.hotline.count"] == 3
    assert got["events.hotline.year_before"] == 2
    change = rows["events.hotline.change"]
    assert (change["numerator"], change["denominator"], change["value"]) == (1, 2, 0.5)
    assert rows["events.hotline.change"]["unit"] == "%"
    assert got["patrols.checkins"] == 4
    assert got["patrols.household_visits"] == 2


def test_other_subtrees_and_periods(scene, tree, users, api_for):
    admin = api_for(users["admin"])
    b = values(stats(admin, tree["b"]))
    assert (b["events.reported"], b["events.closed"], b["events.overdue"]) == (2, 1, 2)
    assert b["events.median_handling_hours"] == 12.0
    assert (b["events.hotline.count"], b["events.hotline.year_before"]) == (1, 1)
    assert b["events.hotline.change"] == 0.0
    assert (b["patrols.checkins"], b["patrols.household_visits"]) == (1, 1)
    district = values(stats(admin, tree["district"]))
    assert district["events.reported"] == 13 and district["events.closed"] == 7
    assert district["events.overdue"] == 7
    assert (district["events.hotline.count"], district["events.hotline.year_before"]) == (4, 3)
    assert (district["patrols.checkins"], district["patrols.household_visits"]) == (5, 3)
    assert values(stats(admin, tree["c"]))["events.hotline.change"] == 0.0
    # No hotline calls a year before: no rate of change.
    a1 = stats(admin, tree["a1"])
    assert a1["events.hotline.change"]["value"] is None
    assert a1["events.hotline.change"]["denominator"] == 0
    # A month with no events at all: counts 0, rates and the median empty.
    empty = values(stats(admin, tree["s1"], {"month": "2023-06"}))
    assert empty["events.reported"] == 0 and empty["events.closure_rate"] is None
    assert empty["events.median_handling_hours"] is None and empty["events.on_time_rate"] is None
    assert empty["events.overdue"] == 6  # overdue is "now", whatever the period
    # Since the beginning, up to the end of March 2025 (and of March 2024 for the year before).
    upto = values(stats(admin, tree["s1"], {"to": "2025-03-31"}))
    assert upto["events.reported"] == 11 + 2 + 3  # March, February 2025, 2024's calls
    # 12, 24, 72, 96, 240, 288 h (March), 24 h (February), 10 h, 32 h 55 min, 33 h 10 min
    # (2024): the middle two are 32 h 55 min and 33 h 10 min.
    assert upto["events.closed"] == 10
    assert upto["events.median_handling_hours"] == 33.04
    assert upto["events.hotline.count"] == 7
    assert upto["events.hotline.year_before"] == 3


def test_the_year_before_on_29_february(places, users, api_for, tree, open_event):
    assert year_before(dt.date(2024, 2, 29)) == dt.date(2023, 2, 28)
    assert year_before(dt.date(2025, 3, 1)) == dt.date(2024, 3, 1)
    assert year_before(None) is None
    assert shifted_year_back(Period(dt.date(2024, 2, 1), dt.date(2024, 2, 29))) == Period(
        dt.date(2023, 2, 1), dt.date(2023, 2, 28))
    for when in (at(2023, 2, 28, 23, 30), at(2023, 2, 1, 0, 1), at(2023, 3, 1, 0, 30),
                 at(2024, 2, 29, 12)):
        open_event(source=SRC.HOTLINE, at=when)
    got = values(stats(api_for(users["admin"]), tree["a"], {"month": "2024-02"}))
    assert (got["events.hotline.count"], got["events.hotline.year_before"]) == (1, 2)
    assert got["events.hotline.change"] == -0.5


def test_scoping_and_bad_periods(scene, tree, users, api_for):
    client = api_for(users["comm_b"])
    assert client.get(f"/api/v1/org-units/{tree['a'].pk}/stats/").status_code == 404
    bad = client.get(f"/api/v1/org-units/{tree['b'].pk}/stats/",
                     {"from": "2025-04-01", "to": "2025-03-01", "figures": "events"})
    assert bad.status_code == 400


def test_a_fixed_number_of_queries(scene, tree, django_assert_num_queries):
    period = Period(dt.date(2025, 3, 1), dt.date(2025, 3, 31))
    # Events: the conditional aggregate and the median; patrols: check-ins and visits.
    for node in (tree["district"], tree["s1"], tree["c"], tree["a2h"]):
        with django_assert_num_queries(4):
            registry.compute(Subtree.of(node), period, only=ONLY)
    with django_assert_num_queries(4):
        registry.compute(Subtree.of(tree["district"]), Period(None, dt.date.today()), only=ONLY)
