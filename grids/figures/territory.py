"""Figures over the territory (see party_org.statistics): compounds by type, households and
population, household files with each care flag, and party organisation coverage of compounds.

Compounds and household files have no dates, so these are figures of the present state, for any
period. Two aggregate queries in all, whatever the size of the subtree.
"""

from django.db.models import Count, Q, Sum
from django.utils.translation import gettext_lazy as _

from party_org.models import OrgKind
from party_org.statistics import Figure, Rate, register

from .. import care
from ..models import CareFlag, Compound, CompoundType, Household

COMPOUNDS = _("compounds")
HOUSEHOLDS = _("households")

TYPE_LABELS = {
    CompoundType.RESIDENTIAL: _("Residential compounds"),
    CompoundType.TRANSITIONAL: _("Transitional compounds"),
    CompoundType.OLD: _("Old compounds"),
    CompoundType.WORK_UNIT: _("Work-unit compounds"),
    CompoundType.NEW_BUILD: _("New-build compounds"),
}

FLAG_LABELS = {
    CareFlag.LONELY_ELDERLY: _("Household files with lonely elderly"),
    CareFlag.ELDERLY_ALONE: _("Household files with elderly living alone"),
    CareFlag.DISABLED: _("Household files with disabled residents"),
    CareFlag.PREGNANT: _("Household files with pregnant or postpartum residents"),
    CareFlag.LOW_INCOME: _("Low-income household files"),
    CareFlag.HARDSHIP: _("Household files in special hardship"),
}


@register(
    *(Figure(f"compounds.{kind.value}", label, COMPOUNDS) for kind, label in TYPE_LABELS.items()),
    Figure("compounds.total", _("Compounds"), COMPOUNDS),
    Figure("compounds.households", _("Households in compounds"), HOUSEHOLDS,
           _("As recorded for each compound.")),
    Figure("compounds.population", _("Population of compounds"), _("people")),
    Figure(
        "compounds.party_coverage",
        _("Party organisation coverage of compounds"),
        "%",
        _("Share of active compounds covered by a party branch of their own (党组织覆盖率)."),
    ),
    Figure("households.files", _("Household files"), HOUSEHOLDS,
           _("Households with a file (一户一档).")),
    *(Figure(f"households.care.{flag.value}", label, HOUSEHOLDS)
      for flag, label in FLAG_LABELS.items()),
)
def territory_figures(subtree, period):
    compounds = Compound.objects.filter(subtree.q("org_unit"), is_active=True).aggregate(
        total=Count("id"),
        households=Sum("households"),
        population=Sum("population"),
        covered=Count("id", filter=Q(org_unit__kind=OrgKind.BRANCH)),
        **{f"type_{kind.value}": Count("id", filter=Q(compound_type=kind))
           for kind in CompoundType},
    )
    households = Household.objects.filter(
        subtree.q("compound__org_unit"), compound__is_active=True
    ).aggregate(
        files=Count("id"),
        **{f"flag_{flag.value}": Count("id", filter=care.flag_q(flag.value))
           for flag in CareFlag},
    )
    values = {f"compounds.{kind.value}": compounds[f"type_{kind.value}"] for kind in CompoundType}
    values.update({
        "compounds.total": compounds["total"],
        "compounds.households": compounds["households"] or 0,
        "compounds.population": compounds["population"] or 0,
        "compounds.party_coverage": Rate(compounds["covered"], compounds["total"]),
        "households.files": households["files"],
    })
    values.update(
        {f"households.care.{flag.value}": households[f"flag_{flag.value}"] for flag in CareFlag}
    )
    return values
