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
from .events import (  # noqa: F401
    OPEN_STATUSES,
    Department,
    EventAction,
    EventCategory,
    EventSource,
    EventStatus,
    GridEvent,
    GridEventLog,
    GridEventPhoto,
)
from .patrols import HouseholdVisit, PatrolCheckin, PatrolPoint  # noqa: F401
