"""State changes of the territory: compounds, buildings, entrances, household files and the five
lists.

Every function takes the acting user first (None = the system), checks the model permission and
that every unit and person it touches lies in the user's scope, validates with messages that name
the problem, writes the row and a ledger audit entry in one transaction. Fields not passed to an
update keep their values. Care flags and contact phones reach the change log masked only: the log
must not become a second copy of sensitive data.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.db.models.deletion import ProtectedError, RestrictedError
from django.utils.translation import gettext as _

from party_org import audit, pii
from party_org.models import AuditEntry, OrgKind, OrgUnit
from party_org.selectors import scoped
from party_org.services.tree import _require, _require_scope

from .. import care
from ..models import (
    Building,
    CareFlag,
    Compound,
    CompoundType,
    Entrance,
    Household,
    ResidentList,
    ResidentListEntry,
)
from ..models.territory import COMPOUND_UNIT_KINDS

COMPOUND_FIELDS = (
    "name", "org_unit", "compound_type", "households", "population", "floor_area_m2",
    "year_built", "address", "latitude", "longitude", "is_active",
)
BUILDING_FIELDS = ("compound", "number", "floors", "building_head")
ENTRANCE_FIELDS = ("building", "number", "entrance_head")
HOUSEHOLD_FIELDS = (
    "compound", "building", "entrance", "room", "head", "members_count", "contact_phone",
    "care_flags", "note",
)
# Logged as they are; contact_phone and care_flags are logged masked.
HOUSEHOLD_LOGGED = ("compound", "building", "entrance", "room", "head", "members_count", "note")
ENTRY_FIELDS = ("compound", "kind", "person", "household", "note")
ENTRY_EDITABLE = ("household", "note")


# ---- reads shared by the admin and the API ---------------------------------------------------


def with_community(queryset, path="org_unit"):
    """Annotate `community_name`: the community the unit at `path` lies in (itself if it is one),
    one correlated subquery instead of a query per row."""
    prefix = f"{path}__"
    communities = OrgUnit.objects.filter(
        kind=OrgKind.COMMUNITY,
        tree_id=OuterRef(f"{prefix}tree_id"),
        lft__lte=OuterRef(f"{prefix}lft"),
        rght__gte=OuterRef(f"{prefix}rght"),
    ).order_by("-lft")
    return queryset.annotate(community_name=Subquery(communities.values("name")[:1]))


# ---- helpers ---------------------------------------------------------------------------------


def _merge(errors, error):
    for field, messages in error.update_error_dict({}).items():
        errors.setdefault(field, []).extend(messages)


def _raise(errors):
    if errors:
        raise ValidationError(errors)


def _check_fields(fields, allowed):
    unknown = set(fields) - set(allowed)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")


def _require_in_scope(user, obj, field):
    """A chosen row (a person, a compound) must lie in the user's scope: else a form error."""
    if obj is None or user is None:
        return
    if not scoped(user, type(obj).objects.filter(pk=obj.pk)).exists():
        raise ValidationError({field: [_("This choice is outside your organisation.")]})


def _strip(obj, *names):
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, str):
            setattr(obj, name, value.strip())


def _model_errors(obj, exclude=()):
    """The field checks. Model.clean() and the constraints are checked by the callers, with
    messages that say which row is in the way."""
    errors = {}
    try:
        obj.clean_fields(exclude=list(exclude))
    except ValidationError as error:
        _merge(errors, error)
    return errors


def _fresh(queryset, obj, message):
    current = queryset.select_for_update(of=("self",)).filter(pk=obj.pk).first()
    if current is None:
        raise ValidationError(message)
    return current


def _save(obj, duplicate_error):
    # A savepoint: a concurrent insert of the same number fails this save only, with a message.
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise duplicate_error() from None


def _blockers_message(error, name):
    objs = getattr(error, "protected_objects", None) or getattr(error, "restricted_objects", ())
    labels = sorted({str(obj._meta.verbose_name_plural) for obj in objs})
    return _("“%(name)s” cannot be deleted while these still refer to it: %(detail)s.") % {
        "name": name, "detail": "、".join(labels),
    }


