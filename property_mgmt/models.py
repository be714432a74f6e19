"""Property management of compounds: companies, service periods and subsidies, committees,
service evaluations, deliberations (议事会) and conventions (小区公约)."""

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from grids.models import Compound, GridEvent, Household
from party_org.models import OrgUnit, Person, phone_validator

# ---- 统一社会信用代码 (GB 32100-2015) ------------------------------------------------------------

CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_char(first17):
    total = sum(CREDIT_CODE_CHARS.index(c) * w for c, w in zip(first17, CREDIT_CODE_WEIGHTS))
    return CREDIT_CODE_CHARS[(31 - total % 31) % 31]


def validate_credit_code(value):
    value = (value or "").strip().upper()
    if len(value) != 18 or any(c not in CREDIT_CODE_CHARS for c in value):
        raise ValidationError(
            _("A unified social credit code has 18 digits or capital letters (no I, O, S, V, Z)."),
            code="credit_code_format",
        )
    if credit_code_check_char(value[:17]) != value[17]:
        raise ValidationError(
            _("The unified social credit code's check character is wrong; check for a typo."),
            code="credit_code_checksum",
        )


class PartyFormation(models.TextChoices):
    """三建一派: how the company's party organisation was formed."""

    STANDALONE = "standalone", _("own branch (单独组建)")
    INDUSTRY = "industry", _("industry joint branch (行业联建)")
    REGIONAL = "regional", _("regional joint branch (区域共建)")
    INSTRUCTOR = "instructor", _("party-building instructor sent (选派党建指导员)")
    NONE = "none", _("not yet covered")


class PropertyCompany(models.Model):
    name = models.CharField(_("name"), max_length=120, unique=True)
    credit_code = models.CharField(
        _("unified social credit code"), max_length=18, unique=True,
        validators=[validate_credit_code],
    )
    contact_name = models.CharField(_("contact person"), max_length=60, blank=True)
    contact_phone = models.CharField(
        _("contact phone"), max_length=20, blank=True, validators=[phone_validator]
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    party_formation = models.CharField(
        _("party organisation"), max_length=20, choices=PartyFormation.choices,
        default=PartyFormation.NONE,
    )
    party_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("party branch"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="property_companies",
        help_text=_("The branch the company's members belong to, where there is one."),
    )
    instructor = models.ForeignKey(
        Person, verbose_name=_("party-building instructor"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="instructed_companies",
    )
    is_red_property = models.BooleanField(
        _("red property company"), default=False,
        help_text=_("Strong in party building and able to help compounds without service."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    scope_path = None  # companies serve many streets: city-wide reference data

    class Meta:
        verbose_name = _("property company")
        verbose_name_plural = _("property companies")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(party_formation="instructor") | Q(instructor__isnull=False),
                name="company_instructor_when_sent",
            )
        ]

    def __str__(self):
        return self.name


class CompanyStaff(models.Model):
    """People working for a company in a compound (manager, steward), for cross-appointments."""

    company = models.ForeignKey(
        PropertyCompany, verbose_name=_("property company"), on_delete=models.CASCADE,
        related_name="staff",
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="company_roles"
    )
    compound = models.ForeignKey(
        Compound, verbose_name=_("compound"), on_delete=models.PROTECT,
        related_name="company_staff",
    )
    role = models.CharField(_("role"), max_length=60, help_text=_("e.g. 项目经理"))
    started_on = models.DateField(_("from"))
    ended_on = models.DateField(_("until"), null=True, blank=True)

    scope_path = "compound__org_unit"

    class Meta:
        verbose_name = _("company staff")
        verbose_name_plural = _("company staff")
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("started_on")),
                name="companystaff_ends_after_start",
            )
        ]

    def __str__(self):
        return f"{self.company} · {self.role} · {self.person}"


# ---- property service of a compound -------------------------------------------------------------


class ServiceMode(models.TextChoices):
    MARKET = "market", _("property company (market)")
    RED_PROPERTY = "red_property", _("red property help (红色物业帮建)")
    UNIT_ASSISTED = "unit_assisted", _("resident unit's help (驻地单位协建)")
    SUBSIDISED = "subsidised", _("subsidised transition (财政补贴过渡)")
    COMMUNITY_FALLBACK = "community_fallback", _("community fallback (社区兜底)")
    SELF_MANAGED = "self_managed", _("self-managed (自管)")
    NONE = "none", _("no service")


# The four ways of covering a compound without property service (四个一批).
FOUR_WAYS = (ServiceMode.RED_PROPERTY, ServiceMode.UNIT_ASSISTED, ServiceMode.SUBSIDISED,
             ServiceMode.COMMUNITY_FALLBACK)
