"""The public volunteer registration form (志愿者注册)."""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from grids.forms import PlainTextField
from grids.models import Compound
from party_org.models import Person, phone_validator

from . import portal_login
from .models import Volunteer
from .models.people import MAX_SKILLS, SKILL_MAX_LENGTH, validate_skills

NAME_MAX = Person._meta.get_field("name").max_length
NOTE_MAX = Volunteer._meta.get_field("note").max_length
# Commas (ASCII or full-width), the enumeration comma 、, semicolons and line breaks.
SKILL_SEPARATORS = re.compile(r"[,，、;；\r\n]+")
# Names and skills are words: markup in them is a mistake or an attack, never a name.
MARKUP = re.compile(r"[<>{}]")


def split_skills(value):
    return list(dict.fromkeys(s.strip() for s in SKILL_SEPARATORS.split(value or "") if s.strip()))


class JoinForm(forms.Form):
    compound = forms.ModelChoiceField(
        label=_("Compound"), queryset=Compound.objects.filter(is_active=True),
        widget=forms.HiddenInput,  # chosen from the searchable list on the page
        error_messages={"required": _("Choose your compound."),
                        "invalid_choice": _("Choose a compound from the list.")},
    )
    name = forms.CharField(
        label=_("Your name"), max_length=NAME_MAX,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
        error_messages={"required": _("Give your name.")},
    )
    phone = forms.CharField(
        label=_("Your phone"), max_length=20, validators=[phone_validator],
        help_text=_("You sign in to My page with this number."),
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel"}),
        error_messages={"required": _("Give a phone number.")},
    )
    skills = forms.CharField(
        label=_("Skills"), required=False,
        # Room for MAX_SKILLS skills of full length with their separators.
        max_length=MAX_SKILLS * (SKILL_MAX_LENGTH + 1),
        help_text=_("Optional, separated by commas, e.g. 理发、水电维修、陪伴老人."),
    )
    note = PlainTextField(
        label=_("Anything else?"), required=False, max_length=NOTE_MAX,
        help_text=_("Optional, e.g. when you are free or what you would like to do."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        if MARKUP.search(name):
            raise ValidationError(_("Write your name without < > { }."))
        return name

    def clean_phone(self):
        phone = self.cleaned_data["phone"].strip()
        # The sign-in needs a full number to find the volunteer again.
        if not portal_login.valid_phone(phone):
            raise ValidationError(_("Enter a valid phone number."))
        return phone

    def clean_skills(self):
        skills = split_skills(self.cleaned_data["skills"])
        if any(MARKUP.search(skill) for skill in skills):
            raise ValidationError(_("Write the skills without < > { }."))
        validate_skills(skills)
        return skills

    def register_kwargs(self):
        data = self.cleaned_data
        return {"compound": data["compound"], "name": data["name"], "phone": data["phone"],
                "skills": data["skills"], "note": data["note"]}
