"""Grids and micro-grids (网格/微网格), what they cover, and the grid workers assigned to them."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from party_org.models import OrgKind, OrgUnit, Person

from .territory import COMPOUND_UNIT_KINDS, Building, Compound


class Grid(models.Model):
    """A grid under a community, or a micro-grid under a grid; led by a branch where one leads it."""

    name = models.CharField(_("name"), max_length=120)
    code = models.CharField(_("code"), max_length=40, unique=True)
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("leading party organisation"), on_delete=models.PROTECT,
        related_name="grids",
        help_text=_("The branch that leads the grid, or its community while none does."),
    )
    parent = models.ForeignKey(
        "self", verbose_name=_("grid"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="micro_grids", help_text=_("Set for a micro-grid: the grid it divides."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("grid")
        verbose_name_plural = _("grids")

    def __str__(self):
        return self.name

    @property
    def is_micro(self):
        return self.parent_id is not None

    def clean(self):
        errors = {}
        if self.org_unit_id and self.org_unit.kind not in COMPOUND_UNIT_KINDS:
            errors["org_unit"] = _("A grid is led by a branch or, while it has none, a community.")
        if self.parent_id:
            if self.parent.parent_id:
                errors["parent"] = _("A micro-grid cannot be divided further.")
            elif self.pk and self.parent_id == self.pk:
                errors["parent"] = _("A grid cannot divide itself.")
        if errors:
            raise ValidationError(errors)


class GridCoverage(models.Model):
    """What a grid covers: a whole compound or one building of it (the overlap cases of 001)."""

    grid = models.ForeignKey(
        Grid, verbose_name=_("grid"), on_delete=models.CASCADE, related_name="coverage"
    )
    compound = models.ForeignKey(
        Compound, verbose_name=_("compound"), on_delete=models.PROTECT, related_name="grid_coverage"
    )
    building = models.ForeignKey(
        Building, verbose_name=_("building"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="grid_coverage", help_text=_("Empty when the grid covers the whole compound."),
    )

    scope_path = "grid__org_unit"

    class Meta:
        verbose_name = _("grid coverage")
        verbose_name_plural = _("grid coverage")
        constraints = [
            models.UniqueConstraint(
                fields=["grid", "compound"], condition=Q(building__isnull=True),
                name="coverage_whole_compound_once",
            ),
            models.UniqueConstraint(
                fields=["grid", "building"], condition=Q(building__isnull=False),
                name="coverage_building_once",
            ),
        ]

    def __str__(self):
        return f"{self.grid} → {self.building or self.compound}"

    def clean(self):
        if self.building_id and self.building.compound_id != self.compound_id:
            raise ValidationError({"building": _("The building is in another compound.")})


class GridWorkerKind(models.TextChoices):
    FULL_TIME = "full_time", _("full-time")
    PART_TIME = "part_time", _("part-time")
    AUXILIARY = "auxiliary", _("auxiliary")


class GridWorker(models.Model):
    person = models.OneToOneField(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="grid_worker"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=GridWorkerKind.choices)
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("community"), on_delete=models.PROTECT, related_name="grid_workers"
    )
    is_active = models.BooleanField(_("active"), default=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("grid worker")
        verbose_name_plural = _("grid workers")

    def __str__(self):
        return f"{self.person} ({self.get_kind_display()})"

    def clean(self):
        if self.org_unit_id and self.org_unit.kind not in (OrgKind.COMMUNITY, OrgKind.BRANCH):
            raise ValidationError(
                {"org_unit": _("A grid worker works for a community or a branch.")}
            )


class GridAssignment(models.Model):
    worker = models.ForeignKey(
        GridWorker, verbose_name=_("grid worker"), on_delete=models.PROTECT,
        related_name="assignments",
    )
    grid = models.ForeignKey(
        Grid, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="assignments"
    )
    started_on = models.DateField(_("from"))
    ended_on = models.DateField(_("until"), null=True, blank=True)

    scope_path = "grid__org_unit"

    class Meta:
        verbose_name = _("grid assignment")
        verbose_name_plural = _("grid assignments")
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=models.F("started_on")),
                name="gridassignment_dates_in_order",
            ),
            models.UniqueConstraint(
                fields=["worker", "grid"], condition=Q(ended_on__isnull=True),
                name="gridassignment_one_open_per_grid",
            ),
        ]

    def __str__(self):
        return f"{self.worker} → {self.grid}"