WITHOUT_COMPANY = (*FOUR_WAYS, ServiceMode.SELF_MANAGED, ServiceMode.NONE)
NEEDS_COMPANY = (ServiceMode.MARKET, ServiceMode.RED_PROPERTY, ServiceMode.UNIT_ASSISTED,
                 ServiceMode.SUBSIDISED)


class ServicePeriod(models.Model):
    compound = models.ForeignKey(
        Compound, verbose_name=_("compound"), on_delete=models.PROTECT,
        related_name="service_periods",
    )
    mode = models.CharField(_("mode"), max_length=20, choices=ServiceMode.choices)
    company = models.ForeignKey(
        PropertyCompany, verbose_name=_("property company"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="service_periods",
    )
    started_on = models.DateField(_("from"))
    ended_on = models.DateField(_("until"), null=True, blank=True)
    fee_per_m2 = models.DecimalField(
        _("fee per m² per month (yuan)"), max_digits=6, decimal_places=2, default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    # For `subsidised`: the rate and length of the transition subsidy (0.5 yuan/m²/month, 6
    # months in seed 003), fixed when the period starts.
    subsidy_rate = models.DecimalField(
        _("subsidy per m² per month (yuan)"), max_digits=6, decimal_places=2, null=True,
        blank=True, validators=[MinValueValidator(Decimal("0"))],
    )
    subsidy_months = models.PositiveSmallIntegerField(
        _("subsidy months"), null=True, blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
    )
    # The last day of the last subsidised calendar month (the months run from the start month),
    # stored so "transition ending soon" is a plain date filter.
    subsidy_ends_on = models.DateField(_("subsidy ends on"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    scope_path = "compound__org_unit"

    class Meta:
        verbose_name = _("property service period")
        verbose_name_plural = _("property service")
        ordering = ["compound", "-started_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(mode__in=ServiceMode.values), name="serviceperiod_mode_valid"
            ),
            models.CheckConstraint(
                condition=Q(mode__in=NEEDS_COMPANY, company__isnull=False)
                | (~Q(mode__in=NEEDS_COMPANY) & Q(company__isnull=True)),
                name="serviceperiod_company_by_mode",
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("started_on")),
                name="serviceperiod_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(mode="subsidised", subsidy_rate__isnull=False,
                            subsidy_months__isnull=False, subsidy_ends_on__isnull=False)
                | (~Q(mode="subsidised") & Q(subsidy_rate__isnull=True,
                                             subsidy_months__isnull=True,
                                             subsidy_ends_on__isnull=True)),
                name="serviceperiod_subsidy_terms",
            ),
            models.UniqueConstraint(
                fields=["compound"], condition=Q(ended_on__isnull=True),
                name="serviceperiod_one_open_per_compound",
            ),
        ]

    def __str__(self):
        return f"{self.compound} · {self.get_mode_display()}"


class SubsidyGrant(models.Model):
    """One month's transition subsidy for a subsidised period (area × rate)."""

    period = models.ForeignKey(
        ServicePeriod, verbose_name=_("service period"), on_delete=models.PROTECT,
        related_name="grants",
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    area_m2 = models.DecimalField(_("area (m²)"), max_digits=12, decimal_places=1)
    rate = models.DecimalField(_("rate"), max_digits=6, decimal_places=2)
    amount = models.DecimalField(_("amount (yuan)"), max_digits=12, decimal_places=2)
    granted_at = models.DateTimeField(_("granted at"), auto_now_add=True)

    scope_path = "period__compound__org_unit"

    class Meta:
        verbose_name = _("subsidy grant")
        verbose_name_plural = _("subsidy grants")
        constraints = [
            models.UniqueConstraint(fields=["period", "month"], name="subsidy_once_per_month"),
            models.CheckConstraint(condition=Q(month__day=1), name="subsidy_month_first_day"),
        ]

    def __str__(self):
        return f"{self.period.compound} · {self.month:%Y-%m} · {self.amount}"


class IncomeKind(models.TextChoices):
    PARKING = "parking", _("parking")
    SHOPS = "shops", _("shops")
    LEASED_SPACE = "leased_space", _("leased space")
    OTHER = "other", _("other")


class SelfFundingEntry(models.Model):
    """自行造血: income of a compound without a company (append-only ledger)."""

    compound = models.ForeignKey(
        Compound, verbose_name=_("compound"), on_delete=models.PROTECT,
        related_name="self_funding",
    )
    kind = models.CharField(_("kind"), max_length=20, choices=IncomeKind.choices)
    amount = models.DecimalField(_("amount (yuan)"), max_digits=12, decimal_places=2)
    received_on = models.DateField(_("received on"))
    note = models.CharField(_("note"), max_length=300, blank=True)
    reverses = models.OneToOneField(
        "self", verbose_name=_("reverses"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="reversed_by",
    )

    scope_path = "compound__org_unit"

    class Meta:
        verbose_name = _("self-funding income")
        verbose_name_plural = _("self-funding income")
        ordering = ["-received_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reverses__isnull=True, amount__gt=0)
                | Q(reverses__isnull=False, amount__lt=0),
                name="selffunding_sign",
            )
        ]

    def __str__(self):
        return f"{self.compound} · {self.get_kind_display()} · {self.amount}"


# ---- committees (业委会 / 物管会) --------------------------------------------------------------------


class CommitteeKind(models.TextChoices):
    OWNERS = "owners", _("owners' committee (业委会)")
    PROPERTY = "property", _("property management committee (物管会)")


class Committee(models.Model):
    compound = models.ForeignKey(
        Compound, verbose_name=_("compound"), on_delete=models.PROTECT, related_name="committees"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=CommitteeKind.choices)
    elected_on = models.DateField(_("elected on"))
    term_ends_on = models.DateField(_("term ends on"))
    is_active = models.BooleanField(_("sitting"), default=True)
    # The last day it sat (the day before its successor was elected): history for the figures.
    ended_on = models.DateField(_("sat until"), null=True, blank=True)

    scope_path = "compound__org_unit"

    class Meta:
        verbose_name = _("committee")
        verbose_name_plural = _("owners' and property committees")
        constraints = [
            models.UniqueConstraint(
                fields=["compound"], condition=Q(is_active=True),
                name="committee_one_sitting_per_compound",
            ),
            models.CheckConstraint(
                condition=Q(term_ends_on__gt=F("elected_on")), name="committee_term_after_election"
            ),
            models.CheckConstraint(
                condition=Q(is_active=True, ended_on__isnull=True)
                | Q(is_active=False, ended_on__isnull=False, ended_on__gte=F("elected_on")),
                name="committee_ended_iff_not_sitting",
            ),
        ]

    def __str__(self):
        return f"{self.compound} {self.get_kind_display()}"


class CommitteeMemberRole(models.TextChoices):
    CHAIR = "chair", _("chair")
    VICE_CHAIR = "vice_chair", _("vice chair")
    MEMBER = "member", _("member")


class CommitteeMember(models.Model):
    committee = models.ForeignKey(
        Committee, verbose_name=_("committee"), on_delete=models.CASCADE, related_name="members"
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT,
        related_name="property_committee_seats",
    )
    role = models.CharField(_("role"), max_length=20, choices=CommitteeMemberRole.choices)
    started_on = models.DateField(_("from"))
    ended_on = models.DateField(_("until"), null=True, blank=True)

    scope_path = "committee__compound__org_unit"

    class Meta:
        verbose_name = _("committee member")
        verbose_name_plural = _("committee members")
        constraints = [
            models.UniqueConstraint(
                fields=["committee"], condition=Q(role="chair", ended_on__isnull=True),
                name="committee_one_sitting_chair",
            ),
            models.UniqueConstraint(
                fields=["committee", "person"], condition=Q(ended_on__isnull=True),
                name="committee_person_once",
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("started_on")),
                name="committeemember_ends_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.committee} · {self.get_role_display()} · {self.person}"


class RulesDocument(models.TextChoices):
    """The seven rules documents of a committee (seed 003: 议事规则等7项制度)."""

    PROCEDURE = "procedure", _("rules of procedure")
    FINANCE = "finance", _("financial management")
    PUBLIC_INCOME = "public_income", _("public income management")
    SEAL = "seal", _("seal management")
    ARCHIVES = "archives", _("archives")
    DISCLOSURE = "disclosure", _("information disclosure")
    SUPERVISION = "supervision", _("supervision")


class CommitteeDocument(models.Model):
    committee = models.ForeignKey(
        Committee, verbose_name=_("committee"), on_delete=models.CASCADE,
        related_name="documents",
    )
    kind = models.CharField(_("document"), max_length=20, choices=RulesDocument.choices)
    file = models.FileField(_("file"), upload_to="committees/%Y/")
    adopted_on = models.DateField(_("adopted on"))

    scope_path = "committee__compound__org_unit"

    class Meta:
        verbose_name = _("rules document")
        verbose_name_plural = _("rules documents")
        constraints = [
            models.UniqueConstraint(fields=["committee", "kind"], name="committee_document_once")
        ]

    def __str__(self):
        return f"{self.committee} · {self.get_kind_display()}"


# ---- service evaluations (物业服务评价) -----------------------------------------------------------

DIMENSIONS = ("cleaning", "security", "repairs", "greenery", "attitude")


class ServiceEvaluation(models.Model):
    compound = models.ForeignKey(
        Compound, verbose_name=_("compound"), on_delete=models.PROTECT,
        related_name="evaluations",
    )
    company = models.ForeignKey(
        PropertyCompany, verbose_name=_("property company"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="evaluations",
        help_text=_("The company serving the compound when the survey opened."),
    )
    year = models.PositiveSmallIntegerField(_("year"))
    quarter = models.PositiveSmallIntegerField(
        _("quarter"), default=0, validators=[MaxValueValidator(4)],
        help_text=_("1–4 for a quarterly survey; 0 for the whole year."),
    )
    opens_on = models.DateField(_("opens on"))
    closes_on = models.DateField(_("closes on"))

    scope_path = "compound__org_unit"

    class Meta:
        verbose_name = _("service evaluation")
        verbose_name_plural = _("service evaluations")
        ordering = ["-year", "-quarter", "compound"]
        constraints = [
            models.UniqueConstraint(
                fields=["compound", "year", "quarter"], name="evaluation_once_per_period",
            ),
            models.CheckConstraint(condition=Q(quarter__lte=4), name="evaluation_quarter_0_to_4"),
            models.CheckConstraint(
                condition=Q(closes_on__gte=F("opens_on")), name="evaluation_closes_after_opens"
            ),
        ]

    def __str__(self):
        period = f"{self.year}" + (f" Q{self.quarter}" if self.quarter else "")
        return f"{self.compound} · {period}"


EVALUATION_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_evaluation_code():
    return "".join(secrets.choice(EVALUATION_CODE_ALPHABET) for _ in range(10))


class EvaluationCode(models.Model):
    """A one-time code printed for one household: one response per household."""

    evaluation = models.ForeignKey(
        ServiceEvaluation, verbose_name=_("evaluation"), on_delete=models.CASCADE,
        related_name="codes",
    )
    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.PROTECT,
        related_name="evaluation_codes",
    )
    code = models.CharField(_("code"), max_length=16, unique=True, default=new_evaluation_code)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    scope_path = "evaluation__compound__org_unit"

    class Meta:
        verbose_name = _("evaluation code")
        verbose_name_plural = _("evaluation codes")
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "household"],
                                    name="evaluation_code_per_household")
        ]

    def __str__(self):
        return self.code


