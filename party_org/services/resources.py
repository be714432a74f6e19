"""State changes of what branches work with: stations, funds, co-building units, committees.

Every function takes the acting user first (None = the system), checks the model permission and
that every unit it touches lies in the user's scope, validates, writes in one transaction and
records each ledger change in the audit log. Branch funds are append-only: an entry is never
edited or deleted, a mistake is cancelled by a reversal.
"""

import calendar
import datetime as dt
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import audit
from ..models import (
    AuditEntry,
    BranchFundEntry,
    CoBuildingAgreement,
    CommitteeMembership,
    CommitteeRole,
    FundCategory,
    ListItem,
    ListKind,
    NeedMatch,
    OrgKind,
    OrgUnit,
    Person,
    ServiceStation,
    TopSecretaryEntry,
    TopSecretarySelection,
)
from ..models.resources import INCOME_VALUES
from ..selectors import Subtree, scoped
from ..selectors_resources import fund_balance
from .tree import _require, _require_scope

CREATE, UPDATE, DELETE = (
    AuditEntry.Action.CREATE, AuditEntry.Action.UPDATE, AuditEntry.Action.DELETE
)
STATION_FIELDS = (
    "org_unit", "name", "address", "area_m2", "functions", "opening_hours", "standard",
    "checklist", "opened_on",
)
CENT = Decimal("0.01")
MAX_TOP_TEN = 10


def _published_is_read_only():
    return _("A published selection cannot be changed; unpublish it first.")


def _require_kind(node, kinds, field, message):
    if node is None or node.kind not in kinds:
        raise ValidationError({field: [message]})


def _ancestors_or_self_q(node):
    """Units that contain `node` (itself included): a range test on the tree columns."""
    return Q(tree_id=node.tree_id, lft__lte=node.lft, rght__gte=node.rght)


# ---- service stations ------------------------------------------------------------------------


def save_station(user, station):
    """Create or update a station; kinds, functions and checklist are checked by its clean()."""
    creating = station.pk is None
    _require(user, f"party_org.{'add' if creating else 'change'}_servicestation")
    with transaction.atomic():
        before = {}
        if not creating:
            stored = ServiceStation.objects.select_for_update().filter(pk=station.pk).first()
            if stored is None:
                raise ValidationError(_("This station no longer exists."))
            _require_scope(user, stored.org_unit)
            before = audit.snapshot(stored, STATION_FIELDS)
        if station.org_unit_id is None:
            raise ValidationError({"org_unit": [_("Choose the branch or community.")]})
        _require_scope(user, station.org_unit)
        # Stored without duplicates, so the number of items met can be counted in SQL.
        if isinstance(station.functions, (list, tuple)):
            station.functions = list(dict.fromkeys(station.functions))
        if isinstance(station.checklist, (list, tuple)):
            station.checklist = list(dict.fromkeys(station.checklist))
        station.full_clean()
        station.save()
        after = audit.snapshot(station, STATION_FIELDS)
        if creating:
            audit.record(user, CREATE, station, station.org_unit,
                         _("Station “%(name)s” added") % {"name": station.name}, after)
        else:
            changes = audit.diff(before, after)
            if changes:
                audit.record(user, UPDATE, station, station.org_unit,
                             _("Station “%(name)s” changed") % {"name": station.name}, changes)
    return station


def delete_station(user, station):
    _require(user, "party_org.delete_servicestation")
    with transaction.atomic():
        stored = ServiceStation.objects.select_for_update().filter(pk=station.pk).first()
        if stored is None:
            return
        _require_scope(user, stored.org_unit)
        audit.record(user, DELETE, stored, stored.org_unit,
                     _("Station “%(name)s” deleted") % {"name": stored.name},
                     audit.snapshot(stored, STATION_FIELDS))
        stored.delete()


# ---- branch funds ----------------------------------------------------------------------------


