"""Personal data: ID validation, encryption at rest, masking by every route, the access log and
the logs nobody can edit."""

import datetime as dt
import io

import pytest
from django.db import connection
from openpyxl import load_workbook

from party_org import pii
from party_org.models import AuditEntry, MemberChange, PersonalDataAccess
from party_org.services import members as services
from tests.party_org.test_members import (  # noqa: F401 (fixtures)
    LEDGER_URLS,
    PEOPLE_URL,
    clerk,
    employer,
    ledger,
    make_id,
)

pytestmark = pytest.mark.django_db

WANG_PHONE = "13812345678"
WANG_ID = make_id("19500301", "111")
WANG_PHONE_MASKED = "138****5678"
WANG_ID_MASKED = WANG_ID[:4] + "*" * 10 + WANG_ID[-4:]
ALL_PHONES = ("13812345678", "13900001111", "13700002222", "13600003333", "13512349876")


# ---- pii -------------------------------------------------------------------------------------


@pytest.mark.parametrize("first17", ["14010519800101123", "11010519491231002", "61010420001229456"])
def test_numbers_with_the_computed_check_character_are_valid(first17):
    value = first17 + pii.id_check_char(first17)
    assert pii.id_number_problem(value) is None
    pii.validate_id_number(value)


def test_the_standard_example_with_x_is_valid_also_in_lower_case():
    assert pii.id_check_char("11010519491231002") == "X"
    assert pii.id_number_problem("11010519491231002X") is None
    assert pii.id_number_problem("11010519491231002x") is None
    assert pii.birth_date_from_id("11010519491231002X") == dt.date(1949, 12, 31)
    assert pii.gender_from_id("11010519491231002X") == "female"
    assert pii.gender_from_id(make_id("19800101", "123")) == "male"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1401051980010112",  # 16 characters
        "1401051980010112345",  # 19 characters
        "14010519800101123A",  # a letter other than X
        "X40105198001011234",  # X not at the end
        "140105198013011234",  # month 13
        "140105199902291234",  # 29 February of a common year
    ],
)
def test_malformed_id_numbers_are_refused(value):
    assert pii.id_number_problem(value) is not None
    with pytest.raises(Exception):
        pii.validate_id_number(value)


def test_every_wrong_check_character_is_refused():
    first17 = "14010519800101123"
    right = pii.id_check_char(first17)
    for char in "0123456789X":
        problem = pii.id_number_problem(first17 + char)
        assert (problem is None) == (char == right), char


def test_masking_formats():
    assert pii.mask_phone("13812345678") == "138****5678"
    assert pii.mask_phone("") == ""
    assert pii.mask_phone("12345") == "*****"
    assert pii.mask_id_number("140105198001011234") == "1401**********1234"
    assert pii.mask_id_number("") == ""


def test_encryption_round_trip_and_keyed_hash(settings):
    token = pii.encrypt(WANG_ID)
    assert WANG_ID not in token and WANG_ID[:17] not in token
    assert pii.encrypt(WANG_ID) != token  # a fresh IV each time
    assert pii.decrypt(token) == WANG_ID
    assert pii.decrypt("not-a-token") == "[?]"
    assert pii.encrypt("") == "" and pii.decrypt("") == ""
    digest = pii.keyed_hash(WANG_ID)
    assert digest == pii.keyed_hash(WANG_ID) and len(digest) == 64 and WANG_ID not in digest
    settings.FIELD_ENCRYPTION_KEY = "another-key-of-at-least-32-characters!!"
    assert pii.keyed_hash(WANG_ID) != digest
    assert pii.decrypt(token) == "[?]"  # the old key is gone: say so, don't crash


