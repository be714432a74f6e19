"""Manual points adjustments: one member of staff asks (`POST /points-adjustments/`), another
approves or rejects (`approve/`, `reject/`); an approval posts the ledger entry. Through
volunteers.services.ledger, which checks the permissions, the scope and the second person."""

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from grids.api.gridding import AncestorFilterSet
from party_org.api.base import IdFilter, ScopedPrimaryKeyRelatedField, ScopedReadOnlyViewSet
from party_org.models import Person

from ..models import PointsAdjustment, PointsKind
from ..services import ledger as services
from .base import StepPermissions, call, step, validated
from .records import PersonRefSerializer

Status = PointsAdjustment.Status


class AdjustmentSerializer(serializers.ModelSerializer):
    person = PersonRefSerializer(source="account.person", read_only=True)
    kind = serializers.CharField(source="account.kind", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    requested_by = serializers.CharField(source="requested_by.get_username", read_only=True)
    decided_by = serializers.CharField(source="decided_by.get_username", read_only=True,
                                       allow_null=True, default=None)

    class Meta:
        model = PointsAdjustment
        fields = ["id", "person", "kind", "amount", "reason", "status", "status_display",
                  "requested_by", "requested_at", "decided_by", "decided_at", "decision_note",
                  "entry"]
        read_only_fields = fields


class AdjustmentRequestSerializer(serializers.Serializer):
    person = ScopedPrimaryKeyRelatedField(queryset=Person.objects.select_related("org_unit"))
    kind = serializers.ChoiceField(choices=PointsKind.choices)
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2,
        help_text=_("Points to add, or a negative number to take away."),
    )
    reason = serializers.CharField(max_length=300)


class DecisionSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class RejectionSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=300, help_text=_("Why the adjustment is rejected."))


class AdjustmentFilter(AncestorFilterSet):
    ancestor_path = "account__person__org_unit"
    person = IdFilter(field_name="account__person_id", label=_("person id"))
    kind = django_filters.ChoiceFilter(field_name="account__kind", choices=PointsKind.choices,
                                       label=_("kind"))
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, label=_("status"),
                                                 distinct=False)

    class Meta:
        model = PointsAdjustment
        fields = ["ancestor", "person", "kind", "status"]


class PointsAdjustmentViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    """Manual adjustments of points: asked for by one member of staff, approved or rejected by
    another."""

    queryset = PointsAdjustment.objects.select_related(
        "account__person", "requested_by", "decided_by"
    )
    serializer_class = AdjustmentSerializer
    permission_classes = [StepPermissions]
    step_actions = {"approve", "reject"}
    filterset_class = AdjustmentFilter
    ordering = ["-requested_at", "-pk"]

    def get_serializer_class(self):
        if self.action == "create":
            return AdjustmentRequestSerializer
        return super().get_serializer_class()

    def _answer(self, adjustment, status_code=status.HTTP_200_OK):
        fresh = self.get_queryset().get(pk=adjustment.pk)
        return Response(AdjustmentSerializer(fresh).data, status=status_code)

    @extend_schema(request=AdjustmentRequestSerializer, responses={201: AdjustmentSerializer})
    def create(self, request, *args, **kwargs):
        data = validated(AdjustmentRequestSerializer, request)
        adjustment = call(lambda: services.request_adjustment(
            request.user, data["person"], data["kind"], data["amount"], data["reason"]
        ))
        return self._answer(adjustment, status.HTTP_201_CREATED)

    @step("approve", DecisionSerializer, {200: AdjustmentSerializer},
          _("Approve: the points are posted to the ledger"))
    def approve(self, request, pk=None):
        adjustment = self.get_object()
        data = validated(DecisionSerializer, request)
        call(lambda: services.approve_adjustment(request.user, adjustment, data["note"]))
        return self._answer(adjustment)

    @step("reject", RejectionSerializer, {200: AdjustmentSerializer},
          _("Reject, with the reason"))
    def reject(self, request, pk=None):
        adjustment = self.get_object()
        data = validated(RejectionSerializer, request)
        call(lambda: services.reject_adjustment(request.user, adjustment, data["note"]),
             {"decision_note": "note"})
        return self._answer(adjustment)
