import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from party_org.models import OrgKind, OrgUnit
from party_org.selectors import tree_problems
from party_org.statistics import Figure, Rate, Registry
from tests.conftest import make

pytestmark = pytest.mark.django_db

# Superuser: list = ancestor lookup, count, page; stats = the node, then the grouped queries of
# every registered figure group (org units 3, members 2, duties 6, resources 5, grid territory 2,
# gridding 3, grid events 2, patrols and visits 2, property 5, volunteers 7).
EXPECTED_LIST_QUERIES = 3
EXPECTED_STATS_QUERIES = 38


def codes(response):
    assert response.status_code == 200, response.content
    return [row["code"] for row in response.json()["results"]]


def test_list_filters(tree, users, api_for):
    client = api_for(users["admin"])
    assert set(codes(client.get("/api/v1/org-units/", {"parent": tree["a"].pk}))) == {"A1", "A2"}
    assert set(codes(client.get("/api/v1/org-units/", {"kind": "community"}))) == {"A", "B", "C"}
    assert set(
        codes(client.get("/api/v1/org-units/", {"kind": ["community", "street"]}))
    ) == {"A", "B", "C", "S1", "S2"}
    assert set(codes(client.get("/api/v1/org-units/", {"ancestor": tree["a2"].pk}))) == {
        "A2", "A2G", "A2H"
    }
    assert codes(client.get("/api/v1/org-units/", {"search": "文锦苑"})) == ["A2", "A2G"]
    # Tree order by default: parents before their children.
    ordered = codes(client.get("/api/v1/org-units/", {"ancestor": tree["a"].pk}))
    assert ordered.index("A1") < ordered.index("A1a") < ordered.index("A2") < ordered.index("A2G")


@pytest.mark.parametrize(
    "params",
    [{"kind": "palace"}, {"parent": "9" * 30}, {"ancestor": "-1"}, {"ancestor": "1.5"},
     {"parent": "abc"}],
)
def test_invalid_filter_value_is_a_clear_400(tree, users, api_for, params):
    response = api_for(users["admin"]).get("/api/v1/org-units/", params)
    assert response.status_code == 400
    assert set(params) <= set(response.json())


def test_detail_has_the_path_of_ancestors(tree, users, api_for):
    data = api_for(users["admin"]).get(f"/api/v1/org-units/{tree['a2h'].pk}/").json()
    assert [a["code"] for a in data["ancestors"]] == ["D", "S1", "A", "A2", "A2G"]
    assert data["kind"] == "household"
    assert data["children_count"] == 0
    data = api_for(users["admin"]).get(f"/api/v1/org-units/{tree['a'].pk}/").json()
    assert data["children_count"] == 2 and data["descendant_count"] == 5


