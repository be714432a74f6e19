"""Owners' and property management committees with their members (nested, read-only: seats are
kept in the admin through the services) and the rules documents on record."""

import django_filters
from django.db.models import Prefetch, Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from grids.models import Compound
from party_org.api.base import ScopedPrimaryKeyRelatedField, ScopedViewSetMixin

from .. import services
from ..models import Committee, CommitteeDocument, CommitteeKind, CommitteeMember
from .base import PlaceFilterSet, within

TERMS_ENDING_DAYS = 90


class CommitteeMemberSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="person.name", read_only=True)
    role_display = serializers.CharField(source="get_role_display", read_only=True)

    class Meta:
        model = CommitteeMember
        fields = ["id", "person", "name", "role", "role_display", "started_on", "ended_on"]
        read_only_fields = fields


class CommitteeDocumentSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = CommitteeDocument
        fields = ["kind", "kind_display", "adopted_on"]
        read_only_fields = fields


class CommitteeSerializer(serializers.ModelSerializer):
    compound_name = serializers.CharField(source="compound.name", read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    members = CommitteeMemberSerializer(many=True, read_only=True, source="seats")
    documents = CommitteeDocumentSerializer(many=True, read_only=True)

    class Meta:
        model = Committee
        fields = [
            "id", "compound", "compound_name", "kind", "kind_display", "elected_on",
            "term_ends_on", "is_active", "ended_on", "members", "documents",
        ]
        read_only_fields = fields


class CommitteeElectSerializer(serializers.Serializer):
    compound = ScopedPrimaryKeyRelatedField(queryset=Compound.objects.select_related("org_unit"))
    kind = serializers.ChoiceField(choices=CommitteeKind.choices)
    elected_on = serializers.DateField(
        help_text=_("The committee sitting until then stops sitting the day before."))
    term_ends_on = serializers.DateField()


class CommitteeFilter(PlaceFilterSet):
    ancestor_path = "compound__org_unit"
    kind = django_filters.ChoiceFilter(choices=CommitteeKind.choices, label=_("kind"))
    sitting = django_filters.BooleanFilter(field_name="is_active", label=_("sitting"))
    term_ending = django_filters.BooleanFilter(
        method="filter_term_ending", label=_("sitting, with the term ending within 90 days"))

    class Meta:
        model = Committee
        fields = ["compound", "ancestor", "kind", "sitting", "term_ending"]

    def filter_term_ending(self, queryset, name, value):
        ending = Q(is_active=True, compound__is_active=True,
                   term_ends_on__lte=within(TERMS_ENDING_DAYS))
        return queryset.filter(ending) if value else queryset.exclude(ending)


class CommitteeViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                       viewsets.GenericViewSet):
    """Owners' committees (业委会) and property management committees (物管会). POST records a
    newly elected one (the sitting one stops sitting the day before, its seats ending with it)."""

    queryset = Committee.objects.select_related("compound").prefetch_related(
        Prefetch("members", queryset=CommitteeMember.objects.select_related("person")
                 .order_by("ended_on", "role", "pk"), to_attr="seats"),
        Prefetch("documents", queryset=CommitteeDocument.objects.order_by("kind")),
    )
    serializer_class = CommitteeSerializer
    filterset_class = CommitteeFilter
    search_fields = ["compound__name"]
    ordering_fields = ["elected_on", "term_ends_on"]
    ordering = ["compound__name", "-elected_on", "pk"]

    def get_serializer_class(self):
        return CommitteeElectSerializer if self.action == "create" else CommitteeSerializer

    @extend_schema(request=CommitteeElectSerializer, responses={201: CommitteeSerializer})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        committee = services.elect_committee(request.user, data["compound"], data["kind"],
                                             data["elected_on"], data["term_ends_on"])
        fresh = self.get_queryset().get(pk=committee.pk)
        return Response(CommitteeSerializer(fresh).data, status=status.HTTP_201_CREATED)


def register(router):
    router.register("committees", CommitteeViewSet, basename="committee")
