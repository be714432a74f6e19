"""The points mall: merchants and items, redemption, marking codes used, cancelling.

A redemption takes the points and the stock in ONE transaction that locks the item row first and
the account row second (every path that locks both does so in this order, so they never
deadlock), and replays of its idempotency key return the first redemption.
"""

import uuid

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from grids.models.events import new_tracking_code

from ..models import Merchant, PointsAccount, Redemption, RedemptionStatus, RewardItem
from . import ledger
from ._common import (
    CREATE,
    UPDATE,
    is_user,
    now,
    record,
    require,
    require_scope,
    require_staff,
    sync,
    text,
)

MERCHANT_FIELDS = ("name", "org_unit", "contact_name", "contact_phone", "address", "is_active")
ITEM_FIELDS = ("merchant", "name", "description", "points_price", "points_kind", "stock",
               "valid_from", "valid_until", "discount_note", "per_person_limit", "is_active")
MAX_QUANTITY = 20


def _snapshot(obj, fields):
    from party_org import audit

    return audit.snapshot(obj, fields)


# ---- merchants and items (staff) ---------------------------------------------------------------


def save_merchant(user, merchant):
    creating = merchant.pk is None
    require(user, f"volunteers.{'add' if creating else 'change'}_merchant")
    with transaction.atomic():
        before = None
        if not creating:
            stored = Merchant.objects.select_for_update().filter(pk=merchant.pk).first()
            if stored is None:
                raise ValidationError(_("This merchant no longer exists."))
            require_scope(user, stored.org_unit, _("This merchant is outside your organisation."))
            before = _snapshot(stored, MERCHANT_FIELDS)
        if merchant.org_unit_id is None:
            raise ValidationError({"org_unit": [_("Choose the street or community.")]})
        require_scope(user, merchant.org_unit, _("This unit is outside your organisation."))
        merchant.full_clean()
        merchant.save()
        after = _snapshot(merchant, MERCHANT_FIELDS)
        changes = after if before is None else {
            k: [before.get(k), v] for k, v in after.items() if before.get(k) != v
        }
        if changes:
            record(user, CREATE if creating else UPDATE, merchant, merchant.org_unit,
                   _("Merchant “%(name)s” saved") % {"name": merchant.name}, changes)
    return merchant


def add_merchant_user(user, merchant, merchant_user):
    """Give a login the right to mark this merchant's codes used."""
    require_staff(user, "volunteers.change_merchant", merchant.org_unit,
                  _("This merchant is outside your organisation."))
    if merchant_user is None or not merchant_user.is_active:
        raise ValidationError({"users": [_("Choose an active login.")]})
    with transaction.atomic():
        merchant.users.add(merchant_user)
        record(user, UPDATE, merchant, merchant.org_unit,
               _("Login %(login)s may mark codes of “%(name)s”")
               % {"login": merchant_user.get_username(), "name": merchant.name})


def remove_merchant_user(user, merchant, merchant_user):
    require_staff(user, "volunteers.change_merchant", merchant.org_unit,
                  _("This merchant is outside your organisation."))
    with transaction.atomic():
        merchant.users.remove(merchant_user)
        record(user, UPDATE, merchant, merchant.org_unit,
               _("Login %(login)s may no longer mark codes of “%(name)s”")
               % {"login": merchant_user.get_username(), "name": merchant.name})


def save_reward_item(user, item):
    """Create or change an item; stock is set here (redemptions move it by themselves)."""
    creating = item.pk is None
    require(user, f"volunteers.{'add' if creating else 'change'}_rewarditem")
    with transaction.atomic():
        before = None
        if not creating:
            stored = (RewardItem.objects.select_for_update(of=("self",))
                      .select_related("merchant__org_unit").filter(pk=item.pk).first())
            if stored is None:
                raise ValidationError(_("This item no longer exists."))
            require_scope(user, stored.merchant.org_unit,
                          _("This item is outside your organisation."))
            before = _snapshot(stored, ITEM_FIELDS)
        if item.merchant_id is None:
            raise ValidationError({"merchant": [_("Choose the merchant.")]})
        require_scope(user, item.merchant.org_unit,
                      _("This merchant is outside your organisation."))
        item.full_clean()
        item.save()
        after = _snapshot(item, ITEM_FIELDS)
        changes = after if before is None else {
            k: [before.get(k), v] for k, v in after.items() if before.get(k) != v
        }
        if changes:
            record(user, CREATE if creating else UPDATE, item, item.merchant.org_unit,
                   _("Reward item “%(name)s” saved") % {"name": item.name}, changes)
    return item


