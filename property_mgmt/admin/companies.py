"""Property companies (city-wide reference data, kept by the streets) and the people who work
for them in compounds."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from party_org import pii
from party_org.admin.members import ServiceSaveMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin
from party_org.personal_data import can_view, reveal

from .. import services
from ..models import CompanyStaff, PropertyCompany
from .base import ServiceForm, ServiceFormAdminMixin, no_bulk_delete

RelatedOnly = admin.RelatedOnlyFieldListFilter


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


# ---- companies -------------------------------------------------------------------------------


class CompanyForm(ServiceForm):
    class Meta:
        model = PropertyCompany
        fields = list(services.COMPANY_FIELDS)

    def perform(self, data):
        fields = {name: data[name] for name in services.COMPANY_FIELDS if name in self.fields}
        if self.instance.pk is None:
            return services.create_company(self.user, **fields)
        return services.update_company(self.user, self.instance, **fields)


@admin.register(PropertyCompany)
class PropertyCompanyAdmin(ServiceFormAdminMixin, ServiceSaveMixin, ServiceErrorsMixin,
                           ScopedAdminMixin, admin.ModelAdmin):
    """Every staff role reads the companies (they serve many streets); only roles holding the
    change permission (the streets) record and change them. Companies stay on record: a company
    that stops working is deactivated, not deleted."""

    form = CompanyForm
    list_display = [
        "name", "credit_code", "party_formation", "is_red_property", "contact_name",
        "contact_phone_display", "is_active",
    ]
    export_fields = [
        "name", "credit_code", "party_formation", "party_unit", "instructor", "is_red_property",
        "contact_name", "contact_phone_display", "address", "is_active",
    ]
    list_filter = ["party_formation", "is_red_property", "is_active"]
    list_select_related = ["party_unit", "instructor"]
    search_fields = ["name", "credit_code", "contact_name", "address"]
    autocomplete_fields = ["party_unit", "instructor"]

    def get_fields(self, request, obj=None):
        fields = list(services.COMPANY_FIELDS)
        if obj is not None and not can_view(request.user):
            # Without the personal-data permission the phone is shown masked and not edited.
            fields[fields.index("contact_phone")] = "contact_phone_display"
        return fields

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not can_view(request.user):
            return ["contact_phone_display"]
        return []

    @admin.display(description=_("contact phone"))
    def contact_phone_display(self, obj):
        return reveal(
            None, "phone", obj.contact_phone, pii.mask_phone(obj.contact_phone),
            "admin:propertycompany:list",
        )

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return no_bulk_delete(super().get_actions(request))


# ---- company staff ---------------------------------------------------------------------------


class StaffForm(ServiceForm):
    class Meta:
        model = CompanyStaff
        fields = ["company", "person", "compound", "role", "started_on", "ended_on"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # A job is ended, never moved to someone else or another compound.
            for name in ("company", "person", "compound", "role", "started_on"):
                if name in self.fields:
                    self.fields[name].disabled = True
            if self.instance.ended_on and "ended_on" in self.fields:
                self.fields["ended_on"].disabled = True
        if "company" in self.fields and not self.instance.pk:
            field = self.fields["company"]
            field.queryset = field.queryset.filter(is_active=True)

    def perform(self, data):
        if self.instance.pk is None:
            return services.add_company_staff(
                self.user, company=data["company"], person=data["person"],
                compound=data["compound"], role=data["role"], started_on=data["started_on"],
            )
        if "ended_on" in self.changed_data and data.get("ended_on"):
            return services.end_company_staff(self.user, self.instance, data["ended_on"])
        return self.instance


@admin.register(CompanyStaff)
class CompanyStaffAdmin(ServiceFormAdminMixin, ServiceSaveMixin, ServiceErrorsMixin,
                        ScopedAdminMixin, admin.ModelAdmin):
    form = StaffForm
    list_display = ["person_name", "role", "company", "compound", "started_on", "ended_on"]
    export_fields = list_display
    list_filter = [OpenFilter, ("company", RelatedOnly), ("compound", RelatedOnly)]
    list_select_related = ["person", "company", "compound"]
    search_fields = ["person__name", "company__name", "compound__name", "role"]
    autocomplete_fields = ["company", "person", "compound"]
    date_hierarchy = "started_on"

    def get_fields(self, request, obj=None):
        fields = ["company", "person", "compound", "role", "started_on", "ended_on"]
        return fields if obj is not None else fields[:-1]

    @admin.display(description=_("person"), ordering="person__name")
    def person_name(self, obj):
        return obj.person.name

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return no_bulk_delete(super().get_actions(request))
