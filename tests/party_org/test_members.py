"""People and party members: services and history, the four ledgers in the admin, the API,
the figures, scoping by every route and pinned query counts."""

import datetime as dt
import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from django.utils.translation import gettext
from openpyxl import load_workbook

from party_org import pii, services as tree_services
from party_org.models import (
    AuditEntry,
    MemberCategory,
    MemberChange,
    MemberChangeKind,
    MemberStatus,
    PartyMember,
    Person,
    PersonalDataAccess,
    Post,
    PostAssignment,
    StaffRole,
    WorkUnit,
)
from party_org.services import members as services
from party_org.selectors import Subtree
from party_org.statistics import Period, registry

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
LEDGER_URLS = {
    MemberCategory.DIRECT: "/admin/party_org/directmember/",
    MemberCategory.MOBILE: "/admin/party_org/mobilemember/",
    MemberCategory.IN_SERVICE: "/admin/party_org/inservicemember/",
    MemberCategory.RETIRED: "/admin/party_org/retiredmember/",
}
PEOPLE_URL = "/admin/party_org/person/"
MEMBERS_URL = "/admin/party_org/partymember/"


def make_id(birth="19800101", seq="123", region="140105"):
    """A valid 18-character resident ID number (odd 17th digit = male)."""
    first = f"{region}{birth}{seq}"
    return first + pii.id_check_char(first)


def add_person(org_unit, name, phone="", id_number="", **fields):
    return services.create_person(
        None, org_unit=org_unit, name=name, phone=phone, id_number=id_number, **fields
    )


def add_member(person, category, org_unit, **fields):
    return services.create_member(None, person=person, category=category, org_unit=org_unit,
                                  **fields)


@pytest.fixture
def employer(db):
    return WorkUnit.objects.create(name="太原市第一人民医院", kind=WorkUnit.Kind.INSTITUTION)


@pytest.fixture
def ledger(tree, employer):
    """Members of all four categories in community A, and one in community B."""
    m = {}
    wang = add_person(tree["a2"], "王建国", "13812345678", make_id("19500301", "111"))
    m["wang"] = add_member(
        wang, MemberCategory.DIRECT, tree["a2g"], household=tree["a2h"],
        joined_on=dt.date(1970, 7, 1), is_veteran=True, fifty_years=True,
    )
    zhang = add_person(tree["a1a"], "张丽", "13900001111", make_id("19850612", "224"))
    m["zhang"] = add_member(
        zhang, MemberCategory.IN_SERVICE, tree["a1a"], employer=employer,
        joined_on=dt.date(2008, 6, 30),
    )
    liu = add_person(tree["a2"], "刘福生", "13700002222", make_id("19480115", "337"))
    m["liu"] = add_member(
        liu, MemberCategory.RETIRED, tree["a2"], joined_on=dt.date(1972, 3, 1),
        record_location="elsewhere", record_held_by="太原钢铁集团退休党委",
    )
    zhao = add_person(tree["a1a"], "赵小军", "13600003333", make_id("19920909", "451"))
    m["zhao"] = add_member(
        zhao, MemberCategory.MOBILE, tree["a1a"], joined_on=dt.date(2015, 7, 1),
        record_location="elsewhere", record_held_by="忻州市忻府区某村党支部",
    )
    chen = add_person(tree["b1"], "陈秀英", "13512349876", make_id("19600520", "562"))
    m["chen"] = add_member(
        chen, MemberCategory.DIRECT, tree["b1g"], joined_on=dt.date(1985, 5, 1)
    )
    return m


@pytest.fixture
def clerk(tree):
    """A community-A editor of people and members WITHOUT the personal-data permission."""
    User = get_user_model()
    user = User.objects.create_user(username="clerk_a", password="pw-Secret-123")
    tree_services.assign_staff(None, staff_user=user, org_unit=tree["a"],
                               role=StaffRole.GRID_WORKER)
    for codename in (
        "add_person", "change_person", "delete_person", "add_partymember",
        "change_partymember", "delete_partymember", "view_memberchange", "view_auditentry",
        "view_personaldataaccess",
    ):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    user = User.objects.get(pk=user.pk)
    assert not user.has_perm("party_org.view_personal_data")
    return user


def history(member):
    return list(
        MemberChange.objects.filter(member=member)
        .order_by("effective_on", "recorded_at")
        .values_list("kind", "from_value", "to_value")
    )


# ---- services: people ------------------------------------------------------------------------


def test_create_person_takes_birth_date_and_gender_from_the_id(tree, users):
    person = services.create_person(
        users["comm_a"], org_unit=tree["a2"], name=" 李梅 ", phone="13800001234",
        id_number=make_id("19750203", "242").lower(),
    )
    person.refresh_from_db()
    assert person.name == "李梅"
    assert person.birth_date == dt.date(1975, 2, 3)
    assert person.gender == "female"
    assert person.id_number == make_id("19750203", "242")
    entry = AuditEntry.objects.get(model="party_org.person", object_id=str(person.pk))
    assert entry.user == users["comm_a"] and entry.action == "create"
    assert entry.org_unit == tree["a2"]
    # The change log keeps masked values only.
    assert entry.changes["phone"] == [None, "138****1234"]
    assert "13800001234" not in str(entry.changes)
    assert make_id("19750203", "242") not in str(entry.changes)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("14010519800101123", "17"),  # too short
        (make_id()[:-1] + ("0" if make_id()[-1] != "0" else "1"), "check"),  # wrong check digit
        ("140105198002301234", "date"),  # 30 February
    ],
)
def test_create_person_refuses_invalid_id_numbers(tree, users, bad, message):
    with translation.override("en"), pytest.raises(ValidationError) as error:
        services.create_person(users["comm_a"], org_unit=tree["a2"], name="甲", id_number=bad)
    assert message in " ".join(error.value.message_dict["id_number"])
    assert not Person.objects.exists()
    assert not AuditEntry.objects.exists()


