"""Micro-wishes: 群众点单 → 社区派单 → 党员接单 → 群众评单.

Every step takes the acting user first: a staff user, or None for a resident holding the tracking
code or a member/volunteer on their own page (the public pages establish who that person is and
pass them in). Each step locks the wish row, checks the step is legal from its status and that
the actor may take it, changes the wish and appends one WishLog entry, in one transaction.
Points are paid to the claimant once: on the rating, or VOLUNTEER_WISH_PAY_UNRATED_DAYS after
fulfilment without one.
"""

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from grids.models import Household, ResidentListEntry
from party_org.models import MemberStatus, PartyMember, phone_validator
from party_org.selectors import in_scope

from ..models import MicroWish, Volunteer, WishAction, WishCategory, WishLog, WishStatus
from . import ledger
from ._common import (
    RESIDENT_LABEL,
    SYSTEM_LABEL,
    digits,
    is_user,
    now,
    raise_errors,
    require,
    require_staff,
    setting,
    sync,
    text,
    within,
)

S = WishStatus
A = WishAction
ADD_PERM = "volunteers.add_microwish"
WORK_PERM = "volunteers.change_microwish"
DISPATCH_PERM = "volunteers.dispatch_microwish"
WISH_MAX = MicroWish._meta.get_field("wish").max_length
COMMENT_MAX = MicroWish._meta.get_field("rating_comment").max_length
REASON_MAX = MicroWish._meta.get_field("rejection_reason").max_length
NOTE_MAX = MicroWish._meta.get_field("fulfilment_note").max_length
NAME_MAX = MicroWish._meta.get_field("contact_name").max_length

# step -> statuses it may start from
SOURCES = {
    A.DISPATCH: (S.SUBMITTED, S.DISPATCHED),
    A.REJECT: (S.SUBMITTED, S.DISPATCHED),
    A.WITHDRAW: (S.SUBMITTED, S.DISPATCHED, S.CLAIMED),
    A.CLAIM: (S.DISPATCHED,),
    A.FULFIL: (S.CLAIMED,),
    A.RATE: (S.FULFILLED,),
}


def claim_hours():
    return int(setting("VOLUNTEER_WISH_CLAIM_HOURS", 48))


def _log(wish, action, user, *, from_status, note="", at, person=None, label=RESIDENT_LABEL):
    return WishLog.objects.create(
        wish=wish, action=action, from_status=from_status, to_status=wish.status,
        actor=user if is_user(user) else None, actor_person=person,
        actor_label="" if user is not None or person is not None else str(label),
        note=text(note)[:2000], at=at,
    )


def _locked(wish):
    fresh = (
        MicroWish.objects.select_for_update(of=("self",)).filter(pk=wish.pk)
        .select_related("org_unit", "compound", "household").first()
    )
    if fresh is None:
        raise ValidationError(_("This wish no longer exists."))
    return fresh


def _check_status(fresh, action):
    if fresh.status not in SOURCES[action]:
        raise ValidationError(
            _("A wish that is “%(status)s” cannot be %(action)s.")
            % {"status": fresh.get_status_display(), "action": A(action).label}
        )


def _enter(fresh, status, at):
    if fresh.status != status:
        fresh.status = status
        fresh.status_changed_at = at


def _check_code(wish, tracking_code):
    code = text(tracking_code).upper().replace(" ", "").replace("-", "")
    if not code or not constant_time_compare(code, wish.tracking_code):
        raise PermissionDenied(_("The tracking code does not match this wish."))


def _photo(photo, field, errors):
    if not photo:
        return None
    from grids.forms import validate_photo

    try:
        return validate_photo(photo)
    except ValidationError as error:
        errors[field] = error.messages
        return None


# ---- 群众点单 ------------------------------------------------------------------------------------


def household_for(compound, phone):
    """The one household file in the compound that this phone belongs to, if exactly one does."""
    if not phone:
        return None
    pks = list(
        Household.objects.filter(compound=compound)
        .filter(Q(contact_phone=phone) | Q(head__phone=phone)
                | Q(list_entries__person__phone=phone))
        .values_list("pk", flat=True).distinct()[:2]
    )
    return Household.objects.get(pk=pks[0]) if len(pks) == 1 else None


