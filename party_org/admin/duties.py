"""Admin of 双报到 (in-service registrations, the feedback report to employer units), posts and
duties (设岗定责) and normal/emergency switching (平急结合). Every save goes through
party_org.services.duties; every list, choice and export is scoped."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import (
    Count, DecimalField, F, IntegerField, OuterRef, Prefetch, Q, Subquery, Sum, Value,
)
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import pii, reports
from ..admin_scoping import ScopedAdminMixin, ServiceErrorsMixin, export_xlsx
from ..models import (
    EmergencyAcknowledgement,
    EmergencyActivation,
    EmergencyRole,
    InServiceRegistration,
    MemberCategory,
    MemberStatus,
    OrgKind,
    Post,
    PostAssignment,
    RegistrationEvaluation,
    ServiceRecord,
    WorkUnit,
)
from ..personal_data import can_view, phone_for, reveal
from ..selectors import Subtree, scoped
from ..services import duties as services
from ..statistics import Period

ZERO_HOURS = Value(0, output_field=DecimalField(max_digits=9, decimal_places=1))


def _active_members(queryset):
    return queryset.filter(status=MemberStatus.ACTIVE).select_related("person").order_by(
        "person__name", "pk"
    )


def _skip_formsets(formsets):
    """Leave the inlines unsaved after the service refused the main object; the admin's change
    message still reads what each formset saved."""
    for formset in formsets:
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


# ---- work units and the feedback report ------------------------------------------------------


@admin.register(WorkUnit)
class WorkUnitAdmin(ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "name", "kind", "party_organisation", "contact_name", "contact_phone_display",
        "registrations_in_scope", "feedback_link",
    ]
    export_fields = [
        "name", "kind", "party_organisation", "contact_name", "contact_phone_display", "address",
        "registrations_in_scope",
    ]
    list_filter = ["kind"]
    search_fields = ["name", "party_organisation", "contact_name", "address"]

    def get_queryset(self, request):
        registrations = scoped(
            request.user, InServiceRegistration.objects.filter(work_unit=OuterRef("pk"))
        ).order_by().values("work_unit").annotate(n=Count("pk")).values("n")
        return super().get_queryset(request).annotate(
            registration_total=Coalesce(Subquery(registrations, output_field=IntegerField()), 0)
        )

    def get_fields(self, request, obj=None):
        fields = ["name", "kind", "party_organisation", "contact_name", "contact_phone", "address"]
        if obj is not None and not self._may_see_phone(request):
            # Without the personal-data permission the phone is shown masked and not edited.
            fields[fields.index("contact_phone")] = "contact_phone_display"
        if obj is not None:
            fields.append("feedback_link")
        return fields

    def get_readonly_fields(self, request, obj=None):
        readonly = ["feedback_link"]
        if obj is not None and not self._may_see_phone(request):
            readonly.append("contact_phone_display")
        return readonly

    @staticmethod
    def _may_see_phone(request):
        return can_view(request.user)

    @admin.display(description=_("contact phone"))
    def contact_phone_display(self, obj):
        return reveal(
            None, "phone", obj.contact_phone, pii.mask_phone(obj.contact_phone),
            "admin:workunit:list",
        )

    @admin.display(description=_("registrations (in your area)"), ordering="registration_total")
    def registrations_in_scope(self, obj):
        return getattr(obj, "registration_total", None)

    @admin.display(description=_("feedback report"))
    def feedback_link(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        url = reverse("admin:party_org_workunit_feedback", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, gettext("Feedback report"))

    def save_model(self, request, obj, form, change):
        fields = {name: getattr(obj, name) for name in services.WORK_UNIT_FIELDS}
        if change:
            saved = self._run_service(
                request, lambda: services.update_work_unit(request.user, obj, **fields)
            )
        else:
            saved = self._run_service(
                request, lambda: services.create_work_unit(request.user, **fields)
            )
        if saved is not None:
            obj.pk = saved.pk

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_work_unit, request.user, obj)

    def delete_queryset(self, request, queryset):
        for unit in queryset:
            self._run_service(request, services.delete_work_unit, request.user, unit)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/feedback/",
                self.admin_site.admin_view(self.feedback_view),
                name="party_org_workunit_feedback",
            ),
            *super().get_urls(),
        ]

    def feedback_view(self, request, object_id):
        """The printable feedback report for one unit and a month or from/to period."""
        if not request.user.has_perm("party_org.view_inserviceregistration"):
            raise PermissionDenied
        work_unit = self.get_object(request, unquote(object_id))
        if work_unit is None:
            raise Http404(gettext("This work unit does not exist."))
        params = request.GET
        month = params.get("month", "").strip()
        date_from, date_to = params.get("from", "").strip(), params.get("to", "").strip()
        if not (month or date_from or date_to):
            month = timezone.localdate().strftime("%Y-%m")
        errors, report = [], None
        try:
            period = Period.parse(month=month or None, start=date_from or None, end=date_to or None)
            if period.start is None:
                raise ValidationError(gettext("Choose the start of the period."))
            report = reports.feedback_report(request.user, work_unit, period.start, period.end)
        except ValidationError as error:
            errors = error.messages
        if report is not None and params.get("format") == "xlsx":
            response = HttpResponse(
                reports.feedback_workbook(report),
                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
            filename = f"feedback-{work_unit.pk}-{report.start:%Y%m%d}-{report.end:%Y%m%d}.xlsx"
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        query = urlencode({"month": month} if month else {"from": date_from, "to": date_to})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Feedback report: %(unit)s") % {"unit": work_unit.name},
            "work_unit": work_unit,
            "report": report,
            "totals": report.totals if report else None,
            "headers": [header for header, _getter in reports.columns()],
            "errors": errors,
            "month": month,
            "date_from": date_from,
            "date_to": date_to,
            "query": query,
        }
        return TemplateResponse(request, "party_org/feedback_report.html", context)


# ---- 双报到: registrations, their service and evaluations ------------------------------------


class ServiceRecordForm(forms.ModelForm):
    class Meta:
        model = ServiceRecord
        fields = ["served_on", "hours", "activity"]

    def clean(self):
        data = super().clean()
        registration = self.instance.registration if self.instance.registration_id else None
        if registration is not None and not self.cleaned_data.get("DELETE"):
            problems = services.service_record_problems(
                registration, data.get("served_on"), data.get("hours"), data.get("activity")
            )
            if self.instance.pk:
                problems.pop("registration", None)  # corrections after the end are fine
            for field, messages_ in problems.items():
                self.add_error(field if field in self.fields else None, messages_)
        return data


class ServiceRecordInline(ScopedAdminMixin, admin.TabularInline):
    model = ServiceRecord
    form = ServiceRecordForm
    fields = ["served_on", "hours", "activity", "recorded_by"]
    readonly_fields = ["recorded_by"]
    extra = 1
    ordering = ["-served_on", "-pk"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("recorded_by")


class EvaluationForm(forms.ModelForm):
    class Meta:
        model = RegistrationEvaluation
        fields = ["year", "rating", "comment"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # A year's evaluation is revised, never moved to another year.
            self.fields["year"].disabled = True

    def clean(self):
        data = super().clean()
        registration = self.instance.registration if self.instance.registration_id else None
        if registration is not None and not data.get("DELETE"):
            problems = services.evaluation_problems(
                registration, data.get("year"), data.get("rating")
            )
            for field, messages_ in problems.items():
                if field not in self.errors:
                    self.add_error(field, messages_)
        return data


class EvaluationInline(ScopedAdminMixin, admin.TabularInline):
    model = RegistrationEvaluation
    form = EvaluationForm
    fields = ["year", "rating", "comment", "evaluated_by"]
    readonly_fields = ["evaluated_by"]
    extra = 0
    ordering = ["-year"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("evaluated_by")


class RegistrationForm(forms.ModelForm):
    class Meta:
        model = InServiceRegistration
        fields = ["member", "work_unit", "branch", "registered_on", "commitment", "post"]

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and data.get("member") and data.get("branch"):
            # The service's own checks, shown on the form before anything is saved.
            problems = services.registration_problems(
                member=data["member"], work_unit=data.get("work_unit"), branch=data["branch"],
                registered_on=data.get("registered_on"), commitment=data.get("commitment"),
                post=data.get("post"),
            )
            for field, messages_ in problems.items():
                if field not in self.errors:
                    self.add_error(field if field in self.fields else None, messages_)
        return data


@admin.register(InServiceRegistration)
class InServiceRegistrationAdmin(ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    form = RegistrationForm
    list_display = [
        "member_name", "work_unit", "branch", "registered_on", "post", "status", "ended_on",
        "service_count", "service_hours",
    ]
    export_fields = [
        "member_name", "work_unit", "branch", "registered_on", "post", "status", "ended_on",
        "service_count", "service_hours", "commitment",
    ]
    list_select_related = ["member__person", "work_unit", "branch", "post"]
    list_filter = [
        "status",
        ("work_unit", admin.RelatedOnlyFieldListFilter),
        ("branch", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["member__person__name", "work_unit__name", "branch__name", "post__name"]
    date_hierarchy = "registered_on"
    actions = [export_xlsx, "end_selected"]
    inlines = [ServiceRecordInline, EvaluationInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            service_total=Count("service_records"),
            hours_total=Coalesce(Sum("service_records__hours"), ZERO_HOURS),
        )

    def get_inlines(self, request, obj):
        # Service and evaluations hang on a saved registration.
        return self.inlines if obj is not None else []

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["member", "branch", "status", "ended_on"]

    def get_fields(self, request, obj=None):
        fields = ["member", "work_unit", "branch", "registered_on", "commitment", "post"]
        return fields if obj is None else [*fields, "status", "ended_on"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is None:
            return formfield
        if db_field.name == "member":
            formfield.queryset = _active_members(
                formfield.queryset.filter(category=MemberCategory.IN_SERVICE)
            )
        elif db_field.name == "branch":
            formfield.queryset = formfield.queryset.filter(kind=OrgKind.BRANCH, is_active=True)
        elif db_field.name == "post":
            formfield.queryset = formfield.queryset.filter(is_active=True).select_related(
                "org_unit"
            )
        return formfield

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        post = form.base_fields.get("post")
        if obj is not None and post is not None:
            post.queryset = post.queryset.filter(Subtree.of(obj.branch).q("org_unit"))
        return form

    @admin.display(description=_("party member"), ordering="member__person__name")
    def member_name(self, obj):
        return obj.member.person.name

    @admin.display(description=_("services"), ordering="service_total")
    def service_count(self, obj):
        return obj.service_total

    @admin.display(description=_("service hours"), ordering="hours_total")
    def service_hours(self, obj):
        return obj.hours_total

    def save_model(self, request, obj, form, change):
        user = request.user
        if change:
            fields = {
                name: form.cleaned_data[name]
                for name in ("work_unit", "registered_on", "commitment", "post")
                if name in form.changed_data
            }
            if fields:
                self._run_service(
                    request, lambda: services.update_registration(user, obj, **fields)
                )
            return
        saved = self._run_service(
            request,
            lambda: services.register_in_service(
                user, member=obj.member, work_unit=obj.work_unit, branch=obj.branch,
                registered_on=obj.registered_on, commitment=obj.commitment, post=obj.post,
            ),
        )
        if saved is not None:
            obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        if form.instance.pk is None or getattr(request, "service_error", None):
            _skip_formsets(formsets)
            return
        super().save_related(request, form, formsets, change)

    def save_formset(self, request, form, formset, change):
        user, registration = request.user, form.instance
        formset.save(commit=False)
        run = self._run_service
        if formset.model is ServiceRecord:
            for record in formset.deleted_objects:
                run(request, services.delete_service_record, user, record)
            for record, _fields in formset.changed_objects:
                run(request, lambda r=record: services.update_service_record(
                    user, r, served_on=r.served_on, hours=r.hours, activity=r.activity))
            for record in formset.new_objects:
                run(request, services.record_service, user, registration, record.served_on,
                    record.hours, record.activity)
        elif formset.model is RegistrationEvaluation:
            for evaluation in formset.deleted_objects:
                run(request, services.delete_evaluation, user, evaluation)
            for evaluation in [*[e for e, _f in formset.changed_objects], *formset.new_objects]:
                run(request, services.evaluate_registration, user, registration,
                    evaluation.year, evaluation.rating, evaluation.comment)

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_registration, request.user, obj)

    def delete_queryset(self, request, queryset):
        for registration in queryset.select_related("branch", "member__person"):
            self._run_service(request, services.delete_registration, request.user, registration)

    @admin.action(description=_("End the selected registrations today"), permissions=["change"])
    def end_selected(self, request, queryset):
        ended = 0
        active = queryset.filter(status=InServiceRegistration.Status.ACTIVE)
        for registration in active.select_related("branch", "member__person"):
            if self._run_service(request, services.end_registration, request.user, registration):
                ended += 1
        if ended:
            self.message_user(
                request, gettext("%(n)s registrations ended.") % {"n": ended}, messages.SUCCESS
            )


# ---- 设岗定责: posts and who holds them --------------------------------------------------------


class AssignmentForm(forms.ModelForm):
    class Meta:
        model = PostAssignment
        fields = ["member", "started_on", "ended_on"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # An assignment is ended (or deleted), never handed to someone else.
            self.fields["member"].disabled = True
            self.fields["started_on"].disabled = True
            if self.instance.ended_on:
                self.fields["ended_on"].disabled = True


class PostAssignmentInline(ScopedAdminMixin, admin.TabularInline):
    model = PostAssignment
    form = AssignmentForm
    fields = ["member", "started_on", "ended_on"]
    extra = 1
    ordering = [F("ended_on").desc(nulls_first=True), "-started_on"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member__person")

    def get_formset(self, request, obj=None, **kwargs):
        self._post = obj
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is not None and db_field.name == "member":
            queryset = _active_members(formfield.queryset)
            post = getattr(self, "_post", None)
            if post is not None:
                queryset = queryset.filter(Subtree.of(post.org_unit).q("org_unit"))
            formfield.queryset = queryset
        return formfield


@admin.register(Post)
class PostAdmin(ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "kind", "org_unit", "holders", "is_active"]
    export_fields = ["name", "kind", "org_unit", "duties", "holders", "is_active"]
    list_select_related = ["org_unit"]
    list_filter = ["kind", "is_active", ("org_unit", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "duties", "org_unit__name"]
    fields = ["org_unit", "kind", "name", "duties", "is_active"]
    inlines = [PostAssignmentInline]

    def get_queryset(self, request):
        current = PostAssignment.objects.filter(ended_on__isnull=True).select_related(
            "member__person"
        ).order_by("started_on", "pk")
        return super().get_queryset(request).prefetch_related(
            Prefetch("assignments", queryset=current, to_attr="current_assignments")
        )

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_readonly_fields(self, request, obj=None):
        return ["org_unit"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is not None and db_field.name == "org_unit":
            formfield.queryset = formfield.queryset.filter(kind=OrgKind.BRANCH, is_active=True)
        return formfield

    @admin.display(description=_("held by"))
    def holders(self, obj):
        return "、".join(a.member.person.name for a in obj.current_assignments)

    def save_model(self, request, obj, form, change):
        saved = self._run_service(request, services.save_post, request.user, obj)
        if saved is not None:
            obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        if form.instance.pk is None or getattr(request, "service_error", None):
            _skip_formsets(formsets)
            return
        super().save_related(request, form, formsets, change)

    def save_formset(self, request, form, formset, change):
        user, post = request.user, form.instance
        formset.save(commit=False)
        run = self._run_service
        for assignment in formset.deleted_objects:
            run(request, services.delete_post_assignment, user, assignment)
        for assignment, fields in formset.changed_objects:
            if "ended_on" in fields and assignment.ended_on:
                run(request, services.end_post_assignment, user, assignment, assignment.ended_on)
        for assignment in formset.new_objects:
            run(request, services.assign_post, user, post, assignment.member,
                assignment.started_on, assignment.ended_on)

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_post, request.user, obj)

    def delete_queryset(self, request, queryset):
        for post in queryset.select_related("org_unit"):
            self._run_service(request, services.delete_post, request.user, post)


# ---- 平急结合: emergency roles, activations and acknowledgements --------------------------------


@admin.register(EmergencyRole)
class EmergencyRoleAdmin(ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["member_name", "member_unit", "kind", "place", "duties"]
    export_fields = list_display
    list_select_related = ["member__person", "member__org_unit", "place"]
    list_filter = ["kind", ("place", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["member__person__name", "place__name", "duties"]
    fields = ["member", "kind", "place", "duties"]

    def get_readonly_fields(self, request, obj=None):
        return ["member"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is None:
            return formfield
        if db_field.name == "member":
            formfield.queryset = _active_members(formfield.queryset)
        elif db_field.name == "place":
            formfield.queryset = formfield.queryset.filter(
                kind__in=services.EMERGENCY_PLACE_KINDS, is_active=True
            )
        return formfield

    @admin.display(description=_("party member"), ordering="member__person__name")
    def member_name(self, obj):
        return obj.member.person.name

    @admin.display(description=_("branch or building group"))
    def member_unit(self, obj):
        return obj.member.org_unit.name

    def save_model(self, request, obj, form, change):
        saved = self._run_service(
            request, services.set_emergency_role, request.user, obj.member, obj.kind, obj.place,
            obj.duties,
        )
        if saved is not None:
            obj.pk = saved.pk

    def delete_model(self, request, obj):
        self._run_service(request, services.remove_emergency_role, request.user, obj)

    def delete_queryset(self, request, queryset):
        for role in queryset.select_related("member__person", "place"):
            self._run_service(request, services.remove_emergency_role, request.user, role)


class OpenFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", _("open")), ("ended", _("ended"))]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(ended_at__isnull=True)
        if self.value() == "ended":
            return queryset.filter(ended_at__isnull=False)
        return queryset


class AcknowledgementInline(ScopedAdminMixin, admin.TabularInline):
    """Every member called by the activation, acknowledged or not, with when and a note."""

    model = EmergencyAcknowledgement
    fields = ["member_name", "phone", "role_kind", "place", "acknowledged_at", "note", "control"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("members called")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(
            "member__person", "place", "activation"
        ).order_by(F("acknowledged_at").asc(nulls_first=True), "member__person__name", "pk")

    def get_formset(self, request, obj=None, **kwargs):
        self._may_acknowledge = request.user.has_perm(
            "party_org.change_emergencyacknowledgement"
        )
        return super().get_formset(request, obj, **kwargs)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("party member"))
    def member_name(self, obj):
        return obj.member.person.name

    @admin.display(description=_("phone"))
    def phone(self, obj):
        return phone_for(obj.member.person, "admin:emergencyactivation:change")

    @admin.display(description=_("acknowledge"))
    def control(self, obj):
        if obj.acknowledged_at is not None:
            return gettext("acknowledged")
        if obj.activation.ended_at is not None or not getattr(self, "_may_acknowledge", False):
            return gettext("not acknowledged")
        return format_html(
            '<input type="text" name="_note_{}" maxlength="200" placeholder="{}" size="16"> '
            '<button type="submit" class="button" name="_acknowledge" value="{}">{}</button>',
            obj.pk, gettext("note"), obj.pk, gettext("Acknowledged"),
        )


def _activation_counts(queryset):
    return queryset.annotate(
        called=Count("acknowledgements"),
        acknowledged=Count(
            "acknowledgements", filter=Q(acknowledgements__acknowledged_at__isnull=False)
        ),
    )


@admin.register(EmergencyActivation)
class EmergencyActivationAdmin(ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "title", "org_unit", "started_at", "started_by", "ended_at", "is_open", "called_count",
        "acknowledged_count", "pending_count",
    ]
    export_fields = list_display
    list_select_related = ["org_unit", "started_by"]
    list_filter = [OpenFilter, ("org_unit", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["title", "reason", "org_unit__name"]
    inlines = [AcknowledgementInline]

    def get_queryset(self, request):
        return _activation_counts(super().get_queryset(request))

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["org_unit", "title", "reason"]
        fields = [
            "org_unit", "title", "reason", "started_by", "started_at", "ended_at",
            "called_count", "acknowledged_count", "pending_count",
        ]
        if self._may_end(request, obj):
            fields.append("end_control")
        return fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return self.get_fields(request, obj)

    def _may_end(self, request, obj):
        return obj.ended_at is None and request.user.has_perm(
            "party_org.change_emergencyactivation"
        )

    def has_delete_permission(self, request, obj=None):
        return False  # an activation is a record of what happened

    @admin.display(description=_("open"), boolean=True)
    def is_open(self, obj):
        return obj.ended_at is None

    @admin.display(description=_("members called"), ordering="called")
    def called_count(self, obj):
        return obj.called

    @admin.display(description=_("acknowledged"), ordering="acknowledged")
    def acknowledged_count(self, obj):
        return obj.acknowledged

    @admin.display(description=_("not yet acknowledged"))
    def pending_count(self, obj):
        return obj.called - obj.acknowledged

    @admin.display(description=_("back to normal"))
    def end_control(self, obj):
        return format_html(
            '<button type="submit" class="button" name="_end_emergency" value="1" '
            'onclick="return confirm(\'{}\')">{}</button>',
            gettext("End this emergency?"), gettext("End the emergency"),
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is not None and db_field.name == "org_unit":
            formfield.queryset = formfield.queryset.filter(is_active=True)
        return formfield

    def save_model(self, request, obj, form, change):
        if change:
            return
        activation = self._run_service(
            request, services.activate_emergency, request.user, obj.org_unit, obj.title,
            obj.reason,
        )
        if activation is not None:
            obj.pk = activation.pk
            self.message_user(
                request,
                gettext("%(n)s members with an emergency role there have been called.")
                % {"n": activation.called_count},
                messages.SUCCESS,
            )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST" and (
            "_end_emergency" in request.POST or "_acknowledge" in request.POST
        ):
            return self._control(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def _control(self, request, object_id):
        activation = self.get_object(request, unquote(object_id))
        if activation is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if "_end_emergency" in request.POST:
            if self._run_service(request, services.end_emergency, request.user, activation):
                self.message_user(request, gettext("The emergency has ended."), messages.SUCCESS)
        else:
            raw = request.POST.get("_acknowledge", "")
            ack = (
                activation.acknowledgements.select_related("member__person").filter(pk=raw).first()
                if raw.isdigit() else None
            )
            if ack is None:
                self.message_user(request, gettext("No such member in this emergency."),
                                  messages.ERROR)
            else:
                ack.activation = activation
                note = request.POST.get(f"_note_{ack.pk}", "")
                if self._run_service(request, services.acknowledge, request.user, ack, note):
                    self.message_user(
                        request,
                        gettext("%(member)s acknowledged.") % {"member": ack.member.person.name},
                        messages.SUCCESS,
                    )
        return HttpResponseRedirect(request.path)


class AcknowledgedFilter(admin.SimpleListFilter):
    title = _("acknowledged")
    parameter_name = "acknowledged"

    def lookups(self, request, model_admin):
        return [("yes", _("acknowledged")), ("no", _("not yet acknowledged"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(acknowledged_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(acknowledged_at__isnull=True)
        return queryset


@admin.register(EmergencyAcknowledgement)
class EmergencyAcknowledgementAdmin(ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    """The call list across activations: filter who has not answered and mark them."""

    list_display = ["member_name", "role_kind", "place", "activation", "acknowledged_at", "note"]
    export_fields = list_display
    list_select_related = ["member__person", "place", "activation"]
    list_filter = [
        AcknowledgedFilter, ("activation", admin.RelatedOnlyFieldListFilter), "role_kind",
    ]
    search_fields = ["member__person__name", "place__name", "activation__title"]
    actions = [export_xlsx, "acknowledge_selected"]
    fields = ["activation", "member", "role_kind", "place", "acknowledged_at", "note"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # The list's action needs it; a single acknowledgement is read, not edited.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("party member"), ordering="member__person__name")
    def member_name(self, obj):
        return obj.member.person.name

    @admin.action(
        description=_("Mark the selected members as acknowledged"), permissions=["change"]
    )
    def acknowledge_selected(self, request, queryset):
        done = 0
        for ack in queryset.select_related("activation__org_unit", "member__person"):
            if self._run_service(request, services.acknowledge, request.user, ack):
                done += 1
        if done:
            self.message_user(
                request, gettext("%(n)s acknowledgements recorded.") % {"n": done},
                messages.SUCCESS,
            )
