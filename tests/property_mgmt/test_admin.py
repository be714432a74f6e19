"""The property-management admin: scoping by every route for every model, saving through the
services (starting and ending a service, granting subsidies, the income ledger, electing a
committee and its seats, opening an evaluation and printing its codes, proposing and walking a
deliberation step by step, adopting a convention), the report pages and the pinned query counts
of the main lists."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.contrib.messages import ERROR, SUCCESS, get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook

from party_org.models import CommitteeRole, StaffRole
from property_mgmt import services
from property_mgmt.models import (
    Committee,
    CommitteeDocument,
    CommitteeKind,
    CommitteeMember,
    CommitteeMemberRole,
    CompanyStaff,
    Convention,
    Deliberation,
    DeliberationStatus,
    EvaluationResponse,
    IncomeKind,
    PartyKind,
    PropertyCompany,
    SelfFundingEntry,
    ServiceMode,
    ServicePeriod,
    SubsidyGrant,
)
from tests.conftest import _user

from .conftest import D, credit_code, person, seat

pytestmark = pytest.mark.django_db

S = DeliberationStatus
ADMIN = "/admin/property_mgmt"
TODAY = timezone.localdate()


def days(n):
    return TODAY + dt.timedelta(days=n)


def at(day, hour=10):
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def levels(response):
    return [message.level for message in get_messages(response.wsgi_request)]


def listed(client, model, query=""):
    response = client.get(f"{ADMIN}/{model}/{query}")
    assert response.status_code == 200
    return [obj.pk for obj in response.context["cl"].result_list]


ATTENDANCE = [(PartyKind.BRANCH, "王书记"), (PartyKind.COMMITTEE, "李主任"),
              (PartyKind.COMPANY, "张经理")]


def walk(user, d, until, start=None):
    """Take deliberation `d` through the steps up to `until`, a day apart from `start`."""
    start = start or days(-10)
    order = [S.PROPOSED, S.DISCUSSING, S.DECIDED, S.PUBLICISED, S.REVIEWED]
    for status in order[order.index(d.status) + 1: order.index(until) + 1]:
        if status == S.DISCUSSING:
            d = services.discuss(user, d, minutes="各方意见一致", attendance=ATTENDANCE,
                                 at=at(start))
        elif status == S.DECIDED:
            d = services.decide(user, d, decision="施划停车位，一车一位", votes_for=9,
                                votes_against=2, votes_abstain=1, at=at(start, 11))
        elif status == S.PUBLICISED:
            d = services.publicise(user, d, days=7, start=start, at=at(start, 12))
        else:
            d = services.review(user, d, satisfied=120, unsatisfied=8, at=at(start, 13))
    return d


def build_side(user, compound, *, mode, company, unit, name):
    """One community's rows of every model, made through the services."""
    rows = {}
    rows["serviceperiod"] = services.start_service(
        user, compound, mode=mode, company=company,
        started_on=services.add_months(TODAY, -2), fee_per_m2="0.80")
    committee = services.elect_committee(user, compound, CommitteeKind.OWNERS, D(2025, 6, 1),
                                         D(2028, 5, 31))
    rows["committee"] = committee
    chair = person(unit, f"{name}主任")
    chair.phone = "13912345678"
    chair.save()
    rows["chair"] = services.add_committee_member(user, committee, person=chair,
                                                  role=CommitteeMemberRole.CHAIR)
    rows["companystaff"] = services.add_company_staff(
        user, company=company, person=person(unit, f"{name}经理"), compound=compound,
        role="项目经理", started_on=D(2025, 1, 1))
    rows["serviceevaluation"] = services.open_evaluation(
        user, compound, year=TODAY.year, opens_on=days(-5), closes_on=days(10))
    rows["deliberation"] = services.propose(user, compound=compound, topic=f"{name}停车秩序",
                                            at=at(days(-12)))
    rows["convention"] = services.adopt_convention(user, compound, title=f"{name}公约",
                                                   text="爱护环境，文明停车。",
                                                   adopted_on=days(-30))
    return rows


@pytest.fixture
def world(tree, places, companies, users):
    jinxiu, anju = companies["jinxiu"], companies["anju"]
    a = build_side(users["comm_a"], places["wjy"], mode=ServiceMode.MARKET, company=jinxiu,
                   unit=tree["a2"], name="文锦苑")
    b = build_side(users["comm_b"], places["hgd"], mode=ServiceMode.SUBSIDISED, company=anju,
                   unit=tree["b1"], name="化工东院")
    a["subsidised"] = services.start_service(
        users["comm_a"], places["bhza"], mode=ServiceMode.SUBSIDISED, company=anju,
        started_on=services.add_months(TODAY, -5))
    services.grant_subsidies(users["street"], tree["s1"], TODAY)
    a["subsidygrant"] = SubsidyGrant.objects.get(period=a["subsidised"])
    b["subsidygrant"] = SubsidyGrant.objects.get(period=b["serviceperiod"])
    a["selffundingentry"] = services.record_income(
        users["comm_a"], places["bhza"], kind=IncomeKind.PARKING, amount="1200.00",
        received_on=days(-3))
    b["selffundingentry"] = services.record_income(
        users["comm_b"], places["hgd"], kind=IncomeKind.SHOPS, amount="800.00",
        received_on=days(-3))
    return {"a": a, "b": b}


