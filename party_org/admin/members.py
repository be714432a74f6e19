"""Admin of people, the four member ledgers (一类一档, 四本台账) and the read-only logs.

Phones and ID numbers reach the page, the change form and the Excel export only through
party_org.personal_data, so readers without `view_personal_data` see masked values and every
full read is logged. Every save goes through party_org.services.members.
"""

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from .. import personal_data, pii
from ..admin_scoping import IdAutocompleteSelect, ScopedAdminMixin, ServiceErrorsMixin
from ..models import (
    LEDGER_MODELS,
    AuditEntry,
    DirectMember,
    InServiceMember,
    MemberCategory,
    MemberChange,
    MobileMember,
    OrgKind,
    PartyMember,
    Person,
    PersonalDataAccess,
    RetiredMember,
    WorkUnit,
)
from ..models.members import MEMBER_UNIT_KINDS
from ..models.tree import phone_validator
from ..services import members as services
from .ledger_import import LedgerImportMixin

MEMBER_MODEL_NAMES = {PartyMember._meta.model_name} | {
    model._meta.model_name for model in LEDGER_MODELS.values()
}


def _context(model_admin, where):
    return f"admin:{model_admin.opts.model_name}:{where}"


def _errors_into_form(form, error, field_map=None):
    """Put a service's ValidationError beside the form's fields (or on top of the form)."""
    field_map = field_map or {}
    for field, messages_ in error.update_error_dict({}).items():
        target = field_map.get(field, field)
        form.add_error(target if target in form.fields else None, messages_)


class ServiceSaveMixin:
    """When a service refuses a save that passed the form, write no admin log entry and no
    inline rows: nothing was saved."""

    def log_addition(self, request, obj, message):
        if not getattr(request, "service_error", None):
            return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        if not getattr(request, "service_error", None):
            return super().log_change(request, obj, message)

    def save_related(self, request, form, formsets, change):
        if not getattr(request, "service_error", None):
            super().save_related(request, form, formsets, change)


def _search(default, request, queryset, search_term, path):
    """A full, valid ID number finds its person by the keyed hash; anything else searches as
    the admin does."""
    lookup = pii.id_number_lookup(search_term, path)
    if lookup is not None:
        return queryset.filter(**lookup), False
    return default(request, queryset, search_term)


# ---- people ----------------------------------------------------------------------------------


