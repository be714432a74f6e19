"""Service evaluations (物业服务评价): opened through the service (one code per household file),
results per dimension with the response rate, the households' one-time codes as an Excel sheet
for printing (only for users who may change evaluations: the codes are the residents' votes),
and the red/yellow watch list per street."""

import io

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from party_org.admin.members import ServiceSaveMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin, export_xlsx
from party_org.xlsx import safe_row

from .. import selectors, services
from ..models import DIMENSIONS, EvaluationCode, EvaluationResponse, ServiceEvaluation
from .base import ServiceForm, ServiceFormAdminMixin, chosen_unit, no_bulk_delete

CHANGE_PERMISSION = "property_mgmt.change_serviceevaluation"
REASONS = {
    "low_score": _("low service score"),
    "complaints_rising": _("property complaints rising"),
}


def dimension_label(dim):
    return EvaluationResponse._meta.get_field(dim).verbose_name


def period_label(evaluation):
    if evaluation.quarter:
        return gettext("%(year)s Q%(quarter)s") % {"year": evaluation.year,
                                                   "quarter": evaluation.quarter}
    return str(evaluation.year)


class OpenEvaluationForm(ServiceForm):
    class Meta:
        model = ServiceEvaluation
        fields = ["compound", "year", "quarter", "opens_on", "closes_on"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "compound" in self.fields:
            field = self.fields["compound"]
            field.queryset = field.queryset.filter(is_active=True)
            field.help_text = _("Every household file of the compound gets a one-time code.")
        if "year" in self.fields:
            self.fields["year"].initial = timezone.localdate().year

    def perform(self, data):
        return services.open_evaluation(
            self.user, data["compound"], year=data["year"], quarter=data.get("quarter") or 0,
            opens_on=data["opens_on"], closes_on=data["closes_on"],
        )


@admin.action(description=_("Issue codes to households filed since the survey opened"),
              permissions=["add"])
def issue_codes(model_admin, request, queryset):
    issued = 0
    for evaluation in queryset:
        count = model_admin._run_service(request, services.issue_codes, request.user, evaluation)
        issued += count or 0
    model_admin.message_user(
        request, ngettext("%(n)s code issued.", "%(n)s codes issued.", issued) % {"n": issued},
        messages.SUCCESS)


def _percent(rate):
    return "—" if rate is None else f"{rate * 100:.1f}%"


@admin.register(ServiceEvaluation)
class ServiceEvaluationAdmin(ServiceFormAdminMixin, ServiceSaveMixin, ServiceErrorsMixin,
                             ScopedAdminMixin, admin.ModelAdmin):
    form = OpenEvaluationForm
    actions = [export_xlsx, issue_codes]
    list_display = [
        "compound", "company", "period", "opens_on", "closes_on", "code_total",
        "response_total", "response_rate", "mean_score",
    ]
    export_fields = list_display
    list_filter = ["year", "quarter", ("company", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["compound", "company"]
    search_fields = ["compound__name", "company__name"]
    autocomplete_fields = ["compound"]

    def get_queryset(self, request):
        return selectors.with_results(super().get_queryset(request))

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["compound", "year", "quarter", "opens_on", "closes_on"]
        return ["compound", "company", "year", "quarter", "opens_on", "closes_on"]

    def has_change_permission(self, request, obj=None):
        if obj is not None:
            return False  # the survey's terms are fixed once codes are out
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return no_bulk_delete(super().get_actions(request))

    @admin.display(description=_("period"), ordering="year")
    def period(self, obj):
        return period_label(obj)

    @admin.display(description=_("codes"), ordering="code_count")
    def code_total(self, obj):
        return getattr(obj, "code_count", None)

    @admin.display(description=_("responses"), ordering="response_count")
    def response_total(self, obj):
        return getattr(obj, "response_count", None)

    @admin.display(description=_("response rate"))
    def response_rate(self, obj):
        codes = getattr(obj, "code_count", 0)
        return _percent(obj.response_count / codes if codes else None)

    @admin.display(description=_("mean score"), ordering="mean")
    def mean_score(self, obj):
        mean = getattr(obj, "mean", None)
        return "—" if mean is None else f"{mean:.2f}"

    # ---- the change page: results and the codes

    def _may_print(self, request):
        return request.user.has_perm(CHANGE_PERMISSION)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        evaluation = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if evaluation is not None:
            result = selectors.evaluation_results(
                ServiceEvaluation.objects.filter(pk=evaluation.pk))[0]
            today = timezone.localdate()
            is_open = evaluation.opens_on <= today <= evaluation.closes_on
            buttons = []
            if self._may_print(request):
                buttons.append({
                    "label": gettext("Download the households' codes (Excel)"), "primary": True,
                    "url": reverse("admin:property_mgmt_serviceevaluation_codes",
                                   args=[evaluation.pk]),
                })
            context["panel"] = {
                "badge": gettext("open") if is_open else (
                    gettext("not yet open") if today < evaluation.opens_on else gettext("closed")),
                "status": "open" if is_open else "closed",
                "lines": [f"{evaluation.opens_on} – {evaluation.closes_on}"],
                "buttons": buttons,
            }
            context["results"] = {
                "codes": result["codes"], "responses": result["responses"],
                "rate": _percent(result["response_rate"]),
                "mean": result["mean"],
                "dimensions": [
                    {"label": dimension_label(dim), "mean": result["means"][dim],
                     "width": round((result["means"][dim] or 0) / 5 * 100)}
                    for dim in DIMENSIONS
                ],
            }
            context["after_sections"] = ["admin/property_mgmt/_evaluation_results.html"]
        return super().change_view(request, object_id, form_url, context)

    def changelist_view(self, request, extra_context=None):
        context = dict(extra_context or {})
        context["extra_tools"] = [{
            "label": gettext("Watch list"),
            "url": reverse("admin:property_mgmt_serviceevaluation_watch"),
        }]
        return super().changelist_view(request, context)

    def get_urls(self):
        return [
            path("<path:object_id>/codes.xlsx", self.admin_site.admin_view(self.codes_view),
                 name="property_mgmt_serviceevaluation_codes"),
            path("watch-list/", self.admin_site.admin_view(self.watch_view),
                 name="property_mgmt_serviceevaluation_watch"),
            *super().get_urls(),
        ]

    def codes_view(self, request, object_id):
        """The households' one-time codes, one row per household, ready to print as slips."""
        if not self._may_print(request):
            raise PermissionDenied
        evaluation = self.get_object(request, unquote(object_id))
        if evaluation is None:
            raise Http404(gettext("This evaluation does not exist."))
        codes = (
            EvaluationCode.objects.filter(evaluation=evaluation)
            .select_related("household__building", "household__entrance")
            .order_by("household__building__number", "household__entrance__number",
                      "household__room", "pk")
        )
        form_url = request.build_absolute_uri(reverse("property_public:evaluate"))
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(title=gettext("codes"))
        title = f"{evaluation.compound.name} · {period_label(evaluation)}"
        sheet.append(safe_row(sheet, [title]))
        sheet.append(safe_row(sheet, [
            gettext("Rate the property service at %(url)s from %(opens)s to %(closes)s; "
                    "each code can be used once.")
            % {"url": form_url, "opens": evaluation.opens_on, "closes": evaluation.closes_on},
        ]))
        headers = [gettext("building"), gettext("entrance"), gettext("room"), gettext("code"),
                   gettext("link"), gettext("used")]
        sheet.append([_bold(sheet, h) for h in headers])
        for code in codes:
            household = code.household
            sheet.append(safe_row(sheet, [
                household.building.number if household.building_id else "",
                household.entrance.number if household.entrance_id else "",
                household.room, code.code, f"{form_url}?code={code.code}",
                gettext("yes") if code.used_at else gettext("no"),
            ]))
        buffer = io.BytesIO()
        workbook.save(buffer)
        response = HttpResponse(
            buffer.getvalue(),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        filename = f"evaluation-codes-{evaluation.pk}-{evaluation.year}.xlsx"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response

    def watch_view(self, request):
        """Compounds to watch, per street: a low latest score, or property complaints rising."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        unit, units = chosen_unit(request)
        streets = []
        if unit is not None:
            for entry in selectors.watch_list(unit):
                if not streets or streets[-1]["name"] != entry.street_name:
                    streets.append({"name": entry.street_name, "entries": [], "red": 0,
                                    "yellow": 0})
                street = streets[-1]
                street[entry.level] += 1
                street["entries"].append({
                    "compound": entry.compound, "level": entry.level, "mean": entry.mean,
                    "recent": entry.recent_complaints, "earlier": entry.earlier_complaints,
                    "reasons": [REASONS.get(r, r) for r in entry.reasons],
                })
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Watch list: property service"),
            "unit": unit, "units": units, "streets": streets,
        }
        return TemplateResponse(request, "admin/property_mgmt/watch_list.html", context)


def _bold(sheet, value):
    cell = WriteOnlyCell(sheet, value=value)
    cell.font = Font(bold=True)
    return cell