def _positive_amount(amount):
    try:
        value = Decimal(str(amount)) if amount is not None else None
    except (InvalidOperation, ValueError):
        value = None
    if value is None or not value.is_finite():
        raise ValidationError({"amount": [_("Enter the amount as a number of yuan.")]})
    if value <= 0:
        raise ValidationError({"amount": [
            _("Enter a positive amount; spending categories are recorded as money out.")
        ]})
    if value >= Decimal("10000000000"):
        raise ValidationError({"amount": [_("The amount is too large.")]})
    if value != value.quantize(CENT):
        raise ValidationError({"amount": [_("Amounts are recorded to the fen (two decimals).")]})
    return value.quantize(CENT)


def _lock_unit(org_unit):
    """Serialise writes that check a unit's ledger first (fund balance, sitting secretary): a row
    lock on its node (on SQLite the IMMEDIATE transaction already holds the write lock)."""
    node = OrgUnit.objects.select_for_update().filter(pk=org_unit.pk).first()
    if node is None:
        raise ValidationError({"org_unit": [_("This unit no longer exists.")]})
    return node


def _check_balance_stays_positive(org_unit, entry_date, amount):
    """Refuse money out that would take the branch's balance below zero at any point of its
    ledger from `entry_date` on (a new entry sorts after the existing ones of its date)."""
    if amount >= 0:
        return
    balance = fund_balance(org_unit, as_of=entry_date)
    lowest = balance
    later = (
        BranchFundEntry.objects.filter(org_unit=org_unit, entry_date__gt=entry_date)
        .order_by("entry_date", "id")
        .values_list("amount", flat=True)
    )
    running = balance
    for later_amount in later:
        running += later_amount
        lowest = min(lowest, running)
    if lowest + amount < 0:
        if lowest == balance:
            message = _(
                "The branch's balance on %(date)s is %(balance)s yuan; %(amount)s yuan out would "
                "take it below zero."
            )
        else:
            message = _(
                "Later entries already use this money: the balance would fall below zero after "
                "%(date)s (lowest later balance %(balance)s yuan, %(amount)s yuan out)."
            )
        text = message % {
            "date": entry_date.isoformat(),
            "balance": lowest.quantize(CENT),
            "amount": (-amount).quantize(CENT),
        }
        raise ValidationError({"amount": ValidationError(text, code="insufficient_funds")})


def _check_entry_date(entry_date, field="entry_date"):
    if not isinstance(entry_date, dt.date):
        raise ValidationError({field: [_("Enter a valid date.")]})
    if entry_date > timezone.localdate():
        raise ValidationError({field: [_("The date cannot be in the future.")]})


def record_fund_entry(user, org_unit, entry_date, category, amount, description):
    """Record money in or out of a branch's fund. `amount` is positive; spending categories are
    stored as negative amounts. Money out may not take the balance below zero."""
    _require(user, "party_org.add_branchfundentry")
    if org_unit is None:
        raise ValidationError({"org_unit": [_("Choose the branch.")]})
    _require_scope(user, org_unit)
    _require_kind(org_unit, (OrgKind.BRANCH,), "org_unit",
                  _("Funds are kept per compound (grid) branch."))
    if category not in FundCategory.values:
        raise ValidationError({"category": [_("Choose a fund category.")]})
    _check_entry_date(entry_date)
    value = _positive_amount(amount)
    signed = value if category in INCOME_VALUES else -value
    description = (description or "").strip()
    if not description:
        raise ValidationError(
            {"description": [_("Say what the money is for or where it is from.")]}
        )
    with transaction.atomic():
        node = _lock_unit(org_unit)
        _check_balance_stays_positive(node, entry_date, signed)
        entry = BranchFundEntry(
            org_unit=node, entry_date=entry_date, category=category, amount=signed,
            description=description,
            recorded_by=user if user is not None and user.is_authenticated else None,
        )
        entry.full_clean(exclude=["recorded_by"])
        entry.save()
        audit.record(
            user, CREATE, entry, node,
            _("Fund entry: %(category)s %(amount)s yuan") % {
                "category": entry.get_category_display(), "amount": signed,
            },
            audit.snapshot(entry, ("org_unit", "entry_date", "category", "amount", "description")),
        )
    return entry


