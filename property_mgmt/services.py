"""State changes of property management: companies and their staff, service periods and the
transition subsidy, the self-funding ledger, committees, service evaluations, deliberations by
the four-step method and conventions.

Every function takes the acting user first (None = the system, or a resident on the public
pages for `submit_evaluation`), checks the model permission and that the compound or unit lies
in the user's scope (PermissionDenied), validates with translated messages keyed by field
(ValidationError), and writes the rows and the ledger change log in one transaction.
"""

import calendar
import datetime as dt
import os
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from grids.models import Compound, GridEvent, Household
from party_org import audit
from party_org.models import AuditEntry, Person
from party_org.selectors import Subtree, in_scope, scoped
from party_org.services.tree import _require, _require_scope

from .models import (
    DIMENSIONS,
    NEEDS_COMPANY,
    ONE_PLUS_THREE_PLUS_N,
    Committee,
    CommitteeDocument,
    CommitteeKind,
    CommitteeMember,
    CommitteeMemberRole,
    CompanyStaff,
    Convention,
    Deliberation,
    DeliberationAttendance,
    DeliberationLog,
    DeliberationStatus,
    EvaluationCode,
    EvaluationResponse,
    IncomeKind,
    PartyFormation,
    PartyKind,
    PropertyCompany,
    RulesDocument,
    SelfFundingEntry,
    ServiceEvaluation,
    ServiceMode,
    ServicePeriod,
    SubsidyGrant,
    new_evaluation_code,
)
from .selectors import (  # noqa: F401  (reads offered next to the changes they go with)
    company_ranking,
    cross_appointments,
    current_notices,
    current_period,
    evaluation_results,
    one_shoulder,
    subsidy_ending,
    terms_ending,
    watch_list,
)

CREATE, UPDATE = AuditEntry.Action.CREATE, AuditEntry.Action.UPDATE
S = DeliberationStatus
CENT = Decimal("0.01")

COMPANY_FIELDS = (
    "name", "credit_code", "contact_name", "contact_phone", "address", "party_formation",
    "party_unit", "instructor", "is_red_property", "is_active",
)
PERIOD_FIELDS = ("compound", "mode", "company", "started_on", "ended_on", "fee_per_m2",
                 "subsidy_rate", "subsidy_months", "subsidy_ends_on", "note")
COMMITTEE_FIELDS = ("compound", "kind", "elected_on", "term_ends_on", "is_active", "ended_on")
MEMBER_FIELDS = ("committee", "person", "role", "started_on", "ended_on")
STAFF_FIELDS = ("company", "person", "compound", "role", "started_on", "ended_on")
INCOME_FIELDS = ("compound", "kind", "amount", "received_on", "note", "reverses")
EVALUATION_FIELDS = ("compound", "company", "year", "quarter", "opens_on", "closes_on")
CONVENTION_FIELDS = ("compound", "version", "title", "adopted_on", "deliberation")

DOCUMENT_EXTENSIONS = ("pdf", "ofd", "doc", "docx", "wps", "jpg", "jpeg", "png")
DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
PUBLICISE_MAX_DAYS = 90
CODE_ATTEMPTS = 5


# ---- helpers ---------------------------------------------------------------------------------


def _now():
    return timezone.now()


def _today():
    return timezone.localdate()


def _raise(errors):
    if errors:
        raise ValidationError(errors)


def _add(errors, field, message):
    errors.setdefault(field, []).append(message)


def _text(value):
    return (value or "").strip() if isinstance(value, str) or value is None else str(value).strip()


def _as_date(value, field):
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise ValidationError({field: [_("Enter a valid date (YYYY-MM-DD).")]}) from None


def _as_decimal(value, field, errors, *, places=2, minimum=Decimal("0")):
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, TypeError, ValueError):
        _add(errors, field, _("Enter a number."))
        return None
    if not number.is_finite():
        _add(errors, field, _("Enter a number."))
        return None
    if number < minimum:
        _add(errors, field, _("The amount cannot be below %(min)s.") % {"min": minimum})
        return None
    if number != number.quantize(Decimal(1).scaleb(-places)):
        _add(errors, field, _("Use at most %(n)s decimal places.") % {"n": places})
        return None
    return number


def _as_int(value, field, errors, *, minimum=0, maximum=None):
    if isinstance(value, bool):
        value = None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        _add(errors, field, _("Enter a whole number."))
        return None
    if number < minimum or (maximum is not None and number > maximum):
        if maximum is None:
            message = _("Enter a whole number of at least %(min)s.") % {"min": minimum}
        else:
            message = _("Enter a whole number from %(min)s to %(max)s.") % {
                "min": minimum, "max": maximum,
            }
        _add(errors, field, message)
        return None
    return number


def _require_in_scope(user, obj, field):
    """A chosen row (a person, an event) must be visible to the user: else a form error."""
    if obj is None or user is None:
        return
    if not scoped(user, type(obj).objects.filter(pk=obj.pk)).exists():
        raise ValidationError({field: [_("This choice is outside your organisation.")]})


def _field_errors(obj, exclude=()):
    """The model's field checks (lengths, choices, validators) as {field: [messages]}."""
    try:
        obj.clean_fields(exclude=list(exclude))
    except ValidationError as error:
        return error.message_dict
    return {}


def _merge(errors, more):
    for field, messages in more.items():
        errors.setdefault(field, []).extend(messages)


def _locked(queryset, obj, message):
    current = queryset.select_for_update(of=("self",)).filter(pk=obj.pk).first()
    if current is None:
        raise ValidationError(message)
    return current


def _sync(target, fresh):
    for f in fresh._meta.concrete_fields:
        setattr(target, f.attname, getattr(fresh, f.attname))
    return target


def _save(obj, message):
    """Save under a savepoint: a row a concurrent request got in first fails with `message`."""
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise ValidationError(message) from None


