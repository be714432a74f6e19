"""Companies (credit code, 三建一派), committees and their members, rules documents, terms
ending, cross-appointments (双向进入、交叉任职) and 一肩挑."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from grids.models import Compound
from party_org.models import CommitteeRole
from property_mgmt import services
from property_mgmt.models import (
    Committee,
    CommitteeDocument,
    CommitteeKind,
    CommitteeMemberRole,
    PartyFormation,
    PropertyCompany,
)
from property_mgmt.selectors import cross_appointments, one_shoulder, terms_ending

from .conftest import D, credit_code, person, seat

pytestmark = pytest.mark.django_db

OWNERS, PROPERTY = CommitteeKind.OWNERS, CommitteeKind.PROPERTY
CHAIR, VICE, MEMBER = (CommitteeMemberRole.CHAIR, CommitteeMemberRole.VICE_CHAIR,
                       CommitteeMemberRole.MEMBER)


# ---- companies --------------------------------------------------------------------------------


def test_credit_code_is_normalised_and_checked(users):
    code = credit_code("91140105MA0H7654Q")
    company = services.create_company(users["street"], name=" 红星物业 ",
                                      credit_code=f" {code[:9].lower()} {code[9:].lower()}")
    assert company.credit_code == code and company.name == "红星物业"
    wrong = code[:17] + ("0" if code[17] != "0" else "1")
    for value in (wrong, code[:17], code[:16] + "I" + code[17], ""):
        with pytest.raises(ValidationError) as excinfo:
            services.create_company(users["street"], name=f"物业{value}", credit_code=value)
        assert "credit_code" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:  # the same code twice
        services.create_company(users["street"], name="另一家物业", credit_code=code.lower())
    assert "credit_code" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        services.create_company(users["street"], name="红星物业",
                                credit_code=credit_code("91140105MA0H7654R"))
    assert "name" in excinfo.value.message_dict


def test_an_instructor_is_named_when_one_was_sent(tree, users):
    body = "91140106MA0J2222K"
    with pytest.raises(ValidationError) as excinfo:
        services.create_company(users["street"], name="派驻物业", credit_code=credit_code(body),
                                party_formation=PartyFormation.INSTRUCTOR)
    assert "instructor" in excinfo.value.message_dict
    instructor = person(tree["a"], "党建指导员")
    company = services.create_company(users["street"], name="派驻物业",
                                      credit_code=credit_code(body),
                                      party_formation=PartyFormation.INSTRUCTOR,
                                      instructor=instructor)
    with pytest.raises(ValidationError) as excinfo:
        services.update_company(users["street"], company, instructor=None)
    assert "instructor" in excinfo.value.message_dict
    outsider = person(tree["c"], "外街道的人")
    with pytest.raises(ValidationError) as excinfo:  # a person the street cannot see
        services.update_company(users["street"], company, instructor=outsider)
    assert "instructor" in excinfo.value.message_dict
    services.update_company(users["street"], company, contact_phone="0351-1234567")
    assert PropertyCompany.objects.get().contact_phone == "0351-1234567"


def test_only_streets_keep_companies(users):
    for key in ("comm_a", "secretary", "auditor", "nobody"):
        with pytest.raises(PermissionDenied):
            services.create_company(users[key], name="物业", credit_code=credit_code(
                "91140106MA0J3333K"))


# ---- committees ----------------------------------------------------------------------------------


def test_electing_a_committee_retires_the_sitting_one(places, users, tree):
    wjy = places["wjy"]
    first = services.elect_committee(users["comm_a"], wjy, PROPERTY, D(2022, 5, 1), D(2025, 4, 30))
    chair = services.add_committee_member(users["comm_a"], first, person=person(tree["a2"], "甲"),
                                          role=CHAIR)
    second = services.elect_committee(users["secretary"], wjy, OWNERS, "2025-05-01",
                                      "2030-04-30")
    first.refresh_from_db()
    chair.refresh_from_db()
    assert (first.is_active, first.ended_on) == (False, D(2025, 4, 30))
    assert chair.ended_on == D(2025, 4, 30)
    assert second.is_active and Committee.objects.filter(is_active=True).get() == second
    with pytest.raises(ValidationError) as excinfo:
        services.elect_committee(users["comm_a"], wjy, OWNERS, D(2025, 5, 1), D(2030, 1, 1))
    assert "elected_on" in excinfo.value.message_dict
    for args, field in [
        (("club", D(2026, 1, 1), D(2027, 1, 1)), "kind"),
        ((OWNERS, D(2026, 1, 1), D(2026, 1, 1)), "term_ends_on"),
        ((OWNERS, D(2099, 1, 1), D(2100, 1, 1)), "elected_on"),
    ]:
        with pytest.raises(ValidationError) as excinfo:
            services.elect_committee(users["comm_a"], wjy, *args)
        assert field in excinfo.value.message_dict


def test_members_one_chair_each_once(places, users, tree):
    committee = services.elect_committee(users["comm_a"], places["wjy"], OWNERS, D(2025, 5, 1),
                                         D(2030, 4, 30))
    a, b = person(tree["a2"], "甲"), person(tree["a2"], "乙")
    chair = services.add_committee_member(users["secretary"], committee, person=a, role=CHAIR)
    assert chair.started_on == D(2025, 5, 1)
    with pytest.raises(ValidationError) as excinfo:
        services.add_committee_member(users["secretary"], committee, person=b, role=CHAIR)
    assert "role" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        services.add_committee_member(users["secretary"], committee, person=a, role=MEMBER)
    assert "person" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        services.add_committee_member(users["secretary"], committee, person=b, role=MEMBER,
                                      started_on=D(2025, 4, 1))
    assert "started_on" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:  # someone comm_a cannot see
        services.add_committee_member(users["comm_a"], committee, person=person(tree["b"], "丙"),
                                      role=MEMBER)
    assert "person" in excinfo.value.message_dict
    services.end_committee_member(users["secretary"], chair, D(2026, 1, 31))
    services.add_committee_member(users["secretary"], committee, person=b, role=CHAIR,
                                  started_on=D(2026, 2, 1))
    with pytest.raises(ValidationError):
        services.end_committee_member(users["secretary"], chair, D(2026, 3, 1))


def test_rules_documents(places, users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    committee = services.elect_committee(users["comm_a"], places["wjy"], PROPERTY, D(2025, 5, 1),
                                         D(2028, 4, 30))
    services.attach_rules_document(
        users["secretary"], committee, kind="procedure", adopted_on=D(2025, 5, 10),
        file=SimpleUploadedFile("议事规则.pdf", b"%PDF-1.4 rules", "application/pdf"))
    services.attach_rules_document(
        users["secretary"], committee, kind="procedure", adopted_on=D(2025, 9, 1),
        file=SimpleUploadedFile("议事规则修订.pdf", b"%PDF-1.4 rules v2", "application/pdf"))
    document = CommitteeDocument.objects.get()
    assert document.adopted_on == D(2025, 9, 1) and document.file.read() == b"%PDF-1.4 rules v2"
    for kwargs, field in [
        ({"kind": "procedure", "file": SimpleUploadedFile("x.exe", b"MZ")}, "file"),
        ({"kind": "procedure", "file": None}, "file"),
        ({"kind": "poetry", "file": SimpleUploadedFile("x.pdf", b"%PDF")}, "kind"),
    ]:
        with pytest.raises(ValidationError) as excinfo:
            services.attach_rules_document(users["secretary"], committee,
                                           adopted_on=D(2025, 5, 10), **kwargs)
        assert field in excinfo.value.message_dict
    with pytest.raises(PermissionDenied):
        services.attach_rules_document(users["comm_b"], committee, kind="finance",
                                       adopted_on=D(2025, 5, 10),
                                       file=SimpleUploadedFile("x.pdf", b"%PDF"))


def test_terms_ending(places, users, tree):
    today = D(2026, 11, 22)
    soon = services.elect_committee(None, places["wjy"], OWNERS, D(2021, 12, 1), D(2027, 1, 15))
    over = services.elect_committee(None, places["hgd"], PROPERTY, D(2020, 1, 1), D(2026, 6, 30))
    services.elect_committee(None, places["bhza"], OWNERS, D(2024, 1, 1), D(2029, 1, 1))
    assert list(terms_ending(tree["s1"], today)) == [over, soon]
    assert list(terms_ending(tree["a"], today)) == [soon]
    assert list(terms_ending(tree["a"], today, within_days=30)) == []


def test_committee_scope(places, users, tree):
    with pytest.raises(PermissionDenied):
        services.elect_committee(users["comm_b"], places["wjy"], OWNERS, D(2025, 1, 1),
                                 D(2028, 1, 1))
    with pytest.raises(PermissionDenied):  # a secretary's scope is their own branch
        services.elect_committee(users["secretary"], places["bhza"], OWNERS, D(2025, 1, 1),
                                 D(2028, 1, 1))
    committee = services.elect_committee(users["comm_a"], places["wjy"], OWNERS, D(2025, 1, 1),
                                         D(2028, 1, 1))
    with pytest.raises(PermissionDenied):
        services.add_committee_member(users["comm_b"], committee,
                                      person=person(tree["b"], "丙"), role=MEMBER)
    member = services.add_committee_member(users["comm_a"], committee,
                                           person=person(tree["a"], "丁"), role=MEMBER)
    with pytest.raises(PermissionDenied):
        services.end_committee_member(users["comm_b"], member, D(2025, 6, 1))
    with pytest.raises(PermissionDenied):
        services.add_company_staff(users["comm_b"], company=PropertyCompany.objects.create(
            name="物业", credit_code=credit_code("91140106MA0J4444K")), person=person(tree["b"], "戊"),
            compound=places["wjy"], role="项目经理", started_on=D(2025, 1, 1))


# ---- cross-appointments and 一肩挑 -------------------------------------------------------------


@pytest.fixture
def crossed(tree, places, companies, users):
    """文锦苑 (A2): its secretary chairs the committee (一肩挑), a branch member is the company's
    steward. 滨河左岸 (A1a, under general branch A1): a community committee member sits on its
    committee. 化工东院 (B1): no one on both sides."""
    today = D(2026, 11, 22)
    people = {name: person(tree["a"], name) for name in ("书记", "委员", "社区委员", "业主", "管家")}
    seat(tree["a2"], people["书记"], CommitteeRole.SECRETARY)
    seat(tree["a2"], people["委员"])
    seat(tree["a"], people["社区委员"], CommitteeRole.ORGANISATION)
    seat(tree["a2"], people["业主"], started_on=D(2020, 1, 1), ended_on=D(2023, 1, 1))  # past
    wjy_committee = services.elect_committee(None, places["wjy"], PROPERTY, D(2025, 5, 1),
                                             D(2028, 4, 30))
    services.add_committee_member(None, wjy_committee, person=people["书记"], role=CHAIR)
    services.add_committee_member(None, wjy_committee, person=people["业主"], role=MEMBER)
    services.add_company_staff(None, company=companies["jinxiu"], person=people["委员"],
                               compound=places["wjy"], role="楼栋管家", started_on=D(2025, 1, 1))
    bhza_committee = services.elect_committee(None, places["bhza"], OWNERS, D(2025, 5, 1),
                                              D(2030, 4, 30))
    services.add_committee_member(None, bhza_committee, person=people["社区委员"], role=VICE)
    hgd_committee = services.elect_committee(None, places["hgd"], OWNERS, D(2025, 5, 1),
                                             D(2030, 4, 30))
    services.add_committee_member(None, hgd_committee, person=person(tree["b1"], "己"), role=CHAIR)
    return {"today": today, "people": people}


def test_cross_appointments_both_ways(crossed, places, django_assert_max_num_queries):
    people = crossed["people"]
    compounds = [places[k] for k in ("wjy", "bhza", "hgd", "jzhf")]
    with django_assert_max_num_queries(4):
        result = cross_appointments(compounds, crossed["today"])
    wjy = {entry.person.name: entry for entry in result[places["wjy"].pk]}
    assert set(wjy) == {"书记", "委员"}  # 业主's party seat ended in 2023
    assert [r.role for r in wjy["书记"].property_roles] == [CHAIR]
    assert wjy["委员"].property_roles[0].role == "楼栋管家"
    assert [e.person for e in result[places["bhza"].pk]] == [people["社区委员"]]
    assert result[places["hgd"].pk] == [] and result[places["jzhf"].pk] == []
    # Before the committee was elected nobody was on both sides but the steward.
    early = cross_appointments(Compound.objects.filter(pk=places["wjy"].pk), D(2025, 3, 1))
    assert [e.person.name for e in early[places["wjy"].pk]] == ["委员"]


def test_one_shoulder(crossed, places, tree, django_assert_max_num_queries):
    compounds = Compound.objects.all()
    with django_assert_max_num_queries(3):
        result = one_shoulder(compounds, crossed["today"])
    assert result == {places["wjy"].pk: crossed["people"]["书记"]}
    # 化工东院's chair is not its secretary; a new secretary for 文锦苑 ends the 一肩挑.
    old = tree["a2"].committee_seats.get(role=CommitteeRole.SECRETARY)
    old.ended_on = D(2026, 6, 30)
    old.save()
    seat(tree["a2"], person(tree["a2"], "新书记"), CommitteeRole.SECRETARY, started_on=D(2026, 7, 1))
    assert one_shoulder(compounds, crossed["today"]) == {}
    assert one_shoulder(compounds, D(2026, 6, 1)) == {places["wjy"].pk: crossed["people"]["书记"]}
