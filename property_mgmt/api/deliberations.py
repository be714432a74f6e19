"""Deliberations by the four-step method and compound conventions.

A deliberation is proposed with POST and then moves only through the step routes
(`/deliberations/{id}/discuss/`, `decide/`, `publicise/`, `review/`), each calling its service:
the service decides what is legal (400 otherwise) and who may take the step (403 otherwise).
`/deliberations/notices/` lists the decisions under public notice today.
"""

import django_filters
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from grids.models import Compound, GridEvent
from party_org.api.base import ScopedPrimaryKeyRelatedField, ScopedViewSetMixin
from party_org.models import OrgUnit

from .. import services
from ..models import (
    Convention,
    Deliberation,
    DeliberationAttendance,
    DeliberationLog,
    DeliberationStatus,
    PartyKind,
)
from ..selectors import NOTICE_STATUSES
from .base import PlaceFilterSet, today, year_filter

# ---- read ------------------------------------------------------------------------------------


class DeliberationSerializer(serializers.ModelSerializer):
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)
    compound_name = serializers.CharField(source="compound.name", read_only=True, default=None)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    parties = serializers.ListField(child=serializers.ChoiceField(choices=PartyKind.choices),
                                    read_only=True)

    class Meta:
        model = Deliberation
        fields = [
            "id", "org_unit", "org_unit_name", "compound", "compound_name", "topic",
            "background", "parties", "status", "status_display", "proposed_at", "minutes",
            "decision", "votes_for", "votes_against", "votes_abstain", "decided_at",
            "publicised_from", "publicised_until", "satisfied", "unsatisfied", "reviewed_at",
            "events",
        ]
        read_only_fields = fields


class DeliberationAttendanceSerializer(serializers.ModelSerializer):
    party_display = serializers.CharField(source="get_party_display", read_only=True)

    class Meta:
        model = DeliberationAttendance
        fields = ["party", "party_display", "name"]
        read_only_fields = fields


class DeliberationLogSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = DeliberationLog
        fields = ["from_status", "to_status", "actor", "note", "at"]
        read_only_fields = fields

    def get_actor(self, obj) -> str | None:
        return obj.actor.get_username() if obj.actor_id else None


class DeliberationDetailSerializer(DeliberationSerializer):
    attendance = DeliberationAttendanceSerializer(many=True, read_only=True)
    logs = DeliberationLogSerializer(many=True, read_only=True)
    allowed_steps = serializers.SerializerMethodField(
        help_text=_("The steps you may take now; each is POSTed to /deliberations/{id}/<step>/."))

    class Meta(DeliberationSerializer.Meta):
        fields = [*DeliberationSerializer.Meta.fields, "attendance", "logs", "allowed_steps"]
        read_only_fields = fields

    def get_allowed_steps(self, obj) -> list[str]:
        request = self.context.get("request")
        return services.allowed_steps(getattr(request, "user", None), obj)


# ---- write -----------------------------------------------------------------------------------


class DeliberationProposeSerializer(serializers.Serializer):
    org_unit = ScopedPrimaryKeyRelatedField(
        queryset=OrgUnit.objects.all(), required=False, allow_null=True,
        help_text=_("The proposing organisation; empty: the one covering the compound."))
    compound = ScopedPrimaryKeyRelatedField(
        queryset=Compound.objects.select_related("org_unit"), required=False, allow_null=True)
    topic = serializers.CharField(max_length=200)
    background = serializers.CharField(max_length=4000, required=False, allow_blank=True,
                                       default="")
    parties = serializers.ListField(
        child=serializers.ChoiceField(choices=PartyKind.choices), required=False,
        allow_null=True, default=None,
        help_text=_("Who takes part; empty: the “1+3+N” mechanism (all of them)."))


class DeliberationAttendeeSerializer(serializers.Serializer):
    party = serializers.ChoiceField(choices=PartyKind.choices)
    name = serializers.CharField(max_length=60)


