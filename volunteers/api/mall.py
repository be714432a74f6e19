"""Redemptions of mall items: list, read, redeem for a person (idempotent), cancel an unused one.
Both go through volunteers.services.mall, which takes the points and the stock in one
transaction and checks the exact permission and the scope."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from party_org.api.base import ScopedPrimaryKeyRelatedField, ScopedReadOnlyViewSet
from party_org.models import Person

from ..models import Redemption, RewardItem
from ..services import mall as services
from .base import StepPermissions, call, step, validated
from .records import RedemptionFilter, RedemptionSerializer

KEY_HEADER = "Idempotency-Key"
KEY_MAX = 64


class RedeemSerializer(serializers.Serializer):
    item = ScopedPrimaryKeyRelatedField(queryset=RewardItem.objects.select_related("merchant"))
    person = ScopedPrimaryKeyRelatedField(
        queryset=Person.objects.select_related("org_unit"),
        help_text=_("Whose points are spent: a person in your organisation."),
    )
    quantity = serializers.IntegerField(min_value=1, max_value=services.MAX_QUANTITY, default=1)
    idempotency_key = serializers.CharField(
        max_length=KEY_MAX, required=False, allow_blank=True,
        help_text=_("Or the Idempotency-Key header: a retried request with the same key pays "
                    "once and answers the same redemption."),
    )


class RedemptionViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    """Redemptions of mall items (points spent, code used or cancelled); redeem for a person
    and `cancel/` an unused one (points and stock come back)."""

    queryset = Redemption.objects.select_related("item", "person")
    serializer_class = RedemptionSerializer
    permission_classes = [StepPermissions]
    step_actions = {"cancel"}
    filterset_class = RedemptionFilter
    ordering = ["-created_at", "-pk"]

    def get_serializer_class(self):
        if self.action == "create":
            return RedeemSerializer
        return super().get_serializer_class()

    def _answer(self, redemption, status_code=status.HTTP_200_OK, headers=None):
        fresh = self.get_queryset().get(pk=redemption.pk)
        return Response(RedemptionSerializer(fresh).data, status=status_code, headers=headers)

    @extend_schema(
        request=RedeemSerializer,
        parameters=[OpenApiParameter(
            KEY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER,
            description=_("Up to 64 characters, chosen by the client for each new redemption "
                          "and sent again on a retry. Keys are per login."),
        )],
        responses={
            201: RedemptionSerializer,
            200: OpenApiResponse(RedemptionSerializer,
                                 description=_("A replay: the redemption made with this key.")),
        },
    )
    def create(self, request, *args, **kwargs):
        data = validated(RedeemSerializer, request)
        header = request.headers.get(KEY_HEADER, "").strip()
        field = data.get("idempotency_key", "").strip()
        if header and field and header != field:
            raise serializers.ValidationError({"idempotency_key": [
                _("The Idempotency-Key header and the idempotency_key field differ.")
            ]})
        key = header or field
        if len(key) > KEY_MAX:
            raise serializers.ValidationError({"idempotency_key": [
                _("The request key is too long (at most %(n)d characters).") % {"n": KEY_MAX}
            ]})
        # Keys are the client's own: another login's key never answers its redemption.
        scoped_key = f"api:{request.user.pk}:{key}" if key else None
        redemption = call(lambda: services.redeem(
            request.user, data["item"], data["person"], quantity=data["quantity"],
            idempotency_key=scoped_key,
        ), {"amount": "person"})  # not enough points: the person's balance
        if getattr(redemption, "replayed", False):
            return self._answer(redemption, headers={"Idempotent-Replayed": "true"})
        return self._answer(redemption, status.HTTP_201_CREATED)

    @step("cancel", None, {200: RedemptionSerializer},
          _("Cancel an unused redemption: the points and the stock come back"))
    def cancel(self, request, pk=None):
        redemption = self.get_object()
        call(lambda: services.cancel_redemption(request.user, redemption))
        return self._answer(redemption)
