"""The property-management API: scoping by every route, companies read by all and written by the
street, service periods started and ended, committees with their members, evaluations as
aggregates only (never a code), the deliberation steps (and an illegal one), the current
notices, conventions, the filters and the pinned query counts of every list."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from property_mgmt import services
from property_mgmt.models import (
    CommitteeKind,
    Convention,
    DeliberationStatus,
    PropertyCompany,
    ServiceMode,
)

from .conftest import credit_code, person
from .test_admin import TODAY, days, walk, world  # noqa: F401

pytestmark = pytest.mark.django_db

S = DeliberationStatus
API = "/api/v1"

ROUTES = {
    "service-periods": "serviceperiod",
    "committees": "committee",
    "evaluations": "serviceevaluation",
    "deliberations": "deliberation",
    "conventions": "convention",
}


def ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# ---- scoping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("route", list(ROUTES))
def test_every_route_is_scoped(route, world, users, api_for):
    model = ROUTES[route]
    mine, theirs = world["b"][model], world["a"][model]
    comm_b = api_for(users["comm_b"])
    listed = ids(comm_b.get(f"{API}/{route}/"))
    assert mine.pk in listed and theirs.pk not in listed
    assert comm_b.get(f"{API}/{route}/{mine.pk}/").status_code == 200
    assert comm_b.get(f"{API}/{route}/{theirs.pk}/").status_code == 404
    assert {mine.pk, theirs.pk} <= set(ids(api_for(users["street"]).get(f"{API}/{route}/")))
    # Nobody without a role reads anything.
    assert api_for(users["nobody"]).get(f"{API}/{route}/").status_code == 403


def test_writes_on_another_communitys_rows_are_refused(world, users, places, api_for):
    comm_b, a = api_for(users["comm_b"]), world["a"]
    assert comm_b.post(f"{API}/service-periods/{a['serviceperiod'].pk}/end/",
                       {"ended_on": TODAY}).status_code == 404
    assert comm_b.post(f"{API}/deliberations/{a['deliberation'].pk}/discuss/", {
        "minutes": "x", "attendance": [{"party": "branch", "name": "甲"}]},
        format="json").status_code == 404
    for route, body in [
        ("service-periods", {"compound": places["wjy"].pk, "mode": "none",
                             "started_on": TODAY}),
        ("committees", {"compound": places["wjy"].pk, "kind": "owners",
                        "elected_on": TODAY, "term_ends_on": days(900)}),
        ("evaluations", {"compound": places["wjy"].pk, "year": TODAY.year, "quarter": 4,
                         "opens_on": TODAY, "closes_on": days(5)}),
        ("deliberations", {"compound": places["wjy"].pk, "topic": "越权"}),
        ("conventions", {"compound": places["wjy"].pk, "title": "越权", "text": "x",
                         "adopted_on": TODAY}),
    ]:
        response = comm_b.post(f"{API}/{route}/", body, format="json")
        assert response.status_code == 400 and "compound" in response.json(), route
    a["serviceperiod"].refresh_from_db()
    assert a["serviceperiod"].ended_on is None


# ---- companies -------------------------------------------------------------------------------


def test_companies_are_read_by_all_and_written_by_the_street(world, users, companies, api_for):
    jinxiu = companies["jinxiu"]
    jinxiu.contact_phone = "13812345678"
    jinxiu.save()
    auditor = api_for(users["auditor"])
    rows = auditor.get(f"{API}/companies/").json()["results"]
    assert {r["name"] for r in rows} == {c.name for c in companies.values()}
    assert [r["contact_phone"] for r in rows if r["id"] == jinxiu.pk] == ["138****5678"]
    comm_a = api_for(users["comm_a"])
    assert comm_a.get(f"{API}/companies/{jinxiu.pk}/").json()["contact_phone"] == "13812345678"
    code = credit_code("91140105MA0H7654Q")
    body = {"name": "红星物业", "credit_code": code.lower(), "party_formation": "regional"}
    assert comm_a.post(f"{API}/companies/", body).status_code == 403
    assert comm_a.patch(f"{API}/companies/{jinxiu.pk}/", {"name": "x"}).status_code == 403
    street = api_for(users["street"])
    bad = street.post(f"{API}/companies/", {**body, "credit_code": code[:17] + "0"})
    assert bad.status_code == 400 and "credit_code" in bad.json()
    made = street.post(f"{API}/companies/", body)
    assert made.status_code == 201 and made.json()["credit_code"] == code
    changed = street.patch(f"{API}/companies/{made.json()['id']}/", {"is_red_property": True})
    assert changed.status_code == 200 and changed.json()["is_red_property"] is True
    assert street.delete(f"{API}/companies/{jinxiu.pk}/").status_code == 405
    assert PropertyCompany.objects.count() == 3
    assert ids(auditor.get(f"{API}/companies/?party_formation=regional")) == [made.json()["id"]]


# ---- service periods -------------------------------------------------------------------------


def test_start_and_end_a_service(world, users, places, companies, api_for):
    comm_a = api_for(users["comm_a"])
    needs = comm_a.post(f"{API}/service-periods/", {
        "compound": places["wjy"].pk, "mode": "market", "started_on": TODAY})
    assert needs.status_code == 400 and "company" in needs.json()
    started = comm_a.post(f"{API}/service-periods/", {
        "compound": places["wjy"].pk, "mode": "red_property",
        "company": companies["jinxiu"].pk, "started_on": TODAY, "fee_per_m2": "0.60"})
    assert started.status_code == 201
    new = started.json()
    assert (new["mode"], new["company_name"], new["ended_on"]) == (
        "red_property", companies["jinxiu"].name, None)
    world["a"]["serviceperiod"].refresh_from_db()
    assert world["a"]["serviceperiod"].ended_on == days(-1)
    early = comm_a.post(f"{API}/service-periods/{new['id']}/end/", {"ended_on": days(-3)})
    assert early.status_code == 400 and "ended_on" in early.json()
    ended = comm_a.post(f"{API}/service-periods/{new['id']}/end/", {"ended_on": days(10)})
    assert ended.status_code == 200 and ended.json()["ended_on"] == days(10).isoformat()
    again = comm_a.post(f"{API}/service-periods/{new['id']}/end/", {"ended_on": days(11)})
    assert again.status_code == 400
    assert comm_a.patch(f"{API}/service-periods/{new['id']}/", {"note": "x"}).status_code == 405
    auditor = api_for(users["auditor"])
    assert auditor.post(f"{API}/service-periods/{new['id']}/end/",
                        {"ended_on": days(12)}).status_code == 403


def test_service_period_filters(world, users, tree, places, api_for):
    street = api_for(users["street"])
    a, b = world["a"], world["b"]
    url = f"{API}/service-periods/"
    assert set(ids(street.get(url, {"mode": "subsidised"}))) == {
        a["subsidised"].pk, b["serviceperiod"].pk}
    assert ids(street.get(url, {"compound": places["wjy"].pk})) == [a["serviceperiod"].pk]
    assert set(ids(street.get(url, {"ancestor": tree["a"].pk}))) == {
        a["serviceperiod"].pk, a["subsidised"].pk}
    assert ids(street.get(url, {"subsidy_ending": "true"})) == [a["subsidised"].pk]
    assert ids(street.get(url, {"year": TODAY.year - 2})) == []
    assert len(ids(street.get(url, {"year": TODAY.year, "current": "true"}))) == 3
    # The ancestor must be in the reader's scope; bad values answer 400, not 500.
    assert ids(api_for(users["comm_b"]).get(url, {"ancestor": tree["a"].pk})) == []
    for bad in ({"compound": "abc"}, {"ancestor": 2**70}, {"mode": "fancy"}, {"year": "x"}):
        assert street.get(url, bad).status_code == 400, bad


# ---- committees and evaluations --------------------------------------------------------------


def test_committees_with_their_members(world, users, places, api_for):
    comm_a = api_for(users["comm_a"])
    committee = world["a"]["committee"]
    row = comm_a.get(f"{API}/committees/{committee.pk}/").json()
    assert [(m["name"], m["role"]) for m in row["members"]] == [("文锦苑主任", "chair")]
    assert "phone" not in row["members"][0]
    elected = comm_a.post(f"{API}/committees/", {
        "compound": places["wjy"].pk, "kind": CommitteeKind.PROPERTY,
        "elected_on": days(-2), "term_ends_on": days(30)})
    assert elected.status_code == 201 and elected.json()["members"] == []
    assert ids(comm_a.get(f"{API}/committees/", {"term_ending": "true"})) == [
        elected.json()["id"]]
    assert ids(comm_a.get(f"{API}/committees/", {"sitting": "false"})) == [committee.pk]
    refused = comm_a.post(f"{API}/committees/", {
        "compound": places["wjy"].pk, "kind": "owners", "elected_on": days(-5),
        "term_ends_on": days(300)})
    assert refused.status_code == 400 and "elected_on" in refused.json()


def test_evaluations_are_aggregates_never_codes(world, users, api_for):
    evaluation = world["a"]["serviceevaluation"]
    codes = list(evaluation.codes.values_list("code", flat=True))
    services.submit_evaluation(codes[0], {"cleaning": 5, "security": 5, "repairs": 4,
                                          "greenery": 4, "attitude": 5})
    comm_a = api_for(users["comm_a"])
    response = comm_a.get(f"{API}/evaluations/{evaluation.pk}/")
    body = response.json()
    assert (body["codes"], body["responses"], body["response_rate"], body["mean"]) == (
        4, 1, 0.25, 4.6)
    assert body["means"] == {"cleaning": 5.0, "security": 5.0, "repairs": 4.0,
                             "greenery": 4.0, "attitude": 5.0}
    listing = comm_a.get(f"{API}/evaluations/", {"year": TODAY.year})
    for text in (response.content.decode(), listing.content.decode()):
        assert not any(code in text for code in codes)
    assert ids(comm_a.get(f"{API}/evaluations/", {"year": TODAY.year - 1})) == []


# ---- deliberations ---------------------------------------------------------------------------


def test_the_four_steps_through_the_api(world, users, places, tree, api_for):
    secretary = api_for(users["secretary"])
    proposed = secretary.post(f"{API}/deliberations/", {
        "compound": places["wjy"].pk, "topic": "垃圾分类", "parties": ["branch", "company"]},
        format="json")
    assert proposed.status_code == 201
    d = proposed.json()
    assert (d["status"], d["org_unit"], d["allowed_steps"]) == ("proposed", tree["a2"].pk,
                                                                ["discuss"])
    url = f"{API}/deliberations/{d['id']}"
    illegal = secretary.post(f"{url}/review/", {"satisfied": 1, "unsatisfied": 0})
    assert illegal.status_code == 400 and "detail" in illegal.json()
    lonely = secretary.post(f"{url}/discuss/", {
        "minutes": "讨论", "attendance": [{"party": "branch", "name": "王书记"}]}, format="json")
    assert lonely.status_code == 400 and "attendance" in lonely.json()
    step = secretary.post(f"{url}/discuss/", {"minutes": "同意", "attendance": [
        {"party": "branch", "name": "王书记"}, {"party": "company", "name": "张经理"}]},
        format="json")
    assert step.status_code == 200 and step.json()["status"] == "discussing"
    assert [a["name"] for a in step.json()["attendance"]] == ["王书记", "张经理"]
    tied = secretary.post(f"{url}/decide/", {"decision": "分类", "votes_for": 2,
                                             "votes_against": 2, "votes_abstain": 0})
    assert tied.status_code == 400 and "votes_for" in tied.json()
    assert secretary.post(f"{url}/decide/", {"decision": "定时定点投放", "votes_for": 7,
                                             "votes_against": 1, "votes_abstain": 0}
                          ).json()["status"] == "decided"
    assert secretary.post(f"{url}/publicise/", {"days": 0}).status_code == 400
    before = secretary.post(f"{url}/publicise/", {"days": 7, "start": days(-1)})
    assert before.status_code == 400 and "start" in before.json()  # before the decision
    published = secretary.post(f"{url}/publicise/", {"days": 7, "start": TODAY})
    assert published.json()["publicised_until"] == days(6).isoformat()
    notices = secretary.get(f"{API}/deliberations/notices/").json()["results"]
    assert [n["id"] for n in notices] == [d["id"]]
    assert ids(api_for(users["comm_b"]).get(f"{API}/deliberations/notices/")) == []
    reviewed = secretary.post(f"{url}/review/", {"satisfied": 30, "unsatisfied": 1})
    assert reviewed.status_code == 200 and reviewed.json()["allowed_steps"] == []
    detail = secretary.get(f"{url}/").json()
    assert [log["to_status"] for log in detail["logs"]] == [
        "proposed", "discussing", "decided", "publicised", "reviewed"]
    # Read-only roles may not step; nothing moves without a step route.
    auditor = api_for(users["auditor"])
    other = world["a"]["deliberation"]
    assert auditor.post(f"{API}/deliberations/{other.pk}/discuss/", {
        "minutes": "x", "attendance": [{"party": "branch", "name": "甲"},
                                        {"party": "company", "name": "乙"}]},
        format="json").status_code == 403
    assert secretary.patch(f"{API}/deliberations/{other.pk}/",
                           {"status": "reviewed"}).status_code == 405


def test_deliberation_filters(world, users, tree, api_for):
    street = api_for(users["street"])
    a = world["a"]["deliberation"]
    walk(users["comm_a"], a, S.DECIDED)
    url = f"{API}/deliberations/"
    assert ids(street.get(url, {"status": "decided"})) == [a.pk]
    assert ids(street.get(url, {"ancestor": tree["b"].pk})) == [world["b"]["deliberation"].pk]
    assert len(ids(street.get(url, {"year": days(-12).year}))) == 2
    assert ids(street.get(url, {"year": days(-12).year - 1})) == []
    assert street.get(url, {"status": "voted"}).status_code == 400


def test_conventions(world, users, places, api_for):
    comm_a = api_for(users["comm_a"])
    adopted = comm_a.post(f"{API}/conventions/", {
        "compound": places["wjy"].pk, "title": "文锦苑公约（第二版）", "text": "文明养犬",
        "adopted_on": TODAY})
    assert adopted.status_code == 201 and adopted.json()["version"] == 2
    future = comm_a.post(f"{API}/conventions/", {
        "compound": places["wjy"].pk, "title": "x", "text": "y", "adopted_on": days(2)})
    assert future.status_code == 400 and "adopted_on" in future.json()
    assert ids(comm_a.get(f"{API}/conventions/", {"compound": places["wjy"].pk})) == [
        adopted.json()["id"], world["a"]["convention"].pk]
    assert Convention.objects.filter(compound=places["wjy"]).count() == 2


# ---- query counts ----------------------------------------------------------------------------


def test_every_list_runs_a_fixed_number_of_queries(world, users, tree, companies, api_for):
    from .test_admin import _more_compounds

    client = api_for(users["street"])
    routes = ["companies", *ROUTES, "deliberations/notices"]

    def counts():
        found = {}
        for route in routes:
            with CaptureQueriesContext(connection) as queries:
                response = client.get(f"{API}/{route}/")
            assert response.status_code == 200, route
            found[route] = (len(queries), response.json()["count"])
        return found

    walk(users["comm_a"], world["a"]["deliberation"], S.PUBLICISED, start=days(-2))
    before = counts()
    for i, compound in enumerate(_more_compounds(tree, 4, 900)):
        services.start_service(users["comm_a"], compound, mode=ServiceMode.SUBSIDISED,
                               company=companies["anju"], started_on=days(-20))
        committee = services.elect_committee(users["comm_a"], compound, CommitteeKind.OWNERS,
                                             days(-10), days(700))
        services.add_committee_member(users["comm_a"], committee,
                                      person=person(tree["a2"], f"委员{i}"), role="member")
        services.open_evaluation(users["comm_a"], compound, year=TODAY.year,
                                 opens_on=days(-1), closes_on=days(5))
        d = services.propose(users["comm_a"], compound=compound, topic=f"议题{i}")
        walk(users["comm_a"], d, S.PUBLICISED, start=days(-2))
        services.adopt_convention(users["comm_a"], compound, title="公约", text="x",
                                  adopted_on=days(-1))
        services.create_company(users["street"], name=f"物业{i}",
                                credit_code=credit_code(f"9114020{i}MA0K5555X"))
    after = counts()
    for route in routes:
        assert after[route][1] > before[route][1], route
        assert after[route][0] == before[route][0], (route, before[route], after[route])
