"""Figures over grid events, patrols and household visits (see party_org.statistics).

Events reported in the period by status, category and source; 办结率 (closure rate), the on-time
rate and 小事不出网格 (closed without escalation); the median handling time; overdue events now;
and 12345 hotline events against the same period a year before. Events linked as duplicates are
left out of every count. Two queries for the events whatever the subtree (one conditional
aggregate, one for the median) and two for patrols and visits.
"""

from django.db import connection
from django.db.models import Aggregate, Count, F, FloatField, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from party_org.statistics import Figure, Period, Rate, register

from ..models import (
    OPEN_STATUSES,
    EventSource,
    EventStatus,
    GridEvent,
    HouseholdVisit,
    PatrolCheckin,
)

EVENTS = _("events")

# The categories of issue 4 (created by migration 0003); categories added later by staff are
# counted together, so the category figures still add up to the events reported.
STANDARD_CATEGORIES = {
    "environment": _("Environment and sanitation events"),
    "safety_hazard": _("Safety hazard events"),
    "property_dispute": _("Property dispute events"),
    "neighbour_dispute": _("Neighbour dispute events"),
    "facility_repair": _("Facility repair events"),
    "public_order": _("Public order events"),
    "other": _("Other events"),
}

STATUS_LABELS = {
    EventStatus.REPORTED: _("Events reported in the period, still awaiting filing"),
    EventStatus.FILED: _("Events reported in the period, filed and awaiting assignment"),
    EventStatus.ASSIGNED: _("Events reported in the period, assigned"),
    EventStatus.IN_PROGRESS: _("Events reported in the period, in progress"),
    EventStatus.FEEDBACK: _("Events reported in the period, result reported"),
    EventStatus.CLOSED: _("Events reported in the period, closed"),
}

SOURCE_LABELS = {
    EventSource.PATROL: _("Events from grid worker patrols"),
    EventSource.RESIDENT: _("Events reported by residents"),
    EventSource.HOTLINE: _("Events from the 12345 hotline"),
    EventSource.VISIT: _("Events from household visits"),
    EventSource.PARTY_MEMBER: _("Events reported by party members"),
    EventSource.OTHER: _("Events from other sources"),
}


class Median(Aggregate):
    """PostgreSQL's percentile_cont(0.5): the median, interpolated between the two middle rows
    when their number is even. FILTER (WHERE …) works with ordered-set aggregates too."""

    function = "percentile_cont"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def year_before(day):
    """The same date one year earlier; 29 February becomes 28 February."""
    if day is None:
        return None
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def shifted_year_back(period):
    return Period(year_before(period.start), year_before(period.end))


def within(field, period):
    """Timestamps in `field` inside the period (local dates, so the bounds are aware)."""
    q = Q(**{f"{field}__lt": period.end_datetime})
    if period.start is not None:
        q &= Q(**{f"{field}__gte": period.start_datetime})
    return q