def test_create_move_and_refused_delete_through_the_api(tree, users, api_for):
    client = api_for(users["street"])
    response = client.post(
        "/api/v1/org-units/",
        {"name": "新小区党支部", "code": "B2", "kind": "branch", "parent": tree["b"].pk,
         "contact_phone": "0351-1234567", "established_on": "2026-03-01"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    new = response.json()
    assert new["level"] == 3 and new["children_count"] == 0
    response = client.patch(
        f"/api/v1/org-units/{new['id']}/", {"parent": tree["a"].pk}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert OrgUnit.objects.get(code="B2").parent.code == "A"
    response = client.delete(f"/api/v1/org-units/{tree['a2'].pk}/")
    assert response.status_code == 409
    assert "文锦苑小区党支部" in response.json()["detail"]
    assert client.delete(f"/api/v1/org-units/{new['id']}/").status_code == 204
    assert tree_problems() == []


def test_wrong_placement_through_the_api(tree, users, api_for):
    response = api_for(users["admin"]).post(
        "/api/v1/org-units/",
        {"name": "x", "code": "X", "kind": "household", "parent": tree["a"].pk},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["parent"]
    response = api_for(users["admin"]).post(
        "/api/v1/org-units/",
        {"name": "x", "code": "bad code!", "kind": "branch", "parent": tree["a"].pk},
        format="json",
    )
    assert response.status_code == 400 and "code" in response.json()


def figure_map(response):
    assert response.status_code == 200, response.content
    return {f["name"]: f for f in response.json()["figures"]}


def test_stats_counts_the_subtree(tree, users, api_for):
    client = api_for(users["admin"])
    figures = figure_map(client.get(f"/api/v1/org-units/{tree['s1'].pk}/stats/"))
    assert figures["org_units.community"]["value"] == 2
    assert figures["org_units.branch"]["value"] == 4
    assert figures["org_units.building_group"]["value"] == 2
    assert figures["org_units.household"]["value"] == 1
    assert figures["org_units.street"]["value"] == 1
    assert figures["org_units.general_branches"]["value"] == 1
    coverage = figures["org_units.branch_group_coverage"]
    # Of S1's four branches, A2 and B1 have building groups.
    assert (coverage["numerator"], coverage["denominator"], coverage["value"]) == (2, 4, 0.5)
    assert coverage["label"] and coverage["unit"] == "%"


def test_stats_periods(tree, users, api_for):
    OrgUnit.objects.filter(code="A2").update(established_on=dt.date(2026, 10, 12))
    OrgUnit.objects.filter(code="B1").update(established_on=dt.date(2026, 12, 1))
    client = api_for(users["admin"])
    url = f"/api/v1/org-units/{tree['s1'].pk}/stats/"
    october = client.get(url, {"month": "2026-10"})
    assert october.json()["period"] == {"start": "2026-10-01", "end": "2026-10-31"}
    figures = figure_map(october)
    assert figures["org_units.established_in_period"]["value"] == 1
    assert figures["org_units.branch"]["value"] == 3  # B1 did not exist yet
    ranged = figure_map(client.get(url, {"from": "2026-01-01", "to": "2026-12-31"}))
    assert ranged["org_units.established_in_period"]["value"] == 2
    assert ranged["org_units.branch"]["value"] == 4


@pytest.mark.parametrize(
    "params",
    [{"month": "2026-13"}, {"month": "October"}, {"from": "2026-02-30"},
     {"from": "2026-05-01", "to": "2026-04-01"}, {"month": "2026-10", "from": "2026-10-01"}],
)
def test_stats_bad_periods_are_400(tree, users, api_for, params):
    response = api_for(users["admin"]).get(f"/api/v1/org-units/{tree['a'].pk}/stats/", params)
    assert response.status_code == 400
    assert response.json()["detail"]


def _grow(parent, prefix, branches, groups_each):
    for b in range(branches):
        branch = make(parent, OrgKind.BRANCH, f"{prefix}-B{b}")
        for g in range(groups_each):
            group = make(branch, OrgKind.BUILDING_GROUP, f"{prefix}-B{b}-G{g}")
            make(group, OrgKind.HOUSEHOLD, f"{prefix}-B{b}-G{g}-H")


def _queries(client, url, params=None):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_list_and_stats_query_counts_do_not_grow_with_the_subtree(tree, users, api_for):
    small = tree["c"]
    big = tree["b"]
    _grow(big, "BIG", branches=6, groups_each=4)
    client = api_for(users["street"])
    # The street user sees B (large) but not C: use the superuser for C, same code path.
    admin = api_for(users["admin"])
    for c in (client, admin):
        c.get("/api/v1/org-units/")  # warm caches (content types, permissions)
    small_list = _queries(admin, "/api/v1/org-units/", {"ancestor": small.pk})
    big_list = _queries(admin, "/api/v1/org-units/", {"ancestor": big.pk})
    assert small_list == big_list
    small_stats = _queries(admin, f"/api/v1/org-units/{small.pk}/stats/")
    big_stats = _queries(admin, f"/api/v1/org-units/{big.pk}/stats/")
    assert small_stats == big_stats
    # Pin the numbers so an N+1 or an extra figure query cannot creep in unnoticed.
    assert big_list == EXPECTED_LIST_QUERIES, big_list
    assert big_stats == EXPECTED_STATS_QUERIES, big_stats
    # A scoped user: the same count for a small and a large subtree of theirs.
    assert _queries(client, f"/api/v1/org-units/{tree['a'].pk}/stats/") == _queries(
        client, f"/api/v1/org-units/{big.pk}/stats/"
    )


def test_stats_can_ask_for_some_figures(tree, users, api_for):
    client = api_for(users["admin"])
    url = f"/api/v1/org-units/{tree['s1'].pk}/stats/"
    names = [f["name"] for f in client.get(url, {"figures": "org_units.branch"}).json()["figures"]]
    assert names == ["org_units.branch"]
    names = [f["name"] for f in client.get(url, {"figures": "org_units"}).json()["figures"]]
    assert "org_units.branch_group_coverage" in names and len(names) == 10
    assert client.get(url, {"figures": "no_such"}).json()["figures"] == []


def test_registry_rates_and_duplicates():
    registry = Registry()

    @registry.register(Figure("x.rate", "rate", "%"), Figure("x.count", "count"))
    def compute(subtree, period):
        return {"x.rate": Rate(1, 3), "x.count": 5}

    result = {f["name"]: f for f in registry.compute(None, None)}
    assert result["x.rate"] == {
        "name": "x.rate", "label": "rate", "unit": "%", "value": 0.3333,
        "numerator": 1, "denominator": 3,
    }
    assert result["x.count"]["value"] == 5
    assert Rate(0, 0).value is None
    with pytest.raises(ValueError):
        registry.register(Figure("x.count", "again"))(compute)


def test_token_authentication(tree, users, capsys):
    call_command("issue_token", "comm_a")
    token = capsys.readouterr().out.strip()
    assert len(token) == 40
    client = APIClient()
    assert client.get("/api/v1/org-units/").status_code in (401, 403)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert "A" in codes(client.get("/api/v1/org-units/"))
    call_command("issue_token", "comm_a", "--reset")
    assert capsys.readouterr().out.strip() != token
    assert client.get("/api/v1/org-units/").status_code == 401


def test_schema_validates(client, db):
    from drf_spectacular.validation import validate_schema

    response = client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert "/api/v1/org-units/{id}/stats/" in schema["paths"]


def test_docs_load_with_no_external_url(client, db):
    import re

    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert urls, "the page should load its assets"
    assert all(not re.match(r"^(https?:)?//", url) for url in urls), urls
    assert "swagger-ui" in html
    from django.contrib.staticfiles import finders

    for url in urls:
        if url.startswith("/static/"):
            assert finders.find(url.removeprefix("/static/")), url
