"""Activities and service hours in the admin.

The organiser creates and changes an activity through services.activities; from its page they
confirm sign-ups, issue the one-time check-in code (shown once, big enough to hold up to a room)
and, after the activity, approve the hours of everyone who checked in. Hours are never edited.
"""

from collections import Counter
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Subquery
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from party_org.admin.members import ServiceSaveMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin

from ..models import Activity, ActivitySignup, ServiceHours, SignupStatus
from ..services import activities
from ._base import RowAction, RowActionForm, RowActionsMixin, ServiceForm, each, error_text

TENTH = Decimal("0.1")
St = SignupStatus
ACTIVITY_FIELDS = ["org_unit", "team", "title", "description", "place", "starts_at", "ends_at",
                   "capacity", "points_per_hour"]


def _no_hours():
    return ~Exists(ServiceHours.objects.filter(activity=OuterRef("activity"),
                                               person=OuterRef("person")))


def pending_hours(activity_list):
    """Checked-in sign-ups of these activities whose hours are not approved yet."""
    return ActivitySignup.objects.filter(
        activity__in=activity_list, status=St.CHECKED_IN,
    ).filter(_no_hours()).select_related("activity", "person")


def full_hours(activity):
    return activity.duration_hours.quantize(TENTH)


class ActivityForm(ServiceForm):
    """Creates or changes the activity through the service (the organiser stays fixed)."""

    class Meta:
        model = Activity
        fields = ACTIVITY_FIELDS

    def perform(self, data):
        fields = {name: data.get(name) for name in ACTIVITY_FIELDS if name in self.fields}
        if self.instance.pk is None:
            return activities.create_activity(self.user, **fields)
        fields.pop("org_unit", None)
        return activities.update_activity(self.user, self.instance, **fields)


class SignupChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.person.name


class HoursForm(RowActionForm):
    hours = forms.DecimalField(label=capfirst(_("hours")), max_digits=5, decimal_places=1,
                               min_value=TENTH)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["signup"] = SignupChoiceField(
            pending_hours([self.obj]).order_by("person__name"), label=capfirst(_("person")),
        )
        self.fields["hours"].initial = full_hours(self.obj)
        self.fields["hours"].help_text = _("The activity lasted %(n)s hours.") % {
            "n": full_hours(self.obj)}
        self.order_fields(["signup", "hours"])

    def perform(self):
        data = self.cleaned_data
        return activities.approve_hours(self.user, data["signup"], data["hours"])


class IssueCodeForm(RowActionForm):
    """Nothing to fill in: the page says what a new code does, the button issues it."""

    def perform(self):
        return activities.issue_checkin_code(self.user, self.obj)


def _signup_from_post(request, activity):
    value = request.POST.get("signup", "")
    signup = None
    if value.isdigit() and int(value) < 2**63:
        signup = ActivitySignup.objects.filter(activity=activity, pk=int(value)) \
            .select_related("person", "activity").first()
    if signup is None:
        raise ValidationError(gettext("This sign-up no longer exists."))
    return signup


