"""State changes of 双报到 (in-service registration), posts and duties (设岗定责) and
normal/emergency switching (平急结合).

Every function takes the acting user first (None for the system), checks the model permission
and that every unit it touches lies in the user's scope, validates with translated messages,
runs in a transaction and writes the change to the ledger change log.
"""

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.deletion import ProtectedError, RestrictedError
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import audit
from ..locking import tree_write
from ..models import (
    AuditEntry,
    EmergencyAcknowledgement,
    EmergencyActivation,
    EmergencyRole,
    EmergencyRoleKind,
    InServiceRegistration,
    MemberCategory,
    MemberStatus,
    OrgKind,
    OrgUnit,
    Post,
    PostAssignment,
    PostKind,
    RegistrationEvaluation,
    ServiceRecord,
    WorkUnit,
)
from ..selectors import Subtree, in_scope
from .tree import _require, _require_scope

CREATE, UPDATE, DELETE = (
    AuditEntry.Action.CREATE, AuditEntry.Action.UPDATE, AuditEntry.Action.DELETE,
)
ACTIVE = InServiceRegistration.Status.ACTIVE

MIN_HOURS = Decimal("0.5")
MAX_HOURS = Decimal("24")
# An emergency role reports to a unit in a compound or community, never to a street or above.
EMERGENCY_PLACE_KINDS = (
    OrgKind.COMMUNITY, OrgKind.BRANCH, OrgKind.BUILDING_GROUP, OrgKind.HOUSEHOLD,
)

REGISTRATION_FIELDS = (
    "member", "work_unit", "branch", "registered_on", "commitment", "post", "status", "ended_on",
)
SERVICE_FIELDS = ("registration", "served_on", "hours", "activity")
EVALUATION_FIELDS = ("registration", "year", "rating", "comment")
POST_FIELDS = ("org_unit", "kind", "name", "duties", "is_active")
POST_EDITABLE = ("kind", "name", "duties", "is_active")
ASSIGNMENT_FIELDS = ("post", "member", "started_on", "ended_on")
ROLE_FIELDS = ("member", "kind", "place", "duties")
WORK_UNIT_FIELDS = (
    "name", "kind", "party_organisation", "contact_name", "contact_phone", "address",
)


# ---- shared checks ---------------------------------------------------------------------------


def _today():
    return timezone.localdate()


def _require_member_scope(user, member):
    if user is not None and not in_scope(user, member.org_unit):
        raise PermissionDenied(_("This party member is outside your organisation."))


def _within(node, ancestor):
    return Subtree.of(ancestor).contains(node)


def _clean(obj, exclude=()):
    """Field validation (lengths, choices, validators) without re-reading foreign keys."""
    obj.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)


def _text(value):
    return (value or "").strip()


def _as_date(value, field):
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise ValidationError({field: [_("Enter a valid date (YYYY-MM-DD).")]}) from None


def _not_in_future(value, field, errors):
    if value > _today():
        errors.setdefault(field, []).append(_("The date cannot be in the future."))


def _raise(errors):
    if errors:
        raise ValidationError(errors)


def _record(user, action, obj, org_unit, summary, before=None, fields=()):
    audit.record_change(user, action, obj, org_unit, summary, before=before, fields=fields)


# ---- work units (city-wide reference data) ---------------------------------------------------


def _save_work_unit(unit):
    unit.name = _text(unit.name)
    try:
        unit.full_clean()
    except ValidationError as error:
        raise ValidationError(error.message_dict) from None
    try:
        with transaction.atomic():
            unit.save()
    except IntegrityError:
        raise ValidationError(
            {"name": [_("A work unit named “%(name)s” already exists.") % {"name": unit.name}]}
        ) from None
    return unit