class DeliberationDiscussSerializer(serializers.Serializer):
    minutes = serializers.CharField(max_length=8000)
    attendance = DeliberationAttendeeSerializer(many=True)


class DeliberationDecideSerializer(serializers.Serializer):
    decision = serializers.CharField(max_length=4000)
    votes_for = serializers.IntegerField(min_value=0)
    votes_against = serializers.IntegerField(min_value=0)
    votes_abstain = serializers.IntegerField(min_value=0)


class DeliberationPubliciseSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=services.PUBLICISE_MAX_DAYS,
                                    default=7)
    start = serializers.DateField(required=False, allow_null=True, default=None,
                                  help_text=_("The first day on notice; empty: today."))


class DeliberationReviewSerializer(serializers.Serializer):
    satisfied = serializers.IntegerField(min_value=0)
    unsatisfied = serializers.IntegerField(min_value=0)


STEP_BODIES = {
    "discuss": DeliberationDiscussSerializer,
    "decide": DeliberationDecideSerializer,
    "publicise": DeliberationPubliciseSerializer,
    "review": DeliberationReviewSerializer,
}


class DeliberationFilter(PlaceFilterSet):
    ancestor_path = "org_unit"
    status = django_filters.MultipleChoiceFilter(choices=DeliberationStatus.choices,
                                                 label=_("status"))
    year = year_filter(_("proposed in this year"))

    class Meta:
        model = Deliberation
        fields = ["compound", "ancestor", "status", "year"]

    def filter_year(self, queryset, name, value):
        return queryset.filter(proposed_at__year=int(value))


def _step_route(step, **schema):
    def decorate(func):
        documented = extend_schema(
            request=STEP_BODIES[step], responses={200: DeliberationDetailSerializer}, **schema
        )(func)
        return action(detail=True, methods=["post"], filter_backends=[],
                      serializer_class=STEP_BODIES[step])(documented)

    return decorate


class DeliberationViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          viewsets.GenericViewSet):
    """Deliberations (议事会) by the four-step method: 支部提 (POST), 多方议, 集体决, 公示, 群众评.
    No PUT, PATCH or DELETE: a deliberation moves only through its steps and stays on record."""

    queryset = Deliberation.objects.select_related("org_unit", "compound").prefetch_related(
        Prefetch("events", queryset=GridEvent.objects.only("pk")))
    serializer_class = DeliberationSerializer
    filterset_class = DeliberationFilter
    search_fields = ["topic", "decision", "compound__name"]
    ordering_fields = ["proposed_at", "decided_at", "publicised_from"]
    ordering = ["-proposed_at", "-pk"]

    def _with_details(self, queryset):
        return queryset.prefetch_related(
            Prefetch("attendance", queryset=DeliberationAttendance.objects.order_by("pk")),
            Prefetch("logs", queryset=DeliberationLog.objects.select_related("actor")
                     .order_by("at", "pk")),
        )

    def get_queryset(self):
        queryset = super().get_queryset()
        return self._with_details(queryset) if self.action == "retrieve" else queryset

    def get_serializer_class(self):
        if self.action == "create":
            return DeliberationProposeSerializer
        if self.action in STEP_BODIES:
            return STEP_BODIES[self.action]
        if self.action == "retrieve":
            return DeliberationDetailSerializer
        return DeliberationSerializer

    def _answer(self, deliberation, code=status.HTTP_200_OK):
        # Read past the query-string filters: the step may have moved it out of them.
        fresh = self._with_details(self.get_queryset()).get(pk=deliberation.pk)
        data = DeliberationDetailSerializer(fresh, context=self.get_serializer_context()).data
        return Response(data, status=code)

    @extend_schema(request=DeliberationProposeSerializer,
                   responses={201: DeliberationDetailSerializer})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        deliberation = services.propose(request.user, **body.validated_data)
        return self._answer(deliberation, status.HTTP_201_CREATED)

    def _body(self, request):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        return body.validated_data

    @_step_route("discuss", summary="多方议: the parties present discuss (minutes, attendance)")
    def discuss(self, request, pk=None):
        deliberation, data = self.get_object(), self._body(request)
        attendance = [{"party": a["party"], "name": a["name"]} for a in data["attendance"]]
        return self._answer(services.discuss(request.user, deliberation,
                                             minutes=data["minutes"], attendance=attendance))

    @_step_route("decide", summary="集体决: the decision and the recorded vote")
    def decide(self, request, pk=None):
        deliberation, data = self.get_object(), self._body(request)
        return self._answer(services.decide(request.user, deliberation, **data))

    @_step_route("publicise", summary="公示: the decision on the compound's public page")
    def publicise(self, request, pk=None):
        deliberation, data = self.get_object(), self._body(request)
        return self._answer(services.publicise(request.user, deliberation, days=data["days"],
                                               start=data.get("start")))

    @_step_route("review", summary="群众评: residents say whether they are satisfied")
    def review(self, request, pk=None):
        deliberation, data = self.get_object(), self._body(request)
        return self._answer(services.review(request.user, deliberation, **data))

    @extend_schema(responses={200: DeliberationSerializer(many=True)})
    @action(detail=False, methods=["get"])
    def notices(self, request):
        """Decisions under public notice today (the compounds' public pages show them)."""
        day = today()
        queryset = self.filter_queryset(self.get_queryset()).filter(
            status__in=NOTICE_STATUSES, publicised_from__lte=day, publicised_until__gte=day)
        page = self.paginate_queryset(queryset)
        rows = DeliberationSerializer(page if page is not None else queryset, many=True).data
        return self.get_paginated_response(rows) if page is not None else Response(rows)


