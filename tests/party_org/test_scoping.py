"""The scoping matrix: community A's staff reach nothing of community B by any route."""

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from party_org.models import OrgKind, OrgUnit, StaffAssignment, StaffRole

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/party_org/orgunit/"


def change_url(node):
    return f"/admin/party_org/orgunit/{node.pk}/change/"


def delete_url(node):
    return f"/admin/party_org/orgunit/{node.pk}/delete/"


def listed_codes(response):
    return {obj.code for obj in response.context["cl"].result_list}


# ---- the admin -------------------------------------------------------------------------------


def test_admin_list_shows_only_own_subtree(tree, users, admin_client_for):
    response = admin_client_for(users["comm_a"]).get(CHANGELIST)
    assert response.status_code == 200
    assert listed_codes(response) == {"A", "A1", "A1a", "A2", "A2G", "A2H"}


def test_street_user_sees_both_communities(tree, users, admin_client_for):
    codes = listed_codes(admin_client_for(users["street"]).get(CHANGELIST))
    assert {"A", "B", "A2H", "B1G"} <= codes
    assert "C" not in codes and "S2" not in codes


def test_superuser_sees_everything(tree, users, admin_client_for):
    codes = listed_codes(admin_client_for(users["admin"]).get(CHANGELIST))
    assert codes == set(OrgUnit.objects.values_list("code", flat=True))


