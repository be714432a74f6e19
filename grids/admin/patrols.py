"""grids admin: patrol points (重点巡查点位), check-ins (巡查打卡) and household visits (入户走访).

Points are saved through grids.services.patrols; a check-in or a visit is entered once through
its service (a visit may raise a grid event on the way) and is read-only afterwards. Every list,
choice and export is scoped through the point's or household's compound.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Max
from django.forms.models import construct_instance
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from party_org.admin.members import ServiceSaveMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin

from ..models import EventCategory, HouseholdVisit, PatrolCheckin, PatrolPoint
from ..services import patrols as services
from .territory import ServiceCheckedForm

RelatedOnly = admin.RelatedOnlyFieldListFilter


def _errors_into_form(form, error):
    if isinstance(error, PermissionDenied):
        form.add_error(None, str(error))
        return
    for field, messages in error.update_error_dict({}).items():
        form.add_error(field if field in form.fields else None, messages)


def _no_bulk_delete(actions):
    # Bulk delete would skip the services (their refusal rules and the change log).
    actions.pop("delete_selected", None)
    return actions


class EnteredOnceAdmin(ServiceSaveMixin, ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    """Rows entered once through a service, then kept as they are (a record of what happened)."""

    add_form = None
    add_fields = ()
    view_fields = ()

    def has_change_permission(self, request, obj=None):
        if obj is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return _no_bulk_delete(super().get_actions(request))

    def get_fields(self, request, obj=None):
        return list(self.add_fields if obj is None else self.view_fields)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = type(self.add_form.__name__, (self.add_form,), {"user": request.user})
        else:
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_related(self, request, form, formsets, change):
        """Nothing: the service saved the row."""


class ServiceAddForm(forms.ModelForm):
    """Refused by the service's own check before anything is saved, beside the field."""

    user = None  # set per request by EnteredOnceAdmin.get_form

    def service_check(self, data):
        raise NotImplementedError

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                self.service_check(data)
            except (ValidationError, PermissionDenied) as error:
                _errors_into_form(self, error)
        return data

    def _post_clean(self):
        # Fill the instance (the admin's messages name it) but leave the checks to the
        # service: the model's own would repeat its messages.
        if not self.errors:
            self.instance = construct_instance(self, self.instance, self._meta.fields)


# ---- patrol points ---------------------------------------------------------------------------


class PatrolPointForm(ServiceCheckedForm):
    service_check = staticmethod(services.check_patrol_point)

    class Meta:
        model = PatrolPoint
        fields = ["compound", "name", "description", "is_active"]


@admin.register(PatrolPoint)
class PatrolPointAdmin(ServiceSaveMixin, ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    form = PatrolPointForm
    list_display = ["name", "compound", "description", "checkin_count", "last_checkin", "is_active"]
    list_filter = ["is_active", ("compound", RelatedOnly)]
    search_fields = ["name", "compound__name"]
    autocomplete_fields = ["compound"]
    list_select_related = ["compound"]
    ordering = ["compound__name", "name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            checkin_total=Count("checkins"), last_checkin_at=Max("checkins__at")
        )

    def get_actions(self, request):
        return _no_bulk_delete(super().get_actions(request))

    @admin.display(description=_("check-ins"), ordering="checkin_total")
    def checkin_count(self, obj):
        return getattr(obj, "checkin_total", None)

    @admin.display(description=_("last check-in"), ordering="last_checkin_at")
    def last_checkin(self, obj):
        at = getattr(obj, "last_checkin_at", None)
        return timezone.localtime(at).strftime("%Y-%m-%d %H:%M") if at else "—"

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in services.POINT_FIELDS
                  if name in form.cleaned_data}
        if change:
            saved = self._run_service(
                request, lambda: services.update_patrol_point(request.user, obj, **values)
            )
        else:
            saved = self._run_service(
                request, lambda: services.create_patrol_point(request.user, **values)
            )
        if saved is not None:
            obj.pk = saved.pk

    def delete_model(self, request, obj):
        self._run_service(request, services.delete_patrol_point, request.user, obj)


# ---- check-ins -------------------------------------------------------------------------------