def reverse_fund_entry(user, entry, entry_date=None, reason=""):
    """Cancel an entry with a compensating one (same category, opposite amount, linked to it).
    The original is left as it was: fund entries are never edited or deleted."""
    _require(user, "party_org.add_branchfundentry")
    entry_date = entry_date or timezone.localdate()
    _check_entry_date(entry_date)
    with transaction.atomic():
        node = _lock_unit(entry.org_unit)
        _require_scope(user, node)
        original = BranchFundEntry.objects.filter(pk=entry.pk).select_related("org_unit").first()
        if original is None:
            raise ValidationError(_("This fund entry no longer exists."))
        if original.reverses_id is not None:
            raise ValidationError(
                _("Entry %(id)s is itself a reversal; record a new entry instead.")
                % {"id": original.pk}
            )
        if BranchFundEntry.objects.filter(reverses=original).exists():
            raise ValidationError(
                _("Entry %(id)s has already been reversed.") % {"id": original.pk}
            )
        if entry_date < original.entry_date:
            raise ValidationError(
                {"entry_date": [_("A reversal cannot be dated before the entry it cancels.")]}
            )
        _check_balance_stays_positive(node, entry_date, -original.amount)
        text = _("Reversal of entry %(id)s") % {"id": original.pk}
        reason = (reason or "").strip()
        reversal = BranchFundEntry.objects.create(
            org_unit=node, entry_date=entry_date, category=original.category,
            amount=-original.amount, reverses=original,
            description=f"{text}: {reason or original.description}"[:200],
            recorded_by=user if user is not None and user.is_authenticated else None,
        )
        audit.record(
            user, CREATE, reversal, node,
            _("Fund entry %(id)s reversed (%(amount)s yuan)") % {
                "id": original.pk, "amount": reversal.amount,
            },
            audit.snapshot(
                reversal, ("reverses", "entry_date", "category", "amount", "description")
            ),
        )
    return reversal


# ---- co-building units and the three lists ---------------------------------------------------

AGREEMENT_UNIT_KINDS = (OrgKind.COMMUNITY, OrgKind.BRANCH)


def sign_agreement(user, work_unit, org_unit, signed_on, liaison=""):
    """Pair a work unit with a community or branch; an ended pairing is signed again."""
    _require(user, "party_org.add_cobuildingagreement")
    if work_unit is None:
        raise ValidationError({"work_unit": [_("Choose the work unit.")]})
    if org_unit is None:
        raise ValidationError({"org_unit": [_("Choose the community or branch.")]})
    _require_scope(user, org_unit)
    _require_kind(org_unit, AGREEMENT_UNIT_KINDS, "org_unit",
                  _("A co-building agreement is signed with a community or a branch."))
    _check_entry_date(signed_on, "signed_on")
    with transaction.atomic():
        # Two signings of the same pair at once: the second waits, then finds the first.
        _lock_unit(org_unit)
        existing = (
            CoBuildingAgreement.objects.select_for_update()
            .filter(work_unit=work_unit, org_unit=org_unit).first()
        )
        if existing is not None:
            if existing.is_active:
                raise ValidationError(
                    _("%(unit)s already has an active co-building agreement with %(org)s.")
                    % {"unit": work_unit, "org": org_unit}
                )
            _require(user, "party_org.change_cobuildingagreement")
            before = audit.snapshot(existing, ("signed_on", "liaison", "is_active"))
            existing.signed_on, existing.is_active = signed_on, True
            existing.liaison = liaison or existing.liaison
            existing.full_clean()
            existing.save()
            audit.record(user, UPDATE, existing, org_unit,
                         _("Co-building agreement signed again: %(a)s") % {"a": existing},
                         audit.diff(before, audit.snapshot(existing, before)))
            return existing
        agreement = CoBuildingAgreement(
            work_unit=work_unit, org_unit=org_unit, signed_on=signed_on, liaison=liaison or ""
        )
        agreement.full_clean()
        agreement.save()
        audit.record(user, CREATE, agreement, org_unit,
                     _("Co-building agreement signed: %(a)s") % {"a": agreement},
                     audit.snapshot(agreement, ("work_unit", "org_unit", "signed_on", "liaison")))
    return agreement


