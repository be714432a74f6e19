"""Figures over the organisation tree, for the statistics layer (see party_org.statistics)."""

from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from ..models import OrgKind, OrgUnit
from ..selectors import kind_counts
from ..statistics import Figure, Rate, register

UNIT = _("units")

KIND_LABELS = {
    OrgKind.CITY: _("City party committees"),
    OrgKind.DISTRICT: _("District party committees"),
    OrgKind.STREET: _("Street party working committees"),
    OrgKind.COMMUNITY: _("Community party committees"),
    OrgKind.BRANCH: _("Compound (grid) party branches"),
    OrgKind.BUILDING_GROUP: _("Building party groups"),
    OrgKind.HOUSEHOLD: _("Member central households"),
}


@register(
    *(Figure(f"org_units.{kind.value}", label, UNIT) for kind, label in KIND_LABELS.items()),
    Figure("org_units.general_branches", _("General branches with branches below"), UNIT),
    Figure("org_units.established_in_period", _("Units established in the period"), UNIT),
    Figure(
        "org_units.branch_group_coverage",
        _("Compound branches with building party groups"),
        "%",
        _("Share of compound branches that have at least one building party group below them."),
    ),
)
def org_unit_figures(subtree, period):
    counts = kind_counts(subtree, established_by=period.end)
    values = {f"org_units.{kind}": n for kind, n in counts.items()}
    in_subtree = OrgUnit.objects.filter(subtree.q(), is_active=True)
    parents = in_subtree.filter(
        Q(established_on__isnull=True) | Q(established_on__lte=period.end),
        parent__kind=OrgKind.BRANCH,
    ).aggregate(
        general=Count("parent", filter=Q(kind=OrgKind.BRANCH), distinct=True),
        with_groups=Count("parent", filter=Q(kind=OrgKind.BUILDING_GROUP), distinct=True),
    )
    values["org_units.general_branches"] = parents["general"]
    established = in_subtree.filter(established_on__lte=period.end)
    if period.start:
        established = established.filter(established_on__gte=period.start)
    values["org_units.established_in_period"] = established.count()
    values["org_units.branch_group_coverage"] = Rate(
        parents["with_groups"], counts[OrgKind.BRANCH.value]
    )
    return values
