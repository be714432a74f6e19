"""The public evaluation form; included at the site root by governance/urls.py."""

from django.urls import path

from . import views

app_name = "property_public"

urlpatterns = [
    path("evaluate/", views.evaluate, name="evaluate"),
    path("evaluate/thanks/", views.thanks, name="thanks"),
]
