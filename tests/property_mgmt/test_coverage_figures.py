"""The property figures of the statistics API, for a built scenario with known numbers: the
shape of Xiaodian district in seed 003 (296 compounds without property service, 26/62/150/58
across the four ways, 83 about to leave the subsidy), committees, cross-appointments, 一肩挑,
evaluations, deliberations and subsidies granted — in a fixed number of queries."""

from decimal import Decimal

import pytest

from grids.models import Compound, CompoundType, Household
from party_org.models import CommitteeRole
from party_org.selectors import Subtree
from party_org.statistics import Period, registry
from property_mgmt import services
from property_mgmt.models import (
    Committee,
    CommitteeKind,
    CommitteeMember,
    CommitteeMemberRole,
    CompanyStaff,
    ServiceMode,
    ServicePeriod,
)
from property_mgmt.selectors import cross_appointments, one_shoulder

from .conftest import D, person, seat
from .test_deliberations import at, walk

pytestmark = pytest.mark.django_db

M = ServiceMode
JAN_TO_JUNE = {"from": "2026-01-01", "to": "2026-06-30"}
# (mode, how many, started on): 296 compounds without property service covered the four ways,
# 40 served by a company, 4 whose company left at the end of March (no service since).
PLAN = [
    (M.RED_PROPERTY, 26, D(2025, 6, 1)),
    (M.UNIT_ASSISTED, 62, D(2025, 6, 1)),
    (M.SUBSIDISED, 83, D(2026, 2, 10)),  # subsidy ends 31 July: within 60 days of 30 June
    (M.SUBSIDISED, 67, D(2026, 4, 10)),  # ends 30 September
    (M.COMMUNITY_FALLBACK, 58, D(2025, 6, 1)),
    (M.MARKET, 40, D(2024, 1, 1)),
    (M.MARKET, 4, D(2024, 1, 1)),
]


def stats(client, node, params=JAN_TO_JUNE):
    response = client.get(f"/api/v1/org-units/{node.pk}/stats/", {**params, "figures": "property"})
    assert response.status_code == 200, response.content
    return {row["name"]: row for row in response.json()["figures"]}


def values(rows):
    return {name: row["value"] for name, row in rows.items()}


def _period(compound, mode, started_on, company, ended_on=None):
    period = ServicePeriod(compound=compound, mode=mode, started_on=started_on,
                           ended_on=ended_on, company=company if mode in (
                               M.MARKET, M.RED_PROPERTY, M.UNIT_ASSISTED, M.SUBSIDISED) else None)
    if mode == M.SUBSIDISED:
        period.subsidy_rate, period.subsidy_months = Decimal("0.50"), 6
        period.subsidy_ends_on = services.subsidy_last_day(started_on, 6)
    return period


@pytest.fixture
def xiaodian(tree, companies):
    """340 active compounds in street S1, spread over its branches and a community."""
    units = [tree["a2"], tree["a1a"], tree["b1"], tree["a"]]
    count = sum(n for _mode, n, _day in PLAN)
    compounds = Compound.objects.bulk_create([
        Compound(org_unit=units[i % 4], name=f"小区{i:03d}", compound_type=CompoundType.OLD,
                 address="小店区", floor_area_m2=Decimal(8000 + 10 * i))
        for i in range(count)
    ])
    periods, index = [], 0
    for mode, n, started_on in PLAN:
        for compound in compounds[index:index + n]:
            ended_on = D(2026, 3, 31) if (mode, n) == (M.MARKET, 4) else None
            periods.append(_period(compound, mode, started_on, companies["jinxiu"], ended_on))
        index += n
    ServicePeriod.objects.bulk_create(periods)
    # Outside the count: an inactive compound of S1 and a compound of street S2.
    closed = Compound.objects.create(org_unit=tree["a2"], name="已撤销小区", address="x",
                                     compound_type=CompoundType.OLD, is_active=False)
    ServicePeriod.objects.create(compound=closed, mode=M.NONE, started_on=D(2024, 1, 1))
    elsewhere = Compound.objects.create(org_unit=tree["c1"], name="桥东小区", address="x",
                                        compound_type=CompoundType.OLD)
    ServicePeriod.objects.create(compound=elsewhere, mode=M.COMMUNITY_FALLBACK,
                                 started_on=D(2024, 1, 1))
    return compounds