def _delete(user, obj, org_unit, summary):
    pk, name = obj.pk, str(obj)
    try:
        with transaction.atomic():
            obj.delete()
    except (ProtectedError, RestrictedError) as error:
        raise ValidationError(_blockers_message(error, name)) from None
    obj.pk = pk
    audit.record(user, AuditEntry.Action.DELETE, obj, org_unit, summary)


def _created(obj, fields):
    return {name: [None, value] for name, value in audit.snapshot(obj, fields).items()}


# ---- compounds -------------------------------------------------------------------------------


def _compound_duplicate(compound):
    return ValidationError({"name": [
        _("%(unit)s already has a compound named “%(name)s”.")
        % {"unit": compound.org_unit, "name": compound.name}
    ]}, code="duplicate")


def _validate_compound(compound):
    _strip(compound, "name", "address")
    errors = {}
    if compound.org_unit_id is None:
        errors["org_unit"] = [_("Choose the branch or community that covers the compound.")]
    elif compound.org_unit.kind not in COMPOUND_UNIT_KINDS:
        errors["org_unit"] = [
            _("A compound is covered by a branch or, while it has none, a community.")
        ]
    if compound.compound_type not in CompoundType.values:
        errors["compound_type"] = [_("Choose the type of the compound.")]
    for field, messages in _model_errors(compound, exclude=errors).items():
        errors.setdefault(field, []).extend(messages)
    if (compound.latitude is None) != (compound.longitude is None) and not (
        {"latitude", "longitude"} & set(errors)
    ):
        errors["longitude"] = [_("Give both the latitude and the longitude, or neither.")]
    if "name" not in errors and "org_unit" not in errors and (
        Compound.objects.filter(org_unit_id=compound.org_unit_id, name=compound.name)
        .exclude(pk=compound.pk).exists()
    ):
        _merge(errors, _compound_duplicate(compound))
    _raise(errors)


def check_compound(compound):
    """Raise the ValidationError a save of `compound` (with its new values) would raise."""
    _validate_compound(compound)


def create_compound(user, **fields):
    """Record a compound under the branch (or community) that covers it."""
    _require(user, "grids.add_compound")
    _check_fields(fields, COMPOUND_FIELDS)
    with transaction.atomic():
        compound = Compound(**fields)
        if compound.org_unit_id:
            _require_scope(user, compound.org_unit)
        _validate_compound(compound)
        _save(compound, lambda: _compound_duplicate(compound))
        audit.record(
            user, AuditEntry.Action.CREATE, compound, compound.org_unit,
            _("Compound %(name)s recorded") % {"name": compound.name},
            _created(compound, COMPOUND_FIELDS),
        )
    return compound


def update_compound(user, compound, **fields):
    _require(user, "grids.change_compound")
    _check_fields(fields, COMPOUND_FIELDS)
    with transaction.atomic():
        current = _fresh(
            Compound.objects.select_related("org_unit"), compound,
            _("This compound no longer exists."),
        )
        _require_scope(user, current.org_unit)
        if fields.get("org_unit") is not None and fields["org_unit"].pk != current.org_unit_id:
            _require_scope(user, fields["org_unit"])
        before = audit.snapshot(current, COMPOUND_FIELDS)
        for name, value in fields.items():
            setattr(current, name, value)
        _validate_compound(current)
        _save(current, lambda: _compound_duplicate(current))
        audit.record_change(
            user, AuditEntry.Action.UPDATE, current, current.org_unit,
            _("Compound %(name)s changed") % {"name": current.name},
            before=before, fields=COMPOUND_FIELDS,
        )
    return current


def delete_compound(user, compound):
    """Delete a compound nothing refers to (its buildings, household files and lists go first)."""
    _require(user, "grids.delete_compound")
    with transaction.atomic():
        current = Compound.objects.select_related("org_unit").filter(pk=compound.pk).first()
        if current is None:
            return
        _require_scope(user, current.org_unit)
        _delete(user, current, current.org_unit,
                _("Compound %(name)s deleted") % {"name": current.name})


