"""Property figures for the statistics layer (see party_org.statistics): property service coverage
(物业服务覆盖率) and how compounds without a company of their own are covered (四个一批), subsidies
ending and granted, committee coverage (业委会/物管会覆盖率), cross-appointments and 一肩挑, service
evaluation scores, and deliberations by step.

"Current" means running on the last day of the period. An active compound with no service
period running then counts as `none`. Five queries whatever the subtree.
"""

import datetime as dt

from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum
from django.utils.translation import gettext_lazy as _

from grids.models import Compound
from party_org.statistics import Figure, Rate, register

from .models import (
    WITHOUT_COMPANY,
    Committee,
    CommitteeKind,
    Deliberation,
    DeliberationLog,
    DeliberationStatus,
    EvaluationCode,
    ServiceMode,
    ServicePeriod,
    SubsidyGrant,
)
from .selectors import (
    cross_appointed_exists,
    held_on,
    mean_score,
    one_shoulder_exists,
    sitting_on,
)

COMPOUNDS = _("compounds")
DELIBERATIONS = _("deliberations")
SUBSIDY_ENDING_DAYS = 60

MODE_LABELS = {
    ServiceMode.MARKET: _("Compounds served by a property company"),
    ServiceMode.RED_PROPERTY: _("Compounds covered by red property help (红色物业帮建)"),
    ServiceMode.UNIT_ASSISTED: _("Compounds covered with a resident unit's help (驻地单位协建)"),
    ServiceMode.SUBSIDISED: _("Compounds in a subsidised transition (财政补贴过渡)"),
    ServiceMode.COMMUNITY_FALLBACK: _("Compounds covered by the community (社区兜底)"),
    ServiceMode.SELF_MANAGED: _("Self-managed compounds"),
    ServiceMode.NONE: _("Compounds with no property service"),
}

STATUS_LABELS = {
    DeliberationStatus.PROPOSED: _("Deliberations proposed, awaiting discussion"),
    DeliberationStatus.DISCUSSING: _("Deliberations discussed, awaiting a decision"),
    DeliberationStatus.DECIDED: _("Deliberations decided, awaiting public notice"),
    DeliberationStatus.PUBLICISED: _("Deliberations publicised, awaiting review"),
    DeliberationStatus.REVIEWED: _("Deliberations reviewed by residents"),
}


