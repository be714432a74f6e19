"""grids' figures for the statistics layer, one module per area (importing registers them)."""

from . import events, gridding, territory  # noqa: F401
