"""Micro-wishes API: list, read, enter a wish taken by phone; then the steps of 派单 / 接单 as
POST routes (`/wishes/{id}/dispatch/`, `reject/`, `claim/`, `fulfil/`), each calling its
service in volunteers.services.wishes, which decides what is legal (400) and who may (403).
The contact phone is masked unless the reader may view personal data.
"""

import datetime as dt

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from grids.api.gridding import AncestorFilterSet
from grids.models import Building, Compound
from party_org import pii
from party_org.api.base import MAX_ID, ScopedPrimaryKeyRelatedField
from party_org.api.permissions import ScopedModelPermissions
from party_org.models import OrgUnit, PartyMember, Person, Post
from party_org.personal_data import reveal

from .. import selectors
from ..models import MicroWish, WishAction, WishCategory, WishLog, WishStatus
from ..services import wishes as services

A = WishAction
STEP_ROUTES = {A.DISPATCH: "dispatch", A.REJECT: "reject", A.CLAIM: "claim", A.FULFIL: "fulfil"}
# The view methods (`dispatch` is taken by APIView, so that one is `dispatch_step`).
STEP_VIEW_ACTIONS = {"dispatch_step", "reject", "claim", "fulfil"}


class WishPermissions(ScopedModelPermissions):
    """Model permissions; the step routes need only the view permission: the service decides."""

    def has_permission(self, request, view):
        if getattr(view, "action", None) in STEP_VIEW_ACTIONS:
            user = request.user
            return bool(user and user.is_authenticated
                        and user.has_perm("volunteers.view_microwish"))
        return super().has_permission(request, view)


def local_day_start(day):
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min),
                               timezone.get_default_timezone())


class NamedRefSerializer(serializers.Serializer):
    """{id, name} of a unit, compound, team, item or person."""

    id = serializers.IntegerField()
    name = serializers.CharField()


class WishLogSerializer(serializers.ModelSerializer):
    action_display = serializers.CharField(source="get_action_display", read_only=True)
    actor = serializers.SerializerMethodField()

    class Meta:
        model = WishLog
        fields = ["id", "action", "action_display", "from_status", "to_status", "actor",
                  "actor_label", "note", "at"]
        read_only_fields = fields

    def get_actor(self, obj) -> str | None:
        return obj.actor.get_username() if obj.actor_id else None


class WishSerializer(serializers.ModelSerializer):
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    category_display = serializers.CharField(source="get_category_display", read_only=True)
    org_unit = NamedRefSerializer(read_only=True)
    compound = NamedRefSerializer(read_only=True)
    building = serializers.CharField(source="building.number", read_only=True, allow_null=True,
                                     default=None)
    contact_phone = serializers.SerializerMethodField(
        help_text=_("Masked unless you may view personal data.")
    )
    claimed_by = serializers.CharField(source="claimed_by.name", read_only=True,
                                       allow_null=True, default=None)
    dispatched_to = serializers.SerializerMethodField()

    class Meta:
        model = MicroWish
        fields = [
            "id", "tracking_code", "status", "status_display", "category", "category_display",
            "org_unit", "compound", "building", "wish", "contact_name", "contact_phone",
            "dispatched_to", "rejection_reason", "claimed_by", "claim_expires_at",
            "fulfilment_note", "rating", "rating_comment", "points_paid", "submitted_at",
            "dispatched_at", "claimed_at", "fulfilled_at", "rated_at",
        ]
        read_only_fields = fields

    def get_contact_phone(self, obj) -> str:
        return reveal(None, "phone", obj.contact_phone, pii.mask_phone(obj.contact_phone),
                      "api:wishes")

    def get_dispatched_to(self, obj) -> dict | None:
        if obj.dispatched_to_member_id:
            return {"kind": "member", "id": obj.dispatched_to_member_id,
                    "name": obj.dispatched_to_member.person.name}
        if obj.dispatched_to_post_id:
            return {"kind": "post", "id": obj.dispatched_to_post_id,
                    "name": obj.dispatched_to_post.name}
        if obj.dispatched_to_unit_id:
            return {"kind": "unit", "id": obj.dispatched_to_unit_id,
                    "name": obj.dispatched_to_unit.name}
        return None


