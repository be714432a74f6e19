"""Volunteers and teams: scoped lists; registration, verification, team creation, members and
leader through volunteers.services.people, which checks the exact permission and the scope."""

from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.fields import empty
from rest_framework.response import Response

from grids.models import Compound
from party_org.api.base import ScopedPrimaryKeyRelatedField, ScopedReadOnlyViewSet
from party_org.models import OrgUnit, Person
from party_org.selectors import scoped

from ..models import TeamMembership, Volunteer, VolunteerTeam
from ..services import people as services
from .base import IdField, StepPermissions, call, step, validated
from .records import (
    PersonRefSerializer,
    TeamSerializer,
    VolunteerFilter,
    VolunteerSerializer,
    ancestor_filter,
)


MEMBER_COUNT = Count("memberships", filter=Q(memberships__left_on__isnull=True))


class TrueUnlessSaid(serializers.BooleanField):
    # A form post without the box would read as False; only an explicit value withdraws.
    default_empty_html = empty


# ---- volunteers --------------------------------------------------------------------------------


class VolunteerCreateSerializer(serializers.Serializer):
    person = ScopedPrimaryKeyRelatedField(
        queryset=Person.objects.select_related("org_unit"), required=False, allow_null=True,
        help_text=_("An existing person in your organisation; else give name and phone."),
    )
    org_unit = ScopedPrimaryKeyRelatedField(
        queryset=OrgUnit.objects.all(), required=False, allow_null=True,
        help_text=_("The unit the volunteer belongs to (default: the compound's, or the "
                    "person's)."),
    )
    compound = ScopedPrimaryKeyRelatedField(
        queryset=Compound.objects.select_related("org_unit"), required=False, allow_null=True
    )
    name = serializers.CharField(required=False, allow_blank=True, default="")
    phone = serializers.CharField(required=False, allow_blank=True, default="")
    skills = serializers.ListField(child=serializers.CharField(allow_blank=True),
                                   required=False, default=list)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    verified = serializers.BooleanField(
        required=False, default=False,
        help_text=_("Register as verified at once (needs the permission to verify)."),
    )


class VerifySerializer(serializers.Serializer):
    verified = TrueUnlessSaid(required=False, default=True,
                              help_text=_("false withdraws the verification."))


class VolunteerViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    """Registered volunteers (志愿者): list, read, register; `verify/` (or withdraw it)."""

    queryset = Volunteer.objects.select_related("person", "org_unit")
    serializer_class = VolunteerSerializer
    permission_classes = [StepPermissions]
    step_actions = {"verify"}
    filterset_class = VolunteerFilter
    search_fields = ["person__name"]
    ordering = ["-registered_at", "-pk"]

    def get_serializer_class(self):
        if self.action == "create":
            return VolunteerCreateSerializer
        return super().get_serializer_class()

    def _answer(self, volunteer, status_code=status.HTTP_200_OK):
        fresh = self.get_queryset().get(pk=volunteer.pk)
        return Response(VolunteerSerializer(fresh, context=self.get_serializer_context()).data,
                        status=status_code)

    @extend_schema(request=VolunteerCreateSerializer, responses={201: VolunteerSerializer})
    def create(self, request, *args, **kwargs):
        data = validated(VolunteerCreateSerializer, request)
        if data.get("person") is not None and not (data.get("org_unit") or data.get("compound")):
            data["org_unit"] = data["person"].org_unit
        volunteer = call(lambda: services.register_volunteer(request.user, **data))
        return self._answer(volunteer, status.HTTP_201_CREATED)

    @step("verify", VerifySerializer, {200: VolunteerSerializer},
          _("Verify the volunteer (or withdraw the verification)"))
    def verify(self, request, pk=None):
        volunteer = self.get_object()
        data = validated(VerifySerializer, request)
        call(lambda: services.verify_volunteer(request.user, volunteer, data["verified"]))
        return self._answer(volunteer)


# ---- teams -------------------------------------------------------------------------------------


class TeamCreateSerializer(serializers.Serializer):
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    name = serializers.CharField(max_length=80)
    leader = ScopedPrimaryKeyRelatedField(
        queryset=Person.objects.select_related("org_unit"), required=False, allow_null=True,
        help_text=_("A person in your organisation; they join the team."),
    )
    description = serializers.CharField(max_length=300, required=False, allow_blank=True,
                                        default="")
    founded_on = serializers.DateField(required=False, allow_null=True, default=None)


