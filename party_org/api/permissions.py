# Kept apart from views: DRF imports this while rest_framework.views is still loading.
from rest_framework import permissions


class ScopedModelPermissions(permissions.DjangoModelPermissions):
    """Model permissions from the user's role groups, including `view` for reads."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }
