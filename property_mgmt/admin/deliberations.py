"""Deliberations by the four-step method (支部提、多方议、集体决、群众评) and compound conventions.

A deliberation is proposed from the add page (services.propose); its change page is read-only and
shows one button for each step services.allowed_steps lets the reader take now, each opening a
small form that calls the step's service, and the log as a timeline. Conventions are adopted
through services.adopt_convention and never edited: a change is a new version.
"""

import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from grids.models import GridEvent
from grids.selectors import events_visible_to
from party_org.admin.members import ServiceSaveMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin
from party_org.selectors import in_scope

from .. import services
from ..models import (
    ONE_PLUS_THREE_PLUS_N,
    Convention,
    Deliberation,
    DeliberationStatus,
    PartyKind,
)
from ..selectors import NOTICE_STATUSES
from .base import (
    RowActionForm,
    ServiceForm,
    ServiceFormAdminMixin,
    no_bulk_delete,
    run_row_action,
)

S = DeliberationStatus
RelatedOnly = admin.RelatedOnlyFieldListFilter

# The button (imperative) for each step.
STEP_BUTTONS = {
    "discuss": _("Record the discussion (多方议)"),
    "decide": _("Record the decision (集体决)"),
    "publicise": _("Publish the notice (公示)"),
    "review": _("Record the residents' review (群众评)"),
}
NAMES_SPLIT = re.compile(r"[,，、;；\n]+")


class NoticeFilter(admin.SimpleListFilter):
    title = _("public notice")
    parameter_name = "notice"

    def lookups(self, request, model_admin):
        return [("now", _("under public notice today"))]

    def queryset(self, request, queryset):
        if self.value() == "now":
            today = timezone.localdate()
            return queryset.filter(status__in=NOTICE_STATUSES, publicised_from__lte=today,
                                   publicised_until__gte=today)
        return queryset


# ---- proposing -------------------------------------------------------------------------------