def _score(label):
    return models.PositiveSmallIntegerField(
        label, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )


class EvaluationResponse(models.Model):
    evaluation = models.ForeignKey(
        ServiceEvaluation, verbose_name=_("evaluation"), on_delete=models.CASCADE,
        related_name="responses",
    )
    code = models.OneToOneField(
        EvaluationCode, verbose_name=_("code"), on_delete=models.PROTECT, related_name="response"
    )
    cleaning = _score(_("cleaning"))
    security = _score(_("security"))
    repairs = _score(_("repairs"))
    greenery = _score(_("greenery"))
    attitude = _score(_("attitude"))
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"))

    scope_path = "evaluation__compound__org_unit"

    class Meta:
        verbose_name = _("evaluation response")
        verbose_name_plural = _("evaluation responses")
        constraints = [
            models.CheckConstraint(
                condition=Q(**{f"{d}__gte": 1 for d in DIMENSIONS})
                & Q(**{f"{d}__lte": 5 for d in DIMENSIONS}),
                name="evaluation_scores_1_to_5",
            )
        ]

    @property
    def mean(self):
        return sum(getattr(self, d) for d in DIMENSIONS) / len(DIMENSIONS)


# ---- deliberation (议事会, 四步议事法) ----------------------------------------------------------------


class DeliberationStatus(models.TextChoices):
    PROPOSED = "proposed", _("proposed by the branch (支部提)")
    DISCUSSING = "discussing", _("discussed by the parties (多方议)")
    DECIDED = "decided", _("decided (集体决)")
    PUBLICISED = "publicised", _("publicised")
    REVIEWED = "reviewed", _("reviewed by residents (群众评)")


