"""The public evaluation form (物业服务评价): a resident enters the one-time code printed for their
household, sees which compound and survey it is for, and rates five aspects of the service.

No account is needed. The answer is saved by services.submit_evaluation, which alone decides
what counts (one answer per code, inside the survey's window); every refusal is shown on the
page. Each code check and each answer counts against a per-address rate limit.
"""

from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from grids import ratelimit
from grids.models import Compound

from . import services
from .forms import CODE_MAX, CodeForm, EvaluationForm
from .models import EvaluationCode

SCOPE = "evaluate"
ratelimit.LIMITS.setdefault(SCOPE, ("PROPERTY_EVALUATION_RATE_LIMIT", (20, 600)))
SESSION_KEY = "property_evaluated_compound"


def _rate_limited(request):
    response = render(request, "grids/rate_limited.html", status=429)
    response["Retry-After"] = str(ratelimit.retry_after(SCOPE))
    return response


def _usable(code_value, today):
    """(the code row, None) when the code may be answered today, else (row or None, message).
    The messages are the service's own: it checks the same again when the answer arrives."""
    # Codes are ASCII letters and digits: anything else never reaches the database.
    if not code_value.isascii() or not code_value.isalnum() or len(code_value) > CODE_MAX:
        code = None
    else:
        code = (
            EvaluationCode.objects.select_related("evaluation__compound", "evaluation__company")
            .filter(code=code_value).first()
        )
    if code is None:
        return None, _("This code is not known. Check it against the slip and try again.")
    if code.used_at is not None:
        return code, _("This code has already been used: each household answers once.")
    evaluation = code.evaluation
    if today < evaluation.opens_on:
        return code, _("The survey opens on %(date)s.") % {"date": evaluation.opens_on}
    if today > evaluation.closes_on:
        return code, _("The survey closed on %(date)s.") % {"date": evaluation.closes_on}
    return code, None


def _code_page(request, form, status=200):
    return render(request, "property_mgmt/evaluate_code.html", {"form": form}, status=status)


def _rating_page(request, form, code, status=200):
    return render(request, "property_mgmt/evaluate.html", {
        "form": form, "evaluation": code.evaluation, "compound": code.evaluation.compound,
    }, status=status)


def _check(request, data):
    """The code step: the rating form for a usable code, else the code form with the reason."""
    form = CodeForm(data)
    if not form.is_valid():
        return _code_page(request, form, status=400)
    code, refusal = _usable(form.cleaned_data["code"], timezone.localdate())
    if refusal:
        form.add_error("code", refusal)
        return _code_page(request, form, status=400)
    return _rating_page(request, EvaluationForm(initial={"code": code.code}), code)


@require_http_methods(["GET", "POST"])
def evaluate(request):
    if request.method == "GET":
        if "code" not in request.GET:
            return _code_page(request, CodeForm())
        # A link printed with the code (…/evaluate/?code=…) goes straight to the ratings.
        if not ratelimit.hit(request, SCOPE):
            return _rate_limited(request)
        return _check(request, request.GET)
    if not ratelimit.hit(request, SCOPE):
        return _rate_limited(request)
    if request.POST.get("stage") != "rate":
        return _check(request, request.POST)
    form = EvaluationForm(request.POST)
    code_value = form.posted_code()
    code, refusal = _usable(code_value, timezone.localdate())
    if refusal:
        # Used meanwhile, or the window closed: back to the code step, with the reason.
        codes = CodeForm({"code": code_value})
        codes.is_valid()
        codes.add_error("code", refusal)
        return _code_page(request, codes, status=400)
    if form.is_valid():
        try:
            services.submit_evaluation(form.cleaned_data["code"], form.scores(),
                                       form.cleaned_data["comment"])
        except ValidationError as error:
            _add_errors(form, error)
        else:
            request.session[SESSION_KEY] = code.evaluation.compound_id
            return redirect("property_public:thanks")
    return _rating_page(request, form, code, status=400)


def _add_errors(form, error):
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields and field != "code" else None, errors)


@require_GET
def thanks(request):
    compound_id = request.session.get(SESSION_KEY)
    compound = (
        Compound.objects.filter(pk=compound_id, is_active=True).only("pk", "name").first()
        if isinstance(compound_id, int) else None
    )
    return render(request, "property_mgmt/evaluate_thanks.html", {"compound": compound})
