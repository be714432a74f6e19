"""Review of 双报到, posts and emergencies: each defect found in review, pinned by a test."""

import io

import pytest
from django.core.exceptions import ValidationError
from openpyxl import load_workbook

from party_org import reports
from party_org.models import (
    CoBuildingAgreement,
    InServiceRegistration,
    PostAssignment,
    RegistrationEvaluation,
    WorkUnit,
)
from party_org.services import duties as services
from tests.party_org.test_duties import D, register, world  # noqa: F401
from tests.party_org.test_duties_admin import rows  # noqa: F401

pytestmark = pytest.mark.django_db

API = "/api/v1"
ADMIN = "/admin/party_org"
HUGE = "9" * 25


# ---- work units referred to by other areas ----------------------------------------------------


@pytest.fixture
def co_building_unit(rows):
    unit = WorkUnit.objects.create(name="太原市第五中学")
    CoBuildingAgreement.objects.create(work_unit=unit, org_unit=rows["a"], signed_on=D(2025, 1, 1))
    return unit


def test_deleting_a_co_building_work_unit_is_refused_in_words(co_building_unit, users):
    with pytest.raises(ValidationError) as excinfo:
        services.delete_work_unit(users["street"], co_building_unit)
    assert co_building_unit.name in " ".join(excinfo.value.messages)
    assert WorkUnit.objects.filter(pk=co_building_unit.pk).exists()


def test_deleting_a_co_building_work_unit_by_api_is_a_conflict(co_building_unit, users, api_for):
    response = api_for(users["street"]).delete(f"{API}/work-units/{co_building_unit.pk}/")
    assert response.status_code == 409, response.content
    assert WorkUnit.objects.filter(pk=co_building_unit.pk).exists()


# ---- bad input is a 400, never a 500 ----------------------------------------------------------


@pytest.mark.parametrize(
    "path, param",
    [
        ("registrations", "work_unit"),
        ("registrations", "branch"),
        ("registrations", "member"),
        ("service-records", "registration"),
        ("service-records", "work_unit"),
        ("posts", "org_unit"),
        ("post-assignments", "post"),
        ("post-assignments", "member"),
        ("registrations", "ancestor"),
    ],
)
@pytest.mark.parametrize("value", [HUGE, "-1", "1.5"])
def test_id_filters_refuse_impossible_ids(rows, users, api_for, path, param, value):
    response = api_for(users["comm_a"]).get(f"{API}/{path}/", {param: value})
    assert response.status_code == 400, response.content
    assert param in response.json()


def test_id_filters_still_filter(rows, users, api_for):
    response = api_for(users["comm_a"]).get(
        f"{API}/registrations/", {"work_unit": rows["tax"].pk}
    )
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [rows["reg_a"].pk]


