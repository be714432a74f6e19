"""The admin of volunteers, one module per area (each registers its own ModelAdmins)."""

from . import records, wishes  # noqa: F401
