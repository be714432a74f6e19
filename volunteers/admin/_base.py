"""Shared pieces of the volunteers admin.

- `ServiceForm` (from party_org.admin_forms): an add form whose validation ends by calling the
  service (inside the admin's transaction), so a refusal shows beside the fields, input kept.
- `RowActionsMixin`: buttons on a row's page, each calling one service. A button without input
  posts straight to `<pk>/do/<action>/` and comes back with a message; one that needs input
  (hours, a new member) opens a small form on its own page, like the wish steps.
"""

from dataclasses import dataclass
from typing import Any, Callable

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext

from party_org.admin_forms import ServiceForm, error_text, errors_into_form  # noqa: F401 - re-exported
from party_org.admin_scoping import IdAutocompleteSelect


def user_label(user):
    return (user.get_full_name() or user.get_username()) if user is not None else ""


def each(model_admin, request, queryset, func, done):
    """Run `func` on every selected row: one message for the successes, one per refusal."""
    count = 0
    for obj in queryset:
        try:
            func(obj)
        except (ValidationError, PermissionDenied) as error:
            model_admin.message_user(request, f"{obj}: {error_text(error)}", messages.ERROR)
        else:
            count += 1
    if count:
        model_admin.message_user(request, done % {"n": count}, messages.SUCCESS)
    return count


def picker(model_field, model_admin, **attrs):
    """An autocomplete for a form that is not the admin's own. The search reads the target
    admin's scoped queryset; the form field's own (scoped) queryset checks the choice."""
    widget = IdAutocompleteSelect(model_field, model_admin.admin_site)
    widget.attrs.update(attrs)
    return widget


class ServiceAddMixin:
    """A ModelAdmin whose add page uses `add_form` (a ServiceForm) with `add_fieldsets`;
    the row's own page keeps the admin's other settings."""

    add_form = None
    add_fieldsets = None

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None and self.add_form is not None:
            kwargs["form"] = type(self.add_form.__name__, (self.add_form,),
                                  {"user": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None and self.add_fieldsets is not None:
            return self.add_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None and self.add_form is not None:
            return []
        return super().get_readonly_fields(request, obj)

    def get_inlines(self, request, obj):
        return [] if obj is None else super().get_inlines(request, obj)

    def save_model(self, request, obj, form, change):
        if change or self.add_form is None:
            return super().save_model(request, obj, form, change)
        # Nothing: the add form's service saved it.

    def save_related(self, request, form, formsets, change):
        """Nothing: rows change through their services."""


class RowActionForm(forms.Form):
    """The input one row action needs; `perform` calls the service."""

    error_fields = {}

    def __init__(self, *args, obj, user, model_admin, **kwargs):
        super().__init__(*args, **kwargs)
        self.obj, self.user, self.model_admin = obj, user, model_admin

    def perform(self):
        raise NotImplementedError


@dataclass
class RowAction:
    label: Any
    # A button without input: run(request, obj) calls the service.
    run: Callable | None = None
    # Or a small form on its own page (GET shows it, POST runs its perform()).
    form: type | None = None
    # The success message, or done(request, obj, result) -> a message or a response.
    done: Any = ""
    primary: bool = False
    # Shown among the page's buttons; row-level buttons (a sign-up, a member) are drawn by the
    # page's own table instead.
    on_page: bool = True


class RowActionsMixin:
    row_action_template = "admin/volunteers/row_action.html"

    def get_row_actions(self, request, obj):
        """{name: RowAction} the user may take on `obj` now."""
        return {}

    def row_action_url(self, obj, name):
        opts = self.opts
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_do", args=[obj.pk, name])

    def page_buttons(self, obj, actions):
        return [
            {"name": name, "label": spec.label, "url": self.row_action_url(obj, name),
             "posts": spec.form is None, "primary": spec.primary}
            for name, spec in actions.items() if spec.on_page
        ]

    def get_urls(self):
        opts = self.opts
        return [
            path("<path:object_id>/do/<str:action>/",
                 self.admin_site.admin_view(self.row_action_view),
                 name=f"{opts.app_label}_{opts.model_name}_do"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_view_permission(request, obj):
            actions = self.get_row_actions(request, obj)
            context["row_buttons"] = self.page_buttons(obj, actions)
            context["row_urls"] = {name: self.row_action_url(obj, name) for name in actions}
            context.update(self.row_context(request, obj, actions))
        return super().change_view(request, object_id, form_url, context)

    def row_context(self, request, obj, actions):
        """More for the row's page (its own sections)."""
        return {}

    def change_url(self, obj):
        opts = self.opts
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])

    def _row_done(self, request, obj, spec, result, back):
        outcome = spec.done(request, obj, result) if callable(spec.done) else spec.done
        if isinstance(outcome, HttpResponse):
            return outcome
        if outcome:
            self.message_user(request, outcome, messages.SUCCESS)
        return HttpResponseRedirect(back)

    def row_action_view(self, request, object_id, action):
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_view_permission(request, obj):
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        opts = self.opts
        back = self.change_url(obj)
        spec = self.get_row_actions(request, obj).get(action)
        if spec is None:
            self.message_user(request, gettext("This cannot be done here now."), messages.ERROR)
            return HttpResponseRedirect(back)
        posted = request.method == "POST"
        if spec.form is None:
            if not posted:  # a button posts; a GET changes nothing
                return HttpResponseRedirect(back)
            try:
                result = spec.run(request, obj)
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, error_text(error), messages.ERROR)
                return HttpResponseRedirect(back)
            return self._row_done(request, obj, spec, result, back)
        form = spec.form(
            request.POST if posted else None, request.FILES if posted else None, obj=obj,
            user=request.user, model_admin=self,
            initial=None if posted else request.GET.dict(),
        )
        if posted and form.is_valid():
            try:
                result = form.perform()
            except PermissionDenied as error:
                self.message_user(request, error_text(error), messages.ERROR)
                return HttpResponseRedirect(back)
            except ValidationError as error:
                errors_into_form(form, error, form.error_fields)
            else:
                return self._row_done(request, obj, spec, result, back)
        context = {
            **self.admin_site.each_context(request), "opts": opts, "original": obj,
            "title": f"{spec.label} · {obj}", "action_label": spec.label, "form": form,
            "back_url": back, "media": self.media + form.media,
            "summary": self.row_action_summary(request, obj, action),
        }
        return TemplateResponse(request, self.row_action_template, context)

    def row_action_summary(self, request, obj, action):
        """Lines shown above a row action's form."""
        return []
