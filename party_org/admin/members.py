"""Admin of party_org: members (see the module docstring of party_org.models.members)."""
