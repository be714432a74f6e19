"""The admin of party_org, one module per area (each registers its own ModelAdmins)."""

from . import duties, members, resources, tree  # noqa: F401
