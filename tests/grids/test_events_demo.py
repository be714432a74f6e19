"""The demo year of grid events, patrols and visits (seed_demo): every status, category and
source; logs consistent with each event; handlers who may handle; idempotent."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from grids import demo_events
from grids.models import (
    Compound,
    Department,
    EventAction,
    EventCategory,
    EventSource,
    EventStatus,
    GridEvent,
    GridEventLog,
    HouseholdVisit,
    PatrolCheckin,
    PatrolPoint,
)
from grids.services import events as services
from party_org.models import OrgKind
from party_org.selectors import Subtree, in_scope

pytestmark = pytest.mark.django_db

A, S = EventAction, EventStatus


def _counts():
    return {
        model.__name__: model.objects.count()
        for model in (GridEvent, GridEventLog, Department, PatrolPoint, PatrolCheckin,
                      HouseholdVisit)
    }


@pytest.fixture
def demo_year(capsys):
    call_command("seed_demo")
    capsys.readouterr()
    return timezone.now()


def test_a_demo_year_through_the_loop(demo_year):
    now = demo_year
    events = list(GridEvent.objects.select_related("category", "org_unit", "handler",
                                                   "escalated_to", "department"))
    assert 150 <= len(events) <= 400
    assert {e.status for e in events} == set(S.values)
    assert {e.source for e in events} == set(EventSource.values)
    standard = set(EventCategory.objects.filter(events__isnull=False).values_list("code",
                                                                                  flat=True))
    assert standard >= set(demo_events.TEXTS)

    logs = {}
    for log in GridEventLog.objects.order_by("pk"):
        logs.setdefault(log.event_id, []).append(log)
    for event in events:
        entries = logs[event.pk]
        assert entries[0].action == A.REPORT and entries[0].at == event.reported_at
        times = [entry.at for entry in entries]
        assert times == sorted(times) and times[-1] <= now, event
        # The log ends where the event is (a rating that satisfied leaves the status as it was).
        assert entries[-1].to_status == event.status, event
        actions = [entry.action for entry in entries]
        if event.duplicate_of_id:
            assert event.status == S.CLOSED and actions[-1] == A.DUPLICATE
        elif event.status == S.CLOSED:
            closes = [entry for entry in entries if entry.action == A.CLOSE]
            assert closes and closes[-1].at == event.closed_at, event
            assert event.handling_seconds == int(
                (event.closed_at - event.reported_at).total_seconds())
            assert event.case_number
        if event.handler_id:
            # Every handler is a demo staff user who may handle the event.
            assert event.handler.has_perm(services.WORK_PERM)
            assert in_scope(event.handler, event.org_unit)
            assert event.handler.username in {h for _f, h in demo_events.STAFF.values()}

    closed = [e for e in events if e.status == S.CLOSED and not e.duplicate_of_id]
    open_ = [e for e in events if e.status != S.CLOSED]
    assert len(closed) > len(events) * 0.7
    assert any(e.closed_at > e.final_due_at for e in closed)  # some late
    assert any(e.is_overdue(now) for e in open_) and any(not e.is_overdue(now) for e in open_)
    # 吹哨报到: to the community, the street and departments, which reported.
    kinds = {e.escalated_to.kind for e in events if e.escalated_to_id}
    assert {OrgKind.COMMUNITY, OrgKind.STREET} <= kinds
    called = [e for e in events if e.department_id]
    assert called and any(e.department_acknowledged_at for e in called)
    street_user = Department.objects.get(name="城管科").staff.get()
    assert street_user.username == "street_liuxiang"
    assert GridEventLog.objects.filter(action=A.ACKNOWLEDGE).exists()
    # Ratings: mostly content; a few unhappy ones reopened the event, which closed again.
    assert any(e.rating and e.rating >= 4 for e in events)
    reopened = [e for e in events if e.reopened_count]
    assert reopened and any(e.status == S.CLOSED for e in reopened)
    assert GridEventLog.objects.filter(action=A.RATE, note__regex=r"^[12]/5").exists()
    assert 3 <= sum(1 for e in events if e.duplicate_of_id) <= 10
    # 12345 calls this year and the year before, so the year-on-year change means something.
    year_ago = now - dt.timedelta(days=365)
    hotline = [e for e in events if e.source == EventSource.HOTLINE and not e.duplicate_of_id]
    assert sum(e.reported_at >= year_ago for e in hotline) >= 10
    assert sum(e.reported_at < year_ago for e in hotline) >= 10

    # Patrols and visits: two or three points a compound, rounds and visits over the year by
    # grid workers of the compound's community.
    for compound in Compound.objects.all():
        assert 2 <= compound.patrol_points.count() <= 3
    checkins = PatrolCheckin.objects.select_related("point__compound__org_unit",
                                                    "worker__org_unit")
    assert checkins.count() > 100
    for checkin in checkins:
        assert year_ago - dt.timedelta(days=1) <= checkin.at <= now
        assert Subtree.of(checkin.worker.org_unit).contains(checkin.point.compound.org_unit)
    assert HouseholdVisit.objects.count() > 100
    assert not HouseholdVisit.objects.filter(visited_on__gt=timezone.localdate(now)).exists()


def test_the_demo_is_idempotent_and_feeds_the_figures(demo_year, api_for):
    before = _counts()
    assert demo_events.build() == {}
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    assert _counts() == before
    from django.contrib.auth import get_user_model
    from party_org.models import OrgUnit

    street = get_user_model().objects.get(username="street_liuxiang")
    today = timezone.localdate()
    response = api_for(street).get(
        f"/api/v1/org-units/{OrgUnit.objects.get(code='YZ-LX').pk}/stats/",
        {"from": (today - dt.timedelta(days=364)).isoformat(), "to": today.isoformat(),
         "figures": "events,patrols"},
    )
    assert response.status_code == 200
    figures = {f["name"]: f["value"] for f in response.json()["figures"]}
    assert figures["events.reported"] > 50
    assert 0.5 < figures["events.closure_rate"] < 1
    assert figures["events.median_handling_hours"] > 0
    assert figures["events.hotline.year_before"] > 0
    assert figures["events.hotline.change"] is not None
    assert figures["patrols.checkins"] > 0 and figures["patrols.household_visits"] > 0
