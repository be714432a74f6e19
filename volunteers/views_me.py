"""The residents' own pages (light login): a volunteer's or party member's points, history,
redemptions, activities and wishes, and the points mall.

Sign-in is by phone and a one-time code (portal_login); the session then names the Person
(portal). Everything shown is the signed-in person's own; other people's redemptions answer 404.
State changes go through services.mall with user None and the person.
"""

import re
import uuid
from urllib.parse import urlsplit

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, Sum
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from grids import ratelimit
from party_org.models import OrgKind, OrgUnit, phone_validator
from party_org.pii import mask_phone
from party_org.selectors import Subtree

from . import portal_login
from .models import (
    ActivitySignup,
    PointsAccount,
    PointsEntry,
    PointsKind,
    Redemption,
    RedemptionStatus,
    RewardItem,
    ServiceHours,
)
from .portal import current_person, login_person, logout_person, person_required
from .selectors import entries_for, wishes_for_person
from .services import mall as mall_services
from .services.ledger import earning_kind, lifetime_q, star_level

RECENT_ENTRIES = 10
HISTORY_PAGE = 30
LIST_LIMIT = 30
MALL_PAGE = 30
STAR_MAX = 5
KEY_RE = re.compile(r"^[A-Za-z0-9-]{8,40}$")


# ---- forms -------------------------------------------------------------------------------------


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label=gettext_lazy("Phone number"), max_length=20, validators=[phone_validator],
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel"}),
        error_messages={"required": gettext_lazy("Enter your phone number.")},
    )

    def clean_phone(self):
        phone = self.cleaned_data["phone"].strip()
        if not portal_login.valid_phone(phone):
            raise ValidationError(_("Enter a valid phone number."))
        return phone