@admin.register(Activity)
class ActivityAdmin(RowActionsMixin, ServiceSaveMixin, ServiceErrorsMixin, ScopedAdminMixin,
                    admin.ModelAdmin):
    form = ActivityForm
    list_display = ["title", "org_unit", "team", "starts_at", "ends_at", "capacity",
                    "points_per_hour"]
    list_select_related = ["org_unit", "team"]
    search_fields = ["title", "place"]
    date_hierarchy = "starts_at"
    fields = ACTIVITY_FIELDS
    actions = [*ScopedAdminMixin.actions, "confirm_signups", "issue_code", "approve_hours"]

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        # The organiser is fixed once the activity exists.
        return ["org_unit"] if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = type("ActivityForm", (ActivityForm,), {"user": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        """Nothing: the form's service saved it."""

    def save_related(self, request, form, formsets, change):
        """Nothing: sign-ups change through their own services."""

    # ---- the page: buttons and the sign-ups

    def get_row_actions(self, request, obj):
        user, now = request.user, timezone.now()
        actions = {}
        statuses = Counter(obj.signups.values_list("status", flat=True))
        if user.has_perm(activities.CHANGE_PERM) and now < activities.checkin_window(obj)[1]:
            actions["checkin_code"] = RowAction(
                _("Issue the check-in code"), form=IssueCodeForm, primary=True,
                done=self._show_code,
            )
        if user.has_perm(activities.SIGNUP_PERM) and statuses[St.SIGNED_UP]:
            actions["confirm"] = RowAction(
                _("Confirm"), on_page=False,
                run=lambda request, a: activities.confirm_signup(
                    request.user, _signup_from_post(request, a)),
                done=lambda request, a, s: gettext("%(name)s is confirmed.")
                % {"name": s.person.name},
            )
            actions["confirm_all"] = RowAction(
                _("Confirm everyone holding a place"),
                run=lambda request, a: self._confirm(request, [a]),
            )
        if (user.has_perm(activities.HOURS_PERM) and now >= obj.ends_at
                and statuses[St.CHECKED_IN]):
            actions["hours"] = RowAction(
                _("Approve hours"), form=HoursForm, on_page=False,
                done=lambda request, a, h: gettext("%(hours)s hours approved for %(name)s.")
                % {"hours": h.hours, "name": h.person.name},
            )
            actions["all_hours"] = RowAction(
                _("Approve the full hours of everyone checked in"),
                run=lambda request, a: self._approve_full(request, [a]),
            )
        return actions

    def row_action_summary(self, request, obj, action):
        if action != "checkin_code":
            return []
        opens, closes = activities.checkin_window(obj)
        return [
            gettext("Check-in works from %(opens)s to %(closes)s.") % {
                "opens": timezone.localtime(opens).strftime("%Y-%m-%d %H:%M"),
                "closes": timezone.localtime(closes).strftime("%Y-%m-%d %H:%M")},
            gettext("The code is shown only once. Issuing a new one makes the old one stop "
                    "working."),
        ]

    def _show_code(self, request, activity, code):
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "original": activity,
            "title": gettext("Check-in code · %(title)s") % {"title": activity.title},
            "code": code, "opens": activity.checkin_opens_at,
            "closes": activity.checkin_closes_at,
            "back_url": self.change_url(activity),
        }
        response = TemplateResponse(request, "admin/volunteers/activity/checkin_code.html",
                                    context)
        response["Cache-Control"] = "no-store"
        return response

    def _confirm(self, request, queryset):
        signups = ActivitySignup.objects.filter(
            activity__in=queryset, status=St.SIGNED_UP).select_related("activity", "person")
        return each(self, request, signups,
                    lambda s: activities.confirm_signup(request.user, s),
                    gettext("%(n)d sign-ups confirmed."))

    def _approve_full(self, request, queryset):
        return each(self, request, pending_hours(queryset),
                    lambda s: activities.approve_hours(request.user, s,
                                                       full_hours(s.activity)),
                    gettext("Hours approved for %(n)d people."))

    def row_context(self, request, activity, actions):
        hours = ServiceHours.objects.filter(activity=OuterRef("activity"),
                                            person=OuterRef("person")).values("hours")[:1]
        return {"signups": (
            ActivitySignup.objects.filter(activity=activity)
            .annotate(approved_hours=Subquery(hours)).select_related("person")
            .order_by("position")
        ), "ended": timezone.now() >= activity.ends_at}

    # ---- list actions

    @admin.action(description=_("Confirm everyone holding a place"))
    def confirm_signups(self, request, queryset):
        self._confirm(request, queryset)

    @admin.action(description=_("Issue a check-in code (shown once)"))
    def issue_code(self, request, queryset):
        for activity in queryset[:5]:
            try:
                code = activities.issue_checkin_code(request.user, activity)
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, f"{activity}: {error_text(error)}", messages.ERROR)
            else:
                self.message_user(
                    request, gettext("Check-in code for “%(title)s”: %(code)s (shown only now).")
                    % {"title": activity.title, "code": code}, messages.WARNING,
                )

    @admin.action(description=_("Approve the hours of everyone checked in (full length)"))
    def approve_hours(self, request, queryset):
        self._approve_full(request, queryset)


@admin.register(ServiceHours)
class ServiceHoursAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["person", "activity", "hours", "approved_by", "approved_at"]
    list_select_related = ["person", "activity", "approved_by"]
    date_hierarchy = "approved_at"

    # Approved hours have paid points: written by the service only.
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
