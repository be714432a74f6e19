"""The public activity pages: upcoming activities, and on an activity's page signing up (with a
waiting list), cancelling and checking in with the organiser's one-time code.

Anyone may read the pages; they show the activity, never who signed up. Changes need the light
login (volunteers.portal) and go through services.activities with the person, user None.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from grids.models import Compound
from grids.views import QUERY_MAX, search_compounds
from party_org.models import OrgUnit

from .forms_activities import CheckInForm
from .models import PLACE_HOLDING, Activity, ActivitySignup, SignupStatus
from .portal import current_person, person_required
from .selectors import upcoming_activities
from .services import activities as services

St = SignupStatus
ACTIVITY_PAGE = 20
ID_MAX_DIGITS = 18  # fits a 64-bit id


def _id(value):
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) <= ID_MAX_DIGITS else None


def _with_places(queryset):
    return queryset.annotate(
        taken=Count("signups", filter=Q(signups__status__in=PLACE_HOLDING)),
        waiting=Count("signups", filter=Q(signups__status=St.WAITLISTED)),
    )


def _places_left(activity):
    activity.places_left = max(activity.capacity - activity.taken, 0)
    return activity


def _for_compound(compound):
    """Activities for a compound's residents: organised by its branch or below it, or by a unit
    above it (its community, its street)."""
    unit = compound.org_unit
    return Q(org_unit__tree_id=unit.tree_id) & (
        Q(org_unit__lft__gte=unit.lft, org_unit__rght__lte=unit.rght)
        | Q(org_unit__lft__lt=unit.lft, org_unit__rght__gt=unit.rght)
    )


# ---- the list ----------------------------------------------------------------------------------


@require_GET
def activity_list(request):
    unit_id, compound_id = _id(request.GET.get("unit")), _id(request.GET.get("compound"))
    unit = compound = None
    if unit_id is not None:
        unit = OrgUnit.objects.filter(pk=unit_id, is_active=True).first()
    if compound_id is not None:
        compound = Compound.objects.select_related("org_unit").filter(
            pk=compound_id, is_active=True).first()
    query = (request.GET.get("q") or "").replace("\x00", "").strip()[:QUERY_MAX]
    activities = upcoming_activities(org_unit=unit)
    if compound is not None:
        activities = activities.filter(_for_compound(compound))
    page = Paginator(_with_places(activities), ACTIVITY_PAGE).get_page(request.GET.get("page"))
    for activity in page.object_list:
        _places_left(activity)
    filters = {key: value.pk for key, value in (("unit", unit), ("compound", compound)) if value}
    return render(request, "volunteers/activities/list.html", {
        "page": page, "unit": unit, "compound": compound, "query": query,
        "compounds": search_compounds(query) if query else [],
        "filters": urlencode(filters),
    })


# ---- one activity ------------------------------------------------------------------------------


def _detail_context(request, activity):
    person = current_person(request)
    signup = None
    if person is not None:
        signup = ActivitySignup.objects.filter(activity=activity, person_id=person.pk).first()
    at = timezone.now()
    started, over = at >= activity.starts_at, at >= activity.ends_at
    closes = activity.checkin_closes_at or services.checkin_window(activity)[1]
    status = signup.status if signup is not None else None
    holds_place = status in (St.SIGNED_UP, St.CONFIRMED)
    waiting_number = None
    if status == St.WAITLISTED:
        waiting_number = activity.signups.filter(
            status=St.WAITLISTED, position__lte=signup.position).count()
    return {
        "activity": _places_left(activity), "person": person, "signup": signup,
        "started": started, "over": over, "holds_place": holds_place,
        "waiting_number": waiting_number,
        "can_sign_up": not started and status in (None, St.CANCELLED),
        "can_cancel": not over and status in (St.SIGNED_UP, St.CONFIRMED, St.WAITLISTED),
        "can_check_in": holds_place and at <= closes,
    }


def _activity(pk):
    return get_object_or_404(
        _with_places(Activity.objects.select_related("org_unit", "team")), pk=pk)


def _render_detail(request, activity, checkin_form=None, status=200):
    context = _detail_context(request, activity)
    context["checkin_form"] = checkin_form or CheckInForm()
    return render(request, "volunteers/activities/detail.html", context, status=status)


@require_GET
def activity_detail(request, pk):
    return _render_detail(request, _activity(pk))


def _message(error):
    return " ".join(error.messages)


# The POST routes answer GET with the activity's page: after signing in, a resident lands there
# and presses the button again (a GET never changes anything).


@require_http_methods(["GET", "POST"])
@person_required
def sign_up(request, pk):
    activity = get_object_or_404(Activity, pk=pk)
    if request.method == "POST":
        try:
            signup = services.sign_up(None, activity, request.person)
        except ValidationError as error:
            messages.error(request, _message(error))
        else:
            if signup.status == St.WAITLISTED:
                messages.info(request, _(
                    "The activity is full: you are on the waiting list and will move up "
                    "when a place is freed."))
            else:
                messages.success(request, _("You are signed up. See you there!"))
    return redirect("volunteers_public:activity", pk=activity.pk)


@require_http_methods(["GET", "POST"])
@person_required
def cancel(request, pk):
    activity = get_object_or_404(Activity, pk=pk)
    if request.method == "POST":
        signup = ActivitySignup.objects.filter(activity=activity,
                                               person_id=request.person.pk).first()
        if signup is None:
            messages.error(request, _("You have not signed up for this activity."))
        else:
            try:
                services.cancel_signup(None, signup, person=request.person)
            except ValidationError as error:
                messages.error(request, _message(error))
            else:
                messages.success(request, _("Your sign-up is cancelled."))
    return redirect("volunteers_public:activity", pk=activity.pk)


@require_http_methods(["GET", "POST"])
@person_required
def check_in(request, pk):
    if request.method != "POST":
        return redirect("volunteers_public:activity", pk=pk)
    activity = _activity(pk)
    form = CheckInForm(request.POST)
    if form.is_valid():
        try:
            services.check_in(None, activity, request.person, form.cleaned_data["code"])
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for field, errors in error.error_dict.items():
                    form.add_error("code" if field == "code" else None, errors)
            else:
                form.add_error(None, error)
        else:
            messages.success(request, _("You are checked in. Thank you for your service!"))
            return redirect("volunteers_public:activity", pk=activity.pk)
    # Re-read: a wrong code is counted by the service.
    return _render_detail(request, _activity(pk), checkin_form=form)