def median_seconds(queryset, count):
    """The median of `handling_seconds` over `queryset` (`count` rows have one), in one query:
    percentile_cont on PostgreSQL; elsewhere the one or two middle rows, ordered in SQL."""
    if connection.vendor == "postgresql":
        return queryset.aggregate(m=Median("handling_seconds"))["m"]
    offset = max(0, (count - 1) // 2)
    size = 2 if count and count % 2 == 0 else 1
    middle = list(
        queryset.filter(handling_seconds__isnull=False).order_by("handling_seconds")
        .values_list("handling_seconds", flat=True)[offset:offset + size]
    )
    return sum(middle) / len(middle) if middle else None


@register(
    Figure("events.reported", _("Events reported in the period"), EVENTS,
           _("Events linked as duplicates of another are not counted.")),
    *(Figure(f"events.status.{status.value}", label, EVENTS)
      for status, label in STATUS_LABELS.items()),
    *(Figure(f"events.category.{code}", label, EVENTS)
      for code, label in STANDARD_CATEGORIES.items()),
    Figure("events.category.added", _("Events in categories added locally"), EVENTS),
    *(Figure(f"events.source.{source.value}", label, EVENTS)
      for source, label in SOURCE_LABELS.items()),
    Figure(
        "events.closure_rate", _("Closure rate"), "%",
        _("Share of the events reported in the period that are closed (办结率)."),
    ),
    Figure("events.closed", _("Events closed in the period"), EVENTS),
    Figure(
        "events.on_time_rate", _("Closed on time"), "%",
        _("Share of the events closed in the period that closed by their deadline."),
    ),
    Figure(
        "events.resolved_in_grid", _("Resolved without escalation"), "%",
        _("Share of the events closed in the period that were never escalated beyond the grid "
          "(小事不出网格)."),
    ),
    Figure(
        "events.median_handling_hours", _("Median handling time"), _("hours"),
        _("From report to closing, over the events closed in the period."),
    ),
    Figure("events.overdue", _("Open events overdue now"), EVENTS,
           _("Open events past the deadline of their current step, at the time of asking.")),
    Figure("events.hotline.count", _("12345 hotline events in the period"), EVENTS),
    Figure("events.hotline.year_before",
           _("12345 hotline events in the same period a year before"), EVENTS),
    Figure(
        "events.hotline.change", _("Change in 12345 hotline events on a year before"), "%",
        _("Negative when there are fewer hotline complaints than in the same period a year "
          "before."),
    ),
)
def event_figures(subtree, period):
    now = timezone.now()
    before = shifted_year_back(period)
    reported = within("reported_at", period)
    closed = Q(status=EventStatus.CLOSED) & within("closed_at", period)
    hotline_before = Q(source=EventSource.HOTLINE) & within("reported_at", before)
    overdue = Q(status__in=OPEN_STATUSES, due_at__lt=now)
    events = GridEvent.objects.filter(subtree.q("org_unit"), duplicate_of__isnull=True)
    # One pass over the subtree's events: only rows in one of the windows are read.
    counts = events.filter(reported | closed | hotline_before | overdue).aggregate(
        reported=Count("pk", filter=reported),
        **{f"status_{s.value}": Count("pk", filter=reported & Q(status=s)) for s in EventStatus},
        **{f"source_{s.value}": Count("pk", filter=reported & Q(source=s)) for s in EventSource},
        **{f"category_{code}": Count("pk", filter=reported & Q(category__code=code))
           for code in STANDARD_CATEGORIES},
        closed=Count("pk", filter=closed),
        closed_timed=Count("handling_seconds", filter=closed),
        on_time=Count("pk", filter=closed & Q(closed_at__lte=F("final_due_at"))),
        in_grid=Count("pk", filter=closed & Q(was_escalated=False)),
        overdue=Count("pk", filter=overdue),
        hotline_before=Count("pk", filter=hotline_before),
    )
    median = median_seconds(events.filter(closed), counts["closed_timed"])

    values = {"events.reported": counts["reported"]}
    values.update({f"events.status.{s.value}": counts[f"status_{s.value}"] for s in EventStatus})
    values.update(
        {f"events.category.{code}": counts[f"category_{code}"] for code in STANDARD_CATEGORIES}
    )
    values["events.category.added"] = counts["reported"] - sum(
        counts[f"category_{code}"] for code in STANDARD_CATEGORIES
    )
    values.update({f"events.source.{s.value}": counts[f"source_{s.value}"] for s in EventSource})
    hotline = counts[f"source_{EventSource.HOTLINE.value}"]
    values.update({
        "events.closure_rate": Rate(counts[f"status_{EventStatus.CLOSED.value}"],
                                    counts["reported"]),
        "events.closed": counts["closed"],
        "events.on_time_rate": Rate(counts["on_time"], counts["closed"]),
        "events.resolved_in_grid": Rate(counts["in_grid"], counts["closed"]),
        "events.median_handling_hours": (
            round(median / 3600, 2) if median is not None else None
        ),
        "events.overdue": counts["overdue"],
        "events.hotline.count": hotline,
        "events.hotline.year_before": counts["hotline_before"],
        "events.hotline.change": Rate(hotline - counts["hotline_before"],
                                      counts["hotline_before"]),
    })
    return values


@register(
    Figure("patrols.checkins", _("Patrol check-ins in the period"), _("check-ins")),
    Figure("patrols.household_visits", _("Household visits in the period"), _("visits")),
)
def patrol_figures(subtree, period):
    checkins = PatrolCheckin.objects.filter(
        subtree.q("point__compound__org_unit"), within("at", period)
    ).count()
    visited = Q(visited_on__lte=period.end)
    if period.start is not None:
        visited &= Q(visited_on__gte=period.start)
    visits = HouseholdVisit.objects.filter(
        subtree.q("household__compound__org_unit"), visited
    ).count()
    return {"patrols.checkins": checkins, "patrols.household_visits": visits}
