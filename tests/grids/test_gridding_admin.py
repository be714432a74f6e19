"""The grids admin: scoping by every route (lists, pages, deletes, exports, choices,
autocomplete), saves through the services, masked phones, overlap column, pinned query counts."""

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from grids.models import Grid, GridAssignment, GridCoverage, GridWorker
from party_org.models import PersonalDataAccess
from tests.grids.test_gridding import FULL, person, world  # noqa: F401
from tests.grids.test_gridding_api import _populate

pytestmark = pytest.mark.django_db

ADMIN = "/admin/grids"


def names(response):
    assert response.status_code == 200
    return {str(row) for row in response.context["cl"].result_list}


def test_changelists_are_scoped(world, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    grids = names(client.get(f"{ADMIN}/grid/"))
    assert "文锦苑网格" in grids and "化工东院网格" not in grids
    workers = client.get(f"{ADMIN}/gridworker/")
    assert {w.person.name for w in workers.context["cl"].result_list} == {"张网格", "李辅助"}
    assignments = client.get(f"{ADMIN}/gridassignment/").context["cl"].result_list
    assert {a.pk for a in assignments} == {world["asg_a"].pk, world["asg_a2"].pk}
    street = admin_client_for(users["street"])
    assert "化工东院网格" in names(street.get(f"{ADMIN}/grid/"))


@pytest.mark.parametrize("model, key", [
    ("grid", "gb"), ("gridworker", "wb"), ("gridassignment", "asg_b"),
])
def test_b_rows_cannot_be_opened_or_deleted(world, users, admin_client_for, model, key):
    client = admin_client_for(users["comm_a"])
    row = world[key]
    assert client.get(f"{ADMIN}/{model}/{row.pk}/change/").status_code == 302
    assert client.post(f"{ADMIN}/{model}/{row.pk}/delete/", {"post": "yes"}).status_code == 302
    assert type(row).objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize("model, mine, theirs", [
    ("grid", "g3", "gb"), ("gridworker", "wa", "wb"), ("gridassignment", "asg_a", "asg_b"),
])
def test_export_is_scoped(world, users, admin_client_for, model, mine, theirs):
    client = admin_client_for(users["comm_a"])
    response = client.post(f"{ADMIN}/{model}/", {
        "action": "export_xlsx", "_selected_action": [world[mine].pk, world[theirs].pk],
    })
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2  # the header and A's row only
    if model == "gridworker":
        assert "13812345678" in rows[1]  # comm_a may read phones; logged
        assert PersonalDataAccess.objects.filter(context="admin:gridworker:export").exists()


def test_autocomplete_and_choices_are_scoped(world, tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])

    def texts(model, field, term=""):
        response = client.get("/admin/autocomplete/", {
            "app_label": "grids", "model_name": model, "field_name": field, "term": term,
        })
        assert response.status_code == 200
        return {item["text"] for item in response.json()["results"]}

    assert "文锦苑网格" in texts("grid", "parent")
    assert "化工东院网格" not in texts("grid", "parent", "化工")
    assert texts("gridworker", "person", "王网格") == set()
    assert "张网格" in texts("gridworker", "person", "张")
    assert texts("gridassignment", "grid", "化工") == set()
    assert not any("王网格" in t for t in texts("gridassignment", "worker"))
    assert texts("grid", "org_unit", "化工") == set()
    page = client.get(f"{ADMIN}/grid/{world['g4'].pk}/change/")
    compounds = page.context["inline_admin_formsets"][0].formset.forms[-1].fields["compound"]
    labels = {str(c) for c in compounds.queryset}
    assert "文锦苑" in labels and "化工东院" not in labels


