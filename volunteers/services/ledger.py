"""The points ledger: every balance change goes through `post_entry`.

`post_entry` locks the account row, refuses a balance below zero, inserts the entry and writes the
new balance in one transaction, so a balance always equals the sum of its entries. Every entry
carries an idempotency key: posting a key again returns the first entry and pays nothing, even
when two requests with the same key race (the unique index decides; the loser re-reads).
"""

import uuid
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from party_org.models import MemberCategory, MemberStatus, PartyMember

from ..models import (
    EARN_REASONS,
    EntryReason,
    PointsAccount,
    PointsAdjustment,
    PointsEntry,
    PointsKind,
)
from ._common import (
    CENT,
    CREATE,
    UPDATE,
    now,
    points_value,
    raise_errors,
    record,
    require,
    require_scope,
    setting,
    sync,
    text,
)

R = EntryReason
ENTRY_PERM = "volunteers.add_pointsentry"
REQUEST_PERM = "volunteers.add_pointsadjustment"
APPROVE_PERM = "volunteers.approve_pointsadjustment"
# Entries a staff reversal may undo; spending is undone by cancelling the redemption, and a
# conversion's two legs only together.
REVERSIBLE = (*EARN_REASONS, R.ADJUSTMENT)


# ---- accounts ----------------------------------------------------------------------------------


def earning_kind(person):
    """公分 or 党员积分: active members of POINTS_MEMBER_CATEGORIES earn 积分; everyone else,
    retired members included (their 公分 convert), earns 公分."""
    categories = setting("POINTS_MEMBER_CATEGORIES", ["direct", "mobile", "in_service"])
    is_member = PartyMember.objects.filter(
        person_id=person.pk, status=MemberStatus.ACTIVE, category__in=categories
    ).exists()
    return PointsKind.MEMBER if is_member else PointsKind.COMMUNITY


def account_for(person, kind):
    if kind not in PointsKind.values:
        raise ValidationError({"kind": [_("Choose community points or party member points.")]})
    account, _created = PointsAccount.objects.get_or_create(person_id=person.pk, kind=kind)
    return account


def star_level(points):
    """0 to 5 stars: how many thresholds (POINTS_STAR_THRESHOLDS) `points` reaches."""
    thresholds = sorted(setting("POINTS_STAR_THRESHOLDS", [50, 100, 200, 400, 800]))
    points = Decimal(str(points or 0))
    return sum(1 for threshold in thresholds if points >= Decimal(str(threshold)))


# ---- posting -----------------------------------------------------------------------------------


def _reference_fields(reference):
    if reference is None:
        return {"content_type": None, "object_id": ""}
    return {
        "content_type": ContentType.objects.get_for_model(reference),
        "object_id": str(reference.pk),
    }


def _replay(key, account, amount, reason):
    """The entry already posted under `key`, if any; a key reused for another entry is refused."""
    entry = PointsEntry.objects.filter(idempotency_key=key).first()
    if entry is None:
        return None
    if entry.account_id != account.pk or entry.amount != amount or entry.reason != reason:
        raise ValidationError(
            {"idempotency_key": [_("This request key was already used for another entry.")]}
        )
    entry.replayed = True
    return entry


def post_entry(account, amount, reason, idempotency_key, *, reference=None, reverses=None,
               created_by=None, approver=None, note="", at=None):
    """Post one entry to `account` and move its balance; returns the entry (`.replayed` is True
    when the key had been posted before, and nothing was paid again)."""
    amount = Decimal(str(amount)).quantize(CENT)
    key = str(idempotency_key or "").strip()
    if not key or len(key) > 100:
        raise ValidationError(
            {"idempotency_key": [_("A request key of 1 to 100 characters is needed.")]}
        )
    if reason not in R.values:
        raise ValidationError({"reason": [_("Unknown reason for a points entry.")]})
    if amount == 0:
        raise ValidationError({"amount": [_("Enter a positive number of points.")]})
    at = at or now()
    with transaction.atomic():
        existing = _replay(key, account, amount, reason)
        if existing is not None:
            return existing
        locked = PointsAccount.objects.select_for_update().get(pk=account.pk)
        # A first attempt with the same key may have committed while we waited for the lock.
        existing = _replay(key, account, amount, reason)
        if existing is not None:
            return existing
        if reverses is not None and PointsEntry.objects.filter(reverses=reverses).exists():
            raise ValidationError(_("This entry has already been reversed."))
        balance = locked.balance + amount
        if balance < 0:
            raise ValidationError(
                {"amount": [_("Not enough points: the balance is %(balance)s.")
                            % {"balance": locked.balance}]}
            )
        try:
            with transaction.atomic():
                entry = PointsEntry.objects.create(
                    account=locked, amount=amount, balance_after=balance, reason=reason,
                    idempotency_key=key, reverses=reverses, created_by=created_by,
                    approver=approver, note=text(note)[:300], created_at=at,
                    **_reference_fields(reference),
                )
        except IntegrityError:
            # Lost a race on the key (or on reversing the same entry): the winner's row stands.
            existing = _replay(key, account, amount, reason)
            if existing is not None:
                return existing
            if reverses is not None:
                raise ValidationError(_("This entry has already been reversed.")) from None
            raise
        PointsAccount.objects.filter(pk=locked.pk).update(balance=balance, updated_at=at)
    account.balance = balance
    entry.replayed = False
    return entry


