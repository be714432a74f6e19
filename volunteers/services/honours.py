"""Yearly honours: nominated by staff, approved by staff holding approve_honor, then publicised
on the compound's public page (公示)."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import Honor, HonorTitle
from ._common import (
    CREATE,
    UPDATE,
    is_user,
    now,
    raise_errors,
    record,
    require,
    require_scope,
    sync,
    text,
    within,
)

APPROVE_PERM = "volunteers.approve_honor"


def nominate_honor(user, *, person, title, year, citation, org_unit=None, compound=None,
                   at=None):
    require(user, "volunteers.add_honor")
    if user is None:
        raise PermissionDenied(_("Honours are nominated by staff."))
    at = at or now()
    errors = {}
    if compound is not None and org_unit is None:
        org_unit = compound.org_unit
    if org_unit is None:
        errors["org_unit"] = [_("Choose the compound or the awarding unit.")]
    elif compound is not None and not within(compound.org_unit, org_unit):
        errors["compound"] = [_("The compound is outside the awarding organisation.")]
    if person is None:
        errors["person"] = [_("Choose the person.")]
    if title not in HonorTitle.values:
        errors["title"] = [_("Choose the title.")]
    try:
        year = int(year)
    except (TypeError, ValueError):
        year = 0
    if not 2000 <= year <= timezone.localdate(at).year:
        errors["year"] = [_("Enter a year up to this one.")]
    citation = text(citation)
    if not citation:
        errors["citation"] = [_("Say what the honour is for.")]
    elif len(citation) > 300:
        errors["citation"] = [_("Keep the citation under 300 characters.")]
    raise_errors(errors)
    require_scope(user, org_unit, _("This unit is outside your organisation."))
    require_scope(user, person.org_unit, _("This person is outside your organisation."))
    if Honor.objects.filter(title=title, year=year, person_id=person.pk).exists():
        raise ValidationError({"person": [_("%(name)s already holds this title for %(year)d.")
                                          % {"name": person.name, "year": year}]})
    with transaction.atomic():
        honor = Honor.objects.create(
            title=title, year=year, person=person, org_unit=org_unit, compound=compound,
            citation=citation, nominated_by=user, nominated_at=at,
        )
        record(user, CREATE, honor, org_unit,
               _("%(name)s nominated: %(title)s %(year)d")
               % {"name": person.name, "title": honor.get_title_display(), "year": year})
    return honor


def _lock(honor):
    fresh = Honor.objects.select_for_update(of=("self",)).select_related(
        "org_unit", "person").filter(pk=honor.pk).first()
    if fresh is None:
        raise ValidationError(_("This honour no longer exists."))
    return fresh


def approve_honor(user, honor, *, publicise=True, at=None):
    """Approve a nomination (and, by default, show it on the compound's public page)."""
    at = at or now()
    if not is_user(user):
        raise PermissionDenied(_("Honours are approved by staff."))
    require(user, APPROVE_PERM)
    with transaction.atomic():
        fresh = _lock(honor)
        require_scope(user, fresh.org_unit, _("This honour is outside your organisation."))
        if fresh.approved_at is not None:
            raise ValidationError(_("This honour has already been approved."))
        fresh.approved_by, fresh.approved_at = user, at
        fresh.publicised = bool(publicise)
        fresh.save(update_fields=["approved_by", "approved_at", "publicised"])
        record(user, UPDATE, fresh, fresh.org_unit,
               _("Honour approved: %(honor)s") % {"honor": fresh},
               {"approved": True, "publicised": fresh.publicised})
    return sync(honor, fresh)


def set_publicised(user, honor, publicised):
    """Show an approved honour on the public page, or take it down."""
    if not is_user(user):
        raise PermissionDenied(_("Honours are publicised by staff."))
    require(user, APPROVE_PERM)
    with transaction.atomic():
        fresh = _lock(honor)
        require_scope(user, fresh.org_unit, _("This honour is outside your organisation."))
        if publicised and fresh.approved_at is None:
            raise ValidationError(_("Only an approved honour can be publicised."))
        if fresh.publicised != bool(publicised):
            fresh.publicised = bool(publicised)
            fresh.save(update_fields=["publicised"])
            record(user, UPDATE, fresh, fresh.org_unit,
                   _("Honour publicised: %(honor)s") % {"honor": fresh} if publicised
                   else _("Honour taken down: %(honor)s") % {"honor": fresh},
                   {"publicised": fresh.publicised})
    return sync(honor, fresh)
