"""Shared pieces of the volunteers API's write routes: who may call a step, how a service's
errors become field errors, and a POST route that documents its body."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action

from party_org.api.permissions import ScopedModelPermissions

from .wishes import IdField, _service_errors

__all__ = ["IdField", "StepPermissions", "call", "step", "validated"]


class StepPermissions(ScopedModelPermissions):
    """Model permissions for list, read, create and update; the routes a viewset names in
    `step_actions` need only the view permission, since their service checks the exact
    permission and the scope (403 when refused)."""

    def has_permission(self, request, view):
        if getattr(view, "action", None) in getattr(view, "step_actions", ()):
            user = request.user
            if not (user and user.is_authenticated):
                return False
            meta = self._queryset(view).model._meta
            return user.has_perm(f"{meta.app_label}.view_{meta.model_name}")
        return super().has_permission(request, view)


def call(func, rename=None):
    """Run a service; its ValidationError becomes a 400 naming this route's fields (a
    PermissionDenied becomes a 403 in the project's exception handler)."""
    try:
        return func()
    except DjangoValidationError as error:
        raise _service_errors(error, rename) from None


def validated(serializer_class, request, data=None, **kwargs):
    """The validated body (or `data`, e.g. the query string) of a route, else a 400."""
    body = serializer_class(data=request.data if data is None else data,
                            context={"request": request}, **kwargs)
    body.is_valid(raise_exception=True)
    return body.validated_data


def step(url_path, body, responses, summary, methods=("post",), **schema):
    """A detail POST route (`url_path`) with its body serializer and answer documented; query
    strings never filter the row it acts on."""

    def decorate(func):
        extra = {} if body is None else {"serializer_class": body}
        routed = action(detail=True, methods=list(methods), url_path=url_path,
                        filter_backends=[], **extra)(func)
        # After @action, which would replace the schema kept on the function.
        return extend_schema(request=body, responses=responses, summary=summary,
                             **schema)(routed)

    return decorate