def create_work_unit(user, **fields):
    _require(user, "party_org.add_workunit")
    unknown = set(fields) - set(WORK_UNIT_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    return _save_work_unit(WorkUnit(**fields))


def update_work_unit(user, unit, **fields):
    _require(user, "party_org.change_workunit")
    unknown = set(fields) - set(WORK_UNIT_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    for name, value in fields.items():
        setattr(unit, name, value)
    return _save_work_unit(unit)


def delete_work_unit(user, unit):
    _require(user, "party_org.delete_workunit")
    # Members, registrations, co-building agreements and resources all protect the unit.
    try:
        with transaction.atomic():
            unit.delete()
    except (ProtectedError, RestrictedError):
        raise ValidationError(
            _("“%(name)s” is still the employer of members, has registrations or is a "
              "co-building unit; it cannot be deleted.") % {"name": unit.name}
        ) from None


# ---- 双报到: in-service registrations --------------------------------------------------------


def _post_problem(post, branch):
    if post is None:
        return None
    if not post.is_active:
        return _("The post “%(post)s” is no longer active.") % {"post": post.name}
    if not _within(post.org_unit, branch):
        return _("The post “%(post)s” does not belong to %(branch)s.") % {
            "post": post.name, "branch": branch.name,
        }
    return None


def _duplicate_message(member, branch):
    return _("%(member)s already has an active registration with %(branch)s.") % {
        "member": member.person.name, "branch": branch.name,
    }


def registration_problems(*, member, work_unit, branch, registered_on, commitment, post=None):
    """Why this registration cannot be made, as {field: [messages]} (also used by forms)."""
    errors = {}
    if branch.kind != OrgKind.BRANCH:
        errors["branch"] = [_("Members report to a compound (grid) party branch.")]
    if member.category != MemberCategory.IN_SERVICE:
        errors["member"] = [
            _("Only in-service members register with a branch; %(member)s is “%(category)s”.")
            % {"member": member.person.name, "category": member.get_category_display()}
        ]
    elif member.status != MemberStatus.ACTIVE:
        errors["member"] = [
            _("%(member)s is not an active member.") % {"member": member.person.name}
        ]
    elif "branch" not in errors and InServiceRegistration.objects.filter(
        member=member, branch=branch, status=ACTIVE
    ).exists():
        errors["member"] = [_duplicate_message(member, branch)]
    if work_unit is None:
        errors["work_unit"] = [_("Choose the member's employer unit.")]
    if registered_on is not None:
        _not_in_future(registered_on, "registered_on", errors)
    if not _text(commitment):
        errors["commitment"] = [_("Write down the member's commitment.")]
    if "branch" not in errors:
        problem = _post_problem(post, branch)
        if problem:
            errors["post"] = [problem]
    return errors


def register_in_service(
    user, *, member, work_unit, branch, registered_on, commitment, post=None
):
    """An in-service member reports to the branch where they live (双报到)."""
    _require(user, "party_org.add_inserviceregistration")
    _require_scope(user, branch)
    _require_member_scope(user, member)
    registered_on = _as_date(registered_on, "registered_on")
    if work_unit is None:
        work_unit = member.employer
    with transaction.atomic():
        _raise(registration_problems(
            member=member, work_unit=work_unit, branch=branch, registered_on=registered_on,
            commitment=commitment, post=post,
        ))
        registration = InServiceRegistration(
            member=member, work_unit=work_unit, branch=branch, registered_on=registered_on,
            commitment=_text(commitment), post=post,
        )
        _clean(registration, exclude=("member", "work_unit", "branch", "post"))
        try:
            with transaction.atomic():
                registration.save()
        except IntegrityError:
            # A concurrent request registered the same member first.
            raise ValidationError({"member": [_duplicate_message(member, branch)]}) from None
        _record(
            user, CREATE, registration, branch,
            _("%(member)s registered with %(branch)s") % {
                "member": member.person.name, "branch": branch.name,
            },
            fields=REGISTRATION_FIELDS,
        )
    return registration


def update_registration(user, registration, **fields):
    """Correct a registration's employer unit, date, commitment or assigned post."""
    _require(user, "party_org.change_inserviceregistration")
    _require_scope(user, registration.branch)
    allowed = {"work_unit", "registered_on", "commitment", "post"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    with transaction.atomic():
        fresh = InServiceRegistration.objects.select_for_update(of=("self",)).select_related(
            "branch", "member__person"
        ).get(pk=registration.pk)
        before = audit.snapshot(fresh, REGISTRATION_FIELDS)
        errors = {}
        if "registered_on" in fields:
            fields["registered_on"] = _as_date(fields["registered_on"], "registered_on")
            _not_in_future(fields["registered_on"], "registered_on", errors)
            if fresh.ended_on and fields["registered_on"] > fresh.ended_on:
                errors.setdefault("registered_on", []).append(
                    _("The registration ended on %(date)s; it cannot begin after that.")
                    % {"date": fresh.ended_on}
                )
            first_service = fresh.service_records.order_by("served_on").first()
            if first_service and first_service.served_on < fields["registered_on"]:
                errors.setdefault("registered_on", []).append(
                    _("Service was already recorded on %(date)s, before this date.")
                    % {"date": first_service.served_on}
                )
        if "commitment" in fields:
            fields["commitment"] = _text(fields["commitment"])
            if not fields["commitment"]:
                errors["commitment"] = [_("Write down the member's commitment.")]
        if "work_unit" in fields and fields["work_unit"] is None:
            errors["work_unit"] = [_("Choose the member's employer unit.")]
        if "post" in fields and fields["post"] is not None and fields["post"].pk != fresh.post_id:
            problem = _post_problem(fields["post"], fresh.branch)
            if problem:
                errors["post"] = [problem]
        _raise(errors)
        for name, value in fields.items():
            setattr(fresh, name, value)
        _clean(fresh, exclude=("member", "work_unit", "branch", "post"))
        fresh.save()
        _record(
            user, UPDATE, fresh, fresh.branch,
            _("Registration of %(member)s with %(branch)s changed") % {
                "member": fresh.member.person.name, "branch": fresh.branch.name,
            },
            before=before, fields=REGISTRATION_FIELDS,
        )
    return fresh


def end_registration(user, registration, ended_on=None):
    """The member no longer serves with this branch (moved house, left the employer)."""
    _require(user, "party_org.change_inserviceregistration")
    _require_scope(user, registration.branch)
    ended_on = _as_date(ended_on, "ended_on") if ended_on else _today()
    with transaction.atomic():
        fresh = InServiceRegistration.objects.select_for_update(of=("self",)).select_related(
            "branch", "member__person"
        ).get(pk=registration.pk)
        if fresh.status != ACTIVE:
            raise ValidationError(_("This registration has already ended."))
        errors = {}
        _not_in_future(ended_on, "ended_on", errors)
        if ended_on < fresh.registered_on:
            errors.setdefault("ended_on", []).append(
                _("A registration cannot end before it began (%(date)s).")
                % {"date": fresh.registered_on}
            )
        _raise(errors)
        before = audit.snapshot(fresh, REGISTRATION_FIELDS)
        fresh.status = InServiceRegistration.Status.ENDED
        fresh.ended_on = ended_on
        fresh.save(update_fields=["status", "ended_on"])
        _record(
            user, UPDATE, fresh, fresh.branch,
            _("Registration of %(member)s with %(branch)s ended") % {
                "member": fresh.member.person.name, "branch": fresh.branch.name,
            },
            before=before, fields=REGISTRATION_FIELDS,
        )
    registration.status, registration.ended_on = fresh.status, fresh.ended_on
    return fresh


def delete_registration(user, registration):
    """Delete a registration entered by mistake; one with service or evaluations is ended
    instead."""
    _require(user, "party_org.delete_inserviceregistration")
    _require_scope(user, registration.branch)
    with transaction.atomic():
        # The lock orders this after any record_service/evaluate_registration in flight.
        InServiceRegistration.objects.select_for_update().filter(pk=registration.pk).first()
        if registration.service_records.exists() or registration.evaluations.exists():
            raise ValidationError(
                _("This registration has service records or evaluations; end it instead of "
                  "deleting it.")
            )
        _record(
            user, DELETE, registration, registration.branch,
            _("Registration of %(member)s with %(branch)s deleted") % {
                "member": registration.member.person.name, "branch": registration.branch.name,
            },
            fields=REGISTRATION_FIELDS,
        )
        registration.delete()


def _service_errors(registration, served_on, hours, activity):
    """The problems of a service record, by field (shared with the admin's inline forms)."""
    errors = {}
    if registration.status != ACTIVE:
        errors["registration"] = [_("Service can only be recorded on an active registration.")]
    if served_on is not None:
        _not_in_future(served_on, "served_on", errors)
        if served_on < registration.registered_on:
            errors.setdefault("served_on", []).append(
                _("The member registered on %(date)s; service cannot be earlier.")
                % {"date": registration.registered_on}
            )
    if hours is not None and not (MIN_HOURS <= hours <= MAX_HOURS):
        errors["hours"] = [_("Hours must be between 0.5 and 24.")]
    if activity is not None and not _text(activity):
        errors["activity"] = [_("Say what the member did.")]
    return errors


def _as_hours(value):
    try:
        hours = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        hours = None
    if hours is None or not hours.is_finite():
        raise ValidationError({"hours": [_("Enter the hours as a number, e.g. 2 or 1.5.")]})
    if not MIN_HOURS <= hours <= MAX_HOURS:
        raise ValidationError({"hours": [_("Hours must be between 0.5 and 24.")]})
    if hours != hours.quantize(Decimal("0.1")):
        raise ValidationError({"hours": [_("Hours take at most one decimal place.")]})
    return hours


def service_record_problems(registration, served_on, hours, activity):
    """For forms: the same checks record_service makes, as {field: [messages]}."""
    return _service_errors(registration, served_on, hours, activity)


def record_service(user, registration, served_on, hours, activity):
    """A registered member served (an activity of so many hours on a day)."""
    _require(user, "party_org.add_servicerecord")
    _require_scope(user, registration.branch)
    served_on = _as_date(served_on, "served_on")
    hours = _as_hours(hours)
    with transaction.atomic():
        fresh = InServiceRegistration.objects.select_for_update(of=("self",)).select_related(
            "branch", "member__person"
        ).get(pk=registration.pk)
        _raise(_service_errors(fresh, served_on, hours, activity))
        record = ServiceRecord(
            registration=fresh, served_on=served_on, hours=hours, activity=_text(activity),
            recorded_by=user if user is not None and user.is_authenticated else None,
        )
        _clean(record, exclude=("registration", "recorded_by"))
        record.save()
        _record(
            user, CREATE, record, fresh.branch,
            _("Service of %(member)s on %(date)s: %(hours)s h") % {
                "member": fresh.member.person.name, "date": served_on, "hours": hours,
            },
            fields=SERVICE_FIELDS,
        )
    return record


def update_service_record(user, record, *, served_on, hours, activity):
    _require(user, "party_org.change_servicerecord")
    registration = record.registration
    _require_scope(user, registration.branch)
    served_on = _as_date(served_on, "served_on")
    hours = _as_hours(hours)
    errors = _service_errors(registration, served_on, hours, activity)
    # Corrections to records of a registration that has since ended are allowed.
    errors.pop("registration", None)
    _raise(errors)
    with transaction.atomic():
        fresh = ServiceRecord.objects.select_for_update().get(pk=record.pk)
        before = audit.snapshot(fresh, SERVICE_FIELDS)
        fresh.served_on, fresh.hours, fresh.activity = served_on, hours, _text(activity)
        _clean(fresh, exclude=("registration", "recorded_by"))
        fresh.save(update_fields=["served_on", "hours", "activity"])
        _record(
            user, UPDATE, fresh, registration.branch,
            _("Service record of %(member)s changed") % {"member": registration.member.person.name},
            before=before, fields=SERVICE_FIELDS,
        )
    return fresh


def delete_service_record(user, record):
    _require(user, "party_org.delete_servicerecord")
    registration = record.registration
    _require_scope(user, registration.branch)
    with transaction.atomic():
        _record(
            user, DELETE, record, registration.branch,
            _("Service record of %(member)s on %(date)s deleted") % {
                "member": registration.member.person.name, "date": record.served_on,
            },
            fields=SERVICE_FIELDS,
        )
        record.delete()


def evaluation_problems(registration, year, rating):
    """Why this evaluation cannot be made, as {field: [messages]} (also used by forms)."""
    errors = {}
    if year is not None and not registration.registered_on.year <= year <= _today().year:
        errors["year"] = [
            _("Choose a year from %(first)s to %(last)s.")
            % {"first": registration.registered_on.year, "last": _today().year}
        ]
    if rating is not None and rating not in RegistrationEvaluation.Rating.values:
        errors["rating"] = [_("Choose a rating.")]
    return errors


def evaluate_registration(user, registration, year, rating, comment=""):
    """The branch's evaluation of a registered member for a year; a second one replaces it."""
    _require(user, "party_org.add_registrationevaluation")
    _require_scope(user, registration.branch)
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ValidationError({"year": [_("Enter a year, e.g. 2025.")]}) from None
    _raise(evaluation_problems(registration, year, rating))
    with transaction.atomic():
        # The lock orders this after a delete_registration in flight (evaluations cascade).
        InServiceRegistration.objects.select_for_update().filter(pk=registration.pk).first()
        existing = (
            RegistrationEvaluation.objects.select_for_update()
            .filter(registration=registration, year=year)
            .first()
        )
        if existing:
            _require(user, "party_org.change_registrationevaluation")
        evaluation = existing or RegistrationEvaluation(registration=registration, year=year)
        before = audit.snapshot(evaluation, EVALUATION_FIELDS) if existing else None
        evaluation.rating = rating
        evaluation.comment = _text(comment)
        evaluation.evaluated_by = user if user is not None and user.is_authenticated else None
        _clean(evaluation, exclude=("registration", "evaluated_by"))
        try:
            with transaction.atomic():
                evaluation.save()
        except IntegrityError:
            raise ValidationError(
                _("This year's evaluation was just saved by someone else; reload and try again.")
            ) from None
        _record(
            user, UPDATE if existing else CREATE, evaluation, registration.branch,
            _("Evaluation %(year)s of %(member)s: %(rating)s") % {
                "year": year, "member": registration.member.person.name,
                "rating": evaluation.get_rating_display(),
            },
            before=before, fields=EVALUATION_FIELDS,
        )
    return evaluation


def delete_evaluation(user, evaluation):
    _require(user, "party_org.delete_registrationevaluation")
    registration = evaluation.registration
    _require_scope(user, registration.branch)
    with transaction.atomic():
        _record(
            user, DELETE, evaluation, registration.branch,
            _("Evaluation %(year)s of %(member)s deleted") % {
                "year": evaluation.year, "member": registration.member.person.name,
            },
            fields=EVALUATION_FIELDS,
        )
        evaluation.delete()


# ---- 设岗定责: posts and assignments --------------------------------------------------------


def _post_errors(post):
    errors = {}
    if post.org_unit_id and post.org_unit.kind != OrgKind.BRANCH:
        errors["org_unit"] = [_("Posts are set up by a compound (grid) party branch.")]
    if post.kind not in PostKind.values:
        errors["kind"] = [_("Choose the kind of post.")]
    post.name = _text(post.name)
    post.duties = _text(post.duties)
    if not post.name:
        errors["name"] = [_("Give the post a name.")]
    if not post.duties:
        errors["duties"] = [_("Describe the post's duties.")]
    if post.name and post.org_unit_id and (
        Post.objects.filter(org_unit_id=post.org_unit_id, name=post.name)
        .exclude(pk=post.pk).exists()
    ):
        errors["name"] = [
            _("%(unit)s already has a post named “%(name)s”.")
            % {"unit": post.org_unit.name, "name": post.name}
        ]
    return errors


def _save_post(post):
    _raise(_post_errors(post))
    _clean(post, exclude=("org_unit",))
    try:
        with transaction.atomic():
            post.save()
    except IntegrityError:
        raise ValidationError(
            {"name": [_("%(unit)s already has a post named “%(name)s”.")
                      % {"unit": post.org_unit.name, "name": post.name}]}
        ) from None


def create_post(user, *, org_unit, kind, name, duties, is_active=True):
    _require(user, "party_org.add_post")
    _require_scope(user, org_unit)
    post = Post(org_unit=org_unit, kind=kind, name=name, duties=duties, is_active=is_active)
    with transaction.atomic():
        _save_post(post)
        _record(
            user, CREATE, post, org_unit,
            _("Post “%(post)s” set up at %(unit)s") % {"post": post.name, "unit": org_unit.name},
            fields=POST_FIELDS,
        )
    return post


def update_post(user, post, **fields):
    """Change a post's kind, name, duties or active flag (its branch stays)."""
    _require(user, "party_org.change_post")
    _require_scope(user, post.org_unit)
    unknown = set(fields) - set(POST_EDITABLE)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    with transaction.atomic():
        fresh = (
            Post.objects.select_for_update(of=("self",)).select_related("org_unit").get(pk=post.pk)
        )
        before = audit.snapshot(fresh, POST_FIELDS)
        for name, value in fields.items():
            setattr(fresh, name, value)
        if fresh.is_active is False and before["is_active"]:
            if fresh.assignments.filter(ended_on__isnull=True).exists():
                raise ValidationError(
                    {"is_active": [_("End the post's current assignments before closing it.")]}
                )
        _save_post(fresh)
        _record(
            user, UPDATE, fresh, fresh.org_unit,
            _("Post “%(post)s” changed") % {"post": fresh.name},
            before=before, fields=POST_FIELDS,
        )
    return fresh


def save_post(user, post):
    """Persist a post edited by a form: create it, or update its editable fields."""
    if post.pk is None:
        return create_post(
            user, org_unit=post.org_unit, kind=post.kind, name=post.name, duties=post.duties,
            is_active=post.is_active,
        )
    return update_post(user, post, **{name: getattr(post, name) for name in POST_EDITABLE})


def delete_post(user, post):
    _require(user, "party_org.delete_post")
    _require_scope(user, post.org_unit)
    with transaction.atomic():
        # The lock orders this after any assign_post in flight.
        Post.objects.select_for_update().filter(pk=post.pk).first()
        if post.assignments.exists() or post.registrations.exists():
            raise ValidationError(
                _("“%(post)s” has been held by members; close it (untick “active”) instead of "
                  "deleting it.") % {"post": post.name}
            )
        _record(
            user, DELETE, post, post.org_unit,
            _("Post “%(post)s” deleted") % {"post": post.name}, fields=POST_FIELDS,
        )
        post.delete()


def _assignment_end_errors(started_on, ended_on, errors):
    _not_in_future(ended_on, "ended_on", errors)
    if ended_on < started_on:
        errors.setdefault("ended_on", []).append(
            _("An assignment cannot end before it began (%(date)s).") % {"date": started_on}
        )


def assign_post(user, post, member, started_on, ended_on=None):
    """A member of the post's branch takes the post (`ended_on`: a past assignment, recorded
    whole, so a refused end date saves nothing)."""
    _require(user, "party_org.add_postassignment")
    _require_scope(user, post.org_unit)
    _require_member_scope(user, member)
    started_on = _as_date(started_on, "started_on")
    ended_on = _as_date(ended_on, "ended_on") if ended_on else None
    with transaction.atomic():
        # Locking the post serialises assignments to it, so "not twice at once" holds.
        fresh = (
            Post.objects.select_for_update(of=("self",)).select_related("org_unit").get(pk=post.pk)
        )
        errors = {}
        if not fresh.is_active:
            errors["post"] = [_("The post “%(post)s” is no longer active.") % {"post": fresh.name}]
        if member.status != MemberStatus.ACTIVE:
            errors["member"] = [
                _("%(member)s is not an active member.") % {"member": member.person.name}
            ]
        elif not _within(member.org_unit, fresh.org_unit):
            errors["member"] = [
                _("%(member)s is not a member of %(unit)s.")
                % {"member": member.person.name, "unit": fresh.org_unit.name}
            ]
        _not_in_future(started_on, "started_on", errors)
        if ended_on is not None:
            _assignment_end_errors(started_on, ended_on, errors)
        _raise(errors)
        if PostAssignment.objects.filter(
            post=fresh, member=member, ended_on__isnull=True
        ).exists():
            raise ValidationError(
                {"member": [_("%(member)s already holds the post “%(post)s”.")
                            % {"member": member.person.name, "post": fresh.name}]}
            )
        assignment = PostAssignment.objects.create(
            post=fresh, member=member, started_on=started_on, ended_on=ended_on
        )
        _record(
            user, CREATE, assignment, fresh.org_unit,
            _("%(member)s took the post “%(post)s”") % {
                "member": member.person.name, "post": fresh.name,
            },
            fields=ASSIGNMENT_FIELDS,
        )
    return assignment


def end_post_assignment(user, assignment, ended_on=None):
    _require(user, "party_org.change_postassignment")
    post = assignment.post
    _require_scope(user, post.org_unit)
    ended_on = _as_date(ended_on, "ended_on") if ended_on else _today()
    with transaction.atomic():
        fresh = (
            PostAssignment.objects.select_for_update(of=("self",))
            .select_related("member__person")
            .get(pk=assignment.pk)
        )
        if fresh.ended_on is not None:
            raise ValidationError(_("This assignment has already ended."))
        errors = {}
        _assignment_end_errors(fresh.started_on, ended_on, errors)
        _raise(errors)
        before = audit.snapshot(fresh, ASSIGNMENT_FIELDS)
        fresh.ended_on = ended_on
        fresh.save(update_fields=["ended_on"])
        _record(
            user, UPDATE, fresh, post.org_unit,
            _("%(member)s left the post “%(post)s”") % {
                "member": fresh.member.person.name, "post": post.name,
            },
            before=before, fields=ASSIGNMENT_FIELDS,
        )
    assignment.ended_on = fresh.ended_on
    return fresh


def delete_post_assignment(user, assignment):
    _require(user, "party_org.delete_postassignment")
    post = assignment.post
    _require_scope(user, post.org_unit)
    with transaction.atomic():
        _record(
            user, DELETE, assignment, post.org_unit,
            _("Assignment of %(member)s to “%(post)s” deleted") % {
                "member": assignment.member.person.name, "post": post.name,
            },
            fields=ASSIGNMENT_FIELDS,
        )
        assignment.delete()


# ---- 平急结合: emergency roles and activations ----------------------------------------------


def set_emergency_role(user, member, kind, place, duties=""):
    """Give a member (or change) the role they take in an emergency (急时对号入座)."""
    _require(user, "party_org.add_emergencyrole")
    _require_member_scope(user, member)
    _require_scope(user, place)
    existing = EmergencyRole.objects.filter(member=member).select_related("place").first()
    if existing is not None:
        _require(user, "party_org.change_emergencyrole")
        _require_scope(user, existing.place)
    errors = {}
    if member.status != MemberStatus.ACTIVE:
        errors["member"] = [
            _("%(member)s is not an active member.") % {"member": member.person.name}
        ]
    if kind not in EmergencyRoleKind.values:
        errors["kind"] = [_("Choose the emergency role.")]
    if place.kind not in EMERGENCY_PLACE_KINDS:
        errors["place"] = [
            _("In an emergency members report to a community, branch, building group or "
              "member household.")
        ]
    _raise(errors)
    with transaction.atomic():
        role = existing or EmergencyRole(member=member)
        before = audit.snapshot(role, ROLE_FIELDS) if existing else None
        role.kind, role.place, role.duties = kind, place, _text(duties)
        _clean(role, exclude=("member", "place"))
        try:
            with transaction.atomic():
                role.save()
        except IntegrityError:
            raise ValidationError(
                _("This member's emergency role was just saved by someone else; reload and try "
                  "again.")
            ) from None
        _record(
            user, UPDATE if existing else CREATE, role, place,
            _("Emergency role of %(member)s: %(role)s at %(place)s") % {
                "member": member.person.name, "role": role.get_kind_display(),
                "place": place.name,
            },
            before=before, fields=ROLE_FIELDS,
        )
    return role


def remove_emergency_role(user, role):
    _require(user, "party_org.delete_emergencyrole")
    _require_scope(user, role.place)
    with transaction.atomic():
        _record(
            user, DELETE, role, role.place,
            _("Emergency role of %(member)s removed") % {"member": role.member.person.name},
            fields=ROLE_FIELDS,
        )
        role.delete()


def _open_overlapping(node):
    """An open activation whose subtree contains `node` or lies inside node's subtree."""
    return (
        EmergencyActivation.objects.filter(ended_at__isnull=True, org_unit__tree_id=node.tree_id)
        .filter(
            Q(org_unit__lft__lte=node.lft, org_unit__rght__gte=node.rght)
            | Q(org_unit__lft__gte=node.lft, org_unit__rght__lte=node.rght)
        )
        .select_related("org_unit")
        .first()
    )


def activate_emergency(user, org_unit, title, reason=""):
    """Switch a subtree to emergency mode: every active member with a role there is called."""
    _require(user, "party_org.add_emergencyactivation")
    _require_scope(user, org_unit)
    title = _text(title)
    if not title:
        raise ValidationError({"title": [_("Give the emergency a title.")]})
    # The tree lock serialises activations of one tree, so two overlapping ones cannot both start.
    with tree_write([org_unit.tree_id]):
        node = OrgUnit.objects.get(pk=org_unit.pk)
        if not node.is_active:
            raise ValidationError(
                {"org_unit": [_("%(unit)s is not active.") % {"unit": node.name}]}
            )
        overlapping = _open_overlapping(node)
        if overlapping is not None:
            raise ValidationError(
                {"org_unit": [
                    _("The emergency “%(title)s” at %(unit)s is still open and covers this unit; "
                      "end it first.")
                    % {"title": overlapping.title, "unit": overlapping.org_unit.name}
                ]}
            )
        activation = EmergencyActivation(
            org_unit=node, title=title, reason=_text(reason),
            started_by=user if user is not None and user.is_authenticated else None,
        )
        _clean(activation, exclude=("org_unit", "started_by"))
        activation.save()
        roles = EmergencyRole.objects.filter(
            Subtree.of(node).q("place"), member__status=MemberStatus.ACTIVE
        ).values_list("member_id", "kind", "place_id")
        acknowledgements = EmergencyAcknowledgement.objects.bulk_create(
            EmergencyAcknowledgement(
                activation=activation, member_id=member_id, role_kind=kind, place_id=place_id
            )
            for member_id, kind, place_id in roles
        )
        audit.record(
            user, CREATE, activation, node,
            _("Emergency “%(title)s” started at %(unit)s; %(count)s members called") % {
                "title": title, "unit": node.name, "count": len(acknowledgements),
            },
            {"title": title, "members_called": len(acknowledgements)},
        )
    activation.called_count = len(acknowledgements)
    return activation


def acknowledge(user, ack, note=""):
    """The member has reported for their role. Repeating it changes nothing but a new note."""
    _require(user, "party_org.change_emergencyacknowledgement")
    _require_scope(user, ack.activation.org_unit)
    with transaction.atomic():
        fresh = (
            EmergencyAcknowledgement.objects.select_for_update(of=("self",))
            .select_related("activation__org_unit", "member__person")
            .get(pk=ack.pk)
        )
        if fresh.activation.ended_at is not None:
            raise ValidationError(
                _("The emergency “%(title)s” has ended; acknowledgements are closed.")
                % {"title": fresh.activation.title}
            )
        note = _text(note)
        changed = []
        if fresh.acknowledged_at is None:
            fresh.acknowledged_at = timezone.now()
            changed.append("acknowledged_at")
        if note and note != fresh.note:
            fresh.note = note
            changed.append("note")
        if changed:
            _clean(fresh, exclude=("activation", "member", "place"))
            fresh.save(update_fields=changed)
            audit.record(
                user, UPDATE, fresh, fresh.activation.org_unit,
                _("%(member)s acknowledged “%(title)s”") % {
                    "member": fresh.member.person.name, "title": fresh.activation.title,
                },
                audit.snapshot(fresh, ["acknowledged_at", "note"]),
            )
    ack.acknowledged_at, ack.note = fresh.acknowledged_at, fresh.note
    return fresh


def end_emergency(user, activation):
    """Switch the subtree back to normal times."""
    _require(user, "party_org.change_emergencyactivation")
    _require_scope(user, activation.org_unit)
    with transaction.atomic():
        fresh = (
            EmergencyActivation.objects.select_for_update(of=("self",))
            .select_related("org_unit")
            .get(pk=activation.pk)
        )
        if fresh.ended_at is not None:
            raise ValidationError(_("This emergency has already ended."))
        fresh.ended_at = timezone.now()
        fresh.save(update_fields=["ended_at"])
        audit.record(
            user, UPDATE, fresh, fresh.org_unit,
            _("Emergency “%(title)s” at %(unit)s ended") % {
                "title": fresh.title, "unit": fresh.org_unit.name,
            },
            {"ended_at": str(fresh.ended_at)},
        )
    activation.ended_at = fresh.ended_at
    return fresh
