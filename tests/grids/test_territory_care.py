"""Care flags and household phones: masked without the permission, full and logged with it, by
every route (admin list, change page, export, filters; API list, detail, filter)."""

import io
import re

import pytest
from django.utils import translation
from openpyxl import load_workbook

from grids import care
from grids.admin.territory import CareFlagFilter
from grids.models import CareFlag, Household
from grids.services import territory as services
from party_org.models import PersonalDataAccess

from .test_territory_helpers import PHONE_A, clerk, household, world  # noqa: F401

pytestmark = pytest.mark.django_db

URL = "/admin/grids/household/"
API = "/api/v1/households/"
PHONE_A_MASKED = "138****5678"


def label_texts(flag):
    texts = set()
    for language in ("zh-hans", "en"):
        with translation.override(language):
            texts.add(str(CareFlag(flag).label))
    return texts


ALONE = label_texts(CareFlag.ELDERLY_ALONE)


def shows_alone(text):
    return any(label in text for label in ALONE)


def log(person=None, context=None):
    rows = PersonalDataAccess.objects.all()
    if person is not None:
        rows = rows.filter(person=person)
    if context is not None:
        rows = rows.filter(context=context)
    return {(row.user.username, row.context, row.fields) for row in rows}


@pytest.fixture
def plain(world):
    """A second household of compound A, without care flags."""
    return household(world["a"]["compound"], "102")


@pytest.fixture
def no_flags_reader(tree):
    return clerk(tree)


def care_cells(response):
    """The care-flag column of each changelist row, as rendered."""
    admin_ = response.context["cl"].model_admin
    column = list(admin_.get_list_display(response.wsgi_request)).index("care_flags_display")
    # Results rows start with the action checkbox.
    return [re.sub(r"<[^>]+>", "", str(row[column + 1])) for row in response.context["results"]]


# ---- the care module -------------------------------------------------------------------------


def test_care_flags_for_without_a_request(tree, users, world, no_flags_reader):
    h = world["a"]["household"]
    assert care.care_flags_for(h, "shell", user=no_flags_reader) == care.MASK
    assert care.care_flag_values_for(h, "shell", user=no_flags_reader) is None
    assert not PersonalDataAccess.objects.exists()
    text = care.care_flags_for(h, "shell", user=users["comm_a"])
    assert shows_alone(text)
    # Outside a request the read is written at once, on the head of household.
    assert log(world["a"]["head"]) == {("comm_a", "shell", "care_flags")}
    # The mask is the same for a household without flags: nothing about them leaks.
    empty = household(world["a"]["compound"], "909")
    assert care.care_flags_for(empty, "shell", user=no_flags_reader) == care.MASK
    assert care.care_flags_for(empty, "shell", user=users["comm_a"]) == ""


def test_household_without_head_is_masked_but_not_logged(tree, users, world, api_for,
                                                          no_flags_reader):
    h = household(world["a"]["compound"], "808", care_flags=[CareFlag.HARDSHIP])
    data = api_for(users["comm_a"]).get(f"{API}{h.pk}/").json()
    assert data["care_flags"] == [CareFlag.HARDSHIP]
    assert not PersonalDataAccess.objects.exists()
    data = api_for(no_flags_reader).get(f"{API}{h.pk}/").json()
    assert data["care_flags"] is None and data["care_flags_display"] == care.MASK


# ---- admin -----------------------------------------------------------------------------------


def test_admin_list(users, world, plain, admin_client_for, no_flags_reader):
    head = world["a"]["head"]
    response = admin_client_for(users["comm_a"]).get(URL)
    cells = care_cells(response)
    assert any(shows_alone(cell) for cell in cells)
    assert PHONE_A in response.content.decode()
    assert log(head) == {("comm_a", "admin:household:list", "care_flags,household_phone")}

    PersonalDataAccess.objects.all().delete()
    response = admin_client_for(no_flags_reader).get(URL)
    page = response.content.decode()
    assert set(care_cells(response)) == {care.MASK}
    assert not shows_alone(page) and PHONE_A not in page and PHONE_A_MASKED in page
    assert not PersonalDataAccess.objects.exists()


