"""The public volunteer registration (志愿者注册): a resident names their compound, name, phone
and skills, and is registered unverified through services.people.register_volunteer; staff
verify them in the admin. They can then sign in on the me pages with that phone.

The page shows nothing about anyone else. A second registration of the same name and phone is
refused (anywhere, not only in the same compound, so one person does not become two
volunteers); a phone alone is never said to be known, as on the sign-in page.

Sign-ups are rate-limited per address with the limits of the wish form
(VOLUNTEER_WISH_RATE_LIMIT) but on a counter of their own, so a resident who just sent wishes
can still register, and the other way round.
"""

from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from grids import ratelimit
from grids.views import compound_picker
from party_org.models import Person

from .forms_join import JoinForm
from .services import people as services
from .services._common import digits

RATE_SCOPE = "wish"


def _rate_limited(request):
    response = render(request, "grids/rate_limited.html", status=429)
    response["Retry-After"] = str(ratelimit.retry_after(RATE_SCOPE))
    return response


def _already_registered(name, phone):
    """Whether a volunteer of this name has a phone with the same digits (spaces and dashes
    written differently are the same number)."""
    wanted = digits(phone)
    phones = Person.objects.filter(
        name=name, volunteer__isnull=False, phone__contains=wanted[-4:]
    ).values_list("phone", flat=True)
    return any(digits(found) == wanted for found in phones)


def _add_errors(form, error):
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


@require_http_methods(["GET", "POST"])
def join(request):
    if request.method == "POST":
        address = ratelimit.client_address(request)
        if not ratelimit.hit(request, RATE_SCOPE, who=f"join:{address}"):
            return _rate_limited(request)
        form = JoinForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            if _already_registered(data["name"], data["phone"]):
                form.add_error(None, _("%(name)s is already registered as a volunteer with this "
                                       "phone. Sign in on My page with it.")
                               % {"name": data["name"]})
            else:
                try:
                    services.register_volunteer(None, **form.register_kwargs())
                except ValidationError as error:
                    _add_errors(form, error)
                else:
                    return redirect("volunteers_public:join_done")
    else:
        form = JoinForm()
    return render(request, "volunteers/join_form.html", {"form": form, **compound_picker(request, form)})


@require_GET
def join_done(request):
    return render(request, "volunteers/join_done.html")