def test_grid_list_shows_counts_and_overlap(world, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.get(f"{ADMIN}/grid/")
    content = response.content.decode()
    rows = {g.code: g for g in response.context["cl"].result_list}
    assert rows["A-G4"].compound_count == 2 and rows["A-G3"].micro_grid_count == 1
    assert rows["A-G3"].worker_count == 1
    assert str(response.context["cl"].model_admin.overlap(rows["A-G4"])) in content
    assert names(client.get(f"{ADMIN}/grid/", {"micro": "yes"})) == {"文锦苑1号楼微网格"}
    assert "文锦苑1号楼微网格" not in names(client.get(f"{ADMIN}/grid/", {"micro": "no"}))
    page = client.get(f"{ADMIN}/grid/{world['g1'].pk}/change/")
    assert page.status_code == 200


def test_worker_list_masks_phones_without_the_permission(world, users, admin_client_for):
    content = admin_client_for(users["auditor"]).get(f"{ADMIN}/gridworker/").content.decode()
    assert "13812345678" not in content and "138" in content
    assert "文锦苑1号楼微网格" in content  # the grids each works in now
    assert not PersonalDataAccess.objects.exists()


def _management(prefix, total=0, initial=0):
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def test_admin_saves_through_the_services(world, tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.post(f"{ADMIN}/grid/add/", {
        "name": "新网格", "code": "A-NEW", "org_unit": tree["a2"].pk, "is_active": "on",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    grid = Grid.objects.get(code="A-NEW")
    response = client.post(f"{ADMIN}/grid/add/", {
        "name": "越界", "code": "A-B", "org_unit": tree["b1"].pk, "is_active": "on",
    })
    assert response.status_code == 200 and response.context["adminform"].form.errors
    # Coverage and an assignment added through the inlines.
    data = {
        "name": "新网格", "code": "A-NEW", "org_unit": tree["a2"].pk, "is_active": "on",
        **_management("coverage", 1), "coverage-0-compound": world["wenjin"].pk,
        **_management("assignments", 1), "assignments-0-worker": world["wa"].pk,
        "assignments-0-started_on": "2025-05-01",
    }
    response = client.post(f"{ADMIN}/grid/{grid.pk}/change/", data)
    assert response.status_code == 302
    assert GridCoverage.objects.filter(grid=grid, compound=world["wenjin"]).exists()
    assert GridAssignment.objects.filter(grid=grid, worker=world["wa"]).exists()
    # A refusal that passes the form (an active micro-grid) is a message, not a 500.
    data = {
        "name": "文锦苑网格", "code": "A-G3", "org_unit": tree["a2"].pk,
        **_management("coverage"), **_management("assignments"),
    }
    response = client.post(f"{ADMIN}/grid/{world['g3'].pk}/change/", data, follow=True)
    assert response.status_code == 200
    assert Grid.objects.get(pk=world["g3"].pk).is_active
    assert any("微网格" in str(m) or "micro" in str(m) for m in response.context["messages"])


def test_admin_registers_a_worker(world, tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    p = person(tree["a"], "新网格员")
    response = client.post(f"{ADMIN}/gridworker/add/", {
        "person": p.pk, "kind": FULL, "org_unit": tree["a"].pk, "is_active": "on",
    })
    assert response.status_code == 302
    assert GridWorker.objects.get(person=p).kind == FULL
    response = client.post(f"{ADMIN}/gridworker/add/", {
        "person": world["pb"].pk, "kind": FULL, "org_unit": tree["a"].pk, "is_active": "on",
    })
    assert response.status_code == 200 and "person" in response.context["adminform"].form.errors


@pytest.mark.parametrize("model", ["grid", "gridworker", "gridassignment"])
def test_admin_list_query_counts_are_pinned(world, tree, users, admin_client_for, model):
    client = admin_client_for(users["comm_a"])
    url = f"{ADMIN}/{model}/"
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        first = client.get(url)
    _populate(tree, 18, "大")
    with CaptureQueriesContext(connection) as big:
        second = client.get(url)
    assert len(second.context["cl"].result_list) >= 20 > len(first.context["cl"].result_list)
    assert len(small) == len(big), [q["sql"] for q in big.captured_queries]


def test_assignment_pages(world, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    assert client.get(f"{ADMIN}/gridworker/{world['wa'].pk}/change/").status_code == 200
    assert client.get(f"{ADMIN}/gridassignment/{world['asg_a'].pk}/change/").status_code == 200
    response = client.post(f"{ADMIN}/gridassignment/add/", {
        "worker": world["wa"].pk, "grid": world["g4"].pk, "started_on": "2099-01-01",
    }, follow=True)
    assert response.status_code == 200
    assert not GridAssignment.objects.filter(grid=world["g4"]).exists()
    response = client.post(f"{ADMIN}/gridassignment/add/", {
        "worker": world["wa"].pk, "grid": world["g4"].pk, "started_on": "2025-01-01",
        "ended_on": "2025-02-01",
    })
    assert response.status_code == 302
    assert GridAssignment.objects.get(grid=world["g4"]).ended_on.isoformat() == "2025-02-01"
    response = client.post(f"{ADMIN}/gridassignment/{world['asg_a'].pk}/change/", {
        "worker": world["wa"].pk, "grid": world["g3"].pk, "started_on": "2025-01-01",
        "ended_on": "2024-01-01",
    }, follow=True)
    assert GridAssignment.objects.get(pk=world["asg_a"].pk).ended_on is None
