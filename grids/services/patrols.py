"""Patrol points (重点巡查点位), check-ins (巡查打卡) and household visits (入户走访).

Every function takes the acting user first (None for the system), checks the model permission
and that the place lies in the user's scope, validates with translated messages keyed by field,
runs in a transaction and writes the change to the ledger change log. A visit that finds a
problem opens a grid event through `events.report_event` in the same transaction, so either
both are saved or neither is.

`check_checkin` and `check_visit` run the same checks without writing: admin and API forms call
them to show the refusal beside the field before anything is saved.
"""

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from party_org import audit
from party_org.models import AuditEntry
from party_org.selectors import Subtree, in_scope
from party_org.services.tree import _require

from ..models import (
    EventSource,
    GridCoverage,
    GridEvent,
    GridWorker,
    HouseholdVisit,
    PatrolCheckin,
    PatrolPoint,
)
from . import events as event_services

CREATE, UPDATE, DELETE = (
    AuditEntry.Action.CREATE, AuditEntry.Action.UPDATE, AuditEntry.Action.DELETE,
)
POINT_FIELDS = ("compound", "name", "description", "is_active")
CHECKIN_FIELDS = ("point", "worker", "at", "note")
VISIT_FIELDS = ("household", "worker", "visited_on", "findings", "event")

# report_event's error keys, as the fields of a visit that carry them.
VISIT_EVENT_KEYS = {
    "compound": "household",
    "building": "household",
    "category": "raise_event_category",
    "description": "event_description",
    "source": "raise_event_category",
}


def _raise(errors):
    if errors:
        raise ValidationError(errors)


def _record(user, action, obj, org_unit, summary, before=None, fields=()):
    audit.record_change(user, action, obj, org_unit, summary, before=before, fields=fields)


def _require_in_scope(user, node, message):
    if user is not None and not in_scope(user, node):
        raise PermissionDenied(message)


def _field_errors(obj, exclude):
    """The model's own field checks (lengths, blanks) as {field: [messages]}."""
    try:
        obj.clean_fields(exclude=exclude)
    except ValidationError as error:
        return error.update_error_dict({})
    return {}


def _as_date(value, field):
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise ValidationError({field: [_("Enter a valid date (YYYY-MM-DD).")]}) from None


def _as_moment(value, field):
    if value is None:
        return timezone.now()
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise ValidationError({field: [_("Enter a valid date and time.")]}) from None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


# ---- patrol points ---------------------------------------------------------------------------


def _point_errors(point):
    errors = _field_errors(point, exclude=["compound"])
    if point.is_active and not point.compound.is_active:
        errors.setdefault("compound", []).append(
            _("The compound “%(name)s” is no longer active.") % {"name": point.compound.name}
        )
    if "name" not in errors and (
        PatrolPoint.objects.filter(compound=point.compound, name=point.name)
        .exclude(pk=point.pk).exists()
    ):
        errors["name"] = [
            _("%(compound)s already has a patrol point named “%(name)s”.")
            % {"compound": point.compound.name, "name": point.name}
        ]
    return errors


def check_patrol_point(point):
    """Raise what a save of `point` would refuse (for forms), without saving anything."""
    _raise(_point_errors(point))


def _save_point(point):
    try:
        with transaction.atomic():
            point.save()
    except IntegrityError:
        raise ValidationError(
            {"name": [_("%(compound)s already has a patrol point named “%(name)s”.")
                      % {"compound": point.compound.name, "name": point.name}]}
        ) from None


def _lock_point(point):
    fresh = (
        PatrolPoint.objects.select_for_update(of=("self",)).select_related("compound__org_unit")
        .filter(pk=point.pk).first()
    )
    if fresh is None:
        raise ValidationError(_("This patrol point no longer exists."))
    return fresh


def create_patrol_point(user, *, compound, name, description="", is_active=True):
    """A place in a compound that grid workers check on their rounds (e.g. a fire lane)."""
    _require(user, "grids.add_patrolpoint")
    _require_in_scope(user, compound.org_unit, _("This compound is outside your organisation."))
    point = PatrolPoint(
        compound=compound, name=(name or "").strip(), description=(description or "").strip(),
        is_active=is_active,
    )
    _raise(_point_errors(point))
    with transaction.atomic():
        _save_point(point)
        _record(user, CREATE, point, compound.org_unit,
                _("Patrol point “%(name)s” added in %(compound)s")
                % {"name": point.name, "compound": compound.name}, fields=POINT_FIELDS)
    return point