def update_agreement(user, agreement, liaison):
    """The liaison is the one detail of an agreement that changes in place."""
    _require(user, "party_org.change_cobuildingagreement")
    with transaction.atomic():
        stored = CoBuildingAgreement.objects.select_for_update().filter(pk=agreement.pk).first()
        if stored is None:
            raise ValidationError(_("This agreement no longer exists."))
        _require_scope(user, stored.org_unit)
        before = audit.snapshot(stored, ("liaison",))
        stored.liaison = liaison or ""
        stored.full_clean()
        stored.save(update_fields=["liaison"])
        audit.record_change(user, UPDATE, stored, stored.org_unit,
                            _("Co-building agreement changed: %(a)s") % {"a": stored},
                            before=before, fields=("liaison",))
    return stored


def end_agreement(user, agreement):
    _require(user, "party_org.change_cobuildingagreement")
    with transaction.atomic():
        stored = CoBuildingAgreement.objects.select_for_update().filter(pk=agreement.pk).first()
        if stored is None:
            raise ValidationError(_("This agreement no longer exists."))
        _require_scope(user, stored.org_unit)
        if not stored.is_active:
            raise ValidationError(_("This agreement has already ended."))
        stored.is_active = False
        stored.save(update_fields=["is_active"])
        audit.record(user, UPDATE, stored, stored.org_unit,
                     _("Co-building agreement ended: %(a)s") % {"a": stored},
                     {"is_active": [True, False]})
    return stored


def _active_agreement_covering(work_unit_id, node):
    """The unit's active agreement with `node` or one of its ancestors, if any."""
    return (
        CoBuildingAgreement.objects.filter(work_unit_id=work_unit_id, is_active=True)
        .filter(org_unit__in=OrgUnit.objects.filter(_ancestors_or_self_q(node)))
        .select_related("org_unit")
        .first()
    )


def add_list_item(user, org_unit, kind, title, description="", work_unit=None):
    """Put an item on one of the three lists of a community or branch. A resource is offered by
    a co-building unit with an active agreement with that community or branch (or above it)."""
    _require(user, "party_org.add_listitem")
    if org_unit is None:
        raise ValidationError({"org_unit": [_("Choose the community or branch.")]})
    _require_scope(user, org_unit)
    _require_kind(org_unit, AGREEMENT_UNIT_KINDS, "org_unit",
                  _("The three lists are kept by communities and branches."))
    if kind not in ListKind.values:
        raise ValidationError({"kind": [_("Choose the list: resources, problems or needs.")]})
    if kind == ListKind.RESOURCE:
        if work_unit is None:
            raise ValidationError(
                {"work_unit": [_("Say which co-building unit offers the resource.")]}
            )
        if _active_agreement_covering(work_unit.pk, org_unit) is None:
            raise ValidationError(
                {"work_unit": [_("%(unit)s has no active co-building agreement with %(org)s.")
                               % {"unit": work_unit, "org": org_unit}]}
            )
    elif work_unit is not None:
        raise ValidationError({"work_unit": [_("Only resources name the unit that offers them.")]})
    item = ListItem(org_unit=org_unit, kind=kind, title=(title or "").strip(),
                    description=description or "", work_unit=work_unit)
    with transaction.atomic():
        item.full_clean()
        item.save()
        audit.record(user, CREATE, item, org_unit,
                     _("List item added: %(item)s") % {"item": item},
                     audit.snapshot(item, ("org_unit", "kind", "work_unit", "title")))
    return item


