"""Volunteers and teams in the admin.

Staff register a volunteer (an existing person picked within their scope, or a new one by name
and phone) and verify or unverify them, with who verified shown; they create teams and, from a
team's page, add and remove members and set the leader. Everything goes through
services.people; every picker is scoped. Phones are masked unless the reader may view
personal data."""

import re

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminDateWidget
from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from party_org.admin.members import ServiceSaveMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin
from party_org.models import Person
from party_org.personal_data import phone_for
from party_org.selectors import scoped

from ..models import TeamMembership, Volunteer, VolunteerTeam
from ..services import people
from ._base import (
    RowAction,
    RowActionForm,
    RowActionsMixin,
    ServiceAddMixin,
    ServiceForm,
    each,
    picker,
    user_label,
)

VERIFY_PERM = "volunteers.verify_volunteer"
TEAM_PERM = "volunteers.change_volunteerteam"
SKILL_SPLIT = re.compile(r"[,，、;；\n]+")


def parse_skills(value):
    return [skill.strip() for skill in SKILL_SPLIT.split(value or "") if skill.strip()]


# ---- volunteers --------------------------------------------------------------------------------


class VolunteerAddForm(ServiceForm):
    """Register an existing person, or a new one by name and phone."""

    name = forms.CharField(label=capfirst(_("name of a new person")), required=False,
                           max_length=people.NAME_MAX)
    phone = forms.CharField(label=capfirst(_("phone of a new person")), required=False,
                            max_length=20)
    skills_text = forms.CharField(
        label=capfirst(_("skills")), required=False, max_length=400,
        help_text=_("Separate skills with commas, e.g. 理发, 水电维修."),
    )
    verified_now = forms.BooleanField(label=capfirst(_("verified now")), required=False)

    error_fields = {"skills": "skills_text", "verified": "verified_now", "compound": "org_unit"}

    class Meta:
        model = Volunteer
        fields = ["person", "org_unit", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        person = self.fields["person"]
        person.required = False
        person.help_text = _("Someone already on file; or leave it empty and give a new "
                             "person's name and phone below.")
        unit = self.fields["org_unit"]
        unit.required = False
        unit.help_text = _("The node the volunteer belongs to; the person's own unit when "
                           "left empty.")
        if not (self.user and self.user.has_perm(VERIFY_PERM)):
            del self.fields["verified_now"]

    def clean(self):
        data = super().clean()
        person = data.get("person")
        new = data.get("name", "").strip() or data.get("phone", "").strip()
        if person is not None and new:
            raise ValidationError(_("Choose someone on file or give a new person's name and "
                                    "phone, not both."))
        if person is None and not new and "person" not in self.errors:
            self.add_error("person", _("Choose a person, or give a new person's name and "
                                       "phone."))
        if person is not None and data.get("org_unit") is None:
            data["org_unit"] = person.org_unit
        return data

    def perform(self, data):
        return people.register_volunteer(
            self.user, org_unit=data.get("org_unit"), person=data.get("person"),
            name=data.get("name", ""), phone=data.get("phone", ""),
            skills=parse_skills(data.get("skills_text")), note=data.get("note", ""),
            verified=bool(data.get("verified_now")),
        )


@admin.register(Volunteer)
class VolunteerAdmin(ServiceAddMixin, RowActionsMixin, ServiceSaveMixin, ServiceErrorsMixin,
                     ScopedAdminMixin, admin.ModelAdmin):
    add_form = VolunteerAddForm
    list_display = ["person", "phone", "org_unit", "skill_list", "verified", "verified_by_name",
                    "registered_at", "is_active"]
    list_filter = ["verified", "is_active"]
    list_select_related = ["person", "org_unit", "verified_by"]
    search_fields = ["person__name"]
    autocomplete_fields = ["person", "org_unit"]
    actions = [*ScopedAdminMixin.actions, "verify", "unverify"]
    fields = ["person", "phone", "org_unit", "skill_list", "note", "verified", "verified_by",
              "verified_at", "registered_by", "registered_at", "is_active"]
    readonly_fields = fields

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (None, {"fields": ["person"]}),
                (_("Or a new person"), {"fields": [("name", "phone")]}),
                (None, {"fields": [
                    "org_unit", "skills_text", "note",
                    *(["verified_now"] if request.user.has_perm(VERIFY_PERM) else []),
                ]}),
            ]
        return super().get_fieldsets(request, obj)

    # A volunteer changes only through the services (verification); never deleted here.
    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("phone"))
    def phone(self, obj):
        return phone_for(obj.person, "admin:volunteer") or "—"

    @admin.display(description=_("skills"))
    def skill_list(self, obj):
        return "、".join(obj.skills)

    @admin.display(description=_("verified by"), ordering="verified_by__username")
    def verified_by_name(self, obj):
        return user_label(obj.verified_by) if obj.verified_by_id else "—"

    def get_row_actions(self, request, obj):
        if not request.user.has_perm(VERIFY_PERM):
            return {}
        if obj.verified:
            return {"unverify": RowAction(
                _("Withdraw the verification"),
                run=lambda request, v: people.verify_volunteer(request.user, v, False),
                done=gettext("%(name)s is no longer verified.") % {"name": obj.person.name},
            )}
        return {"verify": RowAction(
            _("Verify"), primary=True,
            run=lambda request, v: people.verify_volunteer(request.user, v, True),
            done=gettext("%(name)s is verified.") % {"name": obj.person.name},
        )}

    @admin.action(description=_("Verify the selected volunteers"), permissions=["verify"])
    def verify(self, request, queryset):
        each(self, request, queryset.filter(verified=False),
             lambda v: people.verify_volunteer(request.user, v),
             gettext("%(n)d volunteers verified."))

    @admin.action(description=_("Withdraw the verification of the selected volunteers"),
                  permissions=["verify"])
    def unverify(self, request, queryset):
        each(self, request, queryset.filter(verified=True),
             lambda v: people.verify_volunteer(request.user, v, False),
             gettext("%(n)d volunteers no longer verified."))

    def has_verify_permission(self, request):
        return request.user.has_perm(VERIFY_PERM)


