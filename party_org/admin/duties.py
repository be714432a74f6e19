"""Admin of party_org: duties (see the module docstring of party_org.models.duties)."""
