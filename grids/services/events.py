"""The six-step closed loop of grid events, 吹哨报到, ratings, duplicates and overdue escalation.

Every step is a function taking the acting user first (None for a resident on the public pages
or for the system), that locks the event row, checks the step is legal from the event's current
status and that the user may take it, changes the event and appends one `GridEventLog` entry,
all in one transaction. Illegal steps raise ValidationError with a translated message;
steps the user may not take raise PermissionDenied.
"""

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from party_org.models import OrgKind
from party_org.selectors import in_scope

from ..models import (
    Department,
    EventAction,
    EventSource,
    EventStatus,
    GridCoverage,
    GridEvent,
    GridEventLog,
    GridEventPhoto,
)

S = EventStatus
A = EventAction
ADD_PERM = "grids.add_gridevent"
WORK_PERM = "grids.change_gridevent"
FILE_PERM = "grids.file_gridevent"

# A rating below this reopens the event (不满意).
SATISFIED_FROM = 3
# Overdue escalation climbs no higher than the street: that is where 吹哨报到 is coordinated.
TOP_LEVEL_KINDS = (OrgKind.STREET, OrgKind.DISTRICT, OrgKind.CITY)
ESCALATION_KINDS = (OrgKind.COMMUNITY, OrgKind.STREET)

RESIDENT_LABEL = gettext_lazy("resident")
SYSTEM_LABEL = gettext_lazy("system")

# action -> (statuses it may start from, status it leads to or None to stay)
TRANSITIONS = {
    A.FILE: ((S.REPORTED,), S.FILED),
    A.ASSIGN: ((S.FILED, S.ASSIGNED), S.ASSIGNED),
    A.START: ((S.ASSIGNED,), S.IN_PROGRESS),
    A.FEEDBACK: ((S.IN_PROGRESS,), S.FEEDBACK),
    A.SEND_BACK: ((S.FEEDBACK,), S.IN_PROGRESS),
    A.CLOSE: ((S.FEEDBACK,), S.CLOSED),
    A.ESCALATE: ((S.REPORTED, S.FILED, S.ASSIGNED, S.IN_PROGRESS, S.FEEDBACK), None),
    A.DUPLICATE: ((S.REPORTED, S.FILED, S.ASSIGNED, S.IN_PROGRESS, S.FEEDBACK), S.CLOSED),
}
# Staff steps that need the filing permission rather than being the handler.
FILER_ACTIONS = (A.FILE, A.ASSIGN, A.SEND_BACK, A.CLOSE, A.DUPLICATE)
HANDLER_ACTIONS = (A.START, A.FEEDBACK, A.ESCALATE)


def _now():
    return timezone.now()


def _label(user, fallback):
    return "" if user is not None else str(fallback)


def _log(event, action, user, *, from_status="", note="", at=None, label=RESIDENT_LABEL):
    return GridEventLog.objects.create(
        event=event, action=action, from_status=from_status, to_status=event.status,
        actor=user if user is not None and user.is_authenticated else None,
        actor_label=_label(user, label), note=note or "", at=at or _now(),
    )


def _enter(event, status, at):
    """Move to `status` and start its step deadline."""
    event.status = status
    event.status_changed_at = at
    hours = event.category.hours_for(status)
    event.due_at = at + dt.timedelta(hours=hours) if hours is not None else None


def _locked(event):
    """The event's row, locked for the rest of the transaction, fresh from the database."""
    return (
        GridEvent.objects.select_for_update(of=("self",))
        .select_related("category", "org_unit", "escalated_to", "department")
        .get(pk=event.pk)
    )


def _sync(target, fresh):
    """Copy the fresh row back into the caller's instance so it sees the change."""
    for field in fresh._meta.concrete_fields:
        setattr(target, field.attname, getattr(fresh, field.attname))
    return target


# ---- who may do what -------------------------------------------------------------------------


def _is_staff_for(user, event, perm):
    return (
        user is not None and user.is_authenticated and user.is_active
        and user.has_perm(perm) and in_scope(user, event.org_unit)
    )


def _is_handler(user, event):
    return (
        user is not None and user.is_authenticated and event.handler_id == user.pk
        and user.has_perm(WORK_PERM)
    )


def _may(user, event, action):
    if action in FILER_ACTIONS:
        return _is_staff_for(user, event, FILE_PERM)
    if action in HANDLER_ACTIONS:
        return _is_handler(user, event) or _is_staff_for(user, event, FILE_PERM)
    if action == A.ACKNOWLEDGE:
        return may_acknowledge(user, event)
    return False


