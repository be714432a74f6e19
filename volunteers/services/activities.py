"""Volunteer activities: creation, sign-up with a waiting list, check-in by the organiser's
one-time code, and service hours approved after the activity (which pay points).

Sign-ups and cancellations lock the activity row, so places are counted and the waiting list is
promoted one writer at a time.
"""

import datetime as dt
import secrets
from decimal import ROUND_CEILING, Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from ..models import PLACE_HOLDING, Activity, ActivitySignup, ServiceHours, SignupStatus
from . import ledger
from ._common import (
    CREATE,
    UPDATE,
    now,
    raise_errors,
    record,
    require,
    require_scope,
    require_staff,
    setting,
    sync,
    text,
    within,
)

St = SignupStatus
ADD_PERM = "volunteers.add_activity"
CHANGE_PERM = "volunteers.change_activity"
SIGNUP_PERM = "volunteers.change_activitysignup"
HOURS_PERM = "volunteers.add_servicehours"
ONE_DECIMAL = Decimal("0.1")
DESCRIPTION_MAX = Activity._meta.get_field("description").max_length
TITLE_MAX = Activity._meta.get_field("title").max_length
PLACE_MAX = Activity._meta.get_field("place").max_length
ACTIVITY_FIELDS = ("org_unit", "team", "title", "description", "place", "starts_at", "ends_at",
                   "capacity", "points_per_hour")


def _outside():
    return _("This activity is outside your organisation.")


def _as_moment(value, field, errors):
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, dt.datetime):
        errors[field] = [_("Enter a valid date and time.")]
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _activity_errors(fields):
    errors = {}
    if not text(fields.get("title")):
        errors["title"] = [_("Give the activity a title.")]
    elif len(text(fields.get("title"))) > TITLE_MAX:
        errors["title"] = [_("Keep the title under %(n)d characters.") % {"n": TITLE_MAX}]
    if not text(fields.get("place")):
        errors["place"] = [_("Say where the activity takes place.")]
    elif len(text(fields.get("place"))) > PLACE_MAX:
        errors["place"] = [_("Keep the place under %(n)d characters.") % {"n": PLACE_MAX}]
    starts = _as_moment(fields.get("starts_at"), "starts_at", errors)
    ends = _as_moment(fields.get("ends_at"), "ends_at", errors)
    if starts and ends and ends <= starts:
        errors["ends_at"] = [_("The activity must end after it starts.")]
    fields["starts_at"], fields["ends_at"] = starts, ends
    try:
        capacity = int(fields.get("capacity"))
    except (TypeError, ValueError):
        capacity = 0
    if capacity < 1:
        errors["capacity"] = [_("Give the number of places (at least 1).")]
    fields["capacity"] = capacity
    try:
        pph = Decimal(str(fields.get("points_per_hour") or 0))
    except (InvalidOperation, ValueError):
        pph = None
    if pph is None or not pph.is_finite() or pph < 0 or pph != pph.quantize(Decimal("0.01")):
        errors["points_per_hour"] = [_("Enter the points per hour as a number, 0 or more.")]
    elif pph >= 10000:
        errors["points_per_hour"] = [_("The points per hour are too many.")]
    fields["points_per_hour"] = pph
    if len(text(fields.get("description"))) > DESCRIPTION_MAX:
        errors["description"] = [
            _("Keep the description under %(n)d characters.") % {"n": DESCRIPTION_MAX}
        ]
    team = fields.get("team")
    org_unit = fields.get("org_unit")
    if org_unit is None:
        errors["org_unit"] = [_("Choose the organising unit.")]
    elif team is not None and not within(team.org_unit, org_unit) and not within(
        org_unit, team.org_unit
    ):
        errors["team"] = [_("The team belongs to another organisation.")]
    return errors


def create_activity(user, *, org_unit, title, place, starts_at, ends_at, capacity,
                    points_per_hour=0, team=None, description=""):
    require(user, ADD_PERM)
    fields = dict(org_unit=org_unit, team=team, title=title, place=place, starts_at=starts_at,
                  ends_at=ends_at, capacity=capacity, points_per_hour=points_per_hour,
                  description=description)
    errors = _activity_errors(fields)
    raise_errors(errors)
    require_scope(user, org_unit, _("This unit is outside your organisation."))
    if team is not None:
        require_scope(user, team.org_unit, _("This team is outside your organisation."))
    activity = Activity(
        org_unit=org_unit, team=team, title=text(title), place=text(place),
        description=text(description), starts_at=fields["starts_at"], ends_at=fields["ends_at"],
        capacity=fields["capacity"], points_per_hour=fields["points_per_hour"],
        created_by=user if user is not None and user.is_authenticated else None,
    )
    activity.full_clean(exclude=["org_unit", "team", "created_by"])
    with transaction.atomic():
        activity.save()
        record(user, CREATE, activity, org_unit,
               _("Activity “%(title)s” created") % {"title": activity.title})
    return activity


