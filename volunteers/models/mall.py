"""The points mall (积分商城): merchants, their reward items and redemptions with one-time codes."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from grids.models.events import new_tracking_code
from party_org.models import OrgUnit, Person, phone_validator

from .points import POINTS_DIGITS, PointsAccount, PointsEntry, PointsKind


class Merchant(models.Model):
    """A shop or service (商家) offering discounts for points; its users mark codes used."""

    name = models.CharField(_("name"), max_length=120)
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("organisation"), on_delete=models.PROTECT,
        related_name="merchants",
        help_text=_("The street or community whose mall lists the merchant."),
    )
    contact_name = models.CharField(_("contact person"), max_length=60, blank=True)
    contact_phone = models.CharField(
        _("contact phone"), max_length=20, blank=True, validators=[phone_validator]
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("merchant logins"), blank=True,
        related_name="merchants",
        help_text=_("Users who may mark this merchant's redemption codes as used."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["org_unit", "name"], name="merchant_unique_name")
        ]

    def __str__(self):
        return self.name


class RewardItem(models.Model):
    merchant = models.ForeignKey(
        Merchant, verbose_name=_("merchant"), on_delete=models.PROTECT, related_name="items"
    )
    name = models.CharField(_("name"), max_length=120)
    description = models.CharField(_("description"), max_length=300, blank=True)
    points_price = models.DecimalField(
        _("price in points"), validators=[MinValueValidator(1)], **POINTS_DIGITS
    )
    points_kind = models.CharField(
        _("points accepted"), max_length=12, choices=PointsKind.choices,
        default=PointsKind.COMMUNITY,
    )
    stock = models.PositiveIntegerField(_("stock"), default=0)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    discount_note = models.CharField(
        _("merchant's discount"), max_length=200, blank=True,
        help_text=_("What the merchant gives, e.g. 理发八折."),
    )
    per_person_limit = models.PositiveSmallIntegerField(
        _("limit per person"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("Leave empty for no limit."),
    )
    is_active = models.BooleanField(_("on sale"), default=True)

    scope_path = "merchant__org_unit"

    class Meta:
        verbose_name = _("reward item")
        verbose_name_plural = _("reward items")
        ordering = ["merchant", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(stock__gte=0), name="reward_stock_not_negative"),
            models.CheckConstraint(condition=Q(points_price__gt=0), name="reward_price_positive"),
            models.CheckConstraint(
                condition=Q(points_kind__in=PointsKind.values), name="reward_kind_valid"
            ),
            models.CheckConstraint(
                condition=(
                    Q(valid_from__isnull=True) | Q(valid_until__isnull=True)
                    | Q(valid_until__gte=F("valid_from"))
                ),
                name="reward_validity_in_order",
            ),
            models.CheckConstraint(
                condition=Q(per_person_limit__isnull=True) | Q(per_person_limit__gte=1),
                name="reward_limit_positive",
            ),
        ]

    def __str__(self):
        return f"{self.merchant} · {self.name}"

    def clean(self):
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValidationError({"valid_until": _("The end of validity is before its start.")})

    def is_valid_on(self, day):
        return (
            (self.valid_from is None or self.valid_from <= day)
            and (self.valid_until is None or day <= self.valid_until)
        )


class RedemptionStatus(models.TextChoices):
    ISSUED = "issued", _("issued")
    USED = "used", _("used")
    CANCELLED = "cancelled", _("cancelled")


class Redemption(models.Model):
    item = models.ForeignKey(
        RewardItem, verbose_name=_("item"), on_delete=models.PROTECT, related_name="redemptions"
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="redemptions"
    )
    account = models.ForeignKey(
        PointsAccount, verbose_name=_("account"), on_delete=models.PROTECT,
        related_name="redemptions",
    )
    quantity = models.PositiveSmallIntegerField(_("quantity"), default=1)
    points = models.DecimalField(_("points"), **POINTS_DIGITS)
    code = models.CharField(
        _("code"), max_length=16, unique=True, default=new_tracking_code, editable=False
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, unique=True)
    status = models.CharField(
        _("status"), max_length=10, choices=RedemptionStatus.choices,
        default=RedemptionStatus.ISSUED,
    )
    spend_entry = models.OneToOneField(
        PointsEntry, verbose_name=_("points spent"), on_delete=models.PROTECT,
        related_name="redemption",
    )
    refund_entry = models.OneToOneField(
        PointsEntry, verbose_name=_("points returned"), on_delete=models.PROTECT, null=True,
        blank=True, related_name="refunded_redemption",
    )
    created_at = models.DateTimeField(_("redeemed at"), db_index=True)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("marked used by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("cancelled by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )

    scope_path = "item__merchant__org_unit"

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["item", "person", "status"], name="redemption_item_person"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="redemption_quantity_positive"
            ),
            models.CheckConstraint(condition=Q(points__gt=0), name="redemption_points_positive"),
            models.CheckConstraint(
                condition=Q(status__in=RedemptionStatus.values), name="redemption_status_valid"
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="issued", used_at__isnull=True, cancelled_at__isnull=True)
                    | Q(status="used", used_at__isnull=False, cancelled_at__isnull=True)
                    | Q(status="cancelled", used_at__isnull=True, cancelled_at__isnull=False,
                        refund_entry__isnull=False)
                ),
                name="redemption_status_times",
            ),
        ]

    def __str__(self):
        return f"{self.item} · {self.code}"