SCOPED_MODELS = [
    "serviceperiod", "subsidygrant", "selffundingentry", "committee", "companystaff",
    "serviceevaluation", "deliberation", "convention",
]


# ---- scoping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", SCOPED_MODELS)
def test_every_list_and_page_is_scoped(model, world, users, admin_client_for):
    mine, theirs = world["b"][model], world["a"][model]
    comm_b = admin_client_for(users["comm_b"])
    shown = listed(comm_b, model)
    assert mine.pk in shown and theirs.pk not in shown
    own = comm_b.get(f"{ADMIN}/{model}/{mine.pk}/change/")
    assert own.status_code == 200
    other = comm_b.get(f"{ADMIN}/{model}/{theirs.pk}/change/")
    assert other.status_code == 302 and other.url == "/admin/"  # "does not exist"
    # The street above both sees both.
    both = listed(admin_client_for(users["street"]), model)
    assert {mine.pk, theirs.pk} <= set(both)


ALL_MODELS = [*SCOPED_MODELS, "propertycompany"]
ADDABLE = {  # which role may open the add page of which model
    "street": set(ALL_MODELS) - {"subsidygrant"},
    "comm_a": set(ALL_MODELS) - {"subsidygrant", "propertycompany"},
    "auditor": set(),
}


@pytest.mark.parametrize("role", list(ADDABLE))
def test_every_page_opens_for_every_role(role, world, users, admin_client_for):
    client = admin_client_for(users[role])
    assert client.get(f"{ADMIN}/").status_code == 200
    for model in ALL_MODELS:
        assert client.get(f"{ADMIN}/{model}/").status_code == 200, model
        expected = 200 if model in ADDABLE[role] else 403
        assert client.get(f"{ADMIN}/{model}/add/").status_code == expected, model
    for page in ("serviceevaluation/watch-list/", "committee/cross-appointments/"):
        assert client.get(f"{ADMIN}/{page}").status_code == 200, page


def test_the_custom_routes_are_scoped(world, users, admin_client_for):
    comm_b = admin_client_for(users["comm_b"])
    a = world["a"]
    end = comm_b.post(f"{ADMIN}/serviceperiod/{a['serviceperiod'].pk}/end/",
                      {"ended_on": TODAY.isoformat()})
    assert end.status_code == 302 and end.url == "/admin/"
    step = comm_b.post(f"{ADMIN}/deliberation/{a['deliberation'].pk}/step/discuss/",
                       {"minutes": "x", "party_branch": "甲", "party_company": "乙"})
    assert step.status_code == 302 and step.url == "/admin/"
    codes = comm_b.get(f"{ADMIN}/serviceevaluation/{a['serviceevaluation'].pk}/codes.xlsx")
    assert codes.status_code == 404
    a["serviceperiod"].refresh_from_db()
    a["deliberation"].refresh_from_db()
    assert a["serviceperiod"].ended_on is None and a["deliberation"].status == S.PROPOSED


def test_choices_and_autocomplete_are_scoped(world, users, places, admin_client_for):
    comm_b = admin_client_for(users["comm_b"])
    page = comm_b.get(f"{ADMIN}/serviceperiod/add/")
    choices = list(page.context["adminform"].form.fields["compound"].queryset)
    assert places["hgd"] in choices and places["wjy"] not in choices
    found = comm_b.get("/admin/autocomplete/", {
        "app_label": "property_mgmt", "model_name": "serviceperiod", "field_name": "compound",
        "term": "文锦"})
    assert found.status_code == 200 and found.json()["results"] == []
    # A posted compound of another community is an invalid choice, and nothing is saved.
    before = ServicePeriod.objects.count()
    posted = comm_b.post(f"{ADMIN}/serviceperiod/add/", {
        "compound": places["wjy"].pk, "mode": ServiceMode.NONE, "started_on": TODAY,
        "fee_per_m2": "0"})
    assert posted.status_code == 200 and "compound" in posted.context["adminform"].form.errors
    assert ServicePeriod.objects.count() == before


# ---- companies -------------------------------------------------------------------------------


