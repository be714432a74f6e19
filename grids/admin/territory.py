"""Admin of the territory: compounds with their buildings, entrances, household files (一户一档)
and the five lists.

Every save and delete goes through grids.services.territory, inline rows included. A household's
contact phone reaches the page and the export only through party_org.personal_data.reveal, its
care flags only through grids.care: masked unless the reader holds the permission, full reads
logged. Readers without `grids.view_care_flags` get no care-flag field, filter or lookup at all.
"""

from functools import partial

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.forms.models import construct_instance
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from party_org import personal_data, pii
from party_org.admin.members import ServiceSaveMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin
from party_org.models import phone_validator

from .. import care
from ..models import (
    Building,
    CareFlag,
    Compound,
    Entrance,
    Household,
    ResidentListEntry,
)
from ..models.territory import COMPOUND_UNIT_KINDS
from ..services import territory as services
from .household_import import HouseholdImportMixin

RelatedOnly = admin.RelatedOnlyFieldListFilter


def _context(model_admin, where):
    return f"admin:{model_admin.opts.model_name}:{where}"


def _errors_into_form(form, error):
    """A service's ValidationError beside the form's fields (or on top of the form)."""
    for field, messages in error.update_error_dict({}).items():
        form.add_error(field if field in form.fields else None, messages)


class ServiceCheckedForm(forms.ModelForm):
    """Validated by the service's own check instead of the model's: the same single message
    per problem that a save through the service would give."""

    service_check = None  # a staticmethod(check_x) on subclasses

    def prepare_instance(self):
        """Hook: put form-only values on the instance before the check."""

    def _post_clean(self):
        if self.errors:
            return
        opts = self._meta
        try:
            self.instance = construct_instance(self, self.instance, opts.fields, opts.exclude)
        except ValidationError as error:
            self._update_errors(error)
            return
        self.prepare_instance()
        try:
            type(self).service_check(self.instance)
        except ValidationError as error:
            _errors_into_form(self, error)


class InlineServiceForm(ServiceCheckedForm):
    parent_field = None

    def _post_clean(self):
        if getattr(self.instance, f"{self.parent_field}_id") is None:
            # The parent is being added in the same request: the formset checks duplicates
            # among its rows, the service checks again when it saves them.
            return forms.ModelForm._post_clean(self)
        return super()._post_clean()


class TerritoryAdmin(ServiceSaveMixin, ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    """Saves and deletes through services; `inline_services` does the same for inline rows."""

    # model -> (create, update, delete, fields, parent field)
    inline_services = {}

    def get_actions(self, request):
        # Bulk delete would skip the service (its refusal rules and the change log).
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_formset(self, request, form, formset, change):
        spec = self.inline_services.get(formset.model)
        if spec is None:
            return super().save_formset(request, form, formset, change)
        create, update, delete, fields, parent = spec
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            self._run_service(request, delete, request.user, obj)
        for obj in instances:
            values = {name: getattr(obj, name) for name in fields if name != parent}
            if obj.pk:
                self._run_service(request, partial(update, request.user, obj, **values))
            else:
                values[parent] = form.instance
                self._run_service(request, partial(create, request.user, **values))


# ---- compounds -------------------------------------------------------------------------------


class CompoundForm(ServiceCheckedForm):
    service_check = staticmethod(services.check_compound)

    class Meta:
        model = Compound
        fields = "__all__"


class BuildingInlineForm(InlineServiceForm):
    service_check = staticmethod(services.check_building)
    parent_field = "compound"

    class Meta:
        model = Building
        fields = "__all__"


class BuildingInline(ScopedAdminMixin, admin.TabularInline):
    model = Building
    form = BuildingInlineForm
    fields = ["number", "floors", "building_head"]
    autocomplete_fields = ["building_head"]
    extra = 1
    ordering = ["number"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("building_head")


@admin.register(Compound)
class CompoundAdmin(TerritoryAdmin):
    form = CompoundForm
    list_display = [
        "name", "compound_type", "org_unit", "community", "households", "population",
        "floor_area_m2", "year_built", "is_active",
    ]
    export_fields = [
        "name", "compound_type", "org_unit", "community", "households", "population",
        "floor_area_m2", "year_built", "address", "latitude", "longitude", "is_active",
    ]
    list_filter = ["compound_type", "is_active", ("org_unit", RelatedOnly)]
    search_fields = ["name", "address"]
    list_select_related = ["org_unit"]
    autocomplete_fields = ["org_unit"]
    ordering = ["org_unit__tree_id", "org_unit__lft", "name"]
    list_per_page = 100
    inlines = [BuildingInline]
    fieldsets = [
        (None, {"fields": ["name", "org_unit", "compound_type", "is_active"]}),
        (_("Size"), {"fields": ["households", "population", "floor_area_m2", "year_built"]}),
        (_("Location"), {"fields": ["address", "latitude", "longitude"]}),
    ]
    inline_services = {
        Building: (
            services.create_building, services.update_building, services.delete_building,
            services.BUILDING_FIELDS, "compound",
        ),
    }

    def get_queryset(self, request):
        return services.with_community(super().get_queryset(request))

    @admin.display(description=_("community"), ordering="community_name")
    def community(self, obj):
        return getattr(obj, "community_name", None) or ""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is not None and db_field.name == "org_unit":
            formfield.queryset = formfield.queryset.filter(
                kind__in=COMPOUND_UNIT_KINDS
            )
        return formfield

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in services.COMPOUND_FIELDS
                  if name in form.cleaned_data}
        if change:
            saved = self._run_service(
                request, partial(services.update_compound, request.user, obj, **values)
            )
        else:
            saved = self._run_service(
                request, partial(services.create_compound, request.user, **values)
            )
        if saved is not None:
            obj.pk = saved.pk

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_compound, request.user, obj)


