"""The six-step loop of grid events: every legal and illegal step, who may take it, 吹哨报到,
reopening on a bad rating, duplicates and overdue escalation by the periodic task."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from grids.models import EventAction, EventSource, EventStatus, GridEvent, GridEventLog
from grids.services import events as services
from grids.tasks import escalate_overdue_events

pytestmark = pytest.mark.django_db

S, A = EventStatus, EventAction


def walk(event, staff, handler, to):
    """Take `event` through the loop up to status `to`."""
    steps = [
        (S.FILED, lambda: services.file_event(staff, event)),
        (S.ASSIGNED, lambda: services.assign_event(staff, event, handler)),
        (S.IN_PROGRESS, lambda: services.start_event(handler, event)),
        (S.FEEDBACK, lambda: services.report_result(handler, event, "已清理杂物")),
        (S.CLOSED, lambda: services.close_event(staff, event)),
    ]
    for status, step in steps:
        if event.status == to:
            break
        step()
        assert event.status == status
    return event


def test_a_resident_report_goes_round_the_loop(open_event, users, grid_user):
    event = open_event(reporter_name="李女士", reporter_phone="13812345678")
    assert event.status == S.REPORTED and event.case_number is None
    assert len(event.tracking_code) == 12
    assert event.due_at == event.reported_at + dt.timedelta(hours=24)
    walk(event, users["comm_a"], grid_user, S.CLOSED)
    event.refresh_from_db()
    assert event.status == S.CLOSED and event.case_number.startswith("SJ")
    assert event.closed_at is not None and event.handling_seconds is not None
    assert event.due_at is None and not event.was_escalated
    logs = list(event.logs.values_list("action", "from_status", "to_status"))
    assert logs == [
        (A.REPORT, "", S.REPORTED),
        (A.FILE, S.REPORTED, S.FILED),
        (A.ASSIGN, S.FILED, S.ASSIGNED),
        (A.START, S.ASSIGNED, S.IN_PROGRESS),
        (A.FEEDBACK, S.IN_PROGRESS, S.FEEDBACK),
        (A.CLOSE, S.FEEDBACK, S.CLOSED),
    ]
    first = event.logs.first()
    assert first.actor is None and first.actor_label
    assert event.logs.last().actor == users["comm_a"]


ALL_STEPS = {
    A.FILE: lambda u, e, h: services.file_event(u, e),
    A.ASSIGN: lambda u, e, h: services.assign_event(u, e, h),
    A.START: lambda u, e, h: services.start_event(u, e),
    A.FEEDBACK: lambda u, e, h: services.report_result(u, e, "已处理"),
    A.SEND_BACK: lambda u, e, h: services.send_back(u, e, "未处理干净"),
    A.CLOSE: lambda u, e, h: services.close_event(u, e),
}
LEGAL_FROM = {
    A.FILE: {S.REPORTED}, A.ASSIGN: {S.FILED, S.ASSIGNED}, A.START: {S.ASSIGNED},
    A.FEEDBACK: {S.IN_PROGRESS}, A.SEND_BACK: {S.FEEDBACK}, A.CLOSE: {S.FEEDBACK},
}


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("action", list(ALL_STEPS))
def test_every_step_from_every_status(open_event, users, grid_user, status, action):
    event = walk(open_event(), users["comm_a"], grid_user, status)
    logs_before = event.logs.count()
    if status in LEGAL_FROM[action]:
        ALL_STEPS[action](users["comm_a"], event, grid_user)
        assert event.logs.count() == logs_before + 1
    else:
        with pytest.raises(ValidationError):
            ALL_STEPS[action](users["comm_a"], event, grid_user)
        event.refresh_from_db()
        assert event.status == status and event.logs.count() == logs_before


def test_who_may_take_each_step(open_event, users, grid_user, tree):
    from tests.conftest import _user
    from party_org.models import StaffRole

    other_worker = _user("grid_b1", StaffRole.GRID_WORKER, tree["b1"])
    event = open_event()
    # A grid worker may not file; staff of another community may not; the auditor may not.
    for user in (grid_user, users["comm_b"], users["auditor"], users["nobody"]):
        with pytest.raises(PermissionDenied):
            services.file_event(user, event)
    services.file_event(users["secretary"], event)
    # The handler must be able to see the event.
    with pytest.raises(ValidationError):
        services.assign_event(users["comm_a"], event, other_worker)
    services.assign_event(users["comm_a"], event, grid_user)
    assert services.allowed_actions(grid_user, event) == [A.START, A.ESCALATE]
    assert services.allowed_actions(other_worker, event) == []
    # Only the handler (or filing staff) works it; another grid worker may not.
    with pytest.raises(PermissionDenied):
        services.start_event(other_worker, event)
    services.start_event(grid_user, event)
    services.report_result(grid_user, event, "已清理")
    # The handler may not close their own work.
    with pytest.raises(PermissionDenied):
        services.close_event(grid_user, event)
    assert A.CLOSE in services.allowed_actions(users["comm_a"], event)
    services.send_back(users["street"], event, "楼道仍有杂物")
    assert event.status == S.IN_PROGRESS


def test_reassignment_and_required_texts(open_event, users, grid_user):
    event = walk(open_event(), users["comm_a"], grid_user, S.ASSIGNED)
    services.assign_event(users["comm_a"], event, users["secretary"])
    assert event.handler == users["secretary"]
    services.start_event(users["secretary"], event)
    with pytest.raises(ValidationError):
        services.report_result(users["secretary"], event, "  ")
    services.report_result(users["secretary"], event, "已协调物业清理")
    with pytest.raises(ValidationError):
        services.send_back(users["comm_a"], event, "")


def test_escalate_to_community_and_street_then_department(open_event, users, grid_user,
                                                         department, tree):
    event = walk(open_event(), users["comm_a"], grid_user, S.IN_PROGRESS)
    assert [u.pk for u in services.escalation_targets(event)] == [tree["a"].pk, tree["s1"].pk]
    with pytest.raises(ValidationError):
        services.escalate(grid_user, event, to_unit=tree["a"], note="")
    with pytest.raises(ValidationError):  # not above the event
        services.escalate(grid_user, event, to_unit=tree["b"], note="需要协调")
    services.escalate(grid_user, event, to_unit=tree["a"], note="需社区协调")
    assert event.escalated_to == tree["a"] and event.was_escalated
    assert event.status == S.IN_PROGRESS
    # Once at the community, only the street is left above.
    assert [u.pk for u in services.escalation_targets(event)] == [tree["s1"].pk]
    with pytest.raises(ValidationError):
        services.escalate(grid_user, event, to_unit=tree["a"], note="再次")
    # 吹哨: call the street's department; it must report (报到).
    services.escalate(grid_user, event, department=department, note="需城管执法")
    assert A.ACKNOWLEDGE not in services.allowed_actions(grid_user, event)
    with pytest.raises(PermissionDenied):
        services.acknowledge(grid_user, event)
    assert services.allowed_actions(department.staff_user, event) == [A.ACKNOWLEDGE]
    services.acknowledge(department.staff_user, event, note="已派执法队")
    assert event.department_acknowledged_at is not None
    with pytest.raises(ValidationError):
        services.acknowledge(department.staff_user, event)
    actions = list(event.logs.values_list("action", flat=True))
    assert actions[-3:] == [A.ESCALATE, A.ESCALATE, A.ACKNOWLEDGE]
    assert event.logs.last().actor == department.staff_user


def test_department_of_another_street_cannot_be_called(open_event, users, grid_user, tree):
    from grids.models import Department

    other = Department.objects.create(name="桥东城管科", org_unit=tree["s2"])
    event = walk(open_event(), users["comm_a"], grid_user, S.ASSIGNED)
    with pytest.raises(ValidationError):
        services.escalate(grid_user, event, department=other, note="需执法")


def test_department_staff_see_events_called_to_them(open_event, users, grid_user, department):
    from grids.selectors import events_visible_to

    event = walk(open_event(), users["comm_a"], grid_user, S.ASSIGNED)
    open_event()  # another event, not called
    assert events_visible_to(department.staff_user).count() == 0
    services.escalate(grid_user, event, department=department, note="需执法")
    assert list(events_visible_to(department.staff_user)) == [event]
    department.staff.add(users["comm_b"])
    assert list(events_visible_to(department.staff_user)) == [event]  # no repeated rows


def test_a_bad_rating_reopens_and_a_good_one_does_not(open_event, users, grid_user):
    event = walk(open_event(), users["comm_a"], grid_user, S.CLOSED)
    with pytest.raises(ValidationError):
        services.rate_event(None, event, 7)
    services.rate_event(None, event, 2, "杂物又堆回来了")
    event.refresh_from_db()
    assert event.status == S.IN_PROGRESS and event.reopened_count == 1
    assert event.closed_at is None and event.handling_seconds is None
    assert list(event.logs.values_list("action", flat=True))[-2:] == [A.RATE, A.REOPEN]
    with pytest.raises(ValidationError):  # not closed: nothing to rate
        services.rate_event(None, event, 5)
    services.report_result(grid_user, event, "已再次清理并张贴告示")
    services.close_event(users["comm_a"], event)
    services.rate_event(None, event, 5, "满意")
    event.refresh_from_db()
    assert event.status == S.CLOSED and event.rating == 5
    with pytest.raises(ValidationError):  # once per closing
        services.rate_event(None, event, 4)


def test_only_the_reporting_user_rates_as_staff(open_event, users, grid_user):
    event = walk(open_event(user=grid_user, source=EventSource.PATROL), users["comm_a"],
                 grid_user, S.CLOSED)
    with pytest.raises(PermissionDenied):
        services.rate_event(users["comm_a"], event, 5)
    services.rate_event(grid_user, event, 4)


def test_duplicates(open_event, users, grid_user):
    original = open_event()
    dup = open_event(description="楼道杂物（重复上报）")
    with pytest.raises(ValidationError):
        services.link_duplicate(users["comm_a"], dup, dup)
    with pytest.raises(PermissionDenied):
        services.link_duplicate(grid_user, dup, original)
    services.link_duplicate(users["comm_a"], dup, original)
    dup.refresh_from_db()
    assert dup.status == S.CLOSED and dup.duplicate_of == original
    assert dup.handling_seconds is None
    with pytest.raises(ValidationError):
        services.file_event(users["comm_a"], dup)
    third = open_event()
    with pytest.raises(ValidationError):
        services.link_duplicate(users["comm_a"], third, dup)
    assert not services.may_rate(dup)


def test_overdue_events_climb_one_level_per_run(open_event, users, grid_user, tree):
    event = walk(open_event(), users["comm_a"], grid_user, S.ASSIGNED)
    fresh = open_event(compound=None, org_unit=tree["a2"])
    now = event.due_at + dt.timedelta(minutes=1)
    GridEvent.objects.filter(pk=fresh.pk).update(due_at=now + dt.timedelta(days=30))
    assert services.escalate_overdue(now) == 1
    event.refresh_from_db()
    assert event.escalated_to == tree["a"] and event.was_escalated
    assert event.due_at == now + dt.timedelta(hours=event.category.hours_assigned)
    log = event.logs.last()
    assert log.action == A.OVERDUE and log.actor is None and log.actor_label
    # Not overdue any more at the new level: a second run at the same time does nothing.
    assert services.escalate_overdue(now) == 0
    later = event.due_at + dt.timedelta(minutes=1)
    assert escalate_overdue_events.delay(later.isoformat()).get() == 1
    event.refresh_from_db()
    assert event.escalated_to == tree["s1"]
    # The street is the top: still overdue, flagged, not moved.
    latest = event.due_at + dt.timedelta(minutes=1)
    assert services.escalate_overdue(latest) == 0
    assert event.is_overdue(latest)
    assert GridEventLog.objects.filter(event=event, action=A.OVERDUE).count() == 2


def test_closed_and_duplicate_events_never_escalate(open_event, users, grid_user):
    closed = walk(open_event(), users["comm_a"], grid_user, S.CLOSED)
    dup = open_event()
    services.link_duplicate(users["comm_a"], dup, closed)
    assert services.escalate_overdue(timezone.now() + dt.timedelta(days=365)) == 0


def test_reporting_needs_permission_scope_and_valid_input(open_event, users, places, category):
    with pytest.raises(PermissionDenied):
        open_event(compound=places["hgd"], user=users["comm_a"], source=EventSource.PATROL)
    with pytest.raises(PermissionDenied):
        open_event(user=users["auditor"], source=EventSource.PATROL)
    with pytest.raises(ValidationError) as error:
        open_event(description="  ", building=places["wjy1"], source="nonsense")
    assert set(error.value.message_dict) == {"description", "source"}
    with pytest.raises(ValidationError):
        open_event(compound=places["hgd"], building=places["wjy1"])
    assert GridEvent.objects.count() == 0
