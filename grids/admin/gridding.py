"""grids admin: grids and micro-grids with what they cover, grid workers and their assignments.

Every list, choice, autocomplete and export is scoped; phones go through
party_org.personal_data; every save goes through grids.services.gridding.
"""

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _

from party_org.admin.members import ServiceSaveMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin
from party_org.personal_data import phone_for

from ..models import Grid, GridAssignment, GridCoverage, GridWorker
from ..services import gridding as services


def _skip_formsets(formsets):
    """Leave the inlines unsaved after the service refused the main object."""
    for formset in formsets:
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


def _no_bulk_delete(actions):
    # Bulk delete would skip the services (their refusal rules and the change log).
    actions.pop("delete_selected", None)
    return actions


class MicroGridFilter(admin.SimpleListFilter):
    title = _("micro-grid")
    parameter_name = "micro"

    def lookups(self, request, model_admin):
        return [("yes", _("micro-grids")), ("no", _("grids"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(parent__isnull=False)
        if self.value() == "no":
            return queryset.filter(parent__isnull=True)
        return queryset


class OpenFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", _("current")), ("ended", _("ended"))]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(ended_on__isnull=True)
        if self.value() == "ended":
            return queryset.filter(ended_on__isnull=False)
        return queryset


# ---- inlines ---------------------------------------------------------------------------------


class CoverageForm(forms.ModelForm):
    class Meta:
        model = GridCoverage
        fields = ["compound", "building"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # Coverage is added or removed, never changed in place.
            for field in self.fields.values():
                field.disabled = True


class CoverageInline(ScopedAdminMixin, admin.TabularInline):
    model = GridCoverage
    form = CoverageForm
    fields = ["compound", "building"]
    extra = 1
    verbose_name_plural = _("covers")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("compound", "building__compound")


class AssignmentForm(forms.ModelForm):
    class Meta:
        model = GridAssignment
        fields = ["worker", "grid", "started_on", "ended_on"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # An assignment is ended (or deleted), never moved to another worker or grid.
            for name in ("worker", "grid", "started_on"):
                if name in self.fields:
                    self.fields[name].disabled = True
            if self.instance.ended_on and "ended_on" in self.fields:
                self.fields["ended_on"].disabled = True


class GridAssignmentInline(ScopedAdminMixin, admin.TabularInline):
    """Who works in the grid."""

    model = GridAssignment
    form = AssignmentForm
    fk_name = "grid"
    fields = ["worker", "started_on", "ended_on"]
    autocomplete_fields = ["worker"]
    extra = 1
    verbose_name_plural = _("grid workers")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("worker__person").order_by(
            "ended_on", "-started_on"
        )


class WorkerAssignmentInline(GridAssignmentInline):
    """The grids a worker works in."""

    fk_name = "worker"
    fields = ["grid", "started_on", "ended_on"]
    autocomplete_fields = ["grid"]
    verbose_name_plural = _("grids")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("grid")


def _save_assignments(model_admin, request, formset, *, worker=None, grid=None):
    user, run = request.user, model_admin._run_service
    formset.save(commit=False)
    for assignment in formset.deleted_objects:
        run(request, services.delete_assignment, user, assignment)
    for assignment, fields in formset.changed_objects:
        if "ended_on" in fields and assignment.ended_on:
            run(request, services.end_assignment, user, assignment, assignment.ended_on)
    for assignment in formset.new_objects:
        run(request, _assign, user, worker or assignment.worker, grid or assignment.grid,
            assignment.started_on, assignment.ended_on)


def _assign(user, worker, grid, started_on, ended_on=None):
    """A new assignment, ended at once when an end date is given (a past assignment)."""
    with transaction.atomic():
        assignment = services.assign_worker(user, worker, grid, started_on)
        if ended_on:
            services.end_assignment(user, assignment, ended_on)
    return assignment


# ---- grids -----------------------------------------------------------------------------------


@admin.register(Grid)
class GridAdmin(ServiceSaveMixin, ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "name", "code", "org_unit", "parent", "micro_grid_count", "compound_count",
        "worker_count", "overlap", "is_active",
    ]
    list_filter = [MicroGridFilter, "is_active", ("org_unit", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "code", "org_unit__name"]
    autocomplete_fields = ["org_unit", "parent"]
    fields = ["name", "code", "org_unit", "parent", "is_active", "overlap"]
    readonly_fields = ["overlap"]
    ordering = ["org_unit__tree_id", "org_unit__lft", "code"]
    inlines = [CoverageInline, GridAssignmentInline]

    def get_queryset(self, request):
        return services.with_grid_counts(
            super().get_queryset(request).select_related("org_unit", "parent")
        )

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        cases = services.grid_overlap_cases(rows)
        for grid in rows:
            grid.overlap_case = cases.get(grid.pk)
        return changelist

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    @admin.display(description=_("micro-grids"), ordering="micro_grid_count")
    def micro_grid_count(self, obj):
        return getattr(obj, "micro_grid_count", None)

    @admin.display(description=_("compounds covered"), ordering="compound_count")
    def compound_count(self, obj):
        return getattr(obj, "compound_count", None)

    @admin.display(description=_("grid workers"), ordering="worker_count")
    def worker_count(self, obj):
        return getattr(obj, "worker_count", None)

    @admin.display(description=_("overlap with compounds"))
    def overlap(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        case = obj.overlap_case if hasattr(obj, "overlap_case") else services.overlap_case(obj)
        return services.overlap_label(case) or "—"

    def save_model(self, request, obj, form, change):
        saved = self._run_service(request, services.save_grid, request.user, obj)
        if saved is not None:
            obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        if form.instance.pk is None or getattr(request, "service_error", None):
            _skip_formsets(formsets)
            return
        super().save_related(request, form, formsets, change)

    def save_formset(self, request, form, formset, change):
        grid = form.instance
        if formset.model is GridCoverage:
            formset.save(commit=False)
            for coverage in formset.deleted_objects:
                self._run_service(request, services.uncover, request.user, coverage)
            for coverage in formset.new_objects:
                self._run_service(request, services.cover, request.user, grid,
                                  coverage.compound, coverage.building)
        else:
            _save_assignments(self, request, formset, grid=grid)

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_grid, request.user, obj)

    def get_actions(self, request):
        return _no_bulk_delete(super().get_actions(request))


# ---- grid workers ----------------------------------------------------------------------------


class WorkerForm(forms.ModelForm):
    class Meta:
        model = GridWorker
        fields = ["person", "kind", "org_unit", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "person" in self.fields:
            self.fields["person"].disabled = True


@admin.register(GridWorker)
class GridWorkerAdmin(ServiceSaveMixin, ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    form = WorkerForm
    list_display = ["name", "phone", "kind", "org_unit", "grids", "is_active"]
    export_fields = ["name", "phone_export", "kind", "org_unit", "grids", "is_active"]
    list_filter = ["kind", "is_active", ("org_unit", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["person__name", "org_unit__name"]
    autocomplete_fields = ["person", "org_unit"]
    list_select_related = ["person", "org_unit"]
    ordering = ["org_unit__tree_id", "org_unit__lft", "person__name"]
    inlines = [WorkerAssignmentInline]

    def get_queryset(self, request):
        current = GridAssignment.objects.filter(ended_on__isnull=True).select_related(
            "grid"
        ).order_by("started_on", "pk")
        return super().get_queryset(request).prefetch_related(
            Prefetch("assignments", queryset=current, to_attr="current_assignments")
        )

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    @admin.display(description=_("name"), ordering="person__name")
    def name(self, obj):
        return obj.person.name

    @admin.display(description=_("phone"))
    def phone(self, obj):
        return phone_for(obj.person, "admin:gridworker:list")

    @admin.display(description=_("phone"))
    def phone_export(self, obj):
        return phone_for(obj.person, "admin:gridworker:export")

    @admin.display(description=_("grids"))
    def grids(self, obj):
        return "、".join(a.grid.name for a in obj.current_assignments)

    def save_model(self, request, obj, form, change):
        user = request.user
        if change:
            saved = self._run_service(
                request, lambda: services.update_worker(
                    user, obj, kind=obj.kind, org_unit=obj.org_unit, is_active=obj.is_active
                )
            )
        else:
            saved = self._run_service(
                request, services.register_worker, user, obj.person, obj.kind, obj.org_unit
            )
        if saved is not None:
            obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        if form.instance.pk is None or getattr(request, "service_error", None):
            _skip_formsets(formsets)
            return
        super().save_related(request, form, formsets, change)

    def save_formset(self, request, form, formset, change):
        _save_assignments(self, request, formset, worker=form.instance)

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_worker, request.user, obj)

    def get_actions(self, request):
        return _no_bulk_delete(super().get_actions(request))


# ---- assignments -----------------------------------------------------------------------------


@admin.register(GridAssignment)
class GridAssignmentAdmin(ServiceSaveMixin, ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    form = AssignmentForm
    list_display = ["worker_name", "worker_kind", "grid", "started_on", "ended_on"]
    list_filter = [OpenFilter, "worker__kind", ("grid", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["worker__person__name", "grid__name", "grid__code"]
    autocomplete_fields = ["worker", "grid"]
    list_select_related = ["worker__person", "grid"]
    fields = ["worker", "grid", "started_on", "ended_on"]
    date_hierarchy = "started_on"

    @admin.display(description=_("grid worker"), ordering="worker__person__name")
    def worker_name(self, obj):
        return obj.worker.person.name

    @admin.display(description=_("kind"), ordering="worker__kind")
    def worker_kind(self, obj):
        return obj.worker.get_kind_display()

    def save_model(self, request, obj, form, change):
        user = request.user
        if change:
            saved = obj
            if "ended_on" in form.changed_data and obj.ended_on:
                saved = self._run_service(
                    request, services.end_assignment, user, obj, obj.ended_on
                )
        else:
            saved = self._run_service(
                request, _assign, user, obj.worker, obj.grid, obj.started_on, obj.ended_on
            )
        if saved is not None:
            obj.pk = saved.pk

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_assignment, request.user, obj)

    def get_actions(self, request):
        return _no_bulk_delete(super().get_actions(request))