# ---- teams -------------------------------------------------------------------------------------


class TeamAddForm(ServiceForm):
    class Meta:
        model = VolunteerTeam
        fields = ["name", "org_unit", "leader", "description", "founded_on"]

    def perform(self, data):
        return people.create_team(
            self.user, org_unit=data.get("org_unit"), name=data.get("name", ""),
            leader=data.get("leader"), description=data.get("description", ""),
            founded_on=data.get("founded_on"),
        )


ADD_MEMBER_FORM_ID = "team-add-member"


class AddMemberForm(RowActionForm):
    joined_on = forms.DateField(label=capfirst(_("joined on")), required=False,
                                widget=AdminDateWidget, help_text=_("Today when left empty."))

    def __init__(self, *args, form_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        attrs = {"form": form_id} if form_id else {}
        self.fields["person"] = forms.ModelChoiceField(
            scoped(self.user, Person.objects.all()), label=capfirst(_("person")),
            widget=picker(TeamMembership._meta.get_field("person"), self.model_admin, **attrs),
        )
        self.fields["joined_on"].widget.attrs.update(attrs)
        self.order_fields(["person", "joined_on"])

    def perform(self):
        data = self.cleaned_data
        return people.add_member(self.user, self.obj, data["person"], data.get("joined_on"))


def _current_member(request, team):
    """The current member named by the posted `person` (a button of the members table)."""
    value = request.POST.get("person", "")
    membership = None
    if value.isdigit() and int(value) < 2**63:
        membership = (
            TeamMembership.objects.filter(team=team, person_id=int(value), left_on__isnull=True)
            .select_related("person").first()
        )
    if membership is None:
        raise ValidationError(gettext("This person is not in the team."))
    return membership.person


@admin.register(VolunteerTeam)
class VolunteerTeamAdmin(ServiceAddMixin, RowActionsMixin, ServiceSaveMixin, ServiceErrorsMixin,
                         ScopedAdminMixin, admin.ModelAdmin):
    add_form = TeamAddForm
    add_fieldsets = [(None, {"fields": ["name", "org_unit", "leader", "description",
                                        "founded_on"]})]
    list_display = ["name", "org_unit", "leader", "founded_on", "is_active"]
    list_select_related = ["org_unit", "leader"]
    search_fields = ["name"]
    autocomplete_fields = ["org_unit", "leader"]
    fields = ["name", "org_unit", "leader", "description", "founded_on", "is_active"]
    readonly_fields = fields

    # A team changes through its members' buttons; never deleted here.
    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_row_actions(self, request, obj):
        if not request.user.has_perm(TEAM_PERM):
            return {}
        return {
            "add_member": RowAction(
                _("Add a member"), form=AddMemberForm, on_page=False,
                done=lambda request, team, m: gettext("%(name)s joined the team.")
                % {"name": m.person.name},
            ),
            "remove_member": RowAction(
                _("Remove from the team"), on_page=False,
                run=lambda request, team: people.remove_member(
                    request.user, team, _current_member(request, team)),
                done=lambda request, team, m: gettext("%(name)s left the team.")
                % {"name": m.person.name},
            ),
            "set_leader": RowAction(
                _("Make leader"), on_page=False,
                run=lambda request, team: people.set_leader(
                    request.user, team, _current_member(request, team)),
                done=lambda request, team, t: gettext("%(name)s leads the team.")
                % {"name": t.leader.name},
            ),
        }

    def row_context(self, request, team, actions):
        context = {"memberships": list(
            TeamMembership.objects.filter(team=team).select_related("person")
            .order_by(F("left_on").desc(nulls_first=True), "person__name", "pk")
        )}
        if "add_member" in actions:
            context["member_form"] = AddMemberForm(
                obj=team, user=request.user, model_admin=self, auto_id="member_%s",
                form_id=ADD_MEMBER_FORM_ID,
            )
            context["member_form_id"] = ADD_MEMBER_FORM_ID
        return context

    def render_change_form(self, request, context, add=False, change=False, form_url="",
                           obj=None):
        if context.get("member_form") is not None:
            context["media"] = context["media"] + context["member_form"].media
        return super().render_change_form(request, context, add, change, form_url, obj)
