"""The API of stations, funds, co-building units, the three lists, committee seats, the top ten
and the 五有 indicator: filters, writes through the services, scoping and query counts."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from party_org.models import (
    BranchFundEntry,
    FundCategory,
    ListKind,
    OrgKind,
    TopSecretarySelection,
)
from party_org.services import resources as services
from tests.conftest import make

from .test_resources_admin import world  # noqa: F401  (the fixture)
from .test_resources_helpers import EIGHT, complete_branch, person, seat, station, work_unit

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
D = lambda days_ago: TODAY - dt.timedelta(days=days_ago)  # noqa: E731
API = "/api/v1"


def results(response):
    assert response.status_code == 200, response.content
    return response.json()["results"]


def ids(response):
    return {row["id"] for row in results(response)}


# ---- scoping ---------------------------------------------------------------------------------

ENDPOINTS = {
    "stations": "servicestation",
    "fund-entries": "branchfundentry",
    "co-building": "cobuildingagreement",
    "list-items": "listitem",
    "committee-seats": "committeemembership",
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_api_scoping(tree, users, api_for, world, endpoint):  # noqa: F811
    own, other = world[ENDPOINTS[endpoint]]
    client = api_for(users["comm_a"])
    listed = ids(client.get(f"{API}/{endpoint}/"))
    assert own.pk in listed and other.pk not in listed
    assert other.pk in ids(api_for(users["comm_b"]).get(f"{API}/{endpoint}/"))
    assert client.get(f"{API}/{endpoint}/{own.pk}/").status_code == 200
    assert client.get(f"{API}/{endpoint}/{other.pk}/").status_code == 404
    # An ancestor outside the scope gives nothing, not B's rows.
    assert ids(client.get(f"{API}/{endpoint}/", {"ancestor": tree["b"].pk})) == set()
    assert api_for(users["nobody"]).get(f"{API}/{endpoint}/").status_code == 403


def test_api_writes_cannot_reach_b(tree, users, api_for, world):  # noqa: F811
    client = api_for(users["comm_a"])
    response = client.post(f"{API}/stations/", {
        "org_unit": tree["b1"].pk, "name": "x", "address": "y", "area_m2": "10"}, format="json")
    assert response.status_code == 400 and "org_unit" in response.json()
    response = client.post(f"{API}/fund-entries/", {
        "org_unit": tree["b1"].pk, "entry_date": D(1).isoformat(), "category": "work_funds",
        "amount": "10", "description": "x"}, format="json")
    assert response.status_code == 400 and "org_unit" in response.json()
    b_entry = world["branchfundentry"][1]
    assert client.post(f"{API}/fund-entries/{b_entry.pk}/reverse/", {}).status_code == 404
    b_need = world["listitem"][1]
    assert client.post(f"{API}/list-items/{b_need.pk}/match/",
                       {"resource": world["resources"][0].pk}).status_code == 404
    a_need = world["listitem"][0]
    response = client.post(f"{API}/list-items/{a_need.pk}/match/",
                           {"resource": world["resources"][1].pk})
    assert response.status_code == 400 and "resource" in response.json()
    response = client.post(f"{API}/committee-seats/", {
        "org_unit": tree["a2"].pk, "person": person(tree["b1"], "乙").pk, "role": "member",
        "started_on": D(1).isoformat()})
    assert response.status_code == 400 and "person" in response.json()
    response = client.get(f"{API}/five-haves/", {"org_unit": tree["b"].pk})
    assert response.status_code == 404


# ---- stations --------------------------------------------------------------------------------


def test_stations_filters_and_fields(tree, users, api_for):
    full = station(tree["a2"], checklist=EIGHT, area="120.5")
    station(tree["a1a"], checklist=EIGHT[:5])
    station(tree["b1"], standard="six_haves_five", checklist=["venue"])
    client = api_for(users["street"])
    rows = results(client.get(f"{API}/stations/", {"ancestor": tree["a2"].pk}))
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == full.pk and row["area_m2"] == "120.5" and row["meets_standard"] is True
    assert row["checklist_met"] == 8 and row["checklist_total"] == 8
    assert len(ids(client.get(f"{API}/stations/", {"ancestor": tree["a"].pk}))) == 2
    rows = results(client.get(f"{API}/stations/", {"standard": "six_haves_five"}))
    assert [(r["org_unit"], r["meets_standard"], r["checklist_total"]) for r in rows] == [
        (tree["b1"].pk, False, 11)]
    assert client.get(f"{API}/stations/", {"standard": "ninety"}).status_code == 400


def test_station_writes_go_through_the_service(tree, users, api_for):
    client = api_for(users["comm_a"])
    data = {"org_unit": tree["a2"].pk, "name": "文锦苑站", "address": "1号楼", "area_m2": "60",
            "functions": ["reception", "culture"], "standard": "eight_haves",
            "checklist": ["code", "sign"]}
    response = client.post(f"{API}/stations/", data, format="json")
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    response = client.patch(f"{API}/stations/{pk}/", {"checklist": ["venue"]}, format="json")
    assert response.status_code == 400 and "checklist" in response.json()
    response = client.post(f"{API}/stations/", {**data, "org_unit": tree["a2g"].pk},
                           format="json")
    assert response.status_code == 400 and "org_unit" in response.json()
    response = client.patch(f"{API}/stations/{pk}/", {"area_m2": "75.5"}, format="json")
    assert response.status_code == 200 and response.json()["area_m2"] == "75.5"
    assert client.delete(f"{API}/stations/{pk}/").status_code == 204


# ---- funds -----------------------------------------------------------------------------------


def test_fund_entries_create_list_and_reverse(tree, users, api_for):
    client = api_for(users["secretary"])
    post = lambda **data: client.post(f"{API}/fund-entries/", {  # noqa: E731
        "org_unit": tree["a2"].pk, "entry_date": D(10).isoformat(), "description": "x",
        **data}, format="json")
    response = post(category="work_funds", amount="1000")
    assert response.status_code == 201 and response.json()["running_balance"] == "1000.00"
    response = post(category="activities", amount="250.50")
    assert response.status_code == 201
    spent = response.json()
    assert spent["amount"] == "-250.50" and spent["direction"] == "out"
    assert spent["running_balance"] == "749.50"
    response = post(category="venue", amount="800")
    assert response.status_code == 400 and "amount" in response.json()
    assert post(category="venue", amount="-8").status_code == 400
    assert post(category="bribes", amount="8").status_code == 400
    response = client.post(f"{API}/fund-entries/{spent['id']}/reverse/",
                           {"reason": "重复录入"}, format="json")
    assert response.status_code == 201
    reversal = response.json()
    assert reversal["amount"] == "250.50" and reversal["reverses"] == spent["id"]
    assert reversal["running_balance"] == "1000.00"
    again = client.post(f"{API}/fund-entries/{spent['id']}/reverse/", {}, format="json")
    assert again.status_code == 400
    rows = results(client.get(f"{API}/fund-entries/", {"category": "activities"}))
    assert [(r["amount"], r["running_balance"], r["reversed_by"]) for r in rows] == [
        ("-250.50", "749.50", reversal["id"]), ("250.50", "1000.00", None)]
    # Append-only.
    staff = api_for(users["comm_a"])  # holds the delete permission; still no way to delete
    assert staff.put(f"{API}/fund-entries/{spent['id']}/", {}).status_code == 405
    assert staff.delete(f"{API}/fund-entries/{spent['id']}/").status_code == 405
    assert BranchFundEntry.objects.get(pk=spent["id"]).amount == Decimal("-250.50")


def _queries(client, url, params=None):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_list_query_counts_do_not_grow(tree, users, api_for):
    client = api_for(users["comm_a"])
    services.record_fund_entry(None, tree["a2"], D(60), FundCategory.WORK_FUNDS, "100000", "经费")
    services.record_fund_entry(None, tree["a1"], D(60), FundCategory.WORK_FUNDS, "100", "经费")
    station(tree["a2"])
    station(tree["a1"])
    for url in ("stations", "fund-entries"):
        client.get(f"{API}/{url}/")
    few = {url: _queries(client, f"{API}/{url}/") for url in ("stations", "fund-entries")}
    for n in range(20):
        entry = services.record_fund_entry(None, tree["a2"], D(50 - n), FundCategory.ACTIVITIES,
                                           "10", f"活动{n}")
        if n % 4 == 0:
            services.reverse_fund_entry(None, entry)
        station(tree["a1a" if n % 2 else "a2"], name=f"站{n}")
    many = {url: _queries(client, f"{API}/{url}/") for url in ("stations", "fund-entries")}
    # stations: count, page; fund entries: count, page, one windowed balance query.
    assert few == many == {"stations": 2, "fund-entries": 3}, (few, many)


# ---- co-building, lists, committees, top ten -------------------------------------------------


def test_co_building_and_lists(tree, users, api_for):
    client = api_for(users["comm_a"])
    unit = work_unit()
    response = client.post(f"{API}/co-building/", {
        "work_unit": unit.pk, "org_unit": tree["a"].pk, "signed_on": D(5).isoformat(),
        "liaison": "张"})
    assert response.status_code == 201, response.content
    agreement = response.json()["id"]
    assert client.post(f"{API}/co-building/", {
        "work_unit": unit.pk, "org_unit": tree["a"].pk,
        "signed_on": D(5).isoformat()}).status_code == 400
    assert client.patch(f"{API}/co-building/{agreement}/", {"liaison": "李"}).json()[
        "liaison"] == "李"
    resource = client.post(f"{API}/list-items/", {
        "org_unit": tree["a1"].pk, "kind": "resource", "work_unit": unit.pk, "title": "送餐"})
    assert resource.status_code == 201, resource.content
    need = client.post(f"{API}/list-items/", {
        "org_unit": tree["a2"].pk, "kind": "need", "title": "老人助餐"}).json()
    problem = client.post(f"{API}/list-items/", {
        "org_unit": tree["a2"].pk, "kind": "problem", "title": "楼道堆物"}).json()
    wrong = client.post(f"{API}/list-items/{problem['id']}/match/",
                        {"resource": resource.json()["id"]})
    assert wrong.status_code == 400 and "need" in wrong.json()
    matched = client.post(f"{API}/list-items/{need['id']}/match/",
                          {"resource": resource.json()["id"], "note": "每周三"})
    assert matched.status_code == 201
    assert matched.json()["status"] == "matched"
    assert matched.json()["matched_resources"] == [resource.json()["id"]]
    assert [r["title"] for r in results(client.get(
        f"{API}/list-items/", {"kind": "need", "status": "matched"}))] == ["老人助餐"]
    assert client.post(f"{API}/list-items/{need['id']}/close/").json()["status"] == "done"
    assert client.post(f"{API}/co-building/{agreement}/end/").json()["is_active"] is False
    # Without an active agreement the unit offers nothing new.
    response = client.post(f"{API}/list-items/", {
        "org_unit": tree["a2"].pk, "kind": "resource", "work_unit": unit.pk, "title": "义诊"})
    assert response.status_code == 400 and "work_unit" in response.json()
    assert client.delete(f"{API}/co-building/{agreement}/").status_code == 405


def test_committee_seats(tree, users, api_for):
    client = api_for(users["comm_a"])
    first, second = person(tree["a2"], "王建国"), person(tree["a2"], "李红")
    data = {"org_unit": tree["a2"].pk, "person": first.pk, "role": "secretary",
            "started_on": D(30).isoformat()}
    response = client.post(f"{API}/committee-seats/", data)
    assert response.status_code == 201 and response.json()["person_name"] == "王建国"
    seat_id = response.json()["id"]
    response = client.post(f"{API}/committee-seats/", {**data, "person": second.pk})
    assert response.status_code == 400 and "王建国" in " ".join(response.json()["role"])
    response = client.post(f"{API}/committee-seats/{seat_id}/end/",
                           {"ended_on": D(2).isoformat()})
    assert response.json()["ended_on"] == D(2).isoformat()
    assert client.post(f"{API}/committee-seats/", {**data, "person": second.pk}).status_code \
        == 201
    sitting = results(client.get(f"{API}/committee-seats/", {"sitting": "true"}))
    assert [r["person_name"] for r in sitting] == ["李红"]
    # Branch secretaries read committees but do not seat anyone.
    assert api_for(users["secretary"]).post(f"{API}/committee-seats/", data).status_code == 403


def test_top_ten_read_with_nested_entries(tree, users, api_for):
    month = D(40).replace(day=1)
    selection = services.save_top_ten_selection(
        None, TopSecretarySelection(org_unit=tree["s1"], month=month))
    entries = []
    for rank, code in enumerate(("a2", "b1"), start=1):
        who = person(tree[code], f"{code}书记")
        seat(tree[code], who, started_on=month - dt.timedelta(days=1))
        entries.append({"rank": rank, "person": who, "branch": tree[code], "citation": "好"})
    services.publish_top_ten(None, selection, entries)
    client = api_for(users["street"])
    rows = results(client.get(f"{API}/top-ten/", {"month": f"{month:%Y-%m}"}))
    assert len(rows) == 1 and rows[0]["published"] is True
    assert [(e["rank"], e["person_name"], e["branch_name"]) for e in rows[0]["entries"]] == [
        (1, "a2书记", "文锦苑小区党支部"), (2, "b1书记", "化工东院小区党支部")]
    assert client.get(f"{API}/top-ten/", {"month": "May"}).status_code == 400
    assert client.post(f"{API}/top-ten/", {}).status_code == 405
    # Community staff see no selection of the street above them.
    assert results(api_for(users["comm_a"]).get(f"{API}/top-ten/")) == []


# ---- the 五有 indicator -----------------------------------------------------------------------


def test_five_haves_endpoint(tree, users, api_for):
    complete_branch(tree["a2"], tree["a2g"])
    client = api_for(users["comm_a"])
    response = client.get(f"{API}/five-haves/", {"org_unit": tree["a"].pk})
    assert response.status_code == 200
    data = response.json()
    assert data["org_unit"]["code"] == "A" and data["as_of"] == TODAY.isoformat()
    assert data["summary"] == {"branches": 3, "all_five": 1, "has_org": 1, "has_venue": 1,
                               "has_ledger": 1, "has_contact": 1, "has_emergency_plan": 1}
    a2 = next(row for row in data["results"] if row["code"] == "A2")
    assert a2["all_five"] is True and a2["count"] == 5
    past = client.get(f"{API}/five-haves/", {"org_unit": tree["a"].pk,
                                             "as_of": (TODAY - dt.timedelta(days=800)).isoformat()})
    assert past.json()["summary"]["has_org"] == 0  # the secretary was seated later
    assert client.get(f"{API}/five-haves/").status_code == 400
    assert client.get(f"{API}/five-haves/", {"org_unit": "x"}).status_code == 400
    assert client.get(f"{API}/five-haves/", {"org_unit": tree["a"].pk,
                                             "as_of": "2026-13-01"}).status_code == 400


def test_five_haves_endpoint_query_count(tree, users, api_for):
    def measure():
        # A fresh user each time: the scope cached on the user object would be stale after
        # the tree grows.
        client = api_for(type(users["street"]).objects.get(pk=users["street"].pk))
        client.get(f"{API}/five-haves/", {"org_unit": tree["b"].pk})
        return _queries(client, f"{API}/five-haves/", {"org_unit": tree["b"].pk})

    few = measure()
    for n in range(5):
        branch = make(tree["b"], OrgKind.BRANCH, f"BX{n}")
        complete_branch(branch, make(branch, OrgKind.BUILDING_GROUP, f"BX{n}G"), name=f"B{n}")
    many = measure()
    assert few == many == 2, (few, many)  # the unit, then the indicator


def test_stats_endpoint_has_the_new_figures(tree, users, api_for):
    complete_branch(tree["a2"], tree["a2g"])
    services.add_list_item(None, tree["a2"], ListKind.NEED, "助餐")
    data = api_for(users["comm_a"]).get(f"{API}/org-units/{tree['a'].pk}/stats/").json()
    figures = {f["name"]: f for f in data["figures"]}
    assert figures["stations.count"]["value"] == 1
    assert figures["stations.area_m2"]["value"] == 60.0
    assert figures["five_haves.coverage"]["numerator"] == 1
    assert figures["five_haves.coverage"]["denominator"] == 3
    assert figures["co_building.needs_matched"]["value"] == 0