# ---- buildings and entrances -----------------------------------------------------------------


def _building_duplicate(building):
    return ValidationError({"number": [
        _("%(compound)s already has a building numbered “%(number)s”.")
        % {"compound": building.compound, "number": building.number}
    ]}, code="duplicate")


def _validate_building(building):
    _strip(building, "number")
    if building.compound_id is None:
        raise ValidationError({"compound": [_("Choose the compound.")]})
    errors = _model_errors(building)
    if "number" not in errors and (
        Building.objects.filter(compound_id=building.compound_id, number=building.number)
        .exclude(pk=building.pk).exists()
    ):
        _merge(errors, _building_duplicate(building))
    _raise(errors)


def check_building(building):
    _validate_building(building)


def _building_scope(user, building, fields):
    if "compound" in fields and fields["compound"] is not None:
        _require_scope(user, fields["compound"].org_unit)
    if fields.get("building_head") is not None:
        _require_in_scope(user, fields["building_head"], "building_head")


def create_building(user, **fields):
    _require(user, "grids.add_building")
    _check_fields(fields, BUILDING_FIELDS)
    with transaction.atomic():
        building = Building(**fields)
        _building_scope(user, building, fields)
        _validate_building(building)
        _save(building, lambda: _building_duplicate(building))
        org_unit = building.compound.org_unit
        audit.record(
            user, AuditEntry.Action.CREATE, building, org_unit,
            _("Building %(name)s recorded") % {"name": building},
            _created(building, BUILDING_FIELDS),
        )
    return building


def update_building(user, building, **fields):
    _require(user, "grids.change_building")
    _check_fields(fields, BUILDING_FIELDS)
    with transaction.atomic():
        current = _fresh(
            Building.objects.select_related("compound__org_unit"), building,
            _("This building no longer exists."),
        )
        _require_scope(user, current.compound.org_unit)
        changed = {
            name: value for name, value in fields.items()
            if getattr(current, Building._meta.get_field(name).attname)
            != (value.pk if hasattr(value, "pk") else value)
        }
        _building_scope(user, current, changed)
        if "compound" in changed and current.households.exists():
            raise ValidationError({"compound": [
                _("The building has household files; it cannot move to another compound.")
            ]})
        before = audit.snapshot(current, BUILDING_FIELDS)
        for name, value in fields.items():
            setattr(current, name, value)
        _validate_building(current)
        _save(current, lambda: _building_duplicate(current))
        audit.record_change(
            user, AuditEntry.Action.UPDATE, current, current.compound.org_unit,
            _("Building %(name)s changed") % {"name": current},
            before=before, fields=BUILDING_FIELDS,
        )
    return current


def delete_building(user, building):
    _require(user, "grids.delete_building")
    with transaction.atomic():
        current = Building.objects.select_related("compound__org_unit").filter(
            pk=building.pk
        ).first()
        if current is None:
            return
        org_unit = current.compound.org_unit
        _require_scope(user, org_unit)
        _delete(user, current, org_unit, _("Building %(name)s deleted") % {"name": current})


def _entrance_duplicate(entrance):
    return ValidationError({"number": [
        _("%(building)s already has an entrance numbered “%(number)s”.")
        % {"building": entrance.building, "number": entrance.number}
    ]}, code="duplicate")


def _validate_entrance(entrance):
    _strip(entrance, "number")
    if entrance.building_id is None:
        raise ValidationError({"building": [_("Choose the building.")]})
    errors = _model_errors(entrance)
    if "number" not in errors and (
        Entrance.objects.filter(building_id=entrance.building_id, number=entrance.number)
        .exclude(pk=entrance.pk).exists()
    ):
        _merge(errors, _entrance_duplicate(entrance))
    _raise(errors)


