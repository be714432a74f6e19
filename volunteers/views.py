"""The public micro-wish pages (群众点单 / 评单): submit a wish, follow it by its tracking code and
rate it, and the wish wall of open wishes.

No account is needed. Every step goes through services.wishes; these views only validate input,
rate-limit per address (counters of their own, apart from the grid report pages) and decide what a
resident may see: never phone numbers, names of helpers or staff notes; the wall shows no
personal data at all.

Claiming a wish from the wall (接单) and recording its result need the light login of members
and volunteers (volunteers.portal). Only the current claimant sees the resident's phone, and
only while the claim holds.
"""

import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from grids import ratelimit
from grids.forms import CappedUploadHandler, normalize_code
from grids.views import compound_picker
from party_org.pii import mask_phone

from .forms import WishForm, WishRatingForm
from .forms_activities import FulfilmentForm
from .models import MicroWish, WishCategory, WishStatus
from .portal import person_required
from .selectors import wish_by_code, wish_wall
from .services import wishes as services

S = WishStatus
STEPS = [S.SUBMITTED, S.DISPATCHED, S.CLAIMED, S.FULFILLED, S.RATED]
CODE_LENGTH = MicroWish._meta.get_field("tracking_code").max_length
WALL_PAGE = 30
# Statuses in which the claimant still sees their wish's page.
CLAIMANT_STATUSES = (S.CLAIMED, S.FULFILLED, S.RATED)

# Residents' phones read by claimants. The personal-data access log (party_org) records staff
# users reading a Person's data; a claimant is a Person and the wish's phone belongs to no Person
# row, so these reads go to this logger.
read_log = logging.getLogger("volunteers.personal_data")


def _rate_limited(request, scope):
    response = render(request, "grids/rate_limited.html", status=429)
    response["Retry-After"] = str(ratelimit.retry_after(scope))
    return response


def _add_errors(form, error, rename=None):
    rename = rename or {}
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            field = rename.get(field, field)
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _find(code):
    code = normalize_code(code)
    if not (code.isascii() and code.isalnum()) or len(code) > CODE_LENGTH:
        return None
    return wish_by_code(code)


def _not_found(request):
    return render(request, "volunteers/wish_not_found.html", status=404)


# ---- 群众点单 ------------------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def new_wish(request):
    # The upload cap goes in before anything reads the body; CSRF is checked right after.
    handler = CappedUploadHandler(request)
    request.upload_handlers.insert(0, handler)
    return _new_wish(request, handler)


@csrf_protect
def _new_wish(request, handler):
    if request.method == "POST":
        if not ratelimit.hit(request, "wish"):
            return _rate_limited(request, "wish")
        form = WishForm(request.POST, request.FILES, oversized=handler.oversized)
        if form.is_valid():
            try:
                wish = services.submit_wish(None, **form.submit_kwargs())
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(request, _("Thank you. Your wish has been received."))
                return redirect("volunteers_public:track", code=wish.tracking_code)
    else:
        form = WishForm()
    return render(request, "volunteers/wish_form.html", {"form": form, **compound_picker(request, form)})


# ---- tracking and 评单 ---------------------------------------------------------------------------


def _steps(wish):
    times = {S.SUBMITTED: wish.submitted_at, S.DISPATCHED: wish.dispatched_at,
             S.CLAIMED: wish.claimed_at, S.FULFILLED: wish.fulfilled_at, S.RATED: wish.rated_at}
    current = STEPS.index(wish.status) if wish.status in STEPS else -1
    return [
        {"label": status.label, "reached": index <= current, "current": index == current,
         "at": times[status] if index <= current else None}
        for index, status in enumerate(STEPS)
    ]


def _render_track(request, wish, rating_form=None, status=200):
    can_rate = wish.status == S.FULFILLED
    if rating_form is None and can_rate:
        rating_form = WishRatingForm()
    return render(request, "volunteers/wish_track.html", {
        "wish": wish, "steps": _steps(wish), "can_rate": can_rate, "rating_form": rating_form,
        "closed_early": wish.status in (S.REJECTED, S.WITHDRAWN),
    }, status=status)


@require_GET
def track(request, code):
    if not ratelimit.hit(request, "wish_track"):
        return _rate_limited(request, "wish_track")
    wish = _find(code)
    if wish is None:
        return _not_found(request)
    return _render_track(request, wish)


