"""Honours in the admin: nominate (with the year's candidates from points and service hours shown
beside the form), approve, and show on or take off the compound's public page (公示). All through
services.honours; pickers and candidates are scoped."""

from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from party_org.admin.members import ServiceSaveMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin
from party_org.models import OrgKind, OrgUnit
from party_org.selectors import scoped

from ..models import Honor
from ..selectors import honour_candidates
from ..services import honours
from ._base import RowAction, RowActionsMixin, ServiceAddMixin, ServiceForm, each, user_label

APPROVE_PERM = honours.APPROVE_PERM
CANDIDATE_UNIT_KINDS = (OrgKind.CITY, OrgKind.DISTRICT, OrgKind.STREET, OrgKind.COMMUNITY,
                        OrgKind.BRANCH)


class HonorAddForm(ServiceForm):
    class Meta:
        model = Honor
        fields = ["year", "title", "person", "compound", "org_unit", "citation"]
        widgets = {"citation": forms.Textarea(attrs={"rows": 3, "cols": 60})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        unit = self.fields["org_unit"]
        unit.required = False
        unit.help_text = _("The awarding unit; the compound's unit when left empty.")
        if not self.is_bound and "year" not in self.initial:
            self.initial["year"] = timezone.localdate().year

    def perform(self, data):
        return honours.nominate_honor(
            self.user, person=data.get("person"), title=data.get("title"),
            year=data.get("year"), citation=data.get("citation", ""),
            org_unit=data.get("org_unit"), compound=data.get("compound"),
        )


def candidate_units(user):
    return scoped(user, OrgUnit.objects.filter(kind__in=CANDIDATE_UNIT_KINDS, is_active=True)) \
        .order_by("tree_id", "lft").only("pk", "name", "kind", "tree_id", "lft", "rght", "level")


@admin.register(Honor)
class HonorAdmin(ServiceAddMixin, RowActionsMixin, ServiceSaveMixin, ServiceErrorsMixin,
                 ScopedAdminMixin, admin.ModelAdmin):
    add_form = HonorAddForm
    add_fieldsets = [(None, {"fields": ["year", "title", "person", "compound", "org_unit",
                                        "citation"]})]
    list_display = ["year", "title", "person", "compound", "approved_at", "approved_by_name",
                    "publicised"]
    list_filter = ["year", "title", "publicised"]
    list_select_related = ["person", "compound", "approved_by"]
    search_fields = ["person__name", "citation"]
    autocomplete_fields = ["person", "compound", "org_unit"]
    actions = [*ScopedAdminMixin.actions, "approve", "publicise", "take_down"]
    readonly_fields = ["nominated_by", "nominated_at", "approved_by", "approved_at",
                       "publicised"]

    # An honour changes only through its buttons; never deleted here.
    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("approved by"), ordering="approved_by__username")
    def approved_by_name(self, obj):
        return user_label(obj.approved_by) if obj.approved_by_id else "—"

    # ---- the candidates beside the nomination form

    def add_view(self, request, form_url="", extra_context=None):
        context = dict(extra_context or {})
        context.update(self.candidates_context(request))
        return super().add_view(request, form_url, context)

    def candidates_context(self, request):
        units = list(candidate_units(request.user))
        wanted = request.GET.get("unit", "")
        unit = next((u for u in units if str(u.pk) == wanted), units[0] if units else None)
        this_year = timezone.localdate().year
        year = request.GET.get("year", "")
        year = int(year) if year.isdigit() and 2000 <= int(year) <= this_year else this_year
        rows = list(honour_candidates(unit, year)) if unit is not None else []
        held = {}
        for person_id, title in Honor.objects.filter(
            year=year, person_id__in=[p.pk for p in rows]
        ).values_list("person_id", "title"):
            held.setdefault(person_id, []).append(Honor(title=title).get_title_display())
        for person in rows:
            person.titles_held = "、".join(held.get(person.pk, []))
        return {"candidate_units": units, "candidate_unit": unit, "candidate_year": year,
                "candidates": rows}

    # ---- buttons on an honour's page

    def get_row_actions(self, request, obj):
        if not request.user.has_perm(APPROVE_PERM):
            return {}
        if obj.approved_at is None:
            return {
                "approve": RowAction(
                    _("Approve and publicise"), primary=True,
                    run=lambda request, h: honours.approve_honor(request.user, h),
                    done=gettext("The honour is approved and publicised."),
                ),
                "approve_quietly": RowAction(
                    _("Approve without publicising"),
                    run=lambda request, h: honours.approve_honor(request.user, h,
                                                                 publicise=False),
                    done=gettext("The honour is approved."),
                ),
            }
        if obj.publicised:
            return {"take_down": RowAction(
                _("Take off the public page"),
                run=lambda request, h: honours.set_publicised(request.user, h, False),
                done=gettext("The honour is no longer shown on the public page."),
            )}
        return {"publicise": RowAction(
            _("Show on the public page"), primary=True,
            run=lambda request, h: honours.set_publicised(request.user, h, True),
            done=gettext("The honour is shown on the public page."),
        )}

    # ---- list actions

    @admin.action(description=_("Approve and publicise the selected honours"),
                  permissions=["approve"])
    def approve(self, request, queryset):
        each(self, request, queryset.filter(approved_at__isnull=True),
             lambda h: honours.approve_honor(request.user, h),
             gettext("%(n)d honours approved."))

    @admin.action(description=_("Show the selected honours on the public page"),
                  permissions=["approve"])
    def publicise(self, request, queryset):
        each(self, request, queryset.filter(publicised=False),
             lambda h: honours.set_publicised(request.user, h, True),
             gettext("%(n)d honours shown on the public page."))

    @admin.action(description=_("Take the selected honours off the public page"),
                  permissions=["approve"])
    def take_down(self, request, queryset):
        each(self, request, queryset.filter(publicised=True),
             lambda h: honours.set_publicised(request.user, h, False),
             gettext("%(n)d honours taken off the public page."))

    def has_approve_permission(self, request):
        return request.user.has_perm(APPROVE_PERM)
