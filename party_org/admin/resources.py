"""Admin of party_org: service stations (and the 五有 page), branch funds, co-building units and
the three lists, branch committees and the monthly top ten secretaries.

Every save, delete and action calls a service (party_org.services.resources), which checks the
permission and scope again and records the change; ledgers that are append-only (funds, matches)
or ended rather than deleted (agreements, seats, list items) have no change/delete here.
"""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..admin_scoping import ScopedAdminMixin, ServiceErrorsMixin, export_xlsx
from ..models import (
    BranchFundEntry,
    CoBuildingAgreement,
    CommitteeMembership,
    CommitteeRole,
    ListItem,
    ListKind,
    NeedMatch,
    OrgKind,
    OrgUnit,
    ServiceStation,
    StationFunction,
    TopSecretaryEntry,
    TopSecretarySelection,
)
from ..models.resources import STANDARD_ITEMS
from ..selectors import Subtree, in_scope, scoped
from ..selectors_resources import (
    HAVE_LABELS,
    HAVES,
    attach_running_balances,
    five_haves,
    five_haves_summary,
    iter_with_running_balances,
)
from ..services import resources as services

RelatedOnly = admin.RelatedOnlyFieldListFilter


class RefusalNotLoggedMixin:
    """When a service refused the save, nothing was saved: write no admin log entry for it."""

    def log_addition(self, request, obj, message):
        if getattr(request, "service_error", None) or obj.pk is None:
            return None
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        if getattr(request, "service_error", None):
            return None
        return super().log_change(request, obj, message)


def _today():
    return timezone.localdate()


# ---- service stations and the 五有 page ------------------------------------------------------


