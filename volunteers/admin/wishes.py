"""Micro-wishes in the admin: a read-only page with the timeline and one button for each step
services.wishes.allowed_actions lets the reader take now (派单, reject, 接单 recorded for a member,
fulfilment, withdrawal, a rating taken by phone); each button opens a small form that calls the
step's service. Staff also add a wish for a resident who phoned or came in (services.wishes.
submit_wish); its page then shows the tracking code to tell them. The contact phone is masked
unless the reader may view personal data."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from grids.admin.events import photo_field
from party_org import pii
from party_org.admin.members import ServiceSaveMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin
from party_org.models import MemberStatus, OrgUnit, PartyMember, Person, Post
from party_org.personal_data import reveal
from party_org.selectors import scoped

from ..models import MicroWish, WishAction, WishLog
from ..services import wishes as services
from ._base import ServiceAddMixin, ServiceForm

A = WishAction

STEP_LABELS = {
    A.DISPATCH: _("Dispatch (派单)"),
    A.REJECT: _("Reject"),
    A.CLAIM: _("Record who takes it (接单)"),
    A.FULFIL: _("Record the fulfilment"),
    A.WITHDRAW: _("Withdraw for the resident"),
    A.RATE: _("Record the resident's rating"),
}
PRIMARY_STEPS = (A.DISPATCH, A.CLAIM, A.FULFIL)


def user_label(user):
    return (user.get_full_name() or user.get_username()) if user is not None else ""


class WishAddForm(ServiceForm):
    """A wish taken by phone or at the desk, entered for the resident."""

    photo = photo_field(_("photo"))

    class Meta:
        model = MicroWish
        fields = ["compound", "building", "category", "wish", "contact_name", "contact_phone"]
        widgets = {"wish": forms.Textarea(attrs={"rows": 3, "cols": 60})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "compound" in self.fields:
            field = self.fields["compound"]
            field.queryset = field.queryset.filter(is_active=True)

    def perform(self, data):
        return services.submit_wish(
            self.user, compound=data.get("compound"), building=data.get("building"),
            category=data.get("category"), wish=data.get("wish", ""),
            contact_name=data.get("contact_name", ""),
            contact_phone=data.get("contact_phone", ""), photo=data.get("photo"),
        )


class StepForm(forms.Form):
    error_fields = {}

    def __init__(self, *args, wish, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.wish, self.user = wish, user

    def add_service_error(self, error):
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        for key, errors in error.error_dict.items():
            field = self.error_fields.get(key, key)
            self.add_error(field if field in self.fields else None, errors)


class DispatchForm(StepForm):
    unit = forms.ModelChoiceField(OrgUnit.objects.none(), required=False, label=_("organisation"))
    post = forms.ModelChoiceField(Post.objects.none(), required=False, label=_("post"))
    member = forms.ModelChoiceField(PartyMember.objects.none(), required=False,
                                    label=_("party member"))
    note = forms.CharField(label=_("note"), required=False, max_length=500,
                           widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = scoped(self.user, OrgUnit.objects.all())
        self.fields["post"].queryset = scoped(self.user, Post.objects.filter(is_active=True))
        self.fields["member"].queryset = scoped(
            self.user, PartyMember.objects.filter(status=MemberStatus.ACTIVE)
        ).select_related("person")

    def clean(self):
        data = super().clean()
        if sum(data.get(name) is not None for name in ("unit", "post", "member")) != 1:
            raise ValidationError(_("Choose one organisation, post or member."))
        return data

    def perform(self):
        data = self.cleaned_data
        return services.dispatch_wish(self.user, self.wish, unit=data.get("unit"),
                                      post=data.get("post"), member=data.get("member"),
                                      note=data.get("note", ""))


class RejectForm(StepForm):
    rejection_reason = forms.CharField(label=_("reason (the resident sees it)"), max_length=300,
                                       widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))

    def perform(self):
        return services.reject_wish(self.user, self.wish, self.cleaned_data["rejection_reason"])


class ClaimForm(StepForm):
    person = forms.ModelChoiceField(Person.objects.none(), label=_("member or volunteer"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = scoped(
            self.user,
            Person.objects.filter(membership__status=MemberStatus.ACTIVE)
            | Person.objects.filter(volunteer__verified=True, volunteer__is_active=True),
        ).distinct().order_by("name")

    def perform(self):
        return services.claim_wish(self.user, self.wish, self.cleaned_data["person"])


class FulfilForm(StepForm):
    fulfilment_note = forms.CharField(label=_("what was done"), max_length=1000,
                                      widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))

    def perform(self):
        return services.record_fulfilment(self.user, self.wish,
                                          note=self.cleaned_data["fulfilment_note"])


class WithdrawForm(StepForm):
    note = forms.CharField(label=_("note"), required=False, max_length=500)

    def perform(self):
        return services.withdraw_wish(self.user, self.wish, note=self.cleaned_data["note"])


class RateForm(StepForm):
    rating = forms.TypedChoiceField(label=_("rating"), coerce=int,
                                    choices=[(n, n) for n in range(5, 0, -1)])
    rating_comment = forms.CharField(label=_("comment"), required=False, max_length=300)

    def perform(self):
        data = self.cleaned_data
        return services.rate_wish(self.user, self.wish, data["rating"], data["rating_comment"])


STEP_FORMS = {A.DISPATCH: DispatchForm, A.REJECT: RejectForm, A.CLAIM: ClaimForm,
              A.FULFIL: FulfilForm, A.WITHDRAW: WithdrawForm, A.RATE: RateForm}


@admin.register(MicroWish)
class MicroWishAdmin(ServiceAddMixin, ServiceSaveMixin, ServiceErrorsMixin, ScopedAdminMixin,
                     admin.ModelAdmin):
    add_form = WishAddForm
    add_fieldsets = [(None, {"fields": ["compound", "building", "category", "wish",
                                        ("contact_name", "contact_phone"), "photo"]})]
    autocomplete_fields = ["compound", "building"]
    list_display = ["tracking_code", "compound", "category", "status_badge", "short_wish",
                    "claimed_by", "submitted_at"]
    list_filter = ["status", "category", "points_paid"]
    list_select_related = ["compound", "claimed_by"]
    search_fields = ["tracking_code", "wish"]
    date_hierarchy = "submitted_at"
    list_per_page = 50
    fieldsets = [
        (None, {"fields": [("tracking_code", "status"), ("compound", "building"), "org_unit",
                           "category", "wish", ("contact_name", "contact_phone_display")]}),
        (_("Dispatch and claim"), {"fields": [
            "dispatch_target_display", "rejection_reason", ("claimed_by", "claim_expires_at"),
            "fulfilment_note"]}),
        (_("Rating and points"), {"fields": [("rating", "rating_comment"),
                                             ("points_paid", "points_paid_at")]}),
        (_("Times"), {"fields": [("submitted_at", "dispatched_at"), ("claimed_at",
                                                                     "fulfilled_at"),
                                 "rated_at"]}),
    ]
    readonly_fields = [
        "tracking_code", "status", "compound", "building", "org_unit", "category", "wish",
        "contact_name", "contact_phone_display", "dispatch_target_display", "rejection_reason",
        "claimed_by", "claim_expires_at", "fulfilment_note", "rating", "rating_comment",
        "points_paid", "points_paid_at", "submitted_at", "dispatched_at", "claimed_at",
        "fulfilled_at", "rated_at",
    ]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # Wishes come from the public form, the API or staff taking one by phone; they change only
    # through their steps.
    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return format_html('<span class="wish-status wish-status--{}">{}</span>', obj.status,
                           obj.get_status_display())

    @admin.display(description=_("wish"))
    def short_wish(self, obj):
        return obj.wish if len(obj.wish) <= 30 else obj.wish[:30] + "…"

    @admin.display(description=_("contact phone"))
    def contact_phone_display(self, obj):
        return reveal(None, "phone", obj.contact_phone, pii.mask_phone(obj.contact_phone),
                      "admin:microwish:change") or "—"

    @admin.display(description=_("dispatched to"))
    def dispatch_target_display(self, obj):
        target = obj.dispatch_target
        return str(target) if target is not None else "—"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        wish = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if wish is not None:
            context["tracking_url"] = request.build_absolute_uri(
                reverse("volunteers_public:track", args=[wish.tracking_code]))
            context["step_buttons"] = [
                {"action": action, "label": STEP_LABELS[action],
                 "url": reverse("admin:volunteers_microwish_step", args=[wish.pk, action]),
                 "primary": action in PRIMARY_STEPS}
                for action in services.allowed_actions(request.user, wish)
                if action in STEP_FORMS
            ]
            context["timeline"] = [
                {"at": log.at, "action": log.get_action_display(),
                 "by": user_label(log.actor) if log.actor_id else (
                     log.actor_person.name if log.actor_person_id else log.actor_label),
                 "note": log.note}
                for log in WishLog.objects.filter(wish=wish)
                .select_related("actor", "actor_person").order_by("at", "pk")
            ]
        return super().change_view(request, object_id, form_url, context)

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "service_error", None):
            return HttpResponseRedirect(request.path)
        self.message_user(
            request, gettext("The wish has been added. Tell the resident the tracking code "
                             "%(code)s.") % {"code": obj.tracking_code}, messages.SUCCESS)
        if "_addanother" in request.POST:
            return HttpResponseRedirect(request.path)
        return HttpResponseRedirect(reverse("admin:volunteers_microwish_change", args=[obj.pk]))

    def get_urls(self):
        return [
            path("<path:object_id>/step/<str:action>/", self.admin_site.admin_view(self.step_view),
                 name="volunteers_microwish_step"),
            *super().get_urls(),
        ]

    def step_view(self, request, object_id, action):
        wish = self.get_object(request, unquote(object_id))
        if wish is None or not self.has_view_permission(request, wish):
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        back = reverse("admin:volunteers_microwish_change", args=[wish.pk])
        form_class = STEP_FORMS.get(action)
        if form_class is None or action not in services.allowed_actions(request.user, wish):
            self.message_user(request, gettext("This step cannot be taken on this wish now."),
                              messages.ERROR)
            return HttpResponseRedirect(back)
        posted = request.method == "POST"
        form = form_class(request.POST if posted else None, wish=wish, user=request.user)
        if posted and form.is_valid():
            try:
                form.perform()
            except PermissionDenied as error:
                self.message_user(request, str(error) or gettext("You may not take this step."),
                                  messages.ERROR)
                return HttpResponseRedirect(back)
            except ValidationError as error:
                form.add_service_error(error)
            else:
                self.message_user(request, gettext("%(wish)s: %(step)s.")
                                  % {"wish": wish, "step": A(action).label}, messages.SUCCESS)
                return HttpResponseRedirect(back)
        label = STEP_LABELS[action]
        context = {
            **self.admin_site.each_context(request), "opts": self.opts,
            "title": f"{label} · {wish}", "step_label": label, "wish": wish, "form": form,
            "action": action, "back_url": back, "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/volunteers/microwish/step_form.html", context)
