"""Territory by every route: the scoping matrix (admin and API), scoped choices and
autocomplete, saves through the services, and fixed query counts for the lists."""

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from grids.models import Building, CareFlag, Compound, CompoundType, ResidentListEntry
from grids.services import territory as services
from party_org.models import AuditEntry
from party_org.selectors import Subtree

from .test_territory_helpers import building, compound, household, person, world  # noqa: F401

pytestmark = pytest.mark.django_db

ADMIN = "/admin/grids"
API = "/api/v1"
MODELS = {
    "compound": "compounds",
    "building": "buildings",
    "entrance": "entrances",
    "household": "households",
    "residentlistentry": "resident-lists",
}


def listed(response):
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def in_subtree(Model, node):
    return set(Model.objects.filter(Subtree.of(node).q(Model.scope_path)).values_list(
        "pk", flat=True))


@pytest.mark.parametrize("model", list(MODELS))
def test_admin_scoping_matrix(tree, users, world, admin_client_for, model):
    own, other = world["a"][model], world["b"][model]
    Model = type(own)
    in_a, in_b = in_subtree(Model, tree["a"]), in_subtree(Model, tree["b"])
    assert own.pk in in_a and other.pk in in_b
    client = admin_client_for(users["comm_a"])
    assert listed(client.get(f"{ADMIN}/{model}/")) == in_a
    assert listed(admin_client_for(users["comm_b"]).get(f"{ADMIN}/{model}/")) == in_b
    assert listed(admin_client_for(users["street"]).get(f"{ADMIN}/{model}/")) == in_a | in_b
    assert client.get(f"{ADMIN}/{model}/{own.pk}/change/").status_code == 200
    for url in (f"{ADMIN}/{model}/{other.pk}/change/", f"{ADMIN}/{model}/{other.pk}/delete/"):
        response = client.get(url, follow=True)
        assert response.redirect_chain, url
        assert any("不存在" in str(m) or "exist" in str(m) for m in response.context["messages"])
    client.post(f"{ADMIN}/{model}/{other.pk}/delete/", {"post": "yes"})
    assert Model.objects.filter(pk=other.pk).exists()
    response = client.post(f"{ADMIN}/{model}/", {
        "action": "export_xlsx", "_selected_action": [own.pk, other.pk]})
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert len(rows) == 2  # the header and A's row
    # Nobody without a role sees anything.
    assert admin_client_for(users["nobody"]).get(f"{ADMIN}/{model}/").status_code in (302, 403)


@pytest.mark.parametrize("model", list(MODELS))
def test_api_scoping_matrix(tree, users, world, api_for, model):
    own, other = world["a"][model], world["b"][model]
    Model = type(own)
    url = f"{API}/{MODELS[model]}/"
    client = api_for(users["comm_a"])
    assert ids(client.get(url)) == in_subtree(Model, tree["a"])
    assert ids(api_for(users["street"]).get(url)) == (
        in_subtree(Model, tree["a"]) | in_subtree(Model, tree["b"]))
    assert client.get(f"{url}{own.pk}/").status_code == 200
    assert client.get(f"{url}{other.pk}/").status_code == 404
    assert client.patch(f"{url}{other.pk}/", {"note": "x"}, format="json").status_code == 404
    assert client.delete(f"{url}{other.pk}/").status_code == 404
    assert Model.objects.filter(pk=other.pk).exists()
    # Filtering by an ancestor out of scope finds nothing rather than B's rows.
    assert ids(client.get(url, {"ancestor": tree["b"].pk})) == set()
    assert ids(client.get(url, {"ancestor": tree["a"].pk})) == in_subtree(Model, tree["a"])
    assert client.get(url, {"ancestor": "x"}).status_code == 400
    assert api_for(users["nobody"]).get(url).status_code == 403


def test_api_choices_are_scoped(tree, users, world, api_for):
    a, b = world["a"], world["b"]
    client = api_for(users["comm_a"])
    cases = [
        ("compounds", {"name": "X", "org_unit": tree["b1"].pk, "compound_type": "old",
                       "address": "x"}, "org_unit"),
        ("buildings", {"compound": b["compound"].pk, "number": "9"}, "compound"),
        ("buildings", {"compound": a["compound"].pk, "number": "9",
                       "building_head": b["head"].pk}, "building_head"),
        ("entrances", {"building": b["building"].pk, "number": "9"}, "building"),
        ("households", {"compound": a["compound"].pk, "room": "9", "head": b["head"].pk},
         "head"),
        ("households", {"compound": a["compound"].pk, "room": "9",
                        "building": b["building"].pk}, "building"),
        ("resident-lists", {"compound": a["compound"].pk, "kind": "key",
                            "person": b["head"].pk}, "person"),
        ("resident-lists", {"compound": a["compound"].pk, "kind": "key",
                            "person": a["head"].pk, "household": b["household"].pk},
         "household"),
    ]
    for endpoint, data, field in cases:
        response = client.post(f"{API}/{endpoint}/", data, format="json")
        assert response.status_code == 400 and field in response.json(), (endpoint, data)