def check_entrance(entrance):
    _validate_entrance(entrance)


def _entrance_scope(user, fields):
    if fields.get("building") is not None:
        _require_scope(user, fields["building"].compound.org_unit)
    if fields.get("entrance_head") is not None:
        _require_in_scope(user, fields["entrance_head"], "entrance_head")


def create_entrance(user, **fields):
    _require(user, "grids.add_entrance")
    _check_fields(fields, ENTRANCE_FIELDS)
    with transaction.atomic():
        entrance = Entrance(**fields)
        _entrance_scope(user, fields)
        _validate_entrance(entrance)
        _save(entrance, lambda: _entrance_duplicate(entrance))
        audit.record(
            user, AuditEntry.Action.CREATE, entrance, entrance.building.compound.org_unit,
            _("Entrance %(name)s recorded") % {"name": entrance},
            _created(entrance, ENTRANCE_FIELDS),
        )
    return entrance


def update_entrance(user, entrance, **fields):
    _require(user, "grids.change_entrance")
    _check_fields(fields, ENTRANCE_FIELDS)
    with transaction.atomic():
        current = _fresh(
            Entrance.objects.select_related("building__compound__org_unit"), entrance,
            _("This entrance no longer exists."),
        )
        _require_scope(user, current.building.compound.org_unit)
        changed = {
            name: value for name, value in fields.items()
            if getattr(current, Entrance._meta.get_field(name).attname)
            != (value.pk if hasattr(value, "pk") else value)
        }
        _entrance_scope(user, changed)
        if "building" in changed and current.households.exists():
            raise ValidationError({"building": [
                _("The entrance has household files; it cannot move to another building.")
            ]})
        before = audit.snapshot(current, ENTRANCE_FIELDS)
        for name, value in fields.items():
            setattr(current, name, value)
        _validate_entrance(current)
        _save(current, lambda: _entrance_duplicate(current))
        audit.record_change(
            user, AuditEntry.Action.UPDATE, current, current.building.compound.org_unit,
            _("Entrance %(name)s changed") % {"name": current},
            before=before, fields=ENTRANCE_FIELDS,
        )
    return current


def delete_entrance(user, entrance):
    _require(user, "grids.delete_entrance")
    with transaction.atomic():
        current = Entrance.objects.select_related("building__compound__org_unit").filter(
            pk=entrance.pk
        ).first()
        if current is None:
            return
        org_unit = current.building.compound.org_unit
        _require_scope(user, org_unit)
        _delete(user, current, org_unit, _("Entrance %(name)s deleted") % {"name": current})


# ---- household files -------------------------------------------------------------------------


def _household_duplicate(household):
    return ValidationError({"room": [
        _("There is already a household file for %(place)s.") % {"place": household}
    ]}, code="duplicate")


def _care_flag_errors(values):
    if not isinstance(values, (list, tuple)):
        return [_("Care flags are a list of flags.")]
    unknown = [str(value) for value in values if value not in CareFlag.values]
    if unknown:
        return [_("Unknown care flag: %(flags)s.") % {"flags": "、".join(unknown)}]
    return []


def _validate_household(household):
    _strip(household, "room", "contact_phone", "note")
    if household.compound_id is None:
        raise ValidationError({"compound": [_("Choose the compound.")]})
    errors = {}
    flag_errors = _care_flag_errors(household.care_flags)
    if flag_errors:
        errors["care_flags"] = flag_errors
    else:
        household.care_flags = care.normalise(household.care_flags)
    if household.building_id and household.building.compound_id != household.compound_id:
        errors["building"] = [_("The building is in another compound.")]
    if household.entrance_id:
        if not household.building_id:
            errors["entrance"] = [_("Choose the building of the entrance as well.")]
        elif household.entrance.building_id != household.building_id:
            errors["entrance"] = [_("The entrance is in another building.")]
    # Model.clean() repeats the checks above; only the field checks are wanted from it.
    try:
        household.clean_fields(exclude=["care_flags"])
    except ValidationError as error:
        _merge(errors, error)
    if not ({"room", "building", "entrance"} & set(errors)) and (
        Household.objects.filter(
            compound_id=household.compound_id, building_id=household.building_id,
            entrance_id=household.entrance_id, room=household.room,
        ).exclude(pk=household.pk).exists()
    ):
        _merge(errors, _household_duplicate(household))
    _raise(errors)


