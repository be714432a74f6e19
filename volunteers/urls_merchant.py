"""Routes of the merchant pages, included under volunteers_public by volunteers/urls.py."""

from django.urls import path

from . import views_merchant

urlpatterns = [
    path("merchant/", views_merchant.home, name="merchant"),
    path("merchant/use/", views_merchant.use, name="merchant_use"),
    path("merchant/login/", views_merchant.MerchantLoginView.as_view(), name="merchant_login"),
    path("merchant/logout/", views_merchant.MerchantLogoutView.as_view(),
         name="merchant_logout"),
]
