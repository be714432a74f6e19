"""Forms of the public resident pages (随手拍): the report, the rating and the code lookup."""

import warnings

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from PIL import Image

from party_org.models import phone_validator

from .models import Building, Compound, EventCategory, GridEvent

# Pillow format -> the extension the file is stored under (never the uploader's own name).
# Phones often write JPEGs with extra frames, which Pillow reports as MPO.
PHOTO_FORMATS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp"}
# The parsers Pillow may try (MPO is opened by the JPEG one).
OPEN_FORMATS = ["JPEG", "PNG", "WEBP"]
DEFAULT_PHOTO_MAX_BYTES = 5 * 1024 * 1024
DESCRIPTION_MAX = GridEvent._meta.get_field("description").max_length
COMMENT_MAX = GridEvent._meta.get_field("rating_comment").max_length
CODE_MAX = 32


def photo_max_bytes():
    return int(getattr(settings, "GRID_EVENT_PHOTO_MAX_BYTES", DEFAULT_PHOTO_MAX_BYTES))


def photo_too_big():
    return ValidationError(
        _("The photo is too large: at most %(limit)s."),
        params={"limit": filesizeformat(photo_max_bytes())}, code="too_big",
    )


def validate_photo(photo):
    """Check `photo` is a whole JPEG, PNG or WebP image under the cap; rename it to match."""
    if photo.size > photo_max_bytes():
        raise photo_too_big()
    Image.init()  # open(formats=...) only knows the plugins already loaded
    try:
        with warnings.catch_warnings():
            # A huge pixel count would cost hundreds of megabytes to decode.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            photo.seek(0)
            with Image.open(photo, formats=OPEN_FORMATS) as image:
                kind = image.format
                image.verify()
            # verify() does not decode JPEG data: load() does, and fails on a truncated file.
            photo.seek(0)
            with Image.open(photo, formats=OPEN_FORMATS) as image:
                image.load()
    except Exception:  # noqa: BLE001 - Pillow raises many types for broken or hostile files
        raise ValidationError(
            _("Upload a photo in JPEG, PNG or WebP format; this file is not one, or it is "
              "damaged."),
            code="not_image",
        ) from None
    finally:
        photo.seek(0)
    photo.name = f"photo.{PHOTO_FORMATS[kind]}"
    return photo


class CappedUploadHandler(FileUploadHandler):
    """Stops reading an upload once it passes the photo cap instead of spooling all of it to
    disk; the fields cut off are kept in `oversized` so the form can say why."""

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = photo_max_bytes()
        self.oversized = set()

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            self.oversized.add(self.field_name)
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None


class PlainTextField(forms.CharField):
    """Browsers send line breaks as CRLF; count them as one character, as the resident sees."""

    def to_python(self, value):
        value = super().to_python(value)
        return value.replace("\r\n", "\n") if value else value


def normalize_code(value):
    """Tracking codes are read aloud and typed on phones: ignore case, spaces and dashes."""
    return "".join((value or "").split()).replace("-", "").upper()


class ReportForm(forms.Form):
    compound = forms.ModelChoiceField(
        label=_("Compound"), queryset=Compound.objects.filter(is_active=True),
        widget=forms.HiddenInput,  # chosen from the searchable list on the page
        error_messages={
            "required": _("Choose the compound where it happened."),
            "invalid_choice": _("Choose a compound from the list."),
        },
    )
    place = forms.CharField(
        label=_("Building or spot"), required=False, max_length=100,
        help_text=_("Optional, e.g. 3号楼 or the north gate."),
    )
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=EventCategory.objects.filter(is_active=True),
        empty_label=_("Choose a category"),
        error_messages={
            "required": _("Choose a category."),
            "invalid_choice": _("Choose a category from the list."),
        },
    )
    description = PlainTextField(
        label=_("What is the problem?"), max_length=DESCRIPTION_MAX,
        widget=forms.Textarea(
            attrs={"rows": 5, "placeholder": _("What, where exactly, since when?")}
        ),
        error_messages={"required": _("Describe the problem.")},
    )
    photo = forms.FileField(
        label=_("Photo"), required=False,
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )
    contact_name = forms.CharField(
        label=_("Your name"), required=False,
        max_length=GridEvent._meta.get_field("reporter_name").max_length,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    contact_phone = forms.CharField(
        label=_("Your phone"), required=False,
        max_length=GridEvent._meta.get_field("reporter_phone").max_length,
        validators=[phone_validator],
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel"}),
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
        compound, place = data.get("compound"), data.get("place", "")
        data["building"] = None
        if compound is not None and place:
            data["building"] = (
                Building.objects.filter(compound=compound, number__iexact=place).first()
                or Building.objects.filter(compound=compound, number__iexact=f"{place}号楼").first()
            )
        return data

    def report_kwargs(self):
        """The arguments of services.events.report_event for the cleaned form."""
        data = self.cleaned_data
        return {
            "compound": data["compound"],
            "building": data["building"],
            # Unmatched text is still where it happened: keep it as the location.
            "location": "" if data["building"] else data["place"],
            "category": data["category"],
            "description": data["description"],
            "reporter_name": data["contact_name"],
            "reporter_phone": data["contact_phone"],
            "photos": [data["photo"]] if data.get("photo") else [],
        }


class RatingForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("How satisfied are you with the result?"),
        choices=[(n, str(n)) for n in range(5, 0, -1)], coerce=int, widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose from 1 to 5 stars."),
            "invalid_choice": _("Choose from 1 to 5 stars."),
        },
    )
    comment = forms.CharField(
        label=_("Comment"), required=False, max_length=COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class LookupForm(forms.Form):
    code = forms.CharField(
        label=_("Tracking code"), max_length=CODE_MAX,
        widget=forms.TextInput(attrs={
            "autocapitalize": "characters", "autocomplete": "off", "spellcheck": "false",
        }),
        error_messages={"required": _("Type the tracking code you were given.")},
    )

    def clean_code(self):
        return normalize_code(self.cleaned_data["code"])