def _actor(user):
    return user if user is not None and user.is_authenticated else None


def earn(person, amount, reason, idempotency_key, *, reference=None, user=None, note="", at=None,
         kind=None):
    """Pay `amount` to the person's earning account (or `kind`)."""
    account = account_for(person, kind or earning_kind(person))
    return post_entry(account, amount, reason, idempotency_key, reference=reference,
                      created_by=_actor(user), note=note, at=at)


def earn_for_hours(service_hours, *, user=None, at=None):
    """Hours × the activity's points per hour, once per ServiceHours row (None if it pays 0)."""
    amount = (service_hours.hours * service_hours.activity.points_per_hour).quantize(CENT)
    if amount <= 0:
        return None
    return earn(service_hours.person, amount, R.EARN_HOURS, f"hours:{service_hours.pk}",
                reference=service_hours, user=user, note=service_hours.activity.title, at=at)


def earn_for_wish(wish, *, user=None, at=None):
    """The reward for a fulfilled wish to its claimant, once per wish."""
    amount = Decimal(str(setting("POINTS_WISH_REWARD", 10)))
    return earn(wish.claimed_by, amount, R.EARN_WISH, f"wish:{wish.pk}", reference=wish,
                user=user, note=wish.tracking_code, at=at)


def earn_for_post_duty(user, assignment, *, served_on, amount=None, note="", at=None):
    """Points for a day's duty on a post (设岗定责), once per assignment and day."""
    require(user, ENTRY_PERM)
    require_scope(user, assignment.post.org_unit,
                  _("This post is outside your organisation."))
    errors = {}
    if not hasattr(served_on, "isoformat"):
        errors["served_on"] = [_("Enter the date of the duty.")]
    elif served_on < assignment.started_on or (
        assignment.ended_on is not None and served_on > assignment.ended_on
    ):
        errors["served_on"] = [_("The member did not hold this post on that day.")]
    elif served_on > timezone.localdate():
        errors["served_on"] = [_("The date cannot be in the future.")]
    raise_errors(errors)
    if amount is None:
        amount = Decimal(str(setting("POINTS_POST_DUTY", 5)))
    amount = points_value(amount, "amount")
    return earn(assignment.member.person, amount, R.EARN_POST,
                f"post:{assignment.pk}:{served_on.isoformat()}", reference=assignment,
                user=user, note=note or assignment.post.name, at=at)


def spend(account, points, idempotency_key, *, reference=None, user=None, note="", at=None):
    return post_entry(account, -points, R.SPEND, idempotency_key, reference=reference,
                      created_by=_actor(user), note=note, at=at)


def reverse(entry, idempotency_key, *, user=None, note="", at=None):
    """Undo `entry` with an opposite entry (once); internal: callers check who may."""
    if entry.reason in (R.REVERSAL, R.CONVERSION):
        raise ValidationError(_("This entry cannot be reversed."))
    return post_entry(entry.account, -entry.amount, R.REVERSAL, idempotency_key,
                      reference=entry, reverses=entry, created_by=_actor(user),
                      note=note, at=at)


def reverse_entry(user, entry, *, note, at=None):
    """Staff undo an earning or an adjustment made in error, with the reason."""
    if user is None:
        raise PermissionDenied(_("Entries are reversed by staff."))
    require(user, APPROVE_PERM)
    require_scope(user, entry.account.person.org_unit,
                  _("This person is outside your organisation."))
    if not text(note):
        raise ValidationError({"note": [_("Say why the entry is reversed.")]})
    if entry.reason not in REVERSIBLE:
        raise ValidationError(
            _("Only earnings and adjustments can be reversed; cancel a redemption instead.")
        )
    with transaction.atomic():
        reversal = reverse(entry, f"reversal:{entry.pk}", user=user, note=note, at=at)
        if not reversal.replayed:
            record(user, CREATE, reversal, entry.account.person.org_unit,
                   _("Points entry reversed: %(entry)s") % {"entry": entry},
                   {"amount": str(reversal.amount)})
    return reversal


# ---- manual adjustments: one asks, another approves --------------------------------------------


def request_adjustment(user, person, kind, amount, reason, at=None):
    require(user, REQUEST_PERM)
    if user is None:
        raise PermissionDenied(_("Adjustments are asked for by staff."))
    require_scope(user, person.org_unit, _("This person is outside your organisation."))
    amount = points_value(amount, "amount", allow_negative=True)
    errors = {}
    if not text(reason):
        errors["reason"] = [_("Say why the points are adjusted.")]
    elif len(text(reason)) > 300:
        errors["reason"] = [_("Keep the reason under 300 characters.")]
    raise_errors(errors)
    with transaction.atomic():
        adjustment = PointsAdjustment.objects.create(
            account=account_for(person, kind), amount=amount, reason=text(reason),
            requested_by=user, requested_at=at or now(),
        )
        record(user, CREATE, adjustment, person.org_unit,
               _("Points adjustment asked for %(person)s: %(amount)s")
               % {"person": person.name, "amount": amount}, {"reason": adjustment.reason})
    return adjustment