@register(
    Figure(
        "property.coverage", _("Property service coverage"), "%",
        _("Share of active compounds with property service in any form at the end of the "
          "period (物业服务覆盖率)."),
    ),
    Figure(
        "property.without_company", _("Compounds without a property company of their own"),
        COMPOUNDS,
        _("Covered by one of the four ways, self-managed, or with no service at all."),
    ),
    *(Figure(f"property.without_company.{mode.value}", MODE_LABELS[mode], COMPOUNDS)
      for mode in WITHOUT_COMPANY),
    Figure("property.market", MODE_LABELS[ServiceMode.MARKET], COMPOUNDS),
    Figure(
        "property.subsidy_ending", _("Subsidised transitions ending within 60 days"), COMPOUNDS,
        _("Compounds still in a subsidised transition whose subsidy ends within 60 days of the "
          "end of the period, or has already ended."),
    ),
    Figure(
        "property.committee_coverage", _("Owners' and property committee coverage"), "%",
        _("Share of active compounds with a sitting owners' or property management committee "
          "(业委会/物管会覆盖率)."),
    ),
    Figure("property.committee_coverage.owners", _("Owners' committee coverage"), "%"),
    Figure("property.committee_coverage.property", _("Property management committee coverage"),
           "%"),
    Figure(
        "property.cross_appointed", _("Compounds with cross-appointments"), COMPOUNDS,
        _("At least one person holds a seat on the party committee of the compound's branch or "
          "community and sits on its committee or works for its company (双向进入、交叉任职)."),
    ),
    Figure(
        "property.one_shoulder", _("Compounds where the secretary chairs the committee"),
        COMPOUNDS, _("The branch's secretary is also the committee chair (一肩挑)."),
    ),
    Figure(
        "property.evaluation_score", _("Mean property service score"), _("points (1–5)"),
        _("Mean of the residents' scores in the service evaluations that closed in the period."),
    ),
    Figure(
        "property.evaluation_response_rate", _("Service evaluation response rate"), "%",
        _("Households that answered, of the codes issued, in evaluations that closed in the "
          "period."),
    ),
    *(Figure(f"property.deliberations.{status.value}", label, DELIBERATIONS)
      for status, label in STATUS_LABELS.items()),
    Figure("property.deliberations.proposed_in_period", _("Deliberations proposed in the period"),
           DELIBERATIONS),
    Figure(
        "property.subsidies_granted", _("Transition subsidies granted"), _("yuan"),
        _("Sum of the monthly subsidies for the months that begin in the period."),
    ),
)
def property_figures(subtree, period):
    end = period.end
    compounds = Compound.objects.filter(subtree.q("org_unit"), is_active=True)

    # 1. Compounds: committees, cross-appointments, 一肩挑 (Exists filters, one aggregate).
    def has_committee(kind=None):
        qs = Committee.objects.filter(sitting_on(end), compound=OuterRef("pk"))
        return Exists(qs if kind is None else qs.filter(kind=kind))

    totals = compounds.aggregate(
        total=Count("pk"),
        committee=Count("pk", filter=has_committee()),
        owners=Count("pk", filter=has_committee(CommitteeKind.OWNERS)),
        property=Count("pk", filter=has_committee(CommitteeKind.PROPERTY)),
        cross=Count("pk", filter=cross_appointed_exists(end)),
        one_shoulder=Count("pk", filter=one_shoulder_exists(end)),
    )

    # 2. Service running at the end of the period, by mode (one grouped query).
    modes = {mode.value: 0 for mode in ServiceMode}
    ending = 0
    for row in (
        ServicePeriod.objects.filter(
            held_on(end), subtree.q("compound__org_unit"), compound__is_active=True
        )
        .order_by().values("mode")
        .annotate(
            n=Count("pk"),
            ending=Count("pk", filter=Q(
                subsidy_ends_on__lte=end + dt.timedelta(days=SUBSIDY_ENDING_DAYS))),
        )
    ):
        modes[row["mode"]] = row["n"]
        if row["mode"] == ServiceMode.SUBSIDISED:
            ending = row["ending"]
    modes[ServiceMode.NONE] += totals["total"] - sum(modes.values())
    covered = totals["total"] - modes[ServiceMode.NONE]

    # 3. Evaluations that closed in the period.
    closing = Q(evaluation__closes_on__lte=end)
    if period.start is not None:
        closing &= Q(evaluation__closes_on__gte=period.start)
    evaluations = EvaluationCode.objects.filter(
        closing, subtree.q("evaluation__compound__org_unit")
    ).aggregate(codes=Count("pk"), responses=Count("response"), mean=mean_score("response__"))

    # 4. Deliberations: the status each had at the end of the period (its last step by then).
    end_at = period.end_datetime
    status_then = Subquery(
        DeliberationLog.objects.filter(deliberation=OuterRef("pk"), at__lt=end_at)
        .order_by("-at", "-pk").values("to_status")[:1]
    )
    deliberations = Deliberation.objects.filter(subtree.q("org_unit"), proposed_at__lt=end_at)
    by_status = {status.value: 0 for status in DeliberationStatus}
    proposed_in_period = 0
    in_period = (
        Q(proposed_at__gte=period.start_datetime) if period.start else Q(pk__isnull=False)
    )
    for row in (
        deliberations.annotate(status_then=status_then).order_by()
        .values("status_then").annotate(n=Count("pk"), new=Count("pk", filter=in_period))
    ):
        if row["status_then"] in by_status:
            by_status[row["status_then"]] += row["n"]
        proposed_in_period += row["new"]

    # 5. Subsidies for the months that begin in the period.
    months = Q(month__lte=end)
    if period.start is not None:
        months &= Q(month__gte=period.start)
    granted = SubsidyGrant.objects.filter(
        months, subtree.q("period__compound__org_unit")
    ).aggregate(total=Sum("amount"))["total"]

    values = {
        "property.coverage": Rate(covered, totals["total"]),
        "property.without_company": sum(modes[mode] for mode in WITHOUT_COMPANY),
        "property.market": modes[ServiceMode.MARKET],
        "property.subsidy_ending": ending,
        "property.committee_coverage": Rate(totals["committee"], totals["total"]),
        "property.committee_coverage.owners": Rate(totals["owners"], totals["total"]),
        "property.committee_coverage.property": Rate(totals["property"], totals["total"]),
        "property.cross_appointed": totals["cross"],
        "property.one_shoulder": totals["one_shoulder"],
        "property.evaluation_score": (
            None if evaluations["mean"] is None else round(float(evaluations["mean"]), 2)
        ),
        "property.evaluation_response_rate": Rate(evaluations["responses"], evaluations["codes"]),
        "property.deliberations.proposed_in_period": proposed_in_period,
        "property.subsidies_granted": float(granted or 0),
    }
    values.update({f"property.without_company.{mode}": modes[mode] for mode in WITHOUT_COMPANY})
    values.update({f"property.deliberations.{s}": n for s, n in by_status.items()})
    return values
