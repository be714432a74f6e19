"""Volunteer activities: sign-up with a waiting list, check-in by code, approved service hours."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from party_org.models import OrgUnit, Person

from .people import VolunteerTeam


class Activity(models.Model):
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("organised by"), on_delete=models.PROTECT,
        related_name="volunteer_activities",
    )
    team = models.ForeignKey(
        VolunteerTeam, verbose_name=_("team"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="activities",
    )
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), max_length=2000, blank=True)
    place = models.CharField(_("place"), max_length=200)
    starts_at = models.DateTimeField(_("starts at"), db_index=True)
    ends_at = models.DateTimeField(_("ends at"))
    capacity = models.PositiveIntegerField(_("places"), validators=[MinValueValidator(1)])
    points_per_hour = models.DecimalField(
        _("points per hour"), max_digits=6, decimal_places=2, default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    # The organiser's one-time check-in code, kept only as a keyed hash, and when it works.
    checkin_code_hash = models.CharField(max_length=64, blank=True, editable=False)
    checkin_opens_at = models.DateTimeField(_("check-in opens at"), null=True, blank=True,
                                            editable=False)
    checkin_closes_at = models.DateTimeField(_("check-in closes at"), null=True, blank=True,
                                             editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["-starts_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="activity_ends_after_start"
            ),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="activity_capacity_positive"),
            models.CheckConstraint(
                condition=Q(points_per_hour__gte=0), name="activity_points_not_negative"
            ),
            models.CheckConstraint(
                condition=(
                    Q(checkin_code_hash="", checkin_opens_at__isnull=True,
                      checkin_closes_at__isnull=True)
                    | (~Q(checkin_code_hash="") & Q(checkin_closes_at__gt=F("checkin_opens_at")))
                ),
                name="activity_checkin_window",
            ),
        ]

    def __str__(self):
        return self.title

    @property
    def duration_hours(self):
        return Decimal((self.ends_at - self.starts_at).total_seconds()) / Decimal(3600)

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("The activity must end after it starts.")})


class SignupStatus(models.TextChoices):
    SIGNED_UP = "signed_up", _("signed up")
    WAITLISTED = "waitlisted", _("on the waiting list")
    CONFIRMED = "confirmed", _("confirmed")
    CANCELLED = "cancelled", _("cancelled")
    CHECKED_IN = "checked_in", _("checked in")


# Statuses that hold one of the activity's places.
PLACE_HOLDING = (SignupStatus.SIGNED_UP, SignupStatus.CONFIRMED, SignupStatus.CHECKED_IN)


class ActivitySignup(models.Model):
    activity = models.ForeignKey(
        Activity, verbose_name=_("activity"), on_delete=models.CASCADE, related_name="signups"
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT,
        related_name="activity_signups",
    )
    status = models.CharField(_("status"), max_length=20, choices=SignupStatus.choices)
    position = models.PositiveIntegerField(
        _("order of sign-up"), help_text=_("Waiting lists are served in this order.")
    )
    signed_up_at = models.DateTimeField(_("signed up at"))
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    checkin_failures = models.PositiveSmallIntegerField(_("wrong check-in codes"), default=0)

    scope_path = "activity__org_unit"

    class Meta:
        verbose_name = _("activity sign-up")
        verbose_name_plural = _("activity sign-ups")
        ordering = ["activity", "position"]
        constraints = [
            models.UniqueConstraint(fields=["activity", "person"], name="signup_once_per_person"),
            models.UniqueConstraint(fields=["activity", "position"], name="signup_unique_position"),
            models.CheckConstraint(
                condition=Q(status__in=SignupStatus.values), name="signup_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=SignupStatus.CHECKED_IN) | Q(checked_in_at__isnull=False),
                name="signup_checked_in_has_time",
            ),
        ]

    def __str__(self):
        return f"{self.activity} · {self.person}"


class ServiceHours(models.Model):
    """Hours of service at an activity, approved by its organiser after it ended."""

    activity = models.ForeignKey(
        Activity, verbose_name=_("activity"), on_delete=models.PROTECT,
        related_name="service_hours",
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="service_hours"
    )
    hours = models.DecimalField(_("hours"), max_digits=5, decimal_places=1)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("approved by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )
    approved_at = models.DateTimeField(_("approved at"), db_index=True)
    points_entry = models.OneToOneField(
        "volunteers.PointsEntry", verbose_name=_("points entry"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="service_hours",
    )

    scope_path = "activity__org_unit"

    class Meta:
        verbose_name = _("service hours")
        verbose_name_plural = _("service hours")
        ordering = ["-approved_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["activity", "person"], name="hours_once_per_person"),
            models.CheckConstraint(
                condition=Q(hours__gt=0), name="hours_positive"
            ),
        ]

    def __str__(self):
        return f"{self.person} · {self.activity} · {self.hours}"
