"""The admin of volunteers, one module per area (each registers its own ModelAdmins)."""

from . import activities, honours, people, records, wishes  # noqa: F401