def may_acknowledge(user, event):
    if event.department_id is None or user is None or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return event.department.staff.filter(pk=user.pk).exists()


def allowed_actions(user, event):
    """The steps `user` may take on `event` now, in loop order (for buttons and the API)."""
    actions = []
    for action, (sources, _target) in TRANSITIONS.items():
        if event.status in sources and _may(user, event, action):
            if action == A.ASSIGN and event.status == S.ASSIGNED and event.handler_id is None:
                continue
            actions.append(action)
    if (event.is_open and event.department_id and event.department_acknowledged_at is None
            and may_acknowledge(user, event)):
        actions.append(A.ACKNOWLEDGE)
    return actions


def _check(user, event, action):
    sources, _target = TRANSITIONS[action]
    if event.duplicate_of_id is not None:
        raise ValidationError(_("This event was linked as a duplicate and is closed."))
    if event.status not in sources:
        raise ValidationError(
            _("An event that is “%(status)s” cannot be %(action)s.")
            % {"status": event.get_status_display(), "action": A(action).label}
        )
    if user is not None and not _may(user, event, action):
        raise PermissionDenied(_("You may not take this step on this event."))


def _step(user, event, action, *, note="", at=None, change=None):
    """Lock, check, apply `change(fresh)`, move to the action's status, log; one transaction."""
    at = at or _now()
    with transaction.atomic():
        fresh = _locked(event)
        _check(user, fresh, action)
        before = fresh.status
        if change is not None:
            change(fresh, at)
        target = TRANSITIONS[action][1]
        if target is not None and target != before:
            _enter(fresh, target, at)
        fresh.save()
        _log(fresh, action, user, from_status=before, note=note, at=at)
    return _sync(event, fresh)


# ---- 问题上报: reporting ------------------------------------------------------------------------


def grid_for(compound, building=None):
    """The active grid covering the building (a micro-grid first), else the whole compound."""
    if compound is None:
        return None
    rows = GridCoverage.objects.filter(compound=compound, grid__is_active=True).select_related(
        "grid"
    )
    best = None
    for row in rows:
        rank = (
            0 if building is not None and row.building_id == building.pk else
            1 if row.building_id is None else 9,
            0 if row.grid.parent_id else 1,
        )
        if rank[0] < 9 and (best is None or rank < best[0]):
            best = (rank, row.grid)
    return best[1] if best else None


def report_event(user, *, category, description, source, compound=None, building=None,
                 org_unit=None, location="", reporter=None, reporter_name="", reporter_phone="",
                 latitude=None, longitude=None, photos=(), at=None):
    """Open an event (问题上报). `user` None means a resident on the public page."""
    at = at or _now()
    errors = {}
    if user is not None:
        if not user.has_perm(ADD_PERM):
            raise PermissionDenied(_("You do not have permission to do this."))
    if compound is not None:
        org_unit = compound.org_unit
        if not compound.is_active:
            errors["compound"] = _("The compound “%(name)s” is no longer active.") % {
                "name": compound.name
            }
    if org_unit is None:
        errors["compound"] = _("Choose the compound where it happened.")
    elif user is not None and not in_scope(user, org_unit):
        raise PermissionDenied(_("This compound is outside your organisation."))
    if building is not None and (compound is None or building.compound_id != compound.pk):
        errors["building"] = _("The building is in another compound.")
    if category is None or not category.is_active:
        errors["category"] = _("Choose a category.")
    if source not in EventSource.values:
        errors["source"] = _("Choose where the report came from.")
    if not (description or "").strip():
        errors["description"] = _("Describe the problem.")
    if errors:
        raise ValidationError(errors)
    event = GridEvent(
        org_unit=org_unit, compound=compound, building=building, grid=grid_for(compound, building),
        category=category, source=source, description=description.strip(),
        location=location or "", reporter=reporter,
        reporter_user=user if user is not None and user.is_authenticated else None,
        reporter_name=reporter_name or "", reporter_phone=reporter_phone or "",
        latitude=latitude, longitude=longitude,
        reported_at=at, status_changed_at=at,
        final_due_at=at + dt.timedelta(hours=category.total_hours),
    )
    _enter(event, S.REPORTED, at)
    event.full_clean(exclude=["tracking_code"])
    with transaction.atomic():
        event.save()
        for image in photos:
            GridEventPhoto.objects.create(event=event, image=image,
                                          stage=GridEventPhoto.Stage.REPORT)
        _log(event, A.REPORT, user, note="", at=at)
    return event


# ---- the loop ----------------------------------------------------------------------------------


