"""Routes of the activities pages and of claiming wishes (接单), included under volunteers_public
by volunteers/urls.py."""

from django.urls import path

from . import views, views_activities

urlpatterns = [
    path("activities/", views_activities.activity_list, name="activities"),
    path("activities/<int:pk>/", views_activities.activity_detail, name="activity"),
    path("activities/<int:pk>/sign-up/", views_activities.sign_up, name="activity_sign_up"),
    path("activities/<int:pk>/cancel/", views_activities.cancel, name="activity_cancel"),
    path("activities/<int:pk>/check-in/", views_activities.check_in, name="activity_check_in"),
    path("wishes/<int:pk>/claim/", views.claim, name="claim"),
    path("wishes/claimed/<int:pk>/", views.claimed, name="claimed"),
]