class ProposeForm(ServiceForm):
    parties = forms.MultipleChoiceField(
        label=_("parties"), choices=PartyKind.choices, initial=ONE_PLUS_THREE_PLUS_N,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The “1+3+N” mechanism: the branch, the residents' committee, the company "
                    "and the owners' committee, and the others concerned."),
    )

    class Meta:
        model = Deliberation
        fields = ["org_unit", "compound", "topic", "background"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "org_unit" in self.fields:
            field = self.fields["org_unit"]
            field.required = False
            field.help_text = _("Empty: the party organisation that covers the compound.")
        if "compound" in self.fields:
            field = self.fields["compound"]
            field.queryset = field.queryset.filter(is_active=True)

    def perform(self, data):
        return services.propose(
            self.user, org_unit=data.get("org_unit"), compound=data.get("compound"),
            topic=data["topic"], background=data.get("background", ""),
            parties=list(data.get("parties") or []),
        )


# ---- the steps -------------------------------------------------------------------------------


def _number(label, **kwargs):
    return forms.IntegerField(label=label, min_value=0, max_value=10**7, **kwargs)


class DiscussForm(RowActionForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["minutes"] = forms.CharField(
            label=_("minutes"), max_length=8000,
            widget=forms.Textarea(attrs={"rows": 8, "cols": 70}),
        )
        for party in self.obj.parties or ONE_PLUS_THREE_PLUS_N:
            self.fields[f"party_{party}"] = forms.CharField(
                label=PartyKind(party).label, required=False, max_length=600,
                widget=forms.TextInput(attrs={"size": 60}),
                help_text=_("Who attended for them; separate names with commas."),
            )

    def attendance(self):
        rows = []
        for name, value in self.cleaned_data.items():
            if name.startswith("party_"):
                party = name[len("party_"):]
                rows += [(party, person.strip()) for person in NAMES_SPLIT.split(value or "")
                         if person.strip()]
        return rows

    def perform(self):
        return services.discuss(self.user, self.obj, minutes=self.cleaned_data["minutes"],
                                attendance=self.attendance())


class DecideForm(RowActionForm):
    decision = forms.CharField(label=_("decision"), max_length=4000,
                               widget=forms.Textarea(attrs={"rows": 6, "cols": 70}))
    votes_for = _number(_("votes for"))
    votes_against = _number(_("votes against"), initial=0)
    votes_abstain = _number(_("abstentions"), initial=0)

    def perform(self):
        data = self.cleaned_data
        return services.decide(self.user, self.obj, decision=data["decision"],
                               votes_for=data["votes_for"], votes_against=data["votes_against"],
                               votes_abstain=data["votes_abstain"])


class PubliciseForm(RowActionForm):
    days = forms.IntegerField(label=_("days on the public page"), min_value=1,
                              max_value=services.PUBLICISE_MAX_DAYS, initial=7)
    start = forms.DateField(label=_("from"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}),
                            help_text=_("Empty: today."))

    def perform(self):
        data = self.cleaned_data
        return services.publicise(self.user, self.obj, days=data["days"], start=data.get("start"))


class ReviewForm(RowActionForm):
    satisfied = _number(_("residents satisfied"))
    unsatisfied = _number(_("residents not satisfied"))

    def perform(self):
        data = self.cleaned_data
        return services.review(self.user, self.obj, satisfied=data["satisfied"],
                               unsatisfied=data["unsatisfied"])


class LinkEventsForm(RowActionForm):
    events = forms.CharField(
        label=_("grid events"), max_length=600,
        help_text=_("Case numbers or tracking codes of the events the decision resolves, "
                    "separated by commas or spaces."),
    )

    def clean_events(self):
        wanted = [v for v in re.split(r"[\s,，、;；]+", self.cleaned_data["events"]) if v]
        visible = events_visible_to(self.user, GridEvent.objects.all())
        found, missing = [], []
        for value in wanted[:50]:
            event = visible.filter(
                Q(case_number__iexact=value) | Q(tracking_code=value.upper())).first()
            if event is None:
                missing.append(value)
            else:
                found.append(event)
        if missing:
            raise ValidationError(gettext("No event in your area has the number %(numbers)s.")
                                  % {"numbers": "、".join(missing)})
        return found

    def perform(self):
        return services.link_events(self.user, self.obj, self.cleaned_data["events"])


STEP_FORMS = {
    "discuss": DiscussForm,
    "decide": DecideForm,
    "publicise": PubliciseForm,
    "review": ReviewForm,
}


# ---- deliberations ---------------------------------------------------------------------------


@admin.register(Deliberation)
class DeliberationAdmin(ServiceFormAdminMixin, ServiceSaveMixin, ServiceErrorsMixin,
                        ScopedAdminMixin, admin.ModelAdmin):
    form = ProposeForm
    list_display = ["topic", "place", "status_badge", "proposed_at", "notice", "review_result"]
    export_fields = [
        "topic", "place", "status", "proposed_at", "decision", "votes", "publicised_from",
        "publicised_until", "satisfied", "unsatisfied",
    ]
    list_filter = ["status", NoticeFilter, ("org_unit", RelatedOnly)]
    list_select_related = ["org_unit", "compound"]
    search_fields = ["topic", "decision", "compound__name", "org_unit__name"]
    autocomplete_fields = ["org_unit", "compound"]
    date_hierarchy = "proposed_at"
    list_per_page = 50

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["org_unit", "compound", "topic", "background",
                                       "parties"]})]

        def section(title, fields, shown):
            return (title, {"fields": fields, "classes": [] if shown else ["collapse"]})

        reached = [S.PROPOSED, S.DISCUSSING, S.DECIDED, S.PUBLICISED, S.REVIEWED].index(
            obj.status)
        return [
            (None, {"fields": ["topic", ("status", "proposed_at"), ("org_unit", "compound"),
                               "parties_display", "background"]}),
            section(_("Discussion (多方议)"), ["minutes", "attendance_display"], reached >= 1),
            section(_("Decision (集体决)"), ["decision", ("votes", "decided_at")], reached >= 2),
            section(_("Public notice"), [("publicised_from", "publicised_until")],
                    reached >= 3),
            section(_("Residents' review (群众评)"),
                    [("satisfied", "unsatisfied", "reviewed_at")], reached >= 4),
            section(_("Grid events resolved"), ["events_display"], True),
        ]

    def has_change_permission(self, request, obj=None):
        if obj is not None:
            return False  # moves only through its steps
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return no_bulk_delete(super().get_actions(request))

    # ---- columns and read-only fields

    @admin.display(description=_("compound or organisation"))
    def place(self, obj):
        return obj.compound.name if obj.compound_id else obj.org_unit.name

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return format_html('<span class="pm-status pm-status--{}">{}</span>', obj.status,
                           obj.get_status_display())

    @admin.display(description=_("public notice"))
    def notice(self, obj):
        if obj.publicised_from is None:
            return "—"
        return f"{obj.publicised_from} – {obj.publicised_until}"

    @admin.display(description=_("review"))
    def review_result(self, obj):
        if obj.status != S.REVIEWED:
            return "—"
        return gettext("%(yes)s satisfied, %(no)s not") % {"yes": obj.satisfied,
                                                          "no": obj.unsatisfied}

    @admin.display(description=_("vote (for : against : abstain)"))
    def votes(self, obj):
        if obj.votes_for is None:
            return "—"
        return f"{obj.votes_for} : {obj.votes_against} : {obj.votes_abstain}"

    @admin.display(description=_("parties"))
    def parties_display(self, obj):
        labels = dict(PartyKind.choices)
        return "、".join(str(labels.get(p, p)) for p in obj.parties or [])

    @admin.display(description=_("attendance"))
    def attendance_display(self, obj):
        rows = list(obj.attendance.order_by("pk"))
        if not rows:
            return "—"
        by_party = {}
        for row in rows:
            by_party.setdefault(row.get_party_display(), []).append(row.name)
        return "；".join(f"{party}：{'、'.join(names)}" for party, names in by_party.items())

    @admin.display(description=_("grid events resolved"))
    def events_display(self, obj):
        events = list(obj.events.order_by("pk"))
        return "、".join(e.case_number or e.tracking_code for e in events) or "—"

    # ---- the change page

    def _may_link(self, request, deliberation):
        return request.user.has_perm("property_mgmt.change_deliberation") and in_scope(
            request.user, deliberation.org_unit)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        deliberation = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if deliberation is not None:
            step_url = "admin:property_mgmt_deliberation_step"
            buttons = [
                {"step": step, "label": STEP_BUTTONS[step], "primary": True,
                 "url": reverse(step_url, args=[deliberation.pk, step])}
                for step in services.allowed_steps(request.user, deliberation)
            ]
            if self._may_link(request, deliberation):
                buttons.append({"step": "link", "label": gettext("Link grid events"),
                                "primary": False,
                                "url": reverse(step_url, args=[deliberation.pk, "link"])})
            context["panel"] = {
                "badge": deliberation.get_status_display(),
                "status": deliberation.status,
                "lines": [],
                "buttons": buttons,
                "empty": gettext("No step is open to you on this deliberation now."),
            }
            context["timeline"] = [
                {
                    "at": log.at,
                    "from_status": S(log.from_status).label if log.from_status else "",
                    "to_status": S(log.to_status).label if log.to_status else "",
                    "moved": log.from_status != log.to_status,
                    "by": (log.actor.get_full_name() or log.actor.get_username())
                    if log.actor_id else "",
                    "note": log.note,
                }
                for log in deliberation.logs.select_related("actor").order_by("at", "pk")
            ]
            context["first_sections"] = ["admin/property_mgmt/_timeline.html"]
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self):
        return [
            path("<path:object_id>/step/<str:step>/", self.admin_site.admin_view(self.step_view),
                 name="property_mgmt_deliberation_step"),
            *super().get_urls(),
        ]

    def step_view(self, request, object_id, step):
        deliberation = self.get_object(request, unquote(object_id))
        if deliberation is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        back = reverse("admin:property_mgmt_deliberation_change", args=[deliberation.pk])
        if step == "link":
            allowed, form_class, label = (self._may_link(request, deliberation), LinkEventsForm,
                                          gettext("Link grid events"))
        else:
            allowed = step in services.allowed_steps(request.user, deliberation)
            form_class, label = STEP_FORMS.get(step), STEP_BUTTONS.get(step)
        if form_class is None or not allowed:
            self.message_user(request, gettext("This step cannot be taken on this deliberation "
                                               "now."), messages.ERROR)
            return HttpResponseRedirect(back)
        place = deliberation.compound or deliberation.org_unit
        return run_row_action(
            self, request, deliberation, form_class, title=f"{label} · {deliberation}",
            submit=label, back_url=back,
            summary=[deliberation.topic, f"{place} · {deliberation.get_status_display()}"],
            success=gettext("%(topic)s: %(step)s.") % {"topic": deliberation.topic,
                                                       "step": label},
        )