def test_admin_choices_and_autocomplete_are_scoped(tree, users, world, admin_client_for):
    client = admin_client_for(users["comm_a"])
    form = client.get(f"{ADMIN}/household/add/").context["adminform"].form
    for field, model in (("compound", "compound"), ("building", "building"),
                         ("entrance", "entrance"), ("head", "person")):
        assert set(form.fields[field].queryset.values_list("pk", flat=True)) == {
            world["a"][model].pk}, field
    for source, field in (("household", "compound"), ("household", "building"),
                          ("household", "entrance"), ("household", "head"),
                          ("building", "building_head"), ("residentlistentry", "household"),
                          ("residentlistentry", "person")):
        response = client.get("/admin/autocomplete/", {
            "app_label": "grids", "model_name": source, "field_name": field, "term": ""})
        assert response.status_code == 200, (source, field)
        found = {int(row["id"]) for row in response.json()["results"]}
        target = "person" if field in ("head", "building_head", "person") else field
        assert found == {world["a"][target].pk}, (source, field)
    org_units = client.get(f"{ADMIN}/compound/add/").context["adminform"].form.fields[
        "org_unit"].queryset
    assert set(org_units.values_list("code", flat=True)) == {"A", "A1", "A1a", "A2"}


def test_admin_refuses_a_foreign_choice(tree, users, world, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.post(f"{ADMIN}/building/add/", {
        "compound": world["b"]["compound"].pk, "number": "9",
        "entrances-TOTAL_FORMS": 0, "entrances-INITIAL_FORMS": 0})
    assert response.status_code == 200
    assert "compound" in response.context["adminform"].form.errors
    assert not Building.objects.filter(number="9").exists()


# ---- admin saves go through the services -----------------------------------------------------


def compound_form(c=None, **extra):
    data = {
        "name": "新小区", "org_unit": "", "compound_type": CompoundType.NEW_BUILD,
        "is_active": "on", "households": 10, "population": 30, "floor_area_m2": "500.0",
        "year_built": 2015, "address": "新路1号", "latitude": "", "longitude": "",
        "buildings-TOTAL_FORMS": 0, "buildings-INITIAL_FORMS": 0,
    }
    data.update(extra)
    return data


def test_admin_compound_with_buildings(tree, users, world, admin_client_for):
    client = admin_client_for(users["comm_a"])
    data = compound_form(org_unit=tree["a1"].pk, **{
        "buildings-TOTAL_FORMS": 2, "buildings-0-number": "1号楼", "buildings-0-floors": 6,
        "buildings-1-number": "2号楼", "buildings-1-building_head": world["a"]["head"].pk,
    })
    response = client.post(f"{ADMIN}/compound/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    c = Compound.objects.get(name="新小区")
    assert sorted(c.buildings.values_list("number", flat=True)) == ["1号楼", "2号楼"]
    assert AuditEntry.objects.filter(model="grids.building", action="create").count() == 4
    # Duplicates: inside the formset, and against a stored building.
    b1 = c.buildings.get(number="1号楼")
    data = compound_form(org_unit=tree["a1"].pk, **{
        "buildings-TOTAL_FORMS": 3, "buildings-INITIAL_FORMS": 2,
        "buildings-0-id": b1.pk, "buildings-0-compound": c.pk, "buildings-0-number": "1号楼",
        "buildings-1-id": c.buildings.get(number="2号楼").pk, "buildings-1-compound": c.pk,
        "buildings-1-number": "2号楼", "buildings-2-number": "1号楼",
    })
    response = client.post(f"{ADMIN}/compound/{c.pk}/change/", data)
    assert response.status_code == 200
    assert c.buildings.count() == 2
    # A compound hung on a building group is refused with the model's message.
    response = client.post(f"{ADMIN}/compound/add/", compound_form(
        name="错小区", org_unit=tree["a2g"].pk))
    assert response.status_code == 200
    assert "org_unit" in response.context["adminform"].form.errors
    response = client.post(f"{ADMIN}/compound/add/", compound_form(
        name="新小区", org_unit=tree["a1"].pk))
    assert list(response.context["adminform"].form.errors) == ["name"]


def test_admin_delete_refused_with_message(tree, users, world, admin_client_for):
    c = world["a"]["compound"]
    response = admin_client_for(users["comm_a"]).post(
        f"{ADMIN}/compound/{c.pk}/delete/", {"post": "yes"})
    # The admin names what still refers to the compound instead of deleting it.
    assert response.status_code == 200 and response.context["protected"]
    assert Compound.objects.filter(pk=c.pk).exists()
    empty = compound(tree["a2"], "空小区")
    response = admin_client_for(users["comm_a"]).post(
        f"{ADMIN}/compound/{empty.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not Compound.objects.filter(pk=empty.pk).exists()
    assert AuditEntry.objects.filter(model="grids.compound", action="delete").count() == 1


def test_admin_list_entry(tree, users, world, admin_client_for):
    client = admin_client_for(users["comm_a"])
    a = world["a"]
    data = {"compound": a["compound"].pk, "kind": "special", "person": a["head"].pk,
            "household": "", "note": ""}
    response = client.post(f"{ADMIN}/residentlistentry/add/", data)
    assert response.status_code == 200
    assert "person" in response.context["adminform"].form.errors
    data["kind"] = "key"
    assert client.post(f"{ADMIN}/residentlistentry/add/", data).status_code == 302
    entry = ResidentListEntry.objects.get(kind="key")
    response = client.post(f"{ADMIN}/residentlistentry/{entry.pk}/change/",
                           {"household": a["household"].pk, "note": "重点关注"})
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.household == a["household"] and entry.kind == "key"


# ---- API writes ------------------------------------------------------------------------------


def test_api_writes(tree, users, world, api_for):
    client = api_for(users["comm_a"])
    response = client.post(f"{API}/compounds/", {
        "name": "新小区", "org_unit": tree["a1"].pk, "compound_type": "new_build",
        "address": "新路1号", "households": 10}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["community_name"] == tree["a"].name
    response = client.post(f"{API}/compounds/", {
        "name": "新小区", "org_unit": tree["a1"].pk, "compound_type": "new_build",
        "address": "x"}, format="json")
    assert response.status_code == 400 and "name" in response.json()
    response = client.post(f"{API}/buildings/", {
        "compound": world["a"]["compound"].pk, "number": "1号楼"}, format="json")
    assert response.status_code == 400 and "1号楼" in response.json()["number"][0]
    response = client.delete(f"{API}/compounds/{world['a']['compound'].pk}/")
    assert response.status_code == 409
    entry = world["a"]["residentlistentry"]
    response = client.patch(f"{API}/resident-lists/{entry.pk}/", {"kind": "key"}, format="json")
    assert response.status_code == 400 and "kind" in response.json()
    response = client.patch(f"{API}/resident-lists/{entry.pk}/", {"note": "已走访"},
                            format="json")
    assert response.status_code == 200 and response.json()["note"] == "已走访"
    assert api_for(users["auditor"]).post(f"{API}/compounds/", {}, format="json"
                                          ).status_code == 403


def test_api_compound_filters(tree, users, world, api_for):
    old = compound(tree["a1"], "老小区", CompoundType.OLD)
    client = api_for(users["comm_a"])
    assert ids(client.get(f"{API}/compounds/", {"type": "old"})) == {old.pk}
    assert ids(client.get(f"{API}/compounds/", {"type": ["old", "residential"]})) == {
        old.pk, world["a"]["compound"].pk}
    assert ids(client.get(f"{API}/compounds/", {"ancestor": tree["a1"].pk})) == {old.pk}
    assert ids(client.get(f"{API}/compounds/", {"search": "老"})) == {old.pk}
    assert client.get(f"{API}/compounds/", {"type": "castle"}).status_code == 400
    assert ids(client.get(f"{API}/households/", {"compound": old.pk})) == set()


# ---- query counts ----------------------------------------------------------------------------


def fill(tree, start, stop):
    """Compounds in A (alternately on a branch and the community), each with a building, a
    household file with a head, a phone and care flags, and a list entry."""
    for i in range(start, stop):
        unit = tree["a2"] if i % 2 else tree["a"]
        c = compound(unit, f"小区{i}")
        b = building(c, "1号楼", building_head=person(unit, f"楼长{i}"))
        head = person(unit, f"户主{i}")
        h = household(c, "101", building=b, head=head, contact_phone="13800000000",
                      care_flags=[CareFlag.DISABLED])
        services.add_list_entry(None, compound=c, kind="residents", person=head, household=h)


def count(get):
    get()  # warm caches (permissions, content types, sessions)
    with CaptureQueriesContext(connection) as queries:
        response = get()
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("route, pinned", [
    (f"{API}/compounds/", 2),
    (f"{API}/buildings/", 3),
    (f"{API}/households/", 3),
    (f"{API}/resident-lists/", 2),
    (f"{ADMIN}/compound/", 9),
    (f"{ADMIN}/building/", 9),
    (f"{ADMIN}/household/", 10),
    (f"{ADMIN}/residentlistentry/", 9),
])
def test_list_query_counts(tree, users, api_for, admin_client_for, route, pinned):
    user = users["comm_a"]
    client = api_for(user) if route.startswith(API) else admin_client_for(user)
    fill(tree, 0, 2)
    few = count(lambda: client.get(route))
    fill(tree, 2, 20)
    many = count(lambda: client.get(route))
    assert few == many, route
    assert many == pinned, route
