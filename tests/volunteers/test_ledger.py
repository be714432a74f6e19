"""The points ledger: never negative, balance = sum of entries, idempotent keys, reversals once,
adjustments by two people, 公分 → 党员积分 only for retired members, post duties, star levels."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from party_org.models import MemberCategory, Post, PostAssignment, PostKind
from tests.conftest import _user
from volunteers import selectors
from volunteers.models import (
    EntryReason,
    PointsAccount,
    PointsAdjustment,
    PointsEntry,
    PointsKind,
)
from volunteers.services import ledger

from .conftest import fund, make_member, make_person

C, M = PointsKind.COMMUNITY, PointsKind.MEMBER


def test_the_balance_never_goes_below_zero(tree):
    person = make_person(tree["a2"], "张三")
    account = fund(person, 30)
    with pytest.raises(ValidationError) as err:
        ledger.post_entry(account, Decimal("-30.01"), EntryReason.SPEND, "k-over")
    assert "amount" in err.value.message_dict
    ledger.post_entry(account, Decimal("-30"), EntryReason.SPEND, "k-all")
    account.refresh_from_db()
    assert account.balance == 0
    assert PointsEntry.objects.filter(idempotency_key="k-over").count() == 0
    # The database refuses it as well, whatever the route.
    with pytest.raises(IntegrityError), transaction.atomic():
        PointsAccount.objects.filter(pk=account.pk).update(balance=Decimal("-1"))


def test_the_balance_is_the_sum_of_the_entries(tree):
    person = make_person(tree["a2"], "张三")
    account = fund(person, 100)
    for i, amount in enumerate(["12.5", "-40", "7.25", "-0.75"]):
        reason = EntryReason.SPEND if amount.startswith("-") else EntryReason.EARN_POST
        entry = ledger.post_entry(account, Decimal(amount), reason, f"sum-{i}")
        assert entry.balance_after == account.balance
    account.refresh_from_db()
    assert account.balance == Decimal("79.00")
    assert selectors.ledger_mismatches() == []
    # A balance written behind the ledger's back is found, in one query.
    PointsAccount.objects.filter(pk=account.pk).update(balance=Decimal("80"))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        mismatches = selectors.ledger_mismatches()
    assert len(queries) == 1
    assert mismatches == [(account.pk, Decimal("80.00"), Decimal("79.00"))]


def test_replaying_a_key_ten_times_pays_once(tree):
    person = make_person(tree["a2"], "张三")
    account = ledger.account_for(person, C)
    entries = [
        ledger.post_entry(account, Decimal("5"), EntryReason.EARN_HOURS, "retry-1")
        for _ in range(10)
    ]
    assert len({e.pk for e in entries}) == 1
    assert [e.replayed for e in entries] == [False] + [True] * 9
    account.refresh_from_db()
    assert account.balance == Decimal("5.00")
    # The same key for a different entry is an error, not a silent replay.
    with pytest.raises(ValidationError) as err:
        ledger.post_entry(account, Decimal("6"), EntryReason.EARN_HOURS, "retry-1")
    assert "idempotency_key" in err.value.message_dict
    with pytest.raises(ValidationError):
        ledger.post_entry(account, Decimal("5"), EntryReason.EARN_HOURS, "")
    with pytest.raises(IntegrityError), transaction.atomic():
        PointsEntry.objects.create(account=account, amount=1, balance_after=6,
                                   reason=EntryReason.EARN_HOURS, idempotency_key="retry-1",
                                   created_at=entries[0].created_at)


def test_entries_are_append_only(tree):
    account = fund(make_person(tree["a2"], "张三"), 10)
    entry = account.entries.get()
    entry.amount = Decimal("1000")
    with pytest.raises(ValidationError):
        entry.save()
    with pytest.raises(ValidationError):
        entry.delete()


def test_a_reversal_happens_once(tree, users):
    person = make_person(tree["a2"], "张三")
    account = fund(person, 20)
    earned = account.entries.get()
    with pytest.raises(ValidationError) as err:
        ledger.reverse_entry(users["comm_a"], earned, note=" ")
    assert "note" in err.value.message_dict
    # Secretaries ask for corrections; the community approves them.
    with pytest.raises(PermissionDenied):
        ledger.reverse_entry(users["secretary"], earned, note="记错了")
    with pytest.raises(PermissionDenied):
        ledger.reverse_entry(users["comm_b"], earned, note="记错了")
    with pytest.raises(PermissionDenied):
        ledger.reverse_entry(None, earned, note="记错了")
    reversal = ledger.reverse_entry(users["comm_a"], earned, note="记错了")
    assert reversal.amount == Decimal("-20.00") and reversal.reverses == earned
    again = ledger.reverse_entry(users["comm_a"], earned, note="再来一次")
    assert again.pk == reversal.pk and again.replayed
    with pytest.raises(ValidationError):
        ledger.reverse(earned, "another-key")
    with pytest.raises(ValidationError):
        ledger.reverse_entry(users["comm_a"], reversal, note="反冲反冲")
    account.refresh_from_db()
    assert account.balance == 0 and account.entries.count() == 2
    assert selectors.ledger_mismatches() == []


def test_a_reversal_that_would_go_negative_is_refused(tree, users):
    person = make_person(tree["a2"], "张三")
    account = fund(person, 20)
    ledger.post_entry(account, Decimal("-15"), EntryReason.SPEND, "spent")
    with pytest.raises(ValidationError):
        ledger.reverse_entry(users["comm_a"], account.entries.get(reason=EntryReason.EARN_HOURS),
                             note="记错了")
    spend = account.entries.get(reason=EntryReason.SPEND)
    with pytest.raises(ValidationError):
        ledger.reverse_entry(users["comm_a"], spend, note="退回")


def test_an_adjustment_needs_a_reason_and_a_second_person(tree, users):
    person = make_person(tree["a2"], "张三")
    with pytest.raises(ValidationError) as err:
        ledger.request_adjustment(users["secretary"], person, C, "25", "")
    assert "reason" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        ledger.request_adjustment(users["secretary"], person, C, "abc", "补录")
    assert "amount" in err.value.message_dict
    with pytest.raises(PermissionDenied):
        ledger.request_adjustment(users["comm_b"], person, C, "25", "补录")
    with pytest.raises(PermissionDenied):
        ledger.request_adjustment(None, person, C, "25", "补录")
    request = ledger.request_adjustment(users["comm_a"], person, C, "25", "补录三月活动")
    assert person.points_accounts.get().balance == 0
    with pytest.raises(PermissionDenied):
        ledger.approve_adjustment(users["comm_a"], request)
    with pytest.raises(PermissionDenied):
        ledger.approve_adjustment(users["secretary"], request)
    with pytest.raises(PermissionDenied):
        ledger.approve_adjustment(users["comm_b"], request)
    ledger.approve_adjustment(users["street"], request)
    assert request.status == PointsAdjustment.Status.APPROVED
    entry = request.entry
    assert entry.reason == EntryReason.ADJUSTMENT and entry.approver == users["street"]
    assert entry.created_by == users["comm_a"] and entry.amount == Decimal("25.00")
    with pytest.raises(ValidationError):
        ledger.approve_adjustment(users["street"], request)
    # A negative adjustment beyond the balance is refused on approval.
    down = ledger.request_adjustment(users["comm_a"], person, C, "-30", "多记了")
    with pytest.raises(ValidationError):
        ledger.approve_adjustment(users["street"], down)
    with pytest.raises(ValidationError):
        ledger.reject_adjustment(users["street"], down, "")
    ledger.reject_adjustment(users["street"], down, "余额不足")
    assert down.status == PointsAdjustment.Status.REJECTED
    # The database holds the two-person rule too.
    with pytest.raises(IntegrityError), transaction.atomic():
        PointsEntry.objects.create(
            account=entry.account, amount=1, balance_after=26, reason=EntryReason.ADJUSTMENT,
            idempotency_key="self-approved", created_by=users["comm_a"],
            approver=users["comm_a"], created_at=entry.created_at,
        )


def test_conversion_at_the_rate_only_for_retired_members(tree, users, retired, member, settings):
    settings.POINTS_CONVERSION_RATE = Decimal("10")
    fund(retired, 100)
    out, into = ledger.convert_community_to_member(None, retired, "55", idempotency_key="c1")
    assert (out.amount, into.amount) == (Decimal("-55.00"), Decimal("5.50"))
    assert selectors.balances(retired) == {C: Decimal("45.00"), M: Decimal("5.50")}
    # Replayed with the same key: nothing moves again.
    again = ledger.convert_community_to_member(None, retired, "55", idempotency_key="c1")
    assert all(e.replayed for e in again)
    assert selectors.balances(retired) == {C: Decimal("45.00"), M: Decimal("5.50")}
    with pytest.raises(ValidationError) as err:
        ledger.convert_community_to_member(None, retired, "0.05")
    assert "amount" in err.value.message_dict
    with pytest.raises(ValidationError):
        ledger.convert_community_to_member(None, retired, "50")  # only 45 left
    settings.POINTS_CONVERSION_RATE = Decimal("5")
    ledger.convert_community_to_member(users["secretary"], retired, "45")
    assert selectors.balances(retired) == {C: Decimal("0.00"), M: Decimal("14.50")}

    fund(member, 100)
    with pytest.raises(ValidationError):
        ledger.convert_community_to_member(None, member, "10")
    plain = make_person(tree["a2"], "居民")
    fund(plain, 100)
    with pytest.raises(ValidationError):
        ledger.convert_community_to_member(None, plain, "10")
    with pytest.raises(PermissionDenied):
        ledger.convert_community_to_member(users["comm_b"], retired, "10")
    assert selectors.ledger_mismatches() == []
    # Conversions cannot be reversed one leg at a time.
    with pytest.raises(ValidationError):
        ledger.reverse_entry(users["comm_a"], into, note="撤销")


def test_earning_kind_follows_the_member_category(tree, member, retired, volunteer, settings):
    assert ledger.earning_kind(member) == M
    assert ledger.earning_kind(retired) == C
    assert ledger.earning_kind(volunteer) == C
    direct = make_member(tree["a2"], "直管", MemberCategory.DIRECT)
    assert ledger.earning_kind(direct) == M
    settings.POINTS_MEMBER_CATEGORIES = ["in_service"]
    assert ledger.earning_kind(direct) == C


def test_post_duty_pays_once_per_day(tree, users, member):
    post = Post.objects.create(org_unit=tree["a2"], kind=PostKind.HEALTH, name="健康咨询岗",
                               duties="每周义诊")
    today = dt.date.today()
    assignment = PostAssignment.objects.create(post=post, member=member.membership,
                                               started_on=today - dt.timedelta(days=30))
    day = today - dt.timedelta(days=1)
    first = ledger.earn_for_post_duty(users["secretary"], assignment, served_on=day)
    second = ledger.earn_for_post_duty(users["secretary"], assignment, served_on=day)
    assert first.pk == second.pk and second.replayed
    assert first.reason == EntryReason.EARN_POST and first.account.kind == M
    ledger.earn_for_post_duty(users["secretary"], assignment, served_on=today, amount="8")
    assert selectors.balances(member)[M] == Decimal("13.00")
    with pytest.raises(ValidationError) as err:
        ledger.earn_for_post_duty(users["secretary"], assignment,
                                  served_on=today - dt.timedelta(days=31))
    assert "served_on" in err.value.message_dict
    with pytest.raises(ValidationError):
        ledger.earn_for_post_duty(users["secretary"], assignment,
                                  served_on=today + dt.timedelta(days=1))
    with pytest.raises(ValidationError):
        ledger.earn_for_post_duty(users["secretary"], assignment, served_on=today, amount="-3")
    with pytest.raises(PermissionDenied):
        ledger.earn_for_post_duty(users["comm_b"], assignment, served_on=day)
    grid = _user("grid_a2", "grid_worker", tree["a2"])
    with pytest.raises(PermissionDenied):
        ledger.earn_for_post_duty(grid, assignment, served_on=day)


@pytest.mark.parametrize(
    "points, stars",
    [(0, 0), (49.99, 0), (50, 1), (150, 2), (200, 3), (799, 4), (800, 5), (10000, 5)],
)
def test_star_levels_from_thresholds(points, stars, settings):
    settings.POINTS_STAR_THRESHOLDS = [Decimal(v) for v in (50, 100, 200, 400, 800)]
    assert ledger.star_level(Decimal(str(points))) == stars


def test_stars_count_lifetime_points_not_the_balance(tree, users, settings):
    settings.POINTS_STAR_THRESHOLDS = [Decimal(v) for v in (50, 100, 200, 400, 800)]
    person = make_person(tree["a2"], "张三")
    account = fund(person, 120)
    ledger.post_entry(account, Decimal("-100"), EntryReason.SPEND, "spent")
    assert selectors.lifetime_points(person, C) == Decimal("120.00")
    assert selectors.star_for(person, C) == 2
    extra = fund(person, 100, key="more")
    ledger.reverse_entry(users["comm_a"], extra.entries.get(idempotency_key="more"), note="错")
    assert selectors.lifetime_points(person, C) == Decimal("120.00")


def test_points_earned_for_reports(tree, member, retired):
    fund(member, 30, kind=M)
    fund(retired, 12)
    today = dt.date.today()
    earned = selectors.points_earned([member.pk, retired.pk], today, today)
    assert earned == {member.pk: {M: Decimal("30.00")}, retired.pk: {C: Decimal("12.00")}}
    assert selectors.points_earned([member.pk], today - dt.timedelta(days=9),
                                   today - dt.timedelta(days=1)) == {}