def test_admin_care_flag_filter(users, world, plain, admin_client_for, no_flags_reader):
    flagged = world["a"]["household"]
    response = admin_client_for(users["comm_a"]).get(URL, {"care_flag": CareFlag.ELDERLY_ALONE})
    assert list(response.context["cl"].result_list) == [flagged]
    response = admin_client_for(users["comm_a"]).get(URL, {"care_flag": CareFlag.PREGNANT})
    assert list(response.context["cl"].result_list) == []
    # Without the permission the filter is neither offered nor applied ...
    client = admin_client_for(no_flags_reader)
    response = client.get(URL, {"care_flag": CareFlag.ELDERLY_ALONE})
    assert set(response.context["cl"].result_list) == {flagged, plain}
    assert not any(isinstance(spec, CareFlagFilter) for spec in response.context["cl"].filter_specs)
    # ... and lookups on the hidden fields are refused.
    for lookup, value in (("care_flags__icontains", "elderly"), ("care_flags", "[]"),
                          ("contact_phone__startswith", "138"), ("contact_phone", PHONE_A)):
        assert client.get(URL, {lookup: value}).status_code == 400, lookup
    assert admin_client_for(users["comm_a"]).get(
        URL, {"care_flags__icontains": "elderly"}
    ).status_code == 200


def test_admin_change_page(users, world, admin_client_for, no_flags_reader):
    h, head = world["a"]["household"], world["a"]["head"]
    url = f"{URL}{h.pk}/change/"
    response = admin_client_for(users["comm_a"]).get(url)
    page = response.content.decode()
    assert 'name="care_flag_choices"' in page
    assert response.context["adminform"].form["care_flag_choices"].value() == [
        CareFlag.ELDERLY_ALONE, CareFlag.DISABLED,
    ]
    assert PHONE_A in page
    assert log(head) == {("comm_a", "admin:household:change", "care_flags,household_phone")}

    PersonalDataAccess.objects.all().delete()
    page = admin_client_for(no_flags_reader).get(url).content.decode()
    assert "care_flag_choices" not in page and not shows_alone(page)
    assert CareFlag.ELDERLY_ALONE.value not in page
    assert PHONE_A not in page and PHONE_A_MASKED in page
    assert not PersonalDataAccess.objects.exists()


def test_admin_read_only_page_masks(users, world, admin_client_for):
    # The auditor may view household files but holds neither permission.
    page = admin_client_for(users["auditor"]).get(
        f"{URL}{world['a']['household'].pk}/change/"
    ).content.decode()
    assert not shows_alone(page) and care.MASK in page
    assert PHONE_A not in page and PHONE_A_MASKED in page


def form_data(h, **extra):
    data = {
        "compound": h.compound_id, "building": h.building_id or "",
        "entrance": h.entrance_id or "", "room": h.room, "head": h.head_id or "",
        "members_count": h.members_count, "note": h.note, "phone_number": "",
    }
    data.update(extra)
    return data


def test_admin_save_without_permission_keeps_flags_and_phone(users, world, admin_client_for,
                                                            no_flags_reader):
    h = world["a"]["household"]
    response = admin_client_for(no_flags_reader).post(
        f"{URL}{h.pk}/change/",
        form_data(h, members_count=4, care_flag_choices=[CareFlag.PREGNANT]),
    )
    assert response.status_code == 302
    h.refresh_from_db()
    assert h.members_count == 4
    assert h.care_flags == [CareFlag.ELDERLY_ALONE, CareFlag.DISABLED]
    assert h.contact_phone == PHONE_A


def test_admin_save_with_permission_changes_flags(users, world, admin_client_for):
    h = world["a"]["household"]
    response = admin_client_for(users["comm_a"]).post(
        f"{URL}{h.pk}/change/",
        form_data(h, phone_number=PHONE_A, care_flag_choices=[CareFlag.LOW_INCOME]),
    )
    assert response.status_code == 302
    h.refresh_from_db()
    assert h.care_flags == [CareFlag.LOW_INCOME] and h.contact_phone == PHONE_A


def test_admin_form_errors_are_shown(users, world, admin_client_for):
    h, other = world["a"]["household"], world["a"]["building"]
    client = admin_client_for(users["comm_a"])
    response = client.post(f"{URL}add/", form_data(
        h, phone_number="not a phone", care_flag_choices=[CareFlag.DISABLED],
    ))
    assert response.status_code == 200
    assert "phone_number" in response.context["adminform"].form.errors
    response = client.post(f"{URL}add/", form_data(h, care_flag_choices=["rich"]))
    assert "care_flag_choices" in response.context["adminform"].form.errors
    # The service's own checks, beside their fields: the room is taken, the entrance is in
    # another building.
    response = client.post(f"{URL}add/", form_data(h))
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["room"] and "101" in errors["room"][0]
    second = services.create_building(users["comm_a"], compound=h.compound, number="2号楼")
    response = client.post(f"{URL}add/", form_data(h, room="909", building=second.pk))
    assert list(response.context["adminform"].form.errors) == ["entrance"]
    response = client.post(f"{URL}add/", form_data(h, room="909", entrance="", building=""))
    assert response.status_code == 302
    new = Household.objects.get(room="909")
    assert new.building is None and new.care_flags == []
    assert other.households.count() == 1


