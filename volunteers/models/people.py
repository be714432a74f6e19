"""Volunteers (志愿者) and volunteer teams (志愿服务队)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from party_org.models import OrgUnit, Person

MAX_SKILLS = 10
SKILL_MAX_LENGTH = 30


def validate_skills(value):
    """A short list of short free-text skills ("理发", "水电维修")."""
    if not isinstance(value, list):
        raise ValidationError(_("Skills must be a list."))
    if len(value) > MAX_SKILLS:
        raise ValidationError(
            _("List at most %(n)d skills."), params={"n": MAX_SKILLS}, code="too_many"
        )
    for skill in value:
        if not isinstance(skill, str) or not skill.strip() or len(skill) > SKILL_MAX_LENGTH:
            raise ValidationError(
                _("Each skill is a word or two of at most %(n)d characters."),
                params={"n": SKILL_MAX_LENGTH}, code="bad_skill",
            )


class Volunteer(models.Model):
    """A person registered as a volunteer (may also be a party member)."""

    person = models.OneToOneField(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="volunteer"
    )
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("belongs to"), on_delete=models.PROTECT,
        related_name="volunteers",
    )
    skills = models.JSONField(_("skills"), default=list, blank=True, validators=[validate_skills])
    note = models.CharField(_("note"), max_length=300, blank=True)
    verified = models.BooleanField(_("verified"), default=False)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("verified by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("registered by (staff)"),
        on_delete=models.PROTECT, null=True, blank=True, related_name="+",
    )
    registered_at = models.DateTimeField(_("registered at"), db_index=True)
    is_active = models.BooleanField(_("active"), default=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("volunteer")
        verbose_name_plural = _("volunteers")
        ordering = ["-registered_at", "-pk"]
        permissions = [("verify_volunteer", _("Can verify volunteers"))]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(verified=False, verified_at__isnull=True)
                    | Q(verified=True, verified_at__isnull=False)
                ),
                name="volunteer_verified_has_time",
            ),
        ]

    def __str__(self):
        return self.person.name


class VolunteerTeam(models.Model):
    """A volunteer service team (e.g. "60工作室", a silver-haired team)."""

    name = models.CharField(_("name"), max_length=80)
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("organised by"), on_delete=models.PROTECT,
        related_name="volunteer_teams",
    )
    leader = models.ForeignKey(
        Person, verbose_name=_("leader"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="led_teams",
    )
    description = models.CharField(_("description"), max_length=300, blank=True)
    founded_on = models.DateField(_("founded on"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    members = models.ManyToManyField(
        Person, verbose_name=_("members"), through="TeamMembership", related_name="teams",
        blank=True,
    )

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("volunteer team")
        verbose_name_plural = _("volunteer teams")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["org_unit", "name"], name="team_unique_name")
        ]

    def __str__(self):
        return self.name


class TeamMembership(models.Model):
    team = models.ForeignKey(
        VolunteerTeam, verbose_name=_("team"), on_delete=models.CASCADE,
        related_name="memberships",
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT,
        related_name="team_memberships",
    )
    joined_on = models.DateField(_("joined on"))
    left_on = models.DateField(_("left on"), null=True, blank=True)

    scope_path = "team__org_unit"

    class Meta:
        verbose_name = _("team membership")
        verbose_name_plural = _("team memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["team", "person"], condition=Q(left_on__isnull=True),
                name="team_member_once",
                violation_error_message=_("This person is already in the team."),
            ),
            models.CheckConstraint(
                condition=Q(left_on__isnull=True) | Q(left_on__gte=F("joined_on")),
                name="team_member_dates_in_order",
            ),
        ]

    def __str__(self):
        return f"{self.team} · {self.person}"
