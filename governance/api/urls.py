"""/api/v1/: one router for every app's viewsets, the OpenAPI schema and its documentation."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from grids.api import urls as grids_api
from party_org.api import urls as party_org_api
from property_mgmt.api import urls as property_mgmt_api
from volunteers.api import urls as volunteers_api

router = DefaultRouter()
for app_api in (party_org_api, grids_api, property_mgmt_api, volunteers_api):
    app_api.register(router)

urlpatterns = [
    path("", include(router.urls)),
    *grids_api.urlpatterns,
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
]
