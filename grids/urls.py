"""The public resident pages (随手拍); included at the site root by governance/urls.py."""

from django.urls import path

from . import views

app_name = "grids_public"

urlpatterns = [
    path("report/", views.report, name="report"),
    path("report/compounds/", views.compound_search, name="compound_search"),
    path("report/track/", views.track_lookup, name="track_lookup"),
    path("report/track/<str:code>/", views.track, name="track"),
    path("report/track/<str:code>/rate/", views.rate, name="rate"),
    path("report/photos/<int:photo_id>/", views.photo, name="photo"),
]
