"""Who is signed in on the residents' own pages (the light login of volunteers and members).

A resident signs in with a phone number and a one-time code (volunteers.portal_login); the
session then holds the Person's id under SESSION_KEY. This is separate from Django's staff
login: a resident is a Person, not a User, and a signed-in resident gets no admin rights.
"""

from functools import wraps
from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse

from party_org.models import Person

SESSION_KEY = "volunteers_person_id"


def login_person(request, person):
    """Start a resident's session as `person` (a new session key, against fixation)."""
    request.session.cycle_key()
    request.session[SESSION_KEY] = person.pk
    request._volunteers_person = person


def logout_person(request):
    request.session.pop(SESSION_KEY, None)
    request.session.cycle_key()
    request._volunteers_person = None


def current_person(request):
    """The signed-in Person, or None; cached on the request."""
    if not hasattr(request, "_volunteers_person"):
        pk = request.session.get(SESSION_KEY)
        request._volunteers_person = (
            Person.objects.select_related("org_unit").filter(pk=pk).first()
            if isinstance(pk, int) else None
        )
    return request._volunteers_person


def person_required(view):
    """Send residents who are not signed in to the sign-in page, then back here."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        person = current_person(request)
        if person is None:
            url = reverse("volunteers_public:login")
            return redirect(f"{url}?{urlencode({'next': request.get_full_path()})}")
        request.person = person
        return view(request, *args, **kwargs)

    return wrapper
