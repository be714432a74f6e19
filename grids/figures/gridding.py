"""grids figures: grids and micro-grids, grid workers by kind, how well grids are staffed and how
much of the territory they cover (for the statistics layer, see party_org.statistics)."""

from django.db.models import Count, Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from party_org.statistics import Figure, Rate, register

from ..models import Compound, Grid, GridAssignment, GridCoverage, GridWorker, GridWorkerKind

GRIDS = _("grids")
PEOPLE = _("people")

WORKER_LABELS = {
    GridWorkerKind.FULL_TIME: _("Full-time grid workers"),
    GridWorkerKind.PART_TIME: _("Part-time grid workers"),
    GridWorkerKind.AUXILIARY: _("Auxiliary grid workers"),
}


@register(
    Figure("grids.grids", _("Grids"), GRIDS),
    Figure("grids.micro_grids", _("Micro-grids"), GRIDS),
    *(Figure(f"grid_workers.{kind.value}", label, PEOPLE) for kind, label in WORKER_LABELS.items()),
    Figure("grid_workers.total", _("Grid workers"), PEOPLE),
    Figure(
        "grids.staffed", _("Grids with a grid worker"), "%",
        _("Share of active grids and micro-grids with at least one grid worker assigned at the "
          "end of the period."),
    ),
    Figure(
        "grids.compound_coverage", _("Compounds covered by grids"), "%",
        _("Share of active compounds that an active grid covers, wholly or in part."),
    ),
)
def grid_figures(subtree, period):
    # Three grouped queries over the subtree, whatever its size.
    working = GridAssignment.objects.filter(
        Q(ended_on__isnull=True) | Q(ended_on__gte=period.end),
        grid=OuterRef("pk"), started_on__lte=period.end,
    )
    grids = (
        Grid.objects.filter(subtree.q("org_unit"), is_active=True)
        .aggregate(
            grids=Count("pk", filter=Q(parent__isnull=True)),
            micro=Count("pk", filter=Q(parent__isnull=False)),
            # Exists directly in the filter: an annotated Exists is lost when Django wraps the
            # aggregate in a subquery.
            staffed=Count("pk", filter=Exists(working)),
            total=Count("pk"),
        )
    )
    values = {
        "grids.grids": grids["grids"],
        "grids.micro_grids": grids["micro"],
        "grids.staffed": Rate(grids["staffed"], grids["total"]),
    }
    counts = {kind.value: 0 for kind in GridWorkerKind}
    for row in (
        GridWorker.objects.filter(subtree.q("org_unit"), is_active=True)
        .values("kind").annotate(n=Count("pk")).order_by()
    ):
        counts[row["kind"]] = row["n"]
    for kind, n in counts.items():
        values[f"grid_workers.{kind}"] = n
    values["grid_workers.total"] = sum(counts.values())
    covered = GridCoverage.objects.filter(compound=OuterRef("pk"), grid__is_active=True)
    compounds = (
        Compound.objects.filter(subtree.q("org_unit"), is_active=True)
        .aggregate(total=Count("pk"), covered=Count("pk", filter=Exists(covered)))
    )
    values["grids.compound_coverage"] = Rate(compounds["covered"], compounds["total"])
    return values
