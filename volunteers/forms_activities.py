"""Forms of the members' and volunteers' public pages: the check-in code of an activity and the
result of a claimed wish."""

from django import forms
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from grids.forms import PlainTextField, photo_max_bytes, photo_too_big, validate_photo

from .models import MicroWish

NOTE_MAX = MicroWish._meta.get_field("fulfilment_note").max_length


class CheckInForm(forms.Form):
    code = forms.CharField(
        label=_("Check-in code"), max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code",
                                      "pattern": "[0-9 ]*"}),
        help_text=_("The 6 digits the organiser shows at the activity."),
        error_messages={"required": _("Type the code the organiser shows.")},
    )


class FulfilmentForm(forms.Form):
    note = PlainTextField(
        label=_("What was done"), max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": _("Say what was done.")},
    )
    photo = forms.FileField(
        label=_("Photo"), required=False,
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )

    def __init__(self, *args, oversized=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.oversized = set(oversized)
        self.fields["photo"].help_text = _("Optional: JPEG, PNG or WebP, at most %(limit)s.") % {
            "limit": filesizeformat(photo_max_bytes())
        }

    # The same checks as the wish form's photo.
    def clean_photo(self):
        if "photo" in self.oversized:
            raise photo_too_big()
        photo = self.cleaned_data.get("photo")
        return validate_photo(photo) if photo else None