def test_duplicate_id_number_names_the_person_only_inside_scope(tree, users, ledger):
    wang_id = make_id("19500301", "111")
    with translation.override("en"), pytest.raises(ValidationError) as error:
        services.create_person(users["comm_a"], org_unit=tree["a1"], name="王", id_number=wang_id)
    assert "王建国" in error.value.message_dict["id_number"][0]
    chen_id = make_id("19600520", "562")
    with translation.override("en"), pytest.raises(ValidationError) as error:
        services.create_person(users["comm_a"], org_unit=tree["a1"], name="陈", id_number=chen_id)
    text = error.value.message_dict["id_number"][0]
    assert "陈秀英" not in text and "outside your organisation" in text
    assert Person.objects.filter(id_number_hash=Person.hash_of(chen_id)).count() == 1
    # The same holds for a change to an existing person.
    with pytest.raises(ValidationError):
        services.update_person(users["comm_a"], ledger["zhang"].person, id_number=wang_id)


def test_birth_date_or_gender_contradicting_the_id_is_refused(tree, users):
    with pytest.raises(ValidationError) as error:
        services.create_person(
            users["comm_a"], org_unit=tree["a2"], name="甲", birth_date=dt.date(1981, 1, 1),
            gender="female", id_number=make_id("19800101", "123"),
        )
    assert set(error.value.message_dict) == {"birth_date", "gender"}


def test_update_person_keeps_or_clears_personal_data(tree, users, ledger):
    wang = ledger["wang"].person
    services.update_person(users["comm_a"], wang, name="王建国")  # nothing given: kept
    wang.refresh_from_db()
    assert wang.phone == "13812345678" and wang.id_number == make_id("19500301", "111")
    assert not AuditEntry.objects.filter(model="party_org.person", action="update").exists()
    new_id = make_id("19510402", "131")
    services.update_person(users["comm_a"], wang, phone="", id_number=new_id)
    wang.refresh_from_db()
    assert wang.phone == "" and wang.birth_date == dt.date(1951, 4, 2)
    assert wang.id_number_hash == Person.hash_of(new_id)
    entry = AuditEntry.objects.get(model="party_org.person", action="update")
    assert entry.changes["phone"] == ["138****5678", ""]
    assert entry.changes["id_number"] == [
        pii.mask_id_number(make_id("19500301", "111")), pii.mask_id_number(new_id)
    ]


def test_people_outside_scope_cannot_be_changed_or_moved_out(tree, users, ledger):
    chen = ledger["chen"].person
    with pytest.raises(PermissionDenied):
        services.update_person(users["comm_a"], chen, name="篡改")
    with pytest.raises(PermissionDenied):
        services.update_person(users["comm_a"], ledger["wang"].person, org_unit=tree["b1"])
    with pytest.raises(PermissionDenied):
        services.create_person(users["comm_a"], org_unit=tree["b1"], name="甲")
    with pytest.raises(PermissionDenied):
        services.create_person(users["auditor"], org_unit=tree["a2"], name="甲")
    chen.refresh_from_db()
    assert chen.name == "陈秀英" and chen.org_unit == tree["b1"]


def test_delete_person_refused_while_a_member(tree, users, ledger):
    with translation.override("en"), pytest.raises(ValidationError) as error:
        services.delete_person(users["comm_a"], ledger["wang"].person)
    assert "王建国" in error.value.messages[0]
    lone = add_person(tree["a2"], "孤身")
    services.delete_person(users["comm_a"], lone)
    assert not Person.objects.filter(name="孤身").exists()
    assert AuditEntry.objects.filter(model="party_org.person", action="delete").count() == 1


# ---- services: members -----------------------------------------------------------------------


def test_create_member_validation_failures(tree, users, ledger, employer):
    user = users["comm_a"]
    person = add_person(tree["a2"], "新党员")

    def attempt(**fields):
        values = {"person": person, "category": MemberCategory.DIRECT, "org_unit": tree["a2"]}
        values.update(fields)
        with pytest.raises(ValidationError) as error:
            services.create_member(user, **values)
        return error.value.message_dict

    assert "org_unit" in attempt(org_unit=tree["a"])  # a community, not a branch
    assert "household" in attempt(org_unit=tree["a1a"], household=tree["a2h"])
    assert "household" in attempt(household=tree["a2g"])  # not a household
    assert "employer" in attempt(category=MemberCategory.IN_SERVICE)
    assert "record_held_by" in attempt(record_location="elsewhere")
    assert "category" in attempt(category="honorary")
    assert "joined_on" in attempt(joined_on=TODAY + dt.timedelta(days=1))
    assert "transferred_in_on" in attempt(transferred_in_on=TODAY + dt.timedelta(days=3))
    assert "transferred_in_on" in attempt(
        joined_on=dt.date(2000, 1, 1), transferred_in_on=dt.date(1999, 1, 1)
    )
    assert "person" in attempt(person=ledger["wang"].person)  # already a member
    assert "person" in attempt(person=ledger["chen"].person)  # outside the scope
    with pytest.raises(PermissionDenied):
        services.create_member(user, person=person, category="direct", org_unit=tree["b1"])
    with pytest.raises(PermissionDenied):
        services.create_member(
            users["auditor"], person=person, category="direct", org_unit=tree["a2"]
        )
    assert not PartyMember.objects.filter(person=person).exists()


