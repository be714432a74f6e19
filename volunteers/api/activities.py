"""Activities and their sign-ups: create and change an activity, sign a person up, issue the
check-in code; confirm, cancel, check in and approve the hours of a sign-up. Every write goes
through volunteers.services.activities, which checks the exact permission and the scope."""

import django_filters
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from grids.api.gridding import AncestorFilterSet
from party_org.api.base import IdFilter, ScopedPrimaryKeyRelatedField, ScopedReadOnlyViewSet
from party_org.models import OrgUnit, Person

from ..models import (
    PLACE_HOLDING,
    Activity,
    ActivitySignup,
    ServiceHours,
    SignupStatus,
    VolunteerTeam,
)
from ..services import activities as services
from .base import StepPermissions, call, step, validated
from .records import ActivityFilter, ActivitySerializer, PersonRefSerializer, ServiceHoursSerializer

PLACES_TAKEN = Count("signups", filter=Q(signups__status__in=PLACE_HOLDING))
WAITING = Count("signups", filter=Q(signups__status=SignupStatus.WAITLISTED))


class ActivityWriteSerializer(serializers.Serializer):
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all(),
                                            help_text=_("The organising unit."))
    team = ScopedPrimaryKeyRelatedField(
        queryset=VolunteerTeam.objects.select_related("org_unit"), required=False,
        allow_null=True,
    )
    title = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    place = serializers.CharField(max_length=200)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    capacity = serializers.IntegerField(min_value=1, max_value=2**31 - 1,
                                        help_text=_("The number of places."))
    points_per_hour = serializers.DecimalField(max_digits=6, decimal_places=2, required=False)


class SignUpSerializer(serializers.Serializer):
    person = ScopedPrimaryKeyRelatedField(queryset=Person.objects.select_related("org_unit"),
                                          help_text=_("A person in your organisation."))


class CheckinCodeSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("Six digits to show at the activity; shown once."))
    opens_at = serializers.DateTimeField()
    closes_at = serializers.DateTimeField()


class SignupSerializer(serializers.ModelSerializer):
    activity = serializers.SerializerMethodField()
    person = PersonRefSerializer(read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = ActivitySignup
        fields = ["id", "activity", "person", "status", "status_display", "position",
                  "signed_up_at", "confirmed_at", "checked_in_at", "cancelled_at"]
        read_only_fields = fields

    def get_activity(self, obj) -> dict:
        return {"id": obj.activity_id, "title": obj.activity.title}


class CheckInSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=20, help_text=_("The code the organiser shows."))


class HoursSerializer(serializers.Serializer):
    hours = serializers.DecimalField(max_digits=6, decimal_places=2,
                                     help_text=_("Hours served, to one decimal."))


class ActivityViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, ScopedReadOnlyViewSet):
    """Volunteer activities, with places taken and the length of the waiting list; create and
    change them, sign people up (`signups/`), issue the check-in code (`checkin-code/`)."""

    queryset = Activity.objects.select_related("org_unit", "team")
    serializer_class = ActivitySerializer
    permission_classes = [StepPermissions]
    step_actions = {"signups", "checkin_code"}
    filterset_class = ActivityFilter
    search_fields = ["title", "place"]
    ordering_fields = ["starts_at"]
    ordering = ["-starts_at", "-pk"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action in ("list", "retrieve"):
            queryset = queryset.annotate(places_taken=PLACES_TAKEN, waiting=WAITING)
        return queryset

    def get_serializer_class(self):
        if self.action in ("create", "update", "partial_update"):
            return ActivityWriteSerializer
        return super().get_serializer_class()

    def _answer(self, activity, status_code=status.HTTP_200_OK):
        fresh = (super().get_queryset().annotate(places_taken=PLACES_TAKEN, waiting=WAITING)
                 .get(pk=activity.pk))
        return Response(ActivitySerializer(fresh, context=self.get_serializer_context()).data,
                        status=status_code)

    @extend_schema(request=ActivityWriteSerializer, responses={201: ActivitySerializer})
    def create(self, request, *args, **kwargs):
        data = validated(ActivityWriteSerializer, request)
        activity = call(lambda: services.create_activity(request.user, **data))
        return self._answer(activity, status.HTTP_201_CREATED)

    @extend_schema(request=ActivityWriteSerializer, responses={200: ActivitySerializer})
    def update(self, request, *args, **kwargs):
        activity = self.get_object()
        data = validated(ActivityWriteSerializer, request, partial=kwargs.get("partial", False))
        call(lambda: services.update_activity(request.user, activity, **data))
        return self._answer(activity)

    @extend_schema(request=ActivityWriteSerializer, responses={200: ActivitySerializer})
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    @step("signups", SignUpSerializer, {201: SignupSerializer},
          _("Sign a person up (a full activity puts them on the waiting list)"))
    def signups(self, request, pk=None):
        activity = self.get_object()
        data = validated(SignUpSerializer, request)
        signup = call(lambda: services.sign_up(request.user, activity, data["person"]))
        fresh = ActivitySignup.objects.select_related("activity", "person").get(pk=signup.pk)
        return Response(SignupSerializer(fresh).data, status=status.HTTP_201_CREATED)

    @step("checkin-code", None, {200: CheckinCodeSerializer},
          _("Issue a new one-time check-in code (replaces the last one)"))
    def checkin_code(self, request, pk=None):
        activity = self.get_object()
        code = call(lambda: services.issue_checkin_code(request.user, activity))
        return Response(CheckinCodeSerializer({
            "code": code, "opens_at": activity.checkin_opens_at,
            "closes_at": activity.checkin_closes_at,
        }).data)


class SignupFilter(AncestorFilterSet):
    ancestor_path = "activity__org_unit"
    activity = IdFilter(field_name="activity_id", label=_("activity id"))
    person = IdFilter(field_name="person_id", label=_("person id"))
    status = django_filters.MultipleChoiceFilter(choices=SignupStatus.choices,
                                                 label=_("status"), distinct=False)

    class Meta:
        model = ActivitySignup
        fields = ["ancestor", "activity", "person", "status"]


class ActivitySignupViewSet(ScopedReadOnlyViewSet):
    """Sign-ups for activities, in the order of the waiting list; `confirm/`, `cancel/`,
    `check-in/` (with the organiser's code) and `approve-hours/` (after the activity)."""

    queryset = ActivitySignup.objects.select_related("activity", "person")
    serializer_class = SignupSerializer
    permission_classes = [StepPermissions]
    step_actions = {"confirm", "cancel", "check_in", "approve_hours"}
    filterset_class = SignupFilter
    ordering = ["activity", "position"]

    def _answer(self, signup):
        fresh = self.get_queryset().get(pk=signup.pk)
        return Response(SignupSerializer(fresh).data)

    @step("confirm", None, {200: SignupSerializer}, _("Confirm a place"))
    def confirm(self, request, pk=None):
        signup = self.get_object()
        return self._answer(call(lambda: services.confirm_signup(request.user, signup)))

    @step("cancel", None, {200: SignupSerializer},
          _("Cancel (the first on the waiting list takes the place)"))
    def cancel(self, request, pk=None):
        signup = self.get_object()
        return self._answer(call(lambda: services.cancel_signup(request.user, signup)))

    @step("check-in", CheckInSerializer, {200: SignupSerializer},
          _("Check the person in with the code the organiser shows"))
    def check_in(self, request, pk=None):
        signup = self.get_object()
        data = validated(CheckInSerializer, request)
        return self._answer(call(lambda: services.check_in(
            request.user, signup.activity, signup.person, data["code"]
        )))

    @step("approve-hours", HoursSerializer, {201: ServiceHoursSerializer},
          _("Approve the hours of a person who checked in (pays the points once)"))
    def approve_hours(self, request, pk=None):
        signup = self.get_object()
        data = validated(HoursSerializer, request)
        hours = call(lambda: services.approve_hours(request.user, signup, data["hours"]))
        fresh = ServiceHours.objects.select_related("activity", "person", "approved_by").get(
            pk=hours.pk
        )
        return Response(ServiceHoursSerializer(fresh).data, status=status.HTTP_201_CREATED)
