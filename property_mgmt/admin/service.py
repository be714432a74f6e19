"""How compounds are served: service periods (started and ended through the services), the
transition subsidy (granted a month at a time for a unit) and the self-funding ledger
(append-only: entries are added and reversed)."""

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Sum
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from party_org.admin.members import ServiceSaveMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin, export_xlsx

from .. import services
from ..models import (
    FOUR_WAYS,
    SelfFundingEntry,
    ServiceMode,
    ServicePeriod,
    SubsidyGrant,
)
from .base import (
    MonthField,
    RowActionForm,
    ServiceForm,
    ServiceFormAdminMixin,
    no_bulk_delete,
    report_units,
    run_row_action,
)
from .companies import OpenFilter

RelatedOnly = admin.RelatedOnlyFieldListFilter
SUBSIDY_ENDING_DAYS = 60


def _yuan(amount):
    return number_format(amount, decimal_pos=2, force_grouping=True)


class SubsidyEndingFilter(admin.SimpleListFilter):
    """Compounds still in a subsidised transition whose subsidy runs out soon (or has run out)."""

    title = _("subsidised transition")
    parameter_name = "subsidy"

    def lookups(self, request, model_admin):
        return [("ending", _("subsidy ending within 60 days"))]

    def queryset(self, request, queryset):
        if self.value() == "ending":
            limit = timezone.localdate() + dt.timedelta(days=SUBSIDY_ENDING_DAYS)
            return queryset.filter(
                mode=ServiceMode.SUBSIDISED, ended_on__isnull=True, compound__is_active=True,
                subsidy_ends_on__lte=limit,
            )
        return queryset


class WithoutCompanyFilter(admin.SimpleListFilter):
    title = _("without a company")
    parameter_name = "way"

    def lookups(self, request, model_admin):
        return [("four", _("the four ways of covering a compound without service")),
                ("none", _("no service"))]

    def queryset(self, request, queryset):
        if self.value() == "four":
            return queryset.filter(mode__in=FOUR_WAYS)
        if self.value() == "none":
            return queryset.filter(mode=ServiceMode.NONE)
        return queryset


# ---- service periods -------------------------------------------------------------------------


