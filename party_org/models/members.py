"""Party members and what they do: the four ledgers, 双报到, posts, emergency roles, committees."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .people import Person
from .tree import OrgKind, OrgUnit, phone_validator

MEMBER_UNIT_KINDS = (OrgKind.BRANCH, OrgKind.BUILDING_GROUP)


class MemberCategory(models.TextChoices):
    DIRECT = "direct", _("directly managed")
    MOBILE = "mobile", _("mobile")
    IN_SERVICE = "in_service", _("in service")
    RETIRED = "retired", _("retired")


class MemberStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    TRANSFERRED_OUT = "transferred_out", _("transferred out")
    DECEASED = "deceased", _("deceased")


class RecordLocation(models.TextChoices):
    HERE = "here", _("held here")
    ELSEWHERE = "elsewhere", _("held elsewhere")


class WorkUnit(models.Model):
    """An organ, enterprise or institution: employer of in-service members, co-building unit."""

    class Kind(models.TextChoices):
        GOVERNMENT = "government", _("government organ")
        INSTITUTION = "institution", _("public institution")
        STATE_ENTERPRISE = "state_enterprise", _("state-owned enterprise")
        ENTERPRISE = "enterprise", _("private enterprise")
        SOCIAL = "social", _("social organisation")
        OTHER = "other", _("other")

    name = models.CharField(_("name"), max_length=120, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.OTHER)
    party_organisation = models.CharField(
        _("party organisation"), max_length=120, blank=True,
        help_text=_("The unit's own party organisation, which receives the feedback reports."),
    )
    contact_name = models.CharField(_("contact person"), max_length=60, blank=True)
    contact_phone = models.CharField(
        _("contact phone"), max_length=20, blank=True, validators=[phone_validator]
    )
    address = models.CharField(_("address"), max_length=200, blank=True)

    # Work units are city-wide reference data, not hung on one node of the tree.
    scope_path = None

    class Meta:
        verbose_name = _("work unit")
        verbose_name_plural = _("work units")
        ordering = ["name"]

    def __str__(self):
        return self.name


class PartyMember(models.Model):
    person = models.OneToOneField(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="membership"
    )
    category = models.CharField(_("category"), max_length=20, choices=MemberCategory.choices)
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("branch or building group"), on_delete=models.PROTECT,
        related_name="members",
    )
    household = models.ForeignKey(
        OrgUnit, verbose_name=_("member central household"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="household_members",
    )
    joined_on = models.DateField(_("joined the party on"), null=True, blank=True)
    record_location = models.CharField(
        _("membership record"), max_length=10, choices=RecordLocation.choices,
        default=RecordLocation.HERE,
    )
    record_held_by = models.CharField(
        _("record held by"), max_length=120, blank=True,
        help_text=_("Where the membership record is held when it is not held here."),
    )
    employer = models.ForeignKey(
        WorkUnit, verbose_name=_("employer unit"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="employees",
    )
    status = models.CharField(
        _("status"), max_length=20, choices=MemberStatus.choices, default=MemberStatus.ACTIVE
    )
    is_veteran = models.BooleanField(_("veteran"), default=False)
    is_cadre = models.BooleanField(_("cadre"), default=False)
    fifty_years = models.BooleanField(_("50 years in the party"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("party member")
        verbose_name_plural = _("party members")
        constraints = [
            models.CheckConstraint(
                condition=Q(category__in=[c.value for c in MemberCategory]),
                name="partymember_category_valid",
            ),
            models.CheckConstraint(
                condition=~Q(record_location="elsewhere") | ~Q(record_held_by=""),
                name="partymember_elsewhere_says_where",
            ),
        ]
        indexes = [models.Index(fields=["category", "status"], name="member_category_status")]

    def __str__(self):
        return self.person.name

    def clean(self):
        errors = {}
        if self.org_unit_id and self.org_unit.kind not in MEMBER_UNIT_KINDS:
            errors["org_unit"] = _("A member belongs to a branch or a building group.")
        if self.household_id:
            if self.household.kind != OrgKind.HOUSEHOLD:
                errors["household"] = _("Choose a member central household.")
            elif self.org_unit_id and not (
                self.household.tree_id == self.org_unit.tree_id
                and self.org_unit.lft < self.household.lft < self.org_unit.rght
            ):
                errors["household"] = _("The household must lie under the member's branch.")
        if self.record_location == RecordLocation.ELSEWHERE and not self.record_held_by:
            errors["record_held_by"] = _("Say where the membership record is held.")
        if self.category == MemberCategory.IN_SERVICE and not self.employer_id:
            errors["employer"] = _("An in-service member needs an employer unit.")
        if errors:
            raise ValidationError(errors)


class MemberChangeKind(models.TextChoices):
    CATEGORY = "category", _("category change")
    TRANSFER_IN = "transfer_in", _("transferred in")
    TRANSFER_OUT = "transfer_out", _("transferred out")
    UNIT = "unit", _("moved to another branch")
    STATUS = "status", _("status change")


class MemberChange(models.Model):
    """The dated history of a member's category, branch and status."""

    member = models.ForeignKey(
        PartyMember, verbose_name=_("party member"), on_delete=models.CASCADE,
        related_name="changes",
    )
    kind = models.CharField(_("kind"), max_length=20, choices=MemberChangeKind.choices)
    effective_on = models.DateField(_("effective on"))
    from_value = models.CharField(_("from"), max_length=120, blank=True)
    to_value = models.CharField(_("to"), max_length=120, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    scope_path = "member__org_unit"

    class Meta:
        verbose_name = _("member change")
        verbose_name_plural = _("member history")
        ordering = ["-effective_on", "-recorded_at"]

    def __str__(self):
        return f"{self.member} · {self.get_kind_display()} · {self.effective_on}"


class PostKind(models.TextChoices):
    LEGAL = "legal_advice", _("legal advice post")
    HEALTH = "health_advice", _("health advice post")
    POLICY = "policy_outreach", _("policy outreach post")
    WELFARE = "public_welfare", _("public welfare helper post")
    BUILDING_HEAD = "building_head", _("building head")
    ENTRANCE_HEAD = "entrance_head", _("entrance head")
    GROUP_LEADER = "group_leader", _("building group leader")
    CENTRAL_HOUSEHOLD = "central_household", _("member central household")
    OTHER = "other", _("other post")


class Post(models.Model):
    """A post with duties (设岗定责) set up by a branch."""

    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("branch"), on_delete=models.PROTECT, related_name="posts"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=PostKind.choices)
    name = models.CharField(_("name"), max_length=80)
    duties = models.TextField(_("duties"))
    is_active = models.BooleanField(_("active"), default=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("post")
        verbose_name_plural = _("posts")
        constraints = [
            models.UniqueConstraint(fields=["org_unit", "name"], name="post_unique_name_per_unit")
        ]

    def __str__(self):
        return self.name


class PostAssignment(models.Model):
    post = models.ForeignKey(
        Post, verbose_name=_("post"), on_delete=models.PROTECT, related_name="assignments"
    )
    member = models.ForeignKey(
        PartyMember, verbose_name=_("party member"), on_delete=models.PROTECT,
        related_name="post_assignments",
    )
    started_on = models.DateField(_("from"))
    ended_on = models.DateField(_("until"), null=True, blank=True)

    scope_path = "post__org_unit"

    class Meta:
        verbose_name = _("post assignment")
        verbose_name_plural = _("post assignments")
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=models.F("started_on")),
                name="postassignment_dates_in_order",
            ),
        ]

    def __str__(self):
        return f"{self.member} · {self.post}"