def test_coverage_of_the_four_ways(xiaodian, tree, users, api_for):
    got = values(stats(api_for(users["street"]), tree["s1"]))
    assert got["property.without_company.red_property"] == 26
    assert got["property.without_company.unit_assisted"] == 62
    assert got["property.without_company.subsidised"] == 150
    assert got["property.without_company.community_fallback"] == 58
    assert got["property.without_company.self_managed"] == 0
    assert got["property.without_company.none"] == 4
    assert got["property.without_company"] == 296 + 4
    assert got["property.market"] == 40
    assert got["property.subsidy_ending"] == 83
    rows = stats(api_for(users["admin"]), tree["s1"])
    coverage = rows["property.coverage"]
    assert (coverage["numerator"], coverage["denominator"]) == (336, 340)
    assert coverage["value"] == round(336 / 340, 4)
    assert rows["property.coverage"]["unit"] == "%"


def test_the_figures_follow_the_period_end(xiaodian, tree, users, api_for):
    got = values(stats(api_for(users["admin"]), tree["s1"], {"to": "2026-03-31"}))
    # The 67 later transitions had not started; the 4 companies were still there.
    assert got["property.market"] == 44
    assert got["property.without_company.subsidised"] == 83
    assert got["property.without_company.none"] == 67
    assert got["property.subsidy_ending"] == 0  # 31 July is more than 60 days after 31 March
    assert values(stats(api_for(users["admin"]), tree["s1"], {"to": "2026-06-01"}))[
        "property.subsidy_ending"] == 83


def test_the_figures_follow_the_subtree(xiaodian, tree, users, api_for):
    client = api_for(users["admin"])
    community_b = values(stats(client, tree["b"]))
    assert sum(community_b[f"property.without_company.{m}"] for m in
               ("red_property", "unit_assisted", "subsidised", "community_fallback")) == 74
    assert community_b["property.market"] + community_b["property.without_company"] == 85
    street_2 = values(stats(client, tree["s2"]))
    assert street_2["property.without_company.community_fallback"] == 1
    assert street_2["property.coverage"] == 1.0
    assert api_for(users["comm_b"]).get(
        f"/api/v1/org-units/{tree['s1'].pk}/stats/").status_code == 404


def test_subsidy_granted_in_the_period(xiaodian, tree, users, api_for):
    subsidised = [p for p in ServicePeriod.objects.filter(mode=M.SUBSIDISED)
                  .select_related("compound")]
    may = services.grant_subsidies(users["street"], tree["s1"], D(2026, 5, 1))
    june = services.grant_subsidies(users["street"], tree["s1"], D(2026, 6, 1))
    expected = sum((p.compound.floor_area_m2 * Decimal("0.5") for p in subsidised), Decimal(0))
    assert june.total == may.total == expected.quantize(Decimal("0.01"))
    assert june.created == 150
    client = api_for(users["street"])
    assert values(stats(client, tree["s1"], {"from": "2026-06-01", "to": "2026-06-30"}))[
        "property.subsidies_granted"] == float(june.total)
    assert values(stats(client, tree["s1"]))["property.subsidies_granted"] == float(
        may.total + june.total)
    assert values(stats(client, tree["s1"], {"to": "2026-04-30"}))[
        "property.subsidies_granted"] == 0


def test_committees_cross_appointments_and_one_shoulder(xiaodian, tree, companies, users,
                                                         api_for):
    owners = [Committee(compound=c, kind=CommitteeKind.OWNERS, elected_on=D(2025, 1, 1),
                        term_ends_on=D(2030, 1, 1)) for c in xiaodian[:100]]
    prop = [Committee(compound=c, kind=CommitteeKind.PROPERTY, elected_on=D(2025, 1, 1),
                      term_ends_on=D(2028, 1, 1)) for c in xiaodian[100:150]]
    later = [Committee(compound=c, kind=CommitteeKind.PROPERTY, elected_on=D(2026, 8, 1),
                       term_ends_on=D(2029, 1, 1)) for c in xiaodian[150:160]]
    retired = [Committee(compound=c, kind=CommitteeKind.OWNERS, elected_on=D(2020, 1, 1),
                         term_ends_on=D(2025, 1, 1), is_active=False, ended_on=D(2025, 12, 31))
               for c in xiaodian[160:170]]
    committees = Committee.objects.bulk_create(owners + prop + later + retired)
    # 小区000 hangs on branch A2, 小区001 on A1a (under general branch A1), 小区003 on community A.
    c0, c1, c3 = xiaodian[0], xiaodian[1], xiaodian[3]
    secretary, community_member, other = (person(tree["a"], n) for n in ("书记", "社区委员", "别人"))
    seat(tree["a2"], secretary, CommitteeRole.SECRETARY)
    seat(tree["a"], community_member)
    seat(tree["b1"], other)
    CommitteeMember.objects.create(committee=committees[0], person=secretary,
                                   role=CommitteeMemberRole.CHAIR, started_on=D(2025, 1, 1))
    CompanyStaff.objects.create(company=companies["jinxiu"], person=community_member,
                                compound=c1, role="项目经理", started_on=D(2025, 1, 1))
    CompanyStaff.objects.create(company=companies["jinxiu"], person=other, compound=c3,
                                role="管家", started_on=D(2025, 1, 1))
    rows = stats(api_for(users["street"]), tree["s1"])
    got = values(rows)
    assert (rows["property.committee_coverage"]["numerator"],
            rows["property.committee_coverage"]["denominator"]) == (150, 340)
    assert rows["property.committee_coverage.owners"]["numerator"] == 100
    assert rows["property.committee_coverage.property"]["numerator"] == 50
    assert got["property.cross_appointed"] == 2
    assert got["property.one_shoulder"] == 1
    # The lists agree with the figures.
    crossed = cross_appointments(xiaodian[:4], D(2026, 6, 30))
    assert [pk for pk, people in crossed.items() if people] == [c0.pk, c1.pk]
    assert one_shoulder(xiaodian[:4], D(2026, 6, 30)) == {c0.pk: secretary}
    before = values(stats(api_for(users["street"]), tree["s1"], {"to": "2025-12-31"}))
    assert before["property.committee_coverage.owners"] == round(110 / 340, 4)