class CodeForm(PhoneForm):
    code = forms.CharField(
        label=gettext_lazy("Code"), max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code",
                                      "maxlength": "6"}),
        error_messages={"required": gettext_lazy("Enter the 6-digit code.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["phone"].widget = forms.HiddenInput()

    def clean_code(self):
        code = "".join(self.cleaned_data["code"].split())
        if not (code.isascii() and code.isdigit() and len(code) == portal_login.CODE_DIGITS):
            raise ValidationError(_("Enter the 6-digit code."))
        return code


class RedeemForm(forms.Form):
    quantity = forms.IntegerField(
        label=gettext_lazy("Quantity"), min_value=1, max_value=mall_services.MAX_QUANTITY,
        initial=1,
        error_messages={"required": gettext_lazy("Say how many."),
                        "invalid": gettext_lazy("Enter a whole number.")},
    )
    key = forms.CharField(widget=forms.HiddenInput, max_length=40, required=False)

    def clean_key(self):
        key = self.cleaned_data.get("key") or ""
        if not KEY_RE.match(key):
            raise ValidationError(_("The form has expired. Please reload the page and try again."))
        return key


# ---- signing in and out ------------------------------------------------------------------------


def _next_url(request):
    """Where to go after signing in: a local URL from `next`, else the person's page."""
    default = reverse("volunteers_public:me")
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if not candidate or not url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return default
    if urlsplit(candidate).path.startswith(reverse("volunteers_public:login")):
        return default  # never back to the sign-in page itself
    return candidate


def _render_login(request, *, phone_form=None, code_form=None, sent=False, status=200,
                  retry_after=None):
    next_url = _next_url(request)
    response = render(request, "volunteers/me/login.html", {
        "phone_form": phone_form, "code_form": code_form, "sent": sent,
        "next": "" if next_url == reverse("volunteers_public:me") else next_url,
        "ttl_minutes": max(1, portal_login.code_ttl() // 60),
    }, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def login(request):
    if current_person(request) is not None:
        return redirect(_next_url(request))
    address = ratelimit.client_address(request)
    if request.method == "POST" and request.POST.get("step") == "code":
        form = CodeForm(request.POST)
        if not form.is_valid():
            return _render_login(request, code_form=form, status=400)
        try:
            person = portal_login.verify_code(
                form.cleaned_data["phone"], form.cleaned_data["code"], address
            )
        except portal_login.LoginError as error:
            form.add_error("code" if error.code in ("wrong", "invalid") else None, error.message)
            limited = error.code == "rate_limited"
            return _render_login(request, code_form=form, status=429 if limited else 400,
                                 retry_after=error.retry_after)
        login_person(request, person)
        messages.success(request, _("Welcome, %(name)s.") % {"name": person.name})
        return redirect(_next_url(request))
    if request.method == "POST":
        form = PhoneForm(request.POST)
        if not form.is_valid():
            return _render_login(request, phone_form=form, status=400)
        phone = form.cleaned_data["phone"]
        try:
            portal_login.request_code(phone, address)
        except portal_login.LoginError as error:
            form.add_error("phone" if error.code == "invalid" else None, error.message)
            limited = error.code == "rate_limited"
            return _render_login(request, phone_form=form, status=429 if limited else 400,
                                 retry_after=error.retry_after)
        return _render_login(request, code_form=CodeForm(initial={"phone": phone}), sent=True)
    initial = {"phone": request.GET.get("phone", "")[:20]} if request.GET.get("phone") else None
    return _render_login(request, phone_form=PhoneForm(initial=initial))


@require_POST
def logout(request):
    logout_person(request)
    messages.success(request, _("You have signed out."))
    return redirect("volunteers_public:login")


# ---- the person's page -------------------------------------------------------------------------


def _points(person):
    """The kinds to show (the one the person earns, and any they hold) with balance and stars."""
    held = dict(PointsAccount.objects.filter(person_id=person.pk).values_list("kind", "balance"))
    earned = dict(
        PointsEntry.objects.filter(lifetime_q(), account__person_id=person.pk)
        .values("account__kind").annotate(n=Sum("amount")).order_by()
        .values_list("account__kind", "n")
    )
    earns = earning_kind(person)
    labels = dict(PointsKind.choices)
    rows = []
    for kind in PointsKind.values:
        if kind != earns and kind not in held:
            continue
        lifetime = earned.get(kind) or 0
        stars = star_level(lifetime)
        rows.append({
            "kind": kind, "label": labels[kind], "balance": held.get(kind, 0),
            "lifetime": lifetime, "stars": stars, "star_marks": "★" * stars,
            "star_blanks": "☆" * (STAR_MAX - stars) if stars <= STAR_MAX else "",
        })
    return rows


@never_cache
@require_GET
@person_required
def me(request):
    person = request.person
    hours = ServiceHours.objects.filter(person_id=person.pk)
    return render(request, "volunteers/me/home.html", {
        "person": person, "tab": "me",
        "masked_phone": mask_phone(person.phone),
        "points": _points(person),
        "entries": list(entries_for(person)[:RECENT_ENTRIES + 1]),
        "recent": RECENT_ENTRIES,
        "redemptions": list(
            Redemption.objects.filter(person_id=person.pk)
            .select_related("item__merchant").order_by("-created_at", "-pk")[:LIST_LIMIT]
        ),
        "signups": list(
            ActivitySignup.objects.filter(person_id=person.pk).select_related("activity")
            .order_by("-activity__starts_at", "-pk")[:LIST_LIMIT]
        ),
        "hours": list(hours.select_related("activity").order_by("-approved_at", "-pk")
                      [:LIST_LIMIT]),
        "hours_total": hours.aggregate(n=Sum("hours"))["n"] or 0,
        "wishes": list(wishes_for_person(person).select_related("compound", "building")
                       [:LIST_LIMIT]),
        "issued": RedemptionStatus.ISSUED,
    })


@never_cache
@require_GET
@person_required
def points(request):
    person = request.person
    kind = request.GET.get("kind") or ""
    if kind not in PointsKind.values:
        kind = ""
    page = Paginator(entries_for(person, kind or None), HISTORY_PAGE).get_page(
        request.GET.get("page"))
    return render(request, "volunteers/me/points.html", {
        "person": person, "tab": "points", "page": page, "kind": kind,
        "kinds": PointsKind.choices,
    })


@require_http_methods(["GET", "POST"])
@person_required
def cancel_redemption(request, pk):
    if request.method == "GET":  # where signing in sends someone whose session had ended
        return redirect(reverse("volunteers_public:me") + "#redemptions")
    # Only the person's own redemptions exist here: anyone else's is a 404, like a wrong id.
    redemption = Redemption.objects.filter(pk=pk, person_id=request.person.pk).first()
    if redemption is None:
        raise Http404
    try:
        mall_services.cancel_redemption(None, redemption, person=request.person)
    except PermissionDenied as error:
        raise Http404 from error
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Redemption %(code)s cancelled; the points are back.")
                         % {"code": redemption.code})
    return redirect(reverse("volunteers_public:me") + "#redemptions")


# ---- the points mall ---------------------------------------------------------------------------


def _area_items(person):
    """Items of the merchants of the person's area: those of their community and its units, and
    of the street, district or city above it."""
    unit = person.org_unit
    community = (
        OrgUnit.objects.filter(tree_id=unit.tree_id, lft__lte=unit.lft, rght__gte=unit.rght,
                               kind=OrgKind.COMMUNITY).only("tree_id", "lft", "rght").first()
        or unit
    )
    above = Q(merchant__org_unit__tree_id=community.tree_id,
              merchant__org_unit__lft__lte=community.lft,
              merchant__org_unit__rght__gte=community.rght)
    return RewardItem.objects.filter(above | Subtree.of(community).q("merchant__org_unit"))


def _on_offer(items):
    today = timezone.localdate()
    return (
        items.filter(is_active=True, merchant__is_active=True, stock__gt=0)
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=today))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today))
        .select_related("merchant").order_by("merchant__name", "name", "pk")
    )


