"""The public micro-wish pages; included at the site root by governance/urls.py."""

from django.urls import path

from . import urls_activities, urls_join, urls_me, urls_merchant, views

app_name = "volunteers_public"

urlpatterns = [
    path("wishes/", views.wall, name="wall"),
    path("wishes/new/", views.new_wish, name="new"),
    path("wishes/track/<str:code>/", views.track, name="track"),
    path("wishes/track/<str:code>/rate/", views.rate, name="rate"),
    *urls_me.urlpatterns,
    *urls_activities.urlpatterns,
    *urls_merchant.urlpatterns,
    *urls_join.urlpatterns,
]
