"""Shared pieces of the property-management admin: forms that save through a service, small
action forms on a row (end a service, the deliberation steps), and the unit chooser of the
report pages."""

import datetime as dt
import re

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from party_org.admin_forms import ServiceForm, errors_into_form  # noqa: F401 - re-exported
from party_org.models import OrgKind, OrgUnit
from party_org.selectors import scoped

REPORT_UNIT_KINDS = (OrgKind.CITY, OrgKind.DISTRICT, OrgKind.STREET, OrgKind.COMMUNITY)


def no_bulk_delete(actions):
    # Bulk delete would skip the services (their rules and the change log).
    actions.pop("delete_selected", None)
    return actions


def form_for_user(form_class, user):
    return type(form_class.__name__, (form_class,), {"user": user})


class ServiceFormAdminMixin:
    """For ModelAdmins whose form is a ServiceForm: the form carries the user, and the
    admin itself never saves the row."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = kwargs.get("form") or self.form
        if isinstance(form, type) and issubclass(form, ServiceForm):
            kwargs["form"] = form_for_user(form, request.user)
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        """Nothing: the form's service saved it."""


class RowActionForm(forms.Form):
    """A small form about one row; `perform` calls the service."""

    error_fields = {}

    def __init__(self, *args, obj, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.obj, self.user = obj, user

    def perform(self):
        raise NotImplementedError


def run_row_action(model_admin, request, obj, form_class, *, title, submit, back_url, summary,
                   success, extra=None):
    """GET shows the form; a valid POST runs it and goes back to the row (or shows the
    service's refusal on the form)."""
    posted = request.method == "POST"
    form = form_class(request.POST if posted else None, request.FILES if posted else None,
                      obj=obj, user=request.user)
    if posted and form.is_valid():
        try:
            result = form.perform()
        except PermissionDenied as error:
            model_admin.message_user(request, str(error) or gettext("You may not do this."),
                                     messages.ERROR)
            return HttpResponseRedirect(back_url)
        except ValidationError as error:
            errors_into_form(form, error, form.error_fields)
        else:
            text = success(result) if callable(success) else success
            model_admin.message_user(request, text, messages.SUCCESS)
            return HttpResponseRedirect(back_url)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "submit_label": submit,
        "original": obj,
        "summary": summary,
        "form": form,
        "back_url": back_url,
        "media": model_admin.media + form.media,
        **(extra or {}),
    }
    return TemplateResponse(request, "admin/property_mgmt/row_action.html", context)


def report_units(user):
    """The units a report page may be drawn for: the city, districts, streets and communities
    in the user's scope, in tree order."""
    units = OrgUnit.objects.filter(kind__in=REPORT_UNIT_KINDS, is_active=True)
    return scoped(user, units).order_by("tree_id", "lft").only(
        "pk", "name", "kind", "tree_id", "lft", "rght", "level")


def chosen_unit(request):
    """(the unit chosen with ?unit=, the choices); the first (highest) choice by default."""
    units = list(report_units(request.user))
    wanted = request.GET.get("unit", "")
    chosen = next((u for u in units if str(u.pk) == wanted), None)
    return chosen or (units[0] if units else None), units


MONTH_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})(?:-\d{1,2})?\s*$")


class MonthField(forms.CharField):
    """A month as YYYY-MM (the browser's month input); cleaned to its first day."""

    widget = forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"})
    default_error_messages = {"invalid": _("Enter a month as YYYY-MM.")}

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        match = MONTH_RE.match(value)
        if not match:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        year, month = int(match.group(1)), int(match.group(2))
        if not (2000 <= year <= 2100 and 1 <= month <= 12):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return dt.date(year, month, 1)
