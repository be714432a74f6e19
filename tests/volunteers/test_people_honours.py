"""Volunteers, teams and honours: registration (public and staff), verification, members,
nomination and approval, the public honours list and the candidates for the yearly selection."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from party_org.models import AuditEntry, Person
from volunteers import selectors
from volunteers.models import HonorTitle, TeamMembership, Volunteer
from volunteers.services import honours as honour_services
from volunteers.services import people as services

from .conftest import fund, make_person


def test_a_resident_registers_on_the_public_form(places, tree):
    volunteer = services.register_volunteer(
        None, compound=places["wjy"], name=" 孙丽 ", phone="13600000000",
        skills=["理发", "理发", "陪伴老人"],
    )
    assert volunteer.org_unit == tree["a2"] and volunteer.person.org_unit == tree["a2"]
    assert volunteer.person.name == "孙丽" and volunteer.skills == ["理发", "陪伴老人"]
    assert not volunteer.verified and volunteer.registered_by is None
    with pytest.raises(ValidationError) as err:
        services.register_volunteer(None, compound=places["wjy"], name="孙丽",
                                    phone="13600000000")
    assert "person" in err.value.message_dict
    assert Person.objects.filter(name="孙丽").count() == 1


@pytest.mark.parametrize(
    "fields, key",
    [
        ({"name": ""}, "name"),
        ({"name": "名" * 61}, "name"),
        ({"phone": ""}, "phone"),
        ({"phone": "<script>"}, "phone"),
        ({"skills": ["x" * 31]}, "skills"),
        ({"skills": [f"s{i}" for i in range(11)]}, "skills"),
        ({"skills": "not a list"}, "skills"),
        ({"compound": None}, "compound"),
        ({"note": "n" * 301}, "note"),
    ],
)
def test_bad_registrations_are_refused_by_field(places, fields, key):
    data = {"compound": places["wjy"], "name": "孙丽", "phone": "13600000000", **fields}
    with pytest.raises(ValidationError) as err:
        services.register_volunteer(None, **data)
    assert key in err.value.message_dict
    assert Volunteer.objects.count() == 0


def test_residents_cannot_verify_themselves_or_pick_a_person(places, tree):
    someone = make_person(tree["a2"], "某人")
    with pytest.raises(PermissionDenied):
        services.register_volunteer(None, compound=places["wjy"], name="孙丽",
                                    phone="13600000000", verified=True)
    with pytest.raises(PermissionDenied):
        services.register_volunteer(None, compound=places["wjy"], person=someone)


def test_staff_register_and_verify_in_scope(tree, users, member):
    with pytest.raises(PermissionDenied):
        services.register_volunteer(users["comm_b"], org_unit=tree["a2"], person=member)
    with pytest.raises(PermissionDenied):
        services.register_volunteer(users["comm_b"], org_unit=tree["b1"], person=member)
    volunteer = services.register_volunteer(users["secretary"], org_unit=tree["a2"],
                                            person=member, skills=["法律咨询"])
    assert volunteer.registered_by == users["secretary"] and not volunteer.verified
    with pytest.raises(PermissionDenied):
        services.verify_volunteer(users["comm_b"], volunteer)
    with pytest.raises(PermissionDenied):
        services.verify_volunteer(None, volunteer)
    with pytest.raises(PermissionDenied):
        services.verify_volunteer(users["auditor"], volunteer)
    services.verify_volunteer(users["secretary"], volunteer)
    assert volunteer.verified and volunteer.verified_by == users["secretary"]
    assert volunteer.verified_at is not None
    services.verify_volunteer(users["comm_a"], volunteer, verified=False)
    assert not volunteer.verified and volunteer.verified_at is None
    assert AuditEntry.objects.filter(model="volunteers.volunteer").count() == 3
    direct = services.register_volunteer(users["comm_a"], org_unit=tree["a2"], name="钱七",
                                         phone="13500000000", verified=True)
    assert direct.verified and direct.verified_by == users["comm_a"]


def test_teams_with_leaders_and_members(tree, users, volunteer, member):
    with pytest.raises(PermissionDenied):
        services.create_team(users["comm_b"], org_unit=tree["a2"], name="60工作室")
    with pytest.raises(PermissionDenied):
        services.create_team(users["auditor"], org_unit=tree["a2"], name="60工作室")
    team = services.create_team(users["secretary"], org_unit=tree["a2"], name="60工作室",
                                leader=member)
    assert list(team.members.all()) == [member]
    with pytest.raises(ValidationError) as err:
        services.create_team(users["secretary"], org_unit=tree["a2"], name="60工作室")
    assert "name" in err.value.message_dict
    services.add_member(users["secretary"], team, volunteer)
    with pytest.raises(ValidationError):
        services.add_member(users["secretary"], team, volunteer)
    with pytest.raises(PermissionDenied):
        services.add_member(users["comm_b"], team, volunteer)
    outsider = make_person(tree["b1"], "外人")
    with pytest.raises(PermissionDenied):
        services.add_member(users["secretary"], team, outsider)
    with pytest.raises(ValidationError):
        services.set_leader(users["secretary"], team, outsider)
    services.remove_member(users["secretary"], team, member)
    team.refresh_from_db()
    assert team.leader is None
    assert TeamMembership.objects.filter(team=team, left_on__isnull=True).count() == 1
    services.add_member(users["secretary"], team, member)  # back after leaving
    services.set_leader(users["secretary"], team, volunteer)
    assert team.leader == volunteer


def test_honours_are_nominated_approved_and_publicised(places, tree, users, volunteer):
    year = timezone.localdate().year
    data = dict(person=volunteer, title=HonorTitle.NEIGHBOUR_HELPER, year=year,
                citation="常年为独居老人买菜", compound=places["wjy"])
    with pytest.raises(PermissionDenied):
        honour_services.nominate_honor(users["comm_b"], **data)
    with pytest.raises(PermissionDenied):
        honour_services.nominate_honor(None, **data)
    for bad, key in (({"citation": ""}, "citation"), ({"title": "hero"}, "title"),
                     ({"year": year + 1}, "year"), ({"year": "x"}, "year")):
        with pytest.raises(ValidationError) as err:
            honour_services.nominate_honor(users["secretary"], **{**data, **bad})
        assert key in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        honour_services.nominate_honor(users["comm_a"], **{**data, "org_unit": tree["a1"]})
    assert "compound" in err.value.message_dict
    honor = honour_services.nominate_honor(users["secretary"], **data)
    assert honor.org_unit == tree["a2"] and honor.approved_at is None
    with pytest.raises(ValidationError):
        honour_services.nominate_honor(users["secretary"], **data)
    assert list(selectors.public_honours(places["wjy"])) == []
    with pytest.raises(ValidationError):
        honour_services.set_publicised(users["comm_a"], honor, True)
    with pytest.raises(PermissionDenied):
        honour_services.approve_honor(users["secretary"], honor)
    with pytest.raises(PermissionDenied):
        honour_services.approve_honor(users["comm_b"], honor)
    honour_services.approve_honor(users["comm_a"], honor)
    assert honor.approved_by == users["comm_a"] and honor.publicised
    with pytest.raises(ValidationError):
        honour_services.approve_honor(users["comm_a"], honor)
    assert list(selectors.public_honours(places["wjy"])) == [honor]
    assert list(selectors.public_honours(places["wjy"], year=year - 1)) == []
    assert list(selectors.public_honours(places["hgd"])) == []
    honour_services.set_publicised(users["comm_a"], honor, False)
    assert list(selectors.public_honours(places["wjy"])) == []
    # A unit-wide honour (no compound) shows on the pages of the unit's own compounds.
    wide = honour_services.nominate_honor(
        users["secretary"], person=volunteer, title=HonorTitle.COMMUNITY_GOOD_PERSON, year=year,
        citation="热心公益", org_unit=tree["a2"],
    )
    honour_services.approve_honor(users["street"], wide)
    assert list(selectors.public_honours(places["wjy"])) == [wide]


def test_honour_candidates_rank_by_points_and_hours_in_the_year(tree, member, volunteer,
                                                                retired):
    fund(volunteer, 80)
    fund(retired, 30)
    fund(member, 50, kind="member")
    year = timezone.localdate().year
    ranked = list(selectors.honour_candidates(tree["a"], year))
    assert [(p.name, p.points) for p in ranked] == [
        (volunteer.name, Decimal("80.00")), (member.name, Decimal("50.00")),
        (retired.name, Decimal("30.00")),
    ]
    assert list(selectors.honour_candidates(tree["b"], year)) == []
    assert list(selectors.honour_candidates(tree["a"], year - 1)) == []


def test_team_and_honour_changes_outside_scope_are_refused(tree, users, member, volunteer,
                                                           places):
    team = services.create_team(users["secretary"], org_unit=tree["a2"], name="银发服务队",
                                leader=member)
    for call in (
        lambda u: services.remove_member(u, team, member),
        lambda u: services.set_leader(u, team, member),
    ):
        with pytest.raises(PermissionDenied):
            call(users["comm_b"])
        with pytest.raises(PermissionDenied):
            call(users["auditor"])
    honor = honour_services.nominate_honor(
        users["secretary"], person=volunteer, title=HonorTitle.COMPOUND_PIONEER,
        year=timezone.localdate().year, citation="带头清理楼道", compound=places["wjy"],
    )
    honour_services.approve_honor(users["comm_a"], honor, publicise=False)
    assert not honor.publicised
    for user in (users["comm_b"], users["secretary"], None):
        with pytest.raises(PermissionDenied):
            honour_services.set_publicised(user, honor, True)
    honour_services.set_publicised(users["street"], honor, True)
    assert list(selectors.public_honours(places["wjy"])) == [honor]