def test_companies_are_read_by_all_and_kept_by_the_street(world, users, companies,
                                                          admin_client_for):
    jinxiu = companies["jinxiu"]
    jinxiu.contact_phone = "13812345678"
    jinxiu.save()
    auditor = admin_client_for(users["auditor"])
    assert jinxiu.pk in listed(auditor, "propertycompany")
    page = auditor.get(f"{ADMIN}/propertycompany/{jinxiu.pk}/change/")
    assert page.status_code == 200
    assert b"13812345678" not in page.content and "138****5678" in page.content.decode()
    comm_a = admin_client_for(users["comm_a"])
    assert comm_a.get(f"{ADMIN}/propertycompany/add/").status_code == 403
    refused = comm_a.post(f"{ADMIN}/propertycompany/{jinxiu.pk}/change/",
                          {"name": "改名", "credit_code": jinxiu.credit_code})
    assert refused.status_code == 403
    jinxiu.refresh_from_db()
    assert jinxiu.name == "太原锦绣物业服务有限公司"

    street = admin_client_for(users["street"])
    data = {"name": "红星物业", "credit_code": "91140105MA0H7654Q0", "party_formation": "none",
            "is_active": "on"}
    bad = street.post(f"{ADMIN}/propertycompany/add/", data)
    assert bad.status_code == 200 and "credit_code" in bad.context["adminform"].form.errors
    data["credit_code"] = credit_code("91140105MA0H7654Q").lower()
    good = street.post(f"{ADMIN}/propertycompany/add/", data)
    assert good.status_code == 302
    made = PropertyCompany.objects.get(name="红星物业")
    assert made.credit_code == credit_code("91140105MA0H7654Q")  # normalised by the service


def test_company_staff_are_added_and_ended_through_the_services(world, users, places,
                                                                companies, tree,
                                                                admin_client_for):
    comm_a = admin_client_for(users["comm_a"])
    who = person(tree["a2"], "保洁主管")
    added = comm_a.post(f"{ADMIN}/companystaff/add/", {
        "company": companies["jinxiu"].pk, "person": who.pk, "compound": places["wjy"].pk,
        "role": "保洁主管", "started_on": "2026-01-05"})
    assert added.status_code == 302
    job = CompanyStaff.objects.get(person=who)
    before = comm_a.post(f"{ADMIN}/companystaff/{job.pk}/change/", {"ended_on": "2025-12-31"})
    assert before.status_code == 200 and "ended_on" in before.context["adminform"].form.errors
    ended = comm_a.post(f"{ADMIN}/companystaff/{job.pk}/change/", {"ended_on": "2026-06-30"})
    assert ended.status_code == 302
    job.refresh_from_db()
    assert job.ended_on == D(2026, 6, 30)


# ---- service periods and subsidies -----------------------------------------------------------


def test_start_and_end_a_service(world, users, places, admin_client_for):
    comm_a = admin_client_for(users["comm_a"])
    running = world["a"]["serviceperiod"]
    refused = comm_a.post(f"{ADMIN}/serviceperiod/add/", {
        "compound": places["wjy"].pk, "mode": ServiceMode.MARKET, "started_on": TODAY,
        "fee_per_m2": "1.00"})
    assert refused.status_code == 200  # a market service needs its company: said on the field
    assert "company" in refused.context["adminform"].form.errors
    started = comm_a.post(f"{ADMIN}/serviceperiod/add/", {
        "compound": places["wjy"].pk, "mode": ServiceMode.COMMUNITY_FALLBACK,
        "started_on": TODAY, "fee_per_m2": "0", "note": "社区兜底"})
    assert started.status_code == 302
    new = ServicePeriod.objects.get(compound=places["wjy"], ended_on__isnull=True)
    running.refresh_from_db()
    assert new.mode == ServiceMode.COMMUNITY_FALLBACK and running.ended_on == days(-1)

    page = comm_a.get(f"{ADMIN}/serviceperiod/{new.pk}/change/")
    assert [b["url"] for b in page.context["panel"]["buttons"]] == [
        f"{ADMIN}/serviceperiod/{new.pk}/end/"]
    early = comm_a.post(f"{ADMIN}/serviceperiod/{new.pk}/end/", {"ended_on": days(-5)})
    assert early.status_code == 200 and "ended_on" in early.context["form"].errors
    done = comm_a.post(f"{ADMIN}/serviceperiod/{new.pk}/end/", {"ended_on": days(30)})
    assert done.status_code == 302 and SUCCESS in levels(done)
    new.refresh_from_db()
    assert new.ended_on == days(30)
    # Ended: no button, and the form refuses.
    assert comm_a.get(f"{ADMIN}/serviceperiod/{new.pk}/change/").context["panel"]["buttons"] == []
    again = comm_a.post(f"{ADMIN}/serviceperiod/{new.pk}/end/", {"ended_on": days(40)})
    assert again.status_code == 302 and ERROR in levels(again)
    # The auditor reads but may not end.
    auditor = admin_client_for(users["auditor"])
    assert auditor.get(f"{ADMIN}/serviceperiod/{running.pk}/change/").context["panel"][
        "buttons"] == []


def test_the_subsidy_ending_filter(world, users, places, companies, admin_client_for):
    # bhza's subsidy started five months ago (six months): it ends within 60 days.
    comm_a = admin_client_for(users["comm_a"])
    assert listed(comm_a, "serviceperiod", "?subsidy=ending") == [world["a"]["subsidised"].pk]
    page = comm_a.get(f"{ADMIN}/serviceperiod/")
    assert "pm-badge--warn" in page.content.decode()