def update_patrol_point(user, point, **fields):
    """Change a point's name, what to check, active flag, or (before any check-in) compound."""
    unknown = set(fields) - set(POINT_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    _require(user, "grids.change_patrolpoint")
    with transaction.atomic():
        fresh = _lock_point(point)
        _require_in_scope(
            user, fresh.compound.org_unit, _("This patrol point is outside your organisation.")
        )
        before = audit.snapshot(fresh, POINT_FIELDS)
        errors = {}
        new_compound = fields.get("compound", fresh.compound)
        if new_compound.pk != fresh.compound_id:
            _require_in_scope(
                user, new_compound.org_unit, _("This compound is outside your organisation.")
            )
            # Moving a point would move its check-in history to another compound.
            if fresh.checkins.exists():
                errors["compound"] = [
                    _("Check-ins have been made at this point; deactivate it and add a new one "
                      "in the other compound.")
                ]
            fresh.compound = new_compound
        for name in ("name", "description"):
            if name in fields:
                setattr(fresh, name, (fields[name] or "").strip())
        if "is_active" in fields:
            fresh.is_active = bool(fields["is_active"])
        for field, messages in _point_errors(fresh).items():
            errors.setdefault(field, []).extend(messages)
        _raise(errors)
        _save_point(fresh)
        _record(user, UPDATE, fresh, fresh.compound.org_unit, _("Patrol point “%(name)s” changed")
                % {"name": fresh.name}, before=before, fields=POINT_FIELDS)
    for name in POINT_FIELDS:
        setattr(point, name, getattr(fresh, name))
    return fresh


def deactivate_patrol_point(user, point):
    """The point is no longer patrolled; its check-ins stay as history."""
    if not PatrolPoint.objects.filter(pk=point.pk, is_active=True).exists():
        raise ValidationError(
            _("The patrol point “%(name)s” is no longer in use.") % {"name": point.name}
        )
    return update_patrol_point(user, point, is_active=False)


def delete_patrol_point(user, point):
    """Delete a point added by mistake; one with check-ins is deactivated instead."""
    _require(user, "grids.delete_patrolpoint")
    with transaction.atomic():
        fresh = _lock_point(point)
        _require_in_scope(
            user, fresh.compound.org_unit, _("This patrol point is outside your organisation.")
        )
        if fresh.checkins.exists():
            raise ValidationError(
                _("Check-ins have been made at “%(name)s”; deactivate it instead.")
                % {"name": fresh.name}
            )
        _record(user, DELETE, fresh, fresh.compound.org_unit, _("Patrol point “%(name)s” deleted")
                % {"name": fresh.name}, fields=POINT_FIELDS)
        fresh.delete()


# ---- who may patrol where --------------------------------------------------------------------


def worker_covers(worker, compound, on):
    """Whether `worker` works in `compound` on day `on`: an assignment current that day to a
    grid covering it (or to the grid of a micro-grid covering part of it), or the compound
    lies under the worker's own community or branch."""
    if Subtree.of(worker.org_unit).contains(compound.org_unit):
        return True
    covering = GridCoverage.objects.filter(compound=compound, grid__is_active=True)
    return worker.assignments.filter(
        Q(grid_id__in=covering.values("grid_id"))
        | Q(grid_id__in=covering.filter(grid__parent__isnull=False).values("grid__parent_id")),
        Q(ended_on__isnull=True) | Q(ended_on__gte=on),
        started_on__lte=on,
    ).exists()


def _worker_errors(worker, compound, on):
    if not worker.is_active:
        return {"worker": [_("%(name)s is no longer an active grid worker.")
                           % {"name": worker.person.name}]}
    if not worker_covers(worker, compound, on):
        return {"worker": [_("%(name)s does not work in %(compound)s.")
                           % {"name": worker.person.name, "compound": compound.name}]}
    return {}


def _fresh_worker(worker, lock):
    queryset = GridWorker.objects.select_related("person", "org_unit")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    fresh = queryset.filter(pk=worker.pk).first()
    if fresh is None:
        raise ValidationError({"worker": [_("This grid worker no longer exists.")]})
    return fresh


# ---- check-ins (巡查打卡) ----------------------------------------------------------------------


def _require_checkin(user, point):
    if user is None:
        return
    # Staff entering a check-in (a grid worker's own login included) need the permission and
    # the point in their area.
    _require(user, "grids.add_patrolcheckin")
    _require_in_scope(
        user, point.compound.org_unit, _("This patrol point is outside your organisation.")
    )


def _checkin_errors(worker, point, note, at):
    errors = {}
    if not point.is_active:
        errors["point"] = [_("The patrol point “%(name)s” is no longer in use.")
                           % {"name": point.name}]
    if at > timezone.now():
        errors["at"] = [_("The time cannot be in the future.")]
    for field, messages in _field_errors(
        PatrolCheckin(note=note or ""), exclude=["point", "worker", "at", "event"]
    ).items():
        errors.setdefault(field, []).extend(messages)
    day = timezone.localtime(at).date()
    for field, messages in _worker_errors(worker, point.compound, day).items():
        errors.setdefault(field, []).extend(messages)
    return errors


def check_checkin(user, worker, point, note="", at=None):
    """Raise what `check_in` would refuse, without saving anything."""
    _require_checkin(user, point)
    at = _as_moment(at, "at")
    _raise(_checkin_errors(worker, point, note, at))


def check_in(user, worker, point, note="", at=None):
    """A grid worker's check-in at a patrol point (now, or at `at` when entered afterwards)."""
    _require_checkin(user, point)
    at = _as_moment(at, "at")
    with transaction.atomic():
        fresh_point = _lock_point(point)
        fresh_worker = _fresh_worker(worker, lock=True)
        _require_checkin(user, fresh_point)
        _raise(_checkin_errors(fresh_worker, fresh_point, note, at))
        checkin = PatrolCheckin.objects.create(
            point=fresh_point, worker=fresh_worker, at=at, note=(note or "").strip()
        )
        _record(user, CREATE, checkin, fresh_point.compound.org_unit,
                _("%(name)s checked in at %(point)s")
                % {"name": fresh_worker.person.name, "point": fresh_point}, fields=CHECKIN_FIELDS)
    return checkin


# ---- household visits (入户走访) ---------------------------------------------------------------


def _require_visit(user, household, raise_event_category):
    if user is None:
        return
    _require(user, "grids.add_householdvisit")
    _require_in_scope(
        user, household.compound.org_unit, _("This household is outside your organisation.")
    )
    if raise_event_category is not None:
        _require(user, event_services.ADD_PERM)


def _visit_errors(worker, household, visited_on, findings, raise_event_category,
                  event_description):
    errors = {}
    if visited_on > timezone.localdate():
        errors["visited_on"] = [_("The date cannot be in the future.")]
    # A TextField's max_length is not checked by the model: check it here.
    limit = HouseholdVisit._meta.get_field("findings").max_length
    if len((findings or "").strip()) > limit:
        errors["findings"] = [_("Keep the findings under %(n)s characters.") % {"n": limit}]
    for field, messages in _worker_errors(worker, household.compound, visited_on).items():
        errors.setdefault(field, []).extend(messages)
    if raise_event_category is not None:
        if not raise_event_category.is_active:
            errors["raise_event_category"] = [_("Choose a category.")]
        if not ((event_description or "").strip() or (findings or "").strip()):
            errors["event_description"] = [_("Describe the problem.")]
        limit = GridEvent._meta.get_field("description").max_length
        if len((event_description or "").strip()) > limit:
            errors["event_description"] = [
                _("Keep the description under %(n)s characters.") % {"n": limit}
            ]
        if not household.compound.is_active:
            errors["household"] = [_("The compound “%(name)s” is no longer active.")
                                   % {"name": household.compound.name}]
    return errors


def check_visit(user, worker, household, visited_on, findings, raise_event_category=None,
                event_description=""):
    """Raise what `record_visit` would refuse, without saving anything."""
    _require_visit(user, household, raise_event_category)
    visited_on = _as_date(visited_on, "visited_on")
    _raise(_visit_errors(worker, household, visited_on, findings, raise_event_category,
                         event_description))


def _rekeyed(error):
    if not hasattr(error, "error_dict"):
        return error
    errors = {}
    for field, messages in error.update_error_dict({}).items():
        errors.setdefault(VISIT_EVENT_KEYS.get(field, field), []).extend(messages)
    return ValidationError(errors)


def record_visit(user, worker, household, visited_on, findings, raise_event_category=None,
                 event_description=""):
    """A visit to a household; with a category, the problem found opens a grid event (source:
    household visit) in the household's compound and building, linked to the visit."""
    _require_visit(user, household, raise_event_category)
    visited_on = _as_date(visited_on, "visited_on")
    findings = (findings or "").strip()
    with transaction.atomic():
        fresh_worker = _fresh_worker(worker, lock=True)
        _raise(_visit_errors(fresh_worker, household, visited_on, findings,
                             raise_event_category, event_description))
        visit = HouseholdVisit.objects.create(
            household=household, worker=fresh_worker, visited_on=visited_on, findings=findings
        )
        if raise_event_category is not None:
            try:
                event = event_services.report_event(
                    user, category=raise_event_category,
                    description=(event_description or "").strip() or findings,
                    source=EventSource.VISIT, compound=household.compound,
                    building=household.building, reporter=fresh_worker.person,
                )
            except ValidationError as error:
                raise _rekeyed(error) from None
            visit.event = event
            visit.save(update_fields=["event"])
        _record(user, CREATE, visit, household.compound.org_unit,
                _("%(name)s visited %(household)s")
                % {"name": fresh_worker.person.name, "household": household},
                fields=VISIT_FIELDS)
    return visit