def update_list_item(user, item):
    """Change the title or description of an item (its list, unit and offerer stay)."""
    _require(user, "party_org.change_listitem")
    with transaction.atomic():
        stored = ListItem.objects.select_for_update().filter(pk=item.pk).first()
        if stored is None:
            raise ValidationError(_("This item no longer exists."))
        _require_scope(user, stored.org_unit)
        before = audit.snapshot(stored, ("title", "description"))
        stored.title, stored.description = (item.title or "").strip(), item.description or ""
        stored.full_clean()
        stored.save(update_fields=["title", "description"])
        audit.record_change(user, UPDATE, stored, stored.org_unit,
                            _("List item changed: %(item)s") % {"item": stored},
                            before=before, fields=("title", "description"))
    return stored


def close_list_item(user, item):
    """Mark an item done (a need met, a problem solved, a resource no longer offered)."""
    _require(user, "party_org.change_listitem")
    with transaction.atomic():
        stored = ListItem.objects.select_for_update().filter(pk=item.pk).first()
        if stored is None:
            raise ValidationError(_("This item no longer exists."))
        _require_scope(user, stored.org_unit)
        if stored.status == ListItem.Status.DONE:
            raise ValidationError(_("“%(title)s” is already closed.") % {"title": stored.title})
        old = stored.status
        stored.status = ListItem.Status.DONE
        stored.save(update_fields=["status"])
        audit.record(user, UPDATE, stored, stored.org_unit,
                     _("List item closed: %(item)s") % {"item": stored},
                     {"status": [old, stored.status]})
    return stored


def match_need(user, need, resource, note=""):
    """Match a need to a resource (对单配餐); the need is then marked matched."""
    _require(user, "party_org.add_needmatch")
    with transaction.atomic():
        items = (
            ListItem.objects.select_for_update(of=("self",))
            .select_related("org_unit", "work_unit")
            .in_bulk(
[need.pk, resource.pk])
        )
        need, resource = items.get(need.pk), items.get(resource.pk)
        if need is None or resource is None:
            raise ValidationError(_("This item no longer exists."))
        _require_scope(user, need.org_unit)
        _require_scope(user, resource.org_unit)
        if need.kind != ListKind.NEED:
            raise ValidationError({"need": [_("“%(title)s” is not on the needs list.")
                                            % {"title": need.title}]})
        if resource.kind != ListKind.RESOURCE:
            raise ValidationError({"resource": [_("“%(title)s” is not on the resources list.")
                                                % {"title": resource.title}]})
        if need.status == ListItem.Status.DONE:
            raise ValidationError({"need": [_("This need is already closed.")]})
        if resource.status == ListItem.Status.DONE:
            raise ValidationError({"resource": [_("This resource is no longer offered.")]})
        if _active_agreement_covering(resource.work_unit_id, need.org_unit) is None:
            raise ValidationError(
                {"resource": [_("%(unit)s has no active co-building agreement with %(org)s or "
                                "a unit above it.") % {"unit": resource.work_unit,
                                                        "org": need.org_unit}]}
            )
        if NeedMatch.objects.filter(need=need, resource=resource).exists():
            raise ValidationError(_("This need is already matched to this resource."))
        match = NeedMatch.objects.create(
            need=need, resource=resource, note=(note or "")[:200],
            matched_by=user if user is not None and user.is_authenticated else None,
        )
        if need.status != ListItem.Status.MATCHED:
            need.status = ListItem.Status.MATCHED
            need.save(update_fields=["status"])
        audit.record(user, CREATE, match, need.org_unit,
                     _("Need matched: %(match)s") % {"match": match},
                     {"need": need.pk, "resource": resource.pk, "note": match.note})
    return match


# ---- committees ------------------------------------------------------------------------------

COMMITTEE_UNIT_KINDS = (OrgKind.COMMUNITY, OrgKind.BRANCH)