def _decide(user, adjustment):
    require(user, APPROVE_PERM)
    if user is None:
        raise PermissionDenied(_("Adjustments are approved by staff."))
    fresh = (
        PointsAdjustment.objects.select_for_update(of=("self",))
        .select_related("account__person__org_unit").get(pk=adjustment.pk)
    )
    require_scope(user, fresh.account.person.org_unit,
                  _("This person is outside your organisation."))
    if fresh.status != PointsAdjustment.Status.PENDING:
        raise ValidationError(_("This adjustment has already been decided."))
    if fresh.requested_by_id == user.pk:
        raise PermissionDenied(_("Another member of staff must approve your own request."))
    return fresh


def approve_adjustment(user, adjustment, note="", at=None):
    at = at or now()
    with transaction.atomic():
        fresh = _decide(user, adjustment)
        entry = post_entry(
            fresh.account, fresh.amount, R.ADJUSTMENT, f"adjustment:{fresh.pk}",
            reference=fresh, created_by=fresh.requested_by, approver=user,
            note=fresh.reason, at=at,
        )
        fresh.status = PointsAdjustment.Status.APPROVED
        fresh.decided_by, fresh.decided_at = user, at
        fresh.decision_note, fresh.entry = text(note)[:300], entry
        fresh.save()
        record(user, UPDATE, fresh, fresh.account.person.org_unit,
               _("Points adjustment approved: %(amount)s") % {"amount": fresh.amount},
               {"status": "approved"})
    return sync(adjustment, fresh)


def reject_adjustment(user, adjustment, note, at=None):
    if not text(note):
        raise ValidationError({"decision_note": [_("Say why the adjustment is rejected.")]})
    at = at or now()
    with transaction.atomic():
        fresh = _decide(user, adjustment)
        fresh.status = PointsAdjustment.Status.REJECTED
        fresh.decided_by, fresh.decided_at, fresh.decision_note = user, at, text(note)[:300]
        fresh.save()
        record(user, UPDATE, fresh, fresh.account.person.org_unit,
               _("Points adjustment rejected"), {"status": "rejected"})
    return sync(adjustment, fresh)


# ---- 公分 → 党员积分 for retired members ----------------------------------------------------------


def conversion_rate():
    rate = Decimal(str(setting("POINTS_CONVERSION_RATE", 10)))
    if rate <= 0:
        raise ValidationError(_("The points conversion rate is not set."))
    return rate


def convert_community_to_member(user, person, amount, *, idempotency_key=None, at=None):
    """Turn a retired member's 公分 into 党员积分 at POINTS_CONVERSION_RATE 公分 per 积分.

    `user` None is the member on their own page; staff need the entry permission and scope.
    Returns (community entry, member entry).
    """
    require(user, ENTRY_PERM)
    require_scope(user, person.org_unit, _("This person is outside your organisation."))
    member = PartyMember.objects.filter(person_id=person.pk, status=MemberStatus.ACTIVE).first()
    if member is None or member.category != MemberCategory.RETIRED:
        raise ValidationError(_("Only retired party members convert community points."))
    amount = points_value(amount, "amount")
    rate = conversion_rate()
    converted = (amount / rate).quantize(CENT)
    if converted <= 0 or converted * rate != amount:
        raise ValidationError({"amount": [
            _("Convert a multiple of %(rate)s community points.") % {"rate": rate * CENT}
        ]})
    key = f"convert:{idempotency_key or uuid.uuid4().hex}"
    at = at or now()
    with transaction.atomic():
        community = account_for(person, PointsKind.COMMUNITY)
        party = account_for(person, PointsKind.MEMBER)
        # Both rows locked in one order, so two conversions never wait on each other crosswise.
        list(PointsAccount.objects.select_for_update().filter(pk__in=[community.pk, party.pk])
             .order_by("pk"))
        note = _("%(amount)s community points at %(rate)s per member point") % {
            "amount": amount, "rate": rate,
        }
        out = post_entry(community, -amount, R.CONVERSION, f"{key}:out", reference=member,
                         created_by=_actor(user), note=note, at=at)
        into = post_entry(party, converted, R.CONVERSION, f"{key}:in", reference=member,
                          created_by=_actor(user), note=note, at=at)
    return out, into


def lifetime_q(prefix=""):
    """Entries that count towards lifetime points (star levels, honours): earnings, adjustments
    and the member points a conversion brings, net of reversed earnings."""
    p = f"{prefix}__" if prefix else ""
    counted = (*EARN_REASONS, R.ADJUSTMENT)
    return (
        Q(**{f"{p}reason__in": counted})
        | Q(**{f"{p}reason": R.CONVERSION, f"{p}amount__gt": 0})
        | Q(**{f"{p}reason": R.REVERSAL, f"{p}reverses__reason__in": counted})
    )
