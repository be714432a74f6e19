"""The admin side of the one scoping mechanism, used by every app's ModelAdmin.

`ScopedAdminMixin` restricts the changelist, the change/delete views (an object outside the
scope is "not found"), every foreign-key and many-to-many choice list, the autocomplete views
(which read the target admin's scoped queryset) and the Excel export, all through
`party_org.selectors.scoped`.
"""

import io
import re

from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.core.exceptions import FieldDoesNotExist
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from .selectors import is_scoped_model, scoped
from .xlsx import safe_row


def _scope_related(request, queryset):
    if queryset is not None and is_scoped_model(queryset.model):
        return scoped(request.user, queryset)
    return queryset


def _export_columns(model_admin):
    columns = []
    for name in getattr(model_admin, "export_fields", None) or model_admin.list_display:
        if name == "action_checkbox":
            continue
        try:
            field = model_admin.model._meta.get_field(name)
            header = str(field.verbose_name)
            if field.choices:
                columns.append((header, lambda obj, n=name: getattr(obj, f"get_{n}_display")()))
            else:
                columns.append((header, lambda obj, n=name: getattr(obj, n)))
            continue
        except FieldDoesNotExist:
            pass
        attr = getattr(model_admin, name, None) or getattr(model_admin.model, name, None)
        header = str(getattr(attr, "short_description", name))
        if callable(getattr(model_admin, name, None)):
            columns.append((header, lambda obj, f=getattr(model_admin, name): f(obj)))
        else:
            columns.append((header, lambda obj, n=name: getattr(obj, n)))
    return columns


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if hasattr(value, "tzinfo") and getattr(value, "tzinfo", None) is not None:
        return timezone.localtime(value).replace(tzinfo=None)
    if isinstance(value, (int, float)) or hasattr(value, "isoformat"):
        return value
    return str(value)


@admin.action(description=_("Export selected rows to Excel"))
def export_xlsx(model_admin, request, queryset):
    """The selected rows (already limited to the user's scope) as an .xlsx file."""
    columns = _export_columns(model_admin)
    workbook = Workbook(write_only=True)
    # Excel refuses []:*?/\ in sheet titles and more than 31 characters.
    title = re.sub(r"[\[\]:*?/\\]", "-", str(model_admin.model._meta.verbose_name_plural))[:31]
    sheet = workbook.create_sheet(title=title)
    sheet.append([header for header, _getter in columns])
    for obj in queryset:
        sheet.append(safe_row(sheet, [_cell(getter(obj)) for _header, getter in columns]))
    buffer = io.BytesIO()
    workbook.save(buffer)
    filename = f"{model_admin.model._meta.model_name}-{timezone.localdate():%Y%m%d}.xlsx"
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class IdAutocompleteSelect(AutocompleteSelect):
    """Renders a posted value that is no row id (text, a number past the id column) as no
    selection, instead of querying with it: the form already says the choice is invalid."""

    def optgroups(self, name, value, attr=None):
        ids = [v for v in value if str(v).isdigit() and int(v) < 2**63]
        return super().optgroups(name, ids, attr)


class ScopedAdminMixin:
    """Mix into every ModelAdmin of a model that hangs on the tree (declares `scope_path`)."""

    actions = [export_xlsx]

    def get_queryset(self, request):
        return scoped(request.user, super().get_queryset(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = IdAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is not None and hasattr(formfield, "queryset"):
            formfield.queryset = _scope_related(request, formfield.queryset)
        return formfield

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        if formfield is not None and hasattr(formfield, "queryset"):
            formfield.queryset = _scope_related(request, formfield.queryset)
        return formfield

    def get_field_queryset(self, db, db_field, request):
        # Used by list filters on related fields: their choices are scoped too.
        queryset = super().get_field_queryset(db, db_field, request)
        if queryset is None:
            queryset = db_field.remote_field.model._default_manager.using(db).all()
        return _scope_related(request, queryset)


def _error_text(error):
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


class ServiceErrorsMixin:
    """Service refusals that slip past form validation (a race, a lost scope) become a message
    and a return to the form, never a 500."""

    def _run_service(self, request, func, *args):
        try:
            return func(*args)
        except (ValidationError, PermissionDenied) as error:
            request.service_error = _error_text(error)
            self.message_user(request, request.service_error, messages.ERROR)
            return None

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "service_error", None):
            return HttpResponseRedirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "service_error", None):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def response_delete(self, request, obj_display, obj_id):
        if getattr(request, "service_error", None):
            return HttpResponseRedirect(request.path.rsplit("/delete/", 1)[0] + "/change/")
        return super().response_delete(request, obj_display, obj_id)
