"""What branches work with: service stations, funds, co-building units and their three lists."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .members import WorkUnit
from .tree import OrgKind, OrgUnit


class StationFunction(models.TextChoices):
    """The seven functions of a service station (seed 002)."""

    RECEPTION = "reception", _("public opinion reception")
    DELIBERATION = "deliberation", _("residents' deliberation")
    MEDIATION = "mediation", _("dispute mediation")
    ERRANDS = "errands", _("errands on residents' behalf")
    MEMBERS = "members", _("party member management")
    CULTURE = "culture", _("culture and leisure")
    VOLUNTEERING = "volunteering", _("volunteer service")


class StationStandard(models.TextChoices):
    EIGHT_HAVES = "eight_haves", _("eight haves (八有)")
    SIX_HAVES_FIVE = "six_haves_five", _("six haves, five standards (六有五化)")


# The checklist items of each standard (seeds 002 and 004).
STANDARD_ITEMS = {
    StationStandard.EIGHT_HAVES: [
        ("code", _("has a code")),
        ("sign", _("has a sign")),
        ("facilities", _("has facilities")),
        ("mechanism", _("has a working mechanism")),
        ("team", _("has a team")),
        ("activities", _("has activities")),
        ("services", _("has services")),
        ("support", _("has guaranteed support")),
    ],
    StationStandard.SIX_HAVES_FIVE: [
        ("venue", _("has a venue")),
        ("flag_oath", _("has the party flag and oath")),
        ("equipment", _("has office equipment")),
        ("rules", _("has management rules")),
        ("materials", _("has study materials")),
        ("ledgers", _("has work ledgers")),
        ("standard_venue", _("standardised venue")),
        ("systematic_rules", _("systematic rules")),
        ("regular_life", _("regular organisational life")),
        ("fine_service", _("fine-grained service")),
        ("routine_role", _("routine role in governance")),
    ],
}


class ServiceStation(models.Model):
    """A party–public service station (党群服务站) of a branch or community."""

    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("branch or community"), on_delete=models.PROTECT,
        related_name="stations",
    )
    name = models.CharField(_("name"), max_length=120)
    address = models.CharField(_("address"), max_length=200)
    area_m2 = models.DecimalField(
        _("area (m²)"), max_digits=8, decimal_places=1, validators=[MinValueValidator(Decimal("1"))]
    )
    functions = models.JSONField(_("functions"), default=list, blank=True)
    opening_hours = models.CharField(_("opening hours"), max_length=120, blank=True)
    standard = models.CharField(
        _("standard"), max_length=20, choices=StationStandard.choices,
        default=StationStandard.EIGHT_HAVES,
    )
    checklist = models.JSONField(_("standard items met"), default=list, blank=True)
    opened_on = models.DateField(_("opened on"), null=True, blank=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("service station")
        verbose_name_plural = _("service stations")
        constraints = [
            models.CheckConstraint(condition=Q(area_m2__gt=0), name="station_area_positive")
        ]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        if self.org_unit_id and self.org_unit.kind not in (OrgKind.BRANCH, OrgKind.COMMUNITY):
            errors["org_unit"] = _("A service station belongs to a branch or a community.")
        known = set(StationFunction.values)
        if not isinstance(self.functions, list) or not set(self.functions) <= known:
            errors["functions"] = _("Unknown station function.")
        items = {code for code, _label in STANDARD_ITEMS.get(StationStandard(self.standard), [])}
        if not isinstance(self.checklist, list) or not set(self.checklist) <= items:
            errors["checklist"] = _("A checklist item does not belong to the chosen standard.")
        if errors:
            raise ValidationError(errors)

    @property
    def checklist_total(self):
        return len(STANDARD_ITEMS[StationStandard(self.standard)])

    @property
    def meets_standard(self):
        return len(set(self.checklist)) == self.checklist_total


class FundCategory(models.TextChoices):
    WORK_FUNDS = "work_funds", _("annual work funds")
    RETURNED_FEES = "returned_fees", _("returned party fees of retired members")
    SPECIAL = "special", _("special funds")
    OTHER_INCOME = "other_income", _("other income")
    ACTIVITIES = "activities", pgettext_lazy("fund use", "activities")
    VENUE = "venue", _("venue and equipment")
    ALLOWANCES = "allowances", _("allowances")
    SERVICES = "services", _("services to residents")
    OTHER_SPENDING = "other_spending", _("other spending")


INCOME_CATEGORIES = {
    FundCategory.WORK_FUNDS,
    FundCategory.RETURNED_FEES,
    FundCategory.SPECIAL,
    FundCategory.OTHER_INCOME,
}


INCOME_VALUES = sorted(c.value for c in INCOME_CATEGORIES)


class BranchFundEntry(models.Model):
    """One line of a branch's money ledger (有钱办事): in when positive, out when negative.

    Append-only: a mistake is corrected by a reversal, a new entry of the same category with the
    opposite amount that points at the entry it cancels.
    """

    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("branch"), on_delete=models.PROTECT, related_name="fund_entries"
    )
    entry_date = models.DateField(_("date"))
    category = models.CharField(_("category"), max_length=20, choices=FundCategory.choices)
    amount = models.DecimalField(
        _("amount (yuan)"), max_digits=12, decimal_places=2,
        help_text=_("Positive for money in, negative for money out."),
    )
    description = models.CharField(_("description"), max_length=200)
    reverses = models.OneToOneField(
        "self", verbose_name=_("reverses"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="reversal", help_text=_("The entry this one cancels."),
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("fund entry")
        verbose_name_plural = _("branch funds")
        ordering = ["org_unit", "entry_date", "id"]
        indexes = [
            models.Index(fields=["org_unit", "entry_date", "id"], name="fundentry_ledger_order")
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="fundentry_amount_not_zero"),
            # Income is positive and spending negative; a reversal carries the opposite sign.
            models.CheckConstraint(
                condition=(
                    Q(reverses__isnull=True)
                    & (
                        Q(category__in=INCOME_VALUES, amount__gt=0)
                        | (~Q(category__in=INCOME_VALUES) & Q(amount__lt=0))
                    )
                )
                | (
                    Q(reverses__isnull=False)
                    & (
                        Q(category__in=INCOME_VALUES, amount__lt=0)
                        | (~Q(category__in=INCOME_VALUES) & Q(amount__gt=0))
                    )
                ),
                name="fundentry_sign_matches_category",
            ),
        ]

    def __str__(self):
        return f"{self.org_unit} · {self.entry_date} · {self.amount}"

    @property
    def is_income(self):
        return self.category in INCOME_VALUES


class CoBuildingAgreement(models.Model):
    """A work unit stationed in the area, paired with a community or branch (共建单位)."""

    work_unit = models.ForeignKey(
        WorkUnit, verbose_name=_("work unit"), on_delete=models.PROTECT,
        related_name="agreements",
    )
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("community or branch"), on_delete=models.PROTECT,
        related_name="co_building_agreements",
    )
    signed_on = models.DateField(_("signed on"))
    liaison = models.CharField(_("liaison"), max_length=60, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("co-building agreement")
        verbose_name_plural = _("co-building units")
        constraints = [
            models.UniqueConstraint(
                fields=["work_unit", "org_unit"], name="cobuilding_once_per_pair"
            )
        ]

    def __str__(self):
        return f"{self.work_unit} ↔ {self.org_unit}"


class ListKind(models.TextChoices):
    RESOURCE = "resource", _("resource")
    PROBLEM = "problem", _("problem")
    NEED = "need", _("need")


class ListItem(models.Model):
    """An entry on one of the three lists (resources, problems, needs) of seed 004."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        MATCHED = "matched", _("matched")
        DONE = "done", _("done")

    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("community or branch"), on_delete=models.PROTECT,
        related_name="list_items",
    )
    kind = models.CharField(_("list"), max_length=10, choices=ListKind.choices)
    work_unit = models.ForeignKey(
        WorkUnit, verbose_name=_("offered by"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="list_items",
        help_text=_("For resources: the co-building unit that offers it."),
    )
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("list item")
        verbose_name_plural = _("three lists")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="resource") | Q(work_unit__isnull=True),
                name="listitem_only_resources_have_a_unit",
            )
        ]

    def __str__(self):
        return f"[{self.get_kind_display()}] {self.title}"


class NeedMatch(models.Model):
    """A need matched to a resource (对单配餐)."""

    need = models.ForeignKey(
        ListItem, verbose_name=_("need"), on_delete=models.PROTECT, related_name="matches",
        limit_choices_to={"kind": ListKind.NEED},
    )
    resource = models.ForeignKey(
        ListItem, verbose_name=_("resource"), on_delete=models.PROTECT,
        related_name="matched_needs", limit_choices_to={"kind": ListKind.RESOURCE},
    )
    matched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("matched by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )
    matched_at = models.DateTimeField(_("matched at"), auto_now_add=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    scope_path = "need__org_unit"

    class Meta:
        verbose_name = _("need matched to a resource")
        verbose_name_plural = _("needs matched to resources")
        constraints = [
            models.UniqueConstraint(fields=["need", "resource"], name="needmatch_once_per_pair")
        ]

    def __str__(self):
        return f"{self.need} ← {self.resource}"
