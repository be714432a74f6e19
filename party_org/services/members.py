"""State changes of people and party members.

Every function takes the acting user first (None = the system), checks the model permission and
that every unit it touches lies in the user's scope, validates, writes the row, the member's dated
history (MemberChange) where the category, branch or status changes, and a ledger audit entry,
all in one transaction.
"""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.deletion import ProtectedError, RestrictedError
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import audit, pii
from ..models import (
    AuditEntry,
    MemberCategory,
    MemberChange,
    MemberChangeKind,
    MemberStatus,
    PartyMember,
    Person,
)
from ..models.members import RecordLocation
from ..selectors import scoped
from .tree import _require, _require_scope

PERSON_FIELDS = ("name", "gender", "birth_date", "org_unit")
MEMBER_FIELDS = (
    "category",
    "org_unit",
    "household",
    "joined_on",
    "record_location",
    "record_held_by",
    "employer",
    "status",
    "is_veteran",
    "is_cadre",
    "fifty_years",
)
# Changes to these are dated events in the member's history; the rest are corrections.
HISTORY_FIELDS = ("category", "org_unit", "status")
UNCHANGED = object()
PARTY_FOUNDED = dt.date(1921, 7, 1)


def _add_years(day, years):
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def membership_date_problems(joined_on, birth_date=None, fifty_years=False, today=None):
    """{field: [messages]} for a joining date (and the 50-years flag) that cannot be right.

    The one rule for the forms, the API and the Excel import.
    """
    today = today or _today()
    errors = {}
    if joined_on:
        if joined_on > today:
            errors["joined_on"] = [_("The joining date is in the future.")]
        elif joined_on < PARTY_FOUNDED:
            errors["joined_on"] = [_("The joining date is before the Party was founded.")]
        elif birth_date and joined_on < _add_years(birth_date, 18):
            errors["joined_on"] = [_("The joining date is before the member's 18th birthday.")]
        if fifty_years and today.year - joined_on.year < 50:
            errors["fifty_years"] = [
                _("Marked 光荣在党50年, but the joining date is less than 50 years ago.")
            ]
    return errors


# ---- people ----------------------------------------------------------------------------------


def _duplicate_id_error(user, existing):
    if existing is not None and (
        user is None or scoped(user, Person.objects.filter(pk=existing.pk)).exists()
    ):
        message = _(
            "This ID number is already recorded for %(name)s (%(unit)s); edit that person "
            "instead of adding them again."
        ) % {"name": existing.name, "unit": existing.org_unit}
    else:
        message = _(
            "This ID number is already recorded for a person outside your organisation; ask "
            "the street office to move that person's record to your unit."
        )
    return ValidationError({"id_number": [message]}, code="duplicate_id_number")


def id_number_conflict(user, id_number, exclude_pk=None):
    """The ValidationError a duplicate ID number would raise, or None (for form-level checks)."""
    value = pii.normalise_id_number(id_number)
    if not value or pii.id_number_problem(value):
        return None
    existing = (
        Person.objects.select_related("org_unit")
        .filter(id_number_hash=pii.keyed_hash(value))
        .exclude(pk=exclude_pk)
        .first()
    )
    return _duplicate_id_error(user, existing) if existing else None


def _check_against_id(person):
    value = person.id_number if person.id_number_encrypted else ""
    if not value or pii.id_number_problem(value):
        return {}
    errors = {}
    if person.birth_date and person.birth_date != pii.birth_date_from_id(value):
        errors["birth_date"] = [_("The birth date does not match the one in the ID number.")]
    if person.gender and person.gender != pii.gender_from_id(value):
        errors["gender"] = [_("The gender does not match the one in the ID number.")]
    return errors


def _merge(errors, error):
    for field, messages in error.update_error_dict({}).items():
        errors.setdefault(field, []).extend(messages)