class PartyKind(models.TextChoices):
    """Who takes part; "1+3+N" of seed 003 is the branch, the three below it, and N others."""

    BRANCH = "branch", _("compound party branch")
    RESIDENTS_COMMITTEE = "residents_committee", _("residents' committee")
    COMPANY = "company", _("property company")
    COMMITTEE = "committee", _("owners' or property committee")
    UNITS = "units", _("co-building units")
    POLICE = "police", _("community police")
    MEMBERS = "members", _("party members")
    REPRESENTATIVES = "representatives", _("residents' representatives")


ONE_PLUS_THREE_PLUS_N = [k.value for k in PartyKind]


class Deliberation(models.Model):
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("proposed by"), on_delete=models.PROTECT,
        related_name="deliberations",
    )
    compound = models.ForeignKey(
        Compound, verbose_name=_("compound"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="deliberations",
    )
    topic = models.CharField(_("topic"), max_length=200)
    background = models.TextField(_("background"), max_length=4000, blank=True)
    parties = models.JSONField(_("parties"), default=list)
    status = models.CharField(_("status"), max_length=20, choices=DeliberationStatus.choices,
                              default=DeliberationStatus.PROPOSED)
    proposed_at = models.DateTimeField(_("proposed at"))
    minutes = models.TextField(_("minutes"), max_length=8000, blank=True)
    decision = models.TextField(_("decision"), max_length=4000, blank=True)
    votes_for = models.PositiveIntegerField(_("votes for"), null=True, blank=True)
    votes_against = models.PositiveIntegerField(_("votes against"), null=True, blank=True)
    votes_abstain = models.PositiveIntegerField(_("abstentions"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    publicised_from = models.DateField(_("public notice from"), null=True, blank=True)
    publicised_until = models.DateField(_("public notice until"), null=True, blank=True)
    satisfied = models.PositiveIntegerField(_("satisfied"), default=0)
    unsatisfied = models.PositiveIntegerField(_("not satisfied"), default=0)
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    events = models.ManyToManyField(
        GridEvent, verbose_name=_("grid events resolved"), blank=True,
        related_name="deliberations",
    )

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("deliberation")
        verbose_name_plural = _("deliberations")
        ordering = ["-proposed_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["proposed", "discussing"]) | ~Q(decision=""),
                name="deliberation_decided_has_decision",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["proposed", "discussing"])
                | Q(votes_for__isnull=False, votes_against__isnull=False,
                    votes_abstain__isnull=False, votes_for__gt=F("votes_against")),
                name="deliberation_decided_by_majority",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["proposed", "discussing", "decided"])
                | Q(publicised_from__isnull=False, publicised_until__isnull=False),
                name="deliberation_publicised_has_period",
            ),
            models.CheckConstraint(
                condition=Q(publicised_until__isnull=True)
                | Q(publicised_until__gte=F("publicised_from")),
                name="deliberation_notice_period",
            ),
        ]

    def __str__(self):
        return self.topic