def test_admin_search_and_kind_filter_stay_scoped(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    assert listed_codes(client.get(CHANGELIST, {"q": "化工"})) == set()
    assert listed_codes(client.get(CHANGELIST, {"kind": "branch"})) == {"A1", "A1a", "A2"}


def test_admin_cannot_open_change_or_delete_b(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    for url in (change_url(tree["b1"]), delete_url(tree["b1"])):
        response = client.get(url, follow=True)
        assert response.redirect_chain, url
        messages = [str(m) for m in response.context["messages"]]
        assert any("不存在" in m or "doesn’t exist" in m for m in messages), messages


def test_admin_cannot_change_or_delete_b_by_post(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    b1 = tree["b1"]
    client.post(
        change_url(b1),
        {"name": "篡改", "code": "B1", "kind": "branch", "parent": tree["b"].pk, "is_active": "on"},
    )
    client.post(delete_url(b1), {"post": "yes"})
    b1.refresh_from_db()
    assert b1.name == "化工东院小区党支部"


def test_admin_export_contains_only_scope(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    all_pks = list(OrgUnit.objects.values_list("pk", flat=True))
    response = client.post(
        CHANGELIST, {"action": "export_xlsx", "_selected_action": all_pks}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    codes = {row[0] for row in rows[1:]}
    assert codes == {"A", "A1", "A1a", "A2", "A2G", "A2H"}
    assert rows[0][0] in ("编码", "code")


def test_admin_autocomplete_is_scoped(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    params = {
        "app_label": "party_org",
        "model_name": "orgunit",
        "field_name": "parent",
        "term": "",
    }
    response = client.get("/admin/autocomplete/", params)
    assert response.status_code == 200
    names = {item["text"] for item in response.json()["results"]}
    assert "滨河社区党委" in names
    assert "十二院城社区党委" not in names and "化工东院小区党支部" not in names
    params.update(model_name="staffassignment", field_name="org_unit", term="化工")
    assert client.get("/admin/autocomplete/", params).json()["results"] == []


def test_admin_cannot_pick_b_as_parent(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.post(
        "/admin/party_org/orgunit/add/",
        {"name": "新支部", "code": "NEW", "kind": "branch", "parent": tree["b"].pk,
         "is_active": "on"},
    )
    assert response.status_code == 200  # the form again, with an error
    assert response.context["adminform"].form.errors["parent"]
    assert not OrgUnit.objects.filter(code="NEW").exists()


def test_admin_cannot_assign_staff_in_b(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.get("/admin/party_org/staffassignment/add/")
    form = response.context["adminform"].form
    assert not form.fields["org_unit"].queryset.filter(code="B").exists()
    assert form.fields["org_unit"].queryset.filter(code="A2").exists()
    response = client.post(
        "/admin/party_org/staffassignment/add/",
        {"user": users["nobody"].pk, "org_unit": tree["b"].pk, "role": StaffRole.GRID_WORKER},
    )
    assert response.status_code == 200
    assert not StaffAssignment.objects.filter(org_unit=tree["b"]).exclude(
        user=users["comm_b"]
    ).exists()


def test_admin_staff_list_is_scoped(tree, users, admin_client_for):
    response = admin_client_for(users["comm_a"]).get("/admin/party_org/staffassignment/")
    usernames = {a.user.username for a in response.context["cl"].result_list}
    assert usernames == {"comm_a", "sec_a2"}


def test_admin_add_and_edit_inside_scope(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.post(
        "/admin/party_org/orgunit/add/",
        {"name": "新建小区党支部", "code": "A3", "kind": "branch", "parent": tree["a"].pk,
         "is_active": "on"},
    )
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    node = OrgUnit.objects.get(code="A3")
    assert node.parent_id == tree["a"].pk
    # Their own top unit keeps its parent (the street, outside their scope) when edited.
    response = client.post(
        change_url(tree["a"]),
        {"name": "滨河社区党委（改）", "code": "A", "kind": "community", "parent": tree["s1"].pk,
         "is_active": "on"},
    )
    assert response.status_code == 302
    assert OrgUnit.objects.get(code="A").name == "滨河社区党委（改）"


def test_admin_refuses_wrong_placement_with_message(tree, users, admin_client_for):
    client = admin_client_for(users["admin"])
    response = client.post(
        "/admin/party_org/orgunit/add/",
        {"name": "错位", "code": "BAD", "kind": "household", "parent": tree["a"].pk,
         "is_active": "on"},
    )
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["parent"])
    assert "社区党委" in errors
    assert not OrgUnit.objects.filter(code="BAD").exists()


def test_admin_refuses_delete_with_children(tree, users, admin_client_for):
    client = admin_client_for(users["admin"])
    response = client.get(delete_url(tree["a2"]))
    assert response.status_code == 200
    assert response.context["protected"]  # Django's page lists what still hangs on it
    client.post(delete_url(tree["a2"]), {"post": "yes"})
    assert OrgUnit.objects.filter(code="A2").exists()


def test_auditor_reads_but_cannot_change(tree, users, admin_client_for):
    client = admin_client_for(users["auditor"])
    assert client.get(CHANGELIST).status_code == 200
    assert client.get("/admin/party_org/orgunit/add/").status_code == 403
    client.post(change_url(tree["a"]), {"name": "x", "code": "A", "kind": "community",
                                        "parent": tree["s1"].pk})
    assert OrgUnit.objects.get(code="A").name == "滨河社区党委"


def test_user_without_assignment_sees_nothing(tree, users, api_for):
    response = api_for(users["nobody"]).get("/api/v1/org-units/")
    assert response.status_code == 403


# ---- the API ---------------------------------------------------------------------------------


def api_codes(response):
    return {row["code"] for row in response.json()["results"]}


def test_api_list_is_scoped(tree, users, api_for):
    assert api_codes(api_for(users["comm_a"]).get("/api/v1/org-units/")) == {
        "A", "A1", "A1a", "A2", "A2G", "A2H"
    }
    street_codes = api_codes(api_for(users["street"]).get("/api/v1/org-units/"))
    assert {"A", "B", "B1", "B1G"} <= street_codes and "C" not in street_codes


def test_api_detail_update_delete_stats_of_b_are_404(tree, users, api_for):
    client = api_for(users["comm_a"])
    b1 = tree["b1"]
    url = f"/api/v1/org-units/{b1.pk}/"
    assert client.get(url).status_code == 404
    assert client.patch(url, {"name": "x"}, format="json").status_code == 404
    assert client.delete(url).status_code == 404
    assert client.get(url + "stats/").status_code == 404
    b1.refresh_from_db()
    assert b1.name == "化工东院小区党支部"


def test_api_cannot_pick_b_as_parent(tree, users, api_for):
    client = api_for(users["comm_a"])
    response = client.post(
        "/api/v1/org-units/",
        {"name": "x", "code": "X1", "kind": "branch", "parent": tree["b"].pk},
        format="json",
    )
    assert response.status_code == 400
    assert "parent" in response.json()
    response = client.patch(
        f"/api/v1/org-units/{tree['a2'].pk}/", {"parent": tree["b"].pk}, format="json"
    )
    assert response.status_code == 400
    assert OrgUnit.objects.get(code="A2").parent.code == "A"


def test_api_filters_cannot_reach_b(tree, users, api_for):
    client = api_for(users["comm_a"])
    assert api_codes(client.get("/api/v1/org-units/", {"ancestor": tree["b"].pk})) == set()
    assert api_codes(client.get("/api/v1/org-units/", {"parent": tree["b"].pk})) == set()
    assert api_codes(client.get("/api/v1/org-units/", {"search": "化工"})) == set()


def test_api_non_superuser_cannot_create_a_root(tree, users, api_for):
    response = api_for(users["street"]).post(
        "/api/v1/org-units/", {"name": "x", "code": "ROOT2", "kind": "street"}, format="json"
    )
    assert response.status_code == 403
    assert not OrgUnit.objects.filter(code="ROOT2").exists()


def test_api_secretary_can_add_groups_but_not_delete(tree, users, api_for):
    client = api_for(users["secretary"])
    response = client.post(
        "/api/v1/org-units/",
        {"name": "文锦苑2号楼党小组", "code": "A2G2", "kind": OrgKind.BUILDING_GROUP,
         "parent": tree["a2"].pk},
        format="json",
    )
    assert response.status_code == 201, response.json()
    node = OrgUnit.objects.get(code="A2G2")
    assert client.delete(f"/api/v1/org-units/{node.pk}/").status_code == 403
    # The branch's own community is out of reach.
    assert client.get(f"/api/v1/org-units/{tree['a'].pk}/").status_code == 404


def test_reverse_names_exist():
    assert reverse("api:orgunit-list") == "/api/v1/org-units/"


def test_admin_changelist_query_count_does_not_grow(tree, users, admin_client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.party_org.test_api import _grow

    client = admin_client_for(users["street"])
    client.get(CHANGELIST)
    with CaptureQueriesContext(connection) as small:
        client.get(CHANGELIST)
    _grow(tree["b"], "BIG", branches=5, groups_each=3)
    with CaptureQueriesContext(connection) as big:
        response = client.get(CHANGELIST)
    assert len(response.context["cl"].result_list) > 20
    assert len(small) == len(big), [q["sql"] for q in big]


def test_export_keeps_formula_like_text_as_text(tree, users, admin_client_for):
    OrgUnit.objects.filter(code="A2").update(name="=HYPERLINK(\"http://x\",\"y\")")
    response = admin_client_for(users["comm_a"]).post(
        CHANGELIST, {"action": "export_xlsx", "_selected_action": [tree["a2"].pk]}
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    cell = sheet.cell(row=2, column=2)
    assert cell.value.startswith("=HYPERLINK") and cell.data_type == "s"


@pytest.mark.parametrize("parent", ["9" * 30, "abc", "-3"])
def test_admin_bad_parent_value_is_a_form_error(tree, users, admin_client_for, parent):
    response = admin_client_for(users["admin"]).post(
        "/admin/party_org/orgunit/add/",
        {"name": "x", "code": "X9", "kind": "branch", "parent": parent, "is_active": "on"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["parent"]


def test_no_user_sees_nothing(tree):
    from party_org.models import OrgUnit
    from party_org.selectors import in_scope, scoped

    assert scoped(None, OrgUnit.objects.all()).count() == 0
    assert not in_scope(None, tree["a"])
