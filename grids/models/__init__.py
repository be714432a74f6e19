"""grids' models, one module per area; import them from here."""

from .territory import (  # noqa: F401
    Building,
    CareFlag,
    Compound,
    CompoundType,
    Entrance,
    Household,
    ResidentList,
    ResidentListEntry,
)
from .gridding import Grid, GridAssignment, GridCoverage, GridWorker, GridWorkerKind  # noqa: F401
