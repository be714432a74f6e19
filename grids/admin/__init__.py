"""The admin of grids, one module per area (each registers its own ModelAdmins)."""

from . import events, gridding, patrols, territory  # noqa: F401
