from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from mptt.admin import MPTTModelAdmin

from .. import services
from ..admin_scoping import ScopedAdminMixin, ServiceErrorsMixin
from ..models import OrgUnit, StaffAssignment
from ..selectors import in_scope, scoped, with_child_counts


class KindFilter(admin.SimpleListFilter):
    title = _("kind")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return OrgUnit._meta.get_field("kind").choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(kind=self.value())
        return queryset


@admin.register(OrgUnit)
class OrgUnitAdmin(ServiceErrorsMixin, ScopedAdminMixin, MPTTModelAdmin):
    list_display = [
        "name",
        "code",
        "kind",
        "children_count",
        "descendant_count",
        "contact_phone",
        "established_on",
        "is_active",
    ]
    export_fields = [
        "code",
        "name",
        "kind",
        "parent_code",
        "contact_phone",
        "address",
        "established_on",
        "is_active",
    ]
    list_filter = [KindFilter, "is_active"]
    search_fields = ["name", "code", "address"]
    autocomplete_fields = ["parent"]
    mptt_level_indent = 16
    list_per_page = 100
    fieldsets = [
        (None, {"fields": ["name", "code", "kind", "parent"]}),
        (_("Contact"), {"fields": ["contact_phone", "address"]}),
        (_("Status"), {"fields": ["established_on", "is_active"]}),
    ]

    def get_queryset(self, request):
        return with_child_counts(super().get_queryset(request).select_related("parent"))

    @admin.display(description=_("child units"), ordering="children_count")
    def children_count(self, obj):
        return obj.children_count

    @admin.display(description=_("units in subtree"))
    def descendant_count(self, obj):
        return obj.descendant_total

    @admin.display(description=_("parent code"))
    def parent_code(self, obj):
        return obj.parent.code if obj.parent_id else ""

    def get_actions(self, request):
        # Bulk delete would bypass the tree lock and the refusal rules: delete one by one.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        parent_field = form.base_fields.get("parent")
        if parent_field is not None and not request.user.is_superuser:
            parent_field.required = True
            # A staff member's own top unit keeps its parent even though it lies outside.
            if obj is not None and obj.parent_id and not in_scope(request.user, obj.parent):
                parent_field.queryset = (
                    parent_field.queryset | OrgUnit.objects.filter(pk=obj.parent_id)
                ).distinct()
        return form

    def save_model(self, request, obj, form, change):
        saved = self._run_service(request, services.save_org_unit, request.user, obj)
        if saved is not None:
            obj.pk = saved.pk
            obj.refresh_from_db()

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_org_unit, request.user, obj)


@admin.register(StaffAssignment)
class StaffAssignmentAdmin(ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "role", "org_unit", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "org_unit__name"]
    autocomplete_fields = ["org_unit"]
    list_select_related = ["user", "org_unit"]

    def get_readonly_fields(self, request, obj=None):
        # An assignment is given or taken away, never edited in place.
        return ["user", "org_unit", "role", "created_at"] if obj else ["created_at"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "user" and formfield is not None and not request.user.is_superuser:
            # Staff pick among people already in their subtree, or people without any role yet.
            users = formfield.queryset.filter(is_superuser=False)
            in_subtree = scoped(request.user, StaffAssignment.objects.all()).values("user_id")
            formfield.queryset = users.filter(pk__in=in_subtree) | users.filter(
                org_assignments__isnull=True
            )
        return formfield

    def save_model(self, request, obj, form, change):
        if change:
            return
        saved = self._run_service(
            request,
            lambda: services.assign_staff(
                request.user, staff_user=obj.user, org_unit=obj.org_unit, role=obj.role
            ),
        )
        if saved is not None:
            obj.pk = saved.pk

    def delete_model(self, request, obj):
        self._run_service(request, services.revoke_staff, request.user, obj)

    def delete_queryset(self, request, queryset):
        for assignment in queryset.select_related("user", "org_unit"):
            self._run_service(request, services.revoke_staff, request.user, assignment)