# ---- buildings and entrances -----------------------------------------------------------------


class BuildingForm(ServiceCheckedForm):
    service_check = staticmethod(services.check_building)

    class Meta:
        model = Building
        fields = "__all__"


class EntranceInlineForm(InlineServiceForm):
    service_check = staticmethod(services.check_entrance)
    parent_field = "building"

    class Meta:
        model = Entrance
        fields = "__all__"


class EntranceInline(ScopedAdminMixin, admin.TabularInline):
    model = Entrance
    form = EntranceInlineForm
    fields = ["number", "entrance_head"]
    autocomplete_fields = ["entrance_head"]
    extra = 1
    ordering = ["number"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("entrance_head")


@admin.register(Building)
class BuildingAdmin(TerritoryAdmin):
    form = BuildingForm
    list_display = ["number", "compound", "floors", "building_head", "entrance_count"]
    list_filter = [("compound", RelatedOnly)]
    search_fields = ["number", "compound__name"]
    list_select_related = ["compound", "building_head"]
    autocomplete_fields = ["compound", "building_head"]
    ordering = ["compound__name", "number"]
    inlines = [EntranceInline]
    inline_services = {
        Entrance: (
            services.create_entrance, services.update_entrance, services.delete_entrance,
            services.ENTRANCE_FIELDS, "building",
        ),
    }

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(entrance_total=Count("entrances"))

    @admin.display(description=_("entrances"), ordering="entrance_total")
    def entrance_count(self, obj):
        return obj.entrance_total

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in services.BUILDING_FIELDS
                  if name in form.cleaned_data}
        if change:
            saved = self._run_service(
                request, partial(services.update_building, request.user, obj, **values)
            )
        else:
            saved = self._run_service(
                request, partial(services.create_building, request.user, **values)
            )
        if saved is not None:
            obj.pk = saved.pk

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_building, request.user, obj)


class EntranceForm(ServiceCheckedForm):
    service_check = staticmethod(services.check_entrance)

    class Meta:
        model = Entrance
        fields = "__all__"


@admin.register(Entrance)
class EntranceAdmin(TerritoryAdmin):
    form = EntranceForm
    list_display = ["number", "building", "entrance_head"]
    list_filter = [("building__compound", RelatedOnly)]
    search_fields = ["number", "building__number", "building__compound__name"]
    list_select_related = ["building__compound", "entrance_head"]
    autocomplete_fields = ["building", "entrance_head"]
    ordering = ["building__compound__name", "building__number", "number"]

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in services.ENTRANCE_FIELDS
                  if name in form.cleaned_data}
        if change:
            saved = self._run_service(
                request, partial(services.update_entrance, request.user, obj, **values)
            )
        else:
            saved = self._run_service(
                request, partial(services.create_entrance, request.user, **values)
            )
        if saved is not None:
            obj.pk = saved.pk

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_entrance, request.user, obj)


