"""Routes of the public volunteer registration, included under volunteers_public by
volunteers/urls.py."""

from django.urls import path

from . import views_join

urlpatterns = [
    path("volunteers/join/", views_join.join, name="join"),
    path("volunteers/join/done/", views_join.join_done, name="join_done"),
]