def _render_mall(request, person, *, failed=None, status=200):
    """The mall; `failed` is (item id, quantity typed, request key, messages) of a refused
    redemption, shown on that item's card (or above the list when it is not listed)."""
    page = Paginator(_on_offer(_area_items(person)), MALL_PAGE).get_page(request.GET.get("page"))
    items = list(page.object_list)
    limited = [item.pk for item in items if item.per_person_limit]
    taken = dict(
        Redemption.objects.filter(person_id=person.pk, item_id__in=limited)
        .exclude(status=RedemptionStatus.CANCELLED)
        .values("item_id").annotate(n=Sum("quantity")).order_by().values_list("item_id", "n")
    ) if limited else {}
    held = dict(PointsAccount.objects.filter(person_id=person.pk).values_list("kind", "balance"))
    problems = []
    for item in items:
        item.taken = taken.get(item.pk, 0)
        item.balance = held.get(item.points_kind, 0)
        item.affordable = item.balance >= item.points_price
        item.quantity, item.key, item.problems = 1, uuid.uuid4().hex, []
        if failed is not None and failed[0] == item.pk:
            item.quantity, item.key, item.problems = failed[1], failed[2], failed[3]
    if failed is not None and not any(item.pk == failed[0] for item in items):
        problems = failed[3]
    labels = dict(PointsKind.choices)
    return render(request, "volunteers/me/mall.html", {
        "person": person, "tab": "mall", "page": page, "items": items, "problems": problems,
        "max_quantity": mall_services.MAX_QUANTITY,
        "balances": [(labels[kind], held[kind]) for kind in PointsKind.values if kind in held],
    }, status=status)


@never_cache
@require_GET
@person_required
def mall(request):
    return _render_mall(request, request.person)


@require_http_methods(["GET", "POST"])
@person_required
def redeem(request, item_id):
    if request.method == "GET":  # where signing in sends someone whose session had ended
        return redirect("volunteers_public:mall")
    person = request.person
    item = _area_items(person).select_related("merchant").filter(pk=item_id).first()
    if item is None:
        raise Http404
    form = RedeemForm(request.POST)
    if form.is_valid():
        # Keys are the person's own: one cannot replay another person's request.
        key = f"me:{person.pk}:{form.cleaned_data['key']}"
        try:
            redemption = mall_services.redeem(
                None, item, person, quantity=form.cleaned_data["quantity"], idempotency_key=key
            )
        except ValidationError as error:
            problems = error.messages
        else:
            if redemption.replayed:
                messages.info(request, _("This redemption was already made; its code is "
                                         "%(code)s.") % {"code": redemption.code})
            else:
                messages.success(request, _("Redeemed. Show the code %(code)s at %(merchant)s.")
                                 % {"code": redemption.code, "merchant": item.merchant.name})
            return redirect(reverse("volunteers_public:me") + "#redemptions")
    else:
        problems = [message for errors in form.errors.values() for message in errors]
    # Nothing was taken under this key, so the same key may be sent again; a bad one is renewed.
    key = form.cleaned_data.get("key") if "key" not in form.errors else None
    typed = (request.POST.get("quantity") or "")[:6]
    return _render_mall(request, person, failed=(item.pk, typed, key or uuid.uuid4().hex,
                                                 problems), status=400)
