"""Volunteers and volunteer teams."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from party_org.models import Person, phone_validator

from ..models import TeamMembership, Volunteer, VolunteerTeam
from ..models.people import validate_skills
from ._common import (
    CREATE,
    UPDATE,
    is_user,
    now,
    raise_errors,
    record,
    require,
    require_scope,
    require_staff,
    sync,
    text,
)

NAME_MAX = Person._meta.get_field("name").max_length


def _skills(skills, errors):
    skills = [text(s) for s in (skills or []) if text(s)] if isinstance(
        skills, (list, tuple)) else skills
    try:
        validate_skills(skills)
    except ValidationError as error:
        errors["skills"] = error.messages
        return []
    return list(dict.fromkeys(skills))


def register_volunteer(user, *, org_unit=None, compound=None, person=None, name="", phone="",
                       skills=(), note="", verified=False, at=None):
    """Register a volunteer: a resident on the public form (user None, with their compound, name
    and phone), or staff for an existing person or a new one. Only staff with the permission may
    register someone as verified at once."""
    at = at or now()
    errors = {}
    if compound is not None:
        org_unit = compound.org_unit
        if not compound.is_active:
            errors["compound"] = [_("The compound “%(name)s” is no longer active.")
                                  % {"name": compound.name}]
    if org_unit is None:
        errors["compound" if user is None else "org_unit"] = [
            _("Choose your compound.") if user is None else _("Choose the unit.")
        ]
    if user is not None:
        require(user, "volunteers.add_volunteer")
        if org_unit is not None:
            require_scope(user, org_unit, _("This unit is outside your organisation."))
        if person is not None:
            require_scope(user, person.org_unit, _("This person is outside your organisation."))
        if verified:
            require(user, "volunteers.verify_volunteer")
    elif person is not None or verified:
        raise PermissionDenied(_("Residents register themselves by name and phone."))
    name, phone = text(name), text(phone)
    if person is None:
        if not name:
            errors["name"] = [_("Give your name.")]
        elif len(name) > NAME_MAX:
            errors["name"] = [_("The name is too long.")]
        if not phone:
            errors["phone"] = [_("Give a phone number.")]
        else:
            try:
                phone_validator(phone)
            except ValidationError as error:
                errors["phone"] = error.messages
    skills = _skills(skills, errors)
    if len(text(note)) > 300:
        errors["note"] = [_("Keep the note under 300 characters.")]
    raise_errors(errors)
    with transaction.atomic():
        if person is None:
            # The same name and phone at the same place is the same person registering again.
            person = Person.objects.filter(org_unit=org_unit, name=name, phone=phone).first()
            if person is None:
                person = Person.objects.create(org_unit=org_unit, name=name, phone=phone)
        if Volunteer.objects.filter(person_id=person.pk).exists():
            raise ValidationError({"person": [_("%(name)s is already registered as a volunteer.")
                                              % {"name": person.name}]})
        try:
            with transaction.atomic():
                volunteer = Volunteer.objects.create(
                    person=person, org_unit=org_unit, skills=skills, note=text(note),
                    registered_at=at, registered_by=user if is_user(user) else None,
                    verified=bool(verified), verified_at=at if verified else None,
                    verified_by=user if verified else None,
                )
        except IntegrityError:
            raise ValidationError({"person": [_("%(name)s is already registered as a volunteer.")
                                              % {"name": person.name}]}) from None
        record(user, CREATE, volunteer, org_unit,
               _("Volunteer %(name)s registered") % {"name": person.name},
               {"skills": skills, "verified": bool(verified)})
    return volunteer


def verify_volunteer(user, volunteer, verified=True, at=None):
    """Staff confirm (or withdraw) that a volunteer is who they say; recorded with who and when."""
    at = at or now()
    if user is None:
        raise PermissionDenied(_("Volunteers are verified by staff."))
    with transaction.atomic():
        fresh = Volunteer.objects.select_for_update(of=("self",)).select_related(
            "org_unit", "person"
        ).filter(pk=volunteer.pk).first()
        if fresh is None:
            raise ValidationError(_("This volunteer no longer exists."))
        require_staff(user, "volunteers.verify_volunteer", fresh.org_unit,
                      _("This volunteer is outside your organisation."))
        if fresh.verified == bool(verified):
            return sync(volunteer, fresh)
        fresh.verified = bool(verified)
        fresh.verified_by = user if verified else None
        fresh.verified_at = at if verified else None
        fresh.save(update_fields=["verified", "verified_by", "verified_at"])
        record(user, UPDATE, fresh, fresh.org_unit,
               (_("Volunteer %(name)s verified") if verified
                else _("Volunteer %(name)s no longer verified")) % {"name": fresh.person.name},
               {"verified": [not verified, bool(verified)]})
    return sync(volunteer, fresh)


# ---- teams -------------------------------------------------------------------------------------


def create_team(user, *, org_unit, name, leader=None, description="", founded_on=None):
    require(user, "volunteers.add_volunteerteam")
    errors = {}
    name = text(name)
    if not name:
        errors["name"] = [_("Give the team a name.")]
    if org_unit is None:
        errors["org_unit"] = [_("Choose the unit.")]
    elif VolunteerTeam.objects.filter(org_unit=org_unit, name=name).exists():
        errors["name"] = [_("This unit already has a team of this name.")]
    raise_errors(errors)
    require_scope(user, org_unit, _("This unit is outside your organisation."))
    if leader is not None:
        require_scope(user, leader.org_unit, _("This person is outside your organisation."))
    team = VolunteerTeam(org_unit=org_unit, name=name, leader=leader,
                         description=text(description), founded_on=founded_on)
    team.full_clean(exclude=["org_unit", "leader"])
    with transaction.atomic():
        team.save()
        if leader is not None:
            TeamMembership.objects.create(team=team, person=leader,
                                          joined_on=founded_on or timezone.localdate())
        record(user, CREATE, team, org_unit, _("Team “%(name)s” created") % {"name": name},
               {"leader": leader.pk if leader else None})
    return team


def _lock_team(team):
    fresh = VolunteerTeam.objects.select_for_update(of=("self",)).select_related(
        "org_unit").filter(pk=team.pk).first()
    if fresh is None:
        raise ValidationError(_("This team no longer exists."))
    return fresh


def add_member(user, team, person, joined_on=None):
    """Add a person to a team (a second time only after they left)."""
    require(user, "volunteers.change_volunteerteam")
    if person is None:
        raise ValidationError({"person": [_("Choose the person.")]})
    with transaction.atomic():
        fresh = _lock_team(team)
        require_scope(user, fresh.org_unit, _("This team is outside your organisation."))
        require_scope(user, person.org_unit, _("This person is outside your organisation."))
        if TeamMembership.objects.filter(team=fresh, person_id=person.pk,
                                         left_on__isnull=True).exists():
            raise ValidationError({"person": [_("This person is already in the team.")]})
        membership = TeamMembership.objects.create(
            team=fresh, person=person, joined_on=joined_on or timezone.localdate()
        )
        record(user, UPDATE, fresh, fresh.org_unit,
               _("%(name)s joined “%(team)s”") % {"name": person.name, "team": fresh.name})
    return membership


def remove_member(user, team, person, left_on=None):
    require(user, "volunteers.change_volunteerteam")
    left_on = left_on or timezone.localdate()
    with transaction.atomic():
        fresh = _lock_team(team)
        require_scope(user, fresh.org_unit, _("This team is outside your organisation."))
        membership = TeamMembership.objects.filter(
            team=fresh, person_id=person.pk, left_on__isnull=True
        ).first()
        if membership is None:
            raise ValidationError({"person": [_("This person is not in the team.")]})
        if left_on < membership.joined_on:
            raise ValidationError({"left_on": [_("The date is before they joined.")]})
        membership.left_on = left_on
        membership.save(update_fields=["left_on"])
        if fresh.leader_id == person.pk:
            fresh.leader = None
            fresh.save(update_fields=["leader"])
        record(user, UPDATE, fresh, fresh.org_unit,
               _("%(name)s left “%(team)s”") % {"name": person.name, "team": fresh.name})
    return membership


def set_leader(user, team, person):
    """Make a current member the team's leader."""
    require(user, "volunteers.change_volunteerteam")
    with transaction.atomic():
        fresh = _lock_team(team)
        require_scope(user, fresh.org_unit, _("This team is outside your organisation."))
        if person is not None and not TeamMembership.objects.filter(
            team=fresh, person_id=person.pk, left_on__isnull=True
        ).exists():
            raise ValidationError({"leader": [_("The leader must be a member of the team.")]})
        fresh.leader = person
        fresh.save(update_fields=["leader"])
        record(user, UPDATE, fresh, fresh.org_unit,
               _("Leader of “%(team)s” set") % {"team": fresh.name},
               {"leader": person.pk if person else None})
    return sync(team, fresh)