def test_grant_subsidies_for_a_month(world, users, tree, admin_client_for):
    street = admin_client_for(users["street"])
    listing = street.get(f"{ADMIN}/subsidygrant/")
    assert listing.context["extra_tools"][0]["url"] == f"{ADMIN}/subsidygrant/grant/"
    month = services.add_months(TODAY, -1)
    made = street.post(f"{ADMIN}/subsidygrant/grant/", {"unit": tree["s1"].pk,
                                                        "month": f"{month:%Y-%m}"})
    assert made.status_code == 302 and SUCCESS in levels(made)
    grants = SubsidyGrant.objects.filter(month=month)
    assert grants.count() == 2  # bhza and hgd
    assert grants.get(period=world["a"]["subsidised"]).amount == Decimal("26000.00")
    again = street.post(f"{ADMIN}/subsidygrant/grant/", {"unit": tree["s1"].pk,
                                                         "month": f"{month:%Y-%m}"})
    assert again.status_code == 302 and SubsidyGrant.objects.filter(month=month).count() == 2
    bad = street.post(f"{ADMIN}/subsidygrant/grant/", {"unit": tree["s1"].pk, "month": "2026-13"})
    assert bad.status_code == 200 and "month" in bad.context["form"].errors
    # Community staff read grants but do not grant; their unit choices stop at their scope.
    comm_a = admin_client_for(users["comm_a"])
    assert "extra_tools" not in comm_a.get(f"{ADMIN}/subsidygrant/").context
    refused = comm_a.post(f"{ADMIN}/subsidygrant/grant/", {"unit": tree["a"].pk,
                                                           "month": "2026-01"})
    assert refused.status_code == 302 and ERROR in levels(refused)
    assert not SubsidyGrant.objects.filter(month=D(2026, 1, 1)).exists()


def test_income_is_added_and_reversed_never_edited(world, users, places, admin_client_for):
    comm_a = admin_client_for(users["comm_a"])
    market = comm_a.post(f"{ADMIN}/selffundingentry/add/", {
        "compound": places["wjy"].pk, "kind": IncomeKind.PARKING, "amount": "300",
        "received_on": days(-1)})
    assert market.status_code == 200  # wjy has a company: its income is not the compound's
    assert "compound" in market.context["adminform"].form.errors
    added = comm_a.post(f"{ADMIN}/selffundingentry/add/", {
        "compound": places["bhza"].pk, "kind": IncomeKind.LEASED_SPACE, "amount": "450.50",
        "received_on": days(-1), "note": "门面出租"})
    assert added.status_code == 302
    entry = SelfFundingEntry.objects.get(note="门面出租")
    page = comm_a.get(f"{ADMIN}/selffundingentry/{entry.pk}/change/")
    assert page.status_code == 200 and page.context["has_change_permission"] is False
    reversed_ = comm_a.post(f"{ADMIN}/selffundingentry/", {
        "action": "reverse_entries", "_selected_action": [entry.pk]})
    assert reversed_.status_code == 302 and SUCCESS in levels(reversed_)
    assert entry.reversed_by.amount == Decimal("-450.50")
    twice = comm_a.post(f"{ADMIN}/selffundingentry/", {
        "action": "reverse_entries", "_selected_action": [entry.pk]})
    assert ERROR in levels(twice)
    assert SelfFundingEntry.objects.filter(reverses=entry).count() == 1
    # Another community's entry cannot be reversed by selecting its id.
    other = world["b"]["selffundingentry"]
    comm_a.post(f"{ADMIN}/selffundingentry/", {
        "action": "reverse_entries", "_selected_action": [other.pk]})
    assert not SelfFundingEntry.objects.filter(reverses=other).exists()


# ---- committees ------------------------------------------------------------------------------


def inline_data(members=(), documents=(), existing_members=()):
    data = {
        "members-TOTAL_FORMS": str(len(existing_members) + len(members)),
        "members-INITIAL_FORMS": str(len(existing_members)),
        "members-MIN_NUM_FORMS": "0", "members-MAX_NUM_FORMS": "1000",
        "documents-TOTAL_FORMS": str(len(documents)), "documents-INITIAL_FORMS": "0",
        "documents-MIN_NUM_FORMS": "0", "documents-MAX_NUM_FORMS": "7",
    }
    for i, (member, fields) in enumerate(existing_members):
        data[f"members-{i}-id"] = str(member.pk)
        data[f"members-{i}-committee"] = str(member.committee_id)
        data.update({f"members-{i}-{k}": v for k, v in fields.items()})
    for j, fields in enumerate(members, start=len(existing_members)):
        data.update({f"members-{j}-{k}": v for k, v in fields.items()})
    for i, fields in enumerate(documents):
        data.update({f"documents-{i}-{k}": v for k, v in fields.items()})
    return data


