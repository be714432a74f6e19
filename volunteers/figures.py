"""Figures over micro-wishes, volunteers, service hours, the points ledger and the mall (see
party_org.statistics).

Wishes submitted in the period by status and their fulfilment rate; the median time from
submission to claim and to fulfilment over the wishes claimed / fulfilled in the period; the mean
rating given in the period; volunteers registered (and verified) by the end of the period and
those active in it (approved service hours or a wish fulfilled); approved service hours; points
earned and spent in the period by kind; redemptions issued, used and cancelled. Seven queries
whatever the subtree: three for wishes (one conditional aggregate, two medians), one each for
volunteers, hours, points and redemptions.
"""

from decimal import Decimal

from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Sum,
)
from django.utils.translation import gettext_lazy as _

from grids.figures.events import within
from party_org.statistics import Figure, Rate, register

from .models import (
    EARN_REASONS,
    EntryReason,
    MicroWish,
    PointsEntry,
    PointsKind,
    Redemption,
    ServiceHours,
    Volunteer,
    WishStatus,
)

WISHES = _("wishes")
VOLUNTEERS = _("volunteers")
POINTS = _("points")
REDEMPTIONS = _("redemptions")

STATUS_LABELS = {
    WishStatus.SUBMITTED: _("Wishes submitted in the period, awaiting dispatch"),
    WishStatus.DISPATCHED: _("Wishes submitted in the period, dispatched and unclaimed"),
    WishStatus.CLAIMED: _("Wishes submitted in the period, claimed"),
    WishStatus.FULFILLED: _("Wishes submitted in the period, fulfilled and awaiting a rating"),
    WishStatus.RATED: _("Wishes submitted in the period, rated"),
    WishStatus.REJECTED: _("Wishes submitted in the period, rejected"),
    WishStatus.WITHDRAWN: _("Wishes submitted in the period, withdrawn"),
}
DONE = (WishStatus.FULFILLED, WishStatus.RATED)
DROPPED = (WishStatus.REJECTED, WishStatus.WITHDRAWN)


class DurationMedian(Aggregate):
    """PostgreSQL's percentile_cont(0.5) over an interval (it interpolates intervals too)."""

    function = "percentile_cont"
    name = "DurationMedian"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


