"""How compounds are served: service periods, started (ending the one before) and ended through
the services, never edited in place."""

import datetime as dt

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from grids.models import Compound
from party_org.api.base import IdFilter, ScopedPrimaryKeyRelatedField, ScopedViewSetMixin

from .. import services
from ..models import PropertyCompany, ServiceMode, ServicePeriod
from .base import PlaceFilterSet, within, year_filter

SUBSIDY_ENDING_DAYS = 60


class ServicePeriodSerializer(serializers.ModelSerializer):
    compound_name = serializers.CharField(source="compound.name", read_only=True)
    mode_display = serializers.CharField(source="get_mode_display", read_only=True)
    company_name = serializers.CharField(source="company.name", read_only=True, default=None)

    class Meta:
        model = ServicePeriod
        fields = [
            "id", "compound", "compound_name", "mode", "mode_display", "company", "company_name",
            "started_on", "ended_on", "fee_per_m2", "subsidy_rate", "subsidy_months",
            "subsidy_ends_on", "note",
        ]
        read_only_fields = fields


class ServicePeriodStartSerializer(serializers.Serializer):
    compound = ScopedPrimaryKeyRelatedField(queryset=Compound.objects.select_related("org_unit"))
    mode = serializers.ChoiceField(choices=ServiceMode.choices)
    company = serializers.PrimaryKeyRelatedField(
        queryset=PropertyCompany.objects.all(), allow_null=True, required=False,
        help_text=_("For market, red_property, unit_assisted and subsidised; null otherwise."),
    )
    started_on = serializers.DateField(
        help_text=_("The service running until then ends the day before."))
    fee_per_m2 = serializers.DecimalField(max_digits=6, decimal_places=2, min_value=0,
                                          required=False, default=0)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ServicePeriodEndSerializer(serializers.Serializer):
    ended_on = serializers.DateField(help_text=_("The last day of service."))
    note = serializers.CharField(max_length=300, required=False, allow_blank=True,
                                 allow_null=True, default=None)


class ServicePeriodFilter(PlaceFilterSet):
    ancestor_path = "compound__org_unit"
    mode = django_filters.MultipleChoiceFilter(choices=ServiceMode.choices, label=_("mode"))
    company = IdFilter(field_name="company_id", label=_("company id"))
    current = django_filters.BooleanFilter(field_name="ended_on", lookup_expr="isnull",
                                           label=_("running (not ended)"))
    year = year_filter(_("running at some time in this year"))
    subsidy_ending = django_filters.BooleanFilter(
        method="filter_subsidy_ending",
        label=_("in a subsidised transition whose subsidy ends within 60 days"),
    )

    class Meta:
        model = ServicePeriod
        fields = ["compound", "ancestor", "mode", "company", "current", "year",
                  "subsidy_ending"]

    def filter_year(self, queryset, name, value):
        year = int(value)
        return queryset.filter(started_on__lte=dt.date(year, 12, 31)).filter(
            Q(ended_on__isnull=True) | Q(ended_on__gte=dt.date(year, 1, 1)))

    def filter_subsidy_ending(self, queryset, name, value):
        ending = Q(mode=ServiceMode.SUBSIDISED, ended_on__isnull=True, compound__is_active=True,
                   subsidy_ends_on__lte=within(SUBSIDY_ENDING_DAYS))
        return queryset.filter(ending) if value else queryset.exclude(ending)


class ServicePeriodViewSet(ScopedViewSetMixin, mixins.ListModelMixin,
                           mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Property service periods of compounds (the mode, 四个一批, and the transition subsidy).
    POST starts a new period (the running one ends the day before); `end/` ends one."""

    queryset = ServicePeriod.objects.select_related("compound", "company")
    serializer_class = ServicePeriodSerializer
    filterset_class = ServicePeriodFilter
    search_fields = ["compound__name", "company__name"]
    ordering_fields = ["started_on", "subsidy_ends_on"]
    ordering = ["compound__name", "-started_on", "pk"]

    def get_serializer_class(self):
        if self.action == "create":
            return ServicePeriodStartSerializer
        if self.action == "end":
            return ServicePeriodEndSerializer
        return ServicePeriodSerializer

    def _answer(self, period, code=status.HTTP_200_OK):
        fresh = self.get_queryset().get(pk=period.pk)
        return Response(ServicePeriodSerializer(fresh).data, status=code)

    @extend_schema(request=ServicePeriodStartSerializer, responses={201: ServicePeriodSerializer})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        compound = data.pop("compound")
        period = services.start_service(request.user, compound, **data)
        return self._answer(period, status.HTTP_201_CREATED)

    @extend_schema(request=ServicePeriodEndSerializer, responses={200: ServicePeriodSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def end(self, request, pk=None):
        period = self.get_object()
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        period = services.end_service(request.user, period, data["ended_on"], note=data["note"])
        return self._answer(period)


def register(router):
    router.register("service-periods", ServicePeriodViewSet, basename="serviceperiod")
