"""Excel import of household files in the admin: template, preview, all-or-nothing commit.

The upload waits server-side, encrypted, between the preview and the confirmation (the members'
`PendingUpload`), since it may hold ID numbers and care flags.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from party_org.ledger_io import MAX_FILE_BYTES, PendingUpload

from .. import household_io

PREVIEW_ERROR_LIMIT = 2000


class HouseholdUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Household file (.xlsx)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx," + household_io.XLSX_CONTENT_TYPE}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        self.data_bytes, self.filename = household_io.read_upload(upload, upload.name)
        return upload


class HouseholdImportMixin:
    change_list_template = "admin/grids/household/change_list.html"

    def _url_name(self, suffix):
        return f"{self.opts.app_label}_{self.opts.model_name}_{suffix}"

    def _url(self, suffix, *args):
        return reverse(f"{self.admin_site.name}:{self._url_name(suffix)}", args=args)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name=self._url_name("import")),
            path("import/template/", wrap(self.template_view),
                 name=self._url_name("import_template")),
            path("import/<str:token>/", wrap(self.preview_view),
                 name=self._url_name("import_preview")),
            *super().get_urls(),
        ]

    def _check(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied(_("You may not import household files."))

    def _context(self, request, title, **extra):
        return {
            **self.admin_site.each_context(request), "opts": self.opts, "title": title,
            "template_url": self._url("import_template"), "import_url": self._url("import"),
            "changelist_url": self._url("changelist"),
            "has_view_permission": self.has_view_permission(request),
            "max_rows": household_io.MAX_ROWS, "max_mb": MAX_FILE_BYTES // (1024 * 1024),
            "columns": household_io.COLUMNS, **extra,
        }

    def _pending(self, request, token):
        return PendingUpload.load(token, user=request.user, category=household_io.KIND,
                                  model_label=self.opts.label_lower)

    def _expired(self, request):
        self.message_user(
            request, _("This upload has expired or is not yours; please upload the file again."),
            messages.WARNING,
        )
        return HttpResponseRedirect(self._url("import"))

    def template_view(self, request):
        self._check(request)
        response = HttpResponse(household_io.build_template(),
                                content_type=household_io.XLSX_CONTENT_TYPE)
        response["Content-Disposition"] = content_disposition_header(
            True, _("household files import template.xlsx")
        )
        return response

    def import_view(self, request):
        self._check(request)
        form = HouseholdUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            pending = PendingUpload.save(
                form.data_bytes, user=request.user, category=household_io.KIND,
                model_label=self.opts.label_lower, filename=form.filename,
            )
            return HttpResponseRedirect(self._url("import_preview", pending.token))
        return TemplateResponse(
            request, "admin/grids/household/import.html",
            self._context(request, _("Import household files"), form=form),
        )

    def preview_view(self, request, token):
        self._check(request)
        pending = self._pending(request, token)
        data = pending.read() if pending is not None else None
        if data is None:
            if pending is not None:
                pending.delete()
            return self._expired(request)
        if request.method == "POST":
            try:
                result = household_io.commit(data, request.user, pending.filename)
            except household_io.ImportRejected as rejected:
                self.message_user(request, " ".join(rejected.messages), messages.ERROR)
                return self._preview(request, pending, rejected.result)
            except (ValidationError, PermissionDenied) as error:
                text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
                self.message_user(request, text, messages.ERROR)
                return HttpResponseRedirect(self._url("import_preview", pending.token))
            pending.delete()
            self.message_user(
                request,
                _("Imported %(rows)d household files: %(new)d new, %(updated)d updated, "
                  "%(unchanged)d unchanged.")
                % {"rows": result.rows, "new": result.new, "updated": result.updated,
                   "unchanged": result.unchanged},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(self._url("changelist"))
        return self._preview(request, pending,
                             household_io.parse(data, request.user, pending.filename))

    def _preview(self, request, pending, result):
        context = self._context(
            request, _("Check the household files import"), result=result,
            shown_errors=result.errors[:PREVIEW_ERROR_LIMIT],
            hidden_errors=max(0, len(result.errors) - PREVIEW_ERROR_LIMIT),
            preview_url=self._url("import_preview", pending.token), form=HouseholdUploadForm(),
        )
        return TemplateResponse(request, "admin/grids/household/import_preview.html", context)
