"""Excel import of the member ledgers (template, preview, all-or-nothing commit).

A ledger's ModelAdmin inherits `LedgerImportMixin` first and sets `ledger_category`. The upload is
kept server-side (`ledger_io.PendingUpload`, encrypted) between the preview and the confirmation:
the browser only holds a random token, and the commit reads and validates the stored file again.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import ledger_io
from ..models import MemberCategory

# The preview lists at most this many bad rows on the page; the error report has every one.
PREVIEW_ERROR_LIMIT = 2000


class LedgerUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Ledger file (.xlsx)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx," + ledger_io.XLSX_CONTENT_TYPE}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        self.data_bytes, self.filename = ledger_io.read_upload(upload, upload.name)
        return upload


class LedgerImportMixin:
    """Adds "download the template" and "import" to a member ledger's ModelAdmin."""

    ledger_category = None
    change_list_template = "admin/party_org/ledger_import_change_list.html"
    ledger_import_template = "admin/party_org/ledger_import.html"
    ledger_preview_template = "admin/party_org/ledger_import_preview.html"

    # -- plumbing

    def _ledger(self):
        if self.ledger_category is None:
            raise ImproperlyConfigured(f"{type(self).__name__} must set ledger_category.")
        return MemberCategory(self.ledger_category)

    def _url_name(self, suffix):
        return f"{self.opts.app_label}_{self.opts.model_name}_{suffix}"

    def _url(self, suffix, *args):
        return reverse(f"{self.admin_site.name}:{self._url_name(suffix)}", args=args)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.ledger_import_view), name=self._url_name("import")),
            path(
                "import/template/", wrap(self.ledger_template_view),
                name=self._url_name("import_template"),
            ),
            path(
                "import/<str:token>/", wrap(self.ledger_preview_view),
                name=self._url_name("import_preview"),
            ),
            path(
                "import/<str:token>/errors/", wrap(self.ledger_errors_view),
                name=self._url_name("import_errors"),
            ),
            *super().get_urls(),
        ]

    def _check_import_permission(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied(_("You may not import into this ledger."))

    def _context(self, request, title, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "ledger": self._ledger().label,
            "template_url": self._url("import_template"),
            "import_url": self._url("import"),
            "changelist_url": self._url("changelist"),
            "has_view_permission": self.has_view_permission(request),
            "max_rows": ledger_io.MAX_ROWS,
            "max_mb": ledger_io.MAX_FILE_BYTES // (1024 * 1024),
            **extra,
        }

    def _pending(self, request, token):
        return ledger_io.PendingUpload.load(
            token, user=request.user, category=self._ledger(), model_label=self.opts.label_lower
        )

    def _expired(self, request):
        self.message_user(
            request,
            _("This upload has expired or is not yours; please upload the file again."),
            messages.WARNING,
        )
        return HttpResponseRedirect(self._url("import"))

    # -- views

    def ledger_template_view(self, request):
        self._check_import_permission(request)
        ledger = self._ledger()
        response = HttpResponse(
            ledger_io.build_template(ledger), content_type=ledger_io.XLSX_CONTENT_TYPE
        )
        filename = _("%(ledger)s ledger import template.xlsx") % {"ledger": ledger.label}
        response["Content-Disposition"] = content_disposition_header(True, filename)
        return response

    def ledger_import_view(self, request):
        self._check_import_permission(request)
        form = LedgerUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            pending = ledger_io.PendingUpload.save(
                form.data_bytes, user=request.user, category=self._ledger(),
                model_label=self.opts.label_lower, filename=form.filename,
            )
            return HttpResponseRedirect(self._url("import_preview", pending.token))
        title = _("Import the %(ledger)s ledger") % {"ledger": self._ledger().label}
        return TemplateResponse(
            request, self.ledger_import_template, self._context(request, title, form=form)
        )

    def ledger_preview_view(self, request, token):
        self._check_import_permission(request)
        pending = self._pending(request, token)
        if pending is None:
            return self._expired(request)
        if request.method == "POST":
            return self._confirm(request, pending)
        result = pending.parse(request.user)
        if result is None:
            pending.delete()
            return self._expired(request)
        return self._render_preview(request, pending, result)

    def ledger_errors_view(self, request, token):
        self._check_import_permission(request)
        pending = self._pending(request, token)
        result = pending.parse(request.user) if pending is not None else None
        if result is None:
            return self._expired(request)
        response = HttpResponse(
            ledger_io.error_report(result), content_type=ledger_io.XLSX_CONTENT_TYPE
        )
        filename = _("import errors - %(file)s") % {"file": pending.filename or "ledger.xlsx"}
        if not filename.lower().endswith(".xlsx"):
            filename += ".xlsx"
        response["Content-Disposition"] = content_disposition_header(True, filename)
        return response

    def _confirm(self, request, pending):
        data = pending.read()
        if data is None:
            pending.delete()
            return self._expired(request)
        parsed = ledger_io.ParseResult.for_commit(data, self._ledger(), pending.filename)
        try:
            summary = ledger_io.commit(parsed, request.user)
        except ledger_io.ImportRejected as rejected:
            self.message_user(request, " ".join(rejected.messages), messages.ERROR)
            return self._render_preview(request, pending, rejected.result)
        except (ValidationError, PermissionDenied) as error:
            text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
            self.message_user(request, text, messages.ERROR)
            return HttpResponseRedirect(self._url("import_preview", pending.token))
        pending.delete()
        self.message_user(
            request,
            _("Imported %(rows)d rows into the %(ledger)s ledger: %(new)d new, %(updated)d "
              "updated, %(unchanged)d unchanged.")
            % {"rows": summary.rows, "ledger": self._ledger().label, "new": summary.new,
               "updated": summary.updated, "unchanged": summary.unchanged},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(self._url("changelist"))

    def _render_preview(self, request, pending, result):
        title = _("Check the import into the %(ledger)s ledger") % {
            "ledger": self._ledger().label
        }
        context = self._context(
            request, title,
            result=result,
            pending=pending,
            shown_errors=result.errors[:PREVIEW_ERROR_LIMIT],
            hidden_errors=max(0, len(result.errors) - PREVIEW_ERROR_LIMIT),
            preview_url=self._url("import_preview", pending.token),
            errors_url=self._url("import_errors", pending.token),
            form=LedgerUploadForm(),
        )
        return TemplateResponse(request, self.ledger_preview_template, context)
