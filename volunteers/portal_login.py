"""The light login of the residents' own pages: a phone number and a one-time code.

A code is 6 random digits, kept in Django's cache only as a keyed hash, for
VOLUNTEER_LOGIN_CODE_TTL seconds; it works once, and 5 wrong tries void it. Codes requested are
counted per phone and per address. Whether a number belongs to anyone is never revealed: an
unknown number gets a decoy code that is sent nowhere and behaves exactly like a real one.

Delivery goes through VOLUNTEER_SMS_BACKEND, a dotted path to a callable
`send(phone, code, ttl)` (phone as plain digits); the default prints the code on the console
(development). Codes live in the cache, so several server processes need a shared cache (Redis).
"""

import logging
import secrets
import sys
import time

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from party_org.models import PartyMember, Person
from party_org.pii import mask_phone

from .models import PointsAccount, Volunteer
from .services._common import digits

logger = logging.getLogger("volunteers.sms")

PREFIX = "volunteers:login:"
CODE_DIGITS = 6
MAX_TRIES = 5
MIN_PHONE_DIGITS = 7
DEFAULT_TTL = 600
DEFAULT_BACKEND = "volunteers.portal_login.console_sender"

# scope -> (setting holding "count/seconds" or (count, seconds), default); counted like
# grids.ratelimit, whose scopes are fixed there.
LIMITS = {
    "phone": ("VOLUNTEER_LOGIN_PHONE_RATE_LIMIT", (5, 3600)),
    "address": ("VOLUNTEER_LOGIN_ADDRESS_RATE_LIMIT", (20, 3600)),
    "verify": ("VOLUNTEER_LOGIN_VERIFY_RATE_LIMIT", (30, 600)),
}


class LoginError(Exception):
    """A refused request or sign-in; `message` is for the resident."""

    def __init__(self, message, code, retry_after=None):
        super().__init__(message)
        self.message, self.code, self.retry_after = message, code, retry_after


# ---- settings ----------------------------------------------------------------------------------


def code_ttl():
    try:
        ttl = int(getattr(settings, "VOLUNTEER_LOGIN_CODE_TTL", DEFAULT_TTL))
    except (TypeError, ValueError):
        return DEFAULT_TTL
    return ttl if ttl > 0 else DEFAULT_TTL


def limit_for(scope):
    name, default = LIMITS[scope]
    value = getattr(settings, name, None)
    try:
        if isinstance(value, (tuple, list)) and len(value) == 2:
            count, seconds = (int(part) for part in value)
        else:
            count, seconds = (int(part) for part in str(value).split("/"))
    except (TypeError, ValueError):
        return default
    return (count, seconds) if count > 0 and seconds > 0 else default


def sender():
    path = getattr(settings, "VOLUNTEER_SMS_BACKEND", None) or DEFAULT_BACKEND
    return import_string(path)


# ---- senders -----------------------------------------------------------------------------------


def code_message(phone, code):
    return f"Login code for {mask_phone(phone)}: {code}"


def console_sender(phone, code, ttl):
    """Development: the code is shown on the console running the server."""
    sys.stdout.write(code_message(phone, code) + "\n")
    sys.stdout.flush()


# What memory_sender sent, for tests: (phone, code, ttl).
outbox = []


def memory_sender(phone, code, ttl):
    outbox.append((phone, code, ttl))


# ---- counting ----------------------------------------------------------------------------------


def _key(*parts):
    return PREFIX + ":".join(str(part) for part in parts)


def _phone_id(phone_digits):
    # Cache keys carry no phone numbers.
    return salted_hmac("volunteers.portal_login.phone", phone_digits,
                       algorithm="sha256").hexdigest()[:32]


def _hit(scope, who):
    """Count one use of `scope` by `who`; False when over the limit (fixed window)."""
    count, seconds = limit_for(scope)
    window = int(time.time() // seconds)
    key = _key("rl", scope, who, window)
    if cache.add(key, 1, seconds + 1):
        return True
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, seconds + 1)
        used = 1
    return used <= count


def _retry_after(scope):
    _count, seconds = limit_for(scope)
    return max(1, seconds - int(time.time()) % seconds)


def _limited(scope):
    return LoginError(
        _("Too many codes were asked for. Please wait a while and try again.")
        if scope != "verify" else
        _("Too many sign-in attempts. Please wait a while and try again."),
        "rate_limited", retry_after=_retry_after(scope),
    )


# ---- who may sign in ---------------------------------------------------------------------------


def valid_phone(phone):
    return len(digits(phone)) >= MIN_PHONE_DIGITS


def person_for_phone(phone):
    """The Person who signs in with `phone`: a volunteer, a party member or a points holder whose
    number has the same digits. Several share it: volunteers and members first, then the oldest
    row."""
    wanted = digits(phone)
    if len(wanted) < MIN_PHONE_DIGITS:
        return None
    candidates = (
        Person.objects.filter(phone__contains=wanted[-4:])
        .annotate(
            is_volunteer=Exists(Volunteer.objects.filter(person_id=OuterRef("pk"))),
            is_member=Exists(PartyMember.objects.filter(person_id=OuterRef("pk"))),
            has_points=Exists(PointsAccount.objects.filter(person_id=OuterRef("pk"))),
        )
        .filter(Q(is_volunteer=True) | Q(is_member=True) | Q(has_points=True))
        .order_by("pk")
    )
    matches = [person for person in candidates if digits(person.phone) == wanted]
    matches.sort(key=lambda p: (not (p.is_volunteer or p.is_member), p.pk))
    return matches[0] if matches else None


# ---- codes -------------------------------------------------------------------------------------


def _digest(nonce, code):
    return salted_hmac("volunteers.portal_login.code", f"{nonce}:{code}",
                       algorithm="sha256").hexdigest()


def new_code():
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def request_code(phone, address):
    """Send a sign-in code to `phone` if it belongs to someone who may sign in.

    Raises LoginError("rate_limited") when the address or the number asked too often; otherwise
    returns None whether or not the number is known (the caller says the same either way).
    """
    wanted = digits(phone)
    if len(wanted) < MIN_PHONE_DIGITS:
        raise LoginError(_("Enter a valid phone number."), "invalid")
    if not _hit("address", (address or "unknown")[:64]):
        raise _limited("address")
    phone_id = _phone_id(wanted)
    if not _hit("phone", phone_id):
        raise _limited("phone")
    person = person_for_phone(phone)
    ttl = code_ttl()
    code, nonce = new_code(), secrets.token_hex(8)
    # A new code replaces the last one; an unknown number gets the same entry, never sent.
    cache.set(_key("code", phone_id), {
        "nonce": nonce, "digest": _digest(nonce, code),
        "person": person.pk if person is not None else None,
        # Checked as well as the cache's own expiry, which some backends keep only roughly.
        "expires": time.time() + ttl,
    }, ttl)
    cache.set(_key("live", nonce), 1, ttl)
    if person is not None:
        try:
            sender()(wanted, code, ttl)
        except Exception:  # a failing gateway must not tell the caller the number is known
            logger.exception("Sending a login code to %s failed", mask_phone(phone))


def _void(phone_id, nonce):
    cache.delete(_key("live", nonce))
    cache.delete(_key("tries", nonce))
    entry = cache.get(_key("code", phone_id))
    if entry is not None and entry.get("nonce") == nonce:
        cache.delete(_key("code", phone_id))


def verify_code(phone, code, address=None):
    """The Person signing in with this phone and code; raises LoginError otherwise.

    A code works once; the MAX_TRIES-th wrong code voids it."""
    if address is not None and not _hit("verify", address[:64]):
        raise _limited("verify")
    wanted = digits(phone)
    code = "".join((code or "").split())
    if len(wanted) < MIN_PHONE_DIGITS:
        raise LoginError(_("Enter a valid phone number."), "invalid")
    if not (code.isascii() and code.isdigit() and len(code) == CODE_DIGITS):
        raise LoginError(_("Enter the 6-digit code."), "invalid")
    phone_id = _phone_id(wanted)
    entry = cache.get(_key("code", phone_id))
    expired = LoginError(_("This code has expired or has been used. Ask for a new one."),
                         "expired")
    if (not entry or time.time() >= entry.get("expires", 0)
            or cache.get(_key("live", entry["nonce"])) is None):
        raise expired
    nonce = entry["nonce"]
    if not constant_time_compare(entry["digest"], _digest(nonce, code)) or entry["person"] is None:
        tries_key = _key("tries", nonce)
        cache.add(tries_key, 0, code_ttl())
        try:
            tries = cache.incr(tries_key)
        except ValueError:
            tries = MAX_TRIES
        if tries >= MAX_TRIES:
            _void(phone_id, nonce)
            raise LoginError(_("Too many wrong codes: this code no longer works. Ask for a new "
                               "one."), "void")
        raise LoginError(
            _("The code is not right. %(left)d tries left.") % {"left": MAX_TRIES - tries},
            "wrong",
        )
    # Single use: of two requests racing with the right code, only one deletes the key.
    if not cache.delete(_key("live", nonce)):
        raise expired
    _void(phone_id, nonce)
    person = Person.objects.filter(pk=entry["person"]).first()
    if person is None:
        raise expired
    return person
