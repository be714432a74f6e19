"""The public resident pages (随手拍): report a problem, follow it by its tracking code, rate it.

No account is needed. Every step goes through services.events; these views only validate input,
rate-limit per address and decide what a resident may see: never staff names, phone numbers or
internal notes, and photos only to whoever opened the event's tracking page (or staff in scope).
"""

from functools import reduce
from operator import or_

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from party_org.models import OrgKind, OrgUnit

from . import ratelimit
from .forms import CappedUploadHandler, LookupForm, RatingForm, ReportForm, normalize_code
from .models import Compound, EventSource, EventStatus, GridEvent, GridEventPhoto
from .selectors import events_visible_to
from .services import events as services

SEARCH_LIMIT = 20
QUERY_MAX = 50
# Event ids whose tracking page this browser session has opened (grants their photos).
SESSION_KEY = "grids_tracked_events"
SESSION_KEEP = 20
PHOTO_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
STEPS = list(EventStatus)
RESULT_STATUSES = (EventStatus.FEEDBACK, EventStatus.CLOSED)
CODE_LENGTH = GridEvent._meta.get_field("tracking_code").max_length


# ---- compound search ---------------------------------------------------------------------------


def search_compounds(query):
    """Up to SEARCH_LIMIT active compounds matching `query` by name, address or the party
    organisations above them, each with `community_name` set."""
    # PostgreSQL refuses NUL bytes in text: drop them rather than answer 500.
    query = (query or "").replace("\x00", "").strip()[:QUERY_MAX]
    if not query:
        return []
    compounds = list(
        Compound.objects.filter(is_active=True)
        .filter(
            Q(name__icontains=query) | Q(address__icontains=query)
            | Q(org_unit__name__icontains=query) | Q(org_unit__parent__name__icontains=query)
            | Q(org_unit__parent__parent__name__icontains=query)
        )
        .select_related("org_unit")
        .order_by("name", "pk")[:SEARCH_LIMIT]
    )
    return with_community(compounds)


def with_community(compounds):
    """Set `community_name` on each compound, finding the communities in one query by the
    tree columns rather than one ancestor walk per compound."""
    below = {c.org_unit for c in compounds if c.org_unit.kind != OrgKind.COMMUNITY}
    communities = []
    if below:
        communities = list(
            OrgUnit.objects.filter(kind=OrgKind.COMMUNITY)
            .filter(reduce(or_, (
                Q(tree_id=u.tree_id, lft__lt=u.lft, rght__gt=u.rght) for u in below
            )))
            .only("name", "tree_id", "lft", "rght")
        )
    for compound in compounds:
        unit = compound.org_unit
        if unit.kind == OrgKind.COMMUNITY:
            compound.community_name = unit.name
        else:
            compound.community_name = next(
                (c.name for c in communities
                 if c.tree_id == unit.tree_id and c.lft < unit.lft and unit.rght < c.rght),
                "",
            )
    return compounds


def compound_picker(request, form):
    """The template context of the compound picker on a public form: the search query, the
    matching compounds and the one already chosen in `form` (listed first)."""
    query = (request.GET.get("q") or "").replace("\x00", "").strip()[:QUERY_MAX]
    compounds = search_compounds(query)
    chosen = str(form["compound"].value() or "")
    if chosen.isdigit() and len(chosen) < 19:  # fits a 64-bit id
        picked = Compound.objects.filter(is_active=True, pk=int(chosen)).select_related(
            "org_unit"
        ).first()
        if picked is not None:
            compounds = with_community([picked]) + [c for c in compounds if c.pk != picked.pk]
    return {"query": query, "compounds": compounds, "chosen": chosen}


@require_GET
def compound_search(request):
    """JSON for the compound picker: id, name and community; nothing personal."""
    results = [
        {"id": c.pk, "name": c.name, "community": c.community_name}
        for c in search_compounds(request.GET.get("q"))
    ]
    return JsonResponse({"results": results})


# ---- helpers -----------------------------------------------------------------------------------


def _rate_limited(request, scope):
    response = render(request, "grids/rate_limited.html", status=429)
    response["Retry-After"] = str(ratelimit.retry_after(scope))
    return response


def _add_errors(form, error, rename=None):
    """Put a service's ValidationError on the form, by field where the form has one."""
    rename = rename or {}
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            field = rename.get(field, field)
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _remember(request, event):
    seen = request.session.get(SESSION_KEY, [])
    if seen[-1:] != [event.pk]:
        seen = [pk for pk in seen if pk != event.pk] + [event.pk]
        request.session[SESSION_KEY] = seen[-SESSION_KEEP:]


def _find(code):
    code = normalize_code(code)
    # Codes are ASCII letters and digits: anything else (a NUL byte too) never reaches the database.
    if not (code.isascii() and code.isalnum()) or len(code) > CODE_LENGTH:
        return None
    return (
        GridEvent.objects.select_related("category", "compound", "building")
        .filter(tracking_code=code).first()
    )