def test_already_member_message_is_clear(tree, users, ledger):
    with translation.override("en"), pytest.raises(ValidationError) as error:
        services.create_member(users["comm_a"], person=ledger["wang"].person,
                               category="retired", org_unit=tree["a2"])
    assert error.value.message_dict["person"] == [
        "This person is already recorded as a party member."
    ]


def test_create_member_with_transfer_in_records_history_and_audit(tree, users):
    person = add_person(tree["a2"], "孙立")
    member = services.create_member(
        users["secretary"], person=person, category=MemberCategory.MOBILE, org_unit=tree["a2"],
        joined_on=dt.date(2010, 7, 1), record_location="elsewhere", record_held_by="阳曲县委",
        transferred_in_on=dt.date(2024, 3, 1), transferred_from="阳曲县某镇党委",
    )
    assert history(member) == [
        (MemberChangeKind.TRANSFER_IN, "阳曲县某镇党委", "文锦苑小区党支部")
    ]
    change = member.changes.get()
    assert change.recorded_by == users["secretary"] and change.effective_on == dt.date(2024, 3, 1)
    entry = AuditEntry.objects.get(model="party_org.partymember")
    assert entry.action == "create" and entry.user == users["secretary"]
    assert entry.changes["category"] == [None, "mobile"]
    # A secretary of A2 cannot add members to another branch of the community.
    other = add_person(tree["a1a"], "周")
    with pytest.raises(PermissionDenied):
        services.create_member(users["secretary"], person=other, category="direct",
                               org_unit=tree["a1a"])


def test_category_change_keeps_a_dated_history(tree, users, ledger, employer):
    zhang = ledger["zhang"]
    services.change_category(
        users["comm_a"], zhang, MemberCategory.RETIRED, dt.date(2025, 1, 1), note="退休",
    )
    zhang.refresh_from_db()
    assert zhang.category == MemberCategory.RETIRED
    assert history(zhang) == [(MemberChangeKind.CATEGORY, "in_service", "retired")]
    change = zhang.changes.get()
    assert change.note == "退休" and change.effective_on == dt.date(2025, 1, 1)
    assert services.history_value_label(change.kind, change.from_value) == str(
        MemberCategory.IN_SERVICE.label
    )
    entry = AuditEntry.objects.get(model="party_org.partymember", action="update")
    assert entry.changes == {"category": ["in_service", "retired"]}
    # Back to in service needs an employer, which may come with the change.
    with pytest.raises(ValidationError) as error:
        services.change_category(users["comm_a"], ledger["liu"], "in_service", TODAY)
    assert "employer" in error.value.message_dict
    services.change_category(users["comm_a"], ledger["liu"], "in_service", TODAY,
                             employer=employer)
    assert PartyMember.objects.get(pk=ledger["liu"].pk).employer == employer


def test_history_dates_are_checked(tree, users, ledger):
    wang = ledger["wang"]
    for bad in (TODAY + dt.timedelta(days=1), dt.date(1960, 1, 1)):  # future; before joining
        with pytest.raises(ValidationError) as error:
            services.change_category(users["comm_a"], wang, "retired", bad)
        assert "effective_on" in error.value.message_dict
    services.change_category(users["comm_a"], wang, "retired", dt.date(2020, 5, 1))
    with pytest.raises(ValidationError) as error:
        services.move_member(users["comm_a"], wang, tree["a2"], dt.date(2019, 1, 1))
    assert "effective_on" in error.value.message_dict
    assert history(wang) == [(MemberChangeKind.CATEGORY, "direct", "retired")]


def test_move_member_leaves_the_household_and_stays_in_scope(tree, users, ledger):
    wang = ledger["wang"]
    services.move_member(users["comm_a"], wang, tree["a1a"], TODAY, note="搬家")
    wang.refresh_from_db()
    assert wang.org_unit == tree["a1a"] and wang.household is None
    assert history(wang) == [(MemberChangeKind.UNIT, "文锦苑1号楼党小组", "滨河左岸第一网格党支部")]
    with pytest.raises(PermissionDenied):
        services.move_member(users["comm_a"], wang, tree["b1"], TODAY)
    with pytest.raises(PermissionDenied):
        services.move_member(users["comm_a"], ledger["chen"], tree["a2"], TODAY)
    with pytest.raises(ValidationError):
        services.move_member(users["comm_a"], wang, tree["a"], TODAY)  # not a branch
    assert PartyMember.objects.get(pk=wang.pk).org_unit == tree["a1a"]


def test_transfer_out_and_back_and_status_rules(tree, users, ledger):
    user = users["comm_a"]
    zhao = ledger["zhao"]
    with pytest.raises(ValidationError) as error:
        services.transfer_out(user, zhao, TODAY, "  ")
    assert "transfer_place" in error.value.message_dict
    services.transfer_out(user, zhao, dt.date(2025, 2, 1), "忻州市委组织部")
    zhao.refresh_from_db()
    assert zhao.status == MemberStatus.TRANSFERRED_OUT
    with pytest.raises(ValidationError):
        services.change_category(user, zhao, MemberCategory.DIRECT, TODAY)
    with pytest.raises(ValidationError) as error:
        services.set_status(user, zhao, MemberStatus.DECEASED, TODAY)
    assert "status" in error.value.message_dict
    services.transfer_back_in(user, zhao, dt.date(2025, 6, 1), "忻州市委组织部",
                              org_unit=tree["a2"])
    zhao.refresh_from_db()
    assert zhao.status == MemberStatus.ACTIVE and zhao.org_unit == tree["a2"]
    services.set_status(user, zhao, MemberStatus.DECEASED, dt.date(2025, 9, 1), note="病故")
    assert history(zhao) == [
        (MemberChangeKind.TRANSFER_OUT, "滨河左岸第一网格党支部", "忻州市委组织部"),
        (MemberChangeKind.TRANSFER_IN, "忻州市委组织部", "文锦苑小区党支部"),
        (MemberChangeKind.STATUS, "active", "deceased"),
    ]
    assert AuditEntry.objects.filter(
        model="party_org.partymember", object_id=str(zhao.pk), action="update"
    ).count() == 3