def check_household(household):
    _validate_household(household)


def _require_care_permission(user):
    if user is not None and not care.can_view_care_flags(user):
        raise PermissionDenied(_("You do not have permission to see or change care flags."))


def _household_scope(user, fields):
    if fields.get("compound") is not None:
        _require_scope(user, fields["compound"].org_unit)
    if fields.get("head") is not None:
        _require_in_scope(user, fields["head"], "head")


def _household_changes(before, after, before_phone, after_phone, before_flags, after_flags):
    changes = audit.diff(before, after) if before is not None else {
        name: [None, value] for name, value in after.items()
    }
    if before_phone != after_phone:
        changes["contact_phone"] = [pii.mask_phone(before_phone), pii.mask_phone(after_phone)]
    if list(before_flags) != list(after_flags):
        changes["care_flags"] = [care.MASK, care.MASK]
    return changes


def create_household(user, **fields):
    """Open a household file. Setting care flags needs `grids.view_care_flags`."""
    _require(user, "grids.add_household")
    _check_fields(fields, HOUSEHOLD_FIELDS)
    if fields.get("care_flags"):
        _require_care_permission(user)
    fields.setdefault("care_flags", [])
    fields["contact_phone"] = fields.get("contact_phone") or ""
    with transaction.atomic():
        household = Household(**fields)
        _household_scope(user, fields)
        _validate_household(household)
        _save(household, lambda: _household_duplicate(household))
        audit.record(
            user, AuditEntry.Action.CREATE, household, household.compound.org_unit,
            _("Household file %(name)s opened") % {"name": household},
            _household_changes(
                None, audit.snapshot(household, HOUSEHOLD_LOGGED), "",
                household.contact_phone, [], household.care_flags,
            ),
        )
    return household


def update_household(user, household, **fields):
    """Change a household file. Passing `care_flags` at all needs `grids.view_care_flags`: an
    answer that depended on whether the given flags equal the stored ones would reveal them."""
    _require(user, "grids.change_household")
    _check_fields(fields, HOUSEHOLD_FIELDS)
    if "care_flags" in fields:
        _require_care_permission(user)
        fields["care_flags"] = fields["care_flags"] if fields["care_flags"] is not None else []
    if "contact_phone" in fields:
        fields["contact_phone"] = fields["contact_phone"] or ""
    with transaction.atomic():
        current = _fresh(
            Household.objects.select_related("compound__org_unit", "building", "entrance"),
            household, _("This household file no longer exists."),
        )
        _require_scope(user, current.compound.org_unit)
        changed = {
            name: value for name, value in fields.items()
            if getattr(current, Household._meta.get_field(name).attname)
            != (value.pk if hasattr(value, "pk") else value)
        }
        _household_scope(user, changed)
        before = audit.snapshot(current, HOUSEHOLD_LOGGED)
        before_phone, before_flags = current.contact_phone, list(current.care_flags or [])
        for name, value in fields.items():
            setattr(current, name, value)
        _validate_household(current)
        _save(current, lambda: _household_duplicate(current))
        changes = _household_changes(
            before, audit.snapshot(current, HOUSEHOLD_LOGGED), before_phone,
            current.contact_phone, before_flags, current.care_flags,
        )
        if changes:
            audit.record(
                user, AuditEntry.Action.UPDATE, current, current.compound.org_unit,
                _("Household file %(name)s changed") % {"name": current}, changes,
            )
    return current


