"""Reusable reads of volunteers: scoping, the public wish wall, the ledger's checks, honours."""

import datetime as dt
from decimal import Decimal

from django.db.models import DecimalField, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from party_org.models import Person
from party_org.selectors import Subtree, scoped

from .models import (
    Activity,
    Honor,
    MicroWish,
    PointsAccount,
    PointsEntry,
    PointsKind,
    Redemption,
    ServiceHours,
    WishStatus,
)
from .services._common import setting
from .services.ledger import lifetime_q, star_level

POINTS = DecimalField(max_digits=14, decimal_places=2)
ZERO = Value(Decimal("0"), output_field=POINTS)

# What the public wish wall shows: never the phone, the contact name or the tracking code.
WALL_FIELDS = ("pk", "compound_id", "compound__name", "building__number", "category", "wish",
               "submitted_at", "dispatched_at")


# ---- wishes ------------------------------------------------------------------------------------


def wishes_visible_to(user, queryset=None):
    return scoped(user, MicroWish.objects.all() if queryset is None else queryset)


def wish_wall(compound=None, category=None, org_unit=None):
    """Open wishes anyone eligible may claim, as dicts of WALL_FIELDS, newest first."""
    qs = MicroWish.objects.filter(status=WishStatus.DISPATCHED, dispatched_to_member__isnull=True)
    if compound is not None:
        qs = qs.filter(compound=compound)
    if org_unit is not None:
        qs = qs.filter(Subtree.of(org_unit).q("org_unit"))
    if category:
        qs = qs.filter(category=category)
    return qs.order_by("-dispatched_at", "-pk").values(*WALL_FIELDS)


def wish_by_code(code):
    code = (code or "").strip().upper().replace(" ", "").replace("-", "")
    if not code:
        return None
    return (
        MicroWish.objects.select_related("compound", "building", "claimed_by")
        .filter(tracking_code=code).first()
    )


def unclaimed_wishes(user=None, now=None, days=None):
    """Wishes waiting for a taker longer than VOLUNTEER_WISH_UNCLAIMED_DAYS (flagged for staff):
    not yet dispatched, or dispatched (or back on the wall) and not claimed since."""
    now = now or timezone.now()
    days = int(setting("VOLUNTEER_WISH_UNCLAIMED_DAYS", 3) if days is None else days)
    qs = MicroWish.objects.filter(
        status__in=[WishStatus.SUBMITTED, WishStatus.DISPATCHED],
        status_changed_at__lt=now - dt.timedelta(days=days),
    ).order_by("status_changed_at", "pk")
    return qs if user is None else wishes_visible_to(user, qs)


# The name the issue gives the staff flag.
flag_unclaimed = unclaimed_wishes


def wishes_for_person(person):
    """A member's or volunteer's own wishes: sent to them by name, or claimed by them."""
    return MicroWish.objects.filter(
        Q(claimed_by_id=person.pk)
        | Q(dispatched_to_member__person_id=person.pk, status=WishStatus.DISPATCHED)
    ).order_by("-status_changed_at", "-pk")


# ---- the ledger --------------------------------------------------------------------------------


def ledger_mismatches():
    """Accounts whose balance is not the sum of their entries: (pk, balance, sum), one query."""
    return list(
        PointsAccount.objects.annotate(total=Coalesce(Sum("entries__amount"), ZERO))
        .exclude(balance=F("total")).order_by("pk").values_list("pk", "balance", "total")
    )


def balances(person):
    """{kind: balance} for both kinds (0 where no account exists yet)."""
    found = dict(PointsAccount.objects.filter(person_id=person.pk).values_list("kind", "balance"))
    return {kind: found.get(kind, Decimal("0.00")) for kind in PointsKind.values}


def entries_for(person, kind=None):
    qs = PointsEntry.objects.filter(account__person_id=person.pk).select_related("account")
    return qs.filter(account__kind=kind) if kind else qs


def lifetime_points(person, kind):
    return PointsEntry.objects.filter(
        lifetime_q(), account__person_id=person.pk, account__kind=kind
    ).aggregate(total=Coalesce(Sum("amount"), ZERO))["total"]