class DeliberationAttendance(models.Model):
    deliberation = models.ForeignKey(
        Deliberation, verbose_name=_("deliberation"), on_delete=models.CASCADE,
        related_name="attendance",
    )
    party = models.CharField(_("party"), max_length=30, choices=PartyKind.choices)
    name = models.CharField(_("name"), max_length=60)
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="deliberations_attended",
    )

    scope_path = "deliberation__org_unit"

    class Meta:
        verbose_name = _("attendance")
        verbose_name_plural = _("attendance")

    def __str__(self):
        return f"{self.get_party_display()} · {self.name}"


class DeliberationLog(models.Model):
    deliberation = models.ForeignKey(
        Deliberation, verbose_name=_("deliberation"), on_delete=models.CASCADE,
        related_name="logs",
    )
    from_status = models.CharField(_("from"), max_length=20, blank=True)
    to_status = models.CharField(_("to"), max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.PROTECT, null=True,
        blank=True,
        related_name="+",
    )
    note = models.TextField(_("note"), max_length=2000, blank=True)
    at = models.DateTimeField(_("at"))

    scope_path = "deliberation__org_unit"

    class Meta:
        verbose_name = _("deliberation log entry")
        verbose_name_plural = _("deliberation log")
        ordering = ["at", "pk"]


class Convention(models.Model):
    """A version of a compound's convention (小区公约)."""

    compound = models.ForeignKey(
        Compound, verbose_name=_("compound"), on_delete=models.PROTECT,
        related_name="conventions",
    )
    version = models.PositiveSmallIntegerField(_("version"))
    title = models.CharField(_("title"), max_length=200)
    text = models.TextField(_("text"), max_length=20000)
    adopted_on = models.DateField(_("adopted on"))
    deliberation = models.ForeignKey(
        Deliberation, verbose_name=_("adopted by deliberation"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="conventions",
    )

    scope_path = "compound__org_unit"

    class Meta:
        verbose_name = _("compound convention")
        verbose_name_plural = _("compound conventions")
        ordering = ["compound", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["compound", "version"], name="convention_version_once")
        ]

    def __str__(self):
        return f"{self.compound} · {self.title} (v{self.version})"