class EmergencyRoleKind(models.TextChoices):
    PATROL = "patrol", _("patrol and guard")
    SUPPLIES = "supplies", _("supplies and delivery")
    CARE = "care", _("care for vulnerable residents")
    COMMUNICATION = "communication", _("communication and notices")
    MEDICAL = "medical", _("medical support")
    EVACUATION = "evacuation", _("evacuation guidance")
    OTHER = "other", _("other")


class EmergencyRole(models.Model):
    """A member's pre-assigned role in an emergency (急时对号入座)."""

    member = models.OneToOneField(
        PartyMember, verbose_name=_("party member"), on_delete=models.CASCADE,
        related_name="emergency_role",
    )
    kind = models.CharField(_("role"), max_length=20, choices=EmergencyRoleKind.choices)
    place = models.ForeignKey(
        OrgUnit, verbose_name=_("reports to"), on_delete=models.PROTECT,
        related_name="emergency_roles",
        help_text=_("The unit (building group, branch) the member reports to in an emergency."),
    )
    duties = models.CharField(_("duties"), max_length=300, blank=True)

    scope_path = "place"

    class Meta:
        verbose_name = _("emergency role")
        verbose_name_plural = _("emergency roles")

    def __str__(self):
        return f"{self.member} · {self.get_kind_display()}"


