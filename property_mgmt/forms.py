"""The residents' evaluation form (物业服务评价): the household's one-time code, then five 1–5 star
ratings and a comment."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import DIMENSIONS, EvaluationCode, EvaluationResponse
from .services import normalise_code

CODE_MAX = EvaluationCode._meta.get_field("code").max_length
COMMENT_MAX = EvaluationResponse._meta.get_field("comment").max_length
STARS = [(n, str(n)) for n in range(5, 0, -1)]  # 5..1: shown reversed (see report.css)


def clean_code(value):
    return normalise_code(value).replace("-", "")


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Your household's code"), max_length=40,
        widget=forms.TextInput(attrs={
            "autocapitalize": "characters", "autocomplete": "off", "spellcheck": "false",
            "autocorrect": "off", "enterkeyhint": "go",
        }),
        help_text=_("The code printed on the slip your household received. Each code can be "
                    "used once."),
        error_messages={"required": _("Enter the code printed on your household's slip.")},
    )

    def clean_code(self):
        return clean_code(self.cleaned_data["code"])


class EvaluationForm(forms.Form):
    code = forms.CharField(widget=forms.HiddenInput, max_length=40)
    comment = forms.CharField(
        label=_("Anything else you want to tell us?"), required=False, max_length=COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": COMMENT_MAX}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        scores = {}
        for dim in DIMENSIONS:
            scores[dim] = forms.TypedChoiceField(
                label=EvaluationResponse._meta.get_field(dim).verbose_name, choices=STARS,
                coerce=int, widget=forms.RadioSelect,
                error_messages={
                    "required": _("Give a score from 1 to 5."),
                    "invalid_choice": _("Give a score from 1 to 5."),
                },
            )
        # The scores first, the comment last.
        self.fields = {"code": self.fields["code"], **scores, "comment": self.fields["comment"]}

    def clean_code(self):
        return clean_code(self.cleaned_data["code"])

    def posted_code(self):
        """The code as posted, before validation (it decides which survey the page is for)."""
        value = self.data.get("code", "")
        return clean_code(value if isinstance(value, str) else "")

    def score_fields(self):
        return [self[dim] for dim in DIMENSIONS]

    def scores(self):
        return {dim: self.cleaned_data[dim] for dim in DIMENSIONS}
