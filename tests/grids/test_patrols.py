"""Patrols and visits: patrol points, check-ins (巡查打卡) with who may check in where, household
visits (入户走访) that may raise a grid event, scope refusals, and the admin add forms."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from grids.models import (
    EventAction,
    EventCategory,
    EventSource,
    EventStatus,
    GridEvent,
    Household,
    HouseholdVisit,
    PatrolCheckin,
    PatrolPoint,
)
from grids.services import events as event_services
from grids.services import gridding
from grids.services import patrols as services
from party_org.models import AuditEntry, StaffRole
from tests.conftest import _user
from tests.grids.test_gridding import FULL, person

pytestmark = pytest.mark.django_db

D = dt.date


def keys(error):
    return set(error.value.message_dict)


@pytest.fixture
def patrol(tree, places):
    """文锦苑 (A2) has a grid; 张 works for branch A2 itself, 刘 for branch A1 but in the
    文锦苑 grid, 赵 for A1 with no grid there, 王 for community B."""
    w = {}
    w["grid"] = gridding.create_grid(None, name="文锦苑网格", code="WJY-G", org_unit=tree["a2"])
    gridding.cover(None, w["grid"], places["wjy"])
    w["zhang"] = gridding.register_worker(None, person(tree["a2"], "张网格"), FULL, tree["a2"])
    w["liu"] = gridding.register_worker(None, person(tree["a1"], "刘网格"), FULL, tree["a1"])
    w["zhao"] = gridding.register_worker(None, person(tree["a1"], "赵网格"), FULL, tree["a1"])
    w["wang"] = gridding.register_worker(None, person(tree["b"], "王网格"), FULL, tree["b"])
    w["liu_asg"] = gridding.assign_worker(None, w["liu"], w["grid"], D(2025, 1, 1))
    w["point"] = services.create_patrol_point(
        None, compound=places["wjy"], name="3号楼消防通道", description="通道是否堵塞"
    )
    w["point_b"] = services.create_patrol_point(None, compound=places["hgd"], name="锅炉房")
    w["household"] = Household.objects.create(
        compound=places["wjy"], building=places["wjy1"], room="101"
    )
    w["household_b"] = Household.objects.create(compound=places["hgd"], room="3-201")
    return w


# ---- patrol points ---------------------------------------------------------------------------


def test_points_are_created_in_scope_and_logged(places, users, patrol):
    point = services.create_patrol_point(
        users["secretary"], compound=places["wjy"], name=" 2号楼电动车棚 ", description="飞线充电"
    )
    assert point.name == "2号楼电动车棚"
    entry = AuditEntry.objects.get(model="grids.patrolpoint", object_id=str(point.pk))
    assert entry.action == AuditEntry.Action.CREATE and entry.user == users["secretary"]
    with pytest.raises(ValidationError) as error:
        services.create_patrol_point(users["comm_a"], compound=places["wjy"], name="3号楼消防通道")
    assert keys(error) == {"name"}
    with pytest.raises(ValidationError) as error:
        services.create_patrol_point(users["comm_a"], compound=places["wjy"], name="  ")
    assert keys(error) == {"name"}
    with pytest.raises(PermissionDenied):
        services.create_patrol_point(users["comm_b"], compound=places["wjy"], name="北门")
    with pytest.raises(PermissionDenied):  # grid workers read the points, they do not set them
        services.create_patrol_point(
            _user("grid_x", StaffRole.GRID_WORKER, places["wjy"].org_unit),
            compound=places["wjy"], name="北门",
        )
    places["hgd"].is_active = False
    places["hgd"].save()
    with pytest.raises(ValidationError) as error:
        services.create_patrol_point(users["street"], compound=places["hgd"], name="北门")
    assert keys(error) == {"compound"}


def test_points_are_changed_deactivated_and_deleted_by_the_rules(places, users, patrol):
    point = patrol["point"]
    services.update_patrol_point(users["comm_a"], point, name="3号楼东侧消防通道")
    point.refresh_from_db()
    assert point.name == "3号楼东侧消防通道"
    with pytest.raises(PermissionDenied):
        services.update_patrol_point(users["comm_b"], point, name="改名")
    with pytest.raises(PermissionDenied):  # moved out of the user's area
        services.update_patrol_point(users["comm_a"], point, compound=places["hgd"])
    services.check_in(users["comm_a"], patrol["zhang"], point)
    with pytest.raises(ValidationError) as error:  # its check-ins would move with it
        services.update_patrol_point(users["street"], point, compound=places["hgd"])
    assert keys(error) == {"compound"}
    with pytest.raises(ValidationError):
        services.delete_patrol_point(users["comm_a"], point)
    services.deactivate_patrol_point(users["comm_a"], point)
    assert not PatrolPoint.objects.get(pk=point.pk).is_active
    with pytest.raises(ValidationError):
        services.deactivate_patrol_point(users["comm_a"], point)
    fresh = services.create_patrol_point(users["comm_a"], compound=places["wjy"], name="临时")
    services.delete_patrol_point(users["comm_a"], fresh)
    assert not PatrolPoint.objects.filter(pk=fresh.pk).exists()
    assert AuditEntry.objects.filter(
        model="grids.patrolpoint", object_id=str(fresh.pk), action=AuditEntry.Action.DELETE
    ).exists()


# ---- check-ins -------------------------------------------------------------------------------


def test_workers_of_the_place_check_in(users, grid_user, patrol):
    point = patrol["point"]
    by_unit = services.check_in(users["comm_a"], patrol["zhang"], point, note="通道畅通")
    assert by_unit.at <= timezone.now() and by_unit.note == "通道畅通"
    # 刘 works for another branch but in the grid that covers 文锦苑.
    by_grid = services.check_in(grid_user, patrol["liu"], point)
    assert by_grid.worker == patrol["liu"]
    entry = AuditEntry.objects.get(model="grids.patrolcheckin", object_id=str(by_grid.pk))
    assert entry.user == grid_user and entry.org_unit == point.compound.org_unit
    earlier = timezone.now() - dt.timedelta(hours=3)
    assert services.check_in(users["comm_a"], patrol["zhang"], point, at=earlier).at == earlier


def test_check_ins_refused(tree, users, patrol):
    point, comm_a = patrol["point"], users["comm_a"]
    with pytest.raises(ValidationError) as error:  # no grid of his covers 文锦苑
        services.check_in(comm_a, patrol["zhao"], point)
    assert keys(error) == {"worker"}
    with pytest.raises(ValidationError) as error:
        services.check_in(users["street"], patrol["wang"], point)
    assert keys(error) == {"worker"}
    with pytest.raises(ValidationError) as error:
        services.check_in(comm_a, patrol["zhang"], point, at=timezone.now() + dt.timedelta(hours=1))
    assert keys(error) == {"at"}
    with pytest.raises(ValidationError) as error:
        services.check_in(comm_a, patrol["zhang"], point, note="长" * 301)
    assert keys(error) == {"note"}
    gridding.deactivate_worker(None, patrol["zhang"])
    with pytest.raises(ValidationError) as error:
        services.check_in(comm_a, patrol["zhang"], point)
    assert keys(error) == {"worker"}
    services.deactivate_patrol_point(None, point)
    with pytest.raises(ValidationError) as error:
        services.check_in(comm_a, patrol["liu"], point)
    assert keys(error) == {"point"}
    assert not PatrolCheckin.objects.exists()


def test_an_ended_assignment_counts_only_for_its_days(patrol, users):
    gridding.end_assignment(None, patrol["liu_asg"], timezone.localdate() - dt.timedelta(days=2))
    with pytest.raises(ValidationError) as error:
        services.check_in(users["comm_a"], patrol["liu"], patrol["point"])
    assert keys(error) == {"worker"}
    then = timezone.now() - dt.timedelta(days=3)
    assert services.check_in(users["comm_a"], patrol["liu"], patrol["point"], at=then).pk


def test_who_may_enter_a_check_in(tree, users, patrol):
    point, zhang = patrol["point"], patrol["zhang"]
    with pytest.raises(PermissionDenied):  # outside their area
        services.check_in(users["comm_b"], zhang, point)
    with pytest.raises(PermissionDenied):  # reads everything, enters nothing
        services.check_in(users["auditor"], zhang, point)
    with pytest.raises(PermissionDenied):
        services.check_in(users["nobody"], zhang, point)
    # A staff user who is no grid worker: refused until they hold the permission.
    clerk = _user("clerk_a", StaffRole.AUDITOR, tree["a"])
    with pytest.raises(PermissionDenied):
        services.check_in(clerk, zhang, point)
    clerk.user_permissions.add(Permission.objects.get(codename="add_patrolcheckin"))
    clerk = type(clerk).objects.get(pk=clerk.pk)
    assert services.check_in(clerk, zhang, point).pk
    with pytest.raises(PermissionDenied):  # …and only in their area
        services.check_in(clerk, patrol["wang"], patrol["point_b"])


# ---- household visits ------------------------------------------------------------------------


def test_a_visit_is_recorded(users, patrol):
    visit = services.record_visit(
        users["secretary"], patrol["zhang"], patrol["household"], timezone.localdate(),
        " 老人独居，身体尚可 ",
    )
    assert visit.findings == "老人独居，身体尚可" and visit.event is None
    assert AuditEntry.objects.filter(model="grids.householdvisit", object_id=str(visit.pk)).exists()


def test_a_visit_raises_an_event(users, patrol, category):
    visit = services.record_visit(
        users["comm_a"], patrol["liu"], patrol["household"], "2025-06-01", "楼道灯坏了",
        raise_event_category=category, event_description="1号楼101门口楼道灯不亮",
    )
    event = visit.event
    assert event.source == EventSource.VISIT and event.status == EventStatus.REPORTED
    assert event.compound == patrol["household"].compound
    assert event.building == patrol["household"].building
    assert event.description == "1号楼101门口楼道灯不亮"
    assert event.reporter == patrol["liu"].person and event.reporter_user == users["comm_a"]
    assert list(event.logs.values_list("action", flat=True)) == [EventAction.REPORT]
    # Without a description of its own the event takes the findings.
    other = services.record_visit(
        users["comm_a"], patrol["zhang"], patrol["household"], timezone.localdate(), "窗户玻璃破损",
        raise_event_category=category,
    )
    assert other.event.description == "窗户玻璃破损"


def test_visits_refused(tree, users, patrol, category):
    comm_a, household, zhang = users["comm_a"], patrol["household"], patrol["zhang"]
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    cases = [
        (lambda: services.record_visit(comm_a, zhang, household, tomorrow, "…"), {"visited_on"}),
        (lambda: services.record_visit(comm_a, zhang, household, "06/01/2025", "…"),
         {"visited_on"}),
        (lambda: services.record_visit(comm_a, patrol["zhao"], household, "2025-06-01", "…"),
         {"worker"}),
        (lambda: services.record_visit(comm_a, zhang, household, "2025-06-01", "",
                                       raise_event_category=category), {"event_description"}),
        (lambda: services.record_visit(comm_a, zhang, household, "2025-06-01", "长" * 2001),
         {"findings"}),
    ]
    for call, expected in cases:
        with pytest.raises(ValidationError) as error:
            call()
        assert keys(error) == expected
    inactive = EventCategory.objects.create(code="gone", name="停用分类", is_active=False)
    with pytest.raises(ValidationError) as error:
        services.record_visit(comm_a, zhang, household, "2025-06-01", "…",
                              raise_event_category=inactive)
    assert keys(error) == {"raise_event_category"}
    with pytest.raises(PermissionDenied):
        services.record_visit(users["comm_b"], zhang, household, "2025-06-01", "…")
    with pytest.raises(PermissionDenied):
        services.record_visit(users["auditor"], zhang, household, "2025-06-01", "…")
    # May record visits but not report events: no visit either.
    visitor = _user("visitor", StaffRole.AUDITOR, tree["a"])
    visitor.user_permissions.add(Permission.objects.get(codename="add_householdvisit"))
    visitor = type(visitor).objects.get(pk=visitor.pk)
    assert services.record_visit(visitor, zhang, household, "2025-06-01", "一切正常").pk
    with pytest.raises(PermissionDenied):
        services.record_visit(visitor, zhang, household, "2025-06-01", "漏水",
                              raise_event_category=category)
    assert HouseholdVisit.objects.count() == 1 and not GridEvent.objects.exists()


def test_a_refused_event_leaves_no_visit(users, patrol, category, monkeypatch):
    def refuse(user, **kwargs):
        raise ValidationError({"description": "太长", "compound": "停用"})

    monkeypatch.setattr(event_services, "report_event", refuse)
    with pytest.raises(ValidationError) as error:
        services.record_visit(users["comm_a"], patrol["zhang"], patrol["household"],
                              "2025-06-01", "漏水", raise_event_category=category)
    assert keys(error) == {"event_description", "household"}
    assert not HouseholdVisit.objects.exists()


def test_worker_covers_through_a_micro_grid(tree, places, patrol, users):
    micro = gridding.create_grid(None, name="文锦苑1号楼微网格", code="WJY-M1", org_unit=tree["a2"],
                                 parent=patrol["grid"])
    gridding.cover(None, micro, places["wjy"], places["wjy1"])
    worker = gridding.register_worker(None, person(tree["a1"], "钱辅助"), FULL, tree["a1"])
    gridding.assign_worker(None, worker, micro, D(2025, 3, 1))
    assert services.worker_covers(worker, places["wjy"], timezone.localdate())
    assert not services.worker_covers(worker, places["hgd"], timezone.localdate())
    assert not services.worker_covers(worker, places["wjy"], D(2025, 2, 1))


# ---- the admin add forms ---------------------------------------------------------------------


ADMIN = "/admin/grids"


def _now_fields(moment=None):
    moment = timezone.localtime(moment or timezone.now() - dt.timedelta(minutes=5))
    return {"at_0": moment.strftime("%Y-%m-%d"), "at_1": moment.strftime("%H:%M:%S")}


def test_admin_check_in(users, patrol, admin_client_for):
    client = admin_client_for(users["comm_a"])
    assert client.get(f"{ADMIN}/patrolcheckin/add/").status_code == 200
    response = client.post(f"{ADMIN}/patrolcheckin/add/", {
        "point": patrol["point"].pk, "worker": patrol["zhang"].pk, "note": "无异常",
        **_now_fields(),
    })
    assert response.status_code == 302
    checkin = PatrolCheckin.objects.get()
    assert checkin.worker == patrol["zhang"] and checkin.note == "无异常"
    assert AuditEntry.objects.filter(model="grids.patrolcheckin").count() == 1
    # Refused beside the field, nothing saved.
    response = client.post(f"{ADMIN}/patrolcheckin/add/", {
        "point": patrol["point"].pk, "worker": patrol["zhao"].pk, **_now_fields(),
    })
    assert response.status_code == 200
    assert "worker" in response.context["adminform"].form.errors
    assert PatrolCheckin.objects.count() == 1
    # Another area's point is no choice at all.
    response = client.post(f"{ADMIN}/patrolcheckin/add/", {
        "point": patrol["point_b"].pk, "worker": patrol["zhang"].pk, **_now_fields(),
    })
    assert "point" in response.context["adminform"].form.errors
    # Read-only afterwards.
    url = f"{ADMIN}/patrolcheckin/{checkin.pk}/change/"
    assert client.get(url).status_code == 200
    assert client.post(url, {"note": "改"}).status_code == 403
    delete = f"{ADMIN}/patrolcheckin/{checkin.pk}/delete/"
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert PatrolCheckin.objects.get().note == "无异常"
    listing = client.get(f"{ADMIN}/patrolcheckin/")
    assert [c.pk for c in listing.context["cl"].result_list] == [checkin.pk]
    assert admin_client_for(users["comm_b"]).get(url).status_code == 302


def test_admin_visit_raising_an_event(users, patrol, category, admin_client_for):
    client = admin_client_for(users["comm_a"])
    assert client.get(f"{ADMIN}/householdvisit/add/").status_code == 200
    response = client.post(f"{ADMIN}/householdvisit/add/", {
        "household": patrol["household"].pk, "worker": patrol["zhang"].pk,
        "visited_on": timezone.localdate().isoformat(), "findings": "厨房燃气管老化",
        "raise_event_category": category.pk, "event_description": "燃气管老化，存在隐患",
    })
    assert response.status_code == 302
    visit = HouseholdVisit.objects.get()
    assert visit.event.source == EventSource.VISIT
    page = client.get(f"{ADMIN}/householdvisit/{visit.pk}/change/")
    assert page.status_code == 200
    assert f"/admin/grids/gridevent/{visit.event_id}/change/" in page.content.decode()
    listing = client.get(f"{ADMIN}/householdvisit/").content.decode()
    assert f"/admin/grids/gridevent/{visit.event_id}/change/" in listing
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    response = client.post(f"{ADMIN}/householdvisit/add/", {
        "household": patrol["household"].pk, "worker": patrol["zhang"].pk,
        "visited_on": tomorrow.isoformat(), "findings": "…",
    })
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"visited_on"}
    response = client.post(f"{ADMIN}/householdvisit/add/", {
        "household": patrol["household"].pk, "worker": patrol["zhang"].pk,
        "visited_on": timezone.localdate().isoformat(), "findings": "",
        "raise_event_category": category.pk,
    })
    assert set(response.context["adminform"].form.errors) == {"event_description"}
    assert HouseholdVisit.objects.count() == 1 and GridEvent.objects.count() == 1
    assert client.post(f"{ADMIN}/householdvisit/{visit.pk}/change/", {}).status_code == 403


def test_admin_patrol_points(places, users, patrol, admin_client_for):
    client = admin_client_for(users["comm_a"])
    listing = client.get(f"{ADMIN}/patrolpoint/")
    assert [p.pk for p in listing.context["cl"].result_list] == [patrol["point"].pk]
    response = client.post(f"{ADMIN}/patrolpoint/add/", {
        "compound": places["wjy"].pk, "name": "3号楼消防通道", "is_active": "on",
    })
    assert response.status_code == 200
    assert "name" in response.context["adminform"].form.errors
    response = client.post(f"{ADMIN}/patrolpoint/add/", {
        "compound": places["wjy"].pk, "name": "北门岗亭", "is_active": "on",
    })
    assert response.status_code == 302
    point = PatrolPoint.objects.get(name="北门岗亭")
    assert AuditEntry.objects.filter(model="grids.patrolpoint", object_id=str(point.pk)).exists()
    response = client.post(f"{ADMIN}/patrolpoint/{point.pk}/change/", {
        "compound": places["wjy"].pk, "name": "北门岗亭", "description": "夜间照明",
    })
    assert response.status_code == 302
    point.refresh_from_db()
    assert point.description == "夜间照明" and not point.is_active
    assert client.get(f"{ADMIN}/patrolpoint/{patrol['point_b'].pk}/change/").status_code == 302