# ---- household files -------------------------------------------------------------------------


class HouseholdForm(ServiceCheckedForm):
    """The contact phone and the care flags are form-only fields, filled through
    personal_data and grids.care.

    A reader without `view_personal_data` gets the phone blank, with the masked value as a
    placeholder; leaving it blank keeps the stored number. A reader without
    `grids.view_care_flags` gets no care-flag field at all (and cannot change the flags).
    """

    phone_number = forms.CharField(
        label=capfirst(_("contact phone")), required=False, max_length=20,
        validators=[phone_validator],
    )
    care_flag_choices = forms.MultipleChoiceField(
        label=capfirst(_("care flags")), required=False, choices=CareFlag.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    service_check = staticmethod(services.check_household)
    # Set per request by HouseholdAdmin.get_form.
    reader = None
    context = "admin:household:change"

    class Meta:
        model = Household
        exclude = ["contact_phone", "care_flags"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        household = self.instance
        self.reveals_phone = personal_data.can_view(self.reader)
        self.shows_flags = care.can_view_care_flags(self.reader)
        if not self.shows_flags:
            self.fields.pop("care_flag_choices", None)
        elif household.pk is not None and not self.is_bound:
            self.fields["care_flag_choices"].initial = care.care_flag_values_for(
                household, self.context, user=self.reader
            )
        if household.pk is None:
            return
        if self.reveals_phone:
            if not self.is_bound:  # a posted form shows what was posted: no read
                self.fields["phone_number"].initial = self._phone()
            return
        masked = self._phone()
        if masked:
            field = self.fields["phone_number"]
            field.widget.attrs["placeholder"] = masked
            field.help_text = _("Recorded: %(masked)s. %(keep)s") % {
                "masked": masked, "keep": _("Leave blank to keep it."),
            }

    def _phone(self):
        household = self.instance
        return personal_data.reveal(
            household.head, "household_phone", household.contact_phone,
            pii.mask_phone(household.contact_phone), self.context, user=self.reader,
        )

    def service_values(self):
        """contact_phone (blank keeps the stored one when the reader never saw it) and
        care_flags (only from a reader who may see them)."""
        data = self.cleaned_data
        values = {}
        phone = (data.get("phone_number") or "").strip()
        if phone or self.instance.pk is None or self.reveals_phone:
            values["contact_phone"] = phone
        if self.shows_flags and "care_flag_choices" in data:
            values["care_flags"] = list(data["care_flag_choices"])
        return values

    def prepare_instance(self):
        for name, value in self.service_values().items():
            setattr(self.instance, name, value)

    def _post_clean(self):
        super()._post_clean()
        # The service names the phone and the flags by their model names.
        for model_name, form_name in (("contact_phone", "phone_number"),
                                      ("care_flags", "care_flag_choices")):
            if model_name in self._errors and form_name in self.fields:
                self._errors.setdefault(form_name, self.error_class()).extend(
                    self._errors.pop(model_name)
                )


class CareFlagFilter(admin.SimpleListFilter):
    """Offered only to readers who may see care flags: a filter reveals what it matches."""

    title = _("care flag")
    parameter_name = "care_flag"

    def lookups(self, request, model_admin):
        if not care.can_view_care_flags(request.user):
            return []
        return CareFlag.choices

    def queryset(self, request, queryset):
        value = self.value()
        if value in CareFlag.values and care.can_view_care_flags(request.user):
            return queryset.filter(care.flag_q(value))
        return queryset


SENSITIVE_LOOKUPS = {
    "contact_phone": personal_data.can_view,
    "care_flags": care.can_view_care_flags,
}


@admin.register(Household)
class HouseholdAdmin(HouseholdImportMixin, TerritoryAdmin):
    form = HouseholdForm
    list_display = [
        "room_label", "compound", "building_label", "entrance_label", "head",
        "members_count", "phone_display", "care_flags_display", "updated_at",
    ]
    export_fields = [
        "compound", "building_label", "entrance_label", "room", "head", "members_count",
        "phone_export", "care_flags_export", "note",
    ]
    list_filter = [("compound", RelatedOnly), CareFlagFilter]
    search_fields = ["compound__name", "building__number", "room", "head__name"]
    list_select_related = ["compound", "building", "entrance", "head"]
    autocomplete_fields = ["compound", "building", "entrance", "head"]
    ordering = ["compound__name", "building__number", "entrance__number", "room"]
    list_per_page = 100

    def get_fieldsets(self, request, obj=None):
        personal = ["phone_number"]
        if care.can_view_care_flags(request.user):
            personal.append("care_flag_choices")
        return [
            (None, {"fields": ["compound", "building", "entrance", "room", "head",
                               "members_count", "note"]}),
            (_("Personal data"), {"fields": personal}),
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {
            "reader": request.user, "context": _context(self, "change"),
        })

    def lookup_allowed(self, lookup, value, request=None):
        # ?care_flags__icontains=… or ?contact_phone__startswith=… would filter by the hidden
        # values and so reveal them.
        field = lookup.split("__", 1)[0]
        check = SENSITIVE_LOOKUPS.get(field)
        if check is not None and not check(request.user if request else None):
            return False
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description=_("room"), ordering="room")
    def room_label(self, obj):
        return obj.room

    @admin.display(description=_("building"), ordering="building__number")
    def building_label(self, obj):
        return obj.building.number if obj.building_id else ""

    @admin.display(description=_("entrance"), ordering="entrance__number")
    def entrance_label(self, obj):
        return obj.entrance.number if obj.entrance_id else ""

    def _phone(self, obj, where):
        return personal_data.reveal(
            obj.head, "household_phone", obj.contact_phone, pii.mask_phone(obj.contact_phone),
            _context(self, where),
        )

    # The form's fields shown read-only (a reader with view permission only) are looked up
    # by name on this admin: these keep that route behind personal_data and grids.care too.
    @admin.display(description=_("contact phone"))
    def phone_number(self, obj):
        return self._phone(obj, "change")

    @admin.display(description=_("care flags"))
    def care_flag_choices(self, obj):
        return care.care_flags_for(obj, _context(self, "change"))

    @admin.display(description=_("contact phone"))
    def phone_display(self, obj):
        return self._phone(obj, "list")

    @admin.display(description=_("care flags"))
    def care_flags_display(self, obj):
        return care.care_flags_for(obj, _context(self, "list"))

    @admin.display(description=_("contact phone"))
    def phone_export(self, obj):
        return self._phone(obj, "export")

    @admin.display(description=_("care flags"))
    def care_flags_export(self, obj):
        return care.care_flags_for(obj, _context(self, "export"))

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in services.HOUSEHOLD_FIELDS
                  if name in form.cleaned_data}
        values.update(form.service_values())
        if change:
            saved = self._run_service(
                request, partial(services.update_household, request.user, obj, **values)
            )
        else:
            saved = self._run_service(
                request, partial(services.create_household, request.user, **values)
            )
        if saved is not None:
            obj.pk = saved.pk

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_household, request.user, obj)