class PersonAdminForm(forms.ModelForm):
    """Phone and ID number are form-only fields, filled through personal_data.

    A reader without the permission gets them blank, with the masked value as help text, and
    leaving them blank keeps the stored value; the full values never reach the page.
    """

    phone_number = forms.CharField(
        label=capfirst(_("phone")), required=False, max_length=20,
        validators=[phone_validator],
    )
    id_number = forms.CharField(
        label=capfirst(_("ID number")), required=False, max_length=22,
        help_text=_("18 characters; the birth date and gender are taken from it when left blank."),
    )

    # Set per request by PersonAdmin.get_form.
    reader = None
    context = "admin:person:change"

    class Meta:
        model = Person
        fields = ["name", "gender", "birth_date", "org_unit"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reveals = personal_data.can_view(self.reader)
        person = self.instance
        if person.pk is None:
            return
        if self.reveals:
            if not self.is_bound:
                self.fields["phone_number"].initial = personal_data.phone_for(
                    person, self.context, user=self.reader
                )
                self.fields["id_number"].initial = personal_data.id_number_for(
                    person, self.context, user=self.reader
                )
            return
        keep = _("Leave blank to keep it.")
        for name, masked in (
            ("phone_number", personal_data.phone_for(person, self.context, user=self.reader)),
            ("id_number", personal_data.id_number_for(person, self.context, user=self.reader)),
        ):
            field = self.fields[name]
            field.widget.attrs["placeholder"] = masked or ""
            if masked:
                field.help_text = _("Recorded: %(masked)s. %(keep)s") % {
                    "masked": masked, "keep": keep,
                }

    def service_values(self):
        """phone and id_number for the service: blank keeps the stored value when the reader
        never saw it."""
        data = self.cleaned_data
        values = {}
        for form_name, service_name in (("phone_number", "phone"), ("id_number", "id_number")):
            value = (data.get(form_name) or "").strip()
            if value or self.instance.pk is None or self.reveals:
                values[service_name] = value
        return values

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        fields = {name: data[name] for name in services.PERSON_FIELDS if name in data}
        try:
            services.check_person(
                self.reader, self.instance if self.instance.pk else None,
                **self.service_values(), **fields,
            )
        except ValidationError as error:
            _errors_into_form(self, error, {"phone": "phone_number"})
        return data


@admin.register(Person)
class PersonAdmin(ServiceSaveMixin, ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    form = PersonAdminForm
    list_display = [
        "name", "gender", "birth_date", "phone_display", "id_number_display", "org_unit",
    ]
    export_fields = ["name", "gender", "birth_date", "phone_export", "id_number_export", "org_unit"]
    list_filter = ["gender", ("org_unit", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name"]
    ordering = ["name", "id"]
    list_select_related = ["org_unit"]
    list_per_page = 50
    fieldsets = [
        (None, {"fields": ["name", "gender", "birth_date", "org_unit"]}),
        (_("Personal data"), {"fields": ["phone_number", "id_number"]}),
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {
            "reader": request.user, "context": _context(self, "change"),
        })

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = _search(
            super().get_search_results, request, queryset, search_term, ""
        )
        # Choosing the person of a new ledger entry: people already on a ledger are not offered.
        if (
            request.GET.get("field_name") == "person"
            and request.GET.get("model_name") in MEMBER_MODEL_NAMES
        ):
            queryset = queryset.filter(membership__isnull=True)
        return queryset, may_have_duplicates

    # A reader with view permission only gets the form's fields as read-only values, looked up
    # by name on this admin first: these keep that route behind personal_data too.
    @admin.display(description=_("phone"))
    def phone_number(self, obj):
        return personal_data.phone_for(obj, _context(self, "change"))

    @admin.display(description=_("ID number"))
    def id_number(self, obj):
        return personal_data.id_number_for(obj, _context(self, "change"))

    @admin.display(description=_("phone"))
    def phone_display(self, obj):
        return personal_data.phone_for(obj, _context(self, "list"))

    @admin.display(description=_("ID number"))
    def id_number_display(self, obj):
        return personal_data.id_number_for(obj, _context(self, "list"))

    @admin.display(description=_("phone"))
    def phone_export(self, obj):
        return personal_data.phone_for(obj, _context(self, "export"))

    @admin.display(description=_("ID number"))
    def id_number_export(self, obj):
        return personal_data.id_number_for(obj, _context(self, "export"))

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in services.PERSON_FIELDS
                  if name in form.cleaned_data}
        values = form.service_values()
        if change:
            saved = self._run_service(
                request, lambda: services.update_person(request.user, obj, **values, **fields)
            )
        else:
            saved = self._run_service(
                request, lambda: services.create_person(request.user, **values, **fields)
            )
        if saved is not None:
            obj.pk = saved.pk
            obj.refresh_from_db()

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_person, request.user, obj)

    def get_actions(self, request):
        # Bulk delete would skip the service (its refusal rules and the change log).
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


# ---- member history --------------------------------------------------------------------------


class ReadOnlyAdminMixin:
    """For logs: readable by whoever may view them, never added, changed or deleted, even by a
    superuser (rows are written by the services and the access-log middleware only)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MemberChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = MemberChange
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "effective_on", "kind", "from_label", "to_label", "note", "recorded_by", "recorded_at",
    ]
    verbose_name_plural = _("history")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("recorded_by")

    @admin.display(description=_("from"))
    def from_label(self, obj):
        return services.history_value_label(obj.kind, obj.from_value)

    @admin.display(description=_("to"))
    def to_label(self, obj):
        return services.history_value_label(obj.kind, obj.to_value)


@admin.register(MemberChange)
class MemberChangeAdmin(ReadOnlyAdminMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "effective_on", "member", "kind", "from_label", "to_label", "note", "recorded_by",
        "recorded_at",
    ]
    list_filter = ["kind", ("member__org_unit", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["member__person__name", "note"]
    list_select_related = ["member__person", "recorded_by"]
    date_hierarchy = "effective_on"
    fields = readonly_fields = list_display

    from_label = MemberChangeInline.from_label
    to_label = MemberChangeInline.to_label


# ---- members and the four ledgers ------------------------------------------------------------


class MemberForm(forms.ModelForm):
    """The member's own fields plus the date, place and note of a change to its history."""

    effective_on = forms.DateField(
        label=_("Date of this change"), required=False,
        help_text=_("When the category, branch or status changes: the day it takes effect "
                    "(today when left blank)."),
    )
    transferred_in_on = forms.DateField(
        label=_("Transferred in on"), required=False,
        help_text=_("Fill in when the member arrives from another party organisation."),
    )
    transfer_place = forms.CharField(
        label=_("Transferred from / to"), required=False, max_length=120,
        help_text=_("The party organisation the member comes from or is transferred to."),
    )
    change_note = forms.CharField(label=_("Note on the change"), required=False, max_length=300)

    # Set per request by MemberAdmin.get_form.
    ledger_category = None

    class Meta:
        model = PartyMember
        fields = "__all__"
        error_messages = {
            "person": {"unique": _("This person is already recorded as a party member.")}
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None and self.ledger_category:
            # The ledger decides the category: the model's checks (an employer for in-service
            # members) must see it while the form validates.
            self.instance.category = self.ledger_category

    def member_fields(self):
        return {
            name: self.cleaned_data[name]
            for name in services.MEMBER_FIELDS
            if name in self.cleaned_data
        }

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        fields = self.member_fields()
        try:
            if self.instance.pk is None:
                if self.ledger_category:
                    fields["category"] = self.ledger_category
                services.check_new_member(
                    person=data.get("person"),
                    transferred_in_on=data.get("transferred_in_on"),
                    **fields,
                )
            else:
                services.check_member_change(
                    self.instance,
                    effective_on=data.get("effective_on"),
                    transfer_place=data.get("transfer_place", ""),
                    **fields,
                )
        except ValidationError as error:
            _errors_into_form(self, error)
        return data

    def _post_clean(self):
        # The services above ran the model's checks already; running them again would repeat
        # every message.
        if self.errors:
            return
        super()._post_clean()


class MemberAdmin(ServiceSaveMixin, ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    """Shared by the all-members list and the four ledgers; `ledger_category` None = all."""

    form = MemberForm
    ledger_category = None
    search_fields = ["person__name"]
    autocomplete_fields = ["person"]
    inlines = [MemberChangeInline]
    list_per_page = 50
    ordering = ["org_unit__tree_id", "org_unit__lft", "person__name"]
    extra_columns = []
    extra_export = []
    extra_filters = []

    base_columns = [
        "name", "gender", "age", "phone_display", "org_unit", "household", "joined_on",
    ]
    tail_columns = ["status", "flags"]

    def get_list_display(self, request):
        return [*self.base_columns, *self.extra_columns, *self.tail_columns]

    def get_search_results(self, request, queryset, search_term):
        return _search(
            super().get_search_results, request, queryset, search_term, "person__"
        )

    @property
    def export_fields(self):
        return [
            "name", "gender", "birth_date", "id_number_export", "phone_export", "category",
            "org_unit", "household", "joined_on", *self.extra_export, "status", "is_veteran",
            "is_cadre", "fifty_years",
        ]

    def get_list_filter(self, request):
        return [
            "status",
            ("org_unit", admin.RelatedOnlyFieldListFilter),
            *self.extra_filters,
            "is_veteran",
            "is_cadre",
            "fifty_years",
        ]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related(
            "person", "org_unit", "household", "employer"
        )
        if self.ledger_category:
            queryset = queryset.filter(category=self.ledger_category)
        return queryset

    # Access follows PartyMember's permissions: the ledgers are views of the same rows.
    def _may(self, request, action):
        return request.user.has_perm(f"party_org.{action}_partymember")

    def has_view_permission(self, request, obj=None):
        return self._may(request, "view") or self._may(request, "change")

    def has_add_permission(self, request):
        return self._may(request, "add")

    def has_change_permission(self, request, obj=None):
        return self._may(request, "change")

    def has_delete_permission(self, request, obj=None):
        return self._may(request, "delete")

    def get_fieldsets(self, request, obj=None):
        member = [
            "person", "org_unit", "household", "joined_on", "employer",
            "record_location", "record_held_by",
        ]
        if obj is not None or not self.ledger_category:
            member.insert(1, "category")
        if obj is not None:
            member.append("status")
        flags = ["is_veteran", "is_cadre", "fifty_years"]
        if obj is None:
            change = ["transferred_in_on", "transfer_place", "change_note"]
            change_title = _("Transferred in from elsewhere")
        else:
            change = ["effective_on", "transfer_place", "change_note"]
            change_title = _("Change of category, branch or status")
        return [
            (None, {"fields": member}),
            (_("Flags"), {"fields": flags}),
            (change_title, {"fields": change}),
        ]

    def get_readonly_fields(self, request, obj=None):
        # A ledger entry belongs to one person for good; a mistake is deleted and re-entered.
        return ["person"] if obj is not None else []

    def get_autocomplete_fields(self, request):
        fields = list(super().get_autocomplete_fields(request))
        work_units = self.admin_site._registry.get(WorkUnit)
        if work_units is not None and work_units.search_fields:
            fields.append("employer")
        return fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"ledger_category": self.ledger_category})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = IdAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is not None and db_field.name == "org_unit":
            formfield.queryset = formfield.queryset.filter(kind__in=MEMBER_UNIT_KINDS)
        elif formfield is not None and db_field.name == "household":
            formfield.queryset = formfield.queryset.filter(kind=OrgKind.HOUSEHOLD)
        return formfield

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fields = form.member_fields()
        if change:
            saved = self._run_service(request, lambda: services.update_member(
                request.user, obj,
                effective_on=data.get("effective_on"),
                note=data.get("change_note", ""),
                transfer_place=data.get("transfer_place", ""),
                **fields,
            ))
        else:
            fields.pop("status", None)
            fields["category"] = self.ledger_category or fields.get("category")
            saved = self._run_service(request, lambda: services.create_member(
                request.user,
                person=obj.person,
                transferred_in_on=data.get("transferred_in_on"),
                transferred_from=data.get("transfer_place", ""),
                note=data.get("change_note", ""),
                **fields,
            ))
        if saved is not None:
            obj.pk = saved.pk
            obj.refresh_from_db()

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_member, request.user, obj)

    def get_actions(self, request):
        # Bulk delete would skip the service (its refusal rules and the change log).
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def response_change(self, request, obj):
        if (
            self.ledger_category
            and not getattr(request, "service_error", None)
            and obj.category != self.ledger_category
        ):
            target = LEDGER_MODELS[obj.category]._meta
            self.message_user(
                request,
                _("%(name)s is now on the ledger of %(ledger)s.")
                % {"name": obj.person.name, "ledger": target.verbose_name_plural},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(
                reverse(f"admin:{target.app_label}_{target.model_name}_change", args=[obj.pk])
            )
        return super().response_change(request, obj)

    # -- columns --

    @admin.display(description=_("name"), ordering="person__name")
    def name(self, obj):
        return obj.person.name

    @admin.display(description=_("gender"))
    def gender(self, obj):
        return obj.person.get_gender_display()

    @admin.display(description=_("birth date"))
    def birth_date(self, obj):
        return obj.person.birth_date

    @admin.display(description=_("age"), ordering="-person__birth_date")
    def age(self, obj):
        born = obj.person.birth_date
        if born is None:
            return None
        today = timezone.localdate()
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    @admin.display(description=_("phone"))
    def phone_display(self, obj):
        return personal_data.phone_for(obj.person, _context(self, "list"))

    @admin.display(description=_("phone"))
    def phone_export(self, obj):
        return personal_data.phone_for(obj.person, _context(self, "export"))

    @admin.display(description=_("ID number"))
    def id_number_export(self, obj):
        return personal_data.id_number_for(obj.person, _context(self, "export"))

    @admin.display(description=_("flags"))
    def flags(self, obj):
        labels = [
            str(PartyMember._meta.get_field(name).verbose_name)
            for name in ("is_veteran", "is_cadre", "fifty_years")
            if getattr(obj, name)
        ]
        return "、".join(labels)


@admin.register(PartyMember)
class PartyMemberAdmin(MemberAdmin):
    """Every member whatever the ledger: for searching across ledgers and for choosing members
    elsewhere in the admin (autocomplete)."""

    extra_columns = ["category"]
    extra_export = ["employer", "record_location", "record_held_by"]
    extra_filters = ["category"]


@admin.register(DirectMember)
class DirectMemberLedgerAdmin(LedgerImportMixin, MemberAdmin):
    ledger_category = MemberCategory.DIRECT.value


@admin.register(MobileMember)
class MobileMemberLedgerAdmin(LedgerImportMixin, MemberAdmin):
    ledger_category = MemberCategory.MOBILE.value
    extra_columns = ["record_location", "record_held_by"]
    extra_export = ["record_location", "record_held_by"]
    extra_filters = ["record_location"]


@admin.register(InServiceMember)
class InServiceMemberLedgerAdmin(LedgerImportMixin, MemberAdmin):
    ledger_category = MemberCategory.IN_SERVICE.value
    extra_columns = ["employer"]
    extra_export = ["employer"]
    extra_filters = [("employer", admin.RelatedOnlyFieldListFilter)]


@admin.register(RetiredMember)
class RetiredMemberLedgerAdmin(LedgerImportMixin, MemberAdmin):
    ledger_category = MemberCategory.RETIRED.value
    extra_columns = ["record_location", "record_held_by"]
    extra_export = ["record_location", "record_held_by"]
    extra_filters = ["record_location"]


# ---- the logs --------------------------------------------------------------------------------


@admin.register(PersonalDataAccess)
class PersonalDataAccessAdmin(ReadOnlyAdminMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["accessed_at", "user", "person", "fields", "context"]
    list_filter = [("user", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["person__name", "user__username", "context"]
    list_select_related = ["user", "person"]
    date_hierarchy = "accessed_at"
    fields = readonly_fields = list_display


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["at", "user", "action", "model", "object_id", "summary", "org_unit"]
    list_filter = [
        "action", "model", ("org_unit", admin.RelatedOnlyFieldListFilter),
        ("user", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["summary", "object_id"]
    list_select_related = ["user", "org_unit"]
    date_hierarchy = "at"
    fields = readonly_fields = [*list_display, "changes_table"]

    @admin.display(description=_("changes"))
    def changes_table(self, obj):
        rows = sorted((obj.changes or {}).items())
        if not rows:
            return "—"
        return format_html_join(
            "\n", "<div><b>{}</b>: {} → {}</div>",
            ((_field_label(obj.model, field), _blank(pair[0]), _blank(pair[1]))
             for field, pair in rows if isinstance(pair, (list, tuple)) and len(pair) == 2),
        )


def _field_label(model_label, field):
    try:
        return capfirst(apps.get_model(model_label)._meta.get_field(field).verbose_name)
    except (LookupError, ValueError, FieldDoesNotExist):
        # Not a model field (the phone and ID number entries of a person, for instance).
        labels = {"id_number": _("ID number")}
        return capfirst(labels.get(field, field))


def _blank(value):
    return "—" if value in (None, "") else value
