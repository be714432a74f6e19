"""The territory: compounds (小区), buildings and entrances, household files (一户一档)."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from party_org.models import OrgKind, OrgUnit, Person, phone_validator


class CompoundType(models.TextChoices):
    RESIDENTIAL = "residential", _("residential")
    TRANSITIONAL = "transitional", _("transitional")
    OLD = "old", _("old")
    WORK_UNIT = "work_unit", _("work-unit")
    NEW_BUILD = "new_build", _("new-build")


COMPOUND_UNIT_KINDS = (OrgKind.COMMUNITY, OrgKind.BRANCH)


class Compound(models.Model):
    """A residential compound, hung on the branch that covers it (or its community)."""

    name = models.CharField(_("name"), max_length=120)
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("covering party organisation"), on_delete=models.PROTECT,
        related_name="compounds",
        help_text=_("The branch that covers the compound, or its community while it has none."),
    )
    compound_type = models.CharField(_("type"), max_length=20, choices=CompoundType.choices)
    households = models.PositiveIntegerField(_("households"), default=0)
    population = models.PositiveIntegerField(_("population"), default=0)
    floor_area_m2 = models.DecimalField(
        _("floor area (m²)"), max_digits=12, decimal_places=1, default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    year_built = models.PositiveSmallIntegerField(
        _("year built"), null=True, blank=True,
        validators=[MinValueValidator(1900), MaxValueValidator(2100)],
    )
    address = models.CharField(_("address"), max_length=200)
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    is_active = models.BooleanField(_("active"), default=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("compound")
        verbose_name_plural = _("compounds")
        constraints = [
            models.UniqueConstraint(fields=["org_unit", "name"], name="compound_unique_name"),
            models.CheckConstraint(
                condition=Q(compound_type__in=[t.value for t in CompoundType]),
                name="compound_type_valid",
            ),
            models.CheckConstraint(
                condition=(
                    Q(latitude__isnull=True, longitude__isnull=True)
                    | Q(latitude__isnull=False, longitude__isnull=False)
                ),
                name="compound_both_coordinates_or_none",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.org_unit_id and self.org_unit.kind not in COMPOUND_UNIT_KINDS:
            raise ValidationError(
                {"org_unit": _("A compound is covered by a branch or, while it has none, a community.")}
            )


class Building(models.Model):
    compound = models.ForeignKey(
        Compound, verbose_name=_("compound"), on_delete=models.PROTECT, related_name="buildings"
    )
    number = models.CharField(_("building"), max_length=20, help_text=_("e.g. 3号楼"))
    floors = models.PositiveSmallIntegerField(_("floors"), null=True, blank=True)
    building_head = models.ForeignKey(
        Person, verbose_name=_("building head"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="headed_buildings",
    )

    scope_path = "compound__org_unit"

    class Meta:
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        constraints = [
            models.UniqueConstraint(fields=["compound", "number"], name="building_unique_number")
        ]

    def __str__(self):
        return f"{self.compound} {self.number}"


class Entrance(models.Model):
    building = models.ForeignKey(
        Building, verbose_name=_("building"), on_delete=models.PROTECT, related_name="entrances"
    )
    number = models.CharField(_("entrance"), max_length=20, help_text=_("e.g. 2单元"))
    entrance_head = models.ForeignKey(
        Person, verbose_name=_("entrance head"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="headed_entrances",
    )

    scope_path = "building__compound__org_unit"

    class Meta:
        verbose_name = _("entrance")
        verbose_name_plural = _("entrances")
        constraints = [
            models.UniqueConstraint(fields=["building", "number"], name="entrance_unique_number")
        ]

    def __str__(self):
        return f"{self.building} {self.number}"


class CareFlag(models.TextChoices):
    """Residents who need attention (seeds 000 and 002). Sensitive: shown only with a permission."""

    LONELY_ELDERLY = "lonely_elderly", _("lonely elderly")
    ELDERLY_ALONE = "elderly_alone", _("elderly living alone")
    DISABLED = "disabled", _("disabled")
    PREGNANT = "pregnant", _("pregnant or postpartum")
    LOW_INCOME = "low_income", _("low-income")
    HARDSHIP = "hardship", _("special hardship")


class Household(models.Model):
    """A household file (一户一档)."""

    compound = models.ForeignKey(
        Compound, verbose_name=_("compound"), on_delete=models.PROTECT, related_name="household_files"
    )
    building = models.ForeignKey(
        Building, verbose_name=_("building"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="households",
    )
    entrance = models.ForeignKey(
        Entrance, verbose_name=_("entrance"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="households",
    )
    room = models.CharField(_("room"), max_length=20)
    head = models.ForeignKey(
        Person, verbose_name=_("head of household"), on_delete=models.PROTECT, null=True,
        blank=True, related_name="headed_households",
    )
    members_count = models.PositiveSmallIntegerField(
        pgettext_lazy("household", "members"), default=1, validators=[MaxValueValidator(50)]
    )
    contact_phone = models.CharField(
        _("contact phone"), max_length=20, blank=True, validators=[phone_validator]
    )
    care_flags = models.JSONField(_("care flags"), default=list, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    scope_path = "compound__org_unit"

    class Meta:
        verbose_name = _("household file")
        verbose_name_plural = _("household files")
        permissions = [("view_care_flags", _("Can view households' care flags"))]
        constraints = [
            models.UniqueConstraint(
                fields=["compound", "building", "entrance", "room"], name="household_unique_room"
            )
        ]

    def __str__(self):
        parts = [str(self.compound)]
        if self.building_id:
            parts.append(self.building.number)
        if self.entrance_id:
            parts.append(self.entrance.number)
        parts.append(self.room)
        return " ".join(parts)

    def clean(self):
        errors = {}
        if self.building_id and self.building.compound_id != self.compound_id:
            errors["building"] = _("The building is in another compound.")
        if self.entrance_id and self.entrance.building_id != self.building_id:
            errors["entrance"] = _("The entrance is in another building.")
        if not isinstance(self.care_flags, list) or not set(self.care_flags) <= set(CareFlag.values):
            errors["care_flags"] = _("Unknown care flag.")
        if errors:
            raise ValidationError(errors)


class ResidentList(models.TextChoices):
    """The five lists of seed 002."""

    RESIDENTS = "residents", _("residents")
    MEMBERS = "party_members", _("party members")
    SPECIAL = "special", _("special persons")
    KEY = "key", _("key persons")
    OUTSIDERS = "outsiders", _("outsiders")


class ResidentListEntry(models.Model):
    compound = models.ForeignKey(
        Compound, verbose_name=_("compound"), on_delete=models.PROTECT, related_name="list_entries"
    )
    kind = models.CharField(_("list"), max_length=20, choices=ResidentList.choices)
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="resident_lists"
    )
    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="list_entries",
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    added_on = models.DateField(_("added on"), auto_now_add=True)

    scope_path = "compound__org_unit"

    class Meta:
        verbose_name = _("resident list entry")
        verbose_name_plural = _("the five lists")
        constraints = [
            models.UniqueConstraint(
                fields=["compound", "kind", "person"], name="residentlist_once_per_list"
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.person}"
