from django.urls import re_path

from . import events, gridding, open311, patrols, territory


def register(router):
    """Add grids' viewsets to the site's /api/v1/ router."""
    for area in (territory, gridding, events, patrols):
        area.register(router)


# Open311 GeoReport v2 (read-only): fixed file-like paths, outside the router.
urlpatterns = [
    re_path(r"^open311/v2/services\.json$", open311.ServicesView.as_view(),
            name="open311-services"),
    re_path(r"^open311/v2/requests\.json$", open311.RequestsView.as_view(),
            name="open311-requests"),
    re_path(r"^open311/v2/requests/(?P<service_request_id>[A-Za-z0-9-]{1,40})\.json$",
            open311.RequestView.as_view(), name="open311-request"),
]