# ---- conventions -----------------------------------------------------------------------------


class ConventionSerializer(serializers.ModelSerializer):
    compound_name = serializers.CharField(source="compound.name", read_only=True)

    class Meta:
        model = Convention
        fields = ["id", "compound", "compound_name", "version", "title", "text", "adopted_on",
                  "deliberation"]
        read_only_fields = fields


class ConventionAdoptSerializer(serializers.Serializer):
    compound = ScopedPrimaryKeyRelatedField(queryset=Compound.objects.select_related("org_unit"))
    title = serializers.CharField(max_length=200)
    text = serializers.CharField(max_length=20000)
    adopted_on = serializers.DateField()
    deliberation = ScopedPrimaryKeyRelatedField(queryset=Deliberation.objects.all(),
                                                required=False, allow_null=True, default=None)


class ConventionFilter(PlaceFilterSet):
    ancestor_path = "compound__org_unit"
    year = year_filter(_("adopted in this year"))

    class Meta:
        model = Convention
        fields = ["compound", "ancestor", "year"]

    def filter_year(self, queryset, name, value):
        return queryset.filter(adopted_on__year=int(value))


class ConventionViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):
    """Compound conventions (小区公约), every version. POST adopts a new version."""

    queryset = Convention.objects.select_related("compound")
    serializer_class = ConventionSerializer
    filterset_class = ConventionFilter
    search_fields = ["compound__name", "title"]
    ordering_fields = ["adopted_on", "version"]
    ordering = ["compound__name", "-version", "pk"]

    def get_serializer_class(self):
        return ConventionAdoptSerializer if self.action == "create" else ConventionSerializer

    @extend_schema(request=ConventionAdoptSerializer, responses={201: ConventionSerializer})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        compound = data.pop("compound")
        convention = services.adopt_convention(request.user, compound, **data)
        fresh = self.get_queryset().get(pk=convention.pk)
        return Response(ConventionSerializer(fresh).data, status=status.HTTP_201_CREATED)


def register(router):
    router.register("deliberations", DeliberationViewSet, basename="deliberation")
    router.register("conventions", ConventionViewSet, basename="convention")