def test_the_database_holds_no_plaintext_id_number(tree, ledger):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM party_org_person")
        person_rows = " ".join(str(value) for row in cursor.fetchall() for value in row)
        cursor.execute("SELECT changes FROM party_org_auditentry")
        audit_rows = " ".join(str(row[0]) for row in cursor.fetchall())
    for stored in (person_rows, audit_rows):
        assert WANG_ID not in stored and WANG_ID[6:14] + WANG_ID[14:17] not in stored
        assert make_id("19600520", "562") not in stored
    assert "19500301111" not in person_rows
    assert WANG_ID_MASKED in audit_rows  # the change log keeps the masked form only
    assert WANG_PHONE not in audit_rows


# ---- no permission: masked everywhere --------------------------------------------------------


def _assert_no_full_values(text):
    for phone in ALL_PHONES:
        assert phone not in text, phone
    assert WANG_ID not in text and WANG_ID[:17] not in text


def test_without_permission_admin_lists_and_pages_are_masked(
    tree, ledger, clerk, users, admin_client_for
):
    client = admin_client_for(clerk)
    wang = ledger["wang"]
    pages = [
        client.get(PEOPLE_URL),
        client.get(f"{PEOPLE_URL}{wang.person.pk}/change/"),
        client.get(LEDGER_URLS["direct"]),
        client.get(f"{LEDGER_URLS['direct']}{wang.pk}/change/"),
        client.get("/admin/party_org/partymember/"),
    ]
    for response in pages:
        assert response.status_code == 200
        _assert_no_full_values(response.content.decode())
    assert WANG_PHONE_MASKED in pages[0].content.decode()
    assert WANG_ID_MASKED in pages[0].content.decode()
    assert WANG_ID_MASKED in pages[1].content.decode()  # as help text of the blank field
    assert WANG_PHONE_MASKED in pages[2].content.decode()
    # A read-only reader gets the form's fields as values: masked too.
    auditor = admin_client_for(users["auditor"])
    response = auditor.get(f"{PEOPLE_URL}{wang.person.pk}/change/")
    assert response.status_code == 200
    _assert_no_full_values(response.content.decode())
    assert WANG_ID_MASKED in response.content.decode()
    assert not PersonalDataAccess.objects.exists()


def test_without_permission_blank_fields_keep_the_stored_values(
    tree, ledger, clerk, admin_client_for
):
    client = admin_client_for(clerk)
    person = ledger["wang"].person
    url = f"{PEOPLE_URL}{person.pk}/change/"
    response = client.post(url, {
        "name": "王建国", "gender": "male", "birth_date": "1950-03-01",
        "org_unit": tree["a2"].pk, "phone_number": "", "id_number": "",
    })
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.phone == WANG_PHONE and person.id_number == WANG_ID
    response = client.post(url, {
        "name": "王建国", "gender": "male", "birth_date": "1950-03-01",
        "org_unit": tree["a2"].pk, "phone_number": "13899990000", "id_number": "",
    })
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.phone == "13899990000" and person.id_number == WANG_ID


def _workbook_text(response):
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    return " ".join(str(cell) for row in sheet.iter_rows(values_only=True) for cell in row)


def test_without_permission_exports_are_masked(tree, ledger, clerk, admin_client_for):
    client = admin_client_for(clerk)
    for url, model in ((PEOPLE_URL, "person"), (LEDGER_URLS["direct"], "directmember")):
        text = _workbook_text(client.post(url, {
            "action": "export_xlsx", "select_across": "1", "index": "0",
            "_selected_action": ["0"],
        }))
        _assert_no_full_values(text)
        assert WANG_PHONE_MASKED in text and WANG_ID_MASKED in text, model
    assert not PersonalDataAccess.objects.exists()


def test_without_permission_api_is_masked(tree, ledger, clerk, api_for):
    client = api_for(clerk)
    wang = ledger["wang"]
    for url in (
        "/api/v1/people/", f"/api/v1/people/{wang.person.pk}/",
        "/api/v1/members/", f"/api/v1/members/{wang.pk}/",
    ):
        response = client.get(url)
        assert response.status_code == 200
        _assert_no_full_values(response.content.decode())
        data = response.json()
        row = data["results"][0] if "results" in data else data
        assert row["personal_data_masked"] is True
    detail = client.get(f"/api/v1/members/{wang.pk}/").json()
    assert detail["phone"] == WANG_PHONE_MASKED and detail["id_number"] == WANG_ID_MASKED
    assert not PersonalDataAccess.objects.exists()