class WishDetailSerializer(WishSerializer):
    allowed_actions = serializers.SerializerMethodField()

    class Meta(WishSerializer.Meta):
        fields = [*WishSerializer.Meta.fields, "allowed_actions"]
        read_only_fields = fields

    def get_allowed_actions(self, obj) -> list[str]:
        request = self.context.get("request")
        return [str(a) for a in services.allowed_actions(getattr(request, "user", None), obj)]


class WishFilter(AncestorFilterSet):
    ancestor_path = "org_unit"
    status = django_filters.MultipleChoiceFilter(choices=WishStatus.choices, label=_("status"),
                                                 distinct=False)
    category = django_filters.MultipleChoiceFilter(choices=WishCategory.choices,
                                                   label=_("category"), distinct=False)
    submitted_after = django_filters.DateFilter(
        method="filter_after", label=_("submitted on or after (local date)"))
    submitted_before = django_filters.DateFilter(
        method="filter_before", label=_("submitted on or before (local date)"))

    class Meta:
        model = MicroWish
        fields = ["status", "category", "ancestor", "submitted_after", "submitted_before"]

    def filter_after(self, queryset, name, value):
        return queryset.filter(submitted_at__gte=local_day_start(value))

    def filter_before(self, queryset, name, value):
        return queryset.filter(submitted_at__lt=local_day_start(value + dt.timedelta(days=1)))


class WishCreateSerializer(serializers.Serializer):
    compound = ScopedPrimaryKeyRelatedField(queryset=Compound.objects.select_related("org_unit"))
    building = ScopedPrimaryKeyRelatedField(queryset=Building.objects.all(), allow_null=True,
                                            required=False)
    wish = serializers.CharField(max_length=500)
    category = serializers.ChoiceField(choices=WishCategory.choices)
    contact_name = serializers.CharField(max_length=40, required=False, allow_blank=True,
                                         default="")
    contact_phone = serializers.CharField(max_length=20)


class IdField(serializers.IntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class DispatchSerializer(serializers.Serializer):
    unit = IdField(required=False, allow_null=True, help_text=_("A unit id."))
    post = IdField(required=False, allow_null=True, help_text=_("A post id."))
    member = IdField(required=False, allow_null=True, help_text=_("A party member id."))
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, help_text=_("Shown to the resident."))


class ClaimSerializer(serializers.Serializer):
    person = IdField(help_text=_("The id of the member or volunteer who takes the wish."))


class FulfilSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=1000, help_text=_("What was done."))


def _service_errors(error, rename=None):
    rename = rename or {}
    if hasattr(error, "error_dict"):
        return ValidationError({
            rename.get(key, key): [str(m) for m in DjangoValidationError(msgs).messages]
            for key, msgs in error.error_dict.items()
        })
    return ValidationError({"detail": [str(m) for m in error.messages]})


def _step(step, body_serializer, summary):
    def decorate(func):
        routed = action(detail=True, methods=["post"], url_path=STEP_ROUTES[step],
                        filter_backends=[], serializer_class=body_serializer)(func)
        # After @action, which would replace the schema kept on the function.
        return extend_schema(request=body_serializer, responses={200: WishDetailSerializer},
                             summary=summary)(routed)

    return decorate


def _lookup(queryset, pk, field, message):
    row = queryset.filter(pk=pk).first()
    if row is None:
        raise ValidationError({field: [message]})
    return row


class WishViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                  viewsets.GenericViewSet):
    """Micro-wishes (微心愿): list, read, enter; then 派单, reject, 接单 and fulfilment as POST
    routes. No PUT, PATCH or DELETE: a wish changes only through its steps."""

    queryset = MicroWish.objects.select_related(
        "org_unit", "compound", "building", "claimed_by", "dispatched_to_unit",
        "dispatched_to_post", "dispatched_to_member__person",
    )
    permission_classes = [WishPermissions]
    filterset_class = WishFilter
    search_fields = ["wish", "tracking_code"]
    ordering_fields = ["submitted_at", "status"]
    ordering = ["-submitted_at", "-pk"]

    def get_queryset(self):
        return selectors.wishes_visible_to(self.request.user, super().get_queryset())

    def get_serializer_class(self):
        if self.action == "list":
            return WishSerializer
        if self.action == "create":
            return WishCreateSerializer
        if self.action in STEP_VIEW_ACTIONS:
            return self.serializer_class
        if self.action == "logs":
            return WishLogSerializer
        return WishDetailSerializer

    def _answer(self, wish, status_code=status.HTTP_200_OK):
        fresh = self.get_queryset().get(pk=wish.pk)
        return Response(WishDetailSerializer(fresh, context=self.get_serializer_context()).data,
                        status=status_code)

    def _body(self, request):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        return body.validated_data

    def _run(self, step, rename=None):
        try:
            wish = step()
        except DjangoValidationError as error:
            raise _service_errors(error, rename) from None
        return self._answer(wish)

    @extend_schema(request=WishCreateSerializer, responses={201: WishDetailSerializer})
    def create(self, request, *args, **kwargs):
        data = self._body(request)
        try:
            wish = services.submit_wish(request.user, **data)
        except DjangoValidationError as error:
            raise _service_errors(error) from None
        return self._answer(wish, status.HTTP_201_CREATED)

    @_step(A.DISPATCH, DispatchSerializer, "社区派单: send the wish to a unit, post or member")
    def dispatch_step(self, request, pk=None):
        wish, data = self.get_object(), self._body(request)
        # Targets are checked for scope and fit by the service.
        unit = post = member = None
        if data.get("unit") is not None:
            unit = _lookup(OrgUnit.objects.all(), data["unit"], "unit", _("No such unit."))
        if data.get("post") is not None:
            post = _lookup(Post.objects.select_related("org_unit"), data["post"], "post",
                           _("No such post."))
        if data.get("member") is not None:
            member = _lookup(PartyMember.objects.select_related("person", "org_unit"),
                             data["member"], "member", _("No such member."))
        return self._run(lambda: services.dispatch_wish(
            request.user, wish, unit=unit, post=post, member=member, note=data["note"]
        ))

    @_step(A.REJECT, RejectSerializer, "Reject the wish with a reason the resident sees")
    def reject(self, request, pk=None):
        wish, data = self.get_object(), self._body(request)
        return self._run(lambda: services.reject_wish(request.user, wish, data["reason"]),
                         {"rejection_reason": "reason"})

    @_step(A.CLAIM, ClaimSerializer, "党员接单: record who takes the wish")
    def claim(self, request, pk=None):
        wish, data = self.get_object(), self._body(request)
        person = _lookup(Person.objects.all(), data["person"], "person", _("No such person."))
        return self._run(lambda: services.claim_wish(request.user, wish, person))

    @_step(A.FULFIL, FulfilSerializer, "Record what was done")
    def fulfil(self, request, pk=None):
        wish, data = self.get_object(), self._body(request)
        return self._run(lambda: services.record_fulfilment(request.user, wish,
                                                            note=data["note"]),
                         {"fulfilment_note": "note"})

    @extend_schema(responses={200: WishLogSerializer(many=True)}, filters=False)
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def logs(self, request, pk=None):
        """The wish's log, oldest first."""
        wish = self.get_object()
        rows = wish.logs.select_related("actor").order_by("at", "pk")
        return Response(WishLogSerializer(rows, many=True).data)



def register(router):
    router.register("wishes", WishViewSet, basename="microwish")
