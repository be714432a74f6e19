from rest_framework.routers import DefaultRouter

from . import duties, members, resources
from .views import OrgUnitViewSet

router = DefaultRouter()
router.register("org-units", OrgUnitViewSet, basename="orgunit")
for area in (members, duties, resources):
    area.register(router)

urlpatterns = router.urls