@require_POST
def rate(request, code):
    if not ratelimit.hit(request, "wish_track"):
        return _rate_limited(request, "wish_track")
    wish = _find(code)
    if wish is None:
        return _not_found(request)
    form = WishRatingForm(request.POST)
    if form.is_valid():
        try:
            services.rate_wish(None, wish, form.cleaned_data["rating"],
                               form.cleaned_data["comment"], tracking_code=wish.tracking_code)
        except ValidationError as error:
            _add_errors(form, error, rename={"rating_comment": "comment"})
        else:
            messages.success(request, _("Thank you for your rating."))
            return redirect("volunteers_public:track", code=wish.tracking_code)
    return _render_track(request, wish, rating_form=form, status=400)


# ---- the wish wall -----------------------------------------------------------------------------


@require_GET
def wall(request):
    category = request.GET.get("category") or ""
    if category not in WishCategory.values:
        category = ""
    page = Paginator(wish_wall(category=category or None), WALL_PAGE).get_page(
        request.GET.get("page"))
    labels = dict(WishCategory.choices)
    for row in page.object_list:
        row["category_label"] = labels.get(row["category"], "")
    return render(request, "volunteers/wish_wall.html", {
        "page": page, "category": category, "categories": WishCategory.choices,
    })


# ---- 党员接单 from the wall, and the claimant's page ---------------------------------------------


def _open_to(wish, person):
    """On the wall, or dispatched to this person by name."""
    if wish.status != S.DISPATCHED:
        return False
    member = wish.dispatched_to_member
    return member is None or member.person_id == person.pk


@require_http_methods(["GET", "POST"])
@person_required
def claim(request, pk):
    """GET asks to confirm (where the sign-in sends a resident back to); POST claims."""
    person = request.person
    wish = get_object_or_404(
        MicroWish.objects.select_related("compound", "building", "dispatched_to_member"), pk=pk)
    if wish.claimed_by_id == person.pk and wish.status in CLAIMANT_STATUSES:
        return redirect("volunteers_public:claimed", pk=wish.pk)
    if request.method == "POST":
        try:
            services.claim_wish(None, wish, person)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("volunteers_public:wall")
        messages.success(request, _("The wish is yours. Please contact the resident soon."))
        return redirect("volunteers_public:claimed", pk=wish.pk)
    if not _open_to(wish, person):
        messages.error(request, _("This wish is no longer open."))
        return redirect("volunteers_public:wall")
    return render(request, "volunteers/wish_claim.html", {
        "wish": wish, "may_claim": services.may_claim(person), "claim_hours":
        services.claim_hours(),
    })


@csrf_exempt
@require_http_methods(["GET", "POST"])
def claimed(request, pk):
    # The upload cap goes in before anything reads the body; CSRF is checked right after.
    handler = CappedUploadHandler(request)
    request.upload_handlers.insert(0, handler)
    return _claimed(request, pk, handler)


@person_required
@csrf_protect
def _claimed(request, pk, handler):
    person = request.person
    wish = (
        MicroWish.objects.select_related("compound", "building")
        .filter(pk=pk, claimed_by_id=person.pk, status__in=CLAIMANT_STATUSES).first()
    )
    if wish is None:
        return render(request, "volunteers/activities/not_found.html", status=404)
    form = None
    if request.method == "POST":
        form = FulfilmentForm(request.POST, request.FILES, oversized=handler.oversized)
        if form.is_valid():
            try:
                services.record_fulfilment(None, wish, note=form.cleaned_data["note"],
                                           photo=form.cleaned_data.get("photo"), person=person)
            except ValidationError as error:
                _add_errors(form, error, rename={"fulfilment_note": "note",
                                                 "fulfilment_photo": "photo"})
            else:
                messages.success(request, _("Thank you! The resident will be asked to rate "
                                            "the help."))
                return redirect("volunteers_public:claimed", pk=wish.pk)
    holding = wish.status == S.CLAIMED and wish.claim_expires_at > timezone.now()
    if holding:
        read_log.info("person %s read the contact phone of wish %s (claimant)", person.pk,
                      wish.pk, extra={"person_id": person.pk, "wish_id": wish.pk,
                                      "fields": "contact_phone", "context": "wish claimed page"})
    return render(request, "volunteers/wish_claimed.html", {
        "wish": wish, "holding": holding,
        "phone": wish.contact_phone if holding else mask_phone(wish.contact_phone),
        "expired": wish.status == S.CLAIMED and not holding,
        "form": form or (FulfilmentForm() if holding else None),
    })
