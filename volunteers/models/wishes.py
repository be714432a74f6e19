"""Micro-wishes (微心愿): 群众点单 → 社区派单 → 党员接单 → 群众评单, with their append-only log."""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from grids.models import Building, Compound, Household
from grids.models.events import new_tracking_code
from party_org.models import OrgUnit, PartyMember, Person, Post, phone_validator


class WishStatus(models.TextChoices):
    SUBMITTED = "submitted", _("submitted")
    DISPATCHED = "dispatched", _("dispatched")
    CLAIMED = "claimed", _("claimed")
    FULFILLED = "fulfilled", _("fulfilled")
    RATED = "rated", _("rated")
    REJECTED = "rejected", _("rejected")
    WITHDRAWN = "withdrawn", _("withdrawn")


# Statuses in which the wish has been accepted and sent to someone (it has a dispatch target).
DISPATCHED_STATUSES = (
    WishStatus.DISPATCHED, WishStatus.CLAIMED, WishStatus.FULFILLED, WishStatus.RATED,
)
CLOSED_STATUSES = (WishStatus.RATED, WishStatus.REJECTED, WishStatus.WITHDRAWN)


class WishCategory(models.TextChoices):
    DAILY_NECESSITIES = "daily_necessities", _("daily necessities")
    ERRANDS = "errands", _("errands")
    REPAIRS = "repairs", _("repairs")
    ELDERLY_COMPANY = "elderly_company", _("company for the elderly")
    TUTORING = "tutoring", _("tutoring")
    OTHER = "other", _("other")


PHOTO_EXTENSIONS = ("jpg", "jpeg", "png", "webp")


def _photo_path(folder, filename):
    # Never keep an uploader's name or an extension a browser might render (.html, .svg).
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    ext = ext if ext in PHOTO_EXTENSIONS else "img"
    return f"{folder}/{timezone.now():%Y/%m}/{secrets.token_hex(8)}.{ext}"


def wish_photo_path(instance, filename):
    return _photo_path("wishes", filename)


def fulfilment_photo_path(instance, filename):
    return _photo_path("wishes/fulfilment", filename)


