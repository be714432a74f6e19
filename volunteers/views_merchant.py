"""The merchant's own page (积分商城 · 商家核销): a merchant login checks a resident's redemption
code, sees what it is for and marks it used, and lists its recent redemptions.

A merchant login is a plain Django user linked to a Merchant (Merchant.users): it signs in here,
not in the admin (it is not staff and gets no admin rights). It sees only its own merchants'
redemptions, and a resident's name masked (张*), never a phone. Another merchant's code gets
the same answer as an unknown one. Code checks are rate-limited per login; sign-in attempts per
address. Marking goes through services.mall.
"""

from functools import wraps
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from grids import ratelimit

from .models import Redemption, RedemptionStatus
from .selectors import merchant_redemption, merchants_of, redemptions_for_merchant_user
from .services import mall

CODE_LENGTH = Redemption._meta.get_field("code").max_length
RECENT_PAGE = 20
CODE_SCOPE, LOGIN_SCOPE = "merchant_code", "merchant_login"


def mask_name(name):
    """张三 -> 张*, 欧阳娜娜 -> 欧***: the merchant only needs to recognise the person."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)


# ---- signing in --------------------------------------------------------------------------------


class MerchantLoginForm(AuthenticationForm):
    """Django's sign-in, for merchant logins only: any other account gets the same answer as a
    wrong password, so the form tells nothing about staff accounts."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": gettext_lazy(
            "Enter the username and password of a merchant login. Both are case-sensitive."
        ),
    }

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not merchants_of(user).exists():
            raise self.get_invalid_login_error()


class MerchantLoginView(auth_views.LoginView):
    template_name = "volunteers/merchant/login.html"
    authentication_form = MerchantLoginForm
    next_page = "volunteers_public:merchant"

    def post(self, request, *args, **kwargs):
        if not ratelimit.hit(request, LOGIN_SCOPE):
            # The form is not validated: over the limit, the password is not even checked.
            response = self.render_to_response(self.get_context_data(
                form=self.get_form(),
                page_error=_("Too many sign-in attempts from your network. "
                             "Please wait a few minutes and try again."),
            ), status=429)
            response["Retry-After"] = str(ratelimit.retry_after(LOGIN_SCOPE))
            return response
        return super().post(request, *args, **kwargs)


class MerchantLogoutView(auth_views.LogoutView):
    next_page = "volunteers_public:merchant_login"


def merchant_required(view):
    """Anonymous visitors go to the merchant sign-in and back; a signed-in login that works for no
    (active) merchant, staff included, is refused."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            url = reverse("volunteers_public:merchant_login")
            # Back to a page that can be shown (a POST cannot be replayed after signing in).
            back = (request.get_full_path() if request.method == "GET"
                    else reverse("volunteers_public:merchant"))
            return redirect(f"{url}?{urlencode({'next': back})}")
        merchants = list(merchants_of(request.user))
        if not merchants:
            return render(request, "volunteers/merchant/forbidden.html", status=403)
        request.merchants = merchants
        return view(request, *args, **kwargs)

    return wrapper


# ---- checking and marking codes ----------------------------------------------------------------


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Redemption code"), max_length=40,
        widget=forms.TextInput(attrs={
            "autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false",
            "autofocus": True,
        }),
        error_messages={"required": gettext_lazy("Type the code the resident shows you.")},
    )

    def clean_code(self):
        code = mall.normalise_code(self.cleaned_data["code"])
        if not code or not (code.isascii() and code.isalnum()) or len(code) > CODE_LENGTH:
            raise ValidationError(_("A code has only letters and digits, e.g. 7KQ2M9XH4PTA."))
        return code


def _card(redemption):
    """What the page shows of a redemption: no phone, the resident's name masked."""
    status = "expired" if mall.is_expired(redemption) else redemption.status
    return {
        "code": redemption.code,
        "code_tail": redemption.code[-4:],
        "merchant": redemption.item.merchant.name,
        "item": redemption.item.name,
        "discount": redemption.item.discount_note,
        "quantity": redemption.quantity,
        "person": mask_name(redemption.person.name),
        "created_at": redemption.created_at,
        "used_at": redemption.used_at,
        "cancelled_at": redemption.cancelled_at,
        "valid_until": redemption.item.valid_until,
        "status": status,
        "status_label": _("expired") if status == "expired" else redemption.get_status_display(),
        "usable": status == RedemptionStatus.ISSUED,
    }