def submit_wish(user, *, compound, wish, category, contact_phone, building=None,
                contact_name="", photo=None, household=None, at=None):
    """A resident's wish (user None on the public form), or staff entering one taken by phone."""
    at = at or now()
    if user is not None:
        require(user, ADD_PERM)
    errors = {}
    if compound is None:
        errors["compound"] = [_("Choose your compound.")]
    else:
        if user is not None and not in_scope(user, compound.org_unit):
            raise PermissionDenied(_("This compound is outside your organisation."))
        if not compound.is_active:
            errors["compound"] = [_("The compound “%(name)s” is no longer active.")
                                  % {"name": compound.name}]
        if building is not None and building.compound_id != compound.pk:
            errors["building"] = [_("The building is in another compound.")]
        if household is not None and household.compound_id != compound.pk:
            errors["household"] = [_("The household is in another compound.")]
    if household is not None and user is None:
        errors["household"] = [_("Only staff link a wish to a household file.")]
    wish = text(wish)
    if not wish:
        errors["wish"] = [_("Say what you wish for.")]
    elif len(wish) > WISH_MAX:
        errors["wish"] = [_("Keep the wish under %(n)d characters.") % {"n": WISH_MAX}]
    if category not in WishCategory.values:
        errors["category"] = [_("Choose a category.")]
    phone = text(contact_phone)
    if not phone:
        errors["contact_phone"] = [_("Give a phone number so the helper can reach you.")]
    else:
        try:
            phone_validator(phone)
        except ValidationError as error:
            errors["contact_phone"] = error.messages
    name = text(contact_name)
    if len(name) > NAME_MAX:
        errors["contact_name"] = [_("Keep the name under %(n)d characters.") % {"n": NAME_MAX}]
    photo = _photo(photo, "photo", errors)
    raise_errors(errors)
    if household is None:
        household = household_for(compound, phone)
    obj = MicroWish(
        org_unit=compound.org_unit, compound=compound, building=building, household=household,
        wish=wish, category=category, contact_name=name, contact_phone=phone,
        submitted_by=user if is_user(user) else None,
        status=S.SUBMITTED, submitted_at=at, status_changed_at=at,
    )
    if photo:
        obj.photo = photo
    with transaction.atomic():
        obj.save()
        _log(obj, A.SUBMIT, user, from_status="", at=at)
    return obj


# ---- 社区派单 ------------------------------------------------------------------------------------


def _same_household(wish, person):
    """Whether `person` belongs to the household that made the wish (or is its contact)."""
    if person is None:
        return False
    if wish.household_id is not None:
        if wish.household.head_id == person.pk:
            return True
        if ResidentListEntry.objects.filter(household_id=wish.household_id,
                                            person_id=person.pk).exists():
            return True
    return bool(person.phone) and digits(person.phone) == digits(wish.contact_phone)


def _related(unit, wish_unit):
    """A unit above the wish's unit (its community) or below it (a building group)."""
    return within(unit, wish_unit) or within(wish_unit, unit)


def dispatch_wish(user, wish, *, unit=None, post=None, member=None, note="", at=None):
    """Accept the wish and send it to a branch (or unit), a post or a named member (派单).

    A wish already dispatched may be sent elsewhere while nobody has claimed it.
    """
    at = at or now()
    if sum(target is not None for target in (unit, post, member)) != 1:
        raise ValidationError(_("Dispatch to one branch, post or member."))
    with transaction.atomic():
        fresh = _locked(wish)
        require_staff(user, DISPATCH_PERM, fresh.org_unit,
                      _("This wish is outside your organisation."))
        _check_status(fresh, A.DISPATCH)
        errors = {}
        if unit is not None:
            if user is not None and not in_scope(user, unit):
                raise PermissionDenied(_("This unit is outside your organisation."))
            if not _related(unit, fresh.org_unit):
                errors["unit"] = [_("Choose a unit that covers the compound or lies under it.")]
            label = unit.name
        elif post is not None:
            if user is not None and not in_scope(user, post.org_unit):
                raise PermissionDenied(_("This post is outside your organisation."))
            if not post.is_active:
                errors["post"] = [_("This post is no longer active.")]
            elif not _related(post.org_unit, fresh.org_unit):
                errors["post"] = [_("Choose a post of a unit that covers the compound.")]
            label = post.name
        else:
            if member.status != MemberStatus.ACTIVE:
                errors["member"] = [_("This member is not active.")]
            elif user is not None and not in_scope(user, member.org_unit):
                raise PermissionDenied(_("This member is outside your organisation."))
            elif _same_household(fresh, member.person):
                errors["member"] = [_("A member cannot take a wish from their own household.")]
            label = member.person.name
        raise_errors(errors)
        before = fresh.status
        fresh.dispatched_to_unit, fresh.dispatched_to_post = unit, post
        fresh.dispatched_to_member = member
        fresh.dispatched_by = user if is_user(user) else None
        fresh.dispatched_at = at
        _enter(fresh, S.DISPATCHED, at)
        fresh.save()
        _log(fresh, A.DISPATCH, user, from_status=before, note=f"→ {label} {text(note)}", at=at,
             label=SYSTEM_LABEL)
    return sync(wish, fresh)


