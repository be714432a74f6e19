import django_filters
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from .. import services
from ..models import OrgKind, OrgUnit
from ..selectors import Subtree, org_units_for, with_child_counts
from ..statistics import Period, registry
from .base import Conflict, IdFilter, ScopedModelViewSet
from .serializers import OrgUnitDetailSerializer, OrgUnitSerializer, StatsSerializer


class OrgUnitFilter(django_filters.FilterSet):
    parent = IdFilter(field_name="parent_id", label=_("parent unit id"))
    kind = django_filters.MultipleChoiceFilter(choices=OrgKind.choices, label=_("kind"))
    ancestor = IdFilter(
        method="filter_ancestor", label=_("ancestor unit id (the whole subtree, itself included)")
    )
    is_active = django_filters.BooleanFilter(label=_("active"))

    class Meta:
        model = OrgUnit
        fields = ["parent", "kind", "ancestor", "is_active"]

    def filter_ancestor(self, queryset, name, value):
        # The ancestor must itself be visible to the user, else the answer is empty.
        node = org_units_for(self.request.user).filter(pk=value).first()
        if node is None:
            return queryset.none()
        return queryset.filter(Subtree.of(node).q())


class OrgUnitViewSet(ScopedModelViewSet):
    """The organisation tree: street → community → compound branch → building group → household."""

    queryset = OrgUnit.objects.all()
    filterset_class = OrgUnitFilter
    search_fields = ["name", "code", "address"]
    ordering_fields = ["name", "code", "kind", "established_on"]
    ordering = ["tree_id", "lft"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action in ("list", "retrieve"):
            queryset = with_child_counts(queryset)
        return queryset

    def get_serializer_class(self):
        if self.action == "retrieve":
            return OrgUnitDetailSerializer
        return OrgUnitSerializer

    def _fields(self, data):
        return {name: data[name] for name in services.EDITABLE_FIELDS if name in data}

    def perform_create(self, serializer):
        data = serializer.validated_data
        node = services.create_org_unit(
            self.request.user, parent=data.get("parent"), **self._fields(data)
        )
        serializer.instance = with_child_counts(OrgUnit.objects.filter(pk=node.pk)).get()

    def perform_update(self, serializer):
        data = serializer.validated_data
        kwargs = self._fields(data)
        if "parent" in data:
            kwargs["parent"] = data["parent"]
        node = services.update_org_unit(self.request.user, serializer.instance, **kwargs)
        serializer.instance = with_child_counts(OrgUnit.objects.filter(pk=node.pk)).get()

    def perform_destroy(self, instance):
        try:
            services.delete_org_unit(self.request.user, instance)
        except ValidationError as error:
            raise Conflict(" ".join(error.messages)) from None

    @extend_schema(
        parameters=[
            OpenApiParameter("month", OpenApiTypes.STR, description="YYYY-MM"),
            OpenApiParameter("from", OpenApiTypes.DATE, description="YYYY-MM-DD"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="YYYY-MM-DD"),
            OpenApiParameter(
                "figures", OpenApiTypes.STR,
                description="Comma-separated figure names or prefixes (default: all), "
                "e.g. org_units,members",
            ),
        ],
        responses=StatsSerializer,
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def stats(self, request, pk=None):
        """Every registered figure for this unit's subtree and the period (default: all time)."""
        node = self.get_object()
        period = Period.parse(
            month=request.query_params.get("month"),
            start=request.query_params.get("from"),
            end=request.query_params.get("to"),
        )
        only = [p.strip() for p in request.query_params.get("figures", "").split(",") if p.strip()]
        figures = registry.compute(Subtree.of(node), period, only=only or None)
        return Response(
            {
                "org_unit": {"id": node.pk, "name": node.name, "code": node.code, "kind": node.kind},
                "period": {"start": period.start, "end": period.end},
                "figures": figures,
            }
        )