def test_elect_a_committee_and_keep_its_seats(world, users, places, tree, settings, tmp_path,
                                              admin_client_for):
    settings.MEDIA_ROOT = tmp_path
    comm_a = admin_client_for(users["comm_a"])
    sitting = world["a"]["committee"]
    too_early = comm_a.post(f"{ADMIN}/committee/add/", {
        "compound": places["wjy"].pk, "kind": CommitteeKind.PROPERTY,
        "elected_on": "2025-05-01", "term_ends_on": "2028-05-01"})
    assert too_early.status_code == 200
    assert "elected_on" in too_early.context["adminform"].form.errors
    elected = comm_a.post(f"{ADMIN}/committee/add/", {
        "compound": places["wjy"].pk, "kind": CommitteeKind.PROPERTY,
        "elected_on": days(-1).isoformat(), "term_ends_on": days(60).isoformat()})
    assert elected.status_code == 302
    new = Committee.objects.get(compound=places["wjy"], is_active=True)
    sitting.refresh_from_db()
    assert new.kind == CommitteeKind.PROPERTY and sitting.is_active is False
    # Its term ends within 90 days: listed by the filter.
    assert listed(comm_a, "committee", "?term=ending") == [new.pk]

    chair, member = person(tree["a2"], "新主任"), person(tree["a2"], "新委员")
    saved = comm_a.post(f"{ADMIN}/committee/{new.pk}/change/", inline_data(
        members=[{"person": chair.pk, "role": CommitteeMemberRole.CHAIR},
                 {"person": member.pk, "role": CommitteeMemberRole.MEMBER,
                  "started_on": TODAY.isoformat()}],
        documents=[{"kind": "procedure", "adopted_on": days(-1).isoformat(),
                    "file": SimpleUploadedFile("议事规则.pdf", b"%PDF-1.4 rules")}]))
    assert saved.status_code == 302, saved.context and saved.context.get("errors")
    seats = CommitteeMember.objects.filter(committee=new, ended_on__isnull=True)
    assert {(s.person_id, s.role, s.started_on) for s in seats} == {
        (chair.pk, CommitteeMemberRole.CHAIR, days(-1)),
        (member.pk, CommitteeMemberRole.MEMBER, TODAY)}
    assert CommitteeDocument.objects.get(committee=new).kind == "procedure"
    # A second chair is refused by the service: a message, and no seat.
    other = person(tree["a2"], "另一位")
    refused = comm_a.post(f"{ADMIN}/committee/{new.pk}/change/", inline_data(
        existing_members=[(s, {"person": s.person_id, "role": s.role,
                               "started_on": s.started_on.isoformat(), "ended_on": ""})
                          for s in seats.order_by("-ended_on", "role", "pk")],
        members=[{"person": other.pk, "role": CommitteeMemberRole.CHAIR}]))
    assert refused.status_code == 302 and ERROR in levels(refused)
    assert not CommitteeMember.objects.filter(person=other).exists()
    # The page shows the members' phones masked to readers without the permission.
    chair.phone = "13700001111"
    chair.save()
    page = admin_client_for(users["auditor"]).get(f"{ADMIN}/committee/{new.pk}/change/")
    assert page.status_code == 200
    assert "13700001111" not in page.content.decode() and "137****1111" in page.content.decode()


def test_cross_appointments_page(world, users, tree, places, admin_client_for):
    chair_seat = world["a"]["chair"]
    seat(tree["a2"], chair_seat.person, role=CommitteeRole.SECRETARY)  # 一肩挑
    staff = world["a"]["companystaff"]
    seat(tree["a"], staff.person)  # the manager sits on the community's party committee
    comm_a = admin_client_for(users["comm_a"])
    page = comm_a.get(f"{ADMIN}/committee/cross-appointments/")
    assert page.status_code == 200
    assert page.context["unit"] == tree["a"]
    assert page.context["totals"] == {"compounds": 2, "cross": 1, "one_shoulder": 1}
    row = page.context["rows"][0]
    assert row["compound"] == places["wjy"] and row["one_shoulder"] == "文锦苑主任"
    assert {p["name"] for p in row["people"]} == {"文锦苑主任", "文锦苑经理"}
    # Another community's unit cannot be chosen: the page falls back to the reader's own.
    comm_b = admin_client_for(users["comm_b"])
    other = comm_b.get(f"{ADMIN}/committee/cross-appointments/", {"unit": tree["a"].pk})
    assert other.context["unit"] == tree["b"] and other.context["rows"] == []


# ---- evaluations -----------------------------------------------------------------------------