def reject_wish(user, wish, reason, at=None):
    """Turn the wish down with a reason the resident sees on the tracking page."""
    at = at or now()
    reason = text(reason)
    if not reason:
        raise ValidationError({"rejection_reason": [_("Say why the wish is rejected.")]})
    if len(reason) > REASON_MAX:
        raise ValidationError(
            {"rejection_reason": [_("Keep the reason under %(n)d characters.") % {"n": REASON_MAX}]}
        )
    with transaction.atomic():
        fresh = _locked(wish)
        require_staff(user, DISPATCH_PERM, fresh.org_unit,
                      _("This wish is outside your organisation."))
        _check_status(fresh, A.REJECT)
        before = fresh.status
        fresh.rejection_reason, fresh.rejected_at = reason, at
        _enter(fresh, S.REJECTED, at)
        fresh.save()
        _log(fresh, A.REJECT, user, from_status=before, note=reason, at=at, label=SYSTEM_LABEL)
    return sync(wish, fresh)


def withdraw_wish(user, wish, tracking_code=None, note="", at=None):
    """The resident takes the wish back (with its tracking code), or staff do it for them."""
    at = at or now()
    with transaction.atomic():
        fresh = _locked(wish)
        if user is None:
            _check_code(fresh, tracking_code)
        else:
            require_staff(user, WORK_PERM, fresh.org_unit,
                          _("This wish is outside your organisation."))
        _check_status(fresh, A.WITHDRAW)
        before = fresh.status
        fresh.withdrawn_at = at
        fresh.claim_expires_at = None
        _enter(fresh, S.WITHDRAWN, at)
        fresh.save()
        _log(fresh, A.WITHDRAW, user, from_status=before, note=note, at=at)
    return sync(wish, fresh)


# ---- 党员接单 ------------------------------------------------------------------------------------


def may_claim(person):
    """Active party members and verified, active volunteers take wishes."""
    if person is None:
        return False
    if PartyMember.objects.filter(person_id=person.pk, status=MemberStatus.ACTIVE).exists():
        return True
    return Volunteer.objects.filter(person_id=person.pk, verified=True, is_active=True).exists()


def claim_wish(user, wish, person, at=None):
    """接单: one claim locks the wish for VOLUNTEER_WISH_CLAIM_HOURS.

    `user` None is the member or volunteer on their own page; staff may record a claim taken by
    phone. A wish dispatched to a named member is theirs to claim.
    """
    at = at or now()
    if person is None:
        raise ValidationError({"person": [_("Say who takes the wish.")]})
    with transaction.atomic():
        fresh = _locked(wish)
        if user is not None:
            require_staff(user, WORK_PERM, fresh.org_unit,
                          _("This wish is outside your organisation."))
        _check_status(fresh, A.CLAIM)
        if fresh.dispatched_to_member_id is not None and (
            fresh.dispatched_to_member.person_id != person.pk
        ):
            raise ValidationError(_("This wish was sent to another member."))
        if not may_claim(person):
            raise ValidationError(
                {"person": [_("Only party members and verified volunteers take wishes.")]}
            )
        if _same_household(fresh, person):
            raise ValidationError(
                {"person": [_("You cannot take a wish from your own household.")]}
            )
        before = fresh.status
        fresh.claimed_by = person
        fresh.claimed_at = at
        fresh.claim_expires_at = at + dt.timedelta(hours=claim_hours())
        _enter(fresh, S.CLAIMED, at)
        fresh.save()
        _log(fresh, A.CLAIM, user, person=person, from_status=before, note=person.name, at=at)
    return sync(wish, fresh)


def _release(fresh, at):
    """Back to the wall: open to anyone, still owned by the unit it was sent to."""
    before = fresh.status
    claimant = fresh.claimed_by
    if fresh.dispatched_to_member_id is not None:
        fresh.dispatched_to_unit = fresh.org_unit
        fresh.dispatched_to_member = None
    fresh.claimed_by = None
    fresh.claimed_at = None
    fresh.claim_expires_at = None
    _enter(fresh, S.DISPATCHED, at)
    fresh.save()
    _log(fresh, A.RELEASE, None, from_status=before, label=SYSTEM_LABEL,
         note=claimant.name if claimant else "", at=at)


def release_expired_claims(now_=None, batch=500):
    """Return every wish whose claim expired to the wall; returns how many."""
    at = now_ or now()
    expired = MicroWish.objects.filter(status=S.CLAIMED, claim_expires_at__lt=at)
    ids = list(expired.values_list("pk", flat=True))
    released = 0
    for start in range(0, len(ids), batch):
        with transaction.atomic():
            rows = (
                expired.filter(pk__in=ids[start:start + batch])
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("org_unit", "claimed_by")
            )
            for fresh in rows:
                _release(fresh, at)
                released += 1
    return released