def file_event(user, event, note="", at=None):
    """案卷建立: give the event a case number."""

    def change(fresh, at):
        fresh.case_number = f"SJ{timezone.localtime(at):%Y%m%d}{fresh.pk:07d}"

    return _step(user, event, A.FILE, note=note, at=at, change=change)


def assign_event(user, event, handler, note="", at=None):
    """任务指派 (or re-assignment while assigned): the handler must be staff who can see it."""

    def change(fresh, at):
        if handler is None:
            raise ValidationError({"handler": _("Choose the handler.")})
        if not (handler.is_active and handler.has_perm(WORK_PERM)
                and in_scope(handler, fresh.org_unit)):
            raise ValidationError(
                {"handler": _("%(name)s cannot handle events in this compound.")
                 % {"name": handler.get_full_name() or handler.get_username()}}
            )
        fresh.handler = handler

    return _step(user, event, A.ASSIGN, note=note, at=at, change=change)


def start_event(user, event, note="", at=None):
    """调查落实: the handler starts work."""
    return _step(user, event, A.START, note=note, at=at)


def report_result(user, event, result, note="", photos=(), at=None):
    """反馈结果: the handler reports what was done."""

    def change(fresh, at):
        if not (result or "").strip():
            raise ValidationError({"result": _("Say what was done.")})
        fresh.result = result.strip()
        for image in photos:
            GridEventPhoto.objects.create(event=fresh, image=image,
                                          stage=GridEventPhoto.Stage.RESULT)

    return _step(user, event, A.FEEDBACK, note=note, at=at, change=change)


def send_back(user, event, note, at=None):
    """The result is not good enough: back to work, with the reason."""
    if not (note or "").strip():
        raise ValidationError({"note": _("Say why the result is sent back.")})
    return _step(user, event, A.SEND_BACK, note=note, at=at)


def _close(fresh, at):
    fresh.closed_at = at
    fresh.handling_seconds = max(0, int((at - fresh.reported_at).total_seconds()))


def close_event(user, event, note="", at=None):
    """结案归档."""
    return _step(user, event, A.CLOSE, note=note, at=at, change=_close)


# ---- 吹哨报到 ----------------------------------------------------------------------------------


def escalation_targets(event):
    """The units above the event it may be passed up to (community, street), nearest first."""
    level = event.escalated_to or event.org_unit
    return [
        unit for unit in reversed(event.org_unit.get_ancestors())
        if unit.kind in ESCALATION_KINDS and unit.level < level.level
    ]


def departments_for(event):
    """Active departments serving the event's place (their unit is above it, or it)."""
    ancestors = event.org_unit.get_ancestors(include_self=True)
    return Department.objects.filter(org_unit__in=ancestors, is_active=True).order_by("name")


def escalate(user, event, *, to_unit=None, department=None, note, at=None):
    """吹哨: pass the event up to the community or the street, or call a department."""
    if not (note or "").strip():
        raise ValidationError({"note": _("Say why the event is escalated.")})
    if (to_unit is None) == (department is None):
        raise ValidationError(_("Escalate to a community or street, or to a department."))

    def change(fresh, at):
        if to_unit is not None:
            allowed = {unit.pk for unit in escalation_targets(fresh)}
            if to_unit.pk not in allowed:
                raise ValidationError(
                    {"to_unit": _("An event can only be escalated to a community or street "
                                  "above where it is now.")}
                )
            fresh.escalated_to = to_unit
        else:
            if not (department.is_active and departments_for(fresh).filter(pk=department.pk)
                    .exists()):
                raise ValidationError(
                    {"department": _("This department does not serve the event's place.")}
                )
            if fresh.department_id == department.pk and fresh.department_acknowledged_at is None:
                raise ValidationError(
                    {"department": _("%(name)s has already been called and has not reported yet.")
                     % {"name": department.name}}
                )
            fresh.department = department
            fresh.department_acknowledged_at = None
        fresh.was_escalated = True

    target = to_unit.name if to_unit is not None else department.name
    return _step(user, event, A.ESCALATE, note=f"→ {target}: {note.strip()}", at=at,
                 change=change)