def _created(user, obj, org_unit, summary, fields):
    audit.record_change(user, CREATE, obj, org_unit, summary, fields=fields)


def _changed(user, obj, org_unit, summary, before, fields):
    audit.record_change(user, UPDATE, obj, org_unit, summary, before=before, fields=fields)


def month_start(day):
    return day.replace(day=1)


def month_end(day):
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def add_months(day, months):
    """The first day of the month `months` after the month of `day`."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def subsidy_last_day(started_on, months):
    """The subsidy runs for `months` calendar months from the month the service started."""
    return add_months(started_on, months) - dt.timedelta(days=1)


# ---- companies and their staff -----------------------------------------------------------------


def normalise_credit_code(value):
    return "".join((value or "").split()).upper()


def _company_duplicate(company, field):
    if field == "credit_code":
        return ValidationError({"credit_code": [
            _("A company with the credit code %(code)s is already recorded.")
            % {"code": company.credit_code}
        ]})
    return ValidationError({"name": [
        _("A company named “%(name)s” is already recorded.") % {"name": company.name}
    ]})


def _validate_company(company):
    company.name = _text(company.name)
    company.credit_code = normalise_credit_code(company.credit_code)
    for name in ("contact_name", "contact_phone", "address"):
        setattr(company, name, _text(getattr(company, name)))
    errors = _field_errors(company, exclude=["party_unit", "instructor"])
    if company.party_formation == PartyFormation.INSTRUCTOR and company.instructor_id is None:
        _add(errors, "instructor", _("Name the party-building instructor who was sent."))
    _raise(errors)
    for field in ("credit_code", "name"):
        if PropertyCompany.objects.filter(**{field: getattr(company, field)}).exclude(
            pk=company.pk
        ).exists():
            raise _company_duplicate(company, field)


def _company_unit(company):
    """The unit a company's change is logged under: its party branch, else its instructor's."""
    if company.party_unit_id:
        return company.party_unit
    if company.instructor_id:
        return company.instructor.org_unit
    return None


def _log_company(user, action, company, summary, before=None):
    unit = _company_unit(company)
    if unit is not None:  # companies are city-wide; one without a party link has no place
        audit.record_change(user, action, company, unit, summary, before=before,
                            fields=COMPANY_FIELDS)


def create_company(user, **fields):
    _require(user, "property_mgmt.add_propertycompany")
    unknown = set(fields) - set(COMPANY_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    company = PropertyCompany(**fields)
    _require_in_scope(user, company.instructor, "instructor")
    _require_in_scope(user, company.party_unit, "party_unit")
    with transaction.atomic():
        _validate_company(company)
        _save(company, _("A company with this name or credit code is already recorded."))
        _log_company(user, CREATE, company,
                     _("Property company %(name)s recorded") % {"name": company.name})
    return company


def update_company(user, company, **fields):
    _require(user, "property_mgmt.change_propertycompany")
    unknown = set(fields) - set(COMPANY_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    with transaction.atomic():
        current = _locked(PropertyCompany.objects.all(), company,
                          _("This company no longer exists."))
        for name in ("instructor", "party_unit"):
            value = fields.get(name)
            if value is not None and value.pk != getattr(current, f"{name}_id"):
                _require_in_scope(user, value, name)
        before = audit.snapshot(current, COMPANY_FIELDS)
        for name, value in fields.items():
            setattr(current, name, value)
        _validate_company(current)
        _save(current, _("A company with this name or credit code is already recorded."))
        _log_company(user, UPDATE, current,
                     _("Property company %(name)s changed") % {"name": current.name}, before)
    return _sync(company, current)


def add_company_staff(user, *, company, person, compound, role, started_on):
    """Record someone working for a company in a compound (for cross-appointments)."""
    _require(user, "property_mgmt.add_companystaff")
    _require_scope(user, compound.org_unit)
    _require_in_scope(user, person, "person")
    staff = CompanyStaff(company=company, person=person, compound=compound, role=_text(role),
                         started_on=_as_date(started_on, "started_on"))
    errors = _field_errors(staff, exclude=["company", "person", "compound"])
    if not company.is_active:
        _add(errors, "company", _("The company “%(name)s” is no longer active.")
             % {"name": company.name})
    _raise(errors)
    with transaction.atomic():
        staff.save()
        _created(user, staff, compound.org_unit,
                 _("%(person)s works for %(company)s at %(compound)s")
                 % {"person": person, "company": company, "compound": compound}, STAFF_FIELDS)
    return staff


def end_company_staff(user, staff, ended_on):
    _require(user, "property_mgmt.change_companystaff")
    with transaction.atomic():
        current = _locked(CompanyStaff.objects.select_related("compound__org_unit"), staff,
                          _("This record no longer exists."))
        _require_scope(user, current.compound.org_unit)
        ended_on = _as_date(ended_on, "ended_on")
        if current.ended_on is not None:
            raise ValidationError(_("This job has already ended."))
        if ended_on < current.started_on:
            raise ValidationError({"ended_on": [_("The end cannot be before the start.")]})
        before = audit.snapshot(current, STAFF_FIELDS)
        current.ended_on = ended_on
        current.save(update_fields=["ended_on"])
        _changed(user, current, current.compound.org_unit,
                 _("%(name)s's job ended") % {"name": current.person}, before, STAFF_FIELDS)
    return _sync(staff, current)


# ---- property service periods and the transition subsidy -----------------------------------------


def _lock_compound(compound):
    current = (
        Compound.objects.select_for_update(of=("self",)).select_related("org_unit")
        .filter(pk=compound.pk).first()
    )
    if current is None:
        raise ValidationError({"compound": [_("This compound no longer exists.")]})
    return current


def start_service(user, compound, *, mode, company=None, started_on, fee_per_m2=Decimal("0"),
                  note=""):
    """Record how the compound is served from `started_on`; the service running until then ends
    the day before. A subsidised transition takes the subsidy terms in force today."""
    _require(user, "property_mgmt.add_serviceperiod")
    _require_scope(user, compound.org_unit)
    errors = {}
    started_on = _as_date(started_on, "started_on")
    if mode not in ServiceMode.values:
        _add(errors, "mode", _("Choose how the compound is served."))
    elif mode in NEEDS_COMPANY and company is None:
        _add(errors, "company", _("Choose the company that provides the service."))
    elif mode not in NEEDS_COMPANY and company is not None:
        _add(errors, "company", _("No company serves a compound in this mode; leave it empty."))
    if company is not None and not company.is_active:
        _add(errors, "company", _("The company “%(name)s” is no longer active.")
             % {"name": company.name})
    fee = _as_decimal(fee_per_m2 if fee_per_m2 not in (None, "") else "0", "fee_per_m2", errors)
    _raise(errors)
    with transaction.atomic():
        locked = _lock_compound(compound)
        if not locked.is_active:
            raise ValidationError({"compound": [
                _("The compound “%(name)s” is no longer active.") % {"name": locked.name}
            ]})
        period = ServicePeriod(compound=locked, mode=mode, company=company, started_on=started_on,
                               fee_per_m2=fee, note=_text(note))
        if mode == ServiceMode.SUBSIDISED:
            if not locked.floor_area_m2 or locked.floor_area_m2 <= 0:
                raise ValidationError({"mode": [
                    _("The subsidy is computed from the floor area: record the compound's "
                      "floor area first.")
                ]})
            period.subsidy_rate = Decimal(settings.PROPERTY_SUBSIDY_RATE).quantize(CENT)
            period.subsidy_months = int(settings.PROPERTY_SUBSIDY_MONTHS)
            period.subsidy_ends_on = subsidy_last_day(started_on, period.subsidy_months)
        _raise(_field_errors(period, exclude=["compound", "company"]))
        latest = (
            ServicePeriod.objects.select_for_update().filter(compound=locked)
            .order_by("-started_on", "-pk").first()
        )
        if latest is not None and latest.ended_on is None and started_on <= latest.started_on:
            raise ValidationError({"started_on": [
                _("The new service must start after the current one, which started on "
                  "%(date)s.") % {"date": latest.started_on}
            ]})
        if latest is not None and latest.ended_on is not None and started_on <= latest.ended_on:
            raise ValidationError({"started_on": [
                _("The new service must start after the last one ended on %(date)s.")
                % {"date": latest.ended_on}
            ]})
        if latest is not None and latest.ended_on is None:
            before = audit.snapshot(latest, PERIOD_FIELDS)
            latest.ended_on = started_on - dt.timedelta(days=1)
            latest.save(update_fields=["ended_on"])
            _changed(user, latest, locked.org_unit,
                     _("Property service of %(compound)s ended") % {"compound": locked},
                     before, PERIOD_FIELDS)
        _save(period, _("Another service period of this compound was recorded at the same time; "
                        "try again."))
        _created(user, period, locked.org_unit,
                 _("Property service of %(compound)s: %(mode)s from %(date)s")
                 % {"compound": locked, "mode": period.get_mode_display(), "date": started_on},
                 PERIOD_FIELDS)
    return period


def end_service(user, period, ended_on, note=None):
    """End a running service period (the compound is then without recorded service)."""
    _require(user, "property_mgmt.change_serviceperiod")
    with transaction.atomic():
        current = _locked(ServicePeriod.objects.select_related("compound__org_unit"), period,
                          _("This service period no longer exists."))
        _require_scope(user, current.compound.org_unit)
        ended_on = _as_date(ended_on, "ended_on")
        if current.ended_on is not None:
            raise ValidationError(_("This service period has already ended."))
        if ended_on < current.started_on:
            raise ValidationError({"ended_on": [_("The end cannot be before the start.")]})
        before = audit.snapshot(current, PERIOD_FIELDS)
        current.ended_on = ended_on
        if note is not None:
            current.note = _text(note)
        _raise(_field_errors(current, exclude=["compound", "company"]))
        current.save(update_fields=["ended_on", "note"])
        _changed(user, current, current.compound.org_unit,
                 _("Property service of %(compound)s ended") % {"compound": current.compound},
                 before, PERIOD_FIELDS)
    return _sync(period, current)


def monthly_subsidy(area_m2, rate):
    return (Decimal(area_m2) * Decimal(rate)).quantize(CENT, rounding=ROUND_HALF_UP)


def subsidy_total(period):
    """The whole transition subsidy of a subsidised period: floor area × rate × months."""
    if period.mode != ServiceMode.SUBSIDISED or period.subsidy_rate is None:
        return Decimal("0.00")
    return (
        Decimal(period.compound.floor_area_m2) * period.subsidy_rate * period.subsidy_months
    ).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class GrantRun:
    month: dt.date
    grants: list
    created: int
    total: Decimal


def grant_subsidies(user, unit, month):
    """Grant `month`'s subsidy to every subsidised compound in the subtree of `unit` whose
    service covers the month and whose subsidy months are not used up. Running it again for
    the same month grants nothing twice. Returns the month's grants in the subtree and their
    total."""
    _require(user, "property_mgmt.add_subsidygrant")
    _require_scope(user, unit)
    first = month_start(_as_date(month, "month"))
    last = month_end(first)
    with transaction.atomic():
        periods = list(
            ServicePeriod.objects.filter(
                Subtree.of(unit).q("compound__org_unit"), compound__is_active=True,
                mode=ServiceMode.SUBSIDISED, started_on__lte=last, subsidy_ends_on__gte=first,
            )
            .filter(Q(ended_on__isnull=True) | Q(ended_on__gte=first))
            .select_related("compound__org_unit")
        )
        done = set(
            SubsidyGrant.objects.filter(period__in=periods, month=first)
            .values_list("period_id", flat=True)
        )
        new = [
            SubsidyGrant(
                period=period, month=first, area_m2=period.compound.floor_area_m2,
                rate=period.subsidy_rate,
                amount=monthly_subsidy(period.compound.floor_area_m2, period.subsidy_rate),
            )
            for period in periods if period.pk not in done
        ]
        # A concurrent run for the same month: the unique constraint keeps one grant each.
        SubsidyGrant.objects.bulk_create(new, ignore_conflicts=True)
        grants = list(
            SubsidyGrant.objects.filter(period__in=periods, month=first)
            .select_related("period__compound__org_unit").order_by("period__compound__name")
        )
        made = [g for g in grants if g.period_id not in done]
        user_id = user.pk if user is not None and user.is_authenticated else None
        AuditEntry.objects.bulk_create([
            AuditEntry(
                user_id=user_id, org_unit=g.period.compound.org_unit, action=CREATE,
                model=SubsidyGrant._meta.label_lower, object_id=str(g.pk),
                summary=str(_("Transition subsidy for %(compound)s, %(month)s: %(amount)s yuan")
                            % {"compound": g.period.compound, "month": f"{first:%Y-%m}",
                               "amount": g.amount})[:300],
                changes=audit.snapshot(g, ("period", "month", "area_m2", "rate", "amount")),
            )
            for g in made
        ])
    return GrantRun(month=first, grants=grants, created=len(made),
                    total=sum((g.amount for g in grants), Decimal("0.00")))


# ---- self-funding income (自行造血) -----------------------------------------------------------------


def record_income(user, compound, *, kind, amount, received_on, note=""):
    """Book income of a compound without a property company (parking, shops, leased space)."""
    _require(user, "property_mgmt.add_selffundingentry")
    _require_scope(user, compound.org_unit)
    errors = {}
    if kind not in IncomeKind.values:
        _add(errors, "kind", _("Choose the kind of income."))
    value = _as_decimal(amount, "amount", errors)
    if value is not None and value <= 0:
        _add(errors, "amount", _("Income is a positive amount; to correct an entry, reverse it."))
    received_on = _as_date(received_on, "received_on")
    if received_on > _today():
        _add(errors, "received_on", _("The date cannot be in the future."))
    _raise(errors)
    served = current_period(compound, received_on)
    if served is not None and served.mode == ServiceMode.MARKET:
        raise ValidationError({"compound": [
            _("%(compound)s was served by a property company on that day; its income is the "
              "company's, not the compound's own.") % {"compound": compound}
        ]})
    entry = SelfFundingEntry(compound=compound, kind=kind, amount=value, received_on=received_on,
                             note=_text(note))
    _raise(_field_errors(entry, exclude=["compound", "reverses"]))
    with transaction.atomic():
        entry.save()
        _created(user, entry, compound.org_unit,
                 _("Income of %(compound)s: %(amount)s yuan (%(kind)s)")
                 % {"compound": compound, "amount": value, "kind": entry.get_kind_display()},
                 INCOME_FIELDS)
    return entry


def reverse_income(user, entry, *, on=None, note=""):
    """Cancel an entry by a negative one that refers to it (the ledger is append-only)."""
    _require(user, "property_mgmt.add_selffundingentry")
    with transaction.atomic():
        original = _locked(SelfFundingEntry.objects.select_related("compound__org_unit"), entry,
                           _("This entry no longer exists."))
        _require_scope(user, original.compound.org_unit)
        if original.reverses_id is not None:
            raise ValidationError(_("This entry is itself a reversal; it cannot be reversed."))
        if SelfFundingEntry.objects.filter(reverses=original).exists():
            raise ValidationError(_("This entry has already been reversed."))
        on = _as_date(on, "on") if on else _today()
        if on < original.received_on:
            raise ValidationError({"on": [_("A reversal cannot be dated before the entry.")]})
        reversal = SelfFundingEntry(
            compound=original.compound, kind=original.kind, amount=-original.amount,
            received_on=on, reverses=original,
            note=_text(note) or _("Reversal of the entry of %(date)s") % {
                "date": original.received_on},
        )
        _raise(_field_errors(reversal, exclude=["compound", "reverses"]))
        _save(reversal, _("This entry has already been reversed."))
        _created(user, reversal, original.compound.org_unit,
                 _("Income entry of %(compound)s reversed") % {"compound": original.compound},
                 INCOME_FIELDS)
    return reversal


def income_balance(compound):
    return SelfFundingEntry.objects.filter(compound=compound).aggregate(
        total=Sum("amount"))["total"] or Decimal("0.00")


# ---- committees (业委会 / 物管会) ----------------------------------------------------------------------


def elect_committee(user, compound, kind, elected_on, term_ends_on):
    """Record a newly elected committee; the one sitting until then stops sitting the day
    before, and its members' seats end with it."""
    _require(user, "property_mgmt.add_committee")
    _require_scope(user, compound.org_unit)
    errors = {}
    if kind not in CommitteeKind.values:
        _add(errors, "kind", _("Choose an owners' committee or a property management committee."))
    elected_on = _as_date(elected_on, "elected_on")
    term_ends_on = _as_date(term_ends_on, "term_ends_on")
    if elected_on > _today():
        _add(errors, "elected_on", _("The date cannot be in the future."))
    if term_ends_on <= elected_on:
        _add(errors, "term_ends_on", _("The term must end after the election."))
    _raise(errors)
    with transaction.atomic():
        locked = _lock_compound(compound)
        sitting = (
            Committee.objects.select_for_update().filter(compound=locked, is_active=True).first()
        )
        if sitting is not None:
            if elected_on <= sitting.elected_on:
                raise ValidationError({"elected_on": [
                    _("The sitting committee was elected on %(date)s; a new one must be elected "
                      "after that.") % {"date": sitting.elected_on}
                ]})
            last_day = elected_on - dt.timedelta(days=1)
            before = audit.snapshot(sitting, COMMITTEE_FIELDS)
            sitting.is_active, sitting.ended_on = False, last_day
            sitting.save(update_fields=["is_active", "ended_on"])
            CommitteeMember.objects.filter(committee=sitting, ended_on__isnull=True).update(
                ended_on=last_day
            )
            _changed(user, sitting, locked.org_unit,
                     _("%(committee)s stopped sitting") % {"committee": sitting},
                     before, COMMITTEE_FIELDS)
        committee = Committee(compound=locked, kind=kind, elected_on=elected_on,
                              term_ends_on=term_ends_on)
        _save(committee, _("Another committee of this compound was recorded at the same time; "
                           "try again."))
        _created(user, committee, locked.org_unit,
                 _("%(committee)s elected on %(date)s")
                 % {"committee": committee, "date": elected_on}, COMMITTEE_FIELDS)
    return committee


