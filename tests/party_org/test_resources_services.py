"""Services and selectors of stations, branch funds, co-building units, committees and the top ten:
the rules they enforce, their refusals, the running balance and the 五有 indicator."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import override

from party_org.models import (
    AuditEntry,
    BranchFundEntry,
    CoBuildingAgreement,
    CommitteeMembership,
    CommitteeRole,
    FundCategory,
    ListItem,
    ListKind,
    MemberStatus,
    NeedMatch,
    OrgKind,
    ServiceStation,
    TopSecretaryEntry,
    TopSecretarySelection,
)
from party_org.selectors import Subtree
from party_org.selectors_resources import (
    attach_running_balances,
    five_haves,
    five_haves_counts,
    five_haves_summary,
    fund_balance,
    fund_balances,
    fund_ledger,
    fund_totals,
)
from party_org.services import resources as services
from party_org.statistics import Period, registry
from tests.conftest import make

from .test_resources_helpers import (
    EIGHT,
    complete_branch,
    count_queries,
    emergency_role,
    member,
    person,
    post_with_assignment,
    seat,
    station,
    work_unit,
)

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
D = lambda days_ago: TODAY - dt.timedelta(days=days_ago)  # noqa: E731


def messages(error):
    return " ".join(error.value.messages)


# ---- stations --------------------------------------------------------------------------------


def test_save_station_validates_kind_functions_and_checklist(tree, users):
    user = users["comm_a"]
    new = services.save_station(user, ServiceStation(
        org_unit=tree["a2"], name="文锦苑党群服务站", address="1号楼底商", area_m2=Decimal("80"),
        functions=["reception", "mediation", "reception"], checklist=["code", "sign", "code"],
    ))
    assert new.functions == ["reception", "mediation"] and new.checklist == ["code", "sign"]
    assert AuditEntry.objects.filter(model="party_org.servicestation", action="create").count() == 1

    for fields, field in [
        ({"org_unit": tree["a2g"]}, "org_unit"),  # a building group has no station
        ({"functions": ["karaoke"]}, "functions"),
        ({"checklist": ["venue"]}, "checklist"),  # a 六有五化 item under the 八有 standard
    ]:
        values = {"org_unit": tree["a2"], "name": "x", "address": "y", "area_m2": Decimal("10"),
                  "functions": [], "checklist": [], **fields}
        with pytest.raises(ValidationError) as error:
            services.save_station(user, ServiceStation(**values))
        assert field in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.save_station(user, ServiceStation(org_unit=tree["a2"], name="x", address="y",
                                                   area_m2=Decimal("0")))
    assert "area_m2" in error.value.message_dict


def test_station_scope_and_permission(tree, users):
    b_station = station(tree["b1"])
    with pytest.raises(PermissionDenied):
        services.save_station(users["comm_a"], ServiceStation(
            org_unit=tree["b1"], name="x", address="y", area_m2=Decimal("10")))
    # Moving B's station into A does not make it A's to change.
    b_station.org_unit = tree["a2"]
    with pytest.raises(PermissionDenied):
        services.save_station(users["comm_a"], b_station)
    with pytest.raises(PermissionDenied):
        services.delete_station(users["comm_a"], b_station)
    with pytest.raises(PermissionDenied):
        services.save_station(users["nobody"], ServiceStation(
            org_unit=tree["a2"], name="x", address="y", area_m2=Decimal("10")))
    assert ServiceStation.objects.get(pk=b_station.pk).org_unit == tree["b1"]


def test_station_meets_standard(tree):
    assert not station(tree["a2"], checklist=EIGHT[:6]).meets_standard
    assert station(tree["a2"], checklist=EIGHT).meets_standard


# ---- branch funds ----------------------------------------------------------------------------


def test_fund_entry_sign_follows_category(tree, users):
    user = users["secretary"]
    income = services.record_fund_entry(user, tree["a2"], D(30), FundCategory.WORK_FUNDS,
                                        "5000", "区财政年度工作经费")
    spending = services.record_fund_entry(user, tree["a2"], D(20), FundCategory.ACTIVITIES,
                                          Decimal("1200.50"), "主题党日活动")
    assert income.amount == Decimal("5000.00") and spending.amount == Decimal("-1200.50")
    assert spending.recorded_by == user
    assert fund_balance(tree["a2"]) == Decimal("3799.50")
    entry = AuditEntry.objects.get(object_id=str(spending.pk), model="party_org.branchfundentry")
    assert entry.user == user and entry.changes["amount"] == "-1200.50"


@pytest.mark.parametrize("amount", ["-5", "0", "abc", "1.005", None])
def test_fund_entry_wants_a_positive_amount(tree, users, amount):
    with pytest.raises(ValidationError) as error:
        services.record_fund_entry(users["comm_a"], tree["a2"], D(1), FundCategory.WORK_FUNDS,
                                   amount, "x")
    assert "amount" in error.value.message_dict
    assert not BranchFundEntry.objects.exists()


def test_fund_entry_other_refusals(tree, users):
    user = users["comm_a"]
    cases = [
        ((tree["a"], D(1), FundCategory.WORK_FUNDS, "10", "x"), "org_unit"),  # not a branch
        ((tree["a2"], D(1), "lottery", "10", "x"), "category"),
        ((tree["a2"], TODAY + dt.timedelta(days=1), FundCategory.WORK_FUNDS, "10", "x"),
         "entry_date"),
        ((tree["a2"], D(1), FundCategory.WORK_FUNDS, "10", "  "), "description"),
    ]
    for args, field in cases:
        with pytest.raises(ValidationError) as error:
            services.record_fund_entry(user, *args)
        assert field in error.value.message_dict, args
    with pytest.raises(PermissionDenied):
        services.record_fund_entry(user, tree["b1"], D(1), FundCategory.WORK_FUNDS, "10", "x")
    with pytest.raises(PermissionDenied):
        services.record_fund_entry(users["auditor"], tree["a2"], D(1), FundCategory.WORK_FUNDS,
                                   "10", "x")
    assert not BranchFundEntry.objects.exists()


def test_spending_below_zero_is_refused(tree, users):
    user = users["comm_a"]
    services.record_fund_entry(user, tree["a2"], D(30), FundCategory.WORK_FUNDS, "1000", "经费")
    with pytest.raises(ValidationError) as error, override("en"):
        services.record_fund_entry(user, tree["a2"], D(10), FundCategory.VENUE, "1000.01", "桌椅")
    assert error.value.error_dict["amount"][0].code == "insufficient_funds"
    assert "below zero" in messages(error) and "1000.00" in messages(error)
    # Spending the whole balance is fine; the balance of another branch does not help.
    services.record_fund_entry(user, tree["a1"], D(30), FundCategory.WORK_FUNDS, "9000", "经费")
    services.record_fund_entry(user, tree["a2"], D(10), FundCategory.VENUE, "1000", "桌椅")
    assert fund_balance(tree["a2"]) == 0
    with pytest.raises(ValidationError):
        services.record_fund_entry(user, tree["a2"], D(5), FundCategory.SERVICES, "0.01", "慰问")


def test_backdated_spending_may_not_empty_the_fund_before_later_spending(tree, users):
    user = users["comm_a"]
    services.record_fund_entry(user, tree["a2"], D(30), FundCategory.WORK_FUNDS, "1000", "经费")
    services.record_fund_entry(user, tree["a2"], D(10), FundCategory.ACTIVITIES, "800", "活动")
    # Today's balance is 200, but on D(20) it was 1000: spending 300 then would leave later
    # spending uncovered (1000 - 300 - 800 < 0).
    with pytest.raises(ValidationError) as error, override("en"):
        services.record_fund_entry(user, tree["a2"], D(20), FundCategory.VENUE, "300", "补记")
    assert "Later entries" in messages(error)
    services.record_fund_entry(user, tree["a2"], D(20), FundCategory.VENUE, "200", "补记")
    assert fund_balance(tree["a2"]) == 0
    # Income dated before it all is always fine.
    services.record_fund_entry(user, tree["a2"], D(40), FundCategory.SPECIAL, "50", "专项")
    assert fund_balance(tree["a2"]) == Decimal("50.00")


def test_reversal_is_a_compensating_entry(tree, users):
    user = users["comm_a"]
    income = services.record_fund_entry(user, tree["a2"], D(30), FundCategory.WORK_FUNDS, "500",
                                        "经费")
    spending = services.record_fund_entry(user, tree["a2"], D(20), FundCategory.ACTIVITIES,
                                          "120", "活动（金额录错）")
    reversal = services.reverse_fund_entry(user, spending, reason="金额录错")
    assert reversal.amount == Decimal("120.00") and reversal.category == FundCategory.ACTIVITIES
    assert reversal.reverses == spending and reversal.entry_date == TODAY
    assert "金额录错" in reversal.description
    spending.refresh_from_db()
    assert spending.amount == Decimal("-120.00")  # the original is never touched
    assert fund_balance(tree["a2"]) == Decimal("500.00")
    # Spending reversed counts as less spending, not as income.
    totals = fund_totals(Subtree.of(tree["a"]), Period(None, TODAY))
    assert totals == {"income": Decimal("500.00"), "spending": Decimal("0.00"),
                      "balance": Decimal("500.00")}

    with pytest.raises(ValidationError, match="已"):
        services.reverse_fund_entry(user, spending)
    with pytest.raises(ValidationError):
        services.reverse_fund_entry(user, reversal)  # a reversal is not reversed again
    with pytest.raises(ValidationError):
        services.reverse_fund_entry(user, income, entry_date=D(31))  # before the original
    # Reversing income that has been spent would take the balance below zero.
    services.record_fund_entry(user, tree["a2"], D(5), FundCategory.SERVICES, "300", "慰问")
    with pytest.raises(ValidationError) as error:
        services.reverse_fund_entry(user, income)
    assert error.value.error_dict["amount"][0].code == "insufficient_funds"
    with pytest.raises(PermissionDenied):
        services.reverse_fund_entry(users["comm_b"], income)
    assert BranchFundEntry.objects.filter(reverses__isnull=False).count() == 1


def test_the_database_refuses_a_wrong_sign(tree):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        BranchFundEntry.objects.create(org_unit=tree["a2"], entry_date=D(1),
                                       category=FundCategory.VENUE, amount=Decimal("5"),
                                       description="x")


def _ledger(tree):
    rows = [
        ("a2", D(50), FundCategory.WORK_FUNDS, "1000"),
        ("a2", D(40), FundCategory.ACTIVITIES, "300"),
        ("a1", D(45), FundCategory.SPECIAL, "70"),
        ("a2", D(40), FundCategory.RETURNED_FEES, "86"),  # same date: ledger order is by id
        ("a2", D(30), FundCategory.VENUE, "86"),
        ("a1", D(20), FundCategory.SERVICES, "20"),
    ]
    return [services.record_fund_entry(None, tree[code], day, category, amount, "x")
            for code, day, category, amount in rows]


def test_running_balance_is_the_window_over_each_branch(tree):
    entries = _ledger(tree)
    ledger = fund_ledger(BranchFundEntry.objects.filter(Subtree.of(tree["a"]).q("org_unit")))
    balances = {e.pk: e.running_balance for e in ledger}
    expected = [1000, 700, 70, 786, 700, 50]
    assert [balances[e.pk] for e in entries] == [Decimal(v) for v in expected]
    assert fund_balances(Subtree.of(tree["a"])) == {
        tree["a2"].pk: Decimal("700"), tree["a1"].pk: Decimal("50")
    }


def test_running_balance_of_a_filtered_page_uses_the_whole_ledger(tree):
    entries = _ledger(tree)
    only_spending = BranchFundEntry.objects.filter(amount__lt=0).order_by("-entry_date")
    queries, rows = count_queries(attach_running_balances, only_spending)
    assert queries == 2  # the page, then one windowed query
    assert {e.pk: e.running_balance for e in rows} == {
        entries[1].pk: Decimal("700.00"), entries[4].pk: Decimal("700.00"),
        entries[5].pk: Decimal("50.00"),
    }
    assert attach_running_balances([]) == []


# ---- co-building, the three lists, matches ---------------------------------------------------


def test_agreements_sign_end_and_sign_again(tree, users):
    unit = work_unit()
    user = users["comm_a"]
    agreement = services.sign_agreement(user, unit, tree["a"], D(100), "张联络")
    with pytest.raises(ValidationError, match="已"):
        services.sign_agreement(user, unit, tree["a"], D(50))
    with pytest.raises(ValidationError) as error:
        services.sign_agreement(user, unit, tree["a2g"], D(50))
    assert "org_unit" in error.value.message_dict
    with pytest.raises(PermissionDenied):
        services.sign_agreement(user, unit, tree["b"], D(50))
    with pytest.raises(PermissionDenied):
        services.end_agreement(users["comm_b"], agreement)
    services.end_agreement(user, agreement)
    with pytest.raises(ValidationError):
        services.end_agreement(user, agreement)
    again = services.sign_agreement(user, unit, tree["a"], D(10))
    assert again.pk == agreement.pk and again.is_active and again.signed_on == D(10)
    assert again.liaison == "张联络"
    assert CoBuildingAgreement.objects.count() == 1
    assert services.update_agreement(user, again, "李联络").liaison == "李联络"


def test_resources_come_from_co_building_units(tree, users):
    unit = work_unit()
    user = users["comm_a"]
    with pytest.raises(ValidationError) as error:
        services.add_list_item(user, tree["a2"], ListKind.RESOURCE, "义诊", work_unit=unit)
    assert "work_unit" in error.value.message_dict
    with pytest.raises(ValidationError):
        services.add_list_item(user, tree["a2"], ListKind.RESOURCE, "义诊")
    with pytest.raises(ValidationError):
        services.add_list_item(user, tree["a2"], ListKind.NEED, "修路灯", work_unit=unit)
    with pytest.raises(ValidationError):
        services.add_list_item(user, tree["a2"], "wish", "修路灯")
    services.sign_agreement(user, unit, tree["a"], D(10))
    # The community's agreement covers its branches.
    resource = services.add_list_item(user, tree["a2"], ListKind.RESOURCE, "义诊", work_unit=unit)
    assert resource.status == ListItem.Status.OPEN and resource.work_unit == unit


@pytest.fixture
def lists(tree, users):
    unit = work_unit()
    services.sign_agreement(None, unit, tree["a"], D(10))
    return {
        "unit": unit,
        "need": services.add_list_item(None, tree["a2"], ListKind.NEED, "独居老人助餐"),
        "problem": services.add_list_item(None, tree["a2"], ListKind.PROBLEM, "楼道堆物"),
        "resource": services.add_list_item(None, tree["a1"], ListKind.RESOURCE, "职工食堂送餐",
                                           work_unit=unit),
    }


def test_match_need_to_resource(tree, users, lists):
    match = services.match_need(users["comm_a"], lists["need"], lists["resource"], "每周三次")
    lists["need"].refresh_from_db()
    assert lists["need"].status == ListItem.Status.MATCHED
    assert match.matched_by == users["comm_a"] and match.note == "每周三次"
    with pytest.raises(ValidationError, match="已"):
        services.match_need(users["comm_a"], lists["need"], lists["resource"])
    services.close_list_item(users["comm_a"], lists["need"])
    lists["need"].refresh_from_db()
    assert lists["need"].status == ListItem.Status.DONE
    with pytest.raises(ValidationError):
        services.close_list_item(users["comm_a"], lists["need"])


def test_match_refuses_wrong_kinds(users, lists):
    user = users["comm_a"]
    for need, resource, field in [
        (lists["problem"], lists["resource"], "need"),
        (lists["resource"], lists["resource"], "need"),
        (lists["need"], lists["problem"], "resource"),
    ]:
        with pytest.raises(ValidationError) as error:
            services.match_need(user, need, resource)
        assert field in error.value.message_dict
    assert not NeedMatch.objects.exists()


def test_match_needs_an_active_agreement_covering_the_need(tree, users, lists):
    user = users["comm_a"]
    # A need of community C: the unit has no agreement there (and C is out of A's scope).
    other_need = services.add_list_item(None, tree["c1"], ListKind.NEED, "加装电梯")
    with pytest.raises(ValidationError) as error:
        services.match_need(None, other_need, lists["resource"])
    assert "resource" in error.value.message_dict
    with pytest.raises(PermissionDenied):
        services.match_need(user, other_need, lists["resource"])
    # Ending the agreement ends the matching.
    services.end_agreement(None, CoBuildingAgreement.objects.get())
    with pytest.raises(ValidationError, match="no active co-building agreement"):
        with override("en"):
            services.match_need(user, lists["need"], lists["resource"])
    # An agreement with the branch itself is enough.
    services.sign_agreement(None, lists["unit"], tree["a2"], D(1))
    services.match_need(user, lists["need"], lists["resource"])
    # Closed items are not matched.
    services.close_list_item(None, lists["resource"])
    second = services.add_list_item(None, tree["a2"], ListKind.NEED, "理发")
    with pytest.raises(ValidationError):
        services.match_need(user, second, lists["resource"])


# ---- committees ------------------------------------------------------------------------------


def test_one_sitting_secretary_per_unit(tree, users):
    user = users["comm_a"]
    first, second = person(tree["a2"], "王建国"), person(tree["a2"], "李红")
    seat1 = services.seat_committee_member(user, tree["a2"], first, CommitteeRole.SECRETARY, D(90))
    with pytest.raises(ValidationError) as error, override("en"):
        services.seat_committee_member(user, tree["a2"], second, CommitteeRole.SECRETARY, D(10))
    assert "already has a sitting secretary, 王建国" in messages(error)
    assert error.value.error_dict["role"][0].code == "secretary_taken"
    # Deputies are many; the same person twice in one role is not.
    services.seat_committee_member(user, tree["a2"], second, CommitteeRole.DEPUTY, D(10))
    with pytest.raises(ValidationError):
        services.seat_committee_member(user, tree["a2"], second, CommitteeRole.DEPUTY, D(5))
    with pytest.raises(ValidationError):
        services.end_committee_seat(user, seat1, D(91))  # before it started
    services.end_committee_seat(user, seat1, D(10))
    with pytest.raises(ValidationError):
        services.end_committee_seat(user, seat1)
    services.seat_committee_member(user, tree["a2"], second, CommitteeRole.SECRETARY, D(9))
    assert CommitteeMembership.objects.filter(role="secretary", ended_on__isnull=True).count() == 1


def test_committee_scope_kind_and_permission(tree, users):
    a_person, b_person = person(tree["a2"], "甲"), person(tree["b1"], "乙")
    with pytest.raises(PermissionDenied):
        services.seat_committee_member(users["comm_a"], tree["a2"], b_person, "member", D(1))
    with pytest.raises(PermissionDenied):
        services.seat_committee_member(users["comm_a"], tree["b1"], a_person, "member", D(1))
    with pytest.raises(PermissionDenied):  # secretaries only read committees
        services.seat_committee_member(users["secretary"], tree["a2"], a_person, "member", D(1))
    with pytest.raises(ValidationError) as error:
        services.seat_committee_member(users["comm_a"], tree["a2g"], a_person, "member", D(1))
    assert "org_unit" in error.value.message_dict
    with pytest.raises(ValidationError):
        services.seat_committee_member(users["comm_a"], tree["a2"], a_person, "emperor", D(1))


# ---- the top ten -----------------------------------------------------------------------------

MONTH = (TODAY.replace(day=1) - dt.timedelta(days=1)).replace(day=1)  # last month


@pytest.fixture
def secretaries(tree):
    """Sitting secretaries of A1, A1a, A2, B1 (street S1) and C1 (street S2)."""
    people = {}
    for code in ("a1", "a1a", "a2", "b1", "c1"):
        people[code] = person(tree[code], f"{code}书记")
        seat(tree[code], people[code], started_on=MONTH - dt.timedelta(days=400))
    return people


def _entries(tree, people, codes):
    return [{"rank": n, "person": people[code], "branch": tree[code], "citation": "带头办实事"}
            for n, code in enumerate(codes, start=1)]


def test_publish_top_ten(tree, users, secretaries):
    street = users["street"]
    selection = services.save_top_ten_selection(
        street, TopSecretarySelection(org_unit=tree["s1"], month=MONTH.replace(day=15)))
    assert selection.month == MONTH
    services.publish_top_ten(street, selection, _entries(tree, secretaries, ["a2", "b1", "a1a"]))
    selection.refresh_from_db()
    assert selection.published
    assert [(e.rank, e.person.name) for e in selection.entries.order_by("rank")] == [
        (1, "a2书记"), (2, "b1书记"), (3, "a1a书记")
    ]
    # Published: read-only, until street staff unpublish it.
    with pytest.raises(ValidationError):
        services.set_top_ten_entries(street, selection, _entries(tree, secretaries, ["a1"]))
    with pytest.raises(ValidationError):
        services.save_top_ten_selection(street, selection)
    with pytest.raises(PermissionDenied):
        services.unpublish_top_ten(users["comm_a"], selection)
    services.unpublish_top_ten(street, selection)
    services.set_top_ten_entries(street, selection, _entries(tree, secretaries, ["a1"]))
    assert list(selection.entries.values_list("person__name", flat=True)) == ["a1书记"]
    with pytest.raises(ValidationError):
        services.save_top_ten_selection(
            street, TopSecretarySelection(org_unit=tree["s1"], month=MONTH))  # once a month


def test_top_ten_validation(tree, users, secretaries):
    street = users["street"]
    selection = services.save_top_ten_selection(
        street, TopSecretarySelection(org_unit=tree["s1"], month=MONTH))
    good = _entries(tree, secretaries, ["a2", "b1"])

    def refused(entries, text):
        with pytest.raises(ValidationError) as error, override("en"):
            services.publish_top_ten(street, selection, entries)
        assert text in messages(error), messages(error)

    refused([], "at least one")
    refused([{**good[0], "rank": 2}, {**good[1], "rank": 3}], "without gaps")
    refused([good[0], {**good[1], "rank": 1}], "without gaps")
    refused([good[0], {**good[1], "person": secretaries["a2"]}], "only once")
    refused(_entries(tree, secretaries, ["a2", "c1"]), "is not in")  # C1 is in street S2
    refused([{**good[0], "branch": tree["a2g"]}], "choose a compound")
    # The person must be that branch's secretary during the month.
    refused([{**good[0], "branch": tree["a1"]}], "was not the secretary")
    CommitteeMembership.objects.filter(person=secretaries["b1"]).update(
        ended_on=MONTH - dt.timedelta(days=1))
    refused(good, "was not the secretary")
    CommitteeMembership.objects.filter(person=secretaries["b1"]).update(
        ended_on=MONTH + dt.timedelta(days=3))  # sat part of the month: fine
    many = [{"rank": n, "person": secretaries["a2"], "branch": tree["a2"]} for n in range(1, 12)]
    refused(many, "At most ten")
    services.publish_top_ten(street, selection, good)
    assert TopSecretaryEntry.objects.count() == 2


def test_top_ten_scope_and_kind(tree, users, secretaries):
    with pytest.raises(PermissionDenied):  # community staff only read the top ten
        services.save_top_ten_selection(
            users["comm_a"], TopSecretarySelection(org_unit=tree["s1"], month=MONTH))
    with pytest.raises(PermissionDenied):  # the district is above street S1's staff
        services.save_top_ten_selection(
            users["street"], TopSecretarySelection(org_unit=tree["district"], month=MONTH))
    with pytest.raises(ValidationError) as error:
        services.save_top_ten_selection(
            users["street"], TopSecretarySelection(org_unit=tree["a"], month=MONTH))
    assert "org_unit" in error.value.message_dict
    district = services.save_top_ten_selection(
        None, TopSecretarySelection(org_unit=tree["district"], month=MONTH))
    services.publish_top_ten(None, district, _entries(tree, secretaries, ["c1", "a2"]))
    with pytest.raises(PermissionDenied):
        services.unpublish_top_ten(users["street"], district)


# ---- the 五有 indicator -----------------------------------------------------------------------


def _row(rows, code):
    return next(row for row in rows if row.code == code)


def test_five_haves_all_and_nothing(tree):
    complete_branch(tree["a2"], tree["a2g"])
    queries, rows = count_queries(five_haves, Subtree.of(tree["s1"]))
    assert queries == 1
    assert [row.code for row in rows] == ["A1", "A1a", "A2", "B1"]
    assert _row(rows, "A2").all_five and _row(rows, "A2").count == 5
    assert _row(rows, "B1").count == 0
    summary = five_haves_summary(rows)
    assert summary == {"branches": 4, "all_five": 1, "has_org": 1, "has_venue": 1,
                       "has_ledger": 1, "has_contact": 1, "has_emergency_plan": 1}
    counts = five_haves_counts(Subtree.of(tree["s1"]), TODAY)
    assert {k: counts[k] for k in summary} == summary
    assert counts["active"] == 4


def _end_seat(tree):
    CommitteeMembership.objects.filter(org_unit=tree["a2"]).update(ended_on=D(1))


def _deactivate(tree):
    from party_org.models import OrgUnit

    OrgUnit.objects.filter(pk=tree["a2"].pk).update(is_active=False)


def _close_station(tree):
    ServiceStation.objects.filter(org_unit=tree["a2"]).delete()


def _future_station(tree):
    ServiceStation.objects.filter(org_unit=tree["a2"]).update(opened_on=TODAY + dt.timedelta(1))


def _members_leave(tree):
    from party_org.models import PartyMember

    PartyMember.objects.filter(org_unit__in=[tree["a2"], tree["a2g"]]).update(
        status=MemberStatus.TRANSFERRED_OUT)


def _end_assignment(tree):
    from party_org.models import PostAssignment

    PostAssignment.objects.update(ended_on=D(1))


def _post_inactive(tree):
    from party_org.models import Post

    Post.objects.update(is_active=False)


def _no_emergency_role(tree):
    from party_org.models import EmergencyRole

    EmergencyRole.objects.all().delete()


def _emergency_role_elsewhere(tree):
    from party_org.models import EmergencyRole

    EmergencyRole.objects.update(place=tree["a1"])


@pytest.mark.parametrize("breaker, have", [
    (_end_seat, "has_org"),
    (_deactivate, "has_org"),
    (_close_station, "has_venue"),
    (_future_station, "has_venue"),
    (_end_assignment, "has_contact"),
    (_post_inactive, "has_contact"),
    (_no_emergency_role, "has_emergency_plan"),
    (_emergency_role_elsewhere, "has_emergency_plan"),
])
def test_each_have_flips_on_its_own(tree, breaker, have):
    complete_branch(tree["a2"], tree["a2g"])
    before = _row(five_haves(Subtree.of(tree["a"])), "A2")
    assert before.all_five
    breaker(tree)
    after = _row(five_haves(Subtree.of(tree["a"])), "A2")
    assert not getattr(after, have)
    assert [name for name in ("has_org", "has_venue", "has_ledger", "has_contact",
                              "has_emergency_plan") if not getattr(after, name)] == [have]


def test_member_ledger_counts_the_whole_branch_subtree(tree):
    complete_branch(tree["a2"], tree["a2g"])
    _members_leave(tree)
    row = _row(five_haves(Subtree.of(tree["a"])), "A2")
    # Members who left no longer count for the ledger, nor hold posts or emergency roles.
    assert not row.has_ledger and not row.has_contact and not row.has_emergency_plan
    member(tree["a2g"], "新党员")  # a member of a building group counts for its branch
    assert _row(five_haves(Subtree.of(tree["a"])), "A2").has_ledger


def test_venue_of_the_community_or_general_branch_counts(tree):
    station(tree["a1"])  # the general branch's station serves its grid branch A1a
    rows = five_haves(Subtree.of(tree["a"]))
    assert [r.code for r in rows if r.has_venue] == ["A1", "A1a"]
    station(tree["a"])  # a community station serves every branch of the community
    rows = five_haves(Subtree.of(tree["s1"]))
    assert [r.code for r in rows if r.has_venue] == ["A1", "A1a", "A2"]


def test_five_haves_as_of_a_past_date(tree):
    secretary, resident = complete_branch(tree["a2"], tree["a2g"])
    CommitteeMembership.objects.update(started_on=D(10))
    from party_org.models import PostAssignment

    PostAssignment.objects.update(started_on=D(10))
    row = _row(five_haves(Subtree.of(tree["a"]), as_of=D(20)), "A2")
    assert not row.has_org and not row.has_contact and row.has_venue


def test_emergency_role_at_a_household_counts_and_posts_of_groups_do_not(tree):
    holder = member(tree["a2"], "赵")
    emergency_role(holder, tree["a2h"])
    post_with_assignment(tree["a2g"], holder)  # a post of the building group, not the branch
    row = _row(five_haves(Subtree.of(tree["a"])), "A2")
    assert row.has_emergency_plan and row.has_ledger and not row.has_contact


def test_five_haves_query_count_does_not_grow(tree):
    complete_branch(tree["a2"], tree["a2g"])
    small, _rows = count_queries(five_haves, Subtree.of(tree["b"]))
    for n in range(8):
        branch = make(tree["b"], OrgKind.BRANCH, f"BX{n}")
        group = make(branch, OrgKind.BUILDING_GROUP, f"BX{n}G")
        complete_branch(branch, group, name=f"B{n}")
    tree["b"].refresh_from_db()
    big, rows = count_queries(five_haves, Subtree.of(tree["b"]))
    assert small == big == 1 and len(rows) == 9 and sum(r.all_five for r in rows) == 8


# ---- figures ---------------------------------------------------------------------------------


def test_figures(tree, users, lists):
    complete_branch(tree["a2"], tree["a2g"])  # a station of 60 m² meeting 6 of 8 items
    station(tree["a1"], checklist=EIGHT, area="40.5")
    station(tree["c1"], area="100")  # another street
    seat(tree["a1"], person(tree["a1"], "钱"))
    services.record_fund_entry(None, tree["a2"], D(400), FundCategory.WORK_FUNDS, "5000", "上年")
    services.record_fund_entry(None, tree["a2"], D(10), FundCategory.RETURNED_FEES, "860", "党费")
    spent = services.record_fund_entry(None, tree["a2"], D(5), FundCategory.ACTIVITIES, "1200",
                                       "活动")
    services.record_fund_entry(None, tree["a2"], D(5), FundCategory.SERVICES, "100", "慰问")
    services.reverse_fund_entry(None, spent)
    services.match_need(None, lists["need"], lists["resource"])
    services.add_list_item(None, tree["a2"], ListKind.NEED, "修路灯")  # unmatched

    period = Period(D(30), TODAY)
    figures = {f["name"]: f for f in registry.compute(Subtree.of(tree["s1"]), period)}
    value = lambda name: figures[name]["value"]  # noqa: E731
    assert value("stations.count") == 2 and value("stations.area_m2") == 100.5
    assert (figures["stations.meeting_standard"]["numerator"],
            figures["stations.meeting_standard"]["denominator"]) == (1, 2)
    assert value("five_haves.coverage") == 0.25  # A2 of A1, A1a, A2, B1
    # Venues: A1 and A2 have stations, A1a uses its general branch's; B1 has none.
    assert value("five_haves.has_venue") == 0.75
    assert value("committees.sitting_secretary") == 0.5
    assert value("funds.income") == 860 and value("funds.spending") == 100
    assert value("funds.balance") == 5760
    assert value("co_building.active_agreements") == 1
    assert (figures["co_building.needs_matched"]["numerator"],
            figures["co_building.needs_matched"]["denominator"]) == (1, 2)
    # Community B's subtree sees none of it.
    figures_b = {f["name"]: f["value"] for f in registry.compute(Subtree.of(tree["b"]), period)}
    assert figures_b["stations.count"] == 0 and figures_b["funds.balance"] == 0
    assert figures_b["five_haves.coverage"] == 0 and figures_b["co_building.needs_matched"] is None