# ---- with permission: full values, and every read logged -------------------------------------


def test_with_permission_admin_shows_full_values_and_logs_each_read(
    tree, ledger, users, admin_client_for
):
    client = admin_client_for(users["comm_a"])
    wang = ledger["wang"]
    page = client.get(PEOPLE_URL).content.decode()
    assert WANG_PHONE in page and WANG_ID in page
    reads = PersonalDataAccess.objects.filter(context="admin:person:list")
    assert reads.count() == 4  # the four people of community A, one row each
    assert set(reads.values_list("user", flat=True)) == {users["comm_a"].pk}
    assert reads.get(person=wang.person).fields == "id_number,phone"

    page = client.get(f"{PEOPLE_URL}{wang.person.pk}/change/").content.decode()
    assert WANG_PHONE in page and WANG_ID in page
    assert PersonalDataAccess.objects.filter(
        context="admin:person:change", person=wang.person
    ).count() == 1

    text = _workbook_text(client.post(LEDGER_URLS["direct"], {
        "action": "export_xlsx", "_selected_action": [wang.pk],
    }))
    assert WANG_PHONE in text and WANG_ID in text
    assert PersonalDataAccess.objects.filter(context="admin:directmember:export").count() == 1


def test_with_permission_api_shows_full_values_and_logs(tree, ledger, users, api_for):
    client = api_for(users["comm_a"])
    wang = ledger["wang"]
    rows = client.get("/api/v1/members/").json()["results"]
    assert {row["phone"] for row in rows} == set(ALL_PHONES) - {"13512349876"}
    assert PersonalDataAccess.objects.filter(context="api:members:list").count() == 4
    detail = client.get(f"/api/v1/people/{wang.person.pk}/").json()
    assert detail["id_number"] == WANG_ID and detail["personal_data_masked"] is False
    read = PersonalDataAccess.objects.get(context="api:people:detail")
    assert read.person == wang.person and read.user == users["comm_a"]
    assert read.fields == "id_number,phone"


# ---- the logs: readable, never editable ------------------------------------------------------


@pytest.mark.parametrize("user_key", ["admin", "comm_a"])
def test_logs_are_read_only_even_for_a_superuser(tree, ledger, users, admin_client_for,
                                                 user_key):
    services.change_category(None, ledger["wang"], "retired", dt.date.today())
    admin_client_for(users["comm_a"]).get(PEOPLE_URL)  # writes access-log rows
    client = admin_client_for(users[user_key])
    rows = {
        "personaldataaccess": PersonalDataAccess.objects.filter(person=ledger["wang"].person)
        .first(),
        "auditentry": AuditEntry.objects.filter(org_unit=tree["a2"]).first(),
        "memberchange": MemberChange.objects.first(),
    }
    for model, row in rows.items():
        base = f"/admin/party_org/{model}/"
        response = client.get(base)
        assert response.status_code == 200, model
        assert "delete_selected" not in response.context["action_form"].fields[
            "action"
        ].choices.__repr__()
        assert client.get(base + "add/").status_code == 403, model
        assert client.post(base + "add/", {}).status_code == 403, model
        response = client.get(f"{base}{row.pk}/change/")
        assert response.status_code == 200, model  # readable
        assert client.post(f"{base}{row.pk}/change/", {}).status_code == 403, model
        assert client.get(f"{base}{row.pk}/delete/").status_code == 403, model
        assert client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PersonalDataAccess.objects.filter(pk=rows["personaldataaccess"].pk).exists()
    assert AuditEntry.objects.filter(pk=rows["auditentry"].pk).exists()
