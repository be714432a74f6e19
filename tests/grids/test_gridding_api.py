"""The grids API: scoping by every route, writes through the services, filters, masked phones
and pinned query counts."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from grids.models import Grid, GridAssignment, GridCoverage, GridWorker
from grids.services import gridding as services
from party_org.models import PersonalDataAccess
from tests.grids.test_gridding import AUX, D, FULL, building, compound, person, world  # noqa: F401

pytestmark = pytest.mark.django_db

API = "/api/v1"


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_lists_and_details_are_scoped(world, users, api_for):
    client = api_for(users["comm_a"])
    a_grids = {world[k].pk for k in ("g1", "g2", "g3", "g4", "m3")}
    assert ids(client.get(f"{API}/grids/")) == a_grids
    assert ids(api_for(users["street"]).get(f"{API}/grids/")) == a_grids | {world["gb"].pk}
    assert ids(client.get(f"{API}/grid-workers/")) == {world["wa"].pk, world["wa2"].pk}
    assert ids(client.get(f"{API}/grid-assignments/")) == {world["asg_a"].pk, world["asg_a2"].pk}
    b_coverage = GridCoverage.objects.get(grid=world["gb"])
    assert b_coverage.pk not in ids(client.get(f"{API}/grid-coverage/"))
    assert ids(api_for(users["comm_b"]).get(f"{API}/grid-coverage/")) == {b_coverage.pk}
    for path, row in (("grids", world["gb"]), ("grid-workers", world["wb"]),
                      ("grid-assignments", world["asg_b"]), ("grid-coverage", b_coverage)):
        url = f"{API}/{path}/{row.pk}/"
        assert client.get(url).status_code == 404, path
        assert client.patch(url, {"name": "x"}, format="json").status_code in (404, 405), path
        assert client.delete(url).status_code == 404, path
        assert type(row).objects.filter(pk=row.pk).exists()
    assert api_for(users["nobody"]).get(f"{API}/grids/").status_code == 403


def test_filters_cannot_reach_b(world, tree, users, api_for):
    client = api_for(users["comm_a"])
    for path in ("grids", "grid-coverage", "grid-workers", "grid-assignments"):
        assert ids(client.get(f"{API}/{path}/", {"ancestor": tree["b"].pk})) == set(), path
    assert ids(client.get(f"{API}/grids/", {"compound": world["huagong"].pk})) == set()
    assert ids(client.get(f"{API}/grids/", {"search": "化工"})) == set()


def test_writes_cannot_pick_b(world, tree, users, api_for):
    client = api_for(users["comm_a"])
    response = client.post(f"{API}/grids/", {"name": "越界", "code": "X-1",
                                             "org_unit": tree["b1"].pk}, format="json")
    assert response.status_code == 400 and "org_unit" in response.json()
    response = client.post(f"{API}/grids/", {"name": "越界", "code": "X-1", "org_unit": tree["a"].pk,
                                             "parent": world["gb"].pk}, format="json")
    assert response.status_code == 400 and "parent" in response.json()
    response = client.post(f"{API}/grid-coverage/", {"grid": world["g4"].pk,
                                                     "compound": world["huagong"].pk},
                           format="json")
    assert response.status_code == 400 and "compound" in response.json()
    response = client.post(f"{API}/grid-workers/", {"person": world["pb"].pk, "kind": FULL,
                                                    "org_unit": tree["a"].pk}, format="json")
    assert response.status_code == 400 and "person" in response.json()
    response = client.post(f"{API}/grid-assignments/", {"worker": world["wa"].pk,
                                                        "grid": world["gb"].pk,
                                                        "started_on": "2025-01-01"},
                           format="json")
    assert response.status_code == 400 and "grid" in response.json()
    assert not Grid.objects.filter(code="X-1").exists()


def test_grid_filters_and_fields(world, tree, users, api_for):
    client = api_for(users["street"])
    assert ids(client.get(f"{API}/grids/", {"micro": "true"})) == {world["m3"].pk}
    assert world["m3"].pk not in ids(client.get(f"{API}/grids/", {"micro": "false"}))
    assert ids(client.get(f"{API}/grids/", {"compound": world["zuoan"].pk})) == {
        world["g1"].pk, world["g2"].pk
    }
    assert ids(client.get(f"{API}/grids/", {"ancestor": tree["a2"].pk})) == {
        world["g3"].pk, world["m3"].pk
    }
    for bad in ("abc", "0", str(2**70)):
        assert client.get(f"{API}/grids/", {"ancestor": bad}).status_code == 400
        assert client.get(f"{API}/grids/", {"compound": bad}).status_code == 400
    rows = {row["code"]: row for row in client.get(f"{API}/grids/").json()["results"]}
    assert rows["A-G3"]["micro_grid_count"] == 1
    assert rows["A-G3"]["worker_count"] == 1
    assert rows["A-G4"]["compound_count"] == 2
    assert rows["A-G4"]["overlap_case"] == services.ONE_GRID_MANY_COMPOUNDS
    assert rows["A-G1"]["overlap_case"] == services.ONE_COMPOUND_MANY_GRIDS
    assert rows["A-G3-M1"]["is_micro"] and rows["A-G3-M1"]["parent_name"] == "文锦苑网格"
    detail = client.get(f"{API}/grids/{world['g3'].pk}/").json()
    assert detail["overlap_case"] == services.ONE_TO_ONE and detail["overlap_case_display"]


def test_grid_writes_go_through_the_services(world, tree, users, api_for):
    client = api_for(users["comm_a"])
    response = client.post(f"{API}/grids/", {"name": "新网格", "code": "A-G9",
                                             "org_unit": tree["a2"].pk}, format="json")
    assert response.status_code == 201, response.content
    grid = Grid.objects.get(code="A-G9")
    response = client.post(f"{API}/grids/", {"name": "重复", "code": "A-G9",
                                             "org_unit": tree["a2"].pk}, format="json")
    assert response.status_code == 400 and "code" in response.json()
    response = client.post(f"{API}/grids/", {"name": "微微", "code": "A-G10",
                                             "org_unit": tree["a2"].pk,
                                             "parent": world["m3"].pk}, format="json")
    assert response.status_code == 400 and "parent" in response.json()
    response = client.post(f"{API}/grid-coverage/", {"grid": grid.pk,
                                                     "compound": world["wenjin"].pk},
                           format="json")
    assert response.status_code == 201, response.content
    response = client.post(f"{API}/grid-coverage/", {"grid": grid.pk,
                                                     "compound": world["wenjin"].pk},
                           format="json")
    assert response.status_code == 400
    coverage = GridCoverage.objects.get(grid=grid)
    assert client.delete(f"{API}/grid-coverage/{coverage.pk}/").status_code == 204
    assert client.patch(f"{API}/grids/{grid.pk}/", {"name": "改名"}, format="json").json()[
        "name"] == "改名"
    assert client.delete(f"{API}/grids/{world['g3'].pk}/").status_code == 409
    assert client.delete(f"{API}/grids/{grid.pk}/").status_code == 204


def test_worker_and_assignment_writes(world, tree, users, api_for):
    client = api_for(users["comm_a"])
    p = person(tree["a"], "陈辅助", "13700002222")
    response = client.post(f"{API}/grid-workers/", {"person": p.pk, "kind": AUX,
                                                    "org_unit": tree["a"].pk}, format="json")
    assert response.status_code == 201, response.content
    worker = GridWorker.objects.get(person=p)
    again = client.post(f"{API}/grid-workers/", {"person": p.pk, "kind": FULL,
                                                 "org_unit": tree["a"].pk}, format="json")
    assert again.status_code == 400 and "person" in again.json()
    response = client.post(f"{API}/grid-assignments/", {"worker": worker.pk, "grid": world["g4"].pk,
                                                        "started_on": "2099-01-01"}, format="json")
    assert response.status_code == 400 and "started_on" in response.json()
    response = client.post(f"{API}/grid-assignments/", {"worker": worker.pk, "grid": world["g4"].pk,
                                                        "started_on": "2025-04-01"}, format="json")
    assert response.status_code == 201, response.content
    assignment = GridAssignment.objects.get(pk=response.json()["id"])
    url = f"{API}/grid-assignments/{assignment.pk}/"
    assert client.patch(url, {"grid": world["g3"].pk}, format="json").status_code == 400
    assert client.patch(url, {"ended_on": "2025-03-01"}, format="json").status_code == 400
    assert client.patch(url, {"ended_on": "2025-05-01"}, format="json").json()["ended_on"] == (
        "2025-05-01")
    response = client.patch(f"{API}/grid-workers/{world['wa'].pk}/", {"is_active": False},
                            format="json")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert not GridAssignment.objects.filter(worker=world["wa"], ended_on__isnull=True).exists()
    assert client.delete(f"{API}/grid-workers/{world['wa'].pk}/").status_code == 409


def test_worker_phone_is_masked_without_the_permission(world, users, api_for):
    rows = api_for(users["auditor"]).get(f"{API}/grid-workers/").json()["results"]
    phones = {row["name"]: row["phone"] for row in rows}
    assert phones["张网格"] != "13812345678" and phones["张网格"].startswith("138")
    assert not PersonalDataAccess.objects.exists()
    rows = api_for(users["comm_a"]).get(f"{API}/grid-workers/").json()["results"]
    assert {row["name"]: row["phone"] for row in rows}["张网格"] == "13812345678"
    assert PersonalDataAccess.objects.filter(person=world["pa"],
                                             context="api:grid-workers:list").exists()
    row = next(r for r in rows if r["name"] == "张网格")
    assert row["grids"][0]["name"] == "文锦苑网格"


def _populate(tree, n, tag):
    """n more grids (each covering a compound, with a worker) in branch A2."""
    for i in range(n):
        row = compound(tree["a2"], f"{tag}小区{i}", buildings=1)
        grid = services.create_grid(None, name=f"{tag}网格{i}", code=f"{tag}-{i}",
                                    org_unit=tree["a2"])
        services.cover(None, grid, row)
        micro = services.create_grid(None, name=f"{tag}微网格{i}", code=f"{tag}-{i}-M",
                                     org_unit=tree["a2"], parent=grid)
        services.cover(None, micro, row, building(row, 1))
        worker = services.register_worker(None, person(tree["a2"], f"{tag}员{i}"), FULL, tree["a2"])
        services.assign_worker(None, worker, grid, D(2025, 1, 1))
        services.assign_worker(None, worker, micro, D(2025, 1, 1))


@pytest.mark.parametrize("path", ["grids", "grid-workers", "grid-coverage", "grid-assignments"])
def test_list_query_counts_are_pinned(world, tree, users, api_for, path):
    client = api_for(users["comm_a"])
    _populate(tree, 1, "小")
    client.get(f"{API}/{path}/")
    with CaptureQueriesContext(connection) as small:
        first = client.get(f"{API}/{path}/")
    _populate(tree, 18, "大")
    with CaptureQueriesContext(connection) as big:
        second = client.get(f"{API}/{path}/")
    assert second.json()["count"] >= 20 and second.json()["count"] > first.json()["count"]
    assert len(small) == len(big), [q["sql"] for q in big.captured_queries]