def _apply_person_values(user, person, fields, phone, id_number):
    """Set the values on `person` and validate them all, raising every problem at once."""
    errors = {}
    for name, value in fields.items():
        setattr(person, name, value.strip() if name == "name" and value else value)
    if phone is not UNCHANGED:
        person.phone = (phone or "").strip()
    new_id = pii.normalise_id_number(id_number) if id_number is not UNCHANGED else None
    old_id = person.id_number if person.id_number_encrypted else ""
    if new_id is not None and new_id != old_id:
        # A new number brings its own birth date and gender unless these are given too.
        if "birth_date" not in fields:
            person.birth_date = None
        if "gender" not in fields:
            person.gender = ""
        try:
            person.set_id_number(new_id)
        except ValidationError as error:
            errors["id_number"] = error.messages
        else:
            conflict = id_number_conflict(user, new_id, exclude_pk=person.pk)
            if conflict:
                _merge(errors, conflict)
    try:
        person.full_clean(exclude=["id_number_hash"])
    except ValidationError as error:
        _merge(errors, error)
    if isinstance(person.birth_date, dt.date) and person.birth_date > _today():
        errors.setdefault("birth_date", []).append(_("The date cannot be in the future."))
    if "id_number" not in errors:
        for field, messages in _check_against_id(person).items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return old_id, new_id if new_id is not None else old_id


def check_person(user, person=None, *, phone=UNCHANGED, id_number=UNCHANGED, **fields):
    """Raise the ValidationError that create/update would raise for these values; save nothing.

    For forms that want the messages beside their fields.
    """
    probe = Person() if person is None else Person.objects.filter(pk=person.pk).first()
    if probe is None:
        raise ValidationError(_("This person no longer exists."))
    _apply_person_values(user, probe, fields, phone, id_number)


def _save_person(user, person):
    try:
        # A savepoint: a concurrent insert of the same ID number must not break the caller's
        # transaction, only this save.
        with transaction.atomic():
            person.save()
    except IntegrityError:
        existing = Person.objects.filter(id_number_hash=person.id_number_hash).first()
        if existing is None:
            raise
        raise _duplicate_id_error(user, existing) from None


def _pii_changes(before_phone, after_phone, before_id, after_id):
    # The change log stores masked values only: it must not become a second copy of the data.
    changes = {}
    if before_phone != after_phone:
        changes["phone"] = [pii.mask_phone(before_phone), pii.mask_phone(after_phone)]
    if before_id != after_id:
        changes["id_number"] = [pii.mask_id_number(before_id), pii.mask_id_number(after_id)]
    return changes


def create_person(
    user, *, org_unit, name, gender="", birth_date=None, phone="", id_number=""
):
    """Record a person under `org_unit`; the ID number is validated, encrypted and unique."""
    _require(user, "party_org.add_person")
    if org_unit is None:
        raise ValidationError({"org_unit": [_("Choose the unit the person is registered at.")]})
    _require_scope(user, org_unit)
    with transaction.atomic():
        person = Person()
        fields = {"org_unit": org_unit, "name": name or "", "gender": gender or "",
                  "birth_date": birth_date}
        _old_id, new_id = _apply_person_values(user, person, fields, phone, id_number)
        _save_person(user, person)
        changes = {
            name: [None, value] for name, value in audit.snapshot(person, PERSON_FIELDS).items()
        }
        changes.update(
            (name, [None, after]) for name, (_before, after)
            in _pii_changes("", person.phone, "", new_id).items()
        )
        audit.record(
            user, AuditEntry.Action.CREATE, person, person.org_unit,
            _("Person %(name)s recorded") % {"name": person.name}, changes,
        )
    return person