# ---- the five lists --------------------------------------------------------------------------


class ResidentListEntryForm(ServiceCheckedForm):
    service_check = staticmethod(services.check_list_entry)

    class Meta:
        model = ResidentListEntry
        fields = "__all__"


@admin.register(ResidentListEntry)
class ResidentListEntryAdmin(TerritoryAdmin):
    form = ResidentListEntryForm
    list_display = ["person", "kind", "compound", "household", "added_on", "note"]
    list_filter = ["kind", ("compound", RelatedOnly)]
    search_fields = ["person__name", "compound__name", "note"]
    list_select_related = [
        "person", "compound", "household__compound", "household__building",
        "household__entrance",
    ]
    autocomplete_fields = ["compound", "person", "household"]
    ordering = ["compound__name", "kind", "person__name"]
    fields = ["compound", "kind", "person", "household", "note"]

    def get_readonly_fields(self, request, obj=None):
        # An entry is one person on one list of one compound: a mistake is removed and re-added.
        return ["compound", "kind", "person"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            saved = self._run_service(request, partial(
                services.update_list_entry, request.user, obj,
                household=data.get("household"), note=data.get("note", ""),
            ))
        else:
            saved = self._run_service(request, partial(
                services.add_list_entry, request.user, compound=data.get("compound"),
                kind=data.get("kind"), person=data.get("person"),
                household=data.get("household"), note=data.get("note", ""),
            ))
        if saved is not None:
            obj.pk = saved.pk

    def delete_model(self, request, obj):
        self._run_service(request, services.remove_list_entry, request.user, obj)
