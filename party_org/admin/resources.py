"""Admin of party_org: resources (see the module docstring of party_org.models.resources)."""