def _committee_row(committee):
    row = Committee.objects.select_related("compound__org_unit").filter(pk=committee.pk).first()
    if row is None:
        raise ValidationError({"committee": [_("This committee no longer exists.")]})
    return row


def add_committee_member(user, committee, *, person, role, started_on=None):
    _require(user, "property_mgmt.add_committeemember")
    committee = _committee_row(committee)
    _require_scope(user, committee.compound.org_unit)
    _require_in_scope(user, person, "person")
    errors = {}
    if not committee.is_active:
        _add(errors, "committee", _("This committee no longer sits."))
    if role not in CommitteeMemberRole.values:
        _add(errors, "role", _("Choose the role on the committee."))
    started_on = _as_date(started_on, "started_on") if started_on else committee.elected_on
    if started_on < committee.elected_on:
        _add(errors, "started_on", _("A seat cannot start before the committee was elected."))
    _raise(errors)
    with transaction.atomic():
        Committee.objects.select_for_update().filter(pk=committee.pk).first()
        seats = CommitteeMember.objects.filter(committee=committee, ended_on__isnull=True)
        if seats.filter(person=person).exists():
            raise ValidationError({"person": [
                _("%(name)s already sits on this committee.") % {"name": person}
            ]})
        chair = seats.filter(role=CommitteeMemberRole.CHAIR).select_related("person").first()
        if role == CommitteeMemberRole.CHAIR and chair is not None:
            raise ValidationError({"role": [
                _("%(name)s already chairs this committee; end that seat first.")
                % {"name": chair.person}
            ]})
        member = CommitteeMember(committee=committee, person=person, role=role,
                                 started_on=started_on)
        _save(member, _("This seat was taken at the same time; try again."))
        _created(user, member, committee.compound.org_unit,
                 _("%(name)s joined %(committee)s as %(role)s")
                 % {"name": person, "committee": committee, "role": member.get_role_display()},
                 MEMBER_FIELDS)
    return member


