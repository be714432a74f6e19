from . import duties, members, resources
from .views import OrgUnitViewSet


def register(router):
    """Add party_org's viewsets to the site's /api/v1/ router."""
    router.register("org-units", OrgUnitViewSet, basename="orgunit")
    for area in (members, duties, resources):
        area.register(router)