# ---- redemption --------------------------------------------------------------------------------


def _replayed(key):
    redemption = Redemption.objects.filter(idempotency_key=key).first()
    if redemption is not None:
        redemption.replayed = True
    return redemption


def redeem(user, item, person, *, quantity=1, idempotency_key=None, at=None):
    """Spend `person`'s points on `quantity` of `item`; returns the Redemption with its one-time
    code (`.replayed` is True when the key had been used and nothing was taken again).

    `user` None is the person on their own page; staff may redeem for someone in their scope.
    """
    at = at or now()
    if person is None:
        raise ValidationError({"person": [_("Say who redeems the points.")]})
    try:
        quantity = int(quantity)
    except (TypeError, ValueError):
        quantity = 0
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ValidationError(
            {"quantity": [_("Redeem 1 to %(n)d at a time.") % {"n": MAX_QUANTITY}]}
        )
    key = text(idempotency_key) or uuid.uuid4().hex
    if len(key) > 80:
        raise ValidationError({"idempotency_key": [_("The request key is too long.")]})
    if user is not None:
        require(user, "volunteers.add_redemption")
        # Checked before any replay, so a key never hands out a redemption outside the scope.
        require_scope(user, item.merchant.org_unit, _("This item is outside your organisation."))
        require_scope(user, person.org_unit, _("This person is outside your organisation."))
    with transaction.atomic():
        existing = _replayed(key)
        if existing is not None:
            return _check_replay(existing, item, person, quantity)
        current = (
            RewardItem.objects.select_related("merchant__org_unit").filter(pk=item.pk).first()
        )
        if current is None:
            raise ValidationError({"item": [_("This item no longer exists.")]})
        today = timezone.localdate(at)
        if not (current.is_active and current.merchant.is_active):
            raise ValidationError({"item": [_("This item is not on offer.")]})
        if not current.is_valid_on(today):
            raise ValidationError({"item": [_("This item cannot be redeemed today.")]})
        account = ledger.account_for(person, current.points_kind)
        # Locks in one order everywhere: the person's account, then the item's row, and the item
        # (everyone's hot row) as late as possible so its lock is held only until the commit.
        PointsAccount.objects.select_for_update().filter(pk=account.pk).first()
        # A request with the same key may have committed while we waited for the account.
        existing = _replayed(key)
        if existing is not None:
            return _check_replay(existing, item, person, quantity)
        if current.per_person_limit is not None:
            # Race-free: this person's redemptions are serialised by the account lock.
            taken = (
                Redemption.objects.filter(item=current, person_id=person.pk)
                .exclude(status=RedemptionStatus.CANCELLED)
                .aggregate(n=Sum("quantity"))["n"] or 0
            )
            if taken + quantity > current.per_person_limit:
                raise ValidationError({"quantity": [
                    _("At most %(n)d per person; you have %(taken)d already.")
                    % {"n": current.per_person_limit, "taken": taken}
                ]})
        points = current.points_price * quantity
        entry = ledger.spend(account, points, f"redeem:{key}", reference=current,
                             user=user if is_user(user) else None,
                             note=f"{current.name} ×{quantity}", at=at)
        if entry.replayed:
            # Only a concurrent request reusing the key for another item gets here.
            raise ValidationError({"idempotency_key": [
                _("This request key was already used for another redemption.")
            ]})
        redemption = _create_redemption(
            item=current, person=person, account=account, quantity=quantity, points=points,
            idempotency_key=key, spend_entry=entry, created_at=at,
        )
        record(user, CREATE, redemption, current.merchant.org_unit,
               _("%(name)s redeemed %(item)s ×%(n)d") % {
                   "name": person.name, "item": current.name, "n": quantity},
               {"points": str(points), "quantity": quantity})
        # Last: a conditional update never takes stock below zero; when it moves nothing, the
        # error rolls back the points and the redemption above.
        moved = RewardItem.objects.filter(pk=current.pk, stock__gte=quantity).update(
            stock=F("stock") - quantity
        )
        if not moved:
            raise ValidationError({"quantity": [_("Not enough left in stock.")]})
    redemption.replayed = False
    return redemption


def _check_replay(existing, item, person, quantity):
    if (existing.item_id, existing.person_id, existing.quantity) != (item.pk, person.pk, quantity):
        raise ValidationError(
            {"idempotency_key": [_("This request key was already used for another redemption.")]}
        )
    return existing


