"""The ledger and the mall in the admin (volunteers and teams: people.py; activities and
hours: activities.py; honours: honours.py).

Changes that carry rules go through the services: asking for and approving points adjustments,
saving merchants and items, cancelling redemptions. The ledger is read-only; phones are masked
unless the reader may view personal data.
"""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from party_org import pii
from party_org.admin.members import ServiceSaveMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin
from party_org.models import Person
from party_org.personal_data import reveal
from party_org.selectors import scoped

from ..models import (
    Merchant,
    PointsAccount,
    PointsAdjustment,
    PointsEntry,
    PointsKind,
    Redemption,
    RewardItem,
)
from ..services import ledger, mall
from ._base import each as _each


class ReadOnlyAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Rows written only by services: listed and read here, never added, edited or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