def star_for(person, kind):
    return star_level(lifetime_points(person, kind))


def points_earned(person_ids, start, end, kind=None):
    """{person_id: {kind: points}} earned (net of reversed earnings) on dates start..end, for
    reports such as the employer feedback of in-service members. One grouped query."""
    tz = timezone.get_current_timezone()
    lo = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    qs = PointsEntry.objects.filter(
        lifetime_q(), account__person_id__in=list(person_ids), created_at__gte=lo,
        created_at__lt=hi,
    )
    if kind:
        qs = qs.filter(account__kind=kind)
    result = {}
    rows = qs.values("account__person_id", "account__kind").annotate(n=Sum("amount")).order_by()
    for row in rows:
        result.setdefault(row["account__person_id"], {})[row["account__kind"]] = row["n"]
    return result


# ---- honours -----------------------------------------------------------------------------------


def public_honours(compound, year=None):
    """Approved, publicised honours shown on a compound's public page: its own, and those its
    covering unit awarded without naming a compound."""
    qs = Honor.objects.filter(publicised=True, approved_at__isnull=False).filter(
        Q(compound=compound) | Q(compound__isnull=True, org_unit_id=compound.org_unit_id)
    )
    if year is not None:
        qs = qs.filter(year=year)
    return qs.select_related("person").order_by("-year", "title", "person__name")


def honour_candidates(org_unit, year, limit=20):
    """People registered in the subtree ranked by the points they earned in `year`, with their
    approved service hours that year: the starting list for the yearly selection."""
    tz = timezone.get_current_timezone()
    lo = dt.datetime(year, 1, 1, tzinfo=tz)
    hi = dt.datetime(year + 1, 1, 1, tzinfo=tz)
    points = (
        PointsEntry.objects.filter(lifetime_q(), account__person=OuterRef("pk"),
                                   created_at__gte=lo, created_at__lt=hi)
        .order_by().values("account__person").annotate(n=Sum("amount")).values("n")
    )
    hours = (
        ServiceHours.objects.filter(person=OuterRef("pk"), activity__ends_at__gte=lo,
                                    activity__ends_at__lt=hi)
        .order_by().values("person").annotate(n=Sum("hours")).values("n")
    )
    return (
        Person.objects.filter(Subtree.of(org_unit).q("org_unit"))
        .annotate(points=Coalesce(Subquery(points, output_field=POINTS), ZERO),
                  hours=Coalesce(Subquery(hours, output_field=POINTS), ZERO))
        .filter(Q(points__gt=0) | Q(hours__gt=0))
        .order_by("-points", "-hours", "pk")[:limit]
    )


# ---- activities and the mall -------------------------------------------------------------------


def upcoming_activities(org_unit=None, now=None):
    now = now or timezone.now()
    qs = Activity.objects.filter(ends_at__gt=now).select_related("org_unit", "team")
    if org_unit is not None:
        qs = qs.filter(Subtree.of(org_unit).q("org_unit"))
    return qs.order_by("starts_at", "pk")


def redemptions_for_merchant_user(user):
    """The redemptions of the merchants this login works for (the merchant's own page)."""
    if user is None or not user.is_authenticated:
        return Redemption.objects.none()
    return (
        Redemption.objects.filter(item__merchant__users=user)
        .select_related("item").order_by("-created_at", "-pk")
    )


def merchants_of(user):
    """The active merchants whose codes this login may mark used (the merchant's page gate)."""
    from .models import Merchant

    if user is None or not user.is_authenticated:
        return Merchant.objects.none()
    return Merchant.objects.filter(users=user, is_active=True).order_by("name")


def merchant_redemption(user, code):
    """The redemption with `code` among this merchant login's own; None for an unknown code and
    for another merchant's alike, so the page reveals nothing of other merchants."""
    if user is None or not user.is_authenticated or not code:
        return None
    return (
        Redemption.objects.filter(code=code, item__merchant__users=user)
        .select_related("item__merchant", "person").first()
    )
