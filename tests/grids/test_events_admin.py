"""The admin of the event loop: scoped lists (department staff see the events called to them),
overdue highlighting, buttons for exactly the steps each user may take, the loop walked through
the step views with its log, refusals without 500s, 吹哨 to a department and 报到, reporting from
the admin, departments and categories, and the pinned query count of the list."""

import datetime as dt
import io

import pytest
from django.contrib.messages import ERROR, SUCCESS, WARNING, get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from grids.models import (
    EventAction,
    EventCategory,
    EventSource,
    EventStatus,
    GridEvent,
    GridEventPhoto,
)
from grids.selectors import event_handler_candidates
from grids.services import events as services
from party_org.models import StaffRole
from tests.conftest import _user
from tests.grids.test_events_loop import walk

pytestmark = pytest.mark.django_db

S, A = EventStatus, EventAction
ADMIN = "/admin/grids/gridevent"


def change_url(event):
    return f"{ADMIN}/{event.pk}/change/"


def step_url(event, action):
    return f"{ADMIN}/{event.pk}/step/{action}/"


def listed(client, query=""):
    response = client.get(f"{ADMIN}/{query}")
    assert response.status_code == 200
    return [event.pk for event in response.context["cl"].result_list]


def buttons(client, event):
    response = client.get(change_url(event))
    assert response.status_code == 200
    return [button["action"] for button in response.context["step_buttons"]]


def levels(response):
    return [message.level for message in get_messages(response.wsgi_request)]


def png(name="photo.png"):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "PNG")
    buffer.seek(0)
    buffer.name = name
    return buffer


@pytest.fixture
def dept_staff(department):
    """The department's staff user with an admin login; staffing the department is what lets
    them read the events called to it (no role, no model permission)."""
    staff = department.staff_user
    staff.is_staff = True
    staff.save()
    return type(staff).objects.get(pk=staff.pk)


def test_adding_staff_to_a_department_lets_them_sign_in(tree, users, department,
                                                        admin_client_for):
    from tests.conftest import _user

    newcomer = _user("zhijian")
    street = admin_client_for(users["street"])
    response = street.post(f"/admin/grids/department/{department.pk}/change/", {
        "name": department.name, "org_unit": department.org_unit_id, "contact_phone": "",
        "staff": [department.staff_user.pk, newcomer.pk], "is_active": "on",
    })
    assert response.status_code == 302, response.content
    newcomer.refresh_from_db()
    assert newcomer.is_staff
    assert admin_client_for(newcomer).get("/admin/grids/gridevent/").status_code == 200
    # Someone who staffs no department still cannot open the events list.
    assert admin_client_for(users["nobody"]).get("/admin/grids/gridevent/").status_code in (302, 403)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


# ---- the list --------------------------------------------------------------------------------


def test_the_list_shows_only_events_in_scope(places, users, open_event, admin_client_for):
    mine = open_event()
    theirs = open_event(places["hgd"])
    far = open_event(places["jzhf"])
    assert listed(admin_client_for(users["comm_a"])) == [mine.pk]
    assert listed(admin_client_for(users["comm_b"])) == [theirs.pk]
    assert set(listed(admin_client_for(users["street"]))) == {mine.pk, theirs.pk}
    assert set(listed(admin_client_for(users["admin"]))) == {mine.pk, theirs.pk, far.pk}
    # Another area's event cannot be opened, nor stepped.
    comm_b = admin_client_for(users["comm_b"])
    assert comm_b.get(change_url(mine)).status_code == 302
    response = comm_b.post(step_url(mine, A.FILE), {"note": "越权"})
    assert response.status_code == 302 and response.url == "/admin/"
    assert WARNING in levels(response)  # the admin's own "does not exist"
    mine.refresh_from_db()
    assert mine.status == S.REPORTED