def _sitting_secretary_error(org_unit, sitting):
    text = _(
        "%(org)s already has a sitting secretary, %(name)s (since %(date)s); end that seat first."
    ) % {"org": org_unit, "name": sitting.person, "date": sitting.started_on.isoformat()}
    return ValidationError({"role": ValidationError(text, code="secretary_taken")})


def sitting_secretary_problem(org_unit):
    """The error a new secretary seat on `org_unit` would meet, or None (for form checks)."""
    sitting = (
        CommitteeMembership.objects.filter(
            org_unit=org_unit, role=CommitteeRole.SECRETARY, ended_on__isnull=True
        )
        .select_related("person")
        .first()
    )
    return _sitting_secretary_error(org_unit, sitting) if sitting is not None else None


def seat_committee_member(user, org_unit, person, role, started_on):
    _require(user, "party_org.add_committeemembership")
    if org_unit is None:
        raise ValidationError({"org_unit": [_("Choose the branch or community.")]})
    if person is None:
        raise ValidationError({"person": [_("Choose the person.")]})
    _require_scope(user, org_unit)
    if user is not None and not scoped(user, Person.objects.filter(pk=person.pk)).exists():
        raise PermissionDenied(_("This person is outside your organisation."))
    _require_kind(org_unit, COMMITTEE_UNIT_KINDS, "org_unit",
                  _("Committees are kept for branches and communities."))
    if role not in CommitteeRole.values:
        raise ValidationError({"role": [_("Choose the role on the committee.")]})
    _check_entry_date(started_on, "started_on")
    with transaction.atomic():
        node = _lock_unit(org_unit)
        seats = CommitteeMembership.objects.filter(org_unit=node, ended_on__isnull=True)
        if role == CommitteeRole.SECRETARY:
            sitting = seats.filter(role=role).select_related("person").first()
            if sitting is not None:
                raise _sitting_secretary_error(node, sitting)
        if seats.filter(person=person, role=role).exists():
            raise ValidationError(
                {"person": [_("%(name)s already holds this seat.") % {"name": person}]}
            )
        seat = CommitteeMembership(org_unit=node, person=person, role=role, started_on=started_on)
        seat.full_clean(validate_constraints=False)
        try:
            with transaction.atomic():
                seat.save()
        except IntegrityError:
            sitting = seats.filter(role=role).select_related("person").first()
            if sitting is not None:
                raise _sitting_secretary_error(node, sitting) from None
            raise
        audit.record(user, CREATE, seat, node,
                     _("Committee seat: %(seat)s") % {"seat": seat},
                     audit.snapshot(seat, ("org_unit", "person", "role", "started_on")))
    return seat


def end_committee_seat(user, seat, ended_on=None):
    _require(user, "party_org.change_committeemembership")
    ended_on = ended_on or timezone.localdate()
    _check_entry_date(ended_on, "ended_on")
    with transaction.atomic():
        stored = (
            CommitteeMembership.objects.select_for_update(of=("self",))
            .select_related("org_unit", "person")
            .filter(pk=seat.pk).first()
        )
        if stored is None:
            raise ValidationError(_("This seat no longer exists."))
        _require_scope(user, stored.org_unit)
        if stored.ended_on is not None:
            raise ValidationError(_("This seat already ended on %(date)s.")
                                  % {"date": stored.ended_on.isoformat()})
        if ended_on < stored.started_on:
            raise ValidationError({"ended_on": [_("A seat cannot end before it started.")]})
        stored.ended_on = ended_on
        stored.save(update_fields=["ended_on"])
        audit.record(user, UPDATE, stored, stored.org_unit,
                     _("Committee seat ended: %(seat)s") % {"seat": stored},
                     {"ended_on": [None, ended_on.isoformat()]})
    return stored


# ---- the monthly top ten secretaries ---------------------------------------------------------

SELECTION_UNIT_KINDS = (OrgKind.DISTRICT, OrgKind.STREET)