class MicroWish(models.Model):
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("responsible organisation"), on_delete=models.PROTECT,
        related_name="micro_wishes",
        help_text=_("The compound's branch or community (copied from the compound)."),
    )
    compound = models.ForeignKey(
        Compound, verbose_name=_("compound"), on_delete=models.PROTECT, related_name="wishes"
    )
    building = models.ForeignKey(
        Building, verbose_name=_("building"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="wishes",
    )
    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="wishes",
        help_text=_("The resident's household file, if known: its people cannot claim the wish."),
    )
    wish = models.TextField(_("wish"), max_length=500)
    category = models.CharField(_("category"), max_length=20, choices=WishCategory.choices)
    photo = models.ImageField(_("photo"), upload_to=wish_photo_path, blank=True)
    contact_name = models.CharField(_("contact name"), max_length=40, blank=True)
    contact_phone = models.CharField(
        _("contact phone"), max_length=20, validators=[phone_validator]
    )
    tracking_code = models.CharField(
        _("tracking code"), max_length=16, unique=True, default=new_tracking_code, editable=False
    )
    status = models.CharField(
        _("status"), max_length=20, choices=WishStatus.choices, default=WishStatus.SUBMITTED
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("entered by (staff)"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )

    # 社区派单: to a branch, a post or a named member (exactly one once dispatched).
    dispatched_to_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("dispatched to organisation"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="dispatched_wishes",
    )
    dispatched_to_post = models.ForeignKey(
        Post, verbose_name=_("dispatched to post"), on_delete=models.PROTECT, null=True,
        blank=True, related_name="dispatched_wishes",
    )
    dispatched_to_member = models.ForeignKey(
        PartyMember, verbose_name=_("dispatched to member"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="dispatched_wishes",
    )
    dispatched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("dispatched by"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )
    rejection_reason = models.CharField(_("reason for rejection"), max_length=300, blank=True)

    # 党员接单
    claimed_by = models.ForeignKey(
        Person, verbose_name=_("claimed by"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="claimed_wishes",
    )
    claim_expires_at = models.DateTimeField(_("claim expires at"), null=True, blank=True,
                                            db_index=True)
    fulfilment_note = models.TextField(_("what was done"), max_length=1000, blank=True)
    fulfilment_photo = models.ImageField(
        _("fulfilment photo"), upload_to=fulfilment_photo_path, blank=True
    )

    # 群众评单
    rating = models.PositiveSmallIntegerField(
        _("rating"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    rating_comment = models.CharField(_("rating comment"), max_length=300, blank=True)
    points_paid = models.BooleanField(_("points paid"), default=False)

    submitted_at = models.DateTimeField(_("submitted at"), db_index=True)
    status_changed_at = models.DateTimeField(_("status changed at"))
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    rejected_at = models.DateTimeField(_("rejected at"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    fulfilled_at = models.DateTimeField(_("fulfilled at"), null=True, blank=True)
    rated_at = models.DateTimeField(_("rated at"), null=True, blank=True)
    points_paid_at = models.DateTimeField(_("points paid at"), null=True, blank=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("micro-wish")
        verbose_name_plural = _("micro-wishes")
        ordering = ["-submitted_at", "-pk"]
        permissions = [
            ("dispatch_microwish", _("Can accept, dispatch and reject micro-wishes")),
        ]
        indexes = [
            models.Index(fields=["status", "status_changed_at"], name="wish_status_changed"),
            models.Index(fields=["org_unit", "submitted_at"], name="wish_unit_submitted"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=WishStatus.values), name="wish_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(category__in=WishCategory.values), name="wish_category_valid"
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="wish_rating_1_to_5",
            ),
            models.CheckConstraint(
                condition=~Q(status=WishStatus.REJECTED) | ~Q(rejection_reason=""),
                name="wish_rejection_has_reason",
            ),
            # At most one dispatch target; exactly one while dispatched or later.
            models.CheckConstraint(
                condition=(
                    Q(dispatched_to_unit__isnull=True, dispatched_to_post__isnull=True)
                    | Q(dispatched_to_unit__isnull=True, dispatched_to_member__isnull=True)
                    | Q(dispatched_to_post__isnull=True, dispatched_to_member__isnull=True)
                ),
                name="wish_one_dispatch_target",
            ),
            models.CheckConstraint(
                condition=(
                    ~Q(status__in=DISPATCHED_STATUSES)
                    | Q(dispatched_to_unit__isnull=False) | Q(dispatched_to_post__isnull=False)
                    | Q(dispatched_to_member__isnull=False)
                ),
                name="wish_dispatched_has_target",
            ),
            models.CheckConstraint(
                condition=(
                    ~Q(status=WishStatus.CLAIMED)
                    | Q(claimed_by__isnull=False, claim_expires_at__isnull=False)
                ),
                name="wish_claimed_has_claimant",
            ),
            models.CheckConstraint(
                condition=(
                    ~Q(status__in=[WishStatus.FULFILLED, WishStatus.RATED])
                    | Q(claimed_by__isnull=False, fulfilled_at__isnull=False)
                ),
                name="wish_fulfilled_has_claimant",
            ),
            models.CheckConstraint(
                condition=~Q(status=WishStatus.RATED) | Q(rating__isnull=False),
                name="wish_rated_has_rating",
            ),
            models.CheckConstraint(
                condition=(
                    Q(points_paid=False, points_paid_at__isnull=True)
                    | Q(points_paid=True, points_paid_at__isnull=False,
                        status__in=[WishStatus.FULFILLED, WishStatus.RATED])
                ),
                name="wish_points_paid_when_fulfilled",
            ),
        ]

    def __str__(self):
        return _("Wish %(code)s") % {"code": self.tracking_code}

    @property
    def dispatch_target(self):
        return self.dispatched_to_member or self.dispatched_to_post or self.dispatched_to_unit

    def clean(self):
        errors = {}
        if self.building_id and self.building.compound_id != self.compound_id:
            errors["building"] = _("The building is in another compound.")
        if self.household_id and self.household.compound_id != self.compound_id:
            errors["household"] = _("The household is in another compound.")
        if errors:
            raise ValidationError(errors)


class WishAction(models.TextChoices):
    SUBMIT = "submit", _("submitted")
    DISPATCH = "dispatch", _("dispatched")
    REJECT = "reject", _("rejected")
    WITHDRAW = "withdraw", _("withdrawn")
    CLAIM = "claim", _("claimed")
    RELEASE = "release", _("claim expired")
    FULFIL = "fulfil", _("fulfilled")
    RATE = "rate", _("rated")
    PAY = "pay", _("points paid")


class WishLog(models.Model):
    """Append-only: who did what to a wish, when, with a note."""

    wish = models.ForeignKey(
        MicroWish, verbose_name=_("wish"), on_delete=models.CASCADE, related_name="logs"
    )
    action = models.CharField(_("action"), max_length=20, choices=WishAction.choices)
    from_status = models.CharField(_("from"), max_length=20, choices=WishStatus.choices,
                                   blank=True)
    to_status = models.CharField(_("to"), max_length=20, choices=WishStatus.choices, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.PROTECT, null=True,
        blank=True, related_name="+",
    )
    actor_person = models.ForeignKey(
        Person, verbose_name=_("by (member or volunteer)"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="+",
    )
    actor_label = models.CharField(
        _("by (label)"), max_length=60, blank=True,
        help_text=_("For steps without a staff user: the resident or the system."),
    )
    note = models.TextField(_("note"), max_length=2000, blank=True)
    at = models.DateTimeField(_("at"), db_index=True)

    scope_path = "wish__org_unit"

    class Meta:
        verbose_name = _("wish log entry")
        verbose_name_plural = _("wish log")
        ordering = ["at", "pk"]

    def __str__(self):
        return f"{self.wish} · {self.get_action_display()}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError(_("The wish log cannot be changed."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError(_("The wish log cannot be changed."))