def test_department_staff_see_the_events_called_to_them(
    users, open_event, department, dept_staff, admin_client_for
):
    event = open_event()
    other = open_event()
    client = admin_client_for(dept_staff)
    assert listed(client) == []
    services.escalate(users["comm_a"], event, department=department, note="占道经营需执法")
    assert listed(client) == [event.pk]
    assert buttons(client, event) == [A.ACKNOWLEDGE]
    assert client.get(change_url(other)).status_code == 302
    response = client.post(step_url(event, A.ACKNOWLEDGE), {"note": "已派执法队"})
    assert response.status_code == 302 and response.url == change_url(event)
    event.refresh_from_db()
    assert event.department_acknowledged_at is not None
    log = event.logs.last()
    assert log.action == A.ACKNOWLEDGE and log.actor == dept_staff
    assert buttons(client, event) == []


def test_overdue_events_are_flagged(users, open_event, admin_client_for):
    late = open_event(at=timezone.now() - dt.timedelta(days=3))
    on_time = open_event()
    closed_late = walk(open_event(at=timezone.now() - dt.timedelta(days=30)),
                       users["comm_a"], users["comm_a"], S.CLOSED)
    client = admin_client_for(users["comm_a"])
    response = client.get(f"{ADMIN}/")
    flags = {event.pk: event.overdue_flag for event in response.context["cl"].result_list}
    assert flags == {late.pk: True, on_time.pk: False, closed_late.pk: False}
    html = response.content.decode()
    assert html.count('<span class="event-badge event-badge--overdue">') == 1
    assert listed(client, "?overdue=yes") == [late.pk]
    assert set(listed(client, "?overdue=no")) == {on_time.pk, closed_late.pk}
    assert client.get(change_url(late)).context["event_overdue"] is True


def test_filters_and_search(users, open_event, category, admin_client_for):
    hotline = open_event(source=EventSource.HOTLINE, description="12345转来：噪音扰民")
    resident = open_event()
    filed = services.file_event(users["comm_a"], open_event())
    client = admin_client_for(users["comm_a"])
    assert listed(client, f"?source={EventSource.HOTLINE}") == [hotline.pk]
    assert listed(client, f"?status={S.FILED}") == [filed.pk]
    assert listed(client, "?q=噪音") == [hotline.pk]
    assert listed(client, f"?q={filed.case_number}") == [filed.pk]
    assert listed(client, f"?q={resident.tracking_code}") == [resident.pk]
    assert len(listed(client, f"?category__id__exact={category.pk}")) == 3
    assert listed(client, "?was_escalated__exact=1") == []
    assert client.get(f"{ADMIN}/?reported_at__year=2020").status_code == 200


def test_the_list_runs_a_fixed_number_of_queries(users, open_event, admin_client_for, grid_user):
    client = admin_client_for(users["comm_a"])

    def make(n):
        for i in range(n):
            event = open_event(description=f"事件{i}")
            if i % 3 == 0:
                walk(event, users["comm_a"], grid_user, S.ASSIGNED)

    make(5)
    with CaptureQueriesContext(connection) as small:
        first = client.get(f"{ADMIN}/")
    make(25)
    with CaptureQueriesContext(connection) as big:
        second = client.get(f"{ADMIN}/")
    assert len(first.context["cl"].result_list) == 5
    assert len(second.context["cl"].result_list) == 30
    assert len(small) == len(big), [q["sql"] for q in big.captured_queries]


# ---- buttons ---------------------------------------------------------------------------------


def test_buttons_are_exactly_the_allowed_steps(users, grid_user, open_event, admin_client_for):
    event = open_event()
    comm_a = admin_client_for(users["comm_a"])
    shown = buttons(comm_a, event)
    assert A.FILE in shown and shown == services.allowed_actions(users["comm_a"], event)
    html = comm_a.get(change_url(event)).content.decode()
    assert step_url(event, A.FILE) in html and step_url(event, A.CLOSE) not in html
    walk(event, users["comm_a"], grid_user, S.ASSIGNED)
    handler = admin_client_for(grid_user)
    assert buttons(handler, event) == [A.START, A.ESCALATE]
    # The auditor reads the event and may take no step.
    assert buttons(admin_client_for(users["auditor"]), event) == []
    # A grid worker who is not the handler: nothing either.
    other_worker = _user("grid_a2_b", StaffRole.GRID_WORKER, event.org_unit)
    assert buttons(admin_client_for(other_worker), event) == []