class EmergencyActivation(models.Model):
    """Switching a subtree from normal to emergency mode (平急转换)."""

    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("organisation unit"), on_delete=models.PROTECT,
        related_name="emergency_activations",
    )
    title = models.CharField(_("title"), max_length=120)
    reason = models.TextField(_("reason"), blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("started by"), on_delete=models.PROTECT,
        null=True, related_name="+",
    )
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("emergency activation")
        verbose_name_plural = _("emergency activations")
        ordering = ["-started_at"]

    def __str__(self):
        return self.title


class EmergencyAcknowledgement(models.Model):
    activation = models.ForeignKey(
        EmergencyActivation, verbose_name=_("emergency activation"), on_delete=models.CASCADE,
        related_name="acknowledgements",
    )
    member = models.ForeignKey(
        PartyMember, verbose_name=_("party member"), on_delete=models.PROTECT,
        related_name="emergency_acknowledgements",
    )
    role_kind = models.CharField(_("role"), max_length=20, choices=EmergencyRoleKind.choices)
    place = models.ForeignKey(
        OrgUnit, verbose_name=_("reports to"), on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    scope_path = "activation__org_unit"

    class Meta:
        verbose_name = _("emergency acknowledgement")
        verbose_name_plural = _("emergency acknowledgements")
        constraints = [
            models.UniqueConstraint(
                fields=["activation", "member"], name="emergencyack_once_per_member"
            )
        ]

    def __str__(self):
        return f"{self.activation} · {self.member}"


class InServiceRegistration(models.Model):
    """An in-service member reporting to the branch where they live (双报到)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        ENDED = "ended", _("ended")

    member = models.ForeignKey(
        PartyMember, verbose_name=_("party member"), on_delete=models.PROTECT,
        related_name="registrations",
    )
    work_unit = models.ForeignKey(
        WorkUnit, verbose_name=_("employer unit"), on_delete=models.PROTECT,
        related_name="registrations",
    )
    branch = models.ForeignKey(
        OrgUnit, verbose_name=_("branch reported to"), on_delete=models.PROTECT,
        related_name="registrations",
    )
    registered_on = models.DateField(_("registered on"))
    commitment = models.TextField(_("commitment"), help_text=_("The member's written pledge."))
    post = models.ForeignKey(
        Post, verbose_name=_("assigned post"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="registrations",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    # Kept beside the status so figures can tell which registrations were active at a past date.
    ended_on = models.DateField(_("ended on"), null=True, blank=True)

    scope_path = "branch"

    class Meta:
        verbose_name = _("in-service registration")
        verbose_name_plural = _("in-service registrations")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "branch"], condition=Q(status="active"),
                name="registration_one_active_per_branch",
                violation_error_message=_(
                    "This member already has an active registration with this branch."
                ),
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=models.F("registered_on")),
                name="registration_dates_in_order",
            ),
        ]

    def __str__(self):
        return f"{self.member} → {self.branch}"


class ServiceRecord(models.Model):
    registration = models.ForeignKey(
        InServiceRegistration, verbose_name=_("registration"), on_delete=models.PROTECT,
        related_name="service_records",
    )
    served_on = models.DateField(_("date"))
    hours = models.DecimalField(
        _("hours"), max_digits=5, decimal_places=1,
        validators=[MinValueValidator(0.5), MaxValueValidator(24)],
    )
    activity = models.CharField(pgettext_lazy("service record", "activity"), max_length=200)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )

    scope_path = "registration__branch"

    class Meta:
        verbose_name = _("service record")
        verbose_name_plural = _("service records")
        ordering = ["-served_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(hours__gt=0) & Q(hours__lte=24), name="servicerecord_hours_range"
            )
        ]

    def __str__(self):
        return f"{self.registration.member} · {self.served_on} · {self.hours}"


class RegistrationEvaluation(models.Model):
    """The branch's evaluation of a registered member for a year (fed back to the employer)."""

    class Rating(models.TextChoices):
        EXCELLENT = "excellent", _("excellent")
        GOOD = "good", _("good")
        FAIR = "fair", _("fair")
        POOR = "poor", _("poor")

    registration = models.ForeignKey(
        InServiceRegistration, verbose_name=_("registration"), on_delete=models.CASCADE,
        related_name="evaluations",
    )
    year = models.PositiveSmallIntegerField(_("year"))
    rating = models.CharField(pgettext_lazy("yearly evaluation", "rating"), max_length=10, choices=Rating.choices)
    comment = models.CharField(_("comment"), max_length=300, blank=True)
    evaluated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("evaluated by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )

    scope_path = "registration__branch"

    class Meta:
        verbose_name = _("registration evaluation")
        verbose_name_plural = _("registration evaluations")
        constraints = [
            models.UniqueConstraint(
                fields=["registration", "year"], name="evaluation_once_per_year"
            )
        ]

    def __str__(self):
        return f"{self.registration} · {self.year} · {self.get_rating_display()}"


class CommitteeRole(models.TextChoices):
    SECRETARY = "secretary", _("secretary")
    DEPUTY = "deputy", _("deputy secretary")
    ORGANISATION = "organisation", _("organisation member")
    PUBLICITY = "publicity", _("publicity member")
    DISCIPLINE = "discipline", _("discipline member")
    MEMBER = "member", _("committee member")


class CommitteeMembership(models.Model):
    """A seat on a branch's (or community's) party committee."""

    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("organisation unit"), on_delete=models.PROTECT,
        related_name="committee_seats",
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="committee_seats"
    )
    role = models.CharField(_("role"), max_length=20, choices=CommitteeRole.choices)
    started_on = models.DateField(_("from"))
    ended_on = models.DateField(_("until"), null=True, blank=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("committee seat")
        verbose_name_plural = _("branch committees")
        constraints = [
            models.UniqueConstraint(
                fields=["org_unit"], condition=Q(role="secretary", ended_on__isnull=True),
                name="committee_one_sitting_secretary",
            )
        ]

    def __str__(self):
        return f"{self.org_unit} · {self.get_role_display()} · {self.person}"


class TopSecretarySelection(models.Model):
    """The monthly "top ten compound party secretaries" (十佳小区党组织书记) of a district/street."""

    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("district or street"), on_delete=models.PROTECT,
        related_name="top_secretary_selections",
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    published = models.BooleanField(_("published"), default=False)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("top ten secretaries selection")
        verbose_name_plural = _("top ten secretaries selections")
        constraints = [
            models.UniqueConstraint(fields=["org_unit", "month"], name="topten_once_per_month")
        ]

    def __str__(self):
        return f"{self.org_unit} · {self.month:%Y-%m}"


class TopSecretaryEntry(models.Model):
    selection = models.ForeignKey(
        TopSecretarySelection, verbose_name=_("selection"), on_delete=models.CASCADE,
        related_name="entries",
    )
    rank = models.PositiveSmallIntegerField(
        _("rank"), validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    person = models.ForeignKey(
        Person, verbose_name=_("secretary"), on_delete=models.PROTECT, related_name="+"
    )
    branch = models.ForeignKey(
        OrgUnit, verbose_name=_("branch"), on_delete=models.PROTECT, related_name="+"
    )
    citation = models.CharField(_("citation"), max_length=300, blank=True)

    scope_path = "selection__org_unit"

    class Meta:
        verbose_name = _("top ten entry")
        verbose_name_plural = _("top ten entries")
        ordering = ["rank"]
        constraints = [
            models.UniqueConstraint(fields=["selection", "rank"], name="topten_unique_rank"),
            models.UniqueConstraint(fields=["selection", "person"], name="topten_unique_person"),
            models.CheckConstraint(
                condition=Q(rank__gte=1) & Q(rank__lte=10), name="topten_rank_1_to_10"
            ),
        ]

    def __str__(self):
        return f"{self.rank}. {self.person}"
