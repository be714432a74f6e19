"""Creating things in the volunteers admin, all through the services: a wish taken by phone (its
page shows the tracking code), volunteers (existing or new people, verified and unverified),
teams and their members, the organiser's steps on an activity (confirm, the check-in code,
hours) and honours (nominated from the candidates, approved, publicised).

Every add page opens for street and community staff and the superuser; a refusal (bad input, an
out-of-scope choice, a service's rule) comes back as form errors or a message with the input
kept, never a 500; staff of another community can neither open nor change these rows; the
changelists run a fixed number of queries."""

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from party_org.models import Person, StaffRole
from tests.conftest import _user
from tests.grids.conftest import grid_user  # noqa: F401 - a fixture used here
from volunteers.models import (
    Activity,
    ActivitySignup,
    Honor,
    MicroWish,
    ServiceHours,
    SignupStatus,
    TeamMembership,
    Volunteer,
    VolunteerTeam,
    WishAction,
    WishCategory,
    WishLog,
    WishStatus,
)
from volunteers.services import activities, honours
from volunteers.services import people as people_services

from .conftest import fund, make_person

pytestmark = pytest.mark.django_db
ADMIN = "/admin/volunteers"
ADD_PAGES = ["microwish", "volunteer", "volunteerteam", "activity", "honor"]


def url(model, obj=None, action=None):
    if obj is None:
        return f"{ADMIN}/{model}/add/"
    if action:
        return f"{ADMIN}/{model}/{obj.pk}/do/{action}/"
    return f"{ADMIN}/{model}/{obj.pk}/change/"


def form_errors(response):
    """The add/change form's errors (field -> messages), or the row action form's."""
    form = response.context["adminform"].form if "adminform" in response.context \
        else response.context["form"]
    return form.errors


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


# ---- every add page ----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["street", "comm_a", "admin"])
@pytest.mark.parametrize("model", ADD_PAGES)
def test_every_add_page_opens(users, admin_client_for, who, model):
    response = admin_client_for(users[who]).get(url(model))
    assert response.status_code == 200
    assert "adminform" in response.context


def test_a_grid_worker_adds_wishes_but_not_the_rest(grid_user, admin_client_for):
    client = admin_client_for(grid_user)
    assert client.get(url("microwish")).status_code == 200
    for model in ("volunteer", "volunteerteam", "activity", "honor"):
        assert client.get(url(model)).status_code == 403, model


# ---- micro-wishes ------------------------------------------------------------------------------


def wish_data(places, **fields):
    return {"compound": places["wjy"].pk, "building": places["wjy1"].pk,
            "category": WishCategory.REPAIRS, "wish": "厨房水龙头漏水，想请人修一下",
            "contact_name": "刘阿姨", "contact_phone": "13712345678", **fields}