def test_update_member_corrections_write_no_history(tree, users, ledger):
    wang = ledger["wang"]
    services.update_member(users["comm_a"], wang, is_cadre=True, joined_on=dt.date(1970, 8, 1))
    assert history(wang) == []
    entry = AuditEntry.objects.get(model="party_org.partymember", action="update")
    assert entry.changes == {"is_cadre": [False, True], "joined_on": ["1970-07-01", "1970-08-01"]}
    # An unchanged save writes nothing at all.
    services.update_member(users["comm_a"], wang, is_cadre=True)
    assert AuditEntry.objects.filter(action="update").count() == 1


def test_delete_member_refused_while_holding_a_post(tree, users, ledger):
    post = Post.objects.create(org_unit=tree["a2"], kind="legal_advice", name="法律咨询岗",
                               duties="每月坐班一次")
    PostAssignment.objects.create(post=post, member=ledger["wang"], started_on=TODAY)
    with pytest.raises(ValidationError):
        services.delete_member(users["comm_a"], ledger["wang"])
    with pytest.raises(PermissionDenied):
        services.delete_member(users["comm_a"], ledger["chen"])
    with pytest.raises(PermissionDenied):
        services.delete_member(users["secretary"], ledger["liu"])  # secretaries may not delete
    services.delete_member(users["comm_a"], ledger["liu"])
    assert not PartyMember.objects.filter(pk=ledger["liu"].pk).exists()
    assert AuditEntry.objects.filter(model="party_org.partymember", action="delete").count() == 1


# ---- admin: the ledgers ----------------------------------------------------------------------


def listed_names(response):
    assert response.status_code == 200
    return {obj.person.name for obj in response.context["cl"].result_list}


def inline_data(response):
    """The management and row ids of the change page's inlines, as the browser posts them."""
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[f"{formset.prefix}-{name}"] = management[name].value()
        for index, form in enumerate(formset.forms):
            if form.instance.pk:
                data[f"{formset.prefix}-{index}-id"] = form.instance.pk
                data[f"{formset.prefix}-{index}-member"] = form.instance.member_id
    return data


def member_post(member, **changes):
    data = {
        "category": member.category,
        "org_unit": member.org_unit_id,
        "household": member.household_id or "",
        "joined_on": member.joined_on.isoformat() if member.joined_on else "",
        "employer": member.employer_id or "",
        "record_location": member.record_location,
        "record_held_by": member.record_held_by,
        "status": member.status,
    }
    for flag in ("is_veteran", "is_cadre", "fifty_years"):
        if getattr(member, flag):
            data[flag] = "on"
    data.update(changes)
    return data


def test_each_ledger_lists_its_category_in_scope(tree, users, ledger, admin_client_for):
    client = admin_client_for(users["comm_a"])
    assert listed_names(client.get(LEDGER_URLS["direct"])) == {"王建国"}
    assert listed_names(client.get(LEDGER_URLS["in_service"])) == {"张丽"}
    assert listed_names(client.get(LEDGER_URLS["retired"])) == {"刘福生"}
    assert listed_names(client.get(LEDGER_URLS["mobile"])) == {"赵小军"}
    assert listed_names(client.get(MEMBERS_URL)) == {"王建国", "张丽", "刘福生", "赵小军"}
    assert listed_names(admin_client_for(users["street"]).get(LEDGER_URLS["direct"])) == {
        "王建国", "陈秀英"
    }


