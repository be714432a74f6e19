"""grids admin: grid events (the six-step loop), departments and event categories.

Events are never edited as free forms. The add page reports an event through
services.events.report_event; the change page is read-only and shows the photos, the timeline
and one button for each step services.events.allowed_actions lets the reader take now. Each
button opens a small form (a view of this admin) that calls the step's service. The list reads
events through grids.selectors.events_visible_to, so a department's staff also see the events
called to their department.
"""

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import BooleanField, Count, ExpressionWrapper, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from party_org import pii
from party_org.admin.members import ServiceSaveMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin
from party_org.personal_data import can_view, reveal
from party_org.selectors import scoped

from .. import selectors
from ..forms import validate_photo
from ..models import (
    OPEN_STATUSES,
    Department,
    EventAction,
    EventCategory,
    GridEvent,
)
from ..services import events as services

A = EventAction
RelatedOnly = admin.RelatedOnlyFieldListFilter

# Photos are served, scope-checked, by the report pages; the admin only links to them.
PHOTO_URL = "/report/photos/{}/"

# The button (imperative) for each step; the log shows the past tense from EventAction.
STEP_LABELS = {
    A.FILE: _("File the case"),
    A.ASSIGN: _("Assign a handler"),
    A.START: _("Start work"),
    A.FEEDBACK: _("Report the result"),
    A.SEND_BACK: _("Send back"),
    A.CLOSE: _("Close the case"),
    A.ESCALATE: _("Escalate (吹哨)"),
    A.ACKNOWLEDGE: _("Report for the department (报到)"),
    A.DUPLICATE: _("Link as a duplicate"),
}
# Steps that end or push the case on get the primary look; sending back and duplicates a quiet one.
PRIMARY_STEPS = (A.FILE, A.ASSIGN, A.START, A.FEEDBACK, A.CLOSE, A.ACKNOWLEDGE)


def user_label(user):
    return (user.get_full_name() or user.get_username()) if user is not None else ""


def _two_lines(moment):
    # Date over time: the list has many columns.
    if moment is None:
        return "—"
    local = timezone.localtime(moment)
    return format_html('{}<br><span class="event-clock">{}</span>',
                       local.strftime("%Y-%m-%d"), local.strftime("%H:%M"))


def photo_field(label):
    # The same check and size cap as the residents' report page.
    return forms.FileField(
        label=label, required=False, validators=[validate_photo],
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )


def with_overdue(queryset, now=None):
    """Events annotated with `overdue_flag`: open and past the step's deadline."""
    now = now or timezone.now()
    return queryset.annotate(
        overdue_flag=ExpressionWrapper(
            Q(status__in=OPEN_STATUSES, due_at__lt=now), output_field=BooleanField()
        )
    )


class OverdueFilter(admin.SimpleListFilter):
    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(overdue_flag=True)
        if self.value() == "no":
            return queryset.filter(overdue_flag=False)
        return queryset


# ---- reporting from the admin ----------------------------------------------------------------