def acknowledge(user, event, note="", at=None):
    """报到: the department called confirms it has taken the event up."""
    at = at or _now()
    with transaction.atomic():
        fresh = _locked(event)
        if fresh.department_id is None:
            raise ValidationError(_("No department has been called for this event."))
        if not fresh.is_open:
            raise ValidationError(_("The event is closed."))
        if fresh.department_acknowledged_at is not None:
            raise ValidationError(_("%(name)s has already reported.") %
                                  {"name": fresh.department.name})
        if not may_acknowledge(user, fresh):
            raise PermissionDenied(_("Only the department's staff can report for it."))
        fresh.department_acknowledged_at = at
        fresh.save(update_fields=["department_acknowledged_at"])
        _log(fresh, A.ACKNOWLEDGE, user, from_status=fresh.status,
             note=f"{fresh.department.name}: {note}".rstrip(": "), at=at)
    return _sync(event, fresh)


# ---- 群众评价, duplicates ------------------------------------------------------------------------


def may_rate(event):
    return (
        event.status == S.CLOSED and event.duplicate_of_id is None
        and (event.rated_at is None or event.rated_at < event.closed_at)
    )


def rate_event(user, event, rating, comment="", at=None):
    """The reporter rates the result; below SATISFIED_FROM reopens it.

    `user` None is the resident holding the tracking code (the public page checks the code).
    """
    at = at or _now()
    try:
        rating = int(rating)
    except (TypeError, ValueError):
        rating = 0
    if not 1 <= rating <= 5:
        raise ValidationError({"rating": _("Give a rating from 1 to 5.")})
    comment = (comment or "").strip()
    if len(comment) > 300:
        raise ValidationError({"rating_comment": _("Keep the comment under 300 characters.")})
    with transaction.atomic():
        fresh = _locked(event)
        if user is not None and not user.is_superuser and fresh.reporter_user_id != user.pk:
            raise PermissionDenied(_("Only the reporter can rate the result."))
        if not may_rate(fresh):
            raise ValidationError(_("This event cannot be rated now."))
        fresh.rating, fresh.rating_comment, fresh.rated_at = rating, comment, at
        before = fresh.status
        unsatisfied = rating < SATISFIED_FROM
        if unsatisfied:
            fresh.closed_at = None
            fresh.handling_seconds = None
            fresh.reopened_count += 1
            _enter(fresh, S.IN_PROGRESS, at)
        fresh.save()
        _log(fresh, A.RATE, user, from_status=before,
             note=f"{rating}/5 {comment}".strip(), at=at)
        if unsatisfied:
            _log(fresh, A.REOPEN, user, from_status=before,
                 note=_("Reopened: the reporter is not satisfied."), at=at)
    return _sync(event, fresh)


def link_duplicate(user, event, original, note="", at=None):
    """Close `event` as a duplicate of `original` (the original carries on)."""
    if original is None or original.pk == event.pk:
        raise ValidationError({"duplicate_of": _("Choose another event as the original.")})
    if original.duplicate_of_id is not None:
        raise ValidationError(
            {"duplicate_of": _("That event is itself a duplicate; link to its original.")}
        )
    if user is not None and not in_scope(user, original.org_unit):
        raise PermissionDenied(_("The original event is outside your organisation."))

    def change(fresh, at):
        fresh.duplicate_of = original
        fresh.closed_at = at

    label = str(original)
    return _step(user, event, A.DUPLICATE, note=f"→ {label} {note}".strip(), at=at, change=change)


# ---- the periodic task -------------------------------------------------------------------------


def overdue_events(now=None):
    now = now or _now()
    return GridEvent.objects.filter(
        status__in=TRANSITIONS[A.ESCALATE][0], due_at__lt=now, duplicate_of__isnull=True
    )


def escalate_overdue(now=None, batch=500):
    """Pass every overdue event one level up the tree (up to the street); returns how many.

    Each event gets a new step deadline at its new level, so it climbs again only if it stays
    overdue there. Events already at the street stay flagged as overdue.
    """
    now = now or _now()
    moved = 0
    ids = list(overdue_events(now).values_list("pk", flat=True))
    for start in range(0, len(ids), batch):
        with transaction.atomic():
            rows = (
                overdue_events(now).filter(pk__in=ids[start:start + batch])
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("category", "org_unit", "escalated_to")
            )
            for event in rows:
                level = event.escalated_to or event.org_unit
                if level.kind in TOP_LEVEL_KINDS or level.parent_id is None:
                    continue
                parent = level.parent
                event.escalated_to = parent
                event.was_escalated = True
                hours = event.category.hours_for(event.status)
                event.due_at = now + dt.timedelta(hours=hours)
                event.save(update_fields=["escalated_to", "was_escalated", "due_at"])
                _log(event, A.OVERDUE, None, from_status=event.status,
                     note=f"→ {parent.name}", at=now, label=SYSTEM_LABEL)
                moved += 1
    return moved
