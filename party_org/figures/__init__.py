"""party_org's figures for the statistics layer, one module per area (importing registers them)."""

from . import duties, members, resources, tree  # noqa: F401
