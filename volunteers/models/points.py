"""The points ledger: one account per person and kind (公分 / 党员积分), append-only entries.

The balance is a cache of the sum of the entries, written only by services.ledger.post_entry
under a row lock; the database refuses a negative balance or a second use of an idempotency key.
"""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from party_org.models import Person

POINTS_DIGITS = {"max_digits": 12, "decimal_places": 2}


class PointsKind(models.TextChoices):
    COMMUNITY = "community", _("community points (公分)")
    MEMBER = "member", _("party member points (积分)")


class EntryReason(models.TextChoices):
    EARN_HOURS = "earn_hours", _("service hours")
    EARN_WISH = "earn_wish", _("micro-wish fulfilled")
    EARN_POST = "earn_post", _("post duty")
    SPEND = "spend", _("redemption")
    REVERSAL = "reversal", _("reversal")
    ADJUSTMENT = "adjustment", _("adjustment")
    CONVERSION = "conversion", _("conversion")


EARN_REASONS = (EntryReason.EARN_HOURS, EntryReason.EARN_WISH, EntryReason.EARN_POST)


class PointsAccount(models.Model):
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="points_accounts"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=PointsKind.choices)
    balance = models.DecimalField(_("balance"), default=0, **POINTS_DIGITS)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    scope_path = "person__org_unit"

    class Meta:
        verbose_name = _("points account")
        verbose_name_plural = _("points accounts")
        constraints = [
            models.UniqueConstraint(fields=["person", "kind"], name="points_account_once"),
            models.CheckConstraint(condition=Q(balance__gte=0), name="points_balance_not_negative"),
            models.CheckConstraint(
                condition=Q(kind__in=PointsKind.values), name="points_account_kind_valid"
            ),
        ]

    def __str__(self):
        return f"{self.person} · {self.get_kind_display()}"


class PointsEntry(models.Model):
    """Append-only: every change of a balance, with why, who and an idempotency key."""

    account = models.ForeignKey(
        PointsAccount, verbose_name=_("account"), on_delete=models.PROTECT, related_name="entries"
    )
    amount = models.DecimalField(_("points"), **POINTS_DIGITS)
    balance_after = models.DecimalField(_("balance after"), **POINTS_DIGITS)
    reason = models.CharField(_("reason"), max_length=12, choices=EntryReason.choices)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, unique=True)
    reverses = models.OneToOneField(
        "self", verbose_name=_("reverses"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="reversed_by",
    )
    content_type = models.ForeignKey(
        ContentType, verbose_name=_("for record type"), on_delete=models.PROTECT, null=True,
        blank=True, related_name="+",
    )
    object_id = models.CharField(_("for record"), max_length=40, blank=True)
    reference = GenericForeignKey("content_type", "object_id")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("entered by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("approved by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("at"), db_index=True)

    scope_path = "account__person__org_unit"

    class Meta:
        verbose_name = _("points entry")
        verbose_name_plural = _("points entries")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["account", "created_at"], name="points_entry_account_at"),
            models.Index(fields=["content_type", "object_id"], name="points_entry_reference"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="points_entry_not_zero"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="points_entry_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(reason__in=EntryReason.values), name="points_entry_reason_valid"
            ),
            models.CheckConstraint(
                condition=~Q(reason__in=EARN_REASONS) | Q(amount__gt=0),
                name="points_entry_earn_positive",
            ),
            models.CheckConstraint(
                condition=~Q(reason=EntryReason.SPEND) | Q(amount__lt=0),
                name="points_entry_spend_negative",
            ),
            models.CheckConstraint(
                condition=(
                    Q(reason=EntryReason.REVERSAL, reverses__isnull=False)
                    | (~Q(reason=EntryReason.REVERSAL) & Q(reverses__isnull=True))
                ),
                name="points_entry_reversal_names_entry",
            ),
            # A manual adjustment carries an approver who is not the person who entered it.
            models.CheckConstraint(
                condition=(
                    ~Q(reason=EntryReason.ADJUSTMENT)
                    | (Q(approver__isnull=False) & ~Q(approver=F("created_by")))
                ),
                name="points_adjustment_second_person",
            ),
        ]

    def __str__(self):
        return f"{self.account} · {self.amount:+} · {self.get_reason_display()}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError(_("Points entries cannot be changed; post a reversal."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError(_("Points entries cannot be changed; post a reversal."))


class PointsAdjustment(models.Model):
    """A manual adjustment asked for by one staff user and approved by another."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")

    account = models.ForeignKey(
        PointsAccount, verbose_name=_("account"), on_delete=models.PROTECT,
        related_name="adjustments",
    )
    amount = models.DecimalField(_("points"), **POINTS_DIGITS)
    reason = models.CharField(_("reason"), max_length=300)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), on_delete=models.PROTECT,
        related_name="+",
    )
    requested_at = models.DateTimeField(_("requested at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=300, blank=True)
    entry = models.OneToOneField(
        PointsEntry, verbose_name=_("points entry"), on_delete=models.PROTECT, null=True,
        blank=True, related_name="adjustment",
    )

    scope_path = "account__person__org_unit"

    class Meta:
        verbose_name = _("points adjustment")
        verbose_name_plural = _("points adjustments")
        ordering = ["-requested_at", "-pk"]
        permissions = [
            ("approve_pointsadjustment", _("Can approve points adjustments")),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="adjustment_not_zero"),
            models.CheckConstraint(condition=~Q(reason=""), name="adjustment_has_reason"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "rejected"]),
                name="adjustment_status_valid",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="pending", decided_by__isnull=True, decided_at__isnull=True)
                    | (~Q(status="pending") & Q(decided_by__isnull=False, decided_at__isnull=False)
                       & ~Q(decided_by=F("requested_by")))
                ),
                name="adjustment_decided_by_another",
            ),
            models.CheckConstraint(
                condition=Q(status="approved", entry__isnull=False)
                | (~Q(status="approved") & Q(entry__isnull=True)),
                name="adjustment_approved_has_entry",
            ),
        ]

    def __str__(self):
        return f"{self.account} · {self.amount:+}"
