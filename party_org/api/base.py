"""API building blocks shared by every app: scoped viewsets, permissions, error mapping."""

import django_filters
from django import forms
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.views import exception_handler as drf_exception_handler

from ..selectors import scoped


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The request conflicts with the current state of the data.")
    default_code = "conflict"


def _messages(error):
    if hasattr(error, "message_dict"):
        return {field: [str(m) for m in msgs] for field, msgs in error.message_dict.items()}
    return {"detail": [str(m) for m in error.messages]}


def exception_handler(exc, context):
    """Map the domain errors raised by services to clear API answers (never a 500)."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_messages(exc))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    return drf_exception_handler(exc, context)


class ScopedViewSetMixin:
    """Every queryset goes through the one scoping selector: out of scope is 404."""

    def get_queryset(self):
        return scoped(self.request.user, super().get_queryset())


class ScopedModelViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    pass


class ScopedReadOnlyViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A foreign-key field whose choices are the requesting user's scope only."""

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        if request is None:
            return queryset.none()
        return scoped(request.user, queryset)


MAX_ID = 2**63 - 1  # the largest key the databases store: beyond it a lookup would overflow


class IdFilter(django_filters.NumberFilter):
    """A row id: a whole number within the id column's range, else a 400 naming the parameter."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)