# ---- conventions -----------------------------------------------------------------------------


class AdoptForm(ServiceForm):
    class Meta:
        model = Convention
        fields = ["compound", "title", "text", "adopted_on", "deliberation"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "compound" in self.fields:
            field = self.fields["compound"]
            field.queryset = field.queryset.filter(is_active=True)
        if "deliberation" in self.fields:
            field = self.fields["deliberation"]
            field.queryset = field.queryset.exclude(
                status__in=[S.PROPOSED, S.DISCUSSING]).select_related("compound")

    def perform(self, data):
        return services.adopt_convention(
            self.user, data["compound"], title=data["title"], text=data["text"],
            adopted_on=data["adopted_on"], deliberation=data.get("deliberation"),
        )


@admin.register(Convention)
class ConventionAdmin(ServiceFormAdminMixin, ServiceSaveMixin, ServiceErrorsMixin,
                      ScopedAdminMixin, admin.ModelAdmin):
    """A convention is adopted as a new version; versions are never edited."""

    form = AdoptForm
    list_display = ["compound", "version", "title", "adopted_on", "deliberation"]
    export_fields = list_display
    list_select_related = ["compound", "deliberation"]
    list_filter = [("compound", RelatedOnly)]
    search_fields = ["compound__name", "title", "text"]
    autocomplete_fields = ["compound"]
    date_hierarchy = "adopted_on"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["compound", "title", "text", "adopted_on", "deliberation"]
        return ["compound", "version", "title", "adopted_on", "deliberation", "text"]

    def has_change_permission(self, request, obj=None):
        if obj is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return no_bulk_delete(super().get_actions(request))