class ServiceStationForm(forms.ModelForm):
    functions = forms.MultipleChoiceField(
        label=_("functions"), choices=StationFunction.choices, required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    checklist = forms.MultipleChoiceField(
        label=_("standard items met"), required=False, widget=forms.CheckboxSelectMultiple,
        choices=[
            (standard.label, list(items)) for standard, items in STANDARD_ITEMS.items()
        ],
        help_text=_("Tick the items of the chosen standard that the station meets."),
    )

    class Meta:
        model = ServiceStation
        fields = [
            "org_unit", "name", "address", "area_m2", "opening_hours", "opened_on",
            "functions", "standard", "checklist",
        ]


class FiveHavesForm(forms.Form):
    org_unit = forms.ModelChoiceField(label=_("organisation unit"), queryset=OrgUnit.objects.none())
    as_of = forms.DateField(
        label=_("as of"), required=False,
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )

    def __init__(self, *args, units, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].queryset = units
        # Indented by level, so the select reads as the tree.
        self.fields["org_unit"].label_from_instance = (
            lambda node: f"{'　' * node.level}{node.name}"
        )


def five_haves_units(user):
    """The units offered on the 五有 page: the levels above branches in the user's scope, and
    the user's own units (a branch secretary's branch)."""
    units = scoped(user, OrgUnit.objects.all())
    upper = units.filter(kind__in=[OrgKind.CITY, OrgKind.DISTRICT, OrgKind.STREET,
                                   OrgKind.COMMUNITY])
    own = units.filter(staff_assignments__user=user)
    return (upper | own).distinct().order_by("tree_id", "lft")


@admin.register(ServiceStation)
class ServiceStationAdmin(RefusalNotLoggedMixin, ServiceErrorsMixin, ScopedAdminMixin,
                          admin.ModelAdmin):
    form = ServiceStationForm
    change_list_template = "admin/party_org/servicestation/change_list.html"
    list_display = [
        "name", "org_unit", "area_m2", "function_count", "checklist_progress",
        "meets_standard_display", "opening_hours", "opened_on",
    ]
    export_fields = [
        "name", "org_unit", "address", "area_m2", "function_names", "opening_hours", "standard",
        "checklist_progress", "meets_standard_display", "opened_on",
    ]
    list_filter = ["standard", ("org_unit", RelatedOnly)]
    list_select_related = ["org_unit"]
    search_fields = ["name", "address", "org_unit__name"]
    autocomplete_fields = ["org_unit"]

    @admin.display(description=_("functions"))
    def function_count(self, obj):
        return len(set(obj.functions or []))

    @admin.display(description=_("functions"))
    def function_names(self, obj):
        labels = dict(StationFunction.choices)
        return "、".join(str(labels.get(code, code)) for code in obj.functions or [])

    @admin.display(description=_("standard items met"))
    def checklist_progress(self, obj):
        return f"{len(set(obj.checklist or []))}/{obj.checklist_total}"

    @admin.display(description=_("meets its standard"), boolean=True)
    def meets_standard_display(self, obj):
        return obj.meets_standard

    def save_model(self, request, obj, form, change):
        self._run_service(request, services.save_station, request.user, obj)

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_station, request.user, obj)

    def delete_queryset(self, request, queryset):
        for station in queryset:
            self._run_service(request, services.delete_station, request.user, station)

    def get_urls(self):
        return [
            path(
                "five-haves/",
                self.admin_site.admin_view(self.five_haves_view),
                name="party_org_servicestation_five_haves",
            ),
            *super().get_urls(),
        ]

    def five_haves_view(self, request):
        """The 五有 indicator of every branch in a chosen subtree, with totals."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        units = five_haves_units(request.user)
        data = request.GET if "org_unit" in request.GET else None
        form = FiveHavesForm(data, units=units)
        node, as_of, rows, summary = None, _today(), [], None
        if data is None:
            node = units.filter(staff_assignments__user=request.user).first() or units.first()
            form = FiveHavesForm(initial={"org_unit": node, "as_of": as_of}, units=units)
        elif form.is_valid():
            node = form.cleaned_data["org_unit"]
            as_of = form.cleaned_data["as_of"] or as_of
        if node is not None and in_scope(request.user, node):
            rows = five_haves(Subtree.of(node), as_of)
            summary = five_haves_summary(rows)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Five haves (五有) of the branches"),
            "opts": self.model._meta,
            "form": form,
            "node": node,
            "as_of": as_of,
            "rows": rows,
            "summary": summary,
            "have_labels": [HAVE_LABELS[name] for name in HAVES],
            "summary_counts": [summary[name] for name in HAVES] if summary else [],
        }
        return TemplateResponse(request, "admin/party_org/servicestation/five_haves.html", context)


# ---- branch funds ----------------------------------------------------------------------------


class FundEntryForm(forms.ModelForm):
    amount = forms.DecimalField(
        label=_("amount (yuan)"), max_digits=12, decimal_places=2, min_value=Decimal("0.01"),
        help_text=_("Always positive; spending categories are recorded as money out."),
    )

    class Meta:
        model = BranchFundEntry
        fields = ["org_unit", "entry_date", "category", "amount", "description"]


class FundChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        # One windowed query for the page, over the whole ledgers of its branches.
        self.result_list = attach_running_balances(self.result_list)


@admin.action(description=_("Export selected rows to Excel"))
def export_fund_ledger(model_admin, request, queryset):
    return export_xlsx(model_admin, request, iter_with_running_balances(queryset))


@admin.register(BranchFundEntry)
class BranchFundEntryAdmin(RefusalNotLoggedMixin, ServiceErrorsMixin, ScopedAdminMixin,
                           admin.ModelAdmin):
    form = FundEntryForm
    actions = [export_fund_ledger, "reverse_entries"]
    list_display = [
        "entry_date", "org_unit", "category", "amount", "running_balance", "description",
        "reversal_note", "recorded_by",
    ]
    list_filter = ["category", ("org_unit", RelatedOnly)]
    list_select_related = ["org_unit", "recorded_by", "reversal"]
    search_fields = ["description", "org_unit__name"]
    autocomplete_fields = ["org_unit"]
    ordering = ["org_unit__tree_id", "org_unit__lft", "entry_date", "id"]
    readonly_fields = ["reverses", "recorded_by", "recorded_at"]

    def get_changelist(self, request, **kwargs):
        return FundChangeList

    def get_fields(self, request, obj=None):
        if obj is None:
            return FundEntryForm.Meta.fields
        return [
            "org_unit", "entry_date", "category", "amount", "description", "reverses",
            "recorded_by", "recorded_at",
        ]

    @admin.display(description=_("balance (yuan)"))
    def running_balance(self, obj):
        return getattr(obj, "running_balance", None)

    @admin.display(description=_("reversal"))
    def reversal_note(self, obj):
        if obj.reverses_id:
            return _("reverses entry %(id)s") % {"id": obj.reverses_id}
        reversal = getattr(obj, "reversal", None)
        if reversal is not None:
            return _("reversed by entry %(id)s") % {"id": reversal.pk}
        return ""

    # Entries are append-only: no editing, no deleting; a mistake is reversed.
    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        entry = self._run_service(
            request, services.record_fund_entry, request.user, data["org_unit"],
            data["entry_date"], data["category"], data["amount"], data["description"],
        )
        if entry is not None:
            obj.pk, obj.amount, obj.recorded_by = entry.pk, entry.amount, entry.recorded_by

    @admin.action(description=_("Reverse the selected entries"), permissions=["add"])
    def reverse_entries(self, request, queryset):
        done = 0
        for entry in queryset.order_by("entry_date", "id"):
            if self._run_service(request, services.reverse_fund_entry, request.user, entry):
                done += 1
        if done:
            self.message_user(request, ngettext(
                "%(n)d entry reversed.", "%(n)d entries reversed.", done) % {"n": done},
                messages.SUCCESS)


# ---- co-building agreements, the three lists and matches -------------------------------------


@admin.register(CoBuildingAgreement)
class CoBuildingAgreementAdmin(RefusalNotLoggedMixin, ServiceErrorsMixin, ScopedAdminMixin,
                               admin.ModelAdmin):
    list_display = ["work_unit", "org_unit", "signed_on", "liaison", "is_active"]
    list_filter = ["is_active", ("org_unit", RelatedOnly), ("work_unit", RelatedOnly)]
    list_select_related = ["work_unit", "org_unit"]
    search_fields = ["work_unit__name", "liaison", "org_unit__name"]
    autocomplete_fields = ["org_unit"]
    actions = [export_xlsx, "end_agreements", "sign_again"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["work_unit", "org_unit", "signed_on", "liaison"]
        return ["work_unit", "org_unit", "signed_on", "is_active", "liaison"]

    def get_readonly_fields(self, request, obj=None):
        return ["work_unit", "org_unit", "signed_on", "is_active"] if obj else []

    def has_delete_permission(self, request, obj=None):
        return False  # an agreement is ended, and kept

    def save_model(self, request, obj, form, change):
        if change:
            self._run_service(request, services.update_agreement, request.user, obj, obj.liaison)
            return
        saved = self._run_service(
            request, services.sign_agreement, request.user, obj.work_unit, obj.org_unit,
            obj.signed_on, obj.liaison,
        )
        if saved is not None:
            obj.pk = saved.pk

    @admin.action(description=_("End the selected agreements"), permissions=["change"])
    def end_agreements(self, request, queryset):
        done = sum(
            1 for agreement in queryset.select_related("work_unit", "org_unit")
            if self._run_service(request, services.end_agreement, request.user, agreement)
        )
        if done:
            self.message_user(request, ngettext(
                "%(n)d agreement ended.", "%(n)d agreements ended.", done) % {"n": done},
                messages.SUCCESS)

    @admin.action(description=_("Sign the selected ended agreements again (today)"),
                  permissions=["change"])
    def sign_again(self, request, queryset):
        done = sum(
            1 for agreement in queryset.select_related("work_unit", "org_unit")
            if self._run_service(request, services.sign_agreement, request.user,
                                 agreement.work_unit, agreement.org_unit, _today(),
                                 agreement.liaison)
        )
        if done:
            self.message_user(request, ngettext(
                "%(n)d agreement signed again.", "%(n)d agreements signed again.", done)
                % {"n": done}, messages.SUCCESS)


class ListItemForm(forms.ModelForm):
    class Meta:
        model = ListItem
        fields = ["org_unit", "kind", "work_unit", "title", "description"]

    def clean(self):
        data = super().clean()
        kind, work_unit = data.get("kind"), data.get("work_unit")
        if kind and kind != ListKind.RESOURCE and work_unit is not None:
            self.add_error("work_unit", _("Only resources name the unit that offers them."))
        if kind == ListKind.RESOURCE and work_unit is None and "work_unit" in self.fields:
            self.add_error("work_unit", _("Say which co-building unit offers the resource."))
        return data


class MatchForm(forms.Form):
    resource = forms.ModelChoiceField(label=_("resource"), queryset=ListItem.objects.none())
    note = forms.CharField(label=_("note"), max_length=200, required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["resource"].queryset = scoped(
            user,
            ListItem.objects.filter(kind=ListKind.RESOURCE)
            .exclude(status=ListItem.Status.DONE)
            .select_related("work_unit", "org_unit")
            .order_by("org_unit__tree_id", "org_unit__lft", "title"),
        )
        self.fields["resource"].label_from_instance = (
            lambda item: f"{item.title} · {item.work_unit} · {item.org_unit}"
        )


@admin.register(ListItem)
class ListItemAdmin(RefusalNotLoggedMixin, ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    form = ListItemForm
    list_display = ["title", "kind", "org_unit", "work_unit", "status", "created_at"]
    list_filter = ["kind", "status", ("org_unit", RelatedOnly), ("work_unit", RelatedOnly)]
    list_select_related = ["org_unit", "work_unit"]
    search_fields = ["title", "description"]
    autocomplete_fields = ["org_unit"]
    actions = [export_xlsx, "match_to_resource", "close_items"]

    def get_readonly_fields(self, request, obj=None):
        return ["org_unit", "kind", "work_unit", "status"] if obj else []

    def has_delete_permission(self, request, obj=None):
        return False  # an item is closed, and kept with its matches

    def has_match_permission(self, request):
        return request.user.has_perm("party_org.add_needmatch")

    def save_model(self, request, obj, form, change):
        if change:
            self._run_service(request, services.update_list_item, request.user, obj)
            return
        saved = self._run_service(
            request, services.add_list_item, request.user, obj.org_unit, obj.kind, obj.title,
            obj.description, obj.work_unit,
        )
        if saved is not None:
            obj.pk = saved.pk

    @admin.action(description=_("Close the selected items"), permissions=["change"])
    def close_items(self, request, queryset):
        done = sum(
            1 for item in queryset
            if self._run_service(request, services.close_list_item, request.user, item)
        )
        if done:
            self.message_user(request, ngettext(
                "%(n)d item closed.", "%(n)d items closed.", done) % {"n": done},
                messages.SUCCESS)

    @admin.action(description=_("Match the selected needs to a resource"), permissions=["match"])
    def match_to_resource(self, request, queryset):
        needs = list(queryset.filter(kind=ListKind.NEED).select_related("org_unit"))
        if not needs:
            self.message_user(request, _("Select one or more needs to match."), messages.WARNING)
            return None
        form = MatchForm(request.POST if "apply" in request.POST else None, user=request.user)
        if form.is_valid():
            resource, note = form.cleaned_data["resource"], form.cleaned_data["note"]
            done = sum(
                1 for need in needs
                if self._run_service(request, services.match_need, request.user, need, resource,
                                     note)
            )
            if done:
                self.message_user(request, ngettext(
                    "%(n)d need matched to “%(resource)s”.",
                    "%(n)d needs matched to “%(resource)s”.", done)
                    % {"n": done, "resource": resource.title}, messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Match needs to a resource"),
            "opts": self.model._meta,
            "needs": needs,
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/party_org/listitem/match_need.html", context)


@admin.register(NeedMatch)
class NeedMatchAdmin(ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    """Read-only: matches are made from the three lists (the "match" action)."""

    list_display = ["need", "need_unit", "resource", "resource_unit", "matched_by", "matched_at",
                    "note"]
    list_filter = [("need__org_unit", RelatedOnly), ("resource__work_unit", RelatedOnly)]
    list_select_related = ["need__org_unit", "resource__work_unit", "matched_by"]
    search_fields = ["need__title", "resource__title", "note"]

    @admin.display(description=_("community or branch"))
    def need_unit(self, obj):
        return obj.need.org_unit

    @admin.display(description=_("offered by"))
    def resource_unit(self, obj):
        return obj.resource.work_unit

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# ---- committees and the top ten --------------------------------------------------------------


class SittingFilter(admin.SimpleListFilter):
    title = _("sitting")
    parameter_name = "sitting"

    def lookups(self, request, model_admin):
        return [("yes", _("sitting")), ("no", _("ended"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(ended_on__isnull=True)
        if self.value() == "no":
            return queryset.filter(ended_on__isnull=False)
        return queryset


class CommitteeSeatForm(forms.ModelForm):
    class Meta:
        model = CommitteeMembership
        fields = ["org_unit", "person", "role", "started_on"]

    def clean(self):
        data = super().clean()
        org_unit, role = data.get("org_unit"), data.get("role")
        if org_unit is not None and role == CommitteeRole.SECRETARY:
            problem = services.sitting_secretary_problem(org_unit)
            if problem is not None:
                self.add_error(None, problem)
        return data


@admin.register(CommitteeMembership)
class CommitteeMembershipAdmin(RefusalNotLoggedMixin, ServiceErrorsMixin, ScopedAdminMixin,
                               admin.ModelAdmin):
    form = CommitteeSeatForm
    list_display = ["org_unit", "person", "role", "started_on", "ended_on", "is_sitting"]
    list_filter = ["role", SittingFilter, ("org_unit", RelatedOnly)]
    list_select_related = ["org_unit", "person"]
    search_fields = ["person__name", "org_unit__name"]
    # Autocomplete, not a raw id: its choices (and the label it shows for a posted id) come
    # from the scoped person admin, so an id outside the scope never reveals a name.
    autocomplete_fields = ["org_unit", "person"]
    actions = [export_xlsx, "end_seats"]

    @admin.display(description=_("sitting"), boolean=True)
    def is_sitting(self, obj):
        return obj.ended_on is None

    def get_fields(self, request, obj=None):
        if obj is None:
            return CommitteeSeatForm.Meta.fields
        return ["org_unit", "person", "role", "started_on", "ended_on"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # Only ending a sitting seat is a change; everything else is history.
        return ["org_unit", "person", "role", "started_on"] + (
            ["ended_on"] if obj.ended_on else []
        )

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            if obj.ended_on is not None:
                self._run_service(request, services.end_committee_seat, request.user, obj,
                                  obj.ended_on)
            return
        saved = self._run_service(
            request, services.seat_committee_member, request.user, obj.org_unit, obj.person,
            obj.role, obj.started_on,
        )
        if saved is not None:
            obj.pk = saved.pk

    @admin.action(description=_("End the selected seats today"), permissions=["change"])
    def end_seats(self, request, queryset):
        done = sum(
            1 for seat in queryset.filter(ended_on__isnull=True)
            if self._run_service(request, services.end_committee_seat, request.user, seat)
        )
        if done:
            self.message_user(request, ngettext(
                "%(n)d seat ended.", "%(n)d seats ended.", done) % {"n": done}, messages.SUCCESS)


def _formset_entries(formset):
    """The entries a top-ten inline formset holds (filled, not marked for deletion)."""
    entries = []
    for form in formset.forms:
        data = getattr(form, "cleaned_data", None)
        if not data or data.get("DELETE") or not form.has_changed() and form.instance.pk is None:
            continue
        entries.append({key: data.get(key) for key in ("rank", "person", "branch", "citation")})
    return entries


class TopTenFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        selection = self.instance
        if any(self.errors) or selection.org_unit_id is None or selection.month is None:
            return
        error = services.validate_top_ten(selection, _formset_entries(self))
        if error is not None:
            raise error


class TopTenEntryInline(ScopedAdminMixin, admin.TabularInline):
    model = TopSecretaryEntry
    formset = TopTenFormSet
    fields = ["rank", "person", "branch", "citation"]
    autocomplete_fields = ["person", "branch"]  # scoped choices (see CommitteeMembershipAdmin)
    ordering = ["rank"]
    extra = 3
    max_num = services.MAX_TOP_TEN

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("person", "branch")

    def _editable(self, obj):
        return obj is None or not obj.published

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


@admin.register(TopSecretarySelection)
class TopSecretarySelectionAdmin(RefusalNotLoggedMixin, ServiceErrorsMixin, ScopedAdminMixin,
                                 admin.ModelAdmin):
    inlines = [TopTenEntryInline]
    fields = ["org_unit", "month", "published"]
    readonly_fields = ["published"]
    list_display = ["org_unit", "month_display", "entry_count", "published"]
    list_filter = ["published", ("org_unit", RelatedOnly)]
    list_select_related = ["org_unit"]
    actions = [export_xlsx, "publish", "unpublish"]
    ordering = ["-month"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(entry_total=Count("entries"))

    @admin.display(description=_("month"), ordering="month")
    def month_display(self, obj):
        return f"{obj.month:%Y-%m}"

    @admin.display(description=_("secretaries"), ordering="entry_total")
    def entry_count(self, obj):
        return obj.entry_total

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "org_unit" and formfield is not None:
            formfield.queryset = formfield.queryset.filter(
                kind__in=services.SELECTION_UNIT_KINDS
            ).order_by("tree_id", "lft")
        return formfield

    # A published selection is read-only until street staff unpublish it.
    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.published:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.published:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        """Saved with its entries in save_related: one service call, all or nothing (a new
        month is checked against the new entries, not the old ones)."""

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        selection = form.instance
        creating = selection.pk is None
        entries = [entry for formset in formsets for entry in _formset_entries(formset)]
        saved = self._run_service(request, services.save_top_ten_selection, request.user,
                                  selection, entries)
        if saved is None and creating:
            selection.pk = None  # rolled back: nothing to go on editing

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_top_ten_selection, request.user, obj)

    def delete_queryset(self, request, queryset):
        for selection in queryset:
            self._run_service(request, services.delete_top_ten_selection, request.user, selection)

    @admin.action(description=_("Publish the selected selections"), permissions=["change"])
    def publish(self, request, queryset):
        done = sum(
            1 for selection in queryset.select_related("org_unit").filter(published=False)
            if self._run_service(request, services.publish_top_ten, request.user, selection)
        )
        if done:
            self.message_user(request, ngettext(
                "%(n)d selection published.", "%(n)d selections published.", done)
                % {"n": done}, messages.SUCCESS)

    @admin.action(description=_("Unpublish the selected selections"), permissions=["change"])
    def unpublish(self, request, queryset):
        done = sum(
            1 for selection in queryset.filter(published=True)
            if self._run_service(request, services.unpublish_top_ten, request.user, selection)
        )
        if done:
            self.message_user(request, ngettext(
                "%(n)d selection unpublished.", "%(n)d selections unpublished.", done)
                % {"n": done}, messages.SUCCESS)

