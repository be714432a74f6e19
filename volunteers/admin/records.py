"""Volunteers, teams, activities, the ledger, the mall and honours in the admin.

Changes that carry rules go through the services: verifying volunteers, issuing check-in codes
(shown once), approving hours, asking for and approving points adjustments, saving merchants and
items, cancelling redemptions and approving honours. The ledger is read-only; phones are masked
unless the reader may view personal data.
"""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from party_org import pii
from party_org.admin.members import ServiceSaveMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin
from party_org.models import Person
from party_org.personal_data import phone_for, reveal
from party_org.selectors import scoped

from ..models import (
    Activity,
    ActivitySignup,
    Honor,
    Merchant,
    PointsAccount,
    PointsAdjustment,
    PointsEntry,
    PointsKind,
    Redemption,
    RewardItem,
    ServiceHours,
    SignupStatus,
    TeamMembership,
    Volunteer,
    VolunteerTeam,
)
from ..services import activities, honours, ledger, mall, people

TENTH = Decimal("0.1")


def _each(modeladmin, request, queryset, func, done):
    """Run `func` on every selected row; one message for the successes, one per refusal."""
    count = 0
    for obj in queryset:
        try:
            func(obj)
        except (ValidationError, PermissionDenied) as error:
            text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
            modeladmin.message_user(request, f"{obj}: {text}", messages.ERROR)
        else:
            count += 1
    if count:
        modeladmin.message_user(request, done % {"n": count}, messages.SUCCESS)


class ReadOnlyAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Rows written only by services: listed and read here, never added, edited or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# ---- volunteers and teams ----------------------------------------------------------------------


@admin.register(Volunteer)
class VolunteerAdmin(ReadOnlyAdmin):
    list_display = ["person", "phone", "org_unit", "skill_list", "verified", "registered_at",
                    "is_active"]
    list_filter = ["verified", "is_active"]
    list_select_related = ["person", "org_unit"]
    search_fields = ["person__name"]
    actions = [*ReadOnlyAdmin.actions, "verify"]
    fields = ["person", "phone", "org_unit", "skill_list", "note", "verified", "verified_by",
              "verified_at", "registered_by", "registered_at", "is_active"]
    readonly_fields = fields

    @admin.display(description=_("phone"))
    def phone(self, obj):
        return phone_for(obj.person, "admin:volunteer") or "—"

    @admin.display(description=_("skills"))
    def skill_list(self, obj):
        return "、".join(obj.skills)

    @admin.action(description=_("Verify the selected volunteers"),
                  permissions=["verify"])
    def verify(self, request, queryset):
        _each(self, request, queryset.filter(verified=False),
              lambda v: people.verify_volunteer(request.user, v),
              gettext("%(n)d volunteers verified."))

    def has_verify_permission(self, request):
        return request.user.has_perm("volunteers.verify_volunteer")


