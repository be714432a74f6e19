"""The points mall: stock, limits, validity, idempotent redemption, cancellation returning
points and stock, codes marked used by their merchant only and only once."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from party_org.models import AuditEntry
from tests.conftest import _user
from volunteers import selectors
from volunteers.models import (
    EntryReason,
    Merchant,
    PointsEntry,
    PointsKind,
    Redemption,
    RedemptionStatus,
    RewardItem,
)
from volunteers.services import mall as services

from .conftest import fund, make_person

C = PointsKind.COMMUNITY


@pytest.fixture
def merchant(tree, users):
    shop = services.save_merchant(users["comm_a"], Merchant(org_unit=tree["a"], name="惠民理发店"))
    login = _user("barber")
    services.add_merchant_user(users["comm_a"], shop, login)
    shop.login = login
    return shop


@pytest.fixture
def item(merchant, users):
    return services.save_reward_item(users["comm_a"], RewardItem(
        merchant=merchant, name="理发一次", points_price=Decimal("20"), stock=3,
        discount_note="理发八折", per_person_limit=2,
    ))


@pytest.fixture
def buyer(tree):
    person = make_person(tree["a2"], "张三")
    fund(person, 100)
    return person


def balance(person, kind=C):
    return selectors.balances(person)[kind]


def test_a_redemption_takes_points_and_stock_and_issues_a_code(item, buyer):
    redemption = services.redeem(None, item, buyer, idempotency_key="r1")
    item.refresh_from_db()
    assert item.stock == 2 and balance(buyer) == Decimal("80.00")
    assert redemption.status == RedemptionStatus.ISSUED and len(redemption.code) == 12
    assert redemption.points == Decimal("20") and not redemption.replayed
    assert redemption.spend_entry.reason == EntryReason.SPEND
    assert redemption.spend_entry.amount == Decimal("-20.00")
    # The same request again pays nothing and returns the same code.
    for _ in range(9):
        again = services.redeem(None, item, buyer, idempotency_key="r1")
        assert again.pk == redemption.pk and again.replayed
    item.refresh_from_db()
    assert item.stock == 2 and balance(buyer) == Decimal("80.00")
    with pytest.raises(ValidationError) as err:
        services.redeem(None, item, buyer, quantity=2, idempotency_key="r1")
    assert "idempotency_key" in err.value.message_dict
    assert selectors.ledger_mismatches() == []


def test_the_limit_per_person_counts_what_is_not_cancelled(item, buyer):
    first = services.redeem(None, item, buyer, quantity=2)
    with pytest.raises(ValidationError) as err:
        services.redeem(None, item, buyer)
    assert "quantity" in err.value.message_dict
    services.cancel_redemption(None, first, person=buyer)
    services.redeem(None, item, buyer)
    assert balance(buyer) == Decimal("80.00")


def test_stock_runs_out_and_never_goes_below_zero(item, tree):
    people = [make_person(tree["a2"], f"居民{i}") for i in range(4)]
    for person in people:
        fund(person, 100)
    for person in people[:3]:
        services.redeem(None, item, person)
    with pytest.raises(ValidationError) as err:
        services.redeem(None, item, people[3])
    assert "quantity" in err.value.message_dict
    item.refresh_from_db()
    assert item.stock == 0 and balance(people[3]) == Decimal("100.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        RewardItem.objects.filter(pk=item.pk).update(stock=-1)


def test_not_enough_points_takes_nothing(item, tree):
    poor = make_person(tree["a2"], "李四")
    fund(poor, 19)
    with pytest.raises(ValidationError) as err:
        services.redeem(None, item, poor)
    assert "amount" in err.value.message_dict
    item.refresh_from_db()
    assert item.stock == 3 and Redemption.objects.count() == 0
    assert balance(poor) == Decimal("19.00")


def test_validity_dates_and_offer(item, buyer, users):
    today = dt.date.today()
    item.valid_from = today + dt.timedelta(days=1)
    services.save_reward_item(users["comm_a"], item)
    with pytest.raises(ValidationError) as err:
        services.redeem(None, item, buyer)
    assert "item" in err.value.message_dict
    item.valid_from, item.valid_until = today - dt.timedelta(days=10), today - dt.timedelta(days=1)
    services.save_reward_item(users["comm_a"], item)
    with pytest.raises(ValidationError):
        services.redeem(None, item, buyer)
    item.valid_until = today
    item.is_active = False
    services.save_reward_item(users["comm_a"], item)
    with pytest.raises(ValidationError):
        services.redeem(None, item, buyer)
    item.is_active = True
    services.save_reward_item(users["comm_a"], item)
    services.redeem(None, item, buyer)
    item.valid_until = today - dt.timedelta(days=20)
    with pytest.raises(ValidationError):
        services.save_reward_item(users["comm_a"], item)


@pytest.mark.parametrize("quantity", [0, -1, 21, "x", None])
def test_bad_quantities_are_refused(item, buyer, quantity):
    with pytest.raises(ValidationError) as err:
        services.redeem(None, item, buyer, quantity=quantity)
    assert "quantity" in err.value.message_dict


def test_an_item_is_paid_in_its_own_kind_of_points(merchant, users, member):
    item = services.save_reward_item(users["comm_a"], RewardItem(
        merchant=merchant, name="党员书屋借阅卡", points_price=Decimal("5"), stock=10,
        points_kind=PointsKind.MEMBER,
    ))
    fund(member, 50, kind=C)
    with pytest.raises(ValidationError):
        services.redeem(None, item, member)
    fund(member, 5, kind=PointsKind.MEMBER)
    services.redeem(None, item, member)
    assert selectors.balances(member) == {C: Decimal("50.00"), PointsKind.MEMBER: 0}


def test_cancelling_returns_points_and_stock_once(item, buyer, users):
    redemption = services.redeem(None, item, buyer, quantity=2)
    assert balance(buyer) == Decimal("60.00")
    other = make_person(buyer.org_unit, "别人")
    with pytest.raises(PermissionDenied):
        services.cancel_redemption(None, redemption, person=other)
    with pytest.raises(PermissionDenied):
        services.cancel_redemption(users["comm_b"], redemption)
    with pytest.raises(PermissionDenied):
        services.cancel_redemption(users["secretary"], redemption)  # views the mall only
    services.cancel_redemption(users["comm_a"], redemption)
    item.refresh_from_db()
    assert redemption.status == RedemptionStatus.CANCELLED
    assert item.stock == 3 and balance(buyer) == Decimal("100.00")
    assert redemption.refund_entry.reverses == redemption.spend_entry
    with pytest.raises(ValidationError):
        services.cancel_redemption(None, redemption, person=buyer)
    assert PointsEntry.objects.filter(reason=EntryReason.REVERSAL).count() == 1
    assert AuditEntry.objects.filter(model="volunteers.redemption",
                                     action=AuditEntry.Action.UPDATE).count() == 1
    assert selectors.ledger_mismatches() == []


def test_a_code_is_marked_used_by_its_merchant_only_once(item, buyer, merchant, tree, users):
    redemption = services.redeem(None, item, buyer)
    other_shop = services.save_merchant(users["comm_a"], Merchant(org_unit=tree["a"], name="超市"))
    stranger = _user("grocer")
    services.add_merchant_user(users["comm_a"], other_shop, stranger)
    code = redemption.code
    with pytest.raises(ValidationError) as err:
        services.mark_used(stranger, code)
    assert "code" in err.value.message_dict
    with pytest.raises(PermissionDenied):
        services.mark_used(None, code)
    # Staff are not the merchant either.
    with pytest.raises(ValidationError):
        services.mark_used(users["comm_a"], code)
    with pytest.raises(ValidationError):
        services.mark_used(merchant.login, "NOSUCHCODE22")
    used = services.mark_used(merchant.login, f"{code[:4].lower()}-{code[4:]}")
    assert used.status == RedemptionStatus.USED and used.used_by == merchant.login
    with pytest.raises(ValidationError) as err:
        services.mark_used(merchant.login, code)
    assert "code" in err.value.message_dict
    # A used code cannot be cancelled, and a cancelled one cannot be used.
    with pytest.raises(ValidationError):
        services.cancel_redemption(None, used, person=buyer)
    second = services.redeem(None, item, buyer)
    services.cancel_redemption(None, second, person=buyer)
    with pytest.raises(ValidationError):
        services.mark_used(merchant.login, second.code)
    assert list(selectors.redemptions_for_merchant_user(merchant.login)) == [second, used]
    assert list(selectors.redemptions_for_merchant_user(stranger)) == []
    services.remove_merchant_user(users["comm_a"], merchant, merchant.login)
    third = services.redeem(None, item, buyer)
    with pytest.raises(ValidationError):
        services.mark_used(merchant.login, third.code)


def test_staff_manage_the_mall_in_scope(tree, users, merchant, item, buyer):
    with pytest.raises(PermissionDenied):
        services.save_merchant(users["comm_b"], Merchant(org_unit=tree["a"], name="外面的店"))
    with pytest.raises(PermissionDenied):
        services.save_merchant(users["secretary"], Merchant(org_unit=tree["a"], name="支部的店"))
    with pytest.raises(PermissionDenied):
        services.save_reward_item(users["comm_b"], item)
    with pytest.raises(PermissionDenied):
        services.add_merchant_user(users["comm_b"], merchant, users["nobody"])
    with pytest.raises(PermissionDenied):
        services.redeem(users["comm_b"], item, buyer)
    with pytest.raises(PermissionDenied):
        services.redeem(users["secretary"], item, buyer)
    redemption = services.redeem(users["comm_a"], item, buyer)
    assert redemption.status == RedemptionStatus.ISSUED
    with pytest.raises(ValidationError):
        services.save_reward_item(users["comm_a"], RewardItem(
            merchant=merchant, name="负价", points_price=Decimal("-1"), stock=1))