def end_committee_member(user, member, ended_on):
    _require(user, "property_mgmt.change_committeemember")
    with transaction.atomic():
        current = _locked(
            CommitteeMember.objects.select_related("committee__compound__org_unit", "person"),
            member, _("This seat no longer exists."),
        )
        org_unit = current.committee.compound.org_unit
        _require_scope(user, org_unit)
        ended_on = _as_date(ended_on, "ended_on")
        if current.ended_on is not None:
            raise ValidationError(_("This seat has already ended."))
        if ended_on < current.started_on:
            raise ValidationError({"ended_on": [_("The end cannot be before the start.")]})
        before = audit.snapshot(current, MEMBER_FIELDS)
        current.ended_on = ended_on
        current.save(update_fields=["ended_on"])
        _changed(user, current, org_unit,
                 _("%(name)s left %(committee)s") % {"name": current.person,
                                                     "committee": current.committee},
                 before, MEMBER_FIELDS)
    return _sync(member, current)


def attach_rules_document(user, committee, *, kind, file, adopted_on):
    """Attach one of the seven rules documents; a newer version replaces the kept one."""
    _require(user, "property_mgmt.add_committeedocument")
    committee = _committee_row(committee)
    _require_scope(user, committee.compound.org_unit)
    errors = {}
    if kind not in RulesDocument.values:
        _add(errors, "kind", _("Choose which of the seven rules documents this is."))
    if not file:
        _add(errors, "file", _("Choose the file."))
    else:
        extension = os.path.splitext(file.name or "")[1].lower().lstrip(".")
        if extension not in DOCUMENT_EXTENSIONS:
            _add(errors, "file", _("Upload a PDF, OFD, Word, WPS or image file."))
        elif getattr(file, "size", 0) > DOCUMENT_MAX_BYTES:
            _add(errors, "file", _("The file is larger than %(mb)s MB.")
                 % {"mb": DOCUMENT_MAX_BYTES // (1024 * 1024)})
    adopted_on = _as_date(adopted_on, "adopted_on")
    if adopted_on > _today():
        _add(errors, "adopted_on", _("The date cannot be in the future."))
    _raise(errors)
    with transaction.atomic():
        document = (
            CommitteeDocument.objects.select_for_update()
            .filter(committee=committee, kind=kind).first()
        )
        if document is not None:
            _require(user, "property_mgmt.change_committeedocument")
            document.file, document.adopted_on = file, adopted_on
            action = UPDATE
        else:
            document = CommitteeDocument(committee=committee, kind=kind, file=file,
                                         adopted_on=adopted_on)
            action = CREATE
        _save(document, _("This document was attached at the same time; try again."))
        audit.record(user, action, document, committee.compound.org_unit,
                     _("%(document)s of %(committee)s attached")
                     % {"document": document.get_kind_display(), "committee": committee},
                     {"kind": kind, "adopted_on": str(adopted_on), "file": document.file.name})
    return document


# ---- service evaluations (物业服务评价) ---------------------------------------------------------------


def issue_codes(user, evaluation):
    """One code for every household file of the compound that has none yet; returns how many
    were issued (households filed after the survey opened get theirs this way)."""
    _require(user, "property_mgmt.add_serviceevaluation")
    evaluation = (
        ServiceEvaluation.objects.select_related("compound__org_unit")
        .filter(pk=evaluation.pk).first()
    )
    if evaluation is None:
        raise ValidationError(_("This evaluation no longer exists."))
    _require_scope(user, evaluation.compound.org_unit)
    with transaction.atomic():
        missing = list(
            Household.objects.filter(compound=evaluation.compound)
            .exclude(evaluation_codes__evaluation=evaluation).values_list("pk", flat=True)
        )
        for _attempt in range(CODE_ATTEMPTS):
            codes = [EvaluationCode(evaluation=evaluation, household_id=pk,
                                    code=new_evaluation_code()) for pk in missing]
            try:
                with transaction.atomic():
                    EvaluationCode.objects.bulk_create(codes)
                break
            except IntegrityError:  # a code drawn twice: draw again
                continue
        else:
            raise ValidationError(_("Could not issue unique codes; try again."))
    return len(missing)


def open_evaluation(user, compound, *, year, quarter=0, opens_on, closes_on):
    """Open a (yearly or quarterly) survey of the compound's property service: one code per
    household file, and the company serving the compound when it opens."""
    _require(user, "property_mgmt.add_serviceevaluation")
    _require_scope(user, compound.org_unit)
    errors = {}
    year = _as_int(year, "year", errors, minimum=2000, maximum=2100)
    quarter = _as_int(quarter or 0, "quarter", errors, minimum=0, maximum=4)
    opens_on = _as_date(opens_on, "opens_on")
    closes_on = _as_date(closes_on, "closes_on")
    if closes_on < opens_on:
        _add(errors, "closes_on", _("The survey must close on or after the day it opens."))
    _raise(errors)
    if not Household.objects.filter(compound=compound).exists():
        raise ValidationError({"compound": [
            _("%(compound)s has no household files: record them first, each household gets "
              "a code.") % {"compound": compound}
        ]})
    served = current_period(compound, opens_on)
    evaluation = ServiceEvaluation(
        compound=compound, company=served.company if served else None, year=year,
        quarter=quarter, opens_on=opens_on, closes_on=closes_on,
    )
    with transaction.atomic():
        if ServiceEvaluation.objects.filter(compound=compound, year=year,
                                            quarter=quarter).exists():
            raise ValidationError({"quarter": [
                _("%(compound)s already has a survey for this period.") % {"compound": compound}
            ]})
        _save(evaluation, _("%(compound)s already has a survey for this period.")
              % {"compound": compound})
        issue_codes(user, evaluation)
        _created(user, evaluation, compound.org_unit,
                 _("Service evaluation of %(evaluation)s opened") % {"evaluation": evaluation},
                 EVALUATION_FIELDS)
    return evaluation


def normalise_code(value):
    return "".join(str(value or "").split()).upper()


def _scores(scores):
    errors = {}
    values = {}
    if not isinstance(scores, dict):
        raise ValidationError({"scores": [_("Give a score for each aspect of the service.")]})
    for key in scores:
        if key not in DIMENSIONS:
            _add(errors, str(key), _("Unknown aspect of the service."))
    for dim in DIMENSIONS:
        raw = scores.get(dim)
        if raw in (None, ""):
            _add(errors, dim, _("Give a score from 1 to 5."))
            continue
        values[dim] = _as_int(raw, dim, errors, minimum=1, maximum=5)
    _raise(errors)
    return values


def submit_evaluation(code_text, scores, comment="", now=None):
    """A resident's answer with the code printed for their household (public, no login). One
    answer per code; the code is locked while it is used so two submissions cannot both count."""
    now = now or _now()
    code_value = normalise_code(code_text)
    if not code_value:
        raise ValidationError({"code": [_("Enter the code printed on your household's slip.")]})
    values = _scores(scores)
    comment = _text(comment)
    if len(comment) > 500:
        raise ValidationError({"comment": [_("Keep the comment to 500 characters.")]})
    today = timezone.localtime(now).date()
    with transaction.atomic():
        code = (
            EvaluationCode.objects.select_for_update(of=("self",))
            .select_related("evaluation").filter(code=code_value).first()
        )
        if code is None:
            raise ValidationError({"code": [
                _("This code is not known. Check it against the slip and try again.")
            ]})
        if code.used_at is not None:
            raise ValidationError({"code": [
                _("This code has already been used: each household answers once.")
            ]})
        evaluation = code.evaluation
        if today < evaluation.opens_on:
            raise ValidationError({"code": [
                _("The survey opens on %(date)s.") % {"date": evaluation.opens_on}
            ]})
        if today > evaluation.closes_on:
            raise ValidationError({"code": [
                _("The survey closed on %(date)s.") % {"date": evaluation.closes_on}
            ]})
        response = EvaluationResponse(evaluation=evaluation, code=code, comment=comment,
                                      submitted_at=now, **values)
        _save(response, {"code": [
            _("This code has already been used: each household answers once.")]})
        code.used_at = now
        code.save(update_fields=["used_at"])
    return response


# ---- deliberations (议事会, 四步议事法) ---------------------------------------------------------------

STEP_LABELS = {
    "discuss": gettext_lazy("discussed"),
    "decide": gettext_lazy("decided"),
    "publicise": gettext_lazy("publicised"),
    "review": gettext_lazy("reviewed"),
}
# step -> (status it may start from, status it leads to)
STEPS = {
    "discuss": (S.PROPOSED, S.DISCUSSING),
    "decide": (S.DISCUSSING, S.DECIDED),
    "publicise": (S.DECIDED, S.PUBLICISED),
    "review": (S.PUBLICISED, S.REVIEWED),
}
DELIBERATION_FIELDS = ("org_unit", "compound", "topic", "parties", "status")


def _log(deliberation, user, from_status, note, at):
    return DeliberationLog.objects.create(
        deliberation=deliberation, from_status=from_status, to_status=deliberation.status,
        actor=user if user is not None and user.is_authenticated else None,
        note=str(note or "")[:2000], at=at,
    )


def _parties(parties):
    if parties is None:
        return list(ONE_PLUS_THREE_PLUS_N)
    if isinstance(parties, str) or not isinstance(parties, (list, tuple)):
        raise ValidationError({"parties": [_("Choose the parties who take part.")]})
    unknown = [str(p) for p in parties if p not in PartyKind.values]
    if unknown:
        raise ValidationError({"parties": [
            _("Unknown party: %(parties)s.") % {"parties": "、".join(unknown)}
        ]})
    chosen = [p for p in PartyKind.values if p in parties]
    if len(chosen) < 2:
        raise ValidationError({"parties": [
            _("A deliberation brings several parties together: choose at least two.")
        ]})
    return chosen


def propose(user, *, org_unit=None, compound=None, topic, background="", parties=None, at=None):
    """支部提: the branch (or community) puts a matter on the table."""
    _require(user, "property_mgmt.add_deliberation")
    if org_unit is None and compound is not None:
        org_unit = compound.org_unit
    if org_unit is None:
        raise ValidationError({"org_unit": [_("Choose the organisation that proposes it.")]})
    _require_scope(user, org_unit)
    errors = {}
    if compound is not None and not Subtree.of(org_unit).contains(compound.org_unit):
        _add(errors, "compound", _("The compound is outside the proposing organisation."))
    topic = _text(topic)
    if not topic:
        _add(errors, "topic", _("State the matter to deliberate."))
    try:
        chosen = _parties(parties)
    except ValidationError as error:
        _merge(errors, error.message_dict)
        chosen = []
    at = at or _now()
    deliberation = Deliberation(org_unit=org_unit, compound=compound, topic=topic,
                                background=_text(background), parties=chosen,
                                status=S.PROPOSED, proposed_at=at)
    _merge(errors, _field_errors(deliberation, exclude=["org_unit", "compound", *errors]))
    _raise(errors)
    with transaction.atomic():
        deliberation.save()
        _log(deliberation, user, "", "", at)
        _created(user, deliberation, org_unit,
                 _("Deliberation proposed: %(topic)s") % {"topic": topic}, DELIBERATION_FIELDS)
    return deliberation


def _may_step(user, deliberation):
    return user is None or (
        user.is_authenticated and user.has_perm("property_mgmt.change_deliberation")
        and in_scope(user, deliberation.org_unit)
    )


def allowed_steps(user, deliberation):
    """The steps `user` may take on the deliberation now (for buttons and the API)."""
    if not _may_step(user, deliberation):
        return []
    return [step for step, (source, _target) in STEPS.items() if deliberation.status == source]


def _step(user, deliberation, step, change, *, note="", at=None):
    """Lock, check the step is legal from the current status, apply `change`, log it."""
    _require(user, "property_mgmt.change_deliberation")
    at = at or _now()
    source, target = STEPS[step]
    with transaction.atomic():
        fresh = _locked(Deliberation.objects.select_related("org_unit", "compound"),
                        deliberation, _("This deliberation no longer exists."))
        _require_scope(user, fresh.org_unit)
        if fresh.status != source:
            raise ValidationError(
                _("A deliberation that is “%(status)s” cannot be %(step)s; it must be "
                  "“%(needed)s” first.")
                % {"status": fresh.get_status_display(), "step": STEP_LABELS[step],
                   "needed": S(source).label}
            )
        before = fresh.status
        change(fresh, at)
        fresh.status = target
        fresh.save()
        _log(fresh, user, before, note, at)
        audit.record(user, UPDATE, fresh, fresh.org_unit,
                     _("Deliberation “%(topic)s” %(step)s") % {"topic": fresh.topic,
                                                              "step": STEP_LABELS[step]},
                     {"status": [before, target]})
    return _sync(deliberation, fresh)


def _attendance(user, attendance):
    if not isinstance(attendance, (list, tuple)) or not attendance:
        raise ValidationError({"attendance": [_("Record who took part.")]})
    rows, errors = [], []
    for item in attendance:
        if isinstance(item, dict):
            party, name, person = item.get("party"), item.get("name"), item.get("person")
        elif isinstance(item, (list, tuple)) and len(item) in (2, 3):
            party, name, person = (*item, None)[:3]
        else:
            errors.append(_("Each attendee needs a party and a name."))
            continue
        name = _text(name)
        if party not in PartyKind.values:
            errors.append(_("Unknown party: %(parties)s.") % {"parties": party})
        elif not name or len(name) > 60:
            errors.append(_("Give each attendee's name (at most 60 characters)."))
        elif person is not None and not isinstance(person, Person):
            errors.append(_("Each attendee needs a party and a name."))
        else:
            rows.append((party, name, person))
    if errors:
        raise ValidationError({"attendance": errors})
    if len({party for party, _name, _person in rows}) < 2:
        raise ValidationError({"attendance": [
            _("多方议: at least two parties must take part in the discussion.")
        ]})
    for _party, _name, person in rows:
        _require_in_scope(user, person, "attendance")
    return rows


def discuss(user, deliberation, *, minutes, attendance, at=None):
    """多方议: the parties present discuss; minutes and attendance are kept."""
    minutes = _text(minutes)
    if not minutes:
        raise ValidationError({"minutes": [_("Keep the minutes of the discussion.")]})
    if len(minutes) > 8000:
        raise ValidationError({"minutes": [_("Keep the minutes to 8000 characters.")]})
    rows = _attendance(user, attendance)

    def change(fresh, at):
        fresh.minutes = minutes
        DeliberationAttendance.objects.bulk_create([
            DeliberationAttendance(deliberation=fresh, party=party, name=name, person=person)
            for party, name, person in rows
        ])

    return _step(user, deliberation, "discuss", change, at=at)


def decide(user, deliberation, *, decision, votes_for, votes_against, votes_abstain, at=None):
    """集体决: the decision and the vote; it needs more votes for than against."""
    errors = {}
    decision = _text(decision)
    if not decision:
        _add(errors, "decision", _("Write down the decision."))
    elif len(decision) > 4000:
        _add(errors, "decision", _("Keep the decision to 4000 characters."))
    votes = {
        name: _as_int(value, name, errors)
        for name, value in (("votes_for", votes_for), ("votes_against", votes_against),
                            ("votes_abstain", votes_abstain))
    }
    if not errors and votes["votes_for"] <= votes["votes_against"]:
        _add(errors, "votes_for", _("Carried only with more votes for than against."))
    _raise(errors)

    def change(fresh, at):
        fresh.decision = decision
        fresh.votes_for = votes["votes_for"]
        fresh.votes_against = votes["votes_against"]
        fresh.votes_abstain = votes["votes_abstain"]
        fresh.decided_at = at

    return _step(user, deliberation, "decide", change, at=at)


def publicise(user, deliberation, *, days=7, start=None, at=None):
    """Put the decision on the compound's public page for `days` days from `start` (today)."""
    errors = {}
    days = _as_int(days, "days", errors, minimum=1, maximum=PUBLICISE_MAX_DAYS)
    _raise(errors)
    at = at or _now()
    start = _as_date(start, "start") if start else timezone.localtime(at).date()

    def change(fresh, at):
        if fresh.decided_at and start < timezone.localtime(fresh.decided_at).date():
            raise ValidationError({"start": [
                _("The notice cannot start before the decision was taken.")]})
        fresh.publicised_from = start
        fresh.publicised_until = start + dt.timedelta(days=days - 1)

    return _step(user, deliberation, "publicise", change, at=at)


def review(user, deliberation, *, satisfied, unsatisfied, at=None):
    """群众评: residents say whether they are satisfied with the decision and its result."""
    errors = {}
    satisfied = _as_int(satisfied, "satisfied", errors)
    unsatisfied = _as_int(unsatisfied, "unsatisfied", errors)
    if not errors and satisfied + unsatisfied == 0:
        _add(errors, "satisfied", _("Record at least one resident's view."))
    _raise(errors)
    at = at or _now()

    def change(fresh, at):
        if timezone.localtime(at).date() < fresh.publicised_from:
            raise ValidationError(
                _("Residents review the decision once its notice is up, from %(date)s.")
                % {"date": fresh.publicised_from}
            )
        fresh.satisfied, fresh.unsatisfied, fresh.reviewed_at = satisfied, unsatisfied, at

    return _step(user, deliberation, "review", change, at=at)


def link_events(user, deliberation, events, at=None):
    """Link the grid events a decision resolves (events of the deliberation's compound or
    organisation, visible to the user)."""
    _require(user, "property_mgmt.change_deliberation")
    at = at or _now()
    events = list(events)
    with transaction.atomic():
        fresh = _locked(Deliberation.objects.select_related("org_unit"), deliberation,
                        _("This deliberation no longer exists."))
        _require_scope(user, fresh.org_unit)
        area = Subtree.of(fresh.org_unit)
        rows = list(GridEvent.objects.filter(pk__in=[e.pk for e in events])
                    .select_related("org_unit"))
        if len(rows) != len({e.pk for e in events}):
            raise ValidationError({"events": [_("Some of these events no longer exist.")]})
        for event in rows:
            if user is not None and not in_scope(user, event.org_unit):
                raise ValidationError({"events": [_("This choice is outside your organisation.")]})
            if not (area.contains(event.org_unit)
                    or (fresh.compound_id and event.compound_id == fresh.compound_id)):
                raise ValidationError({"events": [
                    _("Event %(event)s is not in the deliberation's compound or organisation.")
                    % {"event": event}
                ]})
        linked = set(fresh.events.filter(pk__in=[e.pk for e in rows])
                     .values_list("pk", flat=True))
        new = [e for e in rows if e.pk not in linked]
        if new:
            fresh.events.add(*new)
            note = _("Linked events: %(events)s") % {"events": "、".join(str(e) for e in new)}
            _log(fresh, user, fresh.status, note, at)
            audit.record(user, UPDATE, fresh, fresh.org_unit, note,
                         {"events": [None, [e.pk for e in new]]})
    return new


# ---- conventions (小区公约) -------------------------------------------------------------------------


def adopt_convention(user, compound, *, title, text, adopted_on, deliberation=None):
    """Adopt a new version of the compound's convention (numbered after the last one)."""
    _require(user, "property_mgmt.add_convention")
    _require_scope(user, compound.org_unit)
    errors = {}
    title, text = _text(title), _text(text)
    if not title:
        _add(errors, "title", _("Give the convention a title."))
    if not text:
        _add(errors, "text", _("Write the text of the convention."))
    adopted_on = _as_date(adopted_on, "adopted_on")
    if adopted_on > _today():
        _add(errors, "adopted_on", _("The date cannot be in the future."))
    if deliberation is not None:
        if deliberation.compound_id != compound.pk:
            _add(errors, "deliberation", _("That deliberation is about another compound."))
        elif deliberation.status in (S.PROPOSED, S.DISCUSSING):
            _add(errors, "deliberation", _("That deliberation has not reached a decision."))
    _raise(errors)
    with transaction.atomic():
        locked = _lock_compound(compound)
        last = Convention.objects.filter(compound=locked).aggregate(v=Max("version"))["v"] or 0
        convention = Convention(compound=locked, version=last + 1, title=title, text=text,
                                adopted_on=adopted_on, deliberation=deliberation)
        _raise(_field_errors(convention, exclude=["compound", "deliberation"]))
        _save(convention, _("Another version was adopted at the same time; try again."))
        _created(user, convention, locked.org_unit,
                 _("Convention of %(compound)s adopted (version %(version)s)")
                 % {"compound": locked, "version": convention.version}, CONVENTION_FIELDS)
    return convention