def test_evaluations_and_deliberations(tree, places, companies, users, api_for):
    wjy = places["wjy"]
    Household.objects.bulk_create([Household(compound=wjy, room=f"{n}") for n in range(4, 8)])
    may = services.open_evaluation(None, wjy, year=2026, quarter=2, opens_on=D(2026, 5, 1),
                                   closes_on=D(2026, 5, 31))
    july = services.open_evaluation(None, wjy, year=2026, quarter=3, opens_on=D(2026, 7, 1),
                                    closes_on=D(2026, 7, 31))
    scores = {"cleaning": 5, "security": 4, "repairs": 3, "greenery": 4, "attitude": 4}
    for code in may.codes.order_by("pk")[:6]:
        services.submit_evaluation(code.code, scores, now=at(D(2026, 5, 10)))
    for code in july.codes.order_by("pk")[:1]:
        services.submit_evaluation(code.code, {d: 1 for d in scores}, now=at(D(2026, 7, 10)))
    old = services.propose(None, compound=wjy, topic="旧议题", at=at(D(2025, 12, 1)))
    walk(None, old, "reviewed", day=D(2025, 12, 10))
    current = services.propose(None, compound=wjy, topic="加装电梯", at=at(D(2026, 3, 1)))
    current = walk(None, current, "decided", day=D(2026, 6, 19))
    services.publicise(None, current, start=D(2026, 7, 2), at=at(D(2026, 7, 1)))
    services.propose(None, compound=wjy, topic="七月议题", at=at(D(2026, 7, 5)))
    services.propose(None, compound=places["jzhf"], topic="别的街道", at=at(D(2026, 3, 1)))
    got = values(stats(api_for(users["comm_a"]), tree["a"]))
    assert got["property.evaluation_score"] == 4.0
    assert got["property.evaluation_response_rate"] == 0.75  # 6 of 8 households
    assert {s: got[f"property.deliberations.{s}"] for s in
            ("proposed", "discussing", "decided", "publicised", "reviewed")} == {
        "proposed": 0, "discussing": 0, "decided": 1, "publicised": 0, "reviewed": 1}
    assert got["property.deliberations.proposed_in_period"] == 1
    whole = values(stats(api_for(users["comm_a"]), tree["a"], {"to": "2026-07-31"}))
    assert whole["property.evaluation_score"] == pytest.approx((6 * 4.0 + 1.0) / 7, abs=0.01)
    assert whole["property.deliberations.publicised"] == 1
    assert whole["property.deliberations.proposed"] == 1
    assert whole["property.deliberations.proposed_in_period"] == 3


def test_figure_queries_are_bounded(tree, companies, users, django_assert_num_queries, request):
    period = Period(D(2026, 1, 1), D(2026, 6, 30))
    with django_assert_num_queries(5):
        registry.compute(Subtree.of(tree["district"]), period, only=["property"])
    request.getfixturevalue("xiaodian")
    with django_assert_num_queries(5):
        rows = registry.compute(Subtree.of(tree["district"]), period, only=["property"])
    assert {row["name"]: row["value"] for row in rows}["property.without_company"] == 301
