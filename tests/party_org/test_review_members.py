"""Review of people, members, the ledgers and the import: bad input, lookups and import gaps."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from party_org import ledger_io, pii
from party_org.models import MemberCategory, PartyMember, Person
from party_org.services import members as services
from tests.party_org.test_ledger_import import id_no, member_row, xlsx
from tests.party_org.test_members import (  # noqa: F401  (fixtures)
    LEDGER_URLS, MEMBERS_URL, PEOPLE_URL, add_member, add_person, clerk, employer, ledger,
    make_id,
)

pytestmark = pytest.mark.django_db

HUGE = "9" * 30
TODAY = timezone.localdate()


@pytest.fixture
def english():
    with translation.override("en"):
        yield


# ---- bad input never gives a 500 -------------------------------------------------------------


@pytest.mark.parametrize("url, params", [
    ("/api/v1/members/", {"org_unit": HUGE}),
    ("/api/v1/members/", {"employer": HUGE}),
    ("/api/v1/members/", {"ancestor": HUGE}),
    ("/api/v1/members/", {"org_unit": "1.5"}),
    ("/api/v1/members/", {"employer": "abc"}),
    ("/api/v1/people/", {"org_unit": HUGE}),
    ("/api/v1/people/", {"ancestor": "-1"}),
])
def test_api_id_filters_out_of_range_are_a_400(tree, users, ledger, api_for, url, params):
    response = api_for(users["comm_a"]).get(url, params)
    assert response.status_code == 400, response.content[:300]
    assert list(response.json()) == list(params)


@pytest.mark.parametrize("payload", [
    {"person": HUGE}, {"org_unit": HUGE}, {"household": HUGE}, {"employer": HUGE},
    {"person": "abc"}, {"joined_on": "9999-12-31"}, {"transferred_in_on": "9999-12-31"},
    {"category": "x"}, {"record_location": "elsewhere"},
])
def test_api_member_create_with_bad_values_is_a_400(tree, users, api_for, payload):
    person = add_person(tree["a2"], "新人", "13800000000", make_id("19900101", "555"))
    data = {"person": person.pk, "category": "direct", "org_unit": tree["a2g"].pk, **payload}
    response = api_for(users["comm_a"]).post("/api/v1/members/", data, format="json")
    assert response.status_code == 400, response.content[:300]


@pytest.mark.parametrize("url", [
    LEDGER_URLS["direct"], MEMBERS_URL, PEOPLE_URL, "/admin/party_org/memberchange/",
    "/admin/party_org/personaldataaccess/", "/admin/party_org/auditentry/",
])
def test_admin_lists_and_pages_survive_bad_parameters(tree, users, ledger, admin_client_for,
                                                      url):
    client = admin_client_for(users["comm_a"])
    for query in (f"org_unit__id__exact={HUGE}", f"p={HUGE}", "o=99", "status__exact=bogus",
                  "effective_on__year=99999", f"user__id__exact={HUGE}", "at__day=40"):
        assert client.get(f"{url}?{query}").status_code in (200, 302, 400), query
    for pk in (HUGE, "abc", "-1"):
        assert client.get(f"{url}{pk}/change/").status_code in (302, 404), pk


# ---- dates that cannot be right --------------------------------------------------------------


@pytest.mark.parametrize("birth", ["20990101", "18991231"])
def test_an_id_number_with_an_impossible_birth_date_is_invalid(birth, english):
    assert pii.id_number_problem(make_id(birth, "111")) == (
        "The birth date inside the ID number is not a real date."
    )
    assert pii.id_number_problem(make_id("19000101", "111")) is None


def test_a_birth_date_in_the_future_is_refused(tree, users, english):
    with pytest.raises(ValidationError) as caught:
        services.create_person(users["comm_a"], org_unit=tree["a2"], name="李四",
                               birth_date=TODAY + dt.timedelta(days=1))
    assert caught.value.message_dict == {"birth_date": ["The date cannot be in the future."]}


@pytest.mark.parametrize("fields, expected", [
    ({"joined_on": dt.date(1900, 1, 1)},
     {"joined_on": ["The joining date is before the Party was founded."]}),
    ({"joined_on": dt.date(1995, 1, 1)},  # born 1980-01-01
     {"joined_on": ["The joining date is before the member's 18th birthday."]}),
    ({"joined_on": TODAY + dt.timedelta(days=1)},
     {"joined_on": ["The joining date is in the future."]}),
    ({"joined_on": dt.date(2010, 7, 1), "fifty_years": True},
     {"fifty_years": ["Marked 光荣在党50年, but the joining date is less than 50 years ago."]}),
])
def test_member_dates_follow_the_same_rules_as_the_import(tree, users, english, fields,
                                                          expected):
    person = add_person(tree["a2"], "新人", "", make_id("19800101", "555"))
    with pytest.raises(ValidationError) as caught:
        services.create_member(users["comm_a"], person=person, category="direct",
                               org_unit=tree["a2g"], **fields)
    assert caught.value.message_dict == expected
    member = services.create_member(users["comm_a"], person=person, category="direct",
                                    org_unit=tree["a2g"], joined_on=dt.date(2001, 7, 1))
    with pytest.raises(ValidationError) as caught:
        services.update_member(users["comm_a"], member, **fields)
    assert caught.value.message_dict == expected


def test_api_member_with_a_joining_date_before_1921_is_a_400(tree, users, api_for):
    person = add_person(tree["a2"], "新人", "", make_id("19800101", "555"))
    response = api_for(users["comm_a"]).post("/api/v1/members/", {
        "person": person.pk, "category": "direct", "org_unit": tree["a2g"].pk,
        "joined_on": "0001-01-01",
    }, format="json")
    assert response.status_code == 400 and "joined_on" in response.json()


# ---- finding a person by ID number (the keyed hash) ------------------------------------------


def test_admin_search_by_full_id_number(tree, users, ledger, admin_client_for):
    client = admin_client_for(users["comm_a"])
    wang_id = make_id("19500301", "111")
    for url in (PEOPLE_URL, LEDGER_URLS["direct"], MEMBERS_URL):
        response = client.get(url, {"q": wang_id.lower()})
        names = {str(obj) if url == PEOPLE_URL else obj.person.name
                 for obj in response.context["cl"].result_list}
        assert names == {"王建国"}, url
        assert client.get(url, {"q": "王建"}).context["cl"].result_count == 1
    # In scope only: community B's member is not found by B-staff's ID number from A.
    chen_id = make_id("19600520", "562")
    assert client.get(MEMBERS_URL, {"q": chen_id}).context["cl"].result_count == 0


def test_api_filter_by_full_id_number(tree, users, ledger, api_for):
    client = api_for(users["comm_a"])
    wang_id = make_id("19500301", "111")
    response = client.get("/api/v1/members/", {"id_number": wang_id})
    assert [row["name"] for row in response.json()["results"]] == ["王建国"]
    response = client.get("/api/v1/people/", {"id_number": wang_id})
    assert [row["name"] for row in response.json()["results"]] == ["王建国"]
    for value in ("1401", make_id("19600520", "562")):  # partial; another community's
        assert client.get("/api/v1/members/", {"id_number": value}).json()["results"] == []


# ---- import ----------------------------------------------------------------------------------


def test_import_of_a_known_person_keeps_a_phone_the_file_leaves_out(tree, users):
    person = Person(name="旧名", org_unit=tree["a2"], phone="13911112222")
    person.set_id_number(id_no(7))
    person.save()
    headers = ["姓名", "身份证号", "所属组织编码", "入党日期"]
    parsed = ledger_io.parse(xlsx([member_row(7)], headers=headers), "direct", users["comm_a"])
    assert parsed.ok and parsed.new == 1
    ledger_io.commit(parsed, users["comm_a"])
    person.refresh_from_db()
    assert (person.name, person.phone) == ("党员7", "13911112222")
    assert person.membership.category == MemberCategory.DIRECT


def test_import_move_to_another_branch_leaves_the_old_household(tree, users):
    rows = [member_row(1, org="A2G", 党员中心户编码="A2H"), member_row(2, org="A2")]
    ledger_io.commit(ledger_io.parse(xlsx(rows), "direct", users["comm_a"]), users["comm_a"])
    assert PartyMember.objects.get(person__name="党员1").household_id == tree["a2h"].pk
    headers = ["姓名", "身份证号", "所属组织编码"]
    moves = [member_row(1, org="A1a"), member_row(2, org="A2G")]
    parsed = ledger_io.parse(xlsx(moves, headers=headers), "direct", users["comm_a"])
    assert parsed.ok and parsed.updated == 2, parsed.errors
    assert parsed.sample[0].changed == ["所属组织编码", "党员中心户编码"]
    ledger_io.commit(parsed, users["comm_a"])
    moved = PartyMember.objects.get(person__name="党员1")
    assert (moved.org_unit_id, moved.household_id) == (tree["a1a"].pk, None)
    moved.full_clean()


@pytest.mark.parametrize("field", ["person", "employer", "org_unit", "household"])
@pytest.mark.parametrize("value", [HUGE, "abc", "-3"])
def test_ledger_add_form_with_a_bad_choice_shows_the_error(tree, users, admin_client_for,
                                                           employer, field, value):
    data = {"person": "", "org_unit": tree["a2"].pk, "record_location": "here", field: value}
    response = admin_client_for(users["comm_a"]).post(LEDGER_URLS["in_service"] + "add/", data)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