def test_open_an_evaluation_and_read_its_results(world, users, places, admin_client_for):
    comm_a = admin_client_for(users["comm_a"])
    opened = comm_a.post(f"{ADMIN}/serviceevaluation/add/", {
        "compound": places["bhza"].pk, "year": TODAY.year, "quarter": "4",
        "opens_on": TODAY.isoformat(), "closes_on": days(7).isoformat()})
    assert opened.status_code == 200  # bhza has no household files
    assert "compound" in opened.context["adminform"].form.errors
    twice = comm_a.post(f"{ADMIN}/serviceevaluation/add/", {
        "compound": places["wjy"].pk, "year": TODAY.year, "quarter": "0",
        "opens_on": TODAY.isoformat(), "closes_on": days(7).isoformat()})
    assert twice.status_code == 200 and "quarter" in twice.context["adminform"].form.errors

    evaluation = world["a"]["serviceevaluation"]
    codes = list(evaluation.codes.order_by("pk"))
    services.submit_evaluation(codes[0].code, {"cleaning": 5, "security": 4, "repairs": 3,
                                               "greenery": 4, "attitude": 5})
    services.submit_evaluation(codes[1].code, {"cleaning": 3, "security": 4, "repairs": 3,
                                               "greenery": 2, "attitude": 3})
    page = comm_a.get(f"{ADMIN}/serviceevaluation/{evaluation.pk}/change/")
    results = page.context["results"]
    assert (results["codes"], results["responses"], results["rate"]) == (4, 2, "50.0%")
    assert [row["mean"] for row in results["dimensions"]] == [4.0, 4.0, 3.0, 3.0, 4.0]
    assert results["mean"] == 3.6
    row = comm_a.get(f"{ADMIN}/serviceevaluation/").context["cl"].result_list
    assert [(e.code_count, e.response_count) for e in row if e.pk == evaluation.pk] == [(4, 2)]


def test_codes_for_households_filed_later(world, users, places, admin_client_for):
    from grids.models import Household

    evaluation = world["a"]["serviceevaluation"]
    Household.objects.create(compound=places["wjy"], room="801")
    comm_a = admin_client_for(users["comm_a"])
    issued = comm_a.post(f"{ADMIN}/serviceevaluation/", {
        "action": "issue_codes", "_selected_action": [evaluation.pk]})
    assert issued.status_code == 302 and SUCCESS in levels(issued)
    assert evaluation.codes.count() == 5
    auditor = admin_client_for(users["auditor"])
    assert "issue_codes" not in [
        value for value, _label in auditor.get(f"{ADMIN}/serviceevaluation/").context[
            "action_form"].fields["action"].choices]


@pytest.mark.parametrize("model", [
    "serviceperiod", "serviceevaluation", "deliberation", "selffundingentry", "propertycompany",
    # "业委会/物管会": a character Excel refuses in sheet titles, replaced by the export.
    "committee",
])
def test_exports_hold_the_listed_rows(model, world, users, admin_client_for):
    comm_a = admin_client_for(users["comm_a"])
    rows = listed(comm_a, model)
    exported = comm_a.post(f"{ADMIN}/{model}/", {"action": "export_xlsx",
                                                 "_selected_action": rows})
    assert exported.status_code == 200
    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert sheet.max_row == len(rows) + 1


def test_the_codes_sheet_is_for_those_who_may_change(world, users, admin_client_for):
    evaluation = world["a"]["serviceevaluation"]
    url = f"{ADMIN}/serviceevaluation/{evaluation.pk}/codes.xlsx"
    comm_a = admin_client_for(users["comm_a"])
    page = comm_a.get(f"{ADMIN}/serviceevaluation/{evaluation.pk}/change/")
    assert [b["url"] for b in page.context["panel"]["buttons"]] == [url]
    sheet = comm_a.get(url)
    assert sheet.status_code == 200 and sheet["Content-Type"].startswith(
        "application/vnd.openxmlformats")
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    printed = {row[3] for row in rows[3:]}
    assert printed == set(evaluation.codes.values_list("code", flat=True)) and len(printed) == 4
    assert all(row[4].endswith(f"/evaluate/?code={row[3]}") for row in rows[3:])
    # Readers without the change permission see no button and get no codes.
    for role in ("auditor",):
        reader = admin_client_for(users[role])
        assert reader.get(f"{ADMIN}/serviceevaluation/{evaluation.pk}/change/").context[
            "panel"]["buttons"] == []
        assert reader.get(url).status_code == 403
    grid = _user("grid_a", StaffRole.GRID_WORKER, evaluation.compound.org_unit)
    assert admin_client_for(grid).get(url).status_code == 403


def test_the_watch_list_page(world, users, tree, places, admin_client_for):
    evaluation = world["b"]["serviceevaluation"]
    for code in evaluation.codes.all():
        services.submit_evaluation(code.code, {d: 2 for d in
                                               ("cleaning", "security", "repairs", "greenery",
                                                "attitude")})
    assert EvaluationResponse.objects.filter(evaluation=evaluation).count() == 2
    street = admin_client_for(users["street"])
    page = street.get(f"{ADMIN}/serviceevaluation/watch-list/")
    assert page.status_code == 200 and page.context["unit"] == tree["s1"]
    [street_row] = page.context["streets"]
    assert street_row["red"] == 1 and street_row["entries"][0]["compound"] == places["hgd"]
    comm_a = admin_client_for(users["comm_a"])
    assert comm_a.get(f"{ADMIN}/serviceevaluation/watch-list/").context["streets"] == []


# ---- deliberations ---------------------------------------------------------------------------