def median_hours(queryset, start_field, end_field, count):
    """The median of end − start over `queryset` (`count` rows), in hours, in one query (run
    even for no rows, so the number of queries never depends on the data)."""
    span = ExpressionWrapper(F(end_field) - F(start_field), output_field=DurationField())
    if connection.vendor == "postgresql":
        median = queryset.aggregate(m=DurationMedian(span))["m"]
    else:
        offset = max(0, (count - 1) // 2)
        size = 2 if count and count % 2 == 0 else 1
        middle = list(
            queryset.annotate(span=span).order_by("span", "pk")
            .values_list("span", flat=True)[offset:offset + size]
        )
        median = sum(middle, start=type(middle[0])()) / len(middle) if middle else None
    return round(median.total_seconds() / 3600, 2) if median is not None else None


@register(
    Figure("wishes.submitted", _("Micro-wishes submitted in the period"), WISHES),
    *(Figure(f"wishes.status.{status.value}", label, WISHES)
      for status, label in STATUS_LABELS.items()),
    Figure(
        "wishes.fulfilment_rate", _("Wish fulfilment rate"), "%",
        _("Share of the wishes submitted in the period that have been fulfilled; rejected and "
          "withdrawn wishes are left out."),
    ),
    Figure("wishes.claimed", _("Wishes claimed in the period"), WISHES),
    Figure("wishes.fulfilled", _("Wishes fulfilled in the period"), WISHES),
    Figure(
        "wishes.median_hours_to_claim", _("Median time to claim a wish"), _("hours"),
        _("From submission to claim, over the wishes claimed in the period and not released."),
    ),
    Figure(
        "wishes.median_hours_to_fulfil", _("Median time to fulfil a wish"), _("hours"),
        _("From submission to fulfilment, over the wishes fulfilled in the period."),
    ),
    Figure("wishes.rated", _("Wishes rated in the period"), WISHES),
    Figure("wishes.mean_rating", _("Mean rating of wishes"), _("out of 5"),
           _("Over the ratings residents gave in the period.")),
)
def wish_figures(subtree, period):
    submitted = within("submitted_at", period)
    claimed = Q(claimed_at__isnull=False) & within("claimed_at", period)
    fulfilled = Q(fulfilled_at__isnull=False) & within("fulfilled_at", period)
    rated = Q(rating__isnull=False) & within("rated_at", period)
    wishes = MicroWish.objects.filter(subtree.q("org_unit"))
    counts = wishes.filter(submitted | claimed | fulfilled | rated).aggregate(
        submitted=Count("pk", filter=submitted),
        **{f"status_{s.value}": Count("pk", filter=submitted & Q(status=s)) for s in WishStatus},
        claimed=Count("pk", filter=claimed),
        fulfilled=Count("pk", filter=fulfilled),
        rated=Count("pk", filter=rated),
        mean_rating=Avg("rating", filter=rated),
    )
    done = sum(counts[f"status_{s.value}"] for s in DONE)
    dropped = sum(counts[f"status_{s.value}"] for s in DROPPED)
    values = {"wishes.submitted": counts["submitted"]}
    values.update({f"wishes.status.{s.value}": counts[f"status_{s.value}"] for s in WishStatus})
    mean = counts["mean_rating"]
    values.update({
        "wishes.fulfilment_rate": Rate(done, counts["submitted"] - dropped),
        "wishes.claimed": counts["claimed"],
        "wishes.fulfilled": counts["fulfilled"],
        "wishes.median_hours_to_claim": median_hours(
            wishes.filter(claimed), "submitted_at", "claimed_at", counts["claimed"]
        ),
        "wishes.median_hours_to_fulfil": median_hours(
            wishes.filter(fulfilled), "submitted_at", "fulfilled_at", counts["fulfilled"]
        ),
        "wishes.rated": counts["rated"],
        "wishes.mean_rating": round(float(mean), 2) if mean is not None else None,
    })
    return values


@register(
    Figure("volunteers.registered", _("Volunteers registered"), VOLUNTEERS,
           _("Active volunteers registered by the end of the period.")),
    Figure("volunteers.verified", _("Verified volunteers"), VOLUNTEERS,
           _("Of the volunteers registered, those verified by the end of the period.")),
    Figure("volunteers.active", _("Volunteers active in the period"), VOLUNTEERS,
           _("With service hours approved or a micro-wish fulfilled in the period.")),
)
def volunteer_figures(subtree, period):
    registered = Q(is_active=True, registered_at__lt=period.end_datetime)
    verified = registered & Q(verified=True, verified_at__lt=period.end_datetime)
    served = Exists(ServiceHours.objects.filter(
        within("approved_at", period), person_id=OuterRef("person_id")
    ))
    helped = Exists(MicroWish.objects.filter(
        within("fulfilled_at", period), claimed_by_id=OuterRef("person_id"),
        fulfilled_at__isnull=False,
    ))
    counts = Volunteer.objects.filter(subtree.q("org_unit"), registered).aggregate(
        registered=Count("pk"),
        verified=Count("pk", filter=verified),
        active=Count("pk", filter=Q(served) | Q(helped)),
    )
    return {
        "volunteers.registered": counts["registered"],
        "volunteers.verified": counts["verified"],
        "volunteers.active": counts["active"],
    }


@register(
    Figure("service_hours.approved", _("Service hours approved in the period"), _("hours")),
    Figure("service_hours.people", _("People with service hours approved in the period"),
           _("people")),
)
def service_hour_figures(subtree, period):
    totals = ServiceHours.objects.filter(
        subtree.q("activity__org_unit"), within("approved_at", period)
    ).aggregate(hours=Sum("hours"), people=Count("person", distinct=True))
    return {
        "service_hours.approved": float(totals["hours"] or 0),
        "service_hours.people": totals["people"],
    }


KIND_NAMES = {
    PointsKind.COMMUNITY: (_("Community points (公分) earned in the period"),
                           _("Community points (公分) spent in the mall in the period")),
    PointsKind.MEMBER: (_("Party member points earned in the period"),
                        _("Party member points spent in the mall in the period")),
}


@register(
    *(figure for kind, (earned, spent) in KIND_NAMES.items() for figure in (
        Figure(f"points.earned.{kind.value}", earned, POINTS,
               _("For service hours, rated wishes and post duties.")),
        Figure(f"points.spent.{kind.value}", spent, POINTS,
               _("Redemptions in the period, before any cancellation returned them.")),
    )),
)
def points_figures(subtree, period):
    entries = PointsEntry.objects.filter(
        subtree.q("account__person__org_unit"), within("created_at", period)
    )
    sums = entries.aggregate(**{
        f"{what}_{kind.value}": Sum("amount", filter=Q(account__kind=kind) & reasons)
        for kind in PointsKind
        for what, reasons in (("earned", Q(reason__in=EARN_REASONS)),
                              ("spent", Q(reason=EntryReason.SPEND)))
    })
    values = {}
    for kind in PointsKind:
        values[f"points.earned.{kind.value}"] = float(sums[f"earned_{kind.value}"] or Decimal(0))
        values[f"points.spent.{kind.value}"] = float(-(sums[f"spent_{kind.value}"] or Decimal(0)))
    return values


@register(
    Figure("redemptions.issued", _("Mall redemptions in the period"), REDEMPTIONS),
    Figure("redemptions.used", _("Redemption codes used in the period"), REDEMPTIONS),
    Figure("redemptions.cancelled", _("Redemptions cancelled in the period"), REDEMPTIONS),
)
def redemption_figures(subtree, period):
    issued = within("created_at", period)
    used = Q(used_at__isnull=False) & within("used_at", period)
    cancelled = Q(cancelled_at__isnull=False) & within("cancelled_at", period)
    counts = Redemption.objects.filter(
        subtree.q("item__merchant__org_unit"), issued | used | cancelled
    ).aggregate(
        issued=Count("pk", filter=issued),
        used=Count("pk", filter=used),
        cancelled=Count("pk", filter=cancelled),
    )
    return {f"redemptions.{name}": counts[name] for name in ("issued", "used", "cancelled")}