class StartServiceForm(ServiceForm):
    class Meta:
        model = ServicePeriod
        fields = ["compound", "mode", "company", "started_on", "fee_per_m2", "note"]
        help_texts = {
            "started_on": _("The service running until then ends the day before."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "compound" in self.fields:
            field = self.fields["compound"]
            field.queryset = field.queryset.filter(is_active=True)
        if "company" in self.fields:
            field = self.fields["company"]
            field.queryset = field.queryset.filter(is_active=True)
            field.help_text = _("For the market, red property help, a resident unit's help and "
                                "the subsidised transition; empty otherwise.")

    def perform(self, data):
        return services.start_service(
            self.user, data["compound"], mode=data["mode"], company=data.get("company"),
            started_on=data["started_on"], fee_per_m2=data.get("fee_per_m2"),
            note=data.get("note", ""),
        )


class EndServiceForm(RowActionForm):
    ended_on = forms.DateField(label=_("last day of service"),
                               widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(label=_("note"), required=False, max_length=300,
                           widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ended_on"].initial = timezone.localdate()
        self.fields["note"].initial = self.obj.note

    def perform(self):
        return services.end_service(self.user, self.obj, self.cleaned_data["ended_on"],
                                    note=self.cleaned_data["note"])


@admin.register(ServicePeriod)
class ServicePeriodAdmin(ServiceFormAdminMixin, ServiceSaveMixin, ServiceErrorsMixin,
                         ScopedAdminMixin, admin.ModelAdmin):
    """A period is started (ending the one before) and ended through the services; its page is
    otherwise read-only."""

    form = StartServiceForm
    list_display = ["compound", "mode", "company", "period", "subsidy_end"]
    export_fields = [
        "compound", "mode", "company", "started_on", "ended_on", "fee_per_m2", "subsidy_rate",
        "subsidy_months", "subsidy_ends_on", "note",
    ]
    list_filter = [OpenFilter, "mode", WithoutCompanyFilter, SubsidyEndingFilter,
                   ("company", RelatedOnly)]
    list_select_related = ["compound", "company"]
    search_fields = ["compound__name", "company__name", "note"]
    autocomplete_fields = ["compound", "company"]
    date_hierarchy = "started_on"
    list_per_page = 50

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["compound", "mode", "company", "started_on", "fee_per_m2", "note"]
        fields = ["compound", "mode", "company", "started_on", "ended_on", "fee_per_m2", "note"]
        if obj.mode == ServiceMode.SUBSIDISED:
            fields += ["subsidy_rate", "subsidy_months", "subsidy_ends_on", "subsidy_total",
                       "subsidy_granted"]
        return fields

    def has_change_permission(self, request, obj=None):
        if obj is not None:
            return False  # ended through its own form
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return no_bulk_delete(super().get_actions(request))

    @admin.display(description=_("period"), ordering="started_on")
    def period(self, obj):
        return format_html('<span class="pm-nowrap">{} – {}</span>', obj.started_on.isoformat(),
                           obj.ended_on.isoformat() if obj.ended_on else "")

    @admin.display(description=_("subsidy ends on"), ordering="subsidy_ends_on")
    def subsidy_end(self, obj):
        if obj.subsidy_ends_on is None:
            return "—"
        soon = obj.ended_on is None and obj.subsidy_ends_on <= (
            timezone.localdate() + dt.timedelta(days=SUBSIDY_ENDING_DAYS))
        if not soon:
            return obj.subsidy_ends_on.isoformat()
        return format_html('<span class="pm-badge pm-badge--warn">{}</span>',
                           obj.subsidy_ends_on.isoformat())

    @admin.display(description=_("whole transition subsidy (yuan)"))
    def subsidy_total(self, obj):
        return _yuan(services.subsidy_total(obj))

    @admin.display(description=_("granted so far (yuan)"))
    def subsidy_granted(self, obj):
        total = obj.grants.aggregate(total=Sum("amount"))["total"]
        return _yuan(total or 0)

    def _may_end(self, request, period):
        return period.ended_on is None and request.user.has_perm(
            "property_mgmt.change_serviceperiod")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        period = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if period is not None:
            buttons = []
            if self._may_end(request, period):
                buttons.append({
                    "label": gettext("End this service"), "primary": True,
                    "url": reverse("admin:property_mgmt_serviceperiod_end", args=[period.pk]),
                })
            context["panel"] = {
                "badge": period.get_mode_display(),
                "status": "open" if period.ended_on is None else "closed",
                "lines": [period.company.name] if period.company_id else [],
                "buttons": buttons,
            }
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self):
        return [
            path("<path:object_id>/end/", self.admin_site.admin_view(self.end_view),
                 name="property_mgmt_serviceperiod_end"),
            *super().get_urls(),
        ]

    def end_view(self, request, object_id):
        period = self.get_object(request, unquote(object_id))
        if period is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        back = reverse("admin:property_mgmt_serviceperiod_change", args=[period.pk])
        if not self._may_end(request, period):
            self.message_user(request, gettext("This service cannot be ended by you now."),
                              messages.ERROR)
            return HttpResponseRedirect(back)
        return run_row_action(
            self, request, period, EndServiceForm, title=gettext("End the service"),
            submit=gettext("End the service"), back_url=back,
            summary=[str(period), gettext("from %(date)s") % {"date": period.started_on}],
            success=gettext("The property service of %(compound)s has ended.")
            % {"compound": period.compound},
        )


# ---- subsidy grants --------------------------------------------------------------------------


class GrantForm(RowActionForm):
    unit = forms.ModelChoiceField(label=_("for the compounds of"), queryset=None)
    month = MonthField(label=_("month"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        units = report_units(self.user)
        self.fields["unit"].queryset = units
        self.fields["unit"].initial = next(iter(units), None)
        self.fields["month"].initial = timezone.localdate().strftime("%Y-%m")

    def perform(self):
        return services.grant_subsidies(self.user, self.cleaned_data["unit"],
                                        self.cleaned_data["month"])


def _granted_message(run):
    return ngettext(
        "%(month)s: %(created)s new grant; %(count)s grants totalling %(total)s yuan.",
        "%(month)s: %(created)s new grants; %(count)s grants totalling %(total)s yuan.",
        run.created,
    ) % {"month": f"{run.month:%Y-%m}", "created": run.created, "count": len(run.grants),
         "total": _yuan(run.total)}


@admin.register(SubsidyGrant)
class SubsidyGrantAdmin(ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    """Read-only: grants are made a month at a time by the grant form (services.grant_subsidies),
    and running it again for a month grants nothing twice."""

    list_display = ["compound", "month_display", "area_m2", "rate", "amount", "granted_at"]
    export_fields = ["compound", "month", "area_m2", "rate", "amount", "granted_at"]
    list_select_related = ["period__compound"]
    search_fields = ["period__compound__name"]
    date_hierarchy = "month"
    ordering = ["-month", "period__compound__name"]

    @admin.display(description=_("compound"), ordering="period__compound__name")
    def compound(self, obj):
        return obj.period.compound

    @admin.display(description=_("month"), ordering="month")
    def month_display(self, obj):
        return f"{obj.month:%Y-%m}"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _may_grant(self, request):
        return request.user.has_perm("property_mgmt.add_subsidygrant")

    def changelist_view(self, request, extra_context=None):
        context = dict(extra_context or {})
        if self._may_grant(request):
            context["extra_tools"] = [{
                "label": gettext("Grant a month's subsidies"),
                "url": reverse("admin:property_mgmt_subsidygrant_grant"),
            }]
        return super().changelist_view(request, context)

    def get_urls(self):
        return [
            path("grant/", self.admin_site.admin_view(self.grant_view),
                 name="property_mgmt_subsidygrant_grant"),
            *super().get_urls(),
        ]

    def grant_view(self, request):
        back = reverse("admin:property_mgmt_subsidygrant_changelist")
        if not self._may_grant(request):
            self.message_user(request, gettext("You may not grant subsidies."), messages.ERROR)
            return HttpResponseRedirect(back)
        return run_row_action(
            self, request, None, GrantForm, title=gettext("Grant a month's subsidies"),
            submit=gettext("Grant"), back_url=back,
            summary=[gettext("Every compound in a subsidised transition in the unit chosen "
                             "gets the month's subsidy (floor area × rate), once.")],
            success=_granted_message,
        )


# ---- self-funding income ---------------------------------------------------------------------


class IncomeForm(ServiceForm):
    error_fields = {"on": "received_on"}

    class Meta:
        model = SelfFundingEntry
        fields = ["compound", "kind", "amount", "received_on", "note"]

    def perform(self, data):
        return services.record_income(
            self.user, data["compound"], kind=data["kind"], amount=data["amount"],
            received_on=data["received_on"], note=data.get("note", ""),
        )


@admin.action(description=_("Reverse the selected entries"), permissions=["add"])
def reverse_entries(model_admin, request, queryset):
    done = 0
    for entry in queryset.select_related("compound__org_unit"):
        if model_admin._run_service(request, services.reverse_income, request.user, entry):
            done += 1
    if done:
        model_admin.message_user(
            request, ngettext("%(n)s entry reversed.", "%(n)s entries reversed.", done)
            % {"n": done}, messages.SUCCESS)


@admin.register(SelfFundingEntry)
class SelfFundingEntryAdmin(ServiceFormAdminMixin, ServiceSaveMixin, ServiceErrorsMixin,
                            ScopedAdminMixin, admin.ModelAdmin):
    """自行造血: an append-only ledger. A wrong entry is cancelled by a reversal, never edited."""

    form = IncomeForm
    actions = [export_xlsx, reverse_entries]
    list_display = ["received_on", "compound", "kind", "amount", "note", "reversal"]
    export_fields = ["received_on", "compound", "kind", "amount", "note", "reversal"]
    list_filter = ["kind", ("compound", RelatedOnly)]
    list_select_related = ["compound", "reverses", "reversed_by"]
    search_fields = ["compound__name", "note"]
    autocomplete_fields = ["compound"]
    date_hierarchy = "received_on"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["compound", "kind", "amount", "received_on", "note"]
        return ["compound", "kind", "amount", "received_on", "note", "reverses", "reversal"]

    @admin.display(description=_("reversal"))
    def reversal(self, obj):
        if obj.reverses_id:
            return gettext("reverses the entry of %(date)s") % {
                "date": obj.reverses.received_on}
        reversed_by = getattr(obj, "reversed_by", None)
        if reversed_by is not None:
            return gettext("reversed on %(date)s") % {"date": reversed_by.received_on}
        return ""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return no_bulk_delete(super().get_actions(request))