def export(client, pks):
    response = client.post(URL, {"action": "export_xlsx", "_selected_action": pks})
    assert response.status_code == 200
    return list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))


def test_admin_export(users, world, admin_client_for, no_flags_reader):
    h, head = world["a"]["household"], world["a"]["head"]
    rows = export(admin_client_for(users["comm_a"]), [h.pk])
    assert len(rows) == 2
    assert PHONE_A in rows[1] and any(shows_alone(str(cell)) for cell in rows[1])
    assert log(head) == {("comm_a", "admin:household:export", "care_flags,household_phone")}
    PersonalDataAccess.objects.all().delete()
    rows = export(admin_client_for(no_flags_reader), [h.pk])
    assert PHONE_A_MASKED in rows[1] and care.MASK in rows[1]
    assert not any(shows_alone(str(cell)) for cell in rows[1])
    assert not PersonalDataAccess.objects.exists()


# ---- API -------------------------------------------------------------------------------------


def test_api_list_and_detail(users, world, plain, api_for, no_flags_reader):
    h, head = world["a"]["household"], world["a"]["head"]
    client = api_for(users["comm_a"])
    rows = {row["id"]: row for row in client.get(API).json()["results"]}
    assert rows[h.pk]["care_flags"] == [CareFlag.ELDERLY_ALONE, CareFlag.DISABLED]
    assert shows_alone(rows[h.pk]["care_flags_display"])
    assert rows[h.pk]["contact_phone"] == PHONE_A and rows[h.pk]["care_flags_masked"] is False
    assert log(head, "api:households:list") == {
        ("comm_a", "api:households:list", "care_flags,household_phone")
    }
    client.get(f"{API}{h.pk}/")
    assert log(head, "api:households:detail") == {
        ("comm_a", "api:households:detail", "care_flags,household_phone")
    }

    PersonalDataAccess.objects.all().delete()
    reader = api_for(no_flags_reader)
    for data in (reader.get(API).json()["results"][0], reader.get(f"{API}{h.pk}/").json()):
        assert data["care_flags"] is None and data["care_flags_display"] == care.MASK
        assert data["care_flags_masked"] is True
    detail = reader.get(f"{API}{h.pk}/").json()
    assert detail["contact_phone"] == PHONE_A_MASKED
    assert not shows_alone(str(reader.get(API).content))
    assert not PersonalDataAccess.objects.exists()


def test_api_care_flag_filter_needs_the_permission(users, world, plain, api_for,
                                                   no_flags_reader):
    h = world["a"]["household"]
    ids = [row["id"] for row in api_for(users["comm_a"]).get(
        API, {"care_flag": CareFlag.DISABLED}).json()["results"]]
    assert ids == [h.pk]
    assert api_for(users["comm_a"]).get(
        API, {"care_flag": CareFlag.LOW_INCOME}).json()["results"] == []
    response = api_for(no_flags_reader).get(API, {"care_flag": CareFlag.DISABLED})
    assert response.status_code == 403
    assert api_for(users["comm_a"]).get(API, {"care_flag": "rich"}).status_code == 400


def test_api_writes_of_care_flags(users, world, api_for, no_flags_reader):
    h = world["a"]["household"]
    reader = api_for(no_flags_reader)
    # Sending the flags back, even unchanged, needs the permission.
    response = reader.patch(f"{API}{h.pk}/", {"care_flags": [CareFlag.DISABLED]}, format="json")
    assert response.status_code == 403
    response = reader.patch(f"{API}{h.pk}/", {"members_count": 6}, format="json")
    assert response.status_code == 200 and response.json()["care_flags"] is None
    h.refresh_from_db()
    assert h.members_count == 6 and h.care_flags == [CareFlag.ELDERLY_ALONE, CareFlag.DISABLED]
    response = api_for(users["comm_a"]).patch(
        f"{API}{h.pk}/", {"care_flags": [CareFlag.PREGNANT], "contact_phone": ""}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["care_flags"] == [CareFlag.PREGNANT]
    h.refresh_from_db()
    assert h.care_flags == [CareFlag.PREGNANT] and h.contact_phone == ""
    response = api_for(users["comm_a"]).patch(
        f"{API}{h.pk}/", {"care_flags": ["rich"]}, format="json"
    )
    assert response.status_code == 400 and "care_flags" in response.json()


def test_services_reads_nothing(users, world):
    # Writing flags is not a read: no access-log row.
    services.update_household(users["comm_a"], world["a"]["household"], care_flags=[])
    assert not PersonalDataAccess.objects.exists()