def _problem(redemption):
    """Why this code cannot be used now, in the words the page shows; None when it can."""
    if redemption is None:
        return _("No redemption of your shop has this code. Check it letter by letter.")
    if redemption.status == RedemptionStatus.USED:
        return _("This code has already been used (on %(when)s).") % {
            "when": timezone.localtime(redemption.used_at).strftime("%Y-%m-%d %H:%M")}
    if redemption.status == RedemptionStatus.CANCELLED:
        return _("This redemption was cancelled: the points went back to the resident.")
    if mall.is_expired(redemption):
        return _("This code has expired: the item could be used until %(day)s.") % {
            "day": redemption.item.valid_until.isoformat()}
    return None


def _recent(request):
    rows = redemptions_for_merchant_user(request.user).select_related(
        "item__merchant", "person")
    page = Paginator(rows, RECENT_PAGE).get_page(request.GET.get("page"))
    page.rows = [_card(r) for r in page.object_list]
    return page


def _render(request, form, *, found=None, problem=None, page_error=None, status=200):
    return render(request, "volunteers/merchant/home.html", {
        "form": form, "found": found, "problem": problem, "page_error": page_error,
        "page": _recent(request), "merchants": request.merchants,
    }, status=status)


def _rate_limited(request, form):
    # The form is not validated: the code stays in the box for the next try.
    response = _render(request, form, page_error=_(
        "Too many code checks in a short time. Please wait a few minutes and try again."
    ), status=429)
    response["Retry-After"] = str(ratelimit.retry_after(CODE_SCOPE))
    return response


@never_cache
@require_http_methods(["GET", "POST"])
@merchant_required
def home(request):
    """GET: the code form and the recent redemptions. POST: check a code and show what it is for,
    with a button to mark it used when it may be."""
    if request.method != "POST":
        return _render(request, CodeForm())
    form = CodeForm(request.POST)
    if not ratelimit.hit(request, CODE_SCOPE, who=f"user:{request.user.pk}"):
        return _rate_limited(request, form)
    if not form.is_valid():
        return _render(request, form, status=400)
    redemption = merchant_redemption(request.user, form.cleaned_data["code"])
    problem = _problem(redemption)
    if problem and redemption is None:
        form.add_error("code", problem)
        return _render(request, form, status=404)
    return _render(request, form, found=_card(redemption), problem=problem)


@never_cache
@require_POST
@merchant_required
def use(request):
    """Mark the checked code used; on success back to the page with a message."""
    form = CodeForm(request.POST)
    if not ratelimit.hit(request, CODE_SCOPE, who=f"user:{request.user.pk}"):
        return _rate_limited(request, form)
    if not form.is_valid():
        return _render(request, form, status=400)
    code = form.cleaned_data["code"]
    try:
        redemption = mall.mark_used(request.user, code)
    except ValidationError as error:
        # Said from the code's state now, in the same words as the check.
        redemption = merchant_redemption(request.user, code)
        problem = _problem(redemption) or " ".join(error.messages)
        if redemption is None:
            form.add_error("code", problem)
            return _render(request, form, status=404)
        return _render(request, form, found=_card(redemption), problem=problem, status=409)
    messages.success(request, _("Code %(code)s marked used: %(item)s ×%(n)d.") % {
        "code": redemption.code, "item": redemption.item.name, "n": redemption.quantity})
    return redirect("volunteers_public:merchant")

