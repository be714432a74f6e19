"""API of 双报到 (work units, registrations, service records), posts and duties (设岗定责) and
normal/emergency switching (平急结合). Lists are scoped, foreign keys choose only within the
caller's scope, and every write goes through party_org.services.duties."""

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Count, DecimalField, Prefetch, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from .. import pii
from ..models import (
    EmergencyAcknowledgement,
    EmergencyActivation,
    EmergencyRole,
    InServiceRegistration,
    OrgUnit,
    PartyMember,
    Post,
    PostAssignment,
    PostKind,
    RegistrationEvaluation,
    ServiceRecord,
    WorkUnit,
)
from ..personal_data import reveal
from ..selectors import Subtree, org_units_for
from ..services import duties as services
from .base import MAX_ID, Conflict, IdFilter, ScopedModelViewSet, ScopedPrimaryKeyRelatedField
from .permissions import ScopedModelPermissions

ZERO_HOURS = Value(0, output_field=DecimalField(max_digits=9, decimal_places=1))


class ActionPermission(ScopedModelPermissions):
    """Custom actions need only read access here; the service checks the exact permission."""

    perms_map = {**ScopedModelPermissions.perms_map, "POST": ["%(app_label)s.view_%(model_name)s"]}


# Ids are BigAutoField values: anything outside 1..2**63-1 is refused before it reaches the
# database (where it would overflow the column type).


def _members():
    return PartyMember.objects.select_related("person", "org_unit")


class AncestorFilterSet(django_filters.FilterSet):
    """`ancestor=<unit id>`: rows whose unit (at `ancestor_path`) lies in that unit's subtree."""

    ancestor_path = ""
    ancestor = IdFilter(
        method="filter_ancestor", label=_("ancestor unit id (the whole subtree, itself included)")
    )

    def filter_ancestor(self, queryset, name, value):
        # The ancestor must itself be visible to the caller, else the answer is empty.
        node = org_units_for(self.request.user).filter(pk=value).first()
        if node is None:
            return queryset.none()
        return queryset.filter(Subtree.of(node).q(self.ancestor_path))


# ---- work units ------------------------------------------------------------------------------


class WorkUnitSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = WorkUnit
        fields = [
            "id", "name", "kind", "kind_display", "party_organisation", "contact_name",
            "contact_phone", "address",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["contact_phone"] = reveal(
            None, "phone", instance.contact_phone, pii.mask_phone(instance.contact_phone),
            "api:work-units",
        )
        return data


class WorkUnitFilter(django_filters.FilterSet):
    class Meta:
        model = WorkUnit
        fields = ["kind"]


class WorkUnitViewSet(ScopedModelViewSet):
    """Employer units of in-service members (city-wide reference data)."""

    queryset = WorkUnit.objects.all()
    serializer_class = WorkUnitSerializer
    filterset_class = WorkUnitFilter
    search_fields = ["name", "party_organisation", "contact_name"]
    ordering_fields = ["name", "kind"]
    ordering = ["name"]

    def perform_create(self, serializer):
        serializer.instance = services.create_work_unit(
            self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.update_work_unit(
            self.request.user, serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        try:
            services.delete_work_unit(self.request.user, instance)
        except ValidationError as error:
            raise Conflict(" ".join(error.messages)) from None


# ---- 双报到 ------------------------------------------------------------------------------------


class EvaluationSerializer(serializers.ModelSerializer):
    rating_display = serializers.CharField(source="get_rating_display", read_only=True)

    class Meta:
        model = RegistrationEvaluation
        fields = ["id", "year", "rating", "rating_display", "comment"]


class RegistrationSerializer(serializers.ModelSerializer):
    member = ScopedPrimaryKeyRelatedField(queryset=_members())
    member_name = serializers.CharField(source="member.person.name", read_only=True)
    work_unit = ScopedPrimaryKeyRelatedField(queryset=WorkUnit.objects.all())
    work_unit_name = serializers.CharField(source="work_unit.name", read_only=True)
    branch = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    branch_name = serializers.CharField(source="branch.name", read_only=True)
    post = ScopedPrimaryKeyRelatedField(
        queryset=Post.objects.select_related("org_unit"), allow_null=True, required=False
    )
    post_name = serializers.CharField(source="post.name", read_only=True, default="")
    service_count = serializers.IntegerField(read_only=True)
    service_hours = serializers.DecimalField(max_digits=9, decimal_places=1, read_only=True)
    evaluations = EvaluationSerializer(many=True, read_only=True)

    class Meta:
        model = InServiceRegistration
        fields = [
            "id", "member", "member_name", "work_unit", "work_unit_name", "branch",
            "branch_name", "registered_on", "commitment", "post", "post_name", "status",
            "ended_on", "service_count", "service_hours", "evaluations",
        ]
        read_only_fields = ["status", "ended_on"]
        # One active registration per member and branch is checked by the service, in words.
        validators = []


class RegistrationFilter(AncestorFilterSet):
    ancestor_path = "branch"
    work_unit = IdFilter(field_name="work_unit_id", label=_("work unit id"))
    branch = IdFilter(field_name="branch_id", label=_("branch id"))
    member = IdFilter(field_name="member_id", label=_("party member id"))
    status = django_filters.ChoiceFilter(
        choices=InServiceRegistration.Status.choices, label=_("status")
    )

    class Meta:
        model = InServiceRegistration
        fields = ["work_unit", "branch", "member", "status", "ancestor"]


class EndSerializer(serializers.Serializer):
    ended_on = serializers.DateField(required=False, allow_null=True)


class RegistrationViewSet(ScopedModelViewSet):
    """In-service members registered with the branch where they live (双报到)."""

    queryset = InServiceRegistration.objects.all()
    serializer_class = RegistrationSerializer
    filterset_class = RegistrationFilter
    search_fields = ["member__person__name", "work_unit__name", "branch__name"]
    ordering_fields = ["registered_on", "member__person__name", "service_hours"]
    ordering = ["-registered_on", "pk"]

    def get_queryset(self):
        return (
            super().get_queryset()
            .select_related("member__person", "work_unit", "branch", "post")
            .prefetch_related(
                Prefetch("evaluations", queryset=RegistrationEvaluation.objects.order_by("-year"))
            )
            .annotate(
                service_count=Count("service_records"),
                service_hours=Coalesce(Sum("service_records__hours"), ZERO_HOURS),
            )
        )

    def _fresh(self, pk):
        return self.get_queryset().get(pk=pk)

    def perform_create(self, serializer):
        data = serializer.validated_data
        registration = services.register_in_service(
            self.request.user, member=data["member"], work_unit=data["work_unit"],
            branch=data["branch"], registered_on=data["registered_on"],
            commitment=data["commitment"], post=data.get("post"),
        )
        serializer.instance = self._fresh(registration.pk)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        instance = serializer.instance
        fixed = {
            name: _("The member and the branch of a registration cannot change; end it and "
                    "register again.")
            for name in ("member", "branch")
            if name in data and data.pop(name).pk != getattr(instance, f"{name}_id")
        }
        if fixed:
            raise serializers.ValidationError(fixed)
        services.update_registration(self.request.user, instance, **data)
        serializer.instance = self._fresh(instance.pk)

    def perform_destroy(self, instance):
        try:
            services.delete_registration(self.request.user, instance)
        except ValidationError as error:
            raise Conflict(" ".join(error.messages)) from None

    @extend_schema(request=EndSerializer, responses=RegistrationSerializer)
    @action(detail=True, methods=["post"], permission_classes=[ActionPermission],
            serializer_class=EndSerializer)
    def end(self, request, pk=None):
        """End the registration (default: today)."""
        registration = self.get_object()
        serializer = EndSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.end_registration(
            request.user, registration, serializer.validated_data.get("ended_on")
        )
        return Response(RegistrationSerializer(self._fresh(registration.pk)).data)

    @extend_schema(request=EvaluationSerializer, responses=EvaluationSerializer)
    @action(detail=True, methods=["post"], permission_classes=[ActionPermission],
            serializer_class=EvaluationSerializer)
    def evaluate(self, request, pk=None):
        """The branch's evaluation for a year; posting a year again replaces it."""
        registration = self.get_object()
        serializer = EvaluationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        evaluation = services.evaluate_registration(
            request.user, registration, data["year"], data["rating"], data.get("comment", "")
        )
        return Response(EvaluationSerializer(evaluation).data, status=status.HTTP_200_OK)


class ServiceRecordSerializer(serializers.ModelSerializer):
    registration = ScopedPrimaryKeyRelatedField(
        queryset=InServiceRegistration.objects.select_related("branch", "member__person")
    )
    member_name = serializers.CharField(source="registration.member.person.name", read_only=True)
    hours = serializers.DecimalField(max_digits=5, decimal_places=1)

    class Meta:
        model = ServiceRecord
        fields = ["id", "registration", "member_name", "served_on", "hours", "activity"]


class ServiceRecordFilter(AncestorFilterSet):
    ancestor_path = "registration__branch"
    registration = IdFilter(
        field_name="registration_id", label=_("registration id")
    )
    work_unit = IdFilter(
        field_name="registration__work_unit_id", label=_("work unit id")
    )
    served_from = django_filters.DateFilter(
        field_name="served_on", lookup_expr="gte", label=_("served on or after")
    )
    served_to = django_filters.DateFilter(
        field_name="served_on", lookup_expr="lte", label=_("served on or before")
    )

    class Meta:
        model = ServiceRecord
        fields = ["registration", "work_unit", "served_from", "served_to", "ancestor"]


class ServiceRecordViewSet(ScopedModelViewSet):
    """Service done by registered in-service members."""

    queryset = ServiceRecord.objects.select_related(
        "registration__member__person", "registration__branch"
    )
    serializer_class = ServiceRecordSerializer
    filterset_class = ServiceRecordFilter
    search_fields = ["activity", "registration__member__person__name"]
    ordering_fields = ["served_on", "hours"]
    ordering = ["-served_on", "-pk"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.record_service(
            self.request.user, data["registration"], data["served_on"], data["hours"],
            data["activity"],
        )

    def perform_update(self, serializer):
        record, data = serializer.instance, serializer.validated_data
        if "registration" in data and data["registration"].pk != record.registration_id:
            raise serializers.ValidationError(
                {"registration": [_("A service record stays with its registration.")]}
            )
        serializer.instance = services.update_service_record(
            self.request.user, record,
            served_on=data.get("served_on", record.served_on),
            hours=data.get("hours", record.hours),
            activity=data.get("activity", record.activity),
        )

    def perform_destroy(self, instance):
        services.delete_service_record(self.request.user, instance)


# ---- 设岗定责 ----------------------------------------------------------------------------------


class HolderSerializer(serializers.ModelSerializer):
    member_name = serializers.CharField(source="member.person.name", read_only=True)

    class Meta:
        model = PostAssignment
        fields = ["id", "member", "member_name", "started_on"]


class PostSerializer(serializers.ModelSerializer):
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    holders = HolderSerializer(source="current_assignments", many=True, read_only=True)

    class Meta:
        model = Post
        fields = [
            "id", "org_unit", "org_unit_name", "kind", "kind_display", "name", "duties",
            "is_active", "holders",
        ]
        validators = []  # a unique name per branch is checked by the service, in words


class PostFilter(AncestorFilterSet):
    ancestor_path = "org_unit"
    org_unit = IdFilter(field_name="org_unit_id", label=_("branch id"))
    kind = django_filters.MultipleChoiceFilter(choices=PostKind.choices, label=_("kind"))
    is_active = django_filters.BooleanFilter(label=_("active"))

    class Meta:
        model = Post
        fields = ["org_unit", "kind", "is_active", "ancestor"]


class PostViewSet(ScopedModelViewSet):
    """Posts with duties set up by branches (设岗定责), with who holds them now."""

    queryset = Post.objects.all()
    serializer_class = PostSerializer
    filterset_class = PostFilter
    search_fields = ["name", "duties", "org_unit__name"]
    ordering_fields = ["name", "kind"]
    ordering = ["org_unit__tree_id", "org_unit__lft", "name"]

    def get_queryset(self):
        current = PostAssignment.objects.filter(ended_on__isnull=True).select_related(
            "member__person"
        ).order_by("started_on", "pk")
        return super().get_queryset().select_related("org_unit").prefetch_related(
            Prefetch("assignments", queryset=current, to_attr="current_assignments")
        )

    def perform_create(self, serializer):
        data = serializer.validated_data
        post = services.create_post(
            self.request.user, org_unit=data["org_unit"], kind=data["kind"], name=data["name"],
            duties=data["duties"], is_active=data.get("is_active", True),
        )
        serializer.instance = self.get_queryset().get(pk=post.pk)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        post = serializer.instance
        if "org_unit" in data and data.pop("org_unit").pk != post.org_unit_id:
            raise serializers.ValidationError(
                {"org_unit": [_("A post stays with its branch; set up a new one instead.")]}
            )
        services.update_post(self.request.user, post, **data)
        serializer.instance = self.get_queryset().get(pk=post.pk)

    def perform_destroy(self, instance):
        try:
            services.delete_post(self.request.user, instance)
        except ValidationError as error:
            raise Conflict(" ".join(error.messages)) from None


class PostAssignmentSerializer(serializers.ModelSerializer):
    post = ScopedPrimaryKeyRelatedField(queryset=Post.objects.select_related("org_unit"))
    post_name = serializers.CharField(source="post.name", read_only=True)
    member = ScopedPrimaryKeyRelatedField(queryset=_members())
    member_name = serializers.CharField(source="member.person.name", read_only=True)

    class Meta:
        model = PostAssignment
        fields = ["id", "post", "post_name", "member", "member_name", "started_on", "ended_on"]


class PostAssignmentFilter(AncestorFilterSet):
    ancestor_path = "post__org_unit"
    post = IdFilter(field_name="post_id", label=_("post id"))
    member = IdFilter(field_name="member_id", label=_("party member id"))
    current = django_filters.BooleanFilter(
        field_name="ended_on", lookup_expr="isnull", label=_("current (not ended)")
    )

    class Meta:
        model = PostAssignment
        fields = ["post", "member", "current", "ancestor"]


class PostAssignmentViewSet(ScopedModelViewSet):
    """Members holding posts; PATCH `ended_on` to end an assignment."""

    queryset = PostAssignment.objects.select_related("post__org_unit", "member__person")
    serializer_class = PostAssignmentSerializer
    filterset_class = PostAssignmentFilter
    ordering_fields = ["started_on", "ended_on"]
    ordering = ["-started_on", "-pk"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        assignment = services.assign_post(
            self.request.user, data["post"], data["member"], data["started_on"],
            data.get("ended_on"),
        )
        serializer.instance = self.get_queryset().get(pk=assignment.pk)

    def perform_update(self, serializer):
        assignment, data = serializer.instance, serializer.validated_data
        fixed = {
            name: [_("Only the end date of an assignment can change.")]
            for name in ("post", "member", "started_on")
            if name in data and data[name] != getattr(assignment, name)
        }
        if fixed:
            raise serializers.ValidationError(fixed)
        if data.get("ended_on"):
            services.end_post_assignment(self.request.user, assignment, data["ended_on"])
        serializer.instance = self.get_queryset().get(pk=assignment.pk)

    def perform_destroy(self, instance):
        services.delete_post_assignment(self.request.user, instance)


# ---- 平急结合 ----------------------------------------------------------------------------------


class EmergencyRoleSerializer(serializers.ModelSerializer):
    member = ScopedPrimaryKeyRelatedField(queryset=_members())
    member_name = serializers.CharField(source="member.person.name", read_only=True)
    place = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    place_name = serializers.CharField(source="place.name", read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = EmergencyRole
        fields = [
            "id", "member", "member_name", "kind", "kind_display", "place", "place_name",
            "duties",
        ]


class EmergencyRoleFilter(AncestorFilterSet):
    ancestor_path = "place"

    class Meta:
        model = EmergencyRole
        fields = ["kind", "ancestor"]


class EmergencyRoleViewSet(ScopedModelViewSet):
    """Members' pre-assigned emergency roles (急时对号入座)."""

    queryset = EmergencyRole.objects.select_related("member__person", "place")
    serializer_class = EmergencyRoleSerializer
    filterset_class = EmergencyRoleFilter
    search_fields = ["member__person__name", "place__name", "duties"]
    ordering = ["place__tree_id", "place__lft", "member__person__name"]

    def _save(self, serializer, member):
        data = serializer.validated_data
        role = services.set_emergency_role(
            self.request.user, member, data["kind"], data["place"], data.get("duties", "")
        )
        serializer.instance = self.get_queryset().get(pk=role.pk)

    def perform_create(self, serializer):
        self._save(serializer, serializer.validated_data["member"])

    def perform_update(self, serializer):
        role = serializer.instance
        data = serializer.validated_data
        if "member" in data and data["member"].pk != role.member_id:
            raise serializers.ValidationError(
                {"member": [_("An emergency role stays with its member.")]}
            )
        data.setdefault("kind", role.kind)
        data.setdefault("place", role.place)
        data.setdefault("duties", role.duties)
        self._save(serializer, role.member)

    def perform_destroy(self, instance):
        services.remove_emergency_role(self.request.user, instance)


class AcknowledgementSerializer(serializers.ModelSerializer):
    member_name = serializers.CharField(source="member.person.name", read_only=True)
    place_name = serializers.CharField(source="place.name", read_only=True)
    role_display = serializers.CharField(source="get_role_kind_display", read_only=True)

    class Meta:
        model = EmergencyAcknowledgement
        fields = [
            "id", "member", "member_name", "role_kind", "role_display", "place", "place_name",
            "acknowledged_at", "note",
        ]


class AcknowledgementCountsSerializer(serializers.Serializer):
    called = serializers.IntegerField()
    acknowledged = serializers.IntegerField()
    pending = serializers.IntegerField()


class EmergencyActivationSerializer(serializers.ModelSerializer):
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)
    started_by = serializers.CharField(source="started_by.username", read_only=True, default="")
    is_open = serializers.SerializerMethodField()
    acknowledgements = serializers.SerializerMethodField()

    class Meta:
        model = EmergencyActivation
        fields = [
            "id", "org_unit", "org_unit_name", "title", "reason", "started_by", "started_at",
            "ended_at", "is_open", "acknowledgements",
        ]
        read_only_fields = ["started_at", "ended_at"]

    def get_is_open(self, obj) -> bool:
        return obj.ended_at is None

    @extend_schema_field(AcknowledgementCountsSerializer)
    def get_acknowledgements(self, obj):
        return {
            "called": obj.called,
            "acknowledged": obj.acknowledged,
            "pending": obj.called - obj.acknowledged,
        }


class EmergencyActivationDetailSerializer(EmergencyActivationSerializer):
    members = AcknowledgementSerializer(source="acknowledgements", many=True, read_only=True)

    class Meta(EmergencyActivationSerializer.Meta):
        fields = [*EmergencyActivationSerializer.Meta.fields, "members"]


class EmergencyActivationFilter(AncestorFilterSet):
    ancestor_path = "org_unit"
    is_open = django_filters.BooleanFilter(
        field_name="ended_at", lookup_expr="isnull", label=_("open")
    )

    class Meta:
        model = EmergencyActivation
        fields = ["is_open", "ancestor"]


class AcknowledgeSerializer(serializers.Serializer):
    member = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text=_("party member id")
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=200)


class EmergencyActivationViewSet(ScopedModelViewSet):
    """Emergency activations (平急转换): POST to start one for a unit's subtree; the detail lists
    every member called, acknowledged or not."""

    queryset = EmergencyActivation.objects.select_related("org_unit", "started_by")
    serializer_class = EmergencyActivationSerializer
    filterset_class = EmergencyActivationFilter
    search_fields = ["title", "org_unit__name"]
    ordering = ["-started_at", "-pk"]
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        queryset = super().get_queryset().annotate(
            called=Count("acknowledgements"),
            acknowledged=Count(
                "acknowledgements", filter=Q(acknowledgements__acknowledged_at__isnull=False)
            ),
        )
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(
                Prefetch(
                    "acknowledgements",
                    queryset=EmergencyAcknowledgement.objects.select_related(
                        "member__person", "place"
                    ).order_by("acknowledged_at", "member__person__name", "pk"),
                )
            )
        return queryset

    def get_serializer_class(self):
        if self.action == "retrieve":
            return EmergencyActivationDetailSerializer
        return super().get_serializer_class()

    def perform_create(self, serializer):
        data = serializer.validated_data
        activation = services.activate_emergency(
            self.request.user, data["org_unit"], data["title"], data.get("reason", "")
        )
        serializer.instance = self.get_queryset().get(pk=activation.pk)

    @extend_schema(request=None, responses=EmergencyActivationSerializer)
    @action(detail=True, methods=["post"], permission_classes=[ActionPermission])
    def end(self, request, pk=None):
        """Switch back to normal times."""
        activation = self.get_object()
        services.end_emergency(request.user, activation)
        return Response(EmergencyActivationSerializer(self.get_queryset().get(pk=pk)).data)

    @extend_schema(request=AcknowledgeSerializer, responses=AcknowledgementSerializer)
    @action(detail=True, methods=["post"], permission_classes=[ActionPermission],
            serializer_class=AcknowledgeSerializer)
    def acknowledge(self, request, pk=None):
        """Record that a called member has reported (repeating it changes nothing)."""
        activation = self.get_object()
        serializer = AcknowledgeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ack = (
            activation.acknowledgements.select_related("member__person", "place")
            .filter(member_id=serializer.validated_data["member"])
            .first()
        )
        if ack is None:
            raise serializers.ValidationError(
                {"member": [_("This member was not called by this emergency.")]}
            )
        ack.activation = activation
        ack = services.acknowledge(request.user, ack, serializer.validated_data.get("note", ""))
        return Response(AcknowledgementSerializer(ack).data)


def register(router):
    """Add this area's viewsets to the /api/v1/ router."""
    router.register("work-units", WorkUnitViewSet, basename="workunit")
    router.register("registrations", RegistrationViewSet, basename="registration")
    router.register("service-records", ServiceRecordViewSet, basename="servicerecord")
    router.register("posts", PostViewSet, basename="post")
    router.register("post-assignments", PostAssignmentViewSet, basename="postassignment")
    router.register("emergency-roles", EmergencyRoleViewSet, basename="emergencyrole")
    router.register(
        "emergency-activations", EmergencyActivationViewSet, basename="emergencyactivation"
    )
