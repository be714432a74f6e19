"""Owners' and property management committees: elected through the service, members and the
seven rules documents kept in inlines (each row through its service), terms ending soon, and
the cross-appointments page (双向进入、交叉任职, 一肩挑)."""

import datetime as dt

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, Q
from django.forms.models import construct_instance
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from grids.models import Compound
from party_org.admin.members import ServiceSaveMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin
from party_org.personal_data import phone_for
from party_org.selectors import Subtree

from .. import selectors, services
from ..models import (
    Committee,
    CommitteeDocument,
    CommitteeMember,
    CommitteeMemberRole,
    CompanyStaff,
)
from .base import ServiceForm, ServiceFormAdminMixin, chosen_unit, no_bulk_delete

TERMS_ENDING_DAYS = 90


class TermsEndingFilter(admin.SimpleListFilter):
    title = _("term")
    parameter_name = "term"

    def lookups(self, request, model_admin):
        return [("ending", _("term ending within 90 days"))]

    def queryset(self, request, queryset):
        if self.value() == "ending":
            # The condition of selectors.terms_ending, on the scoped list.
            limit = timezone.localdate() + dt.timedelta(days=TERMS_ENDING_DAYS)
            return queryset.filter(is_active=True, compound__is_active=True,
                                   term_ends_on__lte=limit)
        return queryset