def test_the_change_page_is_read_only(users, open_event, admin_client_for):
    event = open_event(reporter_name="李女士", reporter_phone="13812345678")
    client = admin_client_for(users["comm_a"])
    response = client.get(change_url(event))
    assert response.status_code == 200
    assert not response.context["has_change_permission"]
    assert client.post(change_url(event), {"description": "改掉"}).status_code == 403
    assert client.post(f"{ADMIN}/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.description.startswith("3号楼")
    # The reporter's phone is masked for a reader without the personal-data permission.
    html = admin_client_for(users["auditor"]).get(change_url(event)).content.decode()
    assert "13812345678" not in html
    assert "13812345678" in response.content.decode()


# ---- the loop through the step views ---------------------------------------------------------


def test_the_loop_through_the_admin(users, grid_user, open_event, admin_client_for):
    event = open_event()
    staff, handler = admin_client_for(users["comm_a"]), admin_client_for(grid_user)

    def step(client, action, data=None):
        assert client.get(step_url(event, action)).status_code == 200
        response = client.post(step_url(event, action), data or {})
        assert response.status_code == 302, response.context["form"].errors
        assert response.url == change_url(event) and SUCCESS in levels(response)
        event.refresh_from_db()

    step(staff, A.FILE, {"note": "立案"})
    assert event.status == S.FILED and event.case_number
    form = staff.get(step_url(event, A.ASSIGN)).context["form"]
    assert grid_user in form.fields["handler"].queryset
    assert users["comm_b"] not in form.fields["handler"].queryset
    step(staff, A.ASSIGN, {"handler": grid_user.pk})
    assert event.status == S.ASSIGNED and event.handler == grid_user
    step(handler, A.START)
    step(handler, A.FEEDBACK, {"result": "已清理杂物", "photo": png(), "note": "附照片"})
    assert event.status == S.FEEDBACK and event.result == "已清理杂物"
    photo = GridEventPhoto.objects.get(event=event)
    assert photo.stage == GridEventPhoto.Stage.RESULT
    step(staff, A.CLOSE, {"note": "居民满意"})
    assert event.status == S.CLOSED
    logs = list(event.logs.values_list("action", "from_status", "to_status", "actor"))
    assert logs == [
        (A.REPORT, "", S.REPORTED, None),
        (A.FILE, S.REPORTED, S.FILED, users["comm_a"].pk),
        (A.ASSIGN, S.FILED, S.ASSIGNED, users["comm_a"].pk),
        (A.START, S.ASSIGNED, S.IN_PROGRESS, grid_user.pk),
        (A.FEEDBACK, S.IN_PROGRESS, S.FEEDBACK, grid_user.pk),
        (A.CLOSE, S.FEEDBACK, S.CLOSED, users["comm_a"].pk),
    ]
    page = staff.get(change_url(event))
    timeline = page.context["timeline"]
    assert len(timeline) == 6 and timeline[0]["by"] and timeline[-1]["note"] == "居民满意"
    html = page.content.decode()
    assert f"/report/photos/{photo.pk}/" in html
    assert page.context["step_buttons"] == []  # closed: no step is left


def test_illegal_steps_redirect_with_an_error(users, grid_user, open_event, admin_client_for):
    event = open_event()
    client = admin_client_for(users["comm_a"])
    before = event.logs.count()
    for action in (A.CLOSE, A.START, A.ACKNOWLEDGE, "explode", A.REPORT):
        for method in (client.get, client.post):
            response = method(step_url(event, action))
            assert response.status_code == 302 and response.url == change_url(event)
            assert ERROR in levels(response)
    # The handler may not close; a grid worker may not file.
    walk(event, users["comm_a"], grid_user, S.FEEDBACK)
    response = admin_client_for(grid_user).post(step_url(event, A.CLOSE), {"note": "结"})
    assert response.status_code == 302 and ERROR in levels(response)
    event.refresh_from_db()
    assert event.status == S.FEEDBACK
    assert event.logs.count() == before + 4
    # Ids that are no event, or no number at all: back to the index with a message.
    for url in (f"{ADMIN}/999999/step/file/", f"{ADMIN}/abc/step/file/",
                f"{ADMIN}/99999999999999999999999/step/file/"):
        response = client.get(url)
        assert response.status_code == 302


def test_refusals_show_in_the_step_form(users, grid_user, open_event, admin_client_for):
    event = walk(open_event(), users["comm_a"], grid_user, S.FEEDBACK)
    client = admin_client_for(users["comm_a"])
    response = client.post(step_url(event, A.SEND_BACK), {"note": "  "})
    assert response.status_code == 200 and set(response.context["form"].errors) == {"note"}
    response = client.post(step_url(event, A.SEND_BACK), {"note": "现场仍有杂物"})
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.status == S.IN_PROGRESS
    handler = admin_client_for(grid_user)
    response = handler.post(step_url(event, A.FEEDBACK), {"result": ""})
    assert set(response.context["form"].errors) == {"result"}
    response = handler.post(step_url(event, A.FEEDBACK), {
        "result": "已处理", "photo": io.BytesIO(b"not an image"),
    })
    assert set(response.context["form"].errors) == {"photo"}
    event.refresh_from_db()
    assert event.status == S.IN_PROGRESS


def test_a_service_refusal_lands_in_the_form(users, open_event, admin_client_for, monkeypatch):
    event = services.file_event(users["comm_a"], open_event())
    client = admin_client_for(users["comm_a"])
    response = client.post(step_url(event, A.ASSIGN), {"handler": users["comm_b"].pk})
    assert set(response.context["form"].errors) == {"handler"}

    def refuse(*args, **kwargs):
        from django.core.exceptions import ValidationError

        raise ValidationError({"handler": "不可指派"})

    monkeypatch.setattr(services, "assign_event", refuse)
    response = client.post(step_url(event, A.ASSIGN), {"handler": users["comm_a"].pk})
    assert response.status_code == 200 and set(response.context["form"].errors) == {"handler"}

    def forbid(*args, **kwargs):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied("无权")

    monkeypatch.setattr(services, "assign_event", forbid)
    response = client.post(step_url(event, A.ASSIGN), {"handler": users["comm_a"].pk})
    assert response.status_code == 302 and ERROR in levels(response)


def test_escalation_through_the_admin(tree, users, grid_user, open_event, department,
                                      admin_client_for):
    event = walk(open_event(), users["comm_a"], grid_user, S.IN_PROGRESS)
    client = admin_client_for(grid_user)
    form = client.get(step_url(event, A.ESCALATE)).context["form"]
    values = [value for _group, options in form.fields["target"].choices[1:]
              for value, _label in options]
    assert f"department:{department.pk}" in values and f"unit:{tree['a'].pk}" in values
    response = client.post(step_url(event, A.ESCALATE), {"target": f"department:{department.pk}"})
    assert set(response.context["form"].errors) == {"note"}
    response = client.post(step_url(event, A.ESCALATE), {"target": "department:0", "note": "x"})
    assert set(response.context["form"].errors) == {"target"}
    response = client.post(step_url(event, A.ESCALATE), {
        "target": f"department:{department.pk}", "note": "占道经营需城管执法",
    })
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.department == department and event.was_escalated
    assert event.logs.last().action == A.ESCALATE
    # Called and not yet reported: calling it again is refused beside the field.
    response = client.post(step_url(event, A.ESCALATE), {
        "target": f"department:{department.pk}", "note": "再次吹哨",
    })
    assert set(response.context["form"].errors) == {"target"}
    response = client.post(step_url(event, A.ESCALATE), {
        "target": f"unit:{tree['a'].pk}", "note": "需社区协调",
    })
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.escalated_to == tree["a"]


def test_linking_a_duplicate(places, users, open_event, admin_client_for):
    original = services.file_event(users["comm_a"], open_event())
    copy = open_event()
    theirs = services.file_event(users["comm_b"], open_event(places["hgd"]))
    client = admin_client_for(users["comm_a"])
    response = client.post(step_url(copy, A.DUPLICATE), {"original": theirs.case_number})
    assert set(response.context["form"].errors) == {"original"}
    response = client.post(step_url(copy, A.DUPLICATE), {"original": str(copy.pk)})
    assert set(response.context["form"].errors) == {"original"}
    response = client.post(step_url(copy, A.DUPLICATE), {"original": original.case_number})
    assert response.status_code == 302
    copy.refresh_from_db()
    assert copy.duplicate_of == original and copy.status == S.CLOSED


# ---- reporting from the admin ----------------------------------------------------------------


def test_staff_report_an_event(places, users, category, admin_client_for):
    client = admin_client_for(users["comm_a"])
    assert client.get(f"{ADMIN}/add/").status_code == 200
    data = {
        "compound": places["wjy"].pk, "building": places["wjy1"].pk, "category": category.pk,
        "source": EventSource.HOTLINE, "description": "12345：1号楼垃圾未清运",
        "reporter_name": "王先生", "reporter_phone": "13900001111",
    }
    response = client.post(f"{ADMIN}/add/", {**data, "photo": png()})
    assert response.status_code == 302
    event = GridEvent.objects.get()
    assert response.url == change_url(event)
    assert event.status == S.REPORTED and event.reporter_user == users["comm_a"]
    assert event.source == EventSource.HOTLINE and event.building == places["wjy1"]
    assert event.photos.get().stage == GridEventPhoto.Stage.REPORT
    assert list(event.logs.values_list("action", flat=True)) == [A.REPORT]
    refusals = [
        ({"compound": places["hgd"].pk, "building": ""}, "compound"),  # outside the area
        ({"building": places["wjy1"].pk, "compound": ""}, "compound"),
        ({"source": "rumour"}, "source"),
        ({"description": ""}, "description"),
    ]
    inactive = EventCategory.objects.create(code="gone", name="停用分类", is_active=False)
    refusals.append(({"category": inactive.pk}, "category"))
    for change, field in refusals:
        response = client.post(f"{ADMIN}/add/", {**data, **change})
        assert response.status_code == 200
        assert field in response.context["adminform"].form.errors
    response = client.post(f"{ADMIN}/add/", {**data, "photo": io.BytesIO(b"<script>")})
    assert "photo" in response.context["adminform"].form.errors
    assert GridEvent.objects.count() == 1
    # The department's staff (no add permission) cannot report here.
    assert admin_client_for(users["auditor"]).get(f"{ADMIN}/add/").status_code == 403


# ---- handlers, departments, categories -------------------------------------------------------


def test_handler_candidates(users, grid_user, open_event):
    event = open_event()
    candidates = set(event_handler_candidates(event))
    assert {users["comm_a"], users["street"], users["secretary"], grid_user,
            users["admin"]} <= candidates
    assert not {users["comm_b"], users["auditor"], users["nobody"]} & candidates
    grid_user.is_active = False
    grid_user.save()
    assert grid_user not in set(event_handler_candidates(event))


def test_departments_admin_is_scoped_and_masks_phones(tree, users, department, admin_client_for):
    department.contact_phone = "13812345678"
    department.save()
    street = admin_client_for(users["street"])
    response = street.get("/admin/grids/department/")
    assert [d.pk for d in response.context["cl"].result_list] == [department.pk]
    assert "13812345678" in response.content.decode()  # street staff may read phones
    assert admin_client_for(users["comm_a"]).get("/admin/grids/department/").context[
        "cl"].result_count == 0
    auditor = admin_client_for(users["auditor"])
    listing = auditor.get("/admin/grids/department/").content.decode()
    assert "13812345678" not in listing and "138****5678" in listing
    page = auditor.get(f"/admin/grids/department/{department.pk}/change/").content.decode()
    assert "13812345678" not in page
    response = street.get(f"/admin/grids/department/{department.pk}/change/")
    assert response.status_code == 200
    staff_field = response.context["adminform"].form.fields["staff"]
    assert department.staff_user in staff_field.queryset


def test_categories_are_read_by_staff_and_changed_by_superusers(users, category,
                                                                admin_client_for):
    url = f"/admin/grids/eventcategory/{category.pk}/change/"
    for key in ("comm_a", "street", "secretary"):
        client = admin_client_for(users[key])
        assert client.get("/admin/grids/eventcategory/").status_code == 200
        assert client.get(url).status_code == 200
        assert client.post(url, {"name": "改名"}).status_code == 403
        assert client.get("/admin/grids/eventcategory/add/").status_code == 403
    root = admin_client_for(users["admin"])
    response = root.get(url)
    assert response.context["has_change_permission"]