def _month_bounds(month):
    first = month.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def save_top_ten_selection(user, selection, entries=None):
    """Create or change the heading of a selection (its district/street and month). With
    `entries`, its entries are replaced in the same transaction (all or nothing)."""
    creating = selection.pk is None
    _require(user, "party_org.add_topsecretaryselection" if creating
             else "party_org.change_topsecretaryselection")
    if selection.org_unit_id is None:
        raise ValidationError({"org_unit": [_("Choose the district or street.")]})
    _require_scope(user, selection.org_unit)
    _require_kind(selection.org_unit, SELECTION_UNIT_KINDS, "org_unit",
                  _("The top ten are selected by a district or a street."))
    if not isinstance(selection.month, dt.date):
        raise ValidationError({"month": [_("Enter the month.")]})
    selection.month = selection.month.replace(day=1)
    with transaction.atomic():
        # Serialises two savings of the same unit and month (the unique check below).
        _lock_unit(selection.org_unit)
        if not creating:
            stored = (
                TopSecretarySelection.objects.select_for_update().filter(pk=selection.pk).first()
            )
            if stored is None:
                raise ValidationError(_("This selection no longer exists."))
            _require_scope(user, stored.org_unit)
            if stored.published:
                raise ValidationError(_published_is_read_only())
            kept = [] if entries is not None else list(
                stored.entries.select_related("person", "branch")
            )
            if kept and stored.org_unit_id != selection.org_unit_id:
                raise ValidationError(
                    {"org_unit": [
                        _("Remove the entries before moving the selection to another unit.")
                    ]}
                )
            if kept and stored.month != selection.month:
                # The kept entries were checked against the old month's secretary seats.
                error = validate_top_ten(selection, kept)
                if error is not None:
                    raise ValidationError({"month": error.messages})
        selection.published = False
        try:
            selection.validate_constraints()
        except ValidationError:
            raise ValidationError(
                {"month": [_("%(org)s already has a selection for %(month)s.")
                           % {"org": selection.org_unit, "month": f"{selection.month:%Y-%m}"}]}
            ) from None
        selection.save()
        audit.record(user, CREATE if creating else UPDATE, selection, selection.org_unit,
                     _("Top ten selection saved: %(s)s") % {"s": selection},
                     audit.snapshot(selection, ("org_unit", "month")))
        if entries is not None:
            set_top_ten_entries(user, selection, entries)
    return selection


def _entry_values(entry):
    if isinstance(entry, TopSecretaryEntry):
        return entry.rank, entry.person, entry.branch, entry.citation
    return entry.get("rank"), entry.get("person"), entry.get("branch"), entry.get("citation", "")


def validate_top_ten(selection, entries):
    """The problems with a list of entries for a selection, as a ValidationError (or None).

    Ranks are 1..n (n at most ten), each person once, each branch inside the selection's
    district/street, and each person held that branch's secretary seat during the month.
    """
    rows = [_entry_values(entry) for entry in entries]
    errors = []
    if len(rows) > MAX_TOP_TEN:
        errors.append(_("At most ten secretaries are selected."))
    ranks = [rank for rank, *_rest in rows]
    if any(not isinstance(rank, int) for rank in ranks) or sorted(ranks) != list(
        range(1, len(rows) + 1)
    ):
        errors.append(_("Ranks must run 1, 2, 3 … without gaps or repeats (given: %(ranks)s).")
                      % {"ranks": ", ".join(str(r) for r in ranks)})
    people = [person.pk for _rank, person, *_rest in rows if person is not None]
    if len(people) != len(rows):
        errors.append(_("Every entry names a secretary."))
    if len(set(people)) != len(people):
        errors.append(_("A secretary can be listed only once."))
    if errors:
        return ValidationError(errors)
    subtree = Subtree.of(selection.org_unit)
    first, last = _month_bounds(selection.month)
    seats = set(
        CommitteeMembership.objects.filter(
            role=CommitteeRole.SECRETARY, started_on__lte=last,
            person_id__in=people,
        )
        .exclude(ended_on__lt=first)
        .values_list("person_id", "org_unit_id")
    )
    for rank, person, branch, _citation in rows:
        if branch is None or branch.kind != OrgKind.BRANCH:
            errors.append(_("Rank %(rank)s: choose a compound (grid) branch.") % {"rank": rank})
        elif not subtree.contains(branch):
            errors.append(_("Rank %(rank)s: %(branch)s is not in %(org)s.")
                          % {"rank": rank, "branch": branch, "org": selection.org_unit})
        elif (person.pk, branch.pk) not in seats:
            errors.append(_("Rank %(rank)s: %(name)s was not the secretary of %(branch)s in "
                            "%(month)s.") % {"rank": rank, "name": person, "branch": branch,
                                             "month": f"{selection.month:%Y-%m}"})
    return ValidationError(errors) if errors else None


