"""Patrols (重点巡查点位, 巡查打卡) and household visits (入户走访)."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from .events import GridEvent
from .gridding import GridWorker
from .territory import Compound, Household


class PatrolPoint(models.Model):
    compound = models.ForeignKey(
        Compound, verbose_name=_("compound"), on_delete=models.PROTECT,
        related_name="patrol_points",
    )
    name = models.CharField(_("name"), max_length=120, help_text=_("e.g. 3号楼消防通道"))
    description = models.CharField(_("what to check"), max_length=300, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    scope_path = "compound__org_unit"

    class Meta:
        verbose_name = _("patrol point")
        verbose_name_plural = _("patrol points")
        constraints = [
            models.UniqueConstraint(fields=["compound", "name"], name="patrolpoint_unique_name")
        ]

    def __str__(self):
        return f"{self.compound} · {self.name}"


class PatrolCheckin(models.Model):
    """A grid worker's check-in (打卡) at a patrol point."""

    point = models.ForeignKey(
        PatrolPoint, verbose_name=_("patrol point"), on_delete=models.PROTECT,
        related_name="checkins",
    )
    worker = models.ForeignKey(
        GridWorker, verbose_name=_("grid worker"), on_delete=models.PROTECT,
        related_name="checkins",
    )
    at = models.DateTimeField(_("checked in at"), db_index=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    event = models.ForeignKey(
        GridEvent, verbose_name=_("event raised"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="checkins",
    )

    scope_path = "point__compound__org_unit"

    class Meta:
        verbose_name = _("patrol check-in")
        verbose_name_plural = _("patrol check-ins")
        ordering = ["-at", "-pk"]

    def __str__(self):
        return f"{self.point} · {self.at:%Y-%m-%d %H:%M}"


class HouseholdVisit(models.Model):
    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.PROTECT, related_name="visits"
    )
    worker = models.ForeignKey(
        GridWorker, verbose_name=_("grid worker"), on_delete=models.PROTECT,
        related_name="visits",
    )
    visited_on = models.DateField(_("visited on"), db_index=True)
    findings = models.TextField(_("findings"), max_length=2000, blank=True)
    event = models.ForeignKey(
        GridEvent, verbose_name=_("event raised"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="visits",
    )

    scope_path = "household__compound__org_unit"

    class Meta:
        verbose_name = _("household visit")
        verbose_name_plural = _("household visits")
        ordering = ["-visited_on", "-pk"]

    def __str__(self):
        return f"{self.household} · {self.visited_on}"

    def clean(self):
        if self.event_id and self.household_id and self.event.compound_id not in (
            None, self.household.compound_id
        ):
            raise ValidationError({"event": _("The event is in another compound.")})