@pytest.mark.parametrize("member", [10**20, 0, -3])
def test_acknowledging_an_impossible_member_id_is_a_400(rows, users, api_for, member):
    response = api_for(users["comm_a"]).post(
        f"{API}/emergency-activations/{rows['act_a'].pk}/acknowledge/", {"member": member},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "member" in response.json()


def test_moving_the_start_of_an_ended_registration_after_its_end_is_refused(rows, users,
                                                                            api_for):
    registration = register(rows, who="zhao", on=D(2025, 3, 1))
    services.end_registration(None, registration, D(2025, 5, 1))
    with pytest.raises(ValidationError) as excinfo:
        services.update_registration(users["comm_a"], registration, registered_on=D(2025, 6, 1))
    assert "registered_on" in excinfo.value.message_dict
    response = api_for(users["comm_a"]).patch(
        f"{API}/registrations/{registration.pk}/", {"registered_on": "2025-06-01"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "registered_on" in response.json()
    registration.refresh_from_db()
    assert registration.registered_on == D(2025, 3, 1)


def test_moving_the_start_of_an_ended_registration_in_the_admin_is_a_message(
    rows, users, admin_client_for
):
    registration = register(rows, who="zhao", on=D(2025, 3, 1))
    services.end_registration(None, registration, D(2025, 5, 1))
    client = admin_client_for(users["comm_a"])
    response = client.post(
        f"{ADMIN}/inserviceregistration/{registration.pk}/change/",
        {
            "work_unit": rows["coal"].pk, "registered_on": "2025-06-01",
            "commitment": registration.commitment, "post": "",
            "service_records-TOTAL_FORMS": 0, "service_records-INITIAL_FORMS": 0,
            "evaluations-TOTAL_FORMS": 0, "evaluations-INITIAL_FORMS": 0,
        },
        follow=True,
    )
    assert response.status_code == 200
    registration.refresh_from_db()
    assert registration.registered_on == D(2025, 3, 1)


# ---- all or nothing -----------------------------------------------------------------------------


def test_an_assignment_with_a_refused_end_date_is_not_saved_by_the_api(rows, users, api_for):
    before = PostAssignment.objects.count()
    response = api_for(users["comm_a"]).post(
        f"{API}/post-assignments/",
        {"post": rows["legal"].pk, "member": rows["zhao"].pk, "started_on": "2025-01-01",
         "ended_on": "2999-01-01"},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "ended_on" in response.json()
    assert PostAssignment.objects.count() == before


def test_an_assignment_with_an_end_date_is_made_at_once(rows, users, api_for):
    response = api_for(users["comm_a"]).post(
        f"{API}/post-assignments/",
        {"post": rows["legal"].pk, "member": rows["zhao"].pk, "started_on": "2025-01-01",
         "ended_on": "2025-02-01"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assignment = PostAssignment.objects.get(pk=response.json()["id"])
    assert (assignment.started_on, assignment.ended_on) == (D(2025, 1, 1), D(2025, 2, 1))


def test_assign_post_checks_the_end_date_before_saving(rows, users):
    with pytest.raises(ValidationError) as excinfo:
        services.assign_post(
            users["comm_a"], rows["legal"], rows["zhao"], D(2025, 1, 1), ended_on=D(2999, 1, 1)
        )
    assert "ended_on" in excinfo.value.message_dict
    assert not PostAssignment.objects.filter(member=rows["zhao"]).exists()


def test_an_admin_assignment_with_a_refused_end_date_is_not_saved(rows, users, admin_client_for):
    post = rows["legal"]
    current = post.assignments.get()
    client = admin_client_for(users["comm_a"])
    response = client.post(
        f"{ADMIN}/post/{post.pk}/change/",
        {
            "kind": post.kind, "name": post.name, "duties": post.duties, "is_active": "on",
            "assignments-TOTAL_FORMS": 2, "assignments-INITIAL_FORMS": 1,
            "assignments-0-id": current.pk, "assignments-0-post": post.pk,
            "assignments-0-member": current.member_id, "assignments-0-started_on": "2025-01-01",
            "assignments-1-post": post.pk, "assignments-1-member": rows["zhao"].pk,
            "assignments-1-started_on": "2025-01-01", "assignments-1-ended_on": "2999-01-01",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert not PostAssignment.objects.filter(member=rows["zhao"]).exists()


# ---- the evaluation inline checks what the service checks --------------------------------------


def test_evaluation_inline_shows_a_year_out_of_range_on_the_form(rows, users, admin_client_for):
    registration = rows["reg_a"]
    client = admin_client_for(users["comm_a"])
    response = client.post(
        f"{ADMIN}/inserviceregistration/{registration.pk}/change/",
        {
            "work_unit": registration.work_unit_id, "registered_on": "2025-03-01",
            "commitment": registration.commitment, "post": registration.post_id,
            "service_records-TOTAL_FORMS": 0, "service_records-INITIAL_FORMS": 0,
            "evaluations-TOTAL_FORMS": 1, "evaluations-INITIAL_FORMS": 0,
            "evaluations-0-registration": registration.pk, "evaluations-0-year": "2019",
            "evaluations-0-rating": "good",
        },
    )
    # The form comes back with the error on the row; nothing is saved.
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][1].formset.errors
    assert "year" in errors[0]
    assert not RegistrationEvaluation.objects.filter(registration=registration).exists()


# ---- the feedback workbook leaves the portal: user text is text --------------------------------


def test_feedback_workbook_writes_user_text_as_text_not_formulas(rows, users):
    formula = '=HYPERLINK("http://example.com","点此")'
    services.evaluate_registration(None, rows["reg_a"], 2025, "good", formula)
    unit = rows["tax"]
    unit.party_organisation = "+cmd|' /C calc'!A0"
    unit.save()
    report = reports.feedback_report(users["comm_a"], unit, D(2025, 1, 1), D(2025, 12, 31))
    sheet = load_workbook(io.BytesIO(reports.feedback_workbook(report))).active
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    assert formula in [cell.value for cell in cells]
    assert any(
        isinstance(cell.value, str) and unit.party_organisation in cell.value for cell in cells
    )


def test_registration_status_unchanged_by_review_fixture(rows):
    # Guard for the fixtures used above: A's registration is active, B's too.
    assert {r.status for r in InServiceRegistration.objects.all()} == {"active"}


def test_closing_a_held_post_in_the_admin_is_a_message_not_a_500(rows, users, admin_client_for):
    post = rows["legal"]
    current = post.assignments.get()
    client = admin_client_for(users["comm_a"])
    response = client.post(
        f"{ADMIN}/post/{post.pk}/change/",
        {
            "kind": post.kind, "name": post.name, "duties": post.duties,  # is_active unticked
            "assignments-TOTAL_FORMS": 1, "assignments-INITIAL_FORMS": 1,
            "assignments-0-id": current.pk, "assignments-0-post": post.pk,
            "assignments-0-member": current.member_id, "assignments-0-started_on": "2025-01-01",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "End the post" in response.content.decode() or "结束" in response.content.decode()
    post.refresh_from_db()
    assert post.is_active
