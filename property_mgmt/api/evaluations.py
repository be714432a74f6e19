"""Service evaluations as aggregates: codes issued, responses, the response rate and the mean
score per dimension. The households' codes are never served here."""

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from grids.models import Compound
from party_org.api.base import IdFilter, ScopedPrimaryKeyRelatedField, ScopedViewSetMixin

from .. import selectors, services
from ..models import DIMENSIONS, ServiceEvaluation
from .base import PlaceFilterSet


def _round(value):
    return None if value is None else round(float(value), 2)


class ServiceEvaluationMeansSerializer(serializers.Serializer):
    cleaning = serializers.FloatField(allow_null=True)
    security = serializers.FloatField(allow_null=True)
    repairs = serializers.FloatField(allow_null=True)
    greenery = serializers.FloatField(allow_null=True)
    attitude = serializers.FloatField(allow_null=True)


class ServiceEvaluationSerializer(serializers.ModelSerializer):
    compound_name = serializers.CharField(source="compound.name", read_only=True)
    company_name = serializers.CharField(source="company.name", read_only=True, default=None)
    codes = serializers.IntegerField(source="code_count", read_only=True,
                                     help_text=_("Codes issued (one per household file)."))
    responses = serializers.IntegerField(source="response_count", read_only=True)
    response_rate = serializers.SerializerMethodField()
    mean = serializers.SerializerMethodField(help_text=_("Mean score, 1–5."))
    means = serializers.SerializerMethodField(help_text=_("Mean score per dimension, 1–5."))

    class Meta:
        model = ServiceEvaluation
        fields = [
            "id", "compound", "compound_name", "company", "company_name", "year", "quarter",
            "opens_on", "closes_on", "codes", "responses", "response_rate", "mean", "means",
        ]
        read_only_fields = fields

    def get_response_rate(self, obj) -> float | None:
        return round(obj.response_count / obj.code_count, 4) if obj.code_count else None

    def get_mean(self, obj) -> float | None:
        return _round(obj.mean)

    @extend_schema_field(ServiceEvaluationMeansSerializer)
    def get_means(self, obj):
        return {dim: _round(getattr(obj, f"mean_{dim}")) for dim in DIMENSIONS}


class ServiceEvaluationOpenSerializer(serializers.Serializer):
    compound = ScopedPrimaryKeyRelatedField(queryset=Compound.objects.select_related("org_unit"))
    year = serializers.IntegerField(min_value=2000, max_value=2100)
    quarter = serializers.IntegerField(min_value=0, max_value=4, required=False, default=0,
                                       help_text=_("1–4 for a quarterly survey; 0 for the year."))
    opens_on = serializers.DateField()
    closes_on = serializers.DateField()


class ServiceEvaluationFilter(PlaceFilterSet):
    ancestor_path = "compound__org_unit"
    year = django_filters.NumberFilter(field_name="year", label=_("year"))
    quarter = django_filters.NumberFilter(field_name="quarter", label=_("quarter (0: the year)"))
    company = IdFilter(field_name="company_id", label=_("company id"))

    class Meta:
        model = ServiceEvaluation
        fields = ["compound", "ancestor", "year", "quarter", "company"]


class ServiceEvaluationViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):
    """Property service evaluations (物业服务评价) with their results. POST opens a survey: one
    one-time code per household file, printed from the admin."""

    queryset = ServiceEvaluation.objects.select_related("compound", "company")
    serializer_class = ServiceEvaluationSerializer
    filterset_class = ServiceEvaluationFilter
    search_fields = ["compound__name", "company__name"]
    ordering_fields = ["year", "opens_on", "closes_on"]
    ordering = ["-year", "-quarter", "compound__name", "pk"]

    def get_queryset(self):
        return selectors.with_results(super().get_queryset())

    def get_serializer_class(self):
        if self.action == "create":
            return ServiceEvaluationOpenSerializer
        return ServiceEvaluationSerializer

    @extend_schema(request=ServiceEvaluationOpenSerializer,
                   responses={201: ServiceEvaluationSerializer})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        compound = data.pop("compound")
        evaluation = services.open_evaluation(request.user, compound, **data)
        fresh = self.get_queryset().get(pk=evaluation.pk)
        return Response(ServiceEvaluationSerializer(fresh).data, status=status.HTTP_201_CREATED)


def register(router):
    router.register("evaluations", ServiceEvaluationViewSet, basename="serviceevaluation")