def _not_found(request, code):
    form = LookupForm(initial={"code": normalize_code(code)[:CODE_LENGTH]})
    return render(request, "grids/track_lookup.html", {"form": form, "not_found": True},
                  status=404)


# ---- report ------------------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def report(request):
    # The upload cap must be installed before anything reads the body, the CSRF check included;
    # _report checks CSRF itself right after.
    handler = CappedUploadHandler(request)
    request.upload_handlers.insert(0, handler)
    return _report(request, handler)


@csrf_protect
def _report(request, handler):
    if request.method == "POST":
        if not ratelimit.hit(request, "report"):
            return _rate_limited(request, "report")
        form = ReportForm(request.POST, request.FILES, oversized=handler.oversized)
        if form.is_valid():
            try:
                event = services.report_event(
                    None, source=EventSource.RESIDENT, **form.report_kwargs()
                )
            except ValidationError as error:
                _add_errors(form, error, rename={"building": "place"})
            else:
                _remember(request, event)
                messages.success(request, _("Thank you. Your report has been received."))
                return redirect("grids_public:track", code=event.tracking_code)
    else:
        form = ReportForm()
    return render(request, "grids/report_form.html", {
        "form": form, "max_bytes": handler.limit, **compound_picker(request, form),
    })


# ---- tracking and rating -----------------------------------------------------------------------


@require_GET
def track_lookup(request):
    form = LookupForm(request.GET or None)
    if form.is_bound:
        if not ratelimit.hit(request, "track"):
            return _rate_limited(request, "track")
        if form.is_valid():
            event = _find(form.cleaned_data["code"])
            if event is None:
                return render(request, "grids/track_lookup.html",
                              {"form": form, "not_found": True}, status=404)
            return redirect("grids_public:track", code=event.tracking_code)
    return render(request, "grids/track_lookup.html", {"form": form})


def _steps(event, logs):
    """The six steps, each reached or not, with when the event last entered it."""
    entered = {}
    for log in logs:
        if log.to_status and log.to_status != log.from_status:
            entered[log.to_status] = log.at
    current = STEPS.index(event.status)
    steps = []
    for index, status in enumerate(STEPS):
        # A duplicate jumps to closed: the steps it skipped were never reached.
        reached = index == current or (index < current and status in entered)
        steps.append({
            "label": status.label, "reached": reached, "current": index == current,
            "at": entered.get(status) if reached else None,
        })
    return steps


def _render_track(request, event, rating_form=None, status=200):
    logs = list(
        event.logs.order_by("at", "pk").only("event", "action", "from_status", "to_status", "at")
    )
    photos = list(
        event.photos.filter(stage=GridEventPhoto.Stage.REPORT).order_by("pk").only("pk", "event")
    )
    can_rate = services.may_rate(event)
    if rating_form is None and can_rate:
        rating_form = RatingForm()
    return render(request, "grids/track.html", {
        "event": event,
        "steps": _steps(event, logs),
        "logs": logs,
        "photos": photos,
        "show_result": event.status in RESULT_STATUSES and bool(event.result),
        "can_rate": can_rate,
        "rating_form": rating_form,
    }, status=status)


@require_GET
def track(request, code):
    if not ratelimit.hit(request, "track"):
        return _rate_limited(request, "track")
    event = _find(code)
    if event is None:
        return _not_found(request, code)
    _remember(request, event)
    return _render_track(request, event)


@require_POST
def rate(request, code):
    if not ratelimit.hit(request, "track"):
        return _rate_limited(request, "track")
    event = _find(code)
    if event is None:
        return _not_found(request, code)
    _remember(request, event)
    form = RatingForm(request.POST)
    if form.is_valid():
        try:
            services.rate_event(None, event, form.cleaned_data["rating"],
                                form.cleaned_data["comment"])
        except ValidationError as error:
            _add_errors(form, error, rename={"rating_comment": "comment"})
        else:
            messages.success(request, _("Thank you for rating the result."))
            return redirect("grids_public:track", code=event.tracking_code)
    return _render_track(request, event, rating_form=form, status=400)


# ---- photos ------------------------------------------------------------------------------------


def _may_see_photo(request, photo):
    if (photo.stage == GridEventPhoto.Stage.REPORT
            and photo.event_id in request.session.get(SESSION_KEY, [])):
        return True
    user = request.user
    return user.is_authenticated and events_visible_to(user).filter(pk=photo.event_id).exists()


@require_GET
def photo(request, photo_id):
    """A photo of an event, streamed only to those who may see it; 404 to everyone else."""
    item = GridEventPhoto.objects.filter(pk=photo_id).only("pk", "event", "stage", "image").first()
    if item is None or not _may_see_photo(request, item):
        raise Http404
    ext = item.image.name.rsplit(".", 1)[-1].lower()
    try:
        handle = item.image.open("rb")
    except OSError:
        raise Http404 from None
    response = FileResponse(handle, filename=f"photo.{ext}",
                            content_type=PHOTO_TYPES.get(ext, "application/octet-stream"))
    response["Cache-Control"] = "private, max-age=3600"
    return response