class ElectForm(ServiceForm):
    class Meta:
        model = Committee
        fields = ["compound", "kind", "elected_on", "term_ends_on"]
        help_texts = {
            "elected_on": _("The committee sitting until then stops sitting the day before."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "compound" in self.fields:
            field = self.fields["compound"]
            field.queryset = field.queryset.filter(is_active=True)

    def perform(self, data):
        if self.instance.pk is not None:
            return self.instance  # the committee's own fields are not edited
        return services.elect_committee(self.user, data["compound"], data["kind"],
                                        data["elected_on"], data["term_ends_on"])


# ---- inlines ---------------------------------------------------------------------------------


class MemberForm(forms.ModelForm):
    class Meta:
        model = CommitteeMember
        fields = ["person", "role", "started_on", "ended_on"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # A seat is ended, never handed to someone else.
            for name in ("person", "role", "started_on"):
                if name in self.fields:
                    self.fields[name].disabled = True
            if self.instance.ended_on and "ended_on" in self.fields:
                self.fields["ended_on"].disabled = True
        elif "started_on" in self.fields:
            self.fields["started_on"].required = False
            self.fields["started_on"].help_text = _("Empty: the day of the election.")

    def _post_clean(self):
        # Only fill the row in: the service checks the seat when the formset is saved.
        self.instance = construct_instance(self, self.instance, self._meta.fields)


class MemberInline(ScopedAdminMixin, admin.TabularInline):
    model = CommitteeMember
    form = MemberForm
    fields = ["person", "role", "phone", "started_on", "ended_on"]
    readonly_fields = ["phone"]
    autocomplete_fields = ["person"]
    extra = 1
    can_delete = False
    verbose_name_plural = _("members")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("person").order_by(
            "-ended_on", "role", "pk")

    @admin.display(description=_("phone"))
    def phone(self, obj):
        if obj is None or obj.pk is None:
            return ""
        return phone_for(obj.person, "admin:committeemember:inline") or "—"


class DocumentForm(forms.ModelForm):
    class Meta:
        model = CommitteeDocument
        fields = ["kind", "file", "adopted_on"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "kind" in self.fields:
            self.fields["kind"].disabled = True  # a newer file replaces the kept one

    def _post_clean(self):
        self.instance = construct_instance(self, self.instance, self._meta.fields)


class DocumentInline(ScopedAdminMixin, admin.TabularInline):
    model = CommitteeDocument
    form = DocumentForm
    fields = ["kind", "file", "adopted_on"]
    extra = 1
    max_num = 7
    can_delete = False
    verbose_name_plural = _("rules documents (the seven rules)")


# ---- committees ------------------------------------------------------------------------------


@admin.register(Committee)
class CommitteeAdmin(ServiceFormAdminMixin, ServiceSaveMixin, ServiceErrorsMixin,
                     ScopedAdminMixin, admin.ModelAdmin):
    form = ElectForm
    list_display = [
        "compound", "kind", "elected_on", "term_end", "is_active", "chair", "member_count",
    ]
    export_fields = [
        "compound", "kind", "elected_on", "term_ends_on", "is_active", "ended_on", "chair",
        "member_count",
    ]
    list_filter = [TermsEndingFilter, "kind", "is_active"]
    list_select_related = ["compound"]
    search_fields = ["compound__name"]
    autocomplete_fields = ["compound"]
    date_hierarchy = "elected_on"
    inlines = [MemberInline, DocumentInline]

    def get_queryset(self, request):
        chairs = CommitteeMember.objects.filter(
            role=CommitteeMemberRole.CHAIR, ended_on__isnull=True).select_related("person")
        return super().get_queryset(request).annotate(
            sitting_members=Count("members", filter=Q(members__ended_on__isnull=True)),
        ).prefetch_related(Prefetch("members", queryset=chairs, to_attr="chairs"))

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["compound", "kind", "elected_on", "term_ends_on"]
        return ["compound", "kind", "elected_on", "term_ends_on", "is_active", "ended_on"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["compound", "kind", "elected_on", "term_ends_on", "is_active", "ended_on"]

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return no_bulk_delete(super().get_actions(request))

    @admin.display(description=_("term ends on"), ordering="term_ends_on")
    def term_end(self, obj):
        soon = obj.is_active and obj.term_ends_on <= (
            timezone.localdate() + dt.timedelta(days=TERMS_ENDING_DAYS))
        if not soon:
            return obj.term_ends_on.isoformat()
        return format_html('<span class="pm-badge pm-badge--warn">{}</span>',
                           obj.term_ends_on.isoformat())

    @admin.display(description=_("chair"))
    def chair(self, obj):
        chairs = getattr(obj, "chairs", None)
        if chairs is None:
            chairs = list(obj.members.filter(role=CommitteeMemberRole.CHAIR,
                                             ended_on__isnull=True).select_related("person"))
        return chairs[0].person.name if chairs else "—"

    @admin.display(description=_("members"), ordering="sitting_members")
    def member_count(self, obj):
        return getattr(obj, "sitting_members", None)

    # ---- the inlines, each row through its service

    def save_formset(self, request, form, formset, change):
        committee, user, run = form.instance, request.user, self._run_service
        if formset.model is CommitteeMember:
            formset.save(commit=False)
            for member, fields in formset.changed_objects:
                if "ended_on" in fields and member.ended_on:
                    run(request, services.end_committee_member, user, member, member.ended_on)
            for member in formset.new_objects:
                run(request, lambda m=member: services.add_committee_member(
                    user, committee, person=m.person, role=m.role, started_on=m.started_on))
            return
        formset.save(commit=False)  # the lists the change message reads; nothing is written
        for row in formset.forms:
            if not row.has_changed() or not hasattr(row, "cleaned_data"):
                continue
            data = row.cleaned_data
            kind = row.instance.kind if row.instance.pk else data.get("kind")
            upload = data.get("file") or (row.instance.file if row.instance.pk else None)
            run(request, lambda k=kind, f=upload, d=data.get("adopted_on"):
                services.attach_rules_document(user, committee, kind=k, file=f, adopted_on=d))

    # ---- cross-appointments

    def changelist_view(self, request, extra_context=None):
        context = dict(extra_context or {})
        context["extra_tools"] = [{
            "label": gettext("Cross-appointments and 一肩挑"),
            "url": reverse("admin:property_mgmt_committee_cross"),
        }]
        return super().changelist_view(request, context)

    def get_urls(self):
        return [
            path("cross-appointments/", self.admin_site.admin_view(self.cross_view),
                 name="property_mgmt_committee_cross"),
            *super().get_urls(),
        ]

    def cross_view(self, request):
        """Per compound of a unit's subtree: the people who sit both on the party committee of
        its branch (or general branch, or community) and on its committee or with its company,
        and whether the branch secretary chairs the committee (一肩挑)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        unit, units = chosen_unit(request)
        rows, totals = [], {"compounds": 0, "cross": 0, "one_shoulder": 0}
        if unit is not None:
            compounds = list(
                Compound.objects.filter(Subtree.of(unit).q("org_unit"), is_active=True)
                .select_related("org_unit").order_by("org_unit__lft", "name")
            )
            cross = selectors.cross_appointments(compounds)
            shoulders = selectors.one_shoulder(compounds)
            totals["compounds"] = len(compounds)
            for compound in compounds:
                people = cross.get(compound.pk) or []
                shoulder = shoulders.get(compound.pk)
                if people:
                    totals["cross"] += 1
                if shoulder is not None:
                    totals["one_shoulder"] += 1
                if not people and shoulder is None:
                    continue
                rows.append({
                    "compound": compound,
                    "branch": compound.org_unit.name,
                    "one_shoulder": shoulder.name if shoulder is not None else "",
                    "people": [
                        {"name": entry.person.name,
                         "party": [f"{seat.org_unit.name} · {seat.get_role_display()}"
                                   for seat in entry.party_seats],
                         "property": [_property_role(role) for role in entry.property_roles]}
                        for entry in people
                    ],
                })
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Cross-appointments (双向进入、交叉任职) and 一肩挑"),
            "unit": unit, "units": units, "rows": rows, "totals": totals,
        }
        return TemplateResponse(request, "admin/property_mgmt/cross_appointments.html", context)


def _property_role(role):
    if isinstance(role, CompanyStaff):
        return f"{role.company.name} · {role.role}"
    return f"{role.committee.get_kind_display()} · {role.get_role_display()}"