def buttons(client, d):
    response = client.get(f"{ADMIN}/deliberation/{d.pk}/change/")
    assert response.status_code == 200
    return [b["step"] for b in response.context["panel"]["buttons"]]


def test_propose_and_walk_the_four_steps(world, users, places, tree, admin_client_for):
    secretary = admin_client_for(users["secretary"])
    missing = secretary.post(f"{ADMIN}/deliberation/add/", {
        "compound": places["wjy"].pk, "topic": "  ", "parties": ["branch", "company"]})
    assert missing.status_code == 200 and "topic" in missing.context["adminform"].form.errors
    one = secretary.post(f"{ADMIN}/deliberation/add/", {
        "compound": places["wjy"].pk, "topic": "加装电梯", "parties": ["branch"]})
    assert one.status_code == 200 and "parties" in one.context["adminform"].form.errors
    proposed = secretary.post(f"{ADMIN}/deliberation/add/", {
        "compound": places["wjy"].pk, "topic": "加装电梯", "background": "老旧小区",
        "parties": ["branch", "residents_committee", "company", "representatives"]})
    assert proposed.status_code == 302
    d = Deliberation.objects.get(topic="加装电梯")
    assert d.org_unit == tree["a2"] and d.status == S.PROPOSED
    url = f"{ADMIN}/deliberation/{d.pk}/step"

    assert buttons(secretary, d) == ["discuss", "link"]
    illegal = secretary.post(f"{url}/decide/", {"decision": "装", "votes_for": 5,
                                                "votes_against": 0, "votes_abstain": 0})
    assert illegal.status_code == 302 and ERROR in levels(illegal)
    d.refresh_from_db()
    assert d.status == S.PROPOSED
    form = secretary.get(f"{url}/discuss/").context["form"]
    assert [n for n in form.fields if n.startswith("party_")] == [
        "party_branch", "party_residents_committee", "party_company", "party_representatives"]
    lonely = secretary.post(f"{url}/discuss/", {"minutes": "讨论", "party_branch": "王书记"})
    assert lonely.status_code == 200 and lonely.context["form"].non_field_errors()
    discussed = secretary.post(f"{url}/discuss/", {
        "minutes": "各方同意加装", "party_branch": "王书记", "party_company": "张经理，李工",
        "party_representatives": "赵大妈、钱大爷"})
    assert discussed.status_code == 302 and SUCCESS in levels(discussed)
    d.refresh_from_db()
    assert d.status == S.DISCUSSING and d.attendance.count() == 5

    assert buttons(secretary, d) == ["decide", "link"]
    tied = secretary.post(f"{url}/decide/", {"decision": "加装", "votes_for": 3,
                                             "votes_against": 3, "votes_abstain": 0})
    assert tied.status_code == 200 and "votes_for" in tied.context["form"].errors
    secretary.post(f"{url}/decide/", {"decision": "同意加装电梯", "votes_for": 9,
                                      "votes_against": 1, "votes_abstain": 2})
    d.refresh_from_db()
    assert d.status == S.DECIDED and d.votes_for == 9
    secretary.post(f"{url}/publicise/", {"days": 5, "start": TODAY.isoformat()})
    d.refresh_from_db()
    assert (d.status, d.publicised_from, d.publicised_until) == (S.PUBLICISED, TODAY, days(4))
    secretary.post(f"{url}/review/", {"satisfied": 40, "unsatisfied": 2})
    d.refresh_from_db()
    assert (d.status, d.satisfied) == (S.REVIEWED, 40)
    assert buttons(secretary, d) == ["link"]

    page = secretary.get(f"{ADMIN}/deliberation/{d.pk}/change/")
    moves = [(e["from_status"], e["to_status"]) for e in page.context["timeline"]]
    assert [m[1] for m in moves] == [S(s).label for s in
                                     (S.PROPOSED, S.DISCUSSING, S.DECIDED, S.PUBLICISED,
                                      S.REVIEWED)]
    assert "pm-timeline" in page.content.decode()


def test_readers_and_other_communities_get_no_steps(world, users, admin_client_for):
    d = world["a"]["deliberation"]
    assert buttons(admin_client_for(users["auditor"]), d) == []
    refused = admin_client_for(users["auditor"]).post(
        f"{ADMIN}/deliberation/{d.pk}/step/discuss/",
        {"minutes": "x", "party_branch": "甲", "party_company": "乙"})
    assert refused.status_code == 302 and ERROR in levels(refused)
    unknown = admin_client_for(users["comm_a"]).get(f"{ADMIN}/deliberation/{d.pk}/step/vote/")
    assert unknown.status_code == 302 and ERROR in levels(unknown)
    d.refresh_from_db()
    assert d.status == S.PROPOSED


