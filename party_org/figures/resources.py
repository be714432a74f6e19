"""Figures of party_org: stations, the 五有 indicator, committees, branch funds and co-building."""

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils.translation import gettext_lazy as _

from ..models import CoBuildingAgreement, ListItem, ListKind, NeedMatch
from ..selectors_resources import (
    HAVE_LABELS,
    HAVES,
    five_haves_counts,
    fund_totals,
    stations_in,
    with_checklist_counts,
)
from ..statistics import Figure, Rate, register

YUAN = _("yuan")


@register(
    Figure("stations.count", _("Party–public service stations"), _("stations")),
    Figure("stations.area_m2", _("Total area of service stations"), _("m²")),
    Figure(
        "stations.meeting_standard", _("Service stations meeting their standard"), "%",
        _("Share of stations that meet every item of their standard's checklist."),
    ),
)
def station_figures(subtree, period):
    totals = with_checklist_counts(stations_in(subtree, as_of=period.end)).aggregate(
        count=Count("pk"), area=Sum("area_m2"), meeting=Count("pk", filter=Q(meets=True))
    )
    return {
        "stations.count": totals["count"],
        "stations.area_m2": float(totals["area"] or 0),
        "stations.meeting_standard": Rate(totals["meeting"], totals["count"]),
    }


@register(
    Figure(
        "five_haves.coverage", _("Branches meeting all of the five haves"), "%",
        _("五有: party organisation, venue, member ledger, contact mechanism and emergency plan, "
          "at the end of the period."),
    ),
    *(Figure(f"five_haves.{name}", _("Branches: %(have)s") % {"have": label}, "%")
      for name, label in HAVE_LABELS.items()),
    Figure(
        "committees.sitting_secretary", _("Active branches with a sitting secretary"), "%",
    ),
)
def five_haves_figures(subtree, period):
    counts = five_haves_counts(subtree, period.end)
    values = {"five_haves.coverage": Rate(counts["all_five"], counts["branches"])}
    for name in HAVES:
        values[f"five_haves.{name}"] = Rate(counts[name], counts["branches"])
    # has_org: active with a sitting secretary.
    values["committees.sitting_secretary"] = Rate(counts["has_org"], counts["active"])
    return values


@register(
    Figure("funds.income", _("Branch fund income in the period"), YUAN),
    Figure("funds.spending", _("Branch fund spending in the period"), YUAN),
    Figure("funds.balance", _("Branch fund balance at the end of the period"), YUAN),
)
def fund_figures(subtree, period):
    totals = fund_totals(subtree, period)
    return {
        "funds.income": float(totals["income"]),
        "funds.spending": float(totals["spending"]),
        "funds.balance": float(totals["balance"]),
    }


@register(
    Figure("co_building.active_agreements", _("Active co-building agreements"), _("agreements")),
    Figure(
        "co_building.needs_matched", _("Needs raised in the period that were matched"), "%",
        _("Needs on the three lists raised in the period and matched to a resource by its end."),
    ),
)
def co_building_figures(subtree, period):
    agreements = CoBuildingAgreement.objects.filter(
        subtree.q("org_unit"), is_active=True, signed_on__lte=period.end
    ).count()
    needs = ListItem.objects.filter(
        subtree.q("org_unit"), kind=ListKind.NEED, created_at__lt=period.end_datetime
    )
    if period.start is not None:
        needs = needs.filter(created_at__gte=period.start_datetime)
    matched = NeedMatch.objects.filter(need=OuterRef("pk"), matched_at__lt=period.end_datetime)
    totals = needs.annotate(is_matched=Exists(matched)).aggregate(
        needs=Count("pk"), matched=Count("pk", filter=Q(is_matched=True))
    )
    return {
        "co_building.active_agreements": agreements,
        "co_building.needs_matched": Rate(totals["matched"], totals["needs"]),
    }