def set_top_ten_entries(user, selection, entries, publish=False):
    """Replace a selection's entries (all or nothing) and optionally publish it."""
    _require(user, "party_org.change_topsecretaryselection")
    with transaction.atomic():
        stored = (
            TopSecretarySelection.objects.select_for_update(of=("self",))
            .select_related("org_unit")
            .filter(pk=selection.pk).first()
        )
        if stored is None:
            raise ValidationError(_("This selection no longer exists."))
        _require_scope(user, stored.org_unit)
        if stored.published:
            raise ValidationError(_published_is_read_only())
        entries = list(entries)
        if publish and not entries:
            raise ValidationError(_("Add at least one secretary before publishing."))
        error = validate_top_ten(stored, entries)
        if error is not None:
            raise error
        stored.entries.all().delete()
        created = TopSecretaryEntry.objects.bulk_create(
            TopSecretaryEntry(selection=stored, rank=rank, person=person, branch=branch,
                              citation=(citation or "")[:300])
            for rank, person, branch, citation in map(_entry_values, entries)
        )
        if publish:
            stored.published = True
            stored.save(update_fields=["published"])
        audit.record(
            user, UPDATE, stored, stored.org_unit,
            (_("Top ten published: %(s)s") if publish else _("Top ten entries saved: %(s)s"))
            % {"s": stored},
            {"entries": [[e.rank, e.person_id, e.branch_id] for e in created],
             "published": stored.published},
        )
    selection.published = stored.published
    return stored


def publish_top_ten(user, selection, entries=None):
    """Publish a selection with `entries` (its current entries when None)."""
    if entries is None:
        entries = list(selection.entries.select_related("person", "branch").order_by("rank"))
    return set_top_ten_entries(user, selection, entries, publish=True)


def unpublish_top_ten(user, selection):
    """Take a selection back to draft (street staff, who may change selections)."""
    _require(user, "party_org.change_topsecretaryselection")
    with transaction.atomic():
        stored = TopSecretarySelection.objects.select_for_update().filter(pk=selection.pk).first()
        if stored is None:
            raise ValidationError(_("This selection no longer exists."))
        _require_scope(user, stored.org_unit)
        if not stored.published:
            raise ValidationError(_("This selection is not published."))
        stored.published = False
        stored.save(update_fields=["published"])
        audit.record(user, UPDATE, stored, stored.org_unit,
                     _("Top ten unpublished: %(s)s") % {"s": stored}, {"published": [True, False]})
    selection.published = False
    return stored


def delete_top_ten_selection(user, selection):
    _require(user, "party_org.delete_topsecretaryselection")
    with transaction.atomic():
        stored = TopSecretarySelection.objects.select_for_update().filter(pk=selection.pk).first()
        if stored is None:
            return
        _require_scope(user, stored.org_unit)
        if stored.published:
            raise ValidationError(_("A published selection cannot be deleted; unpublish it first."))
        audit.record(user, DELETE, stored, stored.org_unit,
                     _("Top ten selection deleted: %(s)s") % {"s": stored},
                     audit.snapshot(stored, ("org_unit", "month")))
        stored.delete()
