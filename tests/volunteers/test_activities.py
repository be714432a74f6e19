"""Activities: the waiting list, check-in codes (once, for their activity, within their window),
hours approved after the activity paying points once, and who may do what."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from party_org.models import AuditEntry
from tests.conftest import _user
from volunteers import selectors
from volunteers.models import (
    ActivitySignup,
    EntryReason,
    PointsEntry,
    PointsKind,
    ServiceHours,
    SignupStatus,
)
from volunteers.services import activities as services
from volunteers.services import people as people_services

from .conftest import T0, make_person

H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)
St = SignupStatus


@pytest.fixture
def activity(tree, users):
    """A two-hour clean-up on T0 + 1 day, 2 places, 10 points per hour."""
    return services.create_activity(
        users["secretary"], org_unit=tree["a2"], title="楼道清洁", place="文锦苑1号楼",
        starts_at=T0 + 24 * H, ends_at=T0 + 26 * H, capacity=2, points_per_hour="10",
    )


@pytest.fixture
def people(tree):
    return [make_person(tree["a2"], name) for name in ("甲", "乙", "丙", "丁")]


def test_creating_an_activity_checks_its_fields_and_scope(tree, users):
    good = dict(org_unit=tree["a2"], title="义诊", place="党群服务站", starts_at=T0,
                ends_at=T0 + H, capacity=10, points_per_hour=5)
    with pytest.raises(ValidationError) as err:
        services.create_activity(users["secretary"], **{**good, "ends_at": T0 - H,
                                                        "capacity": 0, "title": " ",
                                                        "points_per_hour": "-1"})
    assert {"ends_at", "capacity", "title", "points_per_hour"} <= set(err.value.message_dict)
    with pytest.raises(ValidationError) as err:
        services.create_activity(users["secretary"], **{**good, "starts_at": "not a date"})
    assert "starts_at" in err.value.message_dict
    with pytest.raises(PermissionDenied):
        services.create_activity(users["comm_b"], **good)
    with pytest.raises(PermissionDenied):
        services.create_activity(users["auditor"], **good)
    team = people_services.create_team(users["comm_b"], org_unit=tree["b1"], name="银发服务队")
    with pytest.raises(ValidationError) as err:
        services.create_activity(users["comm_a"], **{**good, "team": team})
    assert "team" in err.value.message_dict
    activity = services.create_activity(users["secretary"], **good)
    assert AuditEntry.objects.filter(model="volunteers.activity",
                                     object_id=str(activity.pk)).exists()


def test_a_full_activity_waitlists_and_a_cancellation_promotes_the_first(activity, people,
                                                                         users):
    a, b, c, d = people
    assert services.sign_up(None, activity, a, at=T0).status == St.SIGNED_UP
    assert services.sign_up(None, activity, b, at=T0).status == St.SIGNED_UP
    waiting_c = services.sign_up(None, activity, c, at=T0)
    waiting_d = services.sign_up(None, activity, d, at=T0)
    assert (waiting_c.status, waiting_d.status) == (St.WAITLISTED, St.WAITLISTED)
    with pytest.raises(ValidationError):
        services.sign_up(None, activity, a, at=T0)
    # Only its own person cancels.
    first = ActivitySignup.objects.get(activity=activity, person=a)
    with pytest.raises(PermissionDenied):
        services.cancel_signup(None, first, person=b, at=T0)
    services.cancel_signup(None, first, person=a, at=T0 + H)
    waiting_c.refresh_from_db()
    waiting_d.refresh_from_db()
    assert (waiting_c.status, waiting_d.status) == (St.SIGNED_UP, St.WAITLISTED)
    # Signing up again after cancelling joins the end of the queue.
    again = services.sign_up(None, activity, a, at=T0 + 2 * H)
    assert again.status == St.WAITLISTED and again.position > waiting_d.position
    # More places take the next in line.
    services.update_activity(users["secretary"], activity, capacity=3)
    waiting_d.refresh_from_db()
    assert waiting_d.status == St.SIGNED_UP
    with pytest.raises(ValidationError) as err:
        services.update_activity(users["secretary"], activity, capacity=1)
    assert "capacity" in err.value.message_dict
    # No sign-up once it has started.
    with pytest.raises(ValidationError):
        services.sign_up(None, activity, make_person(activity.org_unit, "戊"), at=T0 + 24 * H)


def test_confirmation_is_for_places_not_the_waiting_list(activity, people, users):
    a, b, c, _d = people
    sa = services.sign_up(None, activity, a, at=T0)
    services.sign_up(None, activity, b, at=T0)
    sc = services.sign_up(None, activity, c, at=T0)
    with pytest.raises(PermissionDenied):
        services.confirm_signup(users["comm_b"], sa)
    services.confirm_signup(users["secretary"], sa)
    assert sa.status == St.CONFIRMED
    with pytest.raises(ValidationError):
        services.confirm_signup(users["secretary"], sc)
    # A confirmed place freed by cancelling still promotes.
    services.cancel_signup(users["secretary"], sa, at=T0 + H)
    sc.refresh_from_db()
    assert sc.status == St.SIGNED_UP


def test_a_check_in_code_works_once_for_its_activity_within_its_window(activity, people, users,
                                                                       tree, settings):
    settings.VOLUNTEER_CHECKIN_OPENS_MINUTES = 30
    settings.VOLUNTEER_CHECKIN_CLOSES_MINUTES = 30
    a, b, c, _d = people
    for person in (a, b, c):
        services.sign_up(None, activity, person, at=T0)
    other = services.create_activity(
        users["secretary"], org_unit=tree["a2"], title="义诊", place="站点",
        starts_at=activity.starts_at, ends_at=activity.ends_at, capacity=5,
    )
    services.sign_up(None, other, a, at=T0)
    start = activity.starts_at
    # No code issued yet: no self check-in.
    with pytest.raises(ValidationError) as err:
        services.check_in(None, activity, a, "", now_=start)
    assert "code" in err.value.message_dict
    with pytest.raises(PermissionDenied):
        services.issue_checkin_code(None, activity)
    with pytest.raises(PermissionDenied):
        services.issue_checkin_code(users["comm_b"], activity)
    code = services.issue_checkin_code(users["secretary"], activity, now_=T0)
    other_code = services.issue_checkin_code(users["secretary"], other, now_=T0)
    assert len(code) == 6 and code.isdigit()
    activity.refresh_from_db()
    assert code not in activity.checkin_code_hash
    assert (activity.checkin_opens_at, activity.checkin_closes_at) == (start - 30 * M,
                                                                      activity.ends_at + 30 * M)
    # Outside the window.
    with pytest.raises(ValidationError):
        services.check_in(None, activity, a, code, now_=start - 31 * M)
    with pytest.raises(ValidationError):
        services.check_in(None, activity, a, code, now_=activity.ends_at + 31 * M)
    # Another activity's code does not work here (unless by chance it is the same digits).
    if other_code != code:
        with pytest.raises(ValidationError):
            services.check_in(None, activity, a, other_code, now_=start)
    with pytest.raises(ValidationError):
        services.check_in(None, activity, a, "12345x", now_=start)
    signup = services.check_in(None, activity, a, code, now_=start - 10 * M)
    assert signup.status == St.CHECKED_IN and signup.checked_in_at == start - 10 * M
    # Once per person.
    with pytest.raises(ValidationError):
        services.check_in(None, activity, a, code, now_=start)
    # Its code does not work for the other activity.
    if other_code != code:
        with pytest.raises(ValidationError):
            services.check_in(None, other, a, code, now_=start)
    services.check_in(None, other, a, other_code, now_=start)
    # Someone without a place cannot check in.
    stranger = make_person(tree["a2"], "路人")
    with pytest.raises(ValidationError):
        services.check_in(None, activity, stranger, code, now_=start)
    services.check_in(None, activity, b, f" {code} ", now_=activity.ends_at + 29 * M)


def test_wrong_codes_are_counted_and_stop_guessing(activity, people, users, settings):
    settings.VOLUNTEER_CHECKIN_MAX_FAILURES = 3
    a = people[0]
    services.sign_up(None, activity, a, at=T0)
    code = services.issue_checkin_code(users["secretary"], activity, now_=T0)
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    for _ in range(3):
        with pytest.raises(ValidationError):
            services.check_in(None, activity, a, wrong, now_=activity.starts_at)
    assert ActivitySignup.objects.get(person=a).checkin_failures == 3
    with pytest.raises(ValidationError):
        services.check_in(None, activity, a, code, now_=activity.starts_at)
    # A new code from the organiser clears the count; the old code is dead.
    fresh = services.issue_checkin_code(users["secretary"], activity, now_=activity.starts_at)
    if fresh != code:
        with pytest.raises(ValidationError):
            services.check_in(None, activity, a, code, now_=activity.starts_at)
    services.check_in(None, activity, a, fresh, now_=activity.starts_at)


def test_no_code_after_check_in_closes(activity, users):
    with pytest.raises(ValidationError):
        services.issue_checkin_code(users["secretary"], activity, now_=activity.ends_at + 2 * H)


def test_hours_are_approved_after_the_activity_and_pay_once(activity, people, users):
    a, b, c, _d = people
    for person in (a, b):
        services.sign_up(None, activity, person, at=T0)
    waiting = services.sign_up(None, activity, c, at=T0)
    code = services.issue_checkin_code(users["secretary"], activity, now_=T0)
    sa = services.check_in(None, activity, a, code, now_=activity.starts_at)
    sb = ActivitySignup.objects.get(activity=activity, person=b)
    end = activity.ends_at
    with pytest.raises(ValidationError):
        services.approve_hours(users["secretary"], sa, "2", now_=end - M)
    with pytest.raises(ValidationError):
        services.approve_hours(users["secretary"], sb, "2", now_=end)  # never checked in
    with pytest.raises(ValidationError):
        services.approve_hours(users["secretary"], waiting, "2", now_=end)
    for bad in ("0", "-1", "abc", "2.25", "2.1"):
        with pytest.raises(ValidationError) as err:
            services.approve_hours(users["secretary"], sa, bad, now_=end)
        assert "hours" in err.value.message_dict
    with pytest.raises(PermissionDenied):
        services.approve_hours(users["comm_b"], sa, "2", now_=end)
    with pytest.raises(PermissionDenied):
        services.approve_hours(None, sa, "2", now_=end)
    grid = _user("grid_a2", "grid_worker", activity.org_unit)
    with pytest.raises(PermissionDenied):
        services.approve_hours(grid, sa, "2", now_=end)
    service = services.approve_hours(users["secretary"], sa, "1.5", now_=end + H)
    assert service.hours == Decimal("1.5") and service.approved_by == users["secretary"]
    assert service.points_entry.amount == Decimal("15.00")
    assert service.points_entry.reason == EntryReason.EARN_HOURS
    assert service.points_entry.idempotency_key == f"hours:{service.pk}"
    assert selectors.balances(a)[PointsKind.COMMUNITY] == Decimal("15.00")
    with pytest.raises(ValidationError):
        services.approve_hours(users["secretary"], sa, "1.5", now_=end + H)
    assert ServiceHours.objects.count() == 1
    assert PointsEntry.objects.count() == 1


def test_an_activity_without_points_records_hours_only(tree, users, people):
    activity = services.create_activity(
        users["secretary"], org_unit=tree["a2"], title="读书会", place="站点",
        starts_at=T0 + H, ends_at=T0 + 2 * H, capacity=5,
    )
    services.sign_up(None, activity, people[0], at=T0)
    code = services.issue_checkin_code(users["secretary"], activity, now_=T0)
    signup = services.check_in(None, activity, people[0], code, now_=T0 + H)
    service = services.approve_hours(users["secretary"], signup, "1", now_=T0 + 3 * H)
    assert service.points_entry is None and PointsEntry.objects.count() == 0


def test_staff_sign_up_only_in_scope(activity, people, users):
    with pytest.raises(PermissionDenied):
        services.sign_up(users["comm_b"], activity, people[0], at=T0)
    with pytest.raises(PermissionDenied):
        services.sign_up(users["auditor"], activity, people[0], at=T0)
    signup = services.sign_up(users["comm_a"], activity, people[0], at=T0)
    with pytest.raises(PermissionDenied):
        services.cancel_signup(users["comm_b"], signup, at=T0)
    with pytest.raises(PermissionDenied):
        services.update_activity(users["comm_b"], activity, title="改名")
    with pytest.raises(ValidationError):
        services.update_activity(users["comm_a"], activity, secret="x")
    with pytest.raises(ValidationError) as err:
        services.update_activity(users["comm_a"], activity, title="长" * 121,
                                 description="长" * 2001)
    assert {"title", "description"} <= set(err.value.message_dict)
    services.update_activity(users["comm_a"], activity, title="楼道大扫除")
    activity.refresh_from_db()
    assert activity.title == "楼道大扫除"
    assert list(selectors.upcoming_activities(now=T0)) == [activity]
    assert list(selectors.upcoming_activities(now=activity.ends_at)) == []


def test_staff_check_in_needs_scope_and_the_code_all_the_same(activity, people, users):
    signup = services.sign_up(None, activity, people[0], at=T0)
    code = services.issue_checkin_code(users["secretary"], activity, now_=T0)
    with pytest.raises(PermissionDenied):
        services.check_in(users["comm_b"], activity, people[0], code, now_=activity.starts_at)
    with pytest.raises(ValidationError):
        services.check_in(users["secretary"], activity, people[0], "", now_=activity.starts_at)
    services.check_in(users["secretary"], activity, people[0], code, now_=activity.starts_at)
    signup.refresh_from_db()
    assert signup.status == St.CHECKED_IN
    assert AuditEntry.objects.filter(model="volunteers.activitysignup",
                                     object_id=str(signup.pk)).count() == 2