class CheckinForm(ServiceAddForm):
    class Meta:
        model = PatrolCheckin
        fields = ["point", "worker", "at", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "at" in self.fields and not self.is_bound:
            self.fields["at"].initial = timezone.localtime().replace(second=0, microsecond=0)

    def service_check(self, data):
        services.check_checkin(self.user, data["worker"], data["point"], data.get("note", ""),
                               data["at"])

    def save(self, commit=True):
        data = self.cleaned_data
        return services.check_in(self.user, data["worker"], data["point"], data.get("note", ""),
                                 data["at"])


@admin.register(PatrolCheckin)
class PatrolCheckinAdmin(EnteredOnceAdmin):
    add_form = CheckinForm
    add_fields = ["point", "worker", "at", "note"]
    view_fields = ["point", "worker", "at", "note", "event"]
    list_display = ["at", "point_name", "compound", "worker_name", "note", "event"]
    list_filter = [("point__compound", RelatedOnly), "worker__kind"]
    search_fields = ["point__name", "point__compound__name", "worker__person__name", "note"]
    autocomplete_fields = ["point", "worker"]
    list_select_related = ["point__compound", "worker__person", "event"]
    date_hierarchy = "at"

    @admin.display(description=_("patrol point"), ordering="point__name")
    def point_name(self, obj):
        return obj.point.name

    @admin.display(description=_("compound"), ordering="point__compound__name")
    def compound(self, obj):
        return obj.point.compound.name

    @admin.display(description=_("grid worker"), ordering="worker__person__name")
    def worker_name(self, obj):
        return obj.worker.person.name

    def save_form(self, request, form, change):
        return form.instance

    def save_model(self, request, obj, form, change):
        saved = self._run_service(request, form.save)
        if saved is not None:
            obj.pk = saved.pk


# ---- household visits ------------------------------------------------------------------------


class VisitForm(ServiceAddForm):
    raise_event_category = forms.ModelChoiceField(
        label=_("raise an event in category"), queryset=EventCategory.objects.none(),
        required=False,
        help_text=_("Leave empty when the visit found nothing that needs handling."),
    )
    event_description = forms.CharField(
        label=_("event description"), required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("The problem for the event; the findings are used when left empty."),
    )

    class Meta:
        model = HouseholdVisit
        fields = ["household", "worker", "visited_on", "findings"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["raise_event_category"].queryset = EventCategory.objects.filter(is_active=True)
        if "visited_on" in self.fields and not self.is_bound:
            self.fields["visited_on"].initial = timezone.localdate()

    def _args(self, data):
        return (
            self.user, data["worker"], data["household"], data["visited_on"],
            data.get("findings", ""), data.get("raise_event_category"),
            data.get("event_description", ""),
        )

    def service_check(self, data):
        services.check_visit(*self._args(data))

    def save(self, commit=True):
        return services.record_visit(*self._args(self.cleaned_data))


@admin.register(HouseholdVisit)
class HouseholdVisitAdmin(EnteredOnceAdmin):
    add_form = VisitForm
    add_fields = [
        "household", "worker", "visited_on", "findings", "raise_event_category",
        "event_description",
    ]
    view_fields = ["household", "worker", "visited_on", "findings", "event_link"]
    list_display = ["visited_on", "household", "worker_name", "findings_short", "event_link"]
    list_filter = [("household__compound", RelatedOnly), "worker__kind"]
    search_fields = ["household__compound__name", "household__room", "worker__person__name",
                     "findings"]
    autocomplete_fields = ["household", "worker"]
    list_select_related = [
        "household__compound", "household__building", "household__entrance", "worker__person",
        "event",
    ]
    date_hierarchy = "visited_on"

    @admin.display(description=_("grid worker"), ordering="worker__person__name")
    def worker_name(self, obj):
        return obj.worker.person.name

    @admin.display(description=_("findings"))
    def findings_short(self, obj):
        return Truncator(obj.findings).chars(40)

    @admin.display(description=_("event raised"))
    def event_link(self, obj):
        if obj is None or obj.event_id is None:
            return "—"
        url = reverse("admin:grids_gridevent_change", args=[obj.event_id])
        return format_html('<a href="{}">{}</a>', url, obj.event)

    def save_form(self, request, form, change):
        return form.instance

    def save_model(self, request, obj, form, change):
        saved = self._run_service(request, form.save)
        if saved is not None:
            obj.pk = saved.pk
