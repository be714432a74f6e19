"""volunteers' models, one module per area; import them from here."""

from .wishes import (  # noqa: F401
    CLOSED_STATUSES,
    DISPATCHED_STATUSES,
    MicroWish,
    WishAction,
    WishCategory,
    WishLog,
    WishStatus,
)
from .people import TeamMembership, Volunteer, VolunteerTeam  # noqa: F401
from .points import (  # noqa: F401
    EARN_REASONS,
    EntryReason,
    PointsAccount,
    PointsAdjustment,
    PointsEntry,
    PointsKind,
)
from .activities import (  # noqa: F401
    PLACE_HOLDING,
    Activity,
    ActivitySignup,
    ServiceHours,
    SignupStatus,
)
from .mall import Merchant, Redemption, RedemptionStatus, RewardItem  # noqa: F401
from .honours import Honor, HonorTitle  # noqa: F401