class MembershipInline(admin.TabularInline):
    model = TeamMembership
    fields = ["person", "joined_on", "left_on"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(VolunteerTeam)
class VolunteerTeamAdmin(ReadOnlyAdmin):
    list_display = ["name", "org_unit", "leader", "founded_on", "is_active"]
    list_select_related = ["org_unit", "leader"]
    search_fields = ["name"]
    fields = ["name", "org_unit", "leader", "description", "founded_on", "is_active"]
    readonly_fields = fields
    inlines = [MembershipInline]


# ---- activities --------------------------------------------------------------------------------


class SignupInline(admin.TabularInline):
    model = ActivitySignup
    fields = ["person", "status", "position", "signed_up_at", "checked_in_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Activity)
class ActivityAdmin(ServiceSaveMixin, ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["title", "org_unit", "team", "starts_at", "ends_at", "capacity",
                    "points_per_hour"]
    list_select_related = ["org_unit", "team"]
    search_fields = ["title", "place"]
    date_hierarchy = "starts_at"
    fields = ["org_unit", "team", "title", "description", "place", "starts_at", "ends_at",
              "capacity", "points_per_hour"]
    inlines = [SignupInline]
    actions = [*ScopedAdminMixin.actions, "issue_code", "approve_hours"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data.get(name) for name in self.fields}
        if change:
            data.pop("org_unit")
            saved = self._run_service(
                request, lambda: activities.update_activity(request.user, obj, **data))
        else:
            saved = self._run_service(
                request, lambda: activities.create_activity(request.user, **data))
        if saved is not None:
            obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        """Nothing: sign-ups change through their own services."""

    @admin.action(description=_("Issue a check-in code (shown once)"))
    def issue_code(self, request, queryset):
        for activity in queryset[:5]:
            try:
                code = activities.issue_checkin_code(request.user, activity)
            except (ValidationError, PermissionDenied) as error:
                text = " ".join(getattr(error, "messages", [str(error)]))
                self.message_user(request, f"{activity}: {text}", messages.ERROR)
            else:
                self.message_user(
                    request, gettext("Check-in code for “%(title)s”: %(code)s (shown only now).")
                    % {"title": activity.title, "code": code}, messages.WARNING,
                )

    @admin.action(description=_("Approve the hours of everyone checked in (full length)"))
    def approve_hours(self, request, queryset):
        signups = ActivitySignup.objects.filter(
            activity__in=queryset, status=SignupStatus.CHECKED_IN,
        ).exclude(Exists(ServiceHours.objects.filter(
            activity=OuterRef("activity"), person=OuterRef("person"),
        ))).select_related("activity", "person")
        _each(self, request, signups,
              lambda s: activities.approve_hours(
                  request.user, s, s.activity.duration_hours.quantize(TENTH)),
              gettext("Hours approved for %(n)d people."))


@admin.register(ServiceHours)
class ServiceHoursAdmin(ReadOnlyAdmin):
    list_display = ["person", "activity", "hours", "approved_by", "approved_at"]
    list_select_related = ["person", "activity", "approved_by"]
    date_hierarchy = "approved_at"


# ---- the ledger --------------------------------------------------------------------------------


@admin.register(PointsAccount)
class PointsAccountAdmin(ReadOnlyAdmin):
    list_display = ["person", "kind", "balance", "updated_at"]
    list_filter = ["kind"]
    list_select_related = ["person"]
    search_fields = ["person__name"]


@admin.register(PointsEntry)
class PointsEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "amount", "balance_after", "reason", "note"]
    list_filter = ["reason", "account__kind"]
    list_select_related = ["account__person"]
    search_fields = ["account__person__name", "note"]
    date_hierarchy = "created_at"


class AdjustmentForm(forms.ModelForm):
    person = forms.ModelChoiceField(queryset=None, label=_("person"))
    kind = forms.ChoiceField(choices=PointsKind.choices, label=_("kind"))

    class Meta:
        model = PointsAdjustment
        fields = ["amount", "reason"]

    def _post_clean(self):
        """No model validation: the account is found, and the request checked, by the service."""


@admin.register(PointsAdjustment)
class PointsAdjustmentAdmin(ServiceSaveMixin, ServiceErrorsMixin, ScopedAdminMixin,
                            admin.ModelAdmin):
    list_display = ["account", "amount", "reason", "status", "requested_by", "requested_at",
                    "decided_by"]
    list_filter = ["status"]
    list_select_related = ["account__person", "requested_by", "decided_by"]
    actions = [*ScopedAdminMixin.actions, "approve", "reject"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            form = type("AdjustmentForm", (AdjustmentForm,), {})
            form.base_fields["person"].queryset = scoped(request.user, Person.objects.all())
            kwargs["form"] = form
            kwargs["fields"] = ["person", "kind", "amount", "reason"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["person", "kind", "amount", "reason"]
        return ["account", "amount", "reason", "status", "requested_by", "requested_at",
                "decided_by", "decided_at", "decision_note"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = self._run_service(request, ledger.request_adjustment, request.user,
                                  data["person"], data["kind"], data["amount"], data["reason"])
        if saved is not None:
            obj.pk, obj.account, obj.amount = saved.pk, saved.account, saved.amount

    def save_related(self, request, form, formsets, change):
        """Nothing: the service saved the request."""

    @admin.action(description=_("Approve the selected adjustments"), permissions=["approve"])
    def approve(self, request, queryset):
        _each(self, request, queryset.filter(status=PointsAdjustment.Status.PENDING),
              lambda a: ledger.approve_adjustment(request.user, a),
              gettext("%(n)d adjustments approved."))

    @admin.action(description=_("Reject the selected adjustments"), permissions=["approve"])
    def reject(self, request, queryset):
        _each(self, request, queryset.filter(status=PointsAdjustment.Status.PENDING),
              lambda a: ledger.reject_adjustment(request.user, a, gettext("Rejected in the list.")),
              gettext("%(n)d adjustments rejected."))

    def has_approve_permission(self, request):
        return request.user.has_perm("volunteers.approve_pointsadjustment")


# ---- the mall ----------------------------------------------------------------------------------


class MallSaveAdmin(ServiceSaveMixin, ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    service = None

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        saved = self._run_service(request, type(self).service, request.user, obj)
        if saved is not None:
            obj.pk = saved.pk


@admin.register(Merchant)
class MerchantAdmin(MallSaveAdmin):
    service = staticmethod(mall.save_merchant)
    list_display = ["name", "org_unit", "contact_name", "phone", "is_active"]
    list_select_related = ["org_unit"]
    search_fields = ["name"]
    fields = ["name", "org_unit", "contact_name", "contact_phone", "address", "users",
              "is_active"]
    filter_horizontal = ["users"]

    @admin.display(description=_("contact phone"))
    def phone(self, obj):
        return reveal(None, "phone", obj.contact_phone, pii.mask_phone(obj.contact_phone),
                      "admin:merchant:list") or "—"


@admin.register(RewardItem)
class RewardItemAdmin(MallSaveAdmin):
    service = staticmethod(mall.save_reward_item)
    list_display = ["name", "merchant", "points_price", "points_kind", "stock", "valid_until",
                    "per_person_limit", "is_active"]
    list_filter = ["points_kind", "is_active"]
    list_select_related = ["merchant"]
    search_fields = ["name", "merchant__name"]


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "person", "item", "quantity", "points", "status", "used_at"]
    list_filter = ["status"]
    list_select_related = ["person", "item__merchant"]
    search_fields = ["person__name", "item__name"]
    exclude = ["code", "idempotency_key"]
    actions = [*ReadOnlyAdmin.actions, "cancel"]

    @admin.action(description=_("Cancel the selected unused redemptions"),
                  permissions=["cancel"])
    def cancel(self, request, queryset):
        _each(self, request, queryset, lambda r: mall.cancel_redemption(request.user, r),
              gettext("%(n)d redemptions cancelled; points and stock returned."))

    def has_cancel_permission(self, request):
        return request.user.has_perm("volunteers.change_redemption")


# ---- honours -----------------------------------------------------------------------------------


@admin.register(Honor)
class HonorAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["year", "title", "person", "compound", "approved_at", "publicised"]
    list_filter = ["year", "title", "publicised"]
    list_select_related = ["person", "compound"]
    search_fields = ["person__name", "citation"]
    actions = [*ScopedAdminMixin.actions, "approve"]
    readonly_fields = ["nominated_by", "nominated_at", "approved_by", "approved_at",
                       "publicised"]

    def has_add_permission(self, request):
        return False  # nominated from the candidates by the service (see honour_candidates)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Approve and publicise the selected honours"),
                  permissions=["approve"])
    def approve(self, request, queryset):
        _each(self, request, queryset.filter(approved_at__isnull=True),
              lambda h: honours.approve_honor(request.user, h),
              gettext("%(n)d honours approved."))

    def has_approve_permission(self, request):
        return request.user.has_perm("volunteers.approve_honor")
