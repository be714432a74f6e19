"""Yearly honours (社区好人 / 小区先锋 / 邻里帮手), approved by staff and shown on the compound's
public page (公示)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from grids.models import Compound
from party_org.models import OrgUnit, Person


class HonorTitle(models.TextChoices):
    COMMUNITY_GOOD_PERSON = "community_good_person", _("Community good person (社区好人)")
    COMPOUND_PIONEER = "compound_pioneer", _("Compound pioneer (小区先锋)")
    NEIGHBOUR_HELPER = "neighbour_helper", _("Neighbourhood helper (邻里帮手)")


class Honor(models.Model):
    title = models.CharField(_("title"), max_length=30, choices=HonorTitle.choices)
    year = models.PositiveSmallIntegerField(
        _("year"), validators=[MinValueValidator(2000), MaxValueValidator(2100)]
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="honours"
    )
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("awarded by"), on_delete=models.PROTECT, related_name="honours"
    )
    compound = models.ForeignKey(
        Compound, verbose_name=_("compound"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="honours", help_text=_("Where it is publicised."),
    )
    citation = models.CharField(_("citation"), max_length=300)
    nominated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("nominated by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )
    nominated_at = models.DateTimeField(_("nominated at"))
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("approved by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    publicised = models.BooleanField(_("publicised"), default=False)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("honour")
        verbose_name_plural = _("honours")
        ordering = ["-year", "title", "pk"]
        permissions = [("approve_honor", _("Can approve honours"))]
        constraints = [
            models.UniqueConstraint(fields=["title", "year", "person"], name="honor_once_a_year"),
            models.CheckConstraint(
                condition=Q(title__in=HonorTitle.values), name="honor_title_valid"
            ),
            models.CheckConstraint(
                condition=Q(approved_at__isnull=True) | Q(approved_by__isnull=False),
                name="honor_approved_by_someone",
            ),
            models.CheckConstraint(
                condition=Q(publicised=False) | Q(approved_at__isnull=False),
                name="honor_publicised_when_approved",
            ),
        ]

    def __str__(self):
        return f"{self.year} {self.get_title_display()} · {self.person}"

    def clean(self):
        if self.compound_id and self.org_unit_id:
            unit = self.compound.org_unit
            if not (self.org_unit.tree_id == unit.tree_id
                    and self.org_unit.lft <= unit.lft and unit.rght <= self.org_unit.rght):
                raise ValidationError(
                    {"compound": _("The compound is outside the awarding organisation.")}
                )
