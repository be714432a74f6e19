"""The admin of grids, one module per area (each registers its own ModelAdmins)."""

from . import gridding, territory  # noqa: F401
