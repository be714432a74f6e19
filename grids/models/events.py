"""Grid events (网格事件/案卷): the six-step closed loop, its log, departments and photos."""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from party_org.models import OrgUnit, Person, phone_validator

from .gridding import Grid
from .territory import Building, Compound


class EventStatus(models.TextChoices):
    """The six steps: 问题上报、案卷建立、任务指派、调查落实、反馈结果、结案归档."""

    REPORTED = "reported", _("reported")
    FILED = "filed", _("filed")
    ASSIGNED = "assigned", _("assigned")
    IN_PROGRESS = "in_progress", _("in progress")
    FEEDBACK = "feedback", _("result reported")
    CLOSED = "closed", _("closed")


OPEN_STATUSES = tuple(s for s in EventStatus.values if s != EventStatus.CLOSED)


class EventSource(models.TextChoices):
    PATROL = "patrol", _("grid worker patrol")
    RESIDENT = "resident", _("resident report")
    HOTLINE = "hotline_12345", _("12345 hotline")
    VISIT = "household_visit", _("household visit")
    PARTY_MEMBER = "party_member", _("party member")
    OTHER = "other", _("other")


class EventCategory(models.Model):
    """A configurable category with a deadline for each step (city-wide reference data)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=60, unique=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    # Hours allowed in each step before the event is overdue (截止时限).
    hours_reported = models.PositiveIntegerField(_("hours to file"), default=24)
    hours_filed = models.PositiveIntegerField(_("hours to assign"), default=24)
    hours_assigned = models.PositiveIntegerField(_("hours to start"), default=24)
    hours_in_progress = models.PositiveIntegerField(_("hours to report the result"), default=72)
    hours_feedback = models.PositiveIntegerField(_("hours to close"), default=48)
    is_property = models.BooleanField(
        _("property matter"), default=False,
        help_text=_("Counted as a property-service complaint in the property figures."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)

    scope_path = None  # city-wide reference data

    class Meta:
        verbose_name = _("event category")
        verbose_name_plural = _("event categories")
        ordering = ["sort_order", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(hours_reported__gt=0, hours_filed__gt=0, hours_assigned__gt=0,
                            hours_in_progress__gt=0, hours_feedback__gt=0),
                name="eventcategory_deadlines_positive",
            )
        ]

    def __str__(self):
        return self.name

    def hours_for(self, status):
        """Hours allowed in `status`; None for a closed event."""
        if status == EventStatus.CLOSED:
            return None
        return getattr(self, f"hours_{status}")

    @property
    def total_hours(self):
        return sum(self.hours_for(s) for s in OPEN_STATUSES)


class Department(models.Model):
    """A functional department (职能部门) that answers a whistle (吹哨) by reporting (报到)."""

    name = models.CharField(_("name"), max_length=120)
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("organisation"), on_delete=models.PROTECT,
        related_name="departments",
        help_text=_("The street (or district) the department serves; events below it may call it."),
    )
    contact_phone = models.CharField(
        _("contact phone"), max_length=20, blank=True, validators=[phone_validator]
    )
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("staff"), blank=True, related_name="departments",
        help_text=_("Users who acknowledge events for the department."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        constraints = [
            models.UniqueConstraint(fields=["org_unit", "name"], name="department_unique_name")
        ]

    def __str__(self):
        return self.name


TRACKING_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def new_tracking_code():
    """12 random characters (60 bits): one code says nothing about any other."""
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(12))


class GridEvent(models.Model):
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("responsible organisation"), on_delete=models.PROTECT,
        related_name="grid_events",
        help_text=_("Where the event happened: the compound's branch or community."),
    )
    compound = models.ForeignKey(
        Compound, verbose_name=_("compound"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="events",
    )
    building = models.ForeignKey(
        Building, verbose_name=_("building"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="events",
    )
    grid = models.ForeignKey(
        Grid, verbose_name=_("grid"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="events",
    )
    category = models.ForeignKey(
        EventCategory, verbose_name=_("category"), on_delete=models.PROTECT, related_name="events"
    )
    source = models.CharField(_("source"), max_length=20, choices=EventSource.choices)
    description = models.TextField(_("description"), max_length=2000)
    location = models.CharField(_("location"), max_length=200, blank=True)
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )

    status = models.CharField(
        _("status"), max_length=20, choices=EventStatus.choices, default=EventStatus.REPORTED
    )
    case_number = models.CharField(_("case number"), max_length=30, unique=True, null=True,
                                   blank=True)
    tracking_code = models.CharField(_("tracking code"), max_length=16, unique=True,
                                     default=new_tracking_code, editable=False)

    reporter = models.ForeignKey(
        Person, verbose_name=_("reporter"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="reported_events",
    )
    reporter_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reported by (staff)"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="reported_events",
    )
    reporter_name = models.CharField(_("reporter's name"), max_length=40, blank=True)
    reporter_phone = models.CharField(
        _("reporter's phone"), max_length=20, blank=True, validators=[phone_validator]
    )
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("handler"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="handled_events",
    )

    # 吹哨报到: the level it has been passed up to and the department called, if any.
    escalated_to = models.ForeignKey(
        OrgUnit, verbose_name=_("escalated to"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="escalated_events",
    )
    department = models.ForeignKey(
        Department, verbose_name=_("department"), on_delete=models.PROTECT, null=True,
        blank=True, related_name="events",
    )
    department_acknowledged_at = models.DateTimeField(_("department reported at"), null=True,
                                                      blank=True)
    was_escalated = models.BooleanField(
        _("escalated"), default=False,
        help_text=_("Ever passed beyond the grid (吹哨 or overdue escalation)."),
    )

    reported_at = models.DateTimeField(_("reported at"), db_index=True)
    status_changed_at = models.DateTimeField(_("status changed at"))
    due_at = models.DateTimeField(_("step due at"), null=True, blank=True, db_index=True)
    final_due_at = models.DateTimeField(_("due at"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    handling_seconds = models.PositiveIntegerField(
        _("handling time (s)"), null=True, blank=True,
        help_text=_("From report to closing, set when the event closes."),
    )
    result = models.TextField(_("result"), max_length=2000, blank=True)

    rating = models.PositiveSmallIntegerField(
        _("rating"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    rating_comment = models.CharField(_("rating comment"), max_length=300, blank=True)
    rated_at = models.DateTimeField(_("rated at"), null=True, blank=True)
    reopened_count = models.PositiveSmallIntegerField(_("times reopened"), default=0)
    duplicate_of = models.ForeignKey(
        "self", verbose_name=_("duplicate of"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="duplicates",
    )

    scope_path = "org_unit"

    class Meta:
        verbose_name = _("grid event")
        verbose_name_plural = _("grid events")
        ordering = ["-reported_at", "-pk"]
        permissions = [
            ("file_gridevent", _("Can file, assign and close grid events")),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="gridevent_status_due"),
            models.Index(fields=["org_unit", "reported_at"], name="gridevent_unit_reported"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=EventStatus.values), name="gridevent_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(source__in=EventSource.values), name="gridevent_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="gridevent_rating_1_to_5",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status=EventStatus.CLOSED, closed_at__isnull=False)
                    | (~Q(status=EventStatus.CLOSED) & Q(closed_at__isnull=True))
                ),
                name="gridevent_closed_at_iff_closed",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status=EventStatus.REPORTED) | Q(case_number__isnull=False)
                    | Q(duplicate_of__isnull=False)
                ),
                name="gridevent_filed_has_case_number",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status__in=[EventStatus.REPORTED, EventStatus.FILED])
                    | Q(handler__isnull=False)
                    | Q(duplicate_of__isnull=False)
                ),
                name="gridevent_assigned_has_handler",
            ),
            models.CheckConstraint(
                condition=Q(duplicate_of__isnull=True) | ~Q(duplicate_of=F("pk")),
                name="gridevent_not_own_duplicate",
            ),
        ]

    def __str__(self):
        return self.case_number or _("Event %(code)s") % {"code": self.tracking_code}

    @property
    def is_open(self):
        return self.status != EventStatus.CLOSED

    def is_overdue(self, now):
        return self.is_open and self.due_at is not None and self.due_at < now

    def clean(self):
        errors = {}
        if self.building_id and self.building.compound_id != self.compound_id:
            errors["building"] = _("The building is in another compound.")
        if (self.latitude is None) != (self.longitude is None):
            errors["latitude"] = _("Give both the latitude and the longitude, or neither.")
        if errors:
            raise ValidationError(errors)


PHOTO_EXTENSIONS = ("jpg", "jpeg", "png", "webp")


def event_photo_path(instance, filename):
    # Never keep an uploader's extension that a browser might render (.html, .svg).
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    ext = ext if ext in PHOTO_EXTENSIONS else "img"
    return f"events/{instance.event_id}/{secrets.token_hex(8)}.{ext}"


class GridEventPhoto(models.Model):
    class Stage(models.TextChoices):
        REPORT = "report", _("report")
        RESULT = "result", _("result")

    event = models.ForeignKey(
        GridEvent, verbose_name=_("event"), on_delete=models.CASCADE, related_name="photos"
    )
    image = models.ImageField(_("photo"), upload_to=event_photo_path)
    stage = models.CharField(_("stage"), max_length=10, choices=Stage.choices,
                             default=Stage.REPORT)
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    scope_path = "event__org_unit"

    class Meta:
        verbose_name = _("event photo")
        verbose_name_plural = _("event photos")

    def __str__(self):
        return self.image.name


class EventAction(models.TextChoices):
    REPORT = "report", _("reported")
    FILE = "file", _("filed")
    ASSIGN = "assign", _("assigned")
    START = "start", _("started")
    FEEDBACK = "feedback", _("result reported")
    SEND_BACK = "send_back", _("sent back")
    CLOSE = "close", _("closed")
    ESCALATE = "escalate", _("escalated (吹哨)")
    ACKNOWLEDGE = "acknowledge", _("department reported (报到)")
    OVERDUE = "overdue", _("escalated as overdue")
    RATE = "rate", _("rated")
    REOPEN = "reopen", _("reopened")
    DUPLICATE = "duplicate", _("linked as a duplicate")


class GridEventLog(models.Model):
    """Append-only: who did what to an event, when, with a note."""

    event = models.ForeignKey(
        GridEvent, verbose_name=_("event"), on_delete=models.CASCADE, related_name="logs"
    )
    action = models.CharField(_("action"), max_length=20, choices=EventAction.choices)
    from_status = models.CharField(_("from"), max_length=20, choices=EventStatus.choices,
                                   blank=True)
    to_status = models.CharField(_("to"), max_length=20, choices=EventStatus.choices,
                                 blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.PROTECT, null=True,
        blank=True, related_name="+",
    )
    actor_label = models.CharField(
        _("by (label)"), max_length=60, blank=True,
        help_text=_("For steps without a staff user: the resident or the system."),
    )
    note = models.TextField(_("note"), max_length=2000, blank=True)
    at = models.DateTimeField(_("at"), db_index=True)

    scope_path = "event__org_unit"

    class Meta:
        verbose_name = _("event log entry")
        verbose_name_plural = _("event log")
        ordering = ["at", "pk"]

    def __str__(self):
        return f"{self.event} · {self.get_action_display()}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError(_("The event log cannot be changed."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError(_("The event log cannot be changed."))