def delete_household(user, household):
    _require(user, "grids.delete_household")
    with transaction.atomic():
        current = Household.objects.select_related(
            "compound__org_unit", "building", "entrance"
        ).filter(pk=household.pk).first()
        if current is None:
            return
        org_unit = current.compound.org_unit
        _require_scope(user, org_unit)
        _delete(user, current, org_unit,
                _("Household file %(name)s deleted") % {"name": current})


# ---- the five lists --------------------------------------------------------------------------


def _entry_duplicate(entry):
    return ValidationError({"person": [
        _("%(name)s is already on the list of %(list)s of %(compound)s.")
        % {"name": entry.person, "list": entry.get_kind_display(), "compound": entry.compound}
    ]}, code="duplicate")


def _validate_entry(entry):
    _strip(entry, "note")
    errors = {}
    if entry.compound_id is None:
        errors["compound"] = [_("Choose the compound.")]
    if entry.person_id is None:
        errors["person"] = [_("Choose the person.")]
    if entry.kind not in ResidentList.values:
        errors["kind"] = [_("Choose one of the five lists.")]
    _raise(errors)
    if entry.household_id and entry.household.compound_id != entry.compound_id:
        errors["household"] = [_("The household is in another compound.")]
    try:
        entry.clean_fields(exclude=["compound", "person", "household", "kind"])
    except ValidationError as error:
        _merge(errors, error)
    if (
        ResidentListEntry.objects.filter(
            compound_id=entry.compound_id, kind=entry.kind, person_id=entry.person_id
        ).exclude(pk=entry.pk).exists()
    ):
        _merge(errors, _entry_duplicate(entry))
    _raise(errors)


def check_list_entry(entry):
    _validate_entry(entry)


def add_list_entry(user, *, compound, kind, person, household=None, note=""):
    """Put a person on one of the five lists of a compound (once per list)."""
    _require(user, "grids.add_residentlistentry")
    with transaction.atomic():
        entry = ResidentListEntry(
            compound=compound, kind=kind, person=person, household=household, note=note or ""
        )
        if compound is not None:
            _require_scope(user, compound.org_unit)
        _require_in_scope(user, person, "person")
        _require_in_scope(user, household, "household")
        _validate_entry(entry)
        _save(entry, lambda: _entry_duplicate(entry))
        audit.record(
            user, AuditEntry.Action.CREATE, entry, compound.org_unit,
            _("%(name)s put on the list of %(list)s of %(compound)s")
            % {"name": person, "list": entry.get_kind_display(), "compound": compound},
            _created(entry, ENTRY_FIELDS),
        )
    return entry


def update_list_entry(user, entry, **fields):
    """Change the household or the note of an entry; the list, compound and person are fixed."""
    _require(user, "grids.change_residentlistentry")
    _check_fields(fields, ENTRY_EDITABLE)
    with transaction.atomic():
        current = _fresh(
            ResidentListEntry.objects.select_related("compound__org_unit", "person"), entry,
            _("This list entry no longer exists."),
        )
        _require_scope(user, current.compound.org_unit)
        if fields.get("household") is not None and fields["household"].pk != (
            current.household_id
        ):
            _require_in_scope(user, fields["household"], "household")
        before = audit.snapshot(current, ENTRY_FIELDS)
        for name, value in fields.items():
            setattr(current, name, value)
        _validate_entry(current)
        current.save()
        audit.record_change(
            user, AuditEntry.Action.UPDATE, current, current.compound.org_unit,
            _("List entry %(name)s changed") % {"name": current},
            before=before, fields=ENTRY_FIELDS,
        )
    return current


def remove_list_entry(user, entry):
    _require(user, "grids.delete_residentlistentry")
    with transaction.atomic():
        current = ResidentListEntry.objects.select_related(
            "compound__org_unit", "person"
        ).filter(pk=entry.pk).first()
        if current is None:
            return
        org_unit = current.compound.org_unit
        _require_scope(user, org_unit)
        _delete(user, current, org_unit,
                _("%(name)s taken off the list of %(list)s of %(compound)s")
                % {"name": current.person, "list": current.get_kind_display(),
                   "compound": current.compound})