def _lock_activity(activity):
    fresh = Activity.objects.select_for_update(of=("self",)).select_related("org_unit").filter(
        pk=activity.pk
    ).first()
    if fresh is None:
        raise ValidationError(_("This activity no longer exists."))
    return fresh


def _promote(activity):
    """Fill free places from the waiting list, first come first served."""
    taken = activity.signups.filter(status__in=PLACE_HOLDING).count()
    free = activity.capacity - taken
    if free <= 0:
        return []
    promoted = list(
        activity.signups.filter(status=St.WAITLISTED).order_by("position")[:free]
    )
    for signup in promoted:
        signup.status = St.SIGNED_UP
        signup.save(update_fields=["status"])
    return promoted


def update_activity(user, activity, **fields):
    """Change an activity's details; more places take people off the waiting list."""
    require(user, CHANGE_PERM)
    unknown = set(fields) - {*ACTIVITY_FIELDS, "description"}
    if unknown:
        raise ValidationError(
            _("Unknown fields: %(names)s") % {"names": ", ".join(sorted(unknown))}
        )
    with transaction.atomic():
        fresh = _lock_activity(activity)
        require_scope(user, fresh.org_unit, _outside())
        merged = {name: getattr(fresh, name) for name in (*ACTIVITY_FIELDS, "description")}
        merged.update(fields)
        errors = _activity_errors(merged)
        if fresh.checkin_code_hash and (
            merged["starts_at"] != fresh.starts_at or merged["ends_at"] != fresh.ends_at
        ):
            errors["starts_at"] = [_("Check-in has a code already; the times cannot change.")]
        held = fresh.signups.filter(status__in=PLACE_HOLDING).count()
        if merged["capacity"] and merged["capacity"] < held:
            errors["capacity"] = [_("%(n)d people already hold places.") % {"n": held}]
        raise_errors(errors)
        require_scope(user, merged["org_unit"], _("This unit is outside your organisation."))
        before = {name: str(getattr(fresh, f"{name}_id", None) or getattr(fresh, name))
                  for name in ACTIVITY_FIELDS}
        for name, value in merged.items():
            setattr(fresh, name, text(value) if name in ("title", "place", "description")
                    else value)
        fresh.full_clean(exclude=["org_unit", "team", "created_by"])
        fresh.save()
        for promoted in _promote(fresh):
            _record_signup(None, promoted, fresh,
                           _("%(name)s moved up from the waiting list of “%(title)s”"))
        after = {name: str(getattr(fresh, f"{name}_id", None) or getattr(fresh, name))
                 for name in ACTIVITY_FIELDS}
        changes = {k: [before[k], v] for k, v in after.items() if before[k] != v}
        if changes:
            record(user, UPDATE, fresh, fresh.org_unit,
                   _("Activity “%(title)s” changed") % {"title": fresh.title}, changes)
    return sync(activity, fresh)


# ---- sign-up and the waiting list --------------------------------------------------------------


def sign_up(user, activity, person, at=None):
    """Sign `person` up (user None: the person on their own page); a full activity waitlists."""
    at = at or now()
    if person is None:
        raise ValidationError({"person": [_("Say who signs up.")]})
    with transaction.atomic():
        fresh = _lock_activity(activity)
        if user is not None:
            require_staff(user, SIGNUP_PERM, fresh.org_unit, _outside())
        if at >= fresh.starts_at:
            raise ValidationError(_("The activity has started; sign-up is closed."))
        existing = ActivitySignup.objects.filter(activity=fresh, person_id=person.pk).first()
        if existing is not None and existing.status != St.CANCELLED:
            raise ValidationError({"person": [_("Already signed up for this activity.")]})
        taken = fresh.signups.filter(status__in=PLACE_HOLDING).count()
        status = St.SIGNED_UP if taken < fresh.capacity else St.WAITLISTED
        position = (fresh.signups.aggregate(m=Max("position"))["m"] or 0) + 1
        if existing is None:
            signup = ActivitySignup.objects.create(
                activity=fresh, person=person, status=status, position=position,
                signed_up_at=at,
            )
        else:
            signup = existing
            signup.status, signup.position, signup.signed_up_at = status, position, at
            signup.cancelled_at = signup.confirmed_at = None
            signup.save()
        _record_signup(user, signup, fresh, _("%(name)s signed up for “%(title)s”"))
    return signup


