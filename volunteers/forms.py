"""Forms of the public micro-wish pages: the wish itself and the resident's rating."""

from django import forms
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from grids.forms import PlainTextField, photo_max_bytes, photo_too_big, validate_photo
from grids.models import Building, Compound
from party_org.models import phone_validator

from .models import MicroWish, WishCategory

WISH_MAX = MicroWish._meta.get_field("wish").max_length
COMMENT_MAX = MicroWish._meta.get_field("rating_comment").max_length


class WishForm(forms.Form):
    compound = forms.ModelChoiceField(
        label=_("Compound"), queryset=Compound.objects.filter(is_active=True),
        widget=forms.HiddenInput,  # chosen from the searchable list on the page
        error_messages={"required": _("Choose your compound."),
                        "invalid_choice": _("Choose a compound from the list.")},
    )
    building = forms.CharField(label=_("Building"), required=False, max_length=20,
                               help_text=_("Optional, e.g. 3号楼."))
    category = forms.ChoiceField(
        label=_("Category"), choices=[("", _("Choose a category")), *WishCategory.choices],
        error_messages={"required": _("Choose a category."),
                        "invalid_choice": _("Choose a category from the list.")},
    )
    wish = PlainTextField(
        label=_("What do you wish for?"), max_length=WISH_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": _("Say what you wish for.")},
    )
    photo = forms.FileField(
        label=_("Photo"), required=False,
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )
    contact_name = forms.CharField(
        label=_("Your name"), required=False,
        max_length=MicroWish._meta.get_field("contact_name").max_length,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    contact_phone = forms.CharField(
        label=_("Your phone"), max_length=20, validators=[phone_validator],
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel"}),
        error_messages={"required": _("Give a phone number so the helper can reach you.")},
    )

    def __init__(self, *args, oversized=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.oversized = set(oversized)
        self.fields["photo"].help_text = _("Optional: JPEG, PNG or WebP, at most %(limit)s.") % {
            "limit": filesizeformat(photo_max_bytes())
        }

    def clean_photo(self):
        if "photo" in self.oversized:
            raise photo_too_big()
        photo = self.cleaned_data.get("photo")
        return validate_photo(photo) if photo else None

    def clean(self):
        data = super().clean()
        compound, number = data.get("compound"), (data.get("building") or "").strip()
        data["building_obj"] = None
        if compound is not None and number:
            found = (Building.objects.filter(compound=compound, number__iexact=number).first()
                     or Building.objects.filter(compound=compound,
                                                number__iexact=f"{number}号楼").first())
            if found is None:
                self.add_error("building", _("There is no such building in this compound."))
            data["building_obj"] = found
        return data

    def submit_kwargs(self):
        data = self.cleaned_data
        return {
            "compound": data["compound"], "building": data["building_obj"],
            "wish": data["wish"], "category": data["category"],
            "contact_name": data["contact_name"], "contact_phone": data["contact_phone"],
            "photo": data.get("photo"),
        }


class WishRatingForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("How satisfied are you?"), choices=[(n, str(n)) for n in range(5, 0, -1)],
        coerce=int, widget=forms.RadioSelect,
        error_messages={"required": _("Choose from 1 to 5 stars."),
                        "invalid_choice": _("Choose from 1 to 5 stars.")},
    )
    comment = forms.CharField(label=_("Comment"), required=False, max_length=COMMENT_MAX,
                              widget=forms.Textarea(attrs={"rows": 3}))