def test_link_grid_events(world, users, places, admin_client_for):
    from grids.models import EventCategory, EventSource
    from grids.services import events as event_services

    category = EventCategory.objects.create(code="pm-test", name="物业", is_property=True)
    event = event_services.report_event(users["comm_a"], category=category,
                                        source=EventSource.OTHER, compound=places["wjy"],
                                        description="楼道灯坏了")
    d = world["a"]["deliberation"]
    comm_a = admin_client_for(users["comm_a"])
    unknown = comm_a.post(f"{ADMIN}/deliberation/{d.pk}/step/link/", {"events": "NOPE123"})
    assert unknown.status_code == 200 and "events" in unknown.context["form"].errors
    linked = comm_a.post(f"{ADMIN}/deliberation/{d.pk}/step/link/",
                         {"events": event.tracking_code.lower()})
    assert linked.status_code == 302
    assert list(d.events.all()) == [event]


def test_adopt_a_convention(world, users, places, admin_client_for):
    comm_a = admin_client_for(users["comm_a"])
    d = walk(users["comm_a"], world["a"]["deliberation"], S.DECIDED)
    future = comm_a.post(f"{ADMIN}/convention/add/", {
        "compound": places["wjy"].pk, "title": "公约", "text": "文明养犬",
        "adopted_on": days(3).isoformat()})
    assert future.status_code == 200 and "adopted_on" in future.context["adminform"].form.errors
    adopted = comm_a.post(f"{ADMIN}/convention/add/", {
        "compound": places["wjy"].pk, "title": "文锦苑公约（修订）", "text": "文明养犬",
        "adopted_on": TODAY.isoformat(), "deliberation": d.pk})
    assert adopted.status_code == 302
    latest = Convention.objects.filter(compound=places["wjy"]).order_by("-version").first()
    assert (latest.version, latest.deliberation) == (2, d)
    assert comm_a.get(f"{ADMIN}/convention/{latest.pk}/change/").context[
        "has_change_permission"] is False


# ---- query counts ----------------------------------------------------------------------------


def _more_compounds(tree, n, start):
    from grids.models import Compound, CompoundType, Household

    made = []
    for i in range(start, start + n):
        compound = Compound.objects.create(
            org_unit=tree["a2"], name=f"新小区{i}", compound_type=CompoundType.RESIDENTIAL,
            address=f"新路{i}号", floor_area_m2=Decimal("5000.0"))
        Household.objects.create(compound=compound, room="101")
        made.append(compound)
    return made


def _pinned(client, url, grow):
    with CaptureQueriesContext(connection) as small:
        first = client.get(url)
    grow()
    with CaptureQueriesContext(connection) as big:
        second = client.get(url)
    assert first.status_code == second.status_code == 200
    assert len(second.context["cl"].result_list) > len(first.context["cl"].result_list)
    assert len(small) == len(big), [q["sql"] for q in big.captured_queries]


def test_service_period_list_runs_a_fixed_number_of_queries(world, users, tree, companies,
                                                             admin_client_for):
    client = admin_client_for(users["comm_a"])
    counter = iter(range(1000))

    def grow():
        for compound in _more_compounds(tree, 6, next(counter) * 10):
            services.start_service(users["comm_a"], compound, mode=ServiceMode.SUBSIDISED,
                                   company=companies["anju"], started_on=days(-20))

    _pinned(client, f"{ADMIN}/serviceperiod/", grow)


def test_deliberation_list_runs_a_fixed_number_of_queries(world, users, tree, places,
                                                          admin_client_for):
    client = admin_client_for(users["comm_a"])

    def grow():
        for i in range(6):
            d = services.propose(users["comm_a"], compound=places["wjy"] if i % 2 else None,
                                 org_unit=tree["a"] if not i % 2 else None, topic=f"议题{i}")
            walk(users["comm_a"], d, [S.DISCUSSING, S.DECIDED, S.PUBLICISED][i % 3])

    _pinned(client, f"{ADMIN}/deliberation/", grow)


def test_committee_and_evaluation_lists_run_a_fixed_number_of_queries(world, users, tree,
                                                                     admin_client_for):
    client = admin_client_for(users["comm_a"])

    def grow():
        for compound in _more_compounds(tree, 5, 500):
            committee = services.elect_committee(users["comm_a"], compound, CommitteeKind.OWNERS,
                                                 days(-10), days(700))
            services.add_committee_member(users["comm_a"], committee,
                                          person=person(tree["a2"], f"主任{compound.pk}"),
                                          role=CommitteeMemberRole.CHAIR)
            services.open_evaluation(users["comm_a"], compound, year=TODAY.year,
                                     opens_on=days(-1), closes_on=days(5))

    with CaptureQueriesContext(connection) as small:
        client.get(f"{ADMIN}/committee/")
        client.get(f"{ADMIN}/serviceevaluation/")
    grow()
    with CaptureQueriesContext(connection) as big:
        committees = client.get(f"{ADMIN}/committee/")
        evaluations = client.get(f"{ADMIN}/serviceevaluation/")
    assert len(committees.context["cl"].result_list) == 6
    assert len(evaluations.context["cl"].result_list) == 6
    assert len(small) == len(big), [q["sql"] for q in big.captured_queries]