def _create_redemption(**fields):
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Redemption.objects.create(code=new_tracking_code(), **fields)
        except IntegrityError:
            # 60 random bits make a clash all but impossible; a key clash is a real error.
            if Redemption.objects.filter(idempotency_key=fields["idempotency_key"]).exists():
                raise
    raise IntegrityError("could not draw a unique redemption code")


def normalise_code(code):
    return text(code).upper().replace(" ", "").replace("-", "")


def mark_used(merchant_user, code, at=None):
    """The merchant marks a code used on its own page: once, only for its own items, and not
    after the item's validity has ended."""
    at = at or now()
    if not is_user(merchant_user):
        raise PermissionDenied(_("Log in as the merchant."))
    code = normalise_code(code)
    with transaction.atomic():
        redemption = (
            Redemption.objects.select_for_update(of=("self",))
            .select_related("item__merchant").filter(code=code).first() if code else None
        )
        if redemption is None:
            raise ValidationError({"code": [_("No redemption has this code.")]})
        if not redemption.item.merchant.users.filter(pk=merchant_user.pk).exists():
            # Same answer as an unknown code: a merchant learns nothing of others' codes.
            raise ValidationError({"code": [_("No redemption has this code.")]})
        if redemption.status == RedemptionStatus.USED:
            raise ValidationError({"code": [_("This code has already been used.")]})
        if redemption.status == RedemptionStatus.CANCELLED:
            raise ValidationError({"code": [_("This redemption was cancelled.")]})
        if is_expired(redemption, at):
            raise ValidationError({"code": [
                _("This code has expired: the item could be used until %(day)s.")
                % {"day": redemption.item.valid_until.isoformat()}
            ]})
        redemption.status, redemption.used_at = RedemptionStatus.USED, at
        redemption.used_by = merchant_user
        redemption.save(update_fields=["status", "used_at", "used_by"])
        record(merchant_user, UPDATE, redemption, redemption.item.merchant.org_unit,
               _("Redemption %(code)s used") % {"code": redemption.code}, {"status": "used"})
    return redemption


def cancel_redemption(user, redemption, *, person=None, at=None):
    """Cancel an unused redemption: the points come back by a reversal entry and so does the
    stock. `user` None is its person on their own page; staff need the permission and scope."""
    at = at or now()
    with transaction.atomic():
        fresh = (
            Redemption.objects.select_for_update(of=("self",))
            .select_related("item__merchant__org_unit", "spend_entry__account")
            .filter(pk=redemption.pk).first()
        )
        if fresh is None:
            raise ValidationError(_("This redemption no longer exists."))
        if user is None:
            if person is None or person.pk != fresh.person_id:
                raise PermissionDenied(_("Only the person who redeemed can cancel."))
        else:
            require_staff(user, "volunteers.change_redemption", fresh.item.merchant.org_unit,
                          _("This redemption is outside your organisation."))
        if fresh.status != RedemptionStatus.ISSUED:
            raise ValidationError(_("Only an unused redemption can be cancelled."))
        # The account (inside the reversal), then the item: the order redeem() uses.
        refund = ledger.reverse(fresh.spend_entry, f"redemption-cancel:{fresh.pk}",
                                user=user if is_user(user) else None,
                                note=_("Redemption %(code)s cancelled") % {"code": fresh.code},
                                at=at)
        RewardItem.objects.filter(pk=fresh.item_id).update(stock=F("stock") + fresh.quantity)
        fresh.status, fresh.cancelled_at = RedemptionStatus.CANCELLED, at
        fresh.cancelled_by = user if is_user(user) else None
        fresh.refund_entry = refund
        fresh.save(update_fields=["status", "cancelled_at", "cancelled_by", "refund_entry"])
        record(user, UPDATE, fresh, fresh.item.merchant.org_unit,
               _("Redemption %(code)s cancelled") % {"code": fresh.code},
               {"status": "cancelled"})
    return sync(redemption, fresh)


def may_mark(merchant_user, redemption):
    return is_user(merchant_user) and redemption.item.merchant.users.filter(
        pk=merchant_user.pk
    ).exists()


def is_expired(redemption, at=None):
    """An unused code whose item's validity has ended: the merchant no longer honours it."""
    valid_until = redemption.item.valid_until
    return (
        redemption.status == RedemptionStatus.ISSUED and valid_until is not None
        and valid_until < timezone.localdate(at or now())
    )