def test_staff_add_a_wish_taken_by_phone_and_its_page_shows_the_code(places, users,
                                                                     admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.post(url("microwish"), wish_data(places))
    wish = MicroWish.objects.get()
    assert response.status_code == 302 and response.url == url("microwish", wish)
    assert wish.status == WishStatus.SUBMITTED and wish.submitted_by == users["comm_a"]
    assert wish.org_unit == places["wjy"].org_unit and wish.building == places["wjy1"]
    log = WishLog.objects.get(wish=wish)
    assert log.action == WishAction.SUBMIT and log.actor == users["comm_a"]
    page = client.get(response.url)
    assert f'data-tracking-code="{wish.tracking_code}"' in page.content.decode()
    assert f"/wishes/track/{wish.tracking_code}/" in page.content.decode()
    assert any(wish.tracking_code in m for m in messages_of(page))


@pytest.mark.parametrize("fields, field", [
    ({"wish": "  "}, "wish"),
    ({"contact_phone": "call me <b>"}, "contact_phone"),
    ({"contact_phone": ""}, "contact_phone"),
    ({"category": "pets"}, "category"),
    ({"compound": ""}, "compound"),
    ({"compound": "abc"}, "compound"),
    ({"compound": "99999999999999999999999"}, "compound"),
])
def test_bad_wishes_come_back_with_errors_and_the_input_kept(places, users, admin_client_for,
                                                             fields, field):
    response = admin_client_for(users["comm_a"]).post(url("microwish"),
                                                      wish_data(places, **fields))
    assert response.status_code == 200 and field in form_errors(response)
    assert "厨房水龙头漏水" in response.content.decode() or fields.get("wish")
    assert not MicroWish.objects.exists()


def test_a_wish_with_a_photo_and_a_file_that_is_no_photo(places, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.post(url("microwish"), wish_data(
        places, photo=SimpleUploadedFile("x.png", b"<html>not an image</html>",
                                         content_type="image/png")))
    assert response.status_code == 200 and "photo" in form_errors(response)
    assert "厨房水龙头漏水" in response.content.decode()
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    response = client.post(url("microwish"), wish_data(
        places, photo=SimpleUploadedFile("kitchen.png", buffer.getvalue(),
                                         content_type="image/png")))
    assert response.status_code == 302, form_errors(response)
    wish = MicroWish.objects.get()
    assert wish.photo and wish.photo.name.endswith(".png") and "kitchen" not in wish.photo.name


def test_a_wish_outside_the_staff_scope_is_refused(places, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.post(url("microwish"), wish_data(places, compound=places["hgd"].pk,
                                                       building=""))
    assert response.status_code == 200 and "compound" in form_errors(response)
    # A building of another compound: the service's refusal sits beside the building.
    response = client.post(url("microwish"), wish_data(places, building=places["wjy2"].pk,
                                                       compound=places["wjy"].pk))
    assert response.status_code == 302
    other = places["hgd"]
    from grids.models import Building

    far = Building.objects.create(compound=other, number="9号楼")
    response = client.post(url("microwish"), wish_data(places, building=far.pk))
    assert response.status_code == 200 and "building" in form_errors(response)
    assert MicroWish.objects.count() == 1


def test_a_wish_added_by_one_community_is_not_seen_by_another(places, users, admin_client_for):
    admin_client_for(users["comm_a"]).post(url("microwish"), wish_data(places))
    wish = MicroWish.objects.get()
    client = admin_client_for(users["comm_b"])
    assert client.get(url("microwish", wish)).status_code == 302
    response = client.post(f"{ADMIN}/microwish/{wish.pk}/step/reject/",
                           {"rejection_reason": "不归我们管"})
    assert response.status_code == 302
    wish.refresh_from_db()
    assert wish.status == WishStatus.SUBMITTED


# ---- volunteers --------------------------------------------------------------------------------


def test_register_an_existing_person_in_scope(tree, users, admin_client_for):
    person = make_person(tree["a1"], "周敏", "13600000001")
    response = admin_client_for(users["comm_a"]).post(url("volunteer"), {
        "person": person.pk, "skills_text": "理发，水电维修、理发", "note": "周末有空"})
    assert response.status_code == 302, form_errors(response)
    volunteer = Volunteer.objects.get()
    assert volunteer.person == person and volunteer.org_unit == tree["a1"]
    assert volunteer.skills == ["理发", "水电维修"] and volunteer.registered_by == users["comm_a"]
    assert not volunteer.verified


def test_register_a_new_person_by_name_and_phone_verified_at_once(tree, users, admin_client_for):
    response = admin_client_for(users["street"]).post(url("volunteer"), {
        "name": "钱多多", "phone": "13600000002", "org_unit": tree["b1"].pk,
        "verified_now": "on"})
    assert response.status_code == 302, form_errors(response)
    volunteer = Volunteer.objects.get()
    assert volunteer.person.name == "钱多多" and volunteer.person.org_unit == tree["b1"]
    assert volunteer.verified and volunteer.verified_by == users["street"]


@pytest.mark.parametrize("fields, field", [
    ({}, "person"),
    ({"name": "钱多多", "phone": "13600000002"}, "org_unit"),
    ({"name": "钱多多", "phone": "not a phone", "org_unit": "A2"}, "phone"),
    ({"name": "", "phone": "13600000002", "org_unit": "A2"}, "name"),
    ({"name": "钱多多", "phone": "13600000002", "org_unit": "A2",
      "skills_text": ",".join(f"技能{i}" for i in range(11))}, "skills_text"),
    ({"name": "钱多多", "phone": "13600000002", "org_unit": "A2", "skills_text": "x" * 31},
     "skills_text"),
])
def test_bad_registrations_come_back_with_errors(tree, users, admin_client_for, fields, field):
    if fields.get("org_unit") == "A2":
        fields["org_unit"] = tree["a2"].pk
    response = admin_client_for(users["comm_a"]).post(url("volunteer"), fields)
    assert response.status_code == 200 and field in form_errors(response), form_errors(response)
    if fields.get("name"):
        assert fields["name"] in response.content.decode()
    assert not Volunteer.objects.exists()


def test_registration_refuses_both_a_person_and_a_new_name(tree, users, admin_client_for):
    person = make_person(tree["a2"], "周敏")
    response = admin_client_for(users["comm_a"]).post(url("volunteer"), {
        "person": person.pk, "name": "钱多多", "phone": "13600000002"})
    assert response.status_code == 200 and form_errors(response).get("__all__")
    assert "钱多多" in response.content.decode()
    assert not Volunteer.objects.exists()


def test_registration_refuses_out_of_scope_people_and_units(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    outsider = make_person(tree["b1"], "外人")
    response = client.post(url("volunteer"), {"person": outsider.pk})
    assert response.status_code == 200 and "person" in form_errors(response)
    response = client.post(url("volunteer"), {"name": "钱多多", "phone": "13600000002",
                                              "org_unit": tree["c1"].pk})
    assert response.status_code == 200 and "org_unit" in form_errors(response)
    assert not Volunteer.objects.exists() and not Person.objects.filter(name="钱多多").exists()


def test_registering_a_volunteer_twice_is_refused_by_the_service(users, admin_client_for,
                                                                 volunteer):
    response = admin_client_for(users["comm_a"]).post(url("volunteer"), {"person": volunteer.pk})
    assert response.status_code == 200 and "person" in form_errors(response)
    assert Volunteer.objects.count() == 1


def test_staff_who_may_register_but_not_verify_get_no_verified_box(tree, admin_client_for):
    adder = _user("adder", StaffRole.GRID_WORKER, tree["a2"])
    adder.user_permissions.add(Permission.objects.get(codename="add_volunteer"))
    client = admin_client_for(adder)
    response = client.get(url("volunteer"))
    assert response.status_code == 200
    assert "verified_now" not in response.context["adminform"].form.fields
    response = client.post(url("volunteer"), {"name": "钱多多", "phone": "13600000002",
                                              "org_unit": tree["a2"].pk, "verified_now": "on"})
    assert response.status_code == 302
    assert not Volunteer.objects.get().verified


def test_verify_and_unverify_buttons_show_who_verified(tree, users, admin_client_for):
    person = make_person(tree["a2"], "新志愿者")
    v = people_services.register_volunteer(users["comm_a"], org_unit=tree["a2"], person=person)
    client = admin_client_for(users["comm_a"])
    page = client.get(url("volunteer", v)).content.decode()
    assert 'data-action="verify"' in page and 'data-action="unverify"' not in page
    # A GET changes nothing.
    assert client.get(url("volunteer", v, "verify")).status_code == 302
    v.refresh_from_db()
    assert not v.verified
    response = client.post(url("volunteer", v, "verify"))
    assert response.status_code == 302 and response.url == url("volunteer", v)
    v.refresh_from_db()
    assert v.verified and v.verified_by == users["comm_a"] and v.verified_at
    page = client.get(url("volunteer", v)).content.decode()
    assert 'data-action="unverify"' in page and "comm_a" in page
    assert "comm_a" in client.get(f"{ADMIN}/volunteer/").content.decode()
    client.post(url("volunteer", v, "unverify"))
    v.refresh_from_db()
    assert not v.verified and v.verified_by is None
    # Already unverified: the button is gone and a replayed post is refused with a message.
    response = client.post(url("volunteer", v, "unverify"), follow=True)
    assert response.status_code == 200 and messages_of(response)


def test_unverify_list_action(users, admin_client_for, volunteer):
    v = Volunteer.objects.get(person=volunteer)
    admin_client_for(users["street"]).post(f"{ADMIN}/volunteer/", {
        "action": "unverify", "_selected_action": [v.pk]})
    v.refresh_from_db()
    assert not v.verified


def test_another_community_cannot_open_or_verify_a_volunteer(tree, users, admin_client_for):
    person = make_person(tree["a2"], "新志愿者")
    v = people_services.register_volunteer(users["comm_a"], org_unit=tree["a2"], person=person)
    client = admin_client_for(users["comm_b"])
    assert client.get(url("volunteer", v)).status_code == 302
    assert client.post(url("volunteer", v, "verify")).status_code == 302
    client.post(f"{ADMIN}/volunteer/", {"action": "verify", "_selected_action": [v.pk]})
    v.refresh_from_db()
    assert not v.verified


def test_a_grid_worker_sees_no_verify_button(tree, users, admin_client_for, grid_user):
    person = make_person(tree["a2"], "新志愿者")
    v = people_services.register_volunteer(users["comm_a"], org_unit=tree["a2"], person=person)
    client = admin_client_for(grid_user)
    assert 'data-action="verify"' not in client.get(url("volunteer", v)).content.decode()
    client.post(url("volunteer", v, "verify"))
    v.refresh_from_db()
    assert not v.verified


# ---- teams -------------------------------------------------------------------------------------


def test_create_a_team_with_its_leader(tree, users, admin_client_for):
    leader = make_person(tree["a2"], "老张")
    response = admin_client_for(users["comm_a"]).post(url("volunteerteam"), {
        "name": "60工作室", "org_unit": tree["a2"].pk, "leader": leader.pk,
        "description": "退休老党员服务队", "founded_on": "2024-03-05"})
    assert response.status_code == 302, form_errors(response)
    team = VolunteerTeam.objects.get()
    assert team.leader == leader and team.founded_on == dt.date(2024, 3, 5)
    assert TeamMembership.objects.get(team=team).person == leader


def test_bad_teams_come_back_with_errors(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    people_services.create_team(users["comm_a"], org_unit=tree["a2"], name="银发服务队")
    response = client.post(url("volunteerteam"), {"name": "银发服务队", "org_unit": tree["a2"].pk,
                                                  "description": "重名了"})
    assert response.status_code == 200 and "name" in form_errors(response)
    assert "重名了" in response.content.decode()
    response = client.post(url("volunteerteam"), {"name": "别人的队", "org_unit": tree["b1"].pk})
    assert response.status_code == 200 and "org_unit" in form_errors(response)
    response = client.post(url("volunteerteam"), {
        "name": "新队", "org_unit": tree["a2"].pk, "leader": make_person(tree["c1"], "外人").pk})
    assert response.status_code == 200 and "leader" in form_errors(response)
    response = client.post(url("volunteerteam"), {"name": "新队", "org_unit": tree["a2"].pk,
                                                  "founded_on": "not a date"})
    assert response.status_code == 200 and "founded_on" in form_errors(response)
    assert VolunteerTeam.objects.count() == 1


@pytest.fixture
def team(tree, users):
    leader = make_person(tree["a2"], "老张")
    return people_services.create_team(users["comm_a"], org_unit=tree["a2"], name="60工作室",
                                       leader=leader)


def test_members_are_added_removed_and_led_from_the_team_page(tree, users, admin_client_for,
                                                              team):
    client = admin_client_for(users["comm_a"])
    page = client.get(url("volunteerteam", team)).content.decode()
    assert 'data-action="add_member"' in page and 'data-action="remove_member"' in page
    newcomer = make_person(tree["a2g"], "小李")
    response = client.post(url("volunteerteam", team, "add_member"),
                           {"person": newcomer.pk, "joined_on": "2025-01-02"})
    assert response.status_code == 302 and response.url == url("volunteerteam", team)
    membership = TeamMembership.objects.get(team=team, person=newcomer)
    assert membership.joined_on == dt.date(2025, 1, 2) and membership.left_on is None
    page = client.get(url("volunteerteam", team)).content.decode()
    assert "小李" in page and 'data-action="set_leader"' in page
    client.post(url("volunteerteam", team, "set_leader"), {"person": newcomer.pk})
    team.refresh_from_db()
    assert team.leader == newcomer
    client.post(url("volunteerteam", team, "remove_member"), {"person": newcomer.pk})
    team.refresh_from_db()
    membership.refresh_from_db()
    assert membership.left_on == timezone.localdate() and team.leader is None


def test_member_refusals_keep_the_input(tree, users, admin_client_for, team):
    client = admin_client_for(users["comm_a"])
    outsider = make_person(tree["b1"], "外人")
    response = client.post(url("volunteerteam", team, "add_member"),
                           {"person": outsider.pk, "joined_on": "2025-01-02"})
    assert response.status_code == 200 and "person" in form_errors(response)
    assert 'value="2025-01-02"' in response.content.decode()
    # Already in the team: the service's refusal beside the person.
    response = client.post(url("volunteerteam", team, "add_member"),
                           {"person": team.leader_id})
    assert response.status_code == 200 and "person" in form_errors(response)
    response = client.post(url("volunteerteam", team, "add_member"),
                           {"person": make_person(tree["a2"], "小王").pk, "joined_on": "x"})
    assert response.status_code == 200 and "joined_on" in form_errors(response)
    # A leader who is not a member, a member who is not there: messages, nothing changes.
    for action in ("set_leader", "remove_member"):
        for value in (outsider.pk, "x", ""):
            response = client.post(url("volunteerteam", team, action), {"person": value},
                                   follow=True)
            assert response.status_code == 200 and messages_of(response)
    team.refresh_from_db()
    assert TeamMembership.objects.filter(team=team).count() == 1 and team.leader is not None


def test_another_community_cannot_open_or_change_a_team(tree, users, admin_client_for, team):
    client = admin_client_for(users["comm_b"])
    assert client.get(url("volunteerteam", team)).status_code == 302
    person = make_person(tree["b1"], "乙社区的人")
    assert client.post(url("volunteerteam", team, "add_member"),
                       {"person": person.pk}).status_code == 302
    assert client.post(url("volunteerteam", team, "remove_member"),
                       {"person": team.leader_id}).status_code == 302
    assert TeamMembership.objects.filter(team=team, left_on__isnull=True).count() == 1


# ---- activities --------------------------------------------------------------------------------


def activity_data(tree, start, **fields):
    return {"org_unit": tree["a2"].pk, "title": "清理楼道", "place": "文锦苑1号楼",
            "description": "", "starts_at_0": start.strftime("%Y-%m-%d"),
            "starts_at_1": start.strftime("%H:%M:%S"),
            "ends_at_0": (start + dt.timedelta(hours=2)).strftime("%Y-%m-%d"),
            "ends_at_1": (start + dt.timedelta(hours=2)).strftime("%H:%M:%S"),
            "capacity": "2", "points_per_hour": "10", **fields}


def test_add_an_activity_and_refusals_keep_the_input(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    start = timezone.localtime() + dt.timedelta(days=3)
    response = client.post(url("activity"), activity_data(
        tree, start, ends_at_0=(start - dt.timedelta(days=1)).strftime("%Y-%m-%d")))
    assert response.status_code == 200 and "ends_at" in form_errors(response)
    assert "文锦苑1号楼" in response.content.decode()
    response = client.post(url("activity"), activity_data(tree, start, org_unit=tree["b1"].pk))
    assert response.status_code == 200 and "org_unit" in form_errors(response)
    assert not Activity.objects.exists()
    response = client.post(url("activity"), activity_data(tree, start))
    assert response.status_code == 302, form_errors(response)
    activity = Activity.objects.get()
    assert activity.created_by == users["comm_a"] and activity.capacity == 2


@pytest.fixture
def activity(tree, users):
    start = timezone.now() + dt.timedelta(minutes=10)
    return activities.create_activity(
        users["comm_a"], org_unit=tree["a2"], title="清理楼道", place="文锦苑",
        starts_at=start, ends_at=start + dt.timedelta(hours=2), capacity=2,
        points_per_hour=Decimal(10),
    )


def test_a_change_refused_by_the_service_keeps_the_input(tree, users, admin_client_for,
                                                         activity, volunteer, member):
    activities.sign_up(None, activity, volunteer)
    activities.sign_up(None, activity, member)
    start = timezone.localtime(activity.starts_at)
    data = activity_data(tree, start, capacity="1", title="清理楼道（改）")
    response = admin_client_for(users["comm_a"]).post(url("activity", activity), data)
    assert response.status_code == 200 and "capacity" in form_errors(response)
    assert "清理楼道（改）" in response.content.decode()
    activity.refresh_from_db()
    assert activity.capacity == 2 and activity.title == "清理楼道"
    # The organiser stays fixed: a posted unit is ignored.
    data.update(capacity="3", org_unit=tree["a1"].pk)
    response = admin_client_for(users["comm_a"]).post(url("activity", activity), data)
    assert response.status_code == 302, form_errors(response)
    activity.refresh_from_db()
    assert activity.capacity == 3 and activity.title == "清理楼道（改）"
    assert activity.org_unit == tree["a2"]


def test_the_organiser_confirms_issues_the_code_and_approves_hours(
        tree, users, admin_client_for, activity, volunteer, member, retired):
    for person in (volunteer, member, retired):
        activities.sign_up(None, activity, person)
    client = admin_client_for(users["comm_a"])
    page = client.get(url("activity", activity)).content.decode()
    assert page.count('data-action="confirm"') == 2  # the third waits for a place
    assert 'data-action="checkin_code"' in page and 'data-action="hours"' not in page
    first = ActivitySignup.objects.get(person=volunteer)
    response = client.post(url("activity", activity, "confirm"), {"signup": first.pk})
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.status == SignupStatus.CONFIRMED
    client.post(url("activity", activity, "confirm_all"))
    assert ActivitySignup.objects.get(person=member).status == SignupStatus.CONFIRMED
    assert ActivitySignup.objects.get(person=retired).status == SignupStatus.WAITLISTED
    # The check-in code: a page that explains, then the code shown once.
    assert client.get(url("activity", activity, "checkin_code")).status_code == 200
    response = client.post(url("activity", activity, "checkin_code"))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    code = re.search(r'data-code="(\d{6})"', response.content.decode()).group(1)
    activities.check_in(None, activity, volunteer, code, now_=activity.starts_at)
    activities.check_in(None, activity, member, code, now_=activity.starts_at)
    # After the activity: hours, one person at a time, from a form with the full length filled in.
    Activity.objects.filter(pk=activity.pk).update(
        starts_at=timezone.now() - dt.timedelta(hours=3),
        ends_at=timezone.now() - dt.timedelta(hours=1))
    signup = ActivitySignup.objects.get(person=volunteer)
    page = client.get(url("activity", activity)).content.decode()
    assert page.count('data-action="hours"') == 2
    response = client.get(url("activity", activity, "hours") + f"?signup={signup.pk}")
    assert response.status_code == 200
    assert response.context["form"]["hours"].value() == Decimal("2.0")
    response = client.post(url("activity", activity, "hours"), {"signup": signup.pk,
                                                                "hours": "5"})
    assert response.status_code == 200 and "hours" in form_errors(response)
    assert 'value="5"' in response.content.decode()
    response = client.post(url("activity", activity, "hours"), {"signup": signup.pk,
                                                                "hours": "1.5"})
    assert response.status_code == 302
    hours = ServiceHours.objects.get(person=volunteer)
    assert hours.hours == Decimal("1.5") and hours.approved_by == users["comm_a"]
    assert hours.points_entry.amount == Decimal("15.00")
    # Approved once only: the sign-up is no longer a choice.
    response = client.post(url("activity", activity, "hours"), {"signup": signup.pk,
                                                                "hours": "1"})
    assert response.status_code == 200 and "signup" in form_errors(response)
    client.post(url("activity", activity, "all_hours"))
    assert ServiceHours.objects.get(person=member).hours == Decimal("2.0")
    assert ServiceHours.objects.count() == 2


def test_hours_wait_for_the_end_of_the_activity(tree, users, admin_client_for, activity,
                                                volunteer):
    activities.sign_up(None, activity, volunteer)
    code = activities.issue_checkin_code(users["comm_a"], activity)
    activities.check_in(None, activity, volunteer, code, now_=activity.starts_at)
    client = admin_client_for(users["comm_a"])
    response = client.get(url("activity", activity, "hours"), follow=True)
    assert response.status_code == 200 and messages_of(response)
    assert not ServiceHours.objects.exists()


def test_confirm_signups_list_action(users, admin_client_for, activity, volunteer):
    activities.sign_up(None, activity, volunteer)
    admin_client_for(users["street"]).post(f"{ADMIN}/activity/", {
        "action": "confirm_signups", "_selected_action": [activity.pk]})
    assert ActivitySignup.objects.get().status == SignupStatus.CONFIRMED


def test_another_community_cannot_open_or_run_an_activity(users, admin_client_for, activity,
                                                          volunteer):
    signup = activities.sign_up(None, activity, volunteer)
    client = admin_client_for(users["comm_b"])
    assert client.get(url("activity", activity)).status_code == 302
    assert client.post(url("activity", activity, "checkin_code")).status_code == 302
    assert client.post(url("activity", activity, "confirm"),
                       {"signup": signup.pk}).status_code == 302
    activity.refresh_from_db()
    signup.refresh_from_db()
    assert not activity.checkin_code_hash and signup.status == SignupStatus.SIGNED_UP


def test_a_sign_up_of_another_activity_cannot_be_confirmed_through_this_one(
        tree, users, admin_client_for, activity, volunteer):
    other = activities.create_activity(
        users["comm_a"], org_unit=tree["a2"], title="义剪", place="文锦苑",
        starts_at=activity.starts_at, ends_at=activity.ends_at, capacity=2)
    activities.sign_up(None, activity, volunteer)
    foreign = activities.sign_up(None, other, volunteer)
    response = admin_client_for(users["comm_a"]).post(url("activity", activity, "confirm"),
                                                      {"signup": foreign.pk}, follow=True)
    assert response.status_code == 200 and messages_of(response)
    foreign.refresh_from_db()
    assert foreign.status == SignupStatus.SIGNED_UP


# ---- honours -----------------------------------------------------------------------------------


def test_the_nomination_page_lists_the_candidates_in_scope(tree, users, admin_client_for,
                                                           volunteer, member):
    fund(volunteer, 30)
    far = make_person(tree["c1"], "远方的人")
    fund(far, 99)
    client = admin_client_for(users["comm_a"])
    response = client.get(url("honor"))
    names = [p.name for p in response.context["candidates"]]
    assert names == [volunteer.name]
    assert response.context["candidate_unit"] == tree["a"]
    assert tree["c"] not in response.context["candidate_units"]
    # Choosing one fills in the form.
    response = client.get(url("honor") + f"?unit={tree['a2'].pk}&person={volunteer.pk}"
                          f"&year={timezone.localdate().year}&org_unit={tree['a2'].pk}")
    form = response.context["adminform"].form
    assert str(form["person"].value()) == str(volunteer.pk)
    assert response.context["candidate_unit"] == tree["a2"]
    # An out-of-scope unit in the address shows the user's own.
    response = client.get(url("honor") + f"?unit={tree['c'].pk}&year=abc")
    assert response.context["candidate_unit"] == tree["a"]


def test_nominate_approve_and_publicise(tree, places, users, admin_client_for, volunteer):
    year = timezone.localdate().year
    client = admin_client_for(users["secretary"])
    response = client.post(url("honor"), {
        "year": year, "title": "neighbour_helper", "person": volunteer.pk,
        "compound": places["wjy"].pk, "citation": "热心帮助邻居"})
    assert response.status_code == 302, form_errors(response)
    honor = Honor.objects.get()
    assert honor.nominated_by == users["secretary"] and honor.org_unit == tree["a2"]
    # A secretary nominates but does not approve: no button, and the post is refused.
    page = client.get(url("honor", honor)).content.decode()
    assert 'data-action="approve"' not in page
    client.post(url("honor", honor, "approve"))
    honor.refresh_from_db()
    assert honor.approved_at is None
    staff = admin_client_for(users["comm_a"])
    assert 'data-action="approve"' in staff.get(url("honor", honor)).content.decode()
    staff.post(url("honor", honor, "approve_quietly"))
    honor.refresh_from_db()
    assert honor.approved_by == users["comm_a"] and not honor.publicised
    staff.post(url("honor", honor, "publicise"))
    honor.refresh_from_db()
    assert honor.publicised
    page = staff.get(url("honor", honor)).content.decode()
    assert 'data-action="take_down"' in page
    staff.post(url("honor", honor, "take_down"))
    honor.refresh_from_db()
    assert not honor.publicised
    staff.post(f"{ADMIN}/honor/", {"action": "publicise", "_selected_action": [honor.pk]})
    honor.refresh_from_db()
    assert honor.publicised
    staff.post(f"{ADMIN}/honor/", {"action": "take_down", "_selected_action": [honor.pk]})
    honor.refresh_from_db()
    assert not honor.publicised


@pytest.mark.parametrize("fields, field", [
    ({"person": "OUT"}, "person"),
    ({"compound": "HGD"}, "compound"),
    ({"org_unit": "A1", "compound": "WJY"}, "compound"),
    ({"year": "1999"}, "year"),
    ({"year": "NEXT"}, "year"),
    ({"title": "hero"}, "title"),
    ({"citation": ""}, "citation"),
    ({"compound": "", "org_unit": ""}, None),
])
def test_bad_nominations_come_back_with_errors(tree, places, users, admin_client_for, volunteer,
                                               fields, field):
    lookups = {"OUT": make_person(tree["b1"], "外人").pk, "HGD": places["hgd"].pk,
               "A1": tree["a1"].pk, "WJY": places["wjy"].pk,
               "NEXT": timezone.localdate().year + 1}
    data = {"year": timezone.localdate().year, "title": "neighbour_helper",
            "person": volunteer.pk, "compound": places["wjy"].pk, "citation": "热心帮助邻居"}
    data.update({k: lookups.get(v, v) for k, v in fields.items()})
    response = admin_client_for(users["comm_a"]).post(url("honor"), data)
    assert response.status_code == 200
    errors = form_errors(response)
    assert (field in errors) if field else errors
    assert not Honor.objects.exists()


def test_a_second_nomination_for_the_same_title_is_refused(places, users, admin_client_for,
                                                           volunteer):
    data = {"year": timezone.localdate().year, "title": "neighbour_helper",
            "person": volunteer.pk, "compound": places["wjy"].pk, "citation": "热心帮助邻居"}
    client = admin_client_for(users["comm_a"])
    assert client.post(url("honor"), data).status_code == 302
    response = client.post(url("honor"), data)
    assert response.status_code == 200 and "person" in form_errors(response)
    assert Honor.objects.count() == 1


def test_another_community_cannot_open_or_approve_an_honour(places, users, admin_client_for,
                                                            volunteer):
    honor = honours.nominate_honor(users["comm_a"], person=volunteer, title="neighbour_helper",
                                   year=timezone.localdate().year, citation="热心",
                                   compound=places["wjy"])
    client = admin_client_for(users["comm_b"])
    assert client.get(url("honor", honor)).status_code == 302
    assert client.post(url("honor", honor, "approve")).status_code == 302
    client.post(f"{ADMIN}/honor/", {"action": "approve", "_selected_action": [honor.pk]})
    honor.refresh_from_db()
    assert honor.approved_at is None


# ---- the changelists keep their query counts ---------------------------------------------------


def _count_queries(client, model):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"{ADMIN}/{model}/")
    assert response.status_code == 200
    return len(queries), len(response.context["cl"].result_list)


def _grow(tree, users, n):
    """n volunteers (half verified), teams with leaders, activities and honours in branch A2,
    plus one of each in community B that community A must not see."""
    staff = users["comm_a"]
    year = timezone.localdate().year
    start = timezone.now() + dt.timedelta(days=2)
    have = Volunteer.objects.filter(org_unit=tree["a2"]).count()
    for i in range(have, n):
        person = make_person(tree["a2"], f"志愿者{i}", f"1360000{i:04d}")
        people_services.register_volunteer(staff, org_unit=tree["a2"], person=person,
                                           skills=["理发"], verified=i % 2 == 0)
        people_services.create_team(staff, org_unit=tree["a2"], name=f"服务队{i}", leader=person)
        activities.create_activity(staff, org_unit=tree["a2"], title=f"活动{i}", place="文锦苑",
                                   starts_at=start, ends_at=start + dt.timedelta(hours=1),
                                   capacity=5)
        honor = honours.nominate_honor(staff, person=person, title="neighbour_helper",
                                       year=year, citation="热心", org_unit=tree["a2"])
        if i % 2:
            honours.approve_honor(staff, honor)


@pytest.mark.parametrize("model, expected", [
    # Session, user, permissions (2), scope, counts (2), the page; then the personal-data
    # access log (volunteers' phones), the date hierarchy (activities: 2) or the year filter.
    ("volunteer", 9), ("volunteerteam", 8), ("activity", 10), ("honor", 9),
])
def test_changelists_run_a_fixed_number_of_queries(tree, users, admin_client_for, model,
                                                   expected):
    other = make_person(tree["b1"], "乙社区志愿者")
    people_services.register_volunteer(users["comm_b"], org_unit=tree["b1"], person=other)
    client = admin_client_for(users["comm_a"])
    _grow(tree, users, 3)
    small = _count_queries(client, model)
    _grow(tree, users, 12)
    large = _count_queries(client, model)
    assert small[1] == 3 and large[1] == 12
    assert small[0] == large[0] == expected


def _page_queries(client, address):
    client.get(address)  # warm the per-process caches (content types)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(address)
    assert response.status_code == 200
    return len(queries)


def test_the_row_pages_run_a_fixed_number_of_queries(tree, users, admin_client_for):
    """A team's members, an activity's sign-ups and the honour candidates: one query each,
    however many there are."""
    staff = users["comm_a"]
    client = admin_client_for(staff)
    team = people_services.create_team(staff, org_unit=tree["a2"], name="60工作室")
    start = timezone.now() + dt.timedelta(days=1)
    activity = activities.create_activity(
        staff, org_unit=tree["a2"], title="义诊", place="文锦苑", starts_at=start,
        ends_at=start + dt.timedelta(hours=1), capacity=30)
    counts = []
    for n in (2, 10):
        for i in range(TeamMembership.objects.filter(team=team).count(), n):
            person = make_person(tree["a2"], f"队员{i}")
            people_services.add_member(staff, team, person)
            activities.sign_up(None, activity, person)
            fund(person, 5 + i)
        counts.append((
            _page_queries(client, url("volunteerteam", team)),
            _page_queries(client, url("activity", activity)),
            _page_queries(client, url("honor") + f"?unit={tree['a2'].pk}"),
        ))
    # (team page, activity page, nomination page), the same for 2 rows as for 10.
    assert counts[0] == counts[1] == (9, 11, 8)
    assert len(client.get(url("honor") + f"?unit={tree['a2'].pk}").context["candidates"]) == 10


def test_the_superuser_saves_through_the_services_too(tree, places, users, admin_client_for,
                                                      volunteer):
    client = admin_client_for(users["admin"])
    assert client.post(url("microwish"), wish_data(places)).status_code == 302
    assert MicroWish.objects.get().submitted_by == users["admin"]
    assert client.post(url("volunteerteam"), {"name": "银发服务队",
                                              "org_unit": tree["c1"].pk}).status_code == 302
    response = client.post(url("honor"), {
        "year": timezone.localdate().year, "title": "community_good_person",
        "person": volunteer.pk, "org_unit": tree["a"].pk, "citation": "热心"})
    assert response.status_code == 302
    honor = Honor.objects.get()
    client.post(url("honor", honor, "approve"))
    honor.refresh_from_db()
    assert honor.publicised and honor.approved_by == users["admin"]
