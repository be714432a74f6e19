from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language

from . import compound_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(("governance.api.urls", "api"), namespace="api")),
    path("", include("grids.urls")),
    path("", include("property_mgmt.urls")),
    path("", include("volunteers.urls")),
    path("compounds/<int:pk>/", compound_views.compound, name="compound"),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