def _record_signup(user, signup, activity, summary):
    record(user, UPDATE, signup, activity.org_unit,
           summary % {"name": signup.person.name, "title": activity.title},
           {"status": signup.status})


def _lock_signup(signup):
    fresh = (
        ActivitySignup.objects.select_for_update(of=("self",)).select_related("activity", "person")
        .filter(pk=signup.pk).first()
    )
    if fresh is None:
        raise ValidationError(_("This sign-up no longer exists."))
    return fresh


def cancel_signup(user, signup, person=None, at=None):
    """Cancel a sign-up (its person, or staff); a freed place goes to the first waitlisted."""
    at = at or now()
    with transaction.atomic():
        activity = _lock_activity(signup.activity)
        fresh = _lock_signup(signup)
        if user is None:
            if person is None or person.pk != fresh.person_id:
                raise PermissionDenied(_("Only the person who signed up can cancel."))
        else:
            require_staff(user, SIGNUP_PERM, activity.org_unit, _outside())
        if fresh.status in (St.CANCELLED, St.CHECKED_IN):
            raise ValidationError(_("This sign-up cannot be cancelled."))
        if at >= activity.ends_at:
            raise ValidationError(_("The activity is over."))
        fresh.status, fresh.cancelled_at = St.CANCELLED, at
        fresh.save(update_fields=["status", "cancelled_at"])
        _record_signup(user, fresh, activity, _("%(name)s cancelled for “%(title)s”"))
        for promoted in _promote(activity):
            _record_signup(None, promoted, activity,
                           _("%(name)s moved up from the waiting list of “%(title)s”"))
    return sync(signup, fresh)


def confirm_signup(user, signup, at=None):
    """The organiser confirms a place (not a waitlisted one)."""
    at = at or now()
    with transaction.atomic():
        fresh = _lock_signup(signup)
        require_staff(user, SIGNUP_PERM, fresh.activity.org_unit, _outside())
        if fresh.status != St.SIGNED_UP:
            raise ValidationError(_("Only a sign-up holding a place can be confirmed."))
        fresh.status, fresh.confirmed_at = St.CONFIRMED, at
        fresh.save(update_fields=["status", "confirmed_at"])
        _record_signup(user, fresh, fresh.activity, _("%(name)s confirmed for “%(title)s”"))
    return sync(signup, fresh)


# ---- check-in by the organiser's code ----------------------------------------------------------


def _code_hash(activity, code):
    return salted_hmac("volunteers.activity.checkin", f"{activity.pk}:{code}").hexdigest()


def checkin_window(activity):
    opens = activity.starts_at - dt.timedelta(
        minutes=int(setting("VOLUNTEER_CHECKIN_OPENS_MINUTES", 30))
    )
    closes = activity.ends_at + dt.timedelta(
        minutes=int(setting("VOLUNTEER_CHECKIN_CLOSES_MINUTES", 30))
    )
    return opens, closes


def issue_checkin_code(user, activity, now_=None):
    """A new random 6-digit code for the organiser to show; returned once, stored hashed.

    It works for this activity only, from shortly before it starts to shortly after it ends;
    a new code replaces the old one and clears the counts of wrong codes.
    """
    at = now_ or now()
    if user is None:
        raise PermissionDenied(_("Check-in codes are issued by the organiser."))
    with transaction.atomic():
        fresh = _lock_activity(activity)
        require_staff(user, CHANGE_PERM, fresh.org_unit, _outside())
        opens, closes = checkin_window(fresh)
        if at >= closes:
            raise ValidationError(_("Check-in for this activity is over."))
        code = f"{secrets.randbelow(10 ** 6):06d}"
        fresh.checkin_code_hash = _code_hash(fresh, code)
        fresh.checkin_opens_at, fresh.checkin_closes_at = opens, closes
        fresh.save(update_fields=["checkin_code_hash", "checkin_opens_at", "checkin_closes_at"])
        fresh.signups.filter(checkin_failures__gt=0).update(checkin_failures=0)
        record(user, UPDATE, fresh, fresh.org_unit,
               _("Check-in code issued for “%(title)s”") % {"title": fresh.title})
    sync(activity, fresh)
    return code


