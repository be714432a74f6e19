"""Routes of the me pages, included under volunteers_public by volunteers/urls.py."""

from django.urls import path

from . import views_me

urlpatterns = [
    path("me/", views_me.me, name="me"),
    path("me/login/", views_me.login, name="login"),
    path("me/logout/", views_me.logout, name="logout"),
    path("me/points/", views_me.points, name="points"),
    path("me/redemptions/<int:pk>/cancel/", views_me.cancel_redemption, name="cancel_redemption"),
    path("me/mall/", views_me.mall, name="mall"),
    path("me/mall/<int:item_id>/redeem/", views_me.redeem, name="redeem"),
]