def update_person(user, person, *, phone=UNCHANGED, id_number=UNCHANGED, **fields):
    """Change a person's fields; `phone` and `id_number` only when given ("" clears them)."""
    _require(user, "party_org.change_person")
    unknown = set(fields) - set(PERSON_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    with transaction.atomic():
        current = (
            Person.objects.select_for_update(of=("self",)).select_related("org_unit")
            .filter(pk=person.pk).first()
        )
        if current is None:
            raise ValidationError(_("This person no longer exists."))
        _require_scope(user, current.org_unit)
        if "org_unit" in fields and fields["org_unit"] != current.org_unit:
            if fields["org_unit"] is None:
                raise ValidationError(
                    {"org_unit": [_("Choose the unit the person is registered at.")]}
                )
            _require_scope(user, fields["org_unit"])
        before = audit.snapshot(current, PERSON_FIELDS)
        before_phone = current.phone
        old_id, new_id = _apply_person_values(user, current, fields, phone, id_number)
        _save_person(user, current)
        changes = audit.diff(before, audit.snapshot(current, PERSON_FIELDS))
        changes.update(_pii_changes(before_phone, current.phone, old_id, new_id))
        if changes:
            audit.record(
                user, AuditEntry.Action.UPDATE, current, current.org_unit,
                _("Person %(name)s changed") % {"name": current.name}, changes,
            )
    return current


def _blockers_message(error, name):
    objs = getattr(error, "protected_objects", None) or getattr(error, "restricted_objects", ())
    labels = sorted({str(obj._meta.verbose_name_plural) for obj in objs})
    return _("“%(name)s” cannot be deleted while these still refer to it: %(detail)s.") % {
        "name": name, "detail": "、".join(labels),
    }


def delete_person(user, person):
    """Delete a person nothing refers to (a membership, a seat, a read in the access log)."""
    _require(user, "party_org.delete_person")
    with transaction.atomic():
        current = Person.objects.select_related("org_unit").filter(pk=person.pk).first()
        if current is None:
            return
        _require_scope(user, current.org_unit)
        pk, org_unit, name = current.pk, current.org_unit, current.name
        try:
            with transaction.atomic():
                current.delete()
        except (ProtectedError, RestrictedError) as error:
            raise ValidationError(_blockers_message(error, name)) from None
        current.pk = pk
        audit.record(
            user, AuditEntry.Action.DELETE, current, org_unit,
            _("Person %(name)s deleted") % {"name": name},
        )


# ---- members ---------------------------------------------------------------------------------


def _today():
    return timezone.localdate()


def _check_date(effective_on, joined_on, field="effective_on"):
    if not isinstance(effective_on, dt.date):
        raise ValidationError({field: [_("Enter the date the change takes effect.")]})
    if effective_on > _today():
        raise ValidationError({field: [_("The date cannot be in the future.")]})
    if joined_on and effective_on < joined_on:
        raise ValidationError(
            {field: [_("The date cannot be before the member joined the party.")]}
        )


def _full_clean_member(member):
    errors = {}
    try:
        member.full_clean(exclude=["person"] if member.pk else None)
    except ValidationError as error:
        errors = error.update_error_dict({})
        if "person" in errors and member.person_id and (
            PartyMember.objects.filter(person_id=member.person_id).exists()
        ):
            # The one-to-one clash gets a message that names the situation.
            errors["person"] = [_("This person is already recorded as a party member.")]
    if "joined_on" not in errors:
        birth_date = member.person.birth_date if member.person_id else None
        for field, messages in membership_date_problems(
            member.joined_on, birth_date, member.fifty_years
        ).items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def _new_member(fields):
    unknown = set(fields) - set(MEMBER_FIELDS) - {"person"}
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    fields = dict(fields)
    fields["record_location"] = fields.get("record_location") or RecordLocation.HERE
    fields["record_held_by"] = (fields.get("record_held_by") or "").strip()
    for flag in ("is_veteran", "is_cadre", "fifty_years"):
        fields[flag] = bool(fields.get(flag))
    fields["status"] = MemberStatus.ACTIVE
    return PartyMember(**fields)


def _validate_new_member(member, transferred_in_on):
    errors = {}
    if member.person_id is None:
        errors["person"] = [_("Choose the person.")]
    if member.org_unit_id is None:
        errors["org_unit"] = [_("Choose the branch or building group.")]
    if errors:
        raise ValidationError(errors)
    try:
        _full_clean_member(member)
    except ValidationError as error:
        _merge(errors, error)
    if transferred_in_on is not None:
        try:
            _check_date(transferred_in_on, member.joined_on, field="transferred_in_on")
        except ValidationError as error:
            _merge(errors, error)
    if errors:
        raise ValidationError(errors)


def check_new_member(*, transferred_in_on=None, **fields):
    """Raise the ValidationError create_member would raise for these values; save nothing."""
    _validate_new_member(_new_member(fields), transferred_in_on)


def _require_person_scope(user, person):
    if user is not None and not scoped(user, Person.objects.filter(pk=person.pk)).exists():
        raise ValidationError({"person": [_("This person is outside your organisation.")]})


def _record_change(user, member, kind, effective_on, from_value="", to_value="", note=""):
    return MemberChange.objects.create(
        member=member,
        kind=kind,
        effective_on=effective_on,
        from_value=str(from_value or "")[:120],
        to_value=str(to_value or "")[:120],
        note=(note or "")[:300],
        recorded_by=user if user is not None and user.is_authenticated else None,
    )


def create_member(
    user,
    *,
    person,
    category,
    org_unit,
    household=None,
    joined_on=None,
    record_location=RecordLocation.HERE,
    record_held_by="",
    employer=None,
    is_veteran=False,
    is_cadre=False,
    fifty_years=False,
    transferred_in_on=None,
    transferred_from="",
    note="",
):
    """Put a person on a member ledger; `transferred_in_on` records an arrival from elsewhere."""
    _require(user, "party_org.add_partymember")
    with transaction.atomic():
        member = _new_member(dict(
            person=person, category=category, org_unit=org_unit, household=household,
            joined_on=joined_on, record_location=record_location,
            record_held_by=record_held_by, employer=employer, is_veteran=is_veteran,
            is_cadre=is_cadre, fifty_years=fifty_years,
        ))
        if org_unit is not None:
            _require_scope(user, org_unit)
        if household is not None:
            _require_scope(user, household)
        if person is not None:
            _require_person_scope(user, person)
        _validate_new_member(member, transferred_in_on)
        try:
            with transaction.atomic():
                member.save()
        except IntegrityError:
            raise ValidationError(
                {"person": [_("This person is already recorded as a party member.")]}
            ) from None
        if transferred_in_on is not None:
            _record_change(
                user, member, MemberChangeKind.TRANSFER_IN, transferred_in_on,
                transferred_from, org_unit.name, note,
            )
        audit.record(
            user, AuditEntry.Action.CREATE, member, member.org_unit,
            _("%(name)s added to the ledger of %(category)s members")
            % {"name": person.name, "category": member.get_category_display()},
            {name: [None, value] for name, value in
             audit.snapshot(member, MEMBER_FIELDS).items()},
        )
    return member


def _status_change(old, new_status, transfer_place):
    """The history kind of a status change, or a ValidationError for an illegal one."""
    if new_status not in MemberStatus.values:
        raise ValidationError({"status": [_("Unknown status.")]})
    if old == MemberStatus.ACTIVE and new_status == MemberStatus.TRANSFERRED_OUT:
        if not (transfer_place or "").strip():
            raise ValidationError(
                {"transfer_place": [_("Say where the member is transferred to.")]}
            )
        return MemberChangeKind.TRANSFER_OUT
    if old == MemberStatus.TRANSFERRED_OUT and new_status == MemberStatus.ACTIVE:
        return MemberChangeKind.TRANSFER_IN
    if {old, new_status} == {MemberStatus.ACTIVE, MemberStatus.DECEASED}:
        return MemberChangeKind.STATUS
    raise ValidationError(
        {"status": [
            _("A member cannot go from “%(old)s” to “%(new)s”.")
            % {"old": MemberStatus(old).label, "new": MemberStatus(new_status).label}
        ]}
    )


def _under(node, ancestor):
    return (
        node.tree_id == ancestor.tree_id and ancestor.lft < node.lft and node.rght < ancestor.rght
    )


def _changed(current, fields):
    unknown = set(fields) - set(MEMBER_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    changed = {}
    for name, value in fields.items():
        field = PartyMember._meta.get_field(name)
        old = getattr(current, field.attname)
        new = value.pk if field.is_relation and value is not None else value
        if old != new:
            changed[name] = value
    return changed


def _plan(current, changed, effective_on, transfer_place):
    """Validate a change to `current` and return the history events it makes.

    May add `household: None` to `changed` (a member leaving a branch leaves its household).
    Reads, never writes.
    """
    errors = {}
    events = []
    old_unit, old_status = current.org_unit, current.status
    if not any(name in changed for name in HISTORY_FIELDS):
        return events
    try:
        _check_date(effective_on, changed.get("joined_on", current.joined_on))
    except ValidationError as error:
        _merge(errors, error)
    else:
        last = (
            MemberChange.objects.filter(member_id=current.pk)
            .order_by("-effective_on").values_list("effective_on", flat=True).first()
        )
        if last and effective_on < last:
            errors["effective_on"] = [
                _("The member's history already has a change on %(date)s; a new change "
                  "cannot take effect before it.") % {"date": last}
            ]
    if "status" in changed:
        try:
            kind = _status_change(old_status, changed["status"], transfer_place)
        except ValidationError as error:
            _merge(errors, error)
        else:
            if kind == MemberChangeKind.TRANSFER_OUT:
                events.append((kind, old_unit.name, transfer_place.strip()))
            elif kind == MemberChangeKind.TRANSFER_IN:
                new_unit = changed.get("org_unit") or old_unit
                events.append((kind, (transfer_place or "").strip(), new_unit.name))
            else:
                events.append((kind, old_status, changed["status"]))
    if ("category" in changed or "org_unit" in changed) and (
        changed.get("status", old_status) != MemberStatus.ACTIVE
    ):
        errors.setdefault("status", []).append(_(
            "Only an active member's category or branch can be changed; reactivate the "
            "member first."
        ))
    if "category" in changed:
        events.append((MemberChangeKind.CATEGORY, current.category, changed["category"]))
    if "org_unit" in changed:
        new_unit = changed["org_unit"]
        if new_unit is None:
            errors["org_unit"] = [_("Choose the branch or building group.")]
        else:
            household = changed.get("household", current.household)
            if "household" not in changed and household and not _under(household, new_unit):
                changed["household"] = None
            # A return from elsewhere already names the unit; don't record the move twice.
            if not any(event[0] == MemberChangeKind.TRANSFER_IN for event in events):
                events.append((MemberChangeKind.UNIT, old_unit.name, new_unit.name))
    if errors:
        raise ValidationError(errors)
    return events


def _current_member(member, lock=False):
    queryset = PartyMember.objects.select_related("person", "org_unit", "household", "employer")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    current = queryset.filter(pk=member.pk).first()
    if current is None:
        raise ValidationError(_("This member no longer exists."))
    return current


def check_member_change(member, *, effective_on=None, transfer_place="", **fields):
    """Raise the ValidationError update_member would raise for these values; save nothing."""
    current = _current_member(member)
    changed = _changed(current, fields)
    errors = {}
    try:
        _plan(current, changed, effective_on or _today(), transfer_place)
    except ValidationError as error:
        _merge(errors, error)
    for name, value in changed.items():
        setattr(current, name, value)
    try:
        _full_clean_member(current)
    except ValidationError as error:
        _merge(errors, error)
    if errors:
        raise ValidationError(errors)


def _apply(user, member, fields, *, effective_on=None, note="", transfer_place=""):
    """The one path for every change to a member: history rows, audit entry, transaction."""
    _require(user, "party_org.change_partymember")
    with transaction.atomic():
        current = _current_member(member, lock=True)
        _require_scope(user, current.org_unit)
        changed = _changed(current, fields)
        if not changed:
            return current
        for name in ("org_unit", "household"):
            if changed.get(name) is not None:
                _require_scope(user, changed[name])
        effective_on = effective_on or _today()
        events = _plan(current, changed, effective_on, transfer_place)
        before = audit.snapshot(current, MEMBER_FIELDS)
        for name, value in changed.items():
            setattr(current, name, value)
        _full_clean_member(current)
        current.save()
        for kind, from_value, to_value in events:
            _record_change(user, current, kind, effective_on, from_value, to_value, note)
        audit.record(
            user, AuditEntry.Action.UPDATE, current, current.org_unit,
            _("Member %(name)s changed") % {"name": current.person.name},
            audit.diff(before, audit.snapshot(current, MEMBER_FIELDS)),
        )
    return current


def update_member(user, member, *, effective_on=None, note="", transfer_place="", **fields):
    """Change any of a member's fields; category, branch and status changes are dated history.

    `transfer_place` says where the member goes (a transfer out) or comes back from.
    """
    return _apply(
        user, member, fields, effective_on=effective_on, note=note, transfer_place=transfer_place
    )


def change_category(user, member, new_category, effective_on, note="", **fields):
    """Move a member to another ledger (e.g. in service → retired); `fields` such as the
    employer may change with it."""
    return _apply(
        user, member, {"category": new_category, **fields}, effective_on=effective_on, note=note
    )


def move_member(user, member, new_org_unit, effective_on, note="", household=UNCHANGED):
    """Move a member to another branch or building group inside the user's scope."""
    fields = {"org_unit": new_org_unit}
    if household is not UNCHANGED:
        fields["household"] = household
    return _apply(user, member, fields, effective_on=effective_on, note=note)


def transfer_out(user, member, effective_on, to_where, note=""):
    """The member's relationship moves elsewhere; they stay on record as transferred out."""
    return _apply(
        user, member, {"status": MemberStatus.TRANSFERRED_OUT},
        effective_on=effective_on, note=note, transfer_place=to_where,
    )


def transfer_back_in(user, member, effective_on, from_where="", note="", org_unit=UNCHANGED):
    """A member who had transferred out comes back (to `org_unit` if given)."""
    fields = {"status": MemberStatus.ACTIVE}
    if org_unit is not UNCHANGED:
        fields["org_unit"] = org_unit
    return _apply(
        user, member, fields, effective_on=effective_on, note=note, transfer_place=from_where
    )


def set_status(user, member, status, effective_on, note="", transfer_place=""):
    """Active ↔ deceased; a transfer out needs `transfer_place` (see transfer_out)."""
    return _apply(
        user, member, {"status": status}, effective_on=effective_on, note=note,
        transfer_place=transfer_place,
    )


def delete_member(user, member):
    """Remove a ledger entry recorded by mistake (a member who leaves is transferred out)."""
    _require(user, "party_org.delete_partymember")
    with transaction.atomic():
        current = (
            PartyMember.objects.select_related("person", "org_unit").filter(pk=member.pk).first()
        )
        if current is None:
            return
        _require_scope(user, current.org_unit)
        pk, org_unit, name = current.pk, current.org_unit, current.person.name
        before = audit.snapshot(current, MEMBER_FIELDS)
        try:
            with transaction.atomic():
                current.delete()
        except (ProtectedError, RestrictedError) as error:
            raise ValidationError(_blockers_message(error, name)) from None
        current.pk = pk
        audit.record(
            user, AuditEntry.Action.DELETE, current, org_unit,
            _("Member %(name)s removed from the ledger") % {"name": name},
            {field: [value, None] for field, value in before.items()},
        )


def history_value_label(kind, value):
    """A history row's from/to value as shown to people (codes become their labels)."""
    choices = {
        MemberChangeKind.CATEGORY: MemberCategory,
        MemberChangeKind.STATUS: MemberStatus,
    }.get(kind)
    if choices is not None and value in choices.values:
        return str(choices(value).label)
    return value