class EventAddForm(forms.ModelForm):
    """Staff report an event; saving calls services.events.report_event."""

    photo = photo_field(_("photo"))

    user = None  # set per request by GridEventAdmin.get_form

    class Meta:
        model = GridEvent
        fields = [
            "compound", "building", "category", "source", "description", "location",
            "reporter_name", "reporter_phone",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "compound" in self.fields:
            field = self.fields["compound"]
            field.required = True
            field.queryset = field.queryset.filter(is_active=True)
        if "category" in self.fields:
            field = self.fields["category"]
            field.queryset = field.queryset.filter(is_active=True)

    def save(self, commit=True):
        data = self.cleaned_data
        return services.report_event(
            self.user, category=data["category"], description=data["description"],
            source=data["source"], compound=data["compound"], building=data.get("building"),
            location=data.get("location", ""), reporter_name=data.get("reporter_name", ""),
            reporter_phone=data.get("reporter_phone", ""),
            photos=[data["photo"]] if data.get("photo") else [],
        )

    def save_m2m(self):
        """Nothing: the service saved everything."""


# ---- the step forms --------------------------------------------------------------------------


class StepForm(forms.Form):
    """What one step needs; `perform` calls its service."""

    note_required = False
    # The service's error keys that belong to a field of this form under another name.
    error_fields = {}

    def __init__(self, *args, event, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.event, self.user = event, user
        self.fields["note"] = forms.CharField(
            label=_("note"), required=self.note_required, max_length=2000,
            widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        )

    def add_service_error(self, error):
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        for key, errors in error.error_dict.items():
            field = self.error_fields.get(key, key)
            self.add_error(field if field in self.fields else None, errors)

    @property
    def note(self):
        return self.cleaned_data.get("note", "")

    def perform(self):
        raise NotImplementedError


class FileForm(StepForm):
    def perform(self):
        return services.file_event(self.user, self.event, note=self.note)


class HandlerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        name = user_label(obj)
        return name if name == obj.get_username() else f"{name}（{obj.get_username()}）"


class AssignForm(StepForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["handler"] = HandlerChoiceField(
            label=_("handler"), queryset=selectors.event_handler_candidates(self.event),
            initial=self.event.handler_id,
            help_text=_("Staff whose area contains the event and who may handle events."),
        )
        self.order_fields(["handler", "note"])

    def perform(self):
        return services.assign_event(
            self.user, self.event, self.cleaned_data["handler"], note=self.note
        )


class StartForm(StepForm):
    def perform(self):
        return services.start_event(self.user, self.event, note=self.note)


class FeedbackForm(StepForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["result"] = forms.CharField(
            label=_("result"), max_length=2000,
            widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
            help_text=_("What was done."),
        )
        self.fields["photo"] = photo_field(_("photo of the result"))
        self.order_fields(["result", "photo", "note"])

    def perform(self):
        photo = self.cleaned_data.get("photo")
        return services.report_result(
            self.user, self.event, self.cleaned_data["result"], note=self.note,
            photos=[photo] if photo else [],
        )


class SendBackForm(StepForm):
    note_required = True

    def perform(self):
        return services.send_back(self.user, self.event, self.note)


class CloseForm(StepForm):
    def perform(self):
        return services.close_event(self.user, self.event, note=self.note)


class EscalateForm(StepForm):
    note_required = True
    error_fields = {"to_unit": "target", "department": "target"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.units = {str(u.pk): u for u in services.escalation_targets(self.event)}
        self.departments = {str(d.pk): d for d in services.departments_for(self.event)}
        choices = [("", "---------")]
        if self.units:
            choices.append((gettext("Community or street"),
                            [(f"unit:{pk}", u.name) for pk, u in self.units.items()]))
        if self.departments:
            choices.append((gettext("Department"),
                            [(f"department:{pk}", d.name) for pk, d in self.departments.items()]))
        self.fields["target"] = forms.ChoiceField(
            label=_("escalate to"), choices=choices,
            help_text=_("The level above the event, or a functional department that must "
                        "report (报到)."),
        )
        self.fields["note"].help_text = _("Why the event needs them.")
        self.order_fields(["target", "note"])

    def clean_target(self):
        kind, _sep, pk = self.cleaned_data["target"].partition(":")
        found = (self.units if kind == "unit" else self.departments).get(pk)
        if found is None:
            raise ValidationError(_("Choose where to escalate the event."))
        return kind, found

    def perform(self):
        kind, target = self.cleaned_data["target"]
        return services.escalate(
            self.user, self.event, note=self.note,
            to_unit=target if kind == "unit" else None,
            department=target if kind == "department" else None,
        )


class AcknowledgeForm(StepForm):
    def perform(self):
        return services.acknowledge(self.user, self.event, note=self.note)


class DuplicateForm(StepForm):
    error_fields = {"duplicate_of": "original"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["original"] = forms.CharField(
            label=_("original event"), max_length=30,
            help_text=_("The case number, tracking code or id of the event this one repeats."),
        )
        self.order_fields(["original", "note"])

    def clean_original(self):
        value = self.cleaned_data["original"].strip()
        lookup = Q(case_number__iexact=value) | Q(tracking_code=value.upper())
        if value.isdigit() and int(value) < 2**63:
            lookup |= Q(pk=int(value))
        original = (
            scoped(self.user, GridEvent.objects.all()).filter(lookup).exclude(pk=self.event.pk)
            .first()
        )
        if original is None:
            raise ValidationError(_("No other event in your area has this number."))
        return original

    def perform(self):
        return services.link_duplicate(
            self.user, self.event, self.cleaned_data["original"], note=self.note
        )


STEP_FORMS = {
    A.FILE: FileForm,
    A.ASSIGN: AssignForm,
    A.START: StartForm,
    A.FEEDBACK: FeedbackForm,
    A.SEND_BACK: SendBackForm,
    A.CLOSE: CloseForm,
    A.ESCALATE: EscalateForm,
    A.ACKNOWLEDGE: AcknowledgeForm,
    A.DUPLICATE: DuplicateForm,
}


# ---- events ----------------------------------------------------------------------------------


ADD_FIELDS = [
    "compound", "building", "category", "source", "description", "location",
    "reporter_name", "reporter_phone", "photo",
]


@admin.register(GridEvent)
class GridEventAdmin(ServiceSaveMixin, ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    form = EventAddForm
    list_display = [
        "number", "category", "compound", "source", "status_badge", "overdue_badge",
        "handler_name", "reported", "due",
    ]
    list_display_links = ["number"]
    export_fields = [
        "number", "category", "compound", "source", "status", "overdue_text", "handler_name",
        "reported_at", "due_at", "description",
    ]
    list_filter = ["status", "category", "source", OverdueFilter, "was_escalated"]
    list_select_related = ["category", "compound", "handler"]
    search_fields = ["case_number", "tracking_code", "description"]
    date_hierarchy = "reported_at"
    autocomplete_fields = ["compound", "building"]
    list_per_page = 50

    def get_queryset(self, request):
        # Not ScopedAdminMixin's org-unit scope alone: events called to a department the user
        # staffs are visible too (one selector for the admin and the API).
        queryset = admin.ModelAdmin.get_queryset(self, request)
        return with_overdue(selectors.events_visible_to(request.user, queryset))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # Department staff (职能部门) hold no role on the tree; staffing a department is what lets
    # them see the events called to it and report (报到).
    def _staffs_a_department(self, request):
        if not request.user.is_authenticated:
            return False
        cached = getattr(request, "_staffs_department", None)
        if cached is None:
            cached = request._staffs_department = request.user.departments.filter(
                is_active=True
            ).exists()
        return cached

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or self._staffs_a_department(request)

    def has_module_permission(self, request):
        return super().has_module_permission(request) or self._staffs_a_department(request)

    # An event changes only through the steps of the loop: its page is read-only for all.
    def has_change_permission(self, request, obj=None):
        if obj is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ADD_FIELDS})]
        place = [("compound", "building"), ("grid", "location")]
        if obj.latitude is not None:
            place.append(("latitude", "longitude"))

        def section(title, fields, shown=True):
            # Sections with nothing in them yet start folded: every field stays on the page.
            return (title, {"fields": fields, "classes": [] if shown else ["collapse"]})

        return [
            (None, {"fields": [
                ("case_number", "tracking_code"), ("status", "source"), ("category", "org_unit"),
                *place, "description",
            ]}),
            section(_("People"), [
                ("reporter_name", "reporter_phone_display"), ("reporter", "reported_by"),
                "handler_display",
            ]),
            section(_("Deadlines"), [
                ("reported_at", "status_changed_at"), ("due_at", "final_due_at"),
                ("closed_at", "handling_time"),
            ]),
            section(_("Escalation (吹哨报到)"), [
                ("was_escalated", "escalated_to"), ("department", "department_acknowledged_at"),
            ], shown=obj.was_escalated or obj.department_id is not None),
            section(_("Result and rating"), [
                "result", ("rating", "rating_comment"), ("rated_at", "reopened_count"),
                "duplicate_of",
            ], shown=bool(obj.result or obj.rating or obj.duplicate_of_id or obj.reopened_count)),
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = type("EventAddForm", (EventAddForm,), {"user": request.user})
        else:
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, change=change, **kwargs)

    # ---- list columns

    @admin.display(description=_("case number"), ordering="case_number")
    def number(self, obj):
        return obj.case_number or obj.tracking_code

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return format_html(
            '<span class="event-status event-status--{}">{}</span>',
            obj.status.replace("_", ""), obj.get_status_display(),
        )

    @admin.display(description=_("handler"), ordering="handler__username")
    def handler_name(self, obj):
        return user_label(obj.handler) if obj.handler_id else "—"

    @admin.display(description=_("reported at"), ordering="reported_at")
    def reported(self, obj):
        return _two_lines(obj.reported_at)

    @admin.display(description=_("step due at"), ordering="due_at")
    def due(self, obj):
        return _two_lines(obj.due_at)

    @admin.display(description=_("overdue"), ordering="overdue_flag")
    def overdue_badge(self, obj):
        overdue = getattr(obj, "overdue_flag", None)
        if overdue is None:
            overdue = obj.is_overdue(timezone.now())
        if not overdue:
            return ""
        return format_html('<span class="event-badge event-badge--overdue">{}</span>',
                           gettext("overdue"))

    @admin.display(description=_("overdue"))
    def overdue_text(self, obj):
        return bool(getattr(obj, "overdue_flag", False))

    # ---- read-only page

    @admin.display(description=_("reporter's phone"))
    def reporter_phone_display(self, obj):
        return reveal(
            obj.reporter, "phone", obj.reporter_phone, pii.mask_phone(obj.reporter_phone),
            "admin:gridevent:change",
        ) or "—"

    @admin.display(description=_("handler"))
    def handler_display(self, obj):
        return user_label(obj.handler) if obj.handler_id else "—"

    @admin.display(description=_("reported by (staff)"))
    def reported_by(self, obj):
        return user_label(obj.reporter_user) if obj.reporter_user_id else "—"

    @admin.display(description=_("handling time"))
    def handling_time(self, obj):
        if obj.handling_seconds is None:
            return "—"
        delta = dt.timedelta(seconds=obj.handling_seconds)
        hours, rest = divmod(delta.seconds, 3600)
        return gettext("%(days)d d %(hours)d h %(minutes)d min") % {
            "days": delta.days, "hours": hours, "minutes": rest // 60,
        }

    def _event_context(self, request, event):
        step_url = "admin:grids_gridevent_step"
        buttons = [
            {"action": action, "label": STEP_LABELS[action],
             "url": reverse(step_url, args=[event.pk, action]),
             "primary": action in PRIMARY_STEPS}
            for action in services.allowed_actions(request.user, event)
        ]
        timeline = [
            {
                "at": log.at, "action": log.get_action_display(),
                "from_status": log.get_from_status_display() if log.from_status else "",
                "to_status": log.get_to_status_display() if log.to_status else "",
                "moved": bool(log.from_status) and log.from_status != log.to_status,
                "by": user_label(log.actor) if log.actor_id else log.actor_label,
                "note": log.note,
            }
            for log in event.logs.select_related("actor").order_by("at", "pk")
        ]
        photos = [
            {"url": PHOTO_URL.format(photo.pk), "stage": photo.get_stage_display(),
             "uploaded_at": photo.uploaded_at}
            for photo in event.photos.order_by("uploaded_at", "pk")
        ]
        return {
            "step_buttons": buttons, "timeline": timeline, "photos": photos,
            "event_overdue": event.is_overdue(timezone.now()),
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        event = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if event is not None and self.has_view_permission(request, event):
            context.update(self._event_context(request, event))
        return super().change_view(request, object_id, form_url, context)

    # ---- saving a new event through the service

    def save_form(self, request, form, change):
        return form.instance  # the service creates the event in save_model

    def save_model(self, request, obj, form, change):
        event = self._run_service(request, form.save)
        if event is not None:
            obj.pk, obj.tracking_code = event.pk, event.tracking_code

    def save_related(self, request, form, formsets, change):
        """Nothing: the service saved the event and its photo."""

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "service_error", None):
            return HttpResponseRedirect(request.path)
        self.message_user(
            request, gettext("The event has been reported; tracking code %(code)s.")
            % {"code": obj.tracking_code}, messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:grids_gridevent_change", args=[obj.pk]))

    # ---- the steps

    def get_urls(self):
        return [
            path(
                "<path:object_id>/step/<str:action>/",
                self.admin_site.admin_view(self.step_view),
                name="grids_gridevent_step",
            ),
            *super().get_urls(),
        ]

    def step_view(self, request, object_id, action):
        event = self.get_object(request, unquote(object_id))
        if event is None or not self.has_view_permission(request, event):
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        back = reverse("admin:grids_gridevent_change", args=[event.pk])
        form_class = STEP_FORMS.get(action)
        if form_class is None or action not in services.allowed_actions(request.user, event):
            self.message_user(
                request, gettext("This step cannot be taken on this event now."), messages.ERROR
            )
            return HttpResponseRedirect(back)
        posted = request.method == "POST"
        form = form_class(
            request.POST if posted else None, request.FILES if posted else None,
            event=event, user=request.user,
        )
        if posted and form.is_valid():
            try:
                form.perform()
            except PermissionDenied as error:
                self.message_user(request, str(error) or gettext("You may not take this step."),
                                  messages.ERROR)
                return HttpResponseRedirect(back)
            except ValidationError as error:
                form.add_service_error(error)
            else:
                self.message_user(
                    request, gettext("%(event)s: %(step)s.")
                    % {"event": event, "step": A(action).label}, messages.SUCCESS,
                )
                return HttpResponseRedirect(back)
        label = STEP_LABELS[action]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{label} · {event}",
            "step_label": label,
            "event": event,
            "form": form,
            "action": action,
            "back_url": back,
            "media": self.media + form.media,
            "event_overdue": event.is_overdue(timezone.now()),
        }
        return TemplateResponse(request, "admin/grids/gridevent/step_form.html", context)


# ---- departments -----------------------------------------------------------------------------


@admin.register(Department)
class DepartmentAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "org_unit", "contact_phone_display", "staff_count", "is_active"]
    export_fields = list_display
    list_filter = ["is_active", ("org_unit", RelatedOnly)]
    search_fields = ["name", "org_unit__name"]
    autocomplete_fields = ["org_unit"]
    filter_horizontal = ["staff"]
    list_select_related = ["org_unit"]
    ordering = ["org_unit__tree_id", "org_unit__lft", "name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(staff_total=Count("staff", distinct=True))

    def get_fields(self, request, obj=None):
        fields = ["name", "org_unit", "contact_phone", "staff", "is_active"]
        if obj is not None and not can_view(request.user):
            # Without the personal-data permission the phone is shown masked and not edited.
            fields[fields.index("contact_phone")] = "contact_phone_display"
        return fields

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not can_view(request.user):
            return ["contact_phone_display"]
        return []

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "staff" and formfield is not None:
            formfield.queryset = formfield.queryset.filter(is_active=True).order_by("username")
        return formfield

    @admin.display(description=_("contact phone"))
    def contact_phone_display(self, obj):
        return reveal(
            None, "phone", obj.contact_phone, pii.mask_phone(obj.contact_phone),
            "admin:department:list",
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Staff of a department sign in to the admin to report for it.
        form.instance.staff.filter(is_staff=False).update(is_staff=True)

    @admin.display(description=_("staff"), ordering="staff_total")
    def staff_count(self, obj):
        return getattr(obj, "staff_total", None)


# ---- categories (city-wide reference data) ---------------------------------------------------


@admin.register(EventCategory)
class EventCategoryAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Every staff role reads the categories (scope_path None); only superusers change them,
    since a change applies to the whole city."""

    list_display = [
        "name", "code", "hours_reported", "hours_filed", "hours_assigned", "hours_in_progress",
        "hours_feedback", "total", "is_property", "is_active", "sort_order",
    ]
    list_filter = ["is_active", "is_property"]
    search_fields = ["name", "code"]

    @admin.display(description=_("total hours"))
    def total(self, obj):
        return obj.total_hours

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser
