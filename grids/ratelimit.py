"""Per-address rate limits for the public pages, counted in Django's cache.

A fixed window per (scope, address): good enough to stop floods and tracking-code guessing,
and it works on any cache backend (Redis in production, local memory in the default setup).
"""

import time

from django.conf import settings
from django.core.cache import cache

# scope -> (setting holding "count/seconds", default)
LIMITS = {
    "report": ("GRID_REPORT_RATE_LIMIT", (5, 600)),
    "track": ("GRID_TRACK_RATE_LIMIT", (30, 60)),
    # The micro-wish pages count apart from the grid reports, so one cannot starve the other.
    "wish": ("VOLUNTEER_WISH_RATE_LIMIT", (5, 600)),
    "wish_track": ("VOLUNTEER_WISH_TRACK_RATE_LIMIT", (30, 60)),
    # Merchants: code look-ups are counted per login, sign-in attempts per address.
    "merchant_code": ("VOLUNTEER_MERCHANT_CODE_RATE_LIMIT", (60, 600)),
    "merchant_login": ("VOLUNTEER_MERCHANT_LOGIN_RATE_LIMIT", (10, 600)),
}


def limit_for(scope):
    """(count, seconds) for `scope`; a malformed setting falls back to the default."""
    name, default = LIMITS[scope]
    value = getattr(settings, name, None)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        count, seconds = value
    else:
        try:
            count, seconds = (int(part) for part in str(value).split("/"))
        except (TypeError, ValueError):
            return default
    count, seconds = int(count), int(seconds)
    return (count, seconds) if count > 0 and seconds > 0 else default


def client_address(request):
    """The client's address: REMOTE_ADDR, or X-Forwarded-For as written by trusted proxies.

    Each trusted proxy appends the address it received from, so the client is the
    TRUSTED_PROXY_COUNT-th entry from the right; anything further left may be forged.
    """
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if not hops:
        return remote
    return hops[-proxies] if len(hops) >= proxies else hops[0]


def hit(request, scope, *, who=None):
    """Count one request of `scope` from the client (or from `who`, e.g. a signed-in login, when
    given); False when it is over the limit."""
    count, seconds = limit_for(scope)
    window = int(time.time() // seconds)
    ident = str(who) if who is not None else client_address(request)
    key = f"grids:rl:{scope}:{ident[:64]}:{window}"
    if cache.add(key, 1, seconds + 1):
        return count >= 1
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, seconds + 1)
        used = 1
    return used <= count


def retry_after(scope):
    """Seconds until the current window ends (for the Retry-After header)."""
    _count, seconds = limit_for(scope)
    return max(1, seconds - int(time.time()) % seconds)