def test_ledger_columns_filters_and_search(tree, users, ledger, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.get(LEDGER_URLS["retired"])
    page = response.content.decode()
    assert "太原钢铁集团退休党委" in page  # record held by
    assert "13700002222" in page  # comm_a holds the personal-data permission
    response = client.get(LEDGER_URLS["in_service"])
    assert "太原市第一人民医院" in response.content.decode()
    direct = client.get(LEDGER_URLS["direct"]).content.decode()
    flags = str(PartyMember._meta.get_field("fifty_years").verbose_name)
    assert "文锦苑1号楼党小组" in direct and "王家党员中心户" in direct and flags in direct
    assert listed_names(client.get(MEMBERS_URL, {"q": "张"})) == {"张丽"}
    assert listed_names(client.get(MEMBERS_URL, {"q": "陈"})) == set()
    assert listed_names(client.get(MEMBERS_URL, {"fifty_years__exact": "1"})) == {"王建国"}
    assert listed_names(client.get(MEMBERS_URL, {"org_unit__id__exact": tree["a1a"].pk})) == {
        "张丽", "赵小军"
    }
    services.transfer_out(users["comm_a"], ledger["zhao"], TODAY, "外地")
    assert listed_names(client.get(LEDGER_URLS["mobile"], {"status__exact": "active"})) == set()
    # The branch filter offers only units in scope.
    response = client.get(MEMBERS_URL)
    spec = next(f for f in response.context["cl"].filter_specs if f.field_path == "org_unit")
    offered = {label for _pk, label in spec.lookup_choices}
    assert offered == {"文锦苑1号楼党小组", "滨河左岸第一网格党支部", "文锦苑小区党支部"}


def test_ledger_add_goes_through_the_service(tree, users, admin_client_for, employer):
    client = admin_client_for(users["comm_a"])
    person = add_person(tree["a1a"], "吴刚")
    response = client.post(LEDGER_URLS["in_service"] + "add/", {
        "person": person.pk, "org_unit": tree["a1a"].pk, "joined_on": "2012-07-01",
        "employer": employer.pk, "record_location": "here", "record_held_by": "",
        "transferred_in_on": "2024-05-01", "transfer_place": "小店区某局党组",
        "changes-TOTAL_FORMS": 0, "changes-INITIAL_FORMS": 0,
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    member = PartyMember.objects.get(person=person)
    assert member.category == MemberCategory.IN_SERVICE
    assert history(member) == [(MemberChangeKind.TRANSFER_IN, "小店区某局党组", "滨河左岸第一网格党支部")]
    assert AuditEntry.objects.filter(model="party_org.partymember", action="create",
                                     user=users["comm_a"]).count() == 1


def test_ledger_add_shows_errors_beside_the_fields(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    person = add_person(tree["a1a"], "吴刚")
    response = client.post(LEDGER_URLS["in_service"] + "add/", {
        "person": person.pk, "org_unit": tree["a1a"].pk, "household": tree["a2h"].pk,
        "record_location": "elsewhere", "record_held_by": "",
        "transferred_in_on": (TODAY + dt.timedelta(days=2)).isoformat(),
        "changes-TOTAL_FORMS": 0, "changes-INITIAL_FORMS": 0,
    })
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"employer", "household", "record_held_by", "transferred_in_on"} <= set(errors)
    assert not PartyMember.objects.exists()


def test_ledger_change_moves_to_the_other_ledger_with_history(tree, users, ledger,
                                                              admin_client_for):
    client = admin_client_for(users["comm_a"])
    zhang = ledger["zhang"]
    url = f"{LEDGER_URLS['in_service']}{zhang.pk}/change/"
    page = client.get(url)
    data = member_post(zhang, category="retired", effective_on="2025-03-01",
                       change_note="到龄退休", **inline_data(page))
    response = client.post(url, data)
    assert response.status_code == 302
    assert response["Location"] == f"{LEDGER_URLS['retired']}{zhang.pk}/change/"
    assert history(zhang) == [(MemberChangeKind.CATEGORY, "in_service", "retired")]
    # The history shows on the member page.
    page = client.get(response["Location"]).content.decode()
    assert "到龄退休" in page and "2025" in page


def test_ledger_change_refuses_transfer_without_destination(tree, users, ledger,
                                                            admin_client_for):
    client = admin_client_for(users["comm_a"])
    wang = ledger["wang"]
    url = f"{LEDGER_URLS['direct']}{wang.pk}/change/"
    data = member_post(wang, status="transferred_out", **inline_data(client.get(url)))
    response = client.post(url, data)
    assert response.status_code == 200
    assert "transfer_place" in response.context["adminform"].form.errors
    wang.refresh_from_db()
    assert wang.status == MemberStatus.ACTIVE and history(wang) == []


def test_ledger_permissions_follow_partymember(tree, users, ledger, admin_client_for):
    grid = get_user_model().objects.create_user(username="grid_a", password="pw-Secret-123")
    tree_services.assign_staff(None, staff_user=grid, org_unit=tree["a"],
                               role=StaffRole.GRID_WORKER)
    client = admin_client_for(grid)
    assert listed_names(client.get(LEDGER_URLS["direct"])) == {"王建国"}
    assert client.get(LEDGER_URLS["direct"] + "add/").status_code == 403
    assert admin_client_for(users["nobody"]).get(LEDGER_URLS["direct"]).status_code == 302


def test_ledger_export_has_chinese_headers_and_only_scope(tree, users, ledger,
                                                          admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.post(LEDGER_URLS["retired"], {
        "action": "export_xlsx", "select_across": "1", "index": "0",
        "_selected_action": [m.pk for m in PartyMember.objects.all()],
    })
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    with translation.override("zh-hans"):
        expected = [gettext(label) for label in ("name", "membership record", "record held by")]
    for header in expected:
        assert header in rows[0]
    assert [row[0] for row in rows[1:]] == ["刘福生"]


def test_admin_delete_member_goes_through_the_service(tree, users, ledger, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.post(f"{LEDGER_URLS['mobile']}{ledger['zhao'].pk}/delete/",
                           {"post": "yes"})
    assert response.status_code == 302
    assert not PartyMember.objects.filter(pk=ledger["zhao"].pk).exists()
    assert AuditEntry.objects.filter(action="delete", model="party_org.partymember").exists()


# ---- admin: people ---------------------------------------------------------------------------


def test_person_admin_add_and_duplicate_id(tree, users, ledger, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.post(PEOPLE_URL + "add/", {
        "name": "郑和", "gender": "", "birth_date": "", "org_unit": tree["a2"].pk,
        "phone_number": "13811112222", "id_number": make_id("19700707", "713"),
    })
    assert response.status_code == 302
    person = Person.objects.get(name="郑和")
    assert person.phone == "13811112222" and person.birth_date == dt.date(1970, 7, 7)
    response = client.post(PEOPLE_URL + "add/", {
        "name": "郑和二", "org_unit": tree["a2"].pk, "phone_number": "",
        "id_number": make_id("19700707", "713"),
    })
    assert response.status_code == 200
    assert "郑和" in " ".join(response.context["adminform"].form.errors["id_number"])
    response = client.post(PEOPLE_URL + "add/", {
        "name": "错号", "org_unit": tree["a2"].pk, "id_number": "140105197007077130",
    })
    assert response.status_code == 200 and "id_number" in response.context["adminform"].form.errors
    assert Person.objects.filter(name__startswith="郑和").count() == 1


def test_person_autocomplete_for_a_new_member_offers_people_in_scope_not_yet_members(
    tree, users, ledger, admin_client_for
):
    client = admin_client_for(users["comm_a"])
    add_person(tree["a2"], "王小二")
    add_person(tree["b1"], "王大锤")
    response = client.get("/admin/autocomplete/", {
        "app_label": "party_org", "model_name": "directmember", "field_name": "person",
        "term": "王",
    })
    assert response.status_code == 200
    assert {item["text"] for item in response.json()["results"]} == {"王小二"}


def test_member_form_choices_are_scoped(tree, users, ledger, admin_client_for):
    form = admin_client_for(users["comm_a"]).get(
        LEDGER_URLS["direct"] + "add/"
    ).context["adminform"].form
    units = set(form.fields["org_unit"].queryset.values_list("code", flat=True))
    assert units == {"A1", "A1a", "A2", "A2G"}
    assert set(form.fields["household"].queryset.values_list("code", flat=True)) == {"A2H"}
    assert not form.fields["person"].queryset.filter(name="陈秀英").exists()


def test_member_add_refuses_a_person_or_unit_of_b(tree, users, ledger, admin_client_for):
    client = admin_client_for(users["comm_a"])
    b_person = add_person(tree["b1"], "外人")
    mine = add_person(tree["a2"], "自己人")
    for person, unit in ((b_person, tree["a2"]), (mine, tree["b1"])):
        response = client.post(LEDGER_URLS["direct"] + "add/", {
            "person": person.pk, "org_unit": unit.pk, "record_location": "here",
            "changes-TOTAL_FORMS": 0, "changes-INITIAL_FORMS": 0,
        })
        assert response.status_code == 200
    assert PartyMember.objects.count() == len(ledger)


# ---- scoping matrix: community A staff reach nothing of community B --------------------------


def _not_found(client, url):
    response = client.get(url, follow=True)
    assert response.redirect_chain, url
    text = " ".join(str(m) for m in response.context["messages"])
    return "不存在" in text or "doesn’t exist" in text


def test_scoping_admin_people_members_history_and_logs(tree, users, ledger, admin_client_for):
    services.change_category(None, ledger["chen"], "retired", TODAY)
    services.change_category(None, ledger["wang"], "retired", TODAY)
    client = admin_client_for(users["comm_a"])
    chen = ledger["chen"]
    chen_change = chen.changes.get()
    assert "陈秀英" not in {p.name for p in client.get(PEOPLE_URL).context["cl"].result_list}
    for url in (
        f"{PEOPLE_URL}{chen.person.pk}/change/", f"{PEOPLE_URL}{chen.person.pk}/delete/",
        f"{MEMBERS_URL}{chen.pk}/change/", f"{MEMBERS_URL}{chen.pk}/delete/",
        f"{LEDGER_URLS['retired']}{chen.pk}/change/",
        f"/admin/party_org/memberchange/{chen_change.pk}/change/",
    ):
        assert _not_found(client, url), url
    changes = client.get("/admin/party_org/memberchange/").context["cl"].result_list
    assert {c.member.person.name for c in changes} == {"王建国"}
    audit_entries = client.get("/admin/party_org/auditentry/").context["cl"].result_list
    assert audit_entries and all(
        e.org_unit.is_descendant_of(tree["a"], include_self=True) for e in audit_entries
    )
    assert not any("陈秀英" in e.summary for e in audit_entries)
    # POSTs against B change nothing.
    client.post(f"{PEOPLE_URL}{chen.person.pk}/change/",
                {"name": "篡改", "org_unit": tree["a2"].pk})
    client.post(f"{MEMBERS_URL}{chen.pk}/delete/", {"post": "yes"})
    chen.refresh_from_db()
    assert chen.person.name == "陈秀英" and chen.org_unit == tree["b1g"]
    # Exports carry only the scope, whatever is selected.
    everyone = list(Person.objects.values_list("pk", flat=True))
    response = client.post(PEOPLE_URL, {"action": "export_xlsx", "_selected_action": everyone})
    names = [r[0] for r in load_workbook(io.BytesIO(response.content)).active.iter_rows(
        min_row=2, values_only=True)]
    assert "陈秀英" not in names and "王建国" in names


def test_scoping_access_log_admin(tree, users, ledger, admin_client_for):
    admin_client_for(users["comm_b"]).get(LEDGER_URLS["direct"])  # B reads chen in full
    admin_client_for(users["comm_a"]).get(LEDGER_URLS["direct"])  # A reads wang in full
    assert PersonalDataAccess.objects.count() == 2
    listed = admin_client_for(users["comm_a"]).get(
        "/admin/party_org/personaldataaccess/"
    ).context["cl"].result_list
    assert [row.person.name for row in listed] == ["王建国"]
    chen_read = PersonalDataAccess.objects.get(person=ledger["chen"].person)
    assert _not_found(admin_client_for(users["comm_a"]),
                      f"/admin/party_org/personaldataaccess/{chen_read.pk}/change/")


def api_names(response):
    assert response.status_code == 200, response.content
    return {row["name"] for row in response.json()["results"]}


def test_scoping_api(tree, users, ledger, api_for):
    client = api_for(users["comm_a"])
    chen = ledger["chen"]
    assert api_names(client.get("/api/v1/people/")) == {"王建国", "张丽", "刘福生", "赵小军"}
    assert api_names(client.get("/api/v1/members/")) == {"王建国", "张丽", "刘福生", "赵小军"}
    for url in (f"/api/v1/people/{chen.person.pk}/", f"/api/v1/members/{chen.pk}/"):
        assert client.get(url).status_code == 404
        assert client.patch(url, {"name": "x", "is_cadre": True}, format="json").status_code == 404
        assert client.delete(url).status_code == 404
    assert api_names(client.get("/api/v1/members/", {"ancestor": tree["b"].pk})) == set()
    assert api_names(client.get("/api/v1/members/", {"search": "陈"})) == set()
    assert api_names(client.get("/api/v1/people/", {"ancestor": tree["b"].pk})) == set()
    chen.refresh_from_db()
    assert chen.person.name == "陈秀英" and not chen.is_cadre


def test_api_cannot_pick_b_person_or_unit(tree, users, ledger, api_for):
    client = api_for(users["comm_a"])
    mine = add_person(tree["a2"], "自己人")
    b_person = add_person(tree["b1"], "外人")
    response = client.post("/api/v1/members/", {
        "person": b_person.pk, "category": "direct", "org_unit": tree["a2"].pk,
    }, format="json")
    assert response.status_code == 400 and "person" in response.json()
    response = client.post("/api/v1/members/", {
        "person": mine.pk, "category": "direct", "org_unit": tree["b1"].pk,
    }, format="json")
    assert response.status_code == 400 and "org_unit" in response.json()
    response = client.patch(f"/api/v1/members/{ledger['wang'].pk}/",
                            {"org_unit": tree["b1"].pk}, format="json")
    assert response.status_code == 400
    response = client.post("/api/v1/people/", {"name": "x", "org_unit": tree["b1"].pk},
                           format="json")
    assert response.status_code == 400 and "org_unit" in response.json()
    assert PartyMember.objects.count() == len(ledger)


# ---- API -------------------------------------------------------------------------------------


def test_api_member_filters(tree, users, ledger, api_for):
    client = api_for(users["street"])
    url = "/api/v1/members/"
    assert api_names(client.get(url, {"category": "direct"})) == {"王建国", "陈秀英"}
    assert api_names(client.get(url, {"category": ["retired", "mobile"]})) == {"刘福生", "赵小军"}
    assert api_names(client.get(url, {"ancestor": tree["a2"].pk})) == {"王建国", "刘福生"}
    assert api_names(client.get(url, {"org_unit": tree["a1a"].pk})) == {"张丽", "赵小军"}
    assert api_names(client.get(url, {"search": "丽"})) == {"张丽"}
    assert api_names(client.get(url, {"fifty_years": "true"})) == {"王建国"}
    services.transfer_out(None, ledger["zhao"], TODAY, "外地")
    assert api_names(client.get(url, {"status": "transferred_out"})) == {"赵小军"}
    assert api_names(client.get(url, {"status": "active", "ancestor": tree["a1a"].pk})) == {
        "张丽"
    }
    response = client.get(url, {"category": "honorary"})
    assert response.status_code == 400 and "category" in response.json()


def test_api_create_update_and_history(tree, users, ledger, api_for, employer):
    client = api_for(users["comm_a"])
    response = client.post("/api/v1/people/", {
        "name": "冯涛", "org_unit": tree["a2"].pk, "phone": "13611112222",
        "id_number": make_id("19880808", "815"),
    }, format="json")
    assert response.status_code == 201, response.json()
    person_id = response.json()["id"]
    assert response.json()["birth_date"] == "1988-08-08"
    response = client.post("/api/v1/members/", {
        "person": person_id, "category": "in_service", "org_unit": tree["a2g"].pk,
        "employer": employer.pk, "joined_on": "2011-07-01",
    }, format="json")
    assert response.status_code == 201, response.json()
    member_id = response.json()["id"]
    response = client.patch(f"/api/v1/members/{member_id}/", {
        "status": "transferred_out", "transfer_place": "杏花岭区某街道党工委",
        "effective_on": TODAY.isoformat(),
    }, format="json")
    assert response.status_code == 200, response.json()
    detail = client.get(f"/api/v1/members/{member_id}/").json()
    assert detail["status"] == "transferred_out"
    assert [(h["kind"], h["to_value"]) for h in detail["history"]] == [
        ("transfer_out", "杏花岭区某街道党工委")
    ]
    # Illegal changes are clear 400s, never 500s.
    response = client.patch(f"/api/v1/members/{member_id}/", {"status": "deceased"},
                            format="json")
    assert response.status_code == 400 and "status" in response.json()
    response = client.patch(f"/api/v1/members/{ledger['wang'].pk}/",
                            {"person": person_id}, format="json")
    assert response.status_code == 400 and "person" in response.json()
    response = client.post("/api/v1/people/", {
        "name": "错", "org_unit": tree["a2"].pk, "id_number": "123",
    }, format="json")
    assert response.status_code == 400 and "id_number" in response.json()
    response = client.delete(f"/api/v1/people/{person_id}/")
    assert response.status_code == 409


def test_api_secretary_and_auditor_permissions(tree, users, ledger, api_for):
    assert api_for(users["auditor"]).get("/api/v1/members/").status_code == 200
    response = api_for(users["auditor"]).patch(
        f"/api/v1/members/{ledger['wang'].pk}/", {"is_cadre": True}, format="json"
    )
    assert response.status_code == 403
    secretary = api_for(users["secretary"])
    assert api_names(secretary.get("/api/v1/members/")) == {"王建国", "刘福生"}
    assert secretary.delete(f"/api/v1/members/{ledger['wang'].pk}/").status_code == 403
    assert api_for(users["nobody"]).get("/api/v1/members/").status_code == 403


# ---- figures ---------------------------------------------------------------------------------


def figures_for(node, period):
    return {f["name"]: f["value"] for f in registry.compute(Subtree.of(node), period)}


def test_member_figures_by_category_and_as_of_the_period_end(tree, users, ledger):
    now = figures_for(tree["a"], Period(None, TODAY))
    assert [now[f"members.{c}"] for c in ("direct", "mobile", "in_service", "retired")] == [
        1, 1, 1, 1
    ]
    assert now["members.active"] == 4
    assert now["members.retired_record_elsewhere"] == 1
    assert figures_for(tree["s1"], Period(None, TODAY))["members.active"] == 5

    services.change_category(None, ledger["zhang"], "retired", dt.date(2025, 1, 1))
    services.set_status(None, ledger["wang"], "deceased", dt.date(2025, 2, 1))
    services.transfer_out(None, ledger["zhao"], dt.date(2025, 3, 1), "外地")
    late = add_person(tree["a2"], "钱进")
    add_member(late, "direct", tree["a2"], joined_on=dt.date(2025, 1, 1),
               transferred_in_on=dt.date(2025, 4, 10), transferred_from="阳泉市委")
    add_member(add_person(tree["a2"], "新人"), "direct", tree["a2"],
               joined_on=dt.date(2025, 4, 20))

    before = figures_for(tree["a"], Period.month(2024, 12))
    assert before["members.in_service"] == 1 and before["members.retired"] == 1
    assert before["members.direct"] == 1 and before["members.mobile"] == 1
    assert before["members.active"] == 4
    assert before["members.joined_in_period"] == 0

    april = figures_for(tree["a"], Period.month(2025, 4))
    assert april["members.direct"] == 2  # 钱进 arrived, 新人 joined; 王建国 died in February
    assert april["members.retired"] == 2 and april["members.in_service"] == 0
    assert april["members.mobile"] == 0 and april["members.active"] == 4
    assert april["members.joined_in_period"] == 1
    assert april["members.transferred_in"] == 1 and april["members.transferred_out"] == 0
    march = figures_for(tree["a"], Period.month(2025, 3))
    assert march["members.transferred_out"] == 1 and march["members.transferred_in"] == 0
    # Community B is not counted in A, and A's transfers are not in C.
    assert figures_for(tree["b"], Period(None, TODAY))["members.active"] == 1
    assert figures_for(tree["c"], Period.month(2025, 3))["members.transferred_out"] == 0


def test_member_figures_query_count_is_bounded(tree, users, ledger):
    from party_org.figures.members import member_figures, transfer_figures

    for group in (member_figures, transfer_figures):
        with CaptureQueriesContext(connection) as ctx:
            group(Subtree.of(tree["s1"]), Period.month(2025, 4))
        assert len(ctx.captured_queries) == 1


# ---- pinned query counts ---------------------------------------------------------------------


def _grow_members(tree, n):
    for i in range(n):
        person = add_person(tree["a2"], f"党员{i:02d}", f"1380000{i:04d}",
                            make_id("19700101", f"{i:03d}"))
        add_member(person, MemberCategory.DIRECT, tree["a2g"], household=tree["a2h"],
                   joined_on=dt.date(2000, 1, 1))


def _count(client, url, params=None):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(ctx.captured_queries), response


@pytest.mark.parametrize("user_key", ["comm_a", "auditor"])  # full data (logged) and masked
def test_members_api_list_query_count_is_fixed(tree, users, api_for, user_key):
    client = api_for(users[user_key])
    _grow_members(tree, 2)
    client.get("/api/v1/members/")
    small, response = _count(client, "/api/v1/members/")
    assert len(response.json()["results"]) == 2
    small_people, response = _count(client, "/api/v1/people/")
    assert len(response.json()["results"]) == 2
    for i in range(18):
        add_member(add_person(tree["a1a"], f"后来{i:02d}", "13900000000"), "retired", tree["a1a"])
    big, response = _count(client, "/api/v1/members/")
    assert len(response.json()["results"]) == 20
    big_people, response = _count(client, "/api/v1/people/")
    assert len(response.json()["results"]) == 20
    assert (small, small_people) == (big, big_people)


def test_ledger_admin_list_query_count_is_fixed(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    _grow_members(tree, 2)
    client.get(LEDGER_URLS["direct"])
    small, response = _count(client, LEDGER_URLS["direct"])
    assert len(response.context["cl"].result_list) == 2
    small_people, response = _count(client, PEOPLE_URL)
    assert len(response.context["cl"].result_list) == 2
    for i in range(18):
        person = add_person(tree["a1a"], f"后来{i:02d}", "13900000000")
        add_member(person, MemberCategory.DIRECT, tree["a1a"])
    big, response = _count(client, LEDGER_URLS["direct"])
    assert len(response.context["cl"].result_list) == 20
    big_people, response = _count(client, PEOPLE_URL)
    assert len(response.context["cl"].result_list) == 20
    assert (small, small_people) == (big, big_people)


@pytest.mark.parametrize("url", [
    MEMBERS_URL,
    "/admin/party_org/memberchange/",
    "/admin/party_org/auditentry/",
    "/admin/party_org/personaldataaccess/",
])
def test_other_admin_lists_query_counts_are_fixed(tree, users, admin_client_for, url):
    client = admin_client_for(users["comm_a"])

    def grow(n, start):
        for i in range(start, start + n):
            person = add_person(tree["a2"], f"党员{i:02d}", "13800000000")
            member = add_member(person, MemberCategory.DIRECT, tree["a2"])
            services.change_category(None, member, MemberCategory.RETIRED, TODAY)
        client.get(PEOPLE_URL)  # full phones read by comm_a: access-log rows

    grow(2, 0)
    client.get(url)
    small, response = _count(client, url)
    small_rows = len(response.context["cl"].result_list)
    grow(18, 2)
    big, response = _count(client, url)
    assert len(response.context["cl"].result_list) >= 20 > small_rows
    assert small == big
