"""The admin of property management, one module per area (each registers its own ModelAdmins)."""

from . import companies, committees, deliberations, evaluations, service  # noqa: F401