def check_in(user, activity, person, code, now_=None):
    """The person checks in with the code the organiser shows: once, for this activity, within
    its window. `user` None is the person on their own page; staff may type it for them."""
    at = now_ or now()
    code = text(code).replace(" ", "")
    max_failures = int(setting("VOLUNTEER_CHECKIN_MAX_FAILURES", 5))
    with transaction.atomic():
        fresh = _lock_activity(activity)
        if user is not None:
            require_staff(user, SIGNUP_PERM, fresh.org_unit, _outside())
        signup = (
            ActivitySignup.objects.select_for_update().filter(activity=fresh, person_id=person.pk)
            .first()
        )
        if signup is None or signup.status in (St.CANCELLED, St.WAITLISTED):
            raise ValidationError(_("You do not hold a place in this activity."))
        if signup.status == St.CHECKED_IN:
            raise ValidationError(_("You have already checked in."))
        if not fresh.checkin_code_hash:
            raise ValidationError({"code": [_("The organiser has not opened check-in yet.")]})
        if not (fresh.checkin_opens_at <= at <= fresh.checkin_closes_at):
            raise ValidationError({"code": [_("Check-in is not open at this time.")]})
        if signup.checkin_failures >= max_failures:
            raise ValidationError({"code": [_("Too many wrong codes; ask the organiser.")]})
        good = code.isdigit() and len(code) == 6 and constant_time_compare(
            _code_hash(fresh, code), fresh.checkin_code_hash
        )
        if good:
            signup.status, signup.checked_in_at = St.CHECKED_IN, at
            signup.save(update_fields=["status", "checked_in_at"])
            signup.person = person
            _record_signup(user, signup, fresh, _("%(name)s checked in at “%(title)s”"))
            return signup
    # Counted outside the refused transaction, so the count survives the error.
    ActivitySignup.objects.filter(pk=signup.pk).update(checkin_failures=F("checkin_failures") + 1)
    raise ValidationError({"code": [_("The check-in code is wrong.")]})


# ---- service hours -----------------------------------------------------------------------------


def _as_hours(value):
    try:
        hours = Decimal(str(value).strip()) if value is not None else None
    except (InvalidOperation, ValueError):
        hours = None
    if hours is None or not hours.is_finite() or hours <= 0:
        raise ValidationError({"hours": [_("Enter the hours as a positive number.")]})
    if hours != hours.quantize(ONE_DECIMAL):
        raise ValidationError({"hours": [_("Hours are counted to one decimal.")]})
    return hours.quantize(ONE_DECIMAL)


def approve_hours(user, signup, hours, now_=None):
    """The organiser approves a checked-in person's hours after the activity; pays the points
    (hours × points per hour) once."""
    at = now_ or now()
    hours = _as_hours(hours)
    require(user, HOURS_PERM)
    if user is None:
        raise PermissionDenied(_("Hours are approved by the organiser."))
    with transaction.atomic():
        fresh = _lock_signup(signup)
        activity = fresh.activity
        require_scope(user, activity.org_unit, _outside())
        if at < activity.ends_at:
            raise ValidationError(_("Hours are approved after the activity has ended."))
        if fresh.status != St.CHECKED_IN:
            raise ValidationError(_("Only people who checked in have hours to approve."))
        if ServiceHours.objects.filter(activity=activity, person_id=fresh.person_id).exists():
            raise ValidationError(_("These hours have already been approved."))
        longest = activity.duration_hours.quantize(ONE_DECIMAL, rounding=ROUND_CEILING)
        if hours > longest:
            raise ValidationError(
                {"hours": [_("The activity lasted %(n)s hours.") % {"n": longest}]}
            )
        service = ServiceHours.objects.create(
            activity=activity, person=fresh.person, hours=hours, approved_by=user,
            approved_at=at,
        )
        entry = ledger.earn_for_hours(service, user=user, at=at)
        if entry is not None:
            service.points_entry = entry
            service.save(update_fields=["points_entry"])
        record(user, CREATE, service, activity.org_unit,
               _("%(hours)s hours approved for %(person)s at “%(title)s”")
               % {"hours": hours, "person": fresh.person.name, "title": activity.title},
               {"hours": str(hours), "points": str(entry.amount) if entry else "0"})
    return service