def record_fulfilment(user, wish, *, note, photo=None, person=None, at=None):
    """The claimant says what was done (with an optional photo) before the claim expires."""
    at = at or now()
    errors = {}
    note = text(note)
    if not note:
        errors["fulfilment_note"] = [_("Say what was done.")]
    elif len(note) > NOTE_MAX:
        errors["fulfilment_note"] = [_("Keep the note under %(n)d characters.") % {"n": NOTE_MAX}]
    photo = _photo(photo, "fulfilment_photo", errors)
    raise_errors(errors)
    with transaction.atomic():
        fresh = _locked(wish)
        if user is None:
            if person is None or fresh.claimed_by_id != person.pk:
                raise PermissionDenied(_("Only the member who took the wish records its result."))
        else:
            require_staff(user, WORK_PERM, fresh.org_unit,
                          _("This wish is outside your organisation."))
        _check_status(fresh, A.FULFIL)
        if fresh.claim_expires_at is not None and fresh.claim_expires_at < at:
            raise ValidationError(_("The claim has expired; the wish is going back to the wall."))
        before = fresh.status
        fresh.fulfilment_note, fresh.fulfilled_at = note, at
        fresh.claim_expires_at = None
        if photo:
            fresh.fulfilment_photo = photo
        _enter(fresh, S.FULFILLED, at)
        fresh.save()
        _log(fresh, A.FULFIL, user, person=person, from_status=before, note=note, at=at)
    return sync(wish, fresh)


# ---- 群众评单 and points --------------------------------------------------------------------------


def _pay(fresh, at, user=None):
    """Pay the claimant once (the ledger's key per wish makes a second call pay nothing)."""
    if fresh.points_paid:
        return None
    entry = ledger.earn_for_wish(fresh, user=user, at=at)
    fresh.points_paid, fresh.points_paid_at = True, at
    fresh.save(update_fields=["points_paid", "points_paid_at"])
    _log(fresh, A.PAY, None, from_status=fresh.status, label=SYSTEM_LABEL,
         note=f"{fresh.claimed_by.name} +{entry.amount}", at=at)
    return entry


def rate_wish(user, wish, rating, comment="", tracking_code=None, at=None):
    """评单: the resident (with the tracking code) rates 1–5; this pays the claimant's points."""
    at = at or now()
    try:
        rating = int(rating)
    except (TypeError, ValueError):
        rating = 0
    errors = {}
    if not 1 <= rating <= 5:
        errors["rating"] = [_("Give a rating from 1 to 5.")]
    comment = text(comment)
    if len(comment) > COMMENT_MAX:
        errors["rating_comment"] = [
            _("Keep the comment under %(n)d characters.") % {"n": COMMENT_MAX}
        ]
    raise_errors(errors)
    with transaction.atomic():
        fresh = _locked(wish)
        if user is None:
            _check_code(fresh, tracking_code)
        else:
            require_staff(user, WORK_PERM, fresh.org_unit,
                          _("This wish is outside your organisation."))
        _check_status(fresh, A.RATE)
        before = fresh.status
        fresh.rating, fresh.rating_comment, fresh.rated_at = rating, comment, at
        _enter(fresh, S.RATED, at)
        fresh.save()
        _log(fresh, A.RATE, user, from_status=before, note=f"{rating}/5 {comment}", at=at)
        _pay(fresh, at)
    return sync(wish, fresh)


def pay_unrated_after(now_=None, days=None, batch=500):
    """Pay the claimants of wishes fulfilled more than `days` ago and still unrated."""
    at = now_ or now()
    days = int(setting("VOLUNTEER_WISH_PAY_UNRATED_DAYS", 7) if days is None else days)
    due = MicroWish.objects.filter(
        status=S.FULFILLED, points_paid=False, fulfilled_at__lt=at - dt.timedelta(days=days)
    )
    ids = list(due.values_list("pk", flat=True))
    paid = 0
    for start in range(0, len(ids), batch):
        with transaction.atomic():
            rows = (
                due.filter(pk__in=ids[start:start + batch])
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("claimed_by")
            )
            for fresh in rows:
                if _pay(fresh, at) is not None:
                    paid += 1
    return paid


# ---- for buttons -------------------------------------------------------------------------------


def allowed_actions(user, wish):
    """The staff steps `user` may take on `wish` now (for admin buttons and the API)."""
    if user is None or not in_scope(user, wish.org_unit):
        return []
    actions = []
    for action in (A.DISPATCH, A.REJECT):
        if wish.status in SOURCES[action] and user.has_perm(DISPATCH_PERM):
            actions.append(action)
    for action in (A.CLAIM, A.FULFIL, A.WITHDRAW, A.RATE):
        if wish.status in SOURCES[action] and user.has_perm(WORK_PERM):
            actions.append(action)
    return actions
