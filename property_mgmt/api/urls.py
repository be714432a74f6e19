from . import committees, companies, deliberations, evaluations, service


def register(router):
    """Add property_mgmt's viewsets to the site's /api/v1/ router."""
    for area in (companies, service, committees, evaluations, deliberations):
        area.register(router)
