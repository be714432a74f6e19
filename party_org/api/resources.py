"""API of party_org: resources."""


def register(router):
    """Add this area's viewsets to the /api/v1/ router."""