class MembershipSerializer(serializers.ModelSerializer):
    person = PersonRefSerializer(read_only=True)

    class Meta:
        model = TeamMembership
        fields = ["id", "person", "joined_on", "left_on"]
        read_only_fields = fields


class AddMemberSerializer(serializers.Serializer):
    person = ScopedPrimaryKeyRelatedField(queryset=Person.objects.select_related("org_unit"))
    joined_on = serializers.DateField(required=False, allow_null=True, default=None,
                                      help_text=_("Default: today."))


class LeftOnSerializer(serializers.Serializer):
    left_on = serializers.DateField(required=False, allow_null=True, default=None)


class LeaderSerializer(serializers.Serializer):
    person = IdField(allow_null=True,
                     help_text=_("A current member of the team; null: no leader."))


class TeamViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    """Volunteer service teams (志愿服务队) with their current number of members; create one,
    add and remove members (`members/`), choose the leader (`leader/`)."""

    queryset = VolunteerTeam.objects.select_related("org_unit", "leader")
    serializer_class = TeamSerializer
    permission_classes = [StepPermissions]
    step_actions = {"members", "remove_member", "leader"}
    filterset_class = ancestor_filter("org_unit", VolunteerTeam, ["is_active"])
    search_fields = ["name"]
    ordering = ["name"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action in ("list", "retrieve"):
            queryset = queryset.annotate(member_count=MEMBER_COUNT)
        return queryset

    def get_serializer_class(self):
        if self.action == "create":
            return TeamCreateSerializer
        return super().get_serializer_class()

    def _answer(self, team, status_code=status.HTTP_200_OK):
        fresh = super().get_queryset().annotate(
            member_count=MEMBER_COUNT
        ).get(pk=team.pk)
        return Response(TeamSerializer(fresh, context=self.get_serializer_context()).data,
                        status=status_code)

    @extend_schema(request=TeamCreateSerializer, responses={201: TeamSerializer})
    def create(self, request, *args, **kwargs):
        data = validated(TeamCreateSerializer, request)
        team = call(lambda: services.create_team(request.user, **data))
        return self._answer(team, status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], request=None,
                   responses={200: MembershipSerializer(many=True)},
                   summary=_("The team's current members"))
    @extend_schema(methods=["POST"], request=AddMemberSerializer,
                   responses={201: MembershipSerializer}, summary=_("Add a member"))
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None,
            serializer_class=AddMemberSerializer)
    def members(self, request, pk=None):
        team = self.get_object()
        if request.method == "GET":
            rows = (team.memberships.filter(left_on__isnull=True).select_related("person")
                    .order_by("joined_on", "pk"))
            return Response(MembershipSerializer(rows, many=True).data)
        data = validated(AddMemberSerializer, request)
        membership = call(lambda: services.add_member(request.user, team, data["person"],
                                                      data["joined_on"]))
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @step(r"members/(?P<person_id>[0-9]{1,18})", None, {204: None},
          _("Remove a member (who leaves today, or on left_on)"), methods=("delete",),
          parameters=[
              OpenApiParameter("person_id", OpenApiTypes.INT, OpenApiParameter.PATH,
                               description=_("The person's id.")),
              OpenApiParameter("left_on", OpenApiTypes.DATE,
                               description=_("YYYY-MM-DD (default today)")),
          ])
    def remove_member(self, request, pk=None, person_id=None):
        team = self.get_object()
        left_on = validated(LeftOnSerializer, request, data=request.query_params)["left_on"]
        person = Person.objects.filter(pk=person_id, team_memberships__team=team,
                                       team_memberships__left_on__isnull=True).first()
        if person is None:
            raise NotFound(_("This person is not in the team."))
        call(lambda: services.remove_member(request.user, team, person, left_on))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @step("leader", LeaderSerializer, {200: TeamSerializer},
          _("Make a current member the leader (null: none)"))
    def leader(self, request, pk=None):
        team = self.get_object()
        data = validated(LeaderSerializer, request)
        person = None
        if data["person"] is not None:
            # A member may be registered outside the caller's units; the service requires
            # them to be in the team.
            person = (
                scoped(request.user, Person.objects.filter(pk=data["person"])).first()
                or Person.objects.filter(pk=data["person"], team_memberships__team=team).first()
            )
            if person is None:
                raise serializers.ValidationError({"person": [_("No such person.")]})
        call(lambda: services.set_leader(request.user, team, person), {"leader": "person"})
        return self._answer(team)
