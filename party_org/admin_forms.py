"""Admin forms that save through a service, shared by every app's admin.

`ServiceForm` ends its validation by calling the service (inside the admin's transaction), so a
refusal shows beside the fields with the input kept and a success leaves the saved row as
`instance`; `errors_into_form` puts a service's ValidationError on the right fields.
"""

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext


def error_text(error):
    """One line for a service's refusal (ValidationError or PermissionDenied)."""
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error) or gettext("You may not do this.")


def errors_into_form(form, error, field_map=None):
    """A service's ValidationError beside the form's fields (or on top of the form)."""
    field_map = field_map or {}
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for key, errors in error.error_dict.items():
        target = field_map.get(key, key)
        form.add_error(target if target in form.fields else None,
                       ValidationError(errors).messages)


class ServiceForm(forms.ModelForm):
    """A model form whose validation ends by running `perform` (the service). The model's own
    checks are the service's job."""

    user = None  # set per request by the ModelAdmin's get_form
    error_fields = {}  # service error key -> form field

    def perform(self, data):
        raise NotImplementedError("each form calls its service here")

    def _post_clean(self):
        if self.errors:
            return
        try:
            result = self.perform(self.cleaned_data)
        except ValidationError as error:
            errors_into_form(self, error, self.error_fields)
        except PermissionDenied as error:
            self.add_error(None, error_text(error))
        else:
            if result is not None:
                self.instance = result

    def save(self, commit=True):
        return self.instance

    def save_m2m(self):
        """Nothing: the service saved everything."""
