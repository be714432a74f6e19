"""API of party_org: stations, branch funds, co-building units and the three lists, committees,
the top ten secretaries and the 五有 indicator.

Reads go through the scoped viewsets; every write calls a service (which checks permission and
scope again, and records the change), so the API and the admin obey the same rules.
"""

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ..models import (
    BranchFundEntry,
    CoBuildingAgreement,
    CommitteeMembership,
    CommitteeRole,
    FundCategory,
    ListItem,
    ListKind,
    OrgUnit,
    Person,
    ServiceStation,
    StationFunction,
    StationStandard,
    TopSecretaryEntry,
    TopSecretarySelection,
    WorkUnit,
)
from ..models.resources import STANDARD_ITEMS
from ..selectors import Subtree, org_units_for
from ..selectors_resources import (
    HAVES,
    as_date,
    attach_running_balances,
    five_haves,
    five_haves_summary,
)
from ..services import resources as services
from .base import IdFilter, ScopedPrimaryKeyRelatedField, ScopedViewSetMixin
from .serializers import OrgUnitBriefSerializer

CHECKLIST_CHOICES = [
    (code, label) for items in STANDARD_ITEMS.values() for code, label in items
]


# ---- shared filters --------------------------------------------------------------------------



class SubtreeFilterSet(django_filters.FilterSet):
    """`ancestor=<id>`: rows anywhere in that unit's subtree (the unit must be in scope)."""

    ancestor = IdFilter(
        method="filter_ancestor", label=_("ancestor unit id (the whole subtree, itself included)")
    )
    org_unit = IdFilter(field_name="org_unit_id", label=_("unit id"))

    def filter_ancestor(self, queryset, name, value):
        node = org_units_for(self.request.user).filter(pk=value).first()
        if node is None:
            return queryset.none()
        return queryset.filter(Subtree.of(node).q(queryset.model.scope_path))


class ReadCreateViewSet(
    ScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Rows that are created and then changed only through named actions, never edited."""


def _user(view):
    return view.request.user


# ---- service stations ------------------------------------------------------------------------


class StationFilter(SubtreeFilterSet):
    standard = django_filters.ChoiceFilter(choices=StationStandard.choices, label=_("standard"))

    class Meta:
        model = ServiceStation
        fields = ["ancestor", "org_unit", "standard"]


class StationSerializer(serializers.ModelSerializer):
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)
    functions = serializers.ListField(
        child=serializers.ChoiceField(choices=StationFunction.choices), required=False
    )
    checklist = serializers.ListField(
        child=serializers.ChoiceField(choices=CHECKLIST_CHOICES), required=False,
        help_text=_("Codes of the standard's items the station meets."),
    )
    function_count = serializers.SerializerMethodField()
    checklist_met = serializers.SerializerMethodField()
    checklist_total = serializers.IntegerField(read_only=True)
    meets_standard = serializers.BooleanField(read_only=True)

    class Meta:
        model = ServiceStation
        fields = [
            "id", "org_unit", "org_unit_name", "name", "address", "area_m2", "functions",
            "function_count", "opening_hours", "standard", "checklist", "checklist_met",
            "checklist_total", "meets_standard", "opened_on",
        ]

    def get_function_count(self, obj) -> int:
        return len(set(obj.functions or []))

    def get_checklist_met(self, obj) -> int:
        return len(set(obj.checklist or []))


class StationViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """Party–public service stations (党群服务站): area, functions and the standard's checklist."""

    queryset = ServiceStation.objects.select_related("org_unit")
    serializer_class = StationSerializer
    filterset_class = StationFilter
    search_fields = ["name", "address"]
    ordering_fields = ["name", "area_m2", "opened_on"]
    ordering = ["org_unit__tree_id", "org_unit__lft", "id"]

    def perform_create(self, serializer):
        station = ServiceStation(**serializer.validated_data)
        serializer.instance = services.save_station(_user(self), station)

    def perform_update(self, serializer):
        station = ServiceStation.objects.get(pk=serializer.instance.pk)
        for name, value in serializer.validated_data.items():
            setattr(station, name, value)
        serializer.instance = services.save_station(_user(self), station)

    def perform_destroy(self, instance):
        services.delete_station(_user(self), instance)


# ---- branch funds ----------------------------------------------------------------------------


class FundEntryFilter(SubtreeFilterSet):
    category = django_filters.MultipleChoiceFilter(
        choices=FundCategory.choices, label=_("category")
    )
    date_from = django_filters.DateFilter(
        field_name="entry_date", lookup_expr="gte", label=_("from (date)")
    )
    date_to = django_filters.DateFilter(
        field_name="entry_date", lookup_expr="lte", label=_("until (date)")
    )

    class Meta:
        model = BranchFundEntry
        fields = ["ancestor", "org_unit", "category", "date_from", "date_to"]


class FundEntrySerializer(serializers.ModelSerializer):
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)
    category_display = serializers.CharField(source="get_category_display", read_only=True)
    direction = serializers.SerializerMethodField()
    reversed_by = serializers.SerializerMethodField()
    recorded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    running_balance = serializers.DecimalField(
        max_digits=14, decimal_places=2, read_only=True,
        help_text=_("The branch's balance after this entry, in ledger order."),
    )

    class Meta:
        model = BranchFundEntry
        fields = [
            "id", "org_unit", "org_unit_name", "entry_date", "category", "category_display",
            "direction", "amount", "description", "reverses", "reversed_by", "running_balance",
            "recorded_by", "recorded_at",
        ]
        read_only_fields = fields

    def get_direction(self, obj) -> str:
        return "in" if obj.amount > 0 else "out"

    def get_reversed_by(self, obj) -> int | None:
        reversal = getattr(obj, "reversal", None)
        return reversal.pk if reversal is not None else None


class FundEntryCreateSerializer(serializers.Serializer):
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all(), label=_("branch"))
    entry_date = serializers.DateField(label=_("date"))
    category = serializers.ChoiceField(choices=FundCategory.choices, label=_("category"))
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, label=_("amount (yuan)"),
        help_text=_("Always positive; spending categories are recorded as money out."),
    )
    description = serializers.CharField(max_length=200, label=_("description"))


class ReversalSerializer(serializers.Serializer):
    entry_date = serializers.DateField(required=False, label=_("date"))
    reason = serializers.CharField(required=False, allow_blank=True, max_length=150)


class FundEntryViewSet(ReadCreateViewSet):
    """Branch funds (有钱办事): append-only entries, each with the branch's running balance.

    Create with a positive amount; a mistake is cancelled with `reverse`, never edited.
    """

    queryset = BranchFundEntry.objects.select_related("org_unit", "recorded_by", "reversal")
    filterset_class = FundEntryFilter
    search_fields = ["description"]
    ordering_fields = ["entry_date", "amount", "recorded_at"]
    ordering = ["org_unit__tree_id", "org_unit__lft", "entry_date", "id"]

    def get_serializer_class(self):
        if self.action == "create":
            return FundEntryCreateSerializer
        if self.action == "reverse":
            return ReversalSerializer
        return FundEntrySerializer

    def _entry_response(self, entry, code):
        entry = self.get_queryset().get(pk=entry.pk)
        attach_running_balances([entry])
        return Response(FundEntrySerializer(entry, context=self.get_serializer_context()).data,
                        status=code)

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = attach_running_balances(page if page is not None else queryset)
        data = FundEntrySerializer(rows, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request, *args, **kwargs):
        entry = self.get_object()
        attach_running_balances([entry])
        return Response(FundEntrySerializer(entry, context=self.get_serializer_context()).data)

    @extend_schema(request=FundEntryCreateSerializer, responses={201: FundEntrySerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry = services.record_fund_entry(request.user, **serializer.validated_data)
        return self._entry_response(entry, status.HTTP_201_CREATED)

    @extend_schema(request=ReversalSerializer, responses={201: FundEntrySerializer})
    @action(detail=True, methods=["post"])
    def reverse(self, request, pk=None):
        """Cancel this entry with a compensating entry of the opposite amount."""
        entry = self.get_object()
        serializer = ReversalSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reversal = services.reverse_fund_entry(
            request.user, entry, serializer.validated_data.get("entry_date"),
            serializer.validated_data.get("reason", ""),
        )
        return self._entry_response(reversal, status.HTTP_201_CREATED)


# ---- co-building agreements and the three lists ---------------------------------------------


class AgreementFilter(SubtreeFilterSet):
    work_unit = IdFilter(field_name="work_unit_id", label=_("work unit id"))

    class Meta:
        model = CoBuildingAgreement
        fields = ["ancestor", "org_unit", "work_unit", "is_active"]


class AgreementSerializer(serializers.ModelSerializer):
    work_unit = ScopedPrimaryKeyRelatedField(queryset=WorkUnit.objects.all())
    work_unit_name = serializers.CharField(source="work_unit.name", read_only=True)
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)

    class Meta:
        model = CoBuildingAgreement
        fields = [
            "id", "work_unit", "work_unit_name", "org_unit", "org_unit_name", "signed_on",
            "liaison", "is_active",
        ]
        read_only_fields = ["is_active"]
        # No unique-together validator: signing an ended pairing again is allowed, and the
        # service refuses an active duplicate with a message that names both sides.
        validators = []


class AgreementUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = CoBuildingAgreement
        fields = ["liaison"]


class AgreementViewSet(ReadCreateViewSet, mixins.UpdateModelMixin):
    """Co-building units (共建单位) paired with communities or branches. Only the liaison is
    edited in place; an agreement is ended with `end`."""

    queryset = CoBuildingAgreement.objects.select_related("work_unit", "org_unit")
    filterset_class = AgreementFilter
    search_fields = ["work_unit__name", "liaison"]
    ordering_fields = ["signed_on"]
    ordering = ["org_unit__tree_id", "org_unit__lft", "work_unit__name"]

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return AgreementUpdateSerializer
        return AgreementSerializer

    def perform_create(self, serializer):
        serializer.instance = services.sign_agreement(_user(self), **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.update_agreement(
            _user(self), serializer.instance,
            serializer.validated_data.get("liaison", serializer.instance.liaison),
        )

    @extend_schema(request=None, responses=AgreementSerializer)
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        agreement = services.end_agreement(request.user, self.get_object())
        agreement = self.get_queryset().get(pk=agreement.pk)
        return Response(AgreementSerializer(agreement, context=self.get_serializer_context()).data)


class ListItemFilter(SubtreeFilterSet):
    kind = django_filters.ChoiceFilter(choices=ListKind.choices, label=_("list"))
    status = django_filters.ChoiceFilter(choices=ListItem.Status.choices, label=_("status"))

    class Meta:
        model = ListItem
        fields = ["ancestor", "org_unit", "kind", "status"]


class ListItemSerializer(serializers.ModelSerializer):
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)
    work_unit = ScopedPrimaryKeyRelatedField(
        queryset=WorkUnit.objects.all(), required=False, allow_null=True
    )
    work_unit_name = serializers.CharField(source="work_unit.name", read_only=True, default="")
    matched_resources = serializers.SerializerMethodField(
        help_text=_("For needs: the resources it was matched to.")
    )

    class Meta:
        model = ListItem
        fields = [
            "id", "org_unit", "org_unit_name", "kind", "work_unit", "work_unit_name", "title",
            "description", "status", "matched_resources", "created_at",
        ]
        read_only_fields = ["status", "created_at"]

    def get_matched_resources(self, obj) -> list[int]:
        return [match.resource_id for match in obj.matches.all()]


class ListItemUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = ListItem
        fields = ["title", "description"]


class MatchSerializer(serializers.Serializer):
    resource = ScopedPrimaryKeyRelatedField(
        queryset=ListItem.objects.filter(kind=ListKind.RESOURCE), label=_("resource")
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=200)


class ListItemViewSet(ReadCreateViewSet, mixins.UpdateModelMixin):
    """The three lists (resources, problems, needs); `match` a need to a resource (对单配餐),
    `close` an item when it is done."""

    queryset = ListItem.objects.select_related("org_unit", "work_unit").prefetch_related(
        "matches"
    )
    filterset_class = ListItemFilter
    search_fields = ["title", "description"]
    ordering_fields = ["created_at", "title"]
    ordering = ["-created_at", "-id"]

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return ListItemUpdateSerializer
        if self.action == "match":
            return MatchSerializer
        return ListItemSerializer

    def _item_response(self, item, code=status.HTTP_200_OK):
        item = self.get_queryset().get(pk=item.pk)
        return Response(
            ListItemSerializer(item, context=self.get_serializer_context()).data, status=code
        )

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.add_list_item(
            _user(self), data["org_unit"], data["kind"], data["title"],
            data.get("description", ""), data.get("work_unit"),
        )

    def perform_update(self, serializer):
        item = ListItem.objects.get(pk=serializer.instance.pk)
        for name, value in serializer.validated_data.items():
            setattr(item, name, value)
        serializer.instance = services.update_list_item(_user(self), item)

    @extend_schema(request=MatchSerializer, responses={201: ListItemSerializer})
    @action(detail=True, methods=["post"])
    def match(self, request, pk=None):
        """Match this need to a resource."""
        need = self.get_object()
        serializer = MatchSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        services.match_need(
            request.user, need, serializer.validated_data["resource"],
            serializer.validated_data.get("note", ""),
        )
        return self._item_response(need, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ListItemSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        item = services.close_list_item(request.user, self.get_object())
        return self._item_response(item)


# ---- committees and the top ten --------------------------------------------------------------


class SeatFilter(SubtreeFilterSet):
    role = django_filters.ChoiceFilter(choices=CommitteeRole.choices, label=_("role"))
    sitting = django_filters.BooleanFilter(
        field_name="ended_on", lookup_expr="isnull", label=_("sitting (not ended)")
    )

    class Meta:
        model = CommitteeMembership
        fields = ["ancestor", "org_unit", "role", "sitting"]


class SeatSerializer(serializers.ModelSerializer):
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)
    person = ScopedPrimaryKeyRelatedField(queryset=Person.objects.all())
    person_name = serializers.CharField(source="person.name", read_only=True)
    role_display = serializers.CharField(source="get_role_display", read_only=True)

    class Meta:
        model = CommitteeMembership
        fields = [
            "id", "org_unit", "org_unit_name", "person", "person_name", "role", "role_display",
            "started_on", "ended_on",
        ]
        read_only_fields = ["ended_on"]


class SeatEndSerializer(serializers.Serializer):
    ended_on = serializers.DateField(required=False, label=_("until"))


class CommitteeSeatViewSet(ReadCreateViewSet):
    """Seats on branch and community committees; one sitting secretary per unit. A seat is
    ended with `end`, never edited."""

    queryset = CommitteeMembership.objects.select_related("org_unit", "person")
    filterset_class = SeatFilter
    search_fields = ["person__name"]
    ordering_fields = ["started_on"]
    ordering = ["org_unit__tree_id", "org_unit__lft", "role", "started_on"]

    def get_serializer_class(self):
        return SeatEndSerializer if self.action == "end" else SeatSerializer

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.seat_committee_member(
            _user(self), data["org_unit"], data["person"], data["role"], data["started_on"]
        )

    @extend_schema(request=SeatEndSerializer, responses=SeatSerializer)
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        serializer = SeatEndSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        seat = services.end_committee_seat(
            request.user, self.get_object(), serializer.validated_data.get("ended_on")
        )
        seat = self.get_queryset().get(pk=seat.pk)
        return Response(SeatSerializer(seat, context=self.get_serializer_context()).data)


class TopTenEntrySerializer(serializers.ModelSerializer):
    person_name = serializers.CharField(source="person.name", read_only=True)
    branch_name = serializers.CharField(source="branch.name", read_only=True)

    class Meta:
        model = TopSecretaryEntry
        fields = ["rank", "person", "person_name", "branch", "branch_name", "citation"]


class TopTenSerializer(serializers.ModelSerializer):
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)
    entries = TopTenEntrySerializer(many=True, read_only=True)

    class Meta:
        model = TopSecretarySelection
        fields = ["id", "org_unit", "org_unit_name", "month", "published", "entries"]


class TopTenFilter(SubtreeFilterSet):
    month = django_filters.CharFilter(method="filter_month", label=_("month (YYYY-MM)"))

    class Meta:
        model = TopSecretarySelection
        fields = ["ancestor", "org_unit", "month", "published"]

    def filter_month(self, queryset, name, value):
        first = as_date(f"{value}-01")
        if first is None:
            raise ValidationError({"month": [
                _("“%(value)s” is not a month; use the form YYYY-MM.") % {"value": value}
            ]})
        return queryset.filter(month=first)


class TopTenViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """The monthly top ten compound party secretaries (十佳小区党组织书记), ranked."""

    queryset = TopSecretarySelection.objects.select_related("org_unit").prefetch_related(
        Prefetch(
            "entries",
            queryset=TopSecretaryEntry.objects.select_related("person", "branch").order_by("rank"),
        )
    )
    serializer_class = TopTenSerializer
    filterset_class = TopTenFilter
    ordering_fields = ["month"]
    ordering = ["-month", "org_unit__tree_id", "org_unit__lft"]


# ---- the 五有 indicator -----------------------------------------------------------------------


class FiveHavesRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    community = serializers.CharField()
    is_active = serializers.BooleanField()
    has_org = serializers.BooleanField()
    has_venue = serializers.BooleanField()
    has_ledger = serializers.BooleanField()
    has_contact = serializers.BooleanField()
    has_emergency_plan = serializers.BooleanField()
    count = serializers.IntegerField()
    all_five = serializers.BooleanField()


class FiveHavesSummarySerializer(serializers.Serializer):
    branches = serializers.IntegerField()
    all_five = serializers.IntegerField()
    has_org = serializers.IntegerField()
    has_venue = serializers.IntegerField()
    has_ledger = serializers.IntegerField()
    has_contact = serializers.IntegerField()
    has_emergency_plan = serializers.IntegerField()


class FiveHavesSerializer(serializers.Serializer):
    org_unit = OrgUnitBriefSerializer()
    as_of = serializers.DateField()
    summary = FiveHavesSummarySerializer()
    results = FiveHavesRowSerializer(many=True)


class FiveHavesViewSet(ScopedViewSetMixin, viewsets.GenericViewSet):
    """The 五有 indicator of every branch in a unit's subtree, computed from the ledgers."""

    queryset = OrgUnit.objects.all()  # the units the reader may ask about (and the permission)
    serializer_class = FiveHavesSerializer
    pagination_class = None
    filter_backends = []

    @extend_schema(
        parameters=[
            OpenApiParameter("org_unit", OpenApiTypes.INT, required=True,
                             description="The unit whose subtree is shown."),
            OpenApiParameter("as_of", OpenApiTypes.DATE, description="YYYY-MM-DD (default today)"),
        ],
        responses=FiveHavesSerializer,
    )
    def list(self, request):
        raw = request.query_params.get("org_unit")
        if not raw or not raw.isdigit():
            raise ValidationError(
                {"org_unit": [_("Give the id of the unit to show (org_unit=…).")]}
            )
        node = self.get_queryset().filter(pk=int(raw)).first()
        if node is None:
            raise Http404
        as_of = timezone.localdate()
        if request.query_params.get("as_of"):
            as_of = as_date(request.query_params["as_of"])
            if as_of is None:
                raise ValidationError({"as_of": [_("Enter the date as YYYY-MM-DD.")]})
        rows = five_haves(Subtree.of(node), as_of)
        data = {
            "org_unit": node,
            "as_of": as_of,
            "summary": five_haves_summary(rows),
            "results": [
                {**{f: getattr(row, f) for f in ("id", "code", "name", "community", "is_active",
                                                 *HAVES)},
                 "count": row.count, "all_five": row.all_five}
                for row in rows
            ],
        }
        return Response(FiveHavesSerializer(data).data)


def register(router):
    """Add this area's viewsets to the /api/v1/ router."""
    router.register("stations", StationViewSet, basename="station")
    router.register("fund-entries", FundEntryViewSet, basename="fundentry")
    router.register("co-building", AgreementViewSet, basename="cobuilding")
    router.register("list-items", ListItemViewSet, basename="listitem")
    router.register("committee-seats", CommitteeSeatViewSet, basename="committeeseat")
    router.register("top-ten", TopTenViewSet, basename="topten")
    router.register("five-haves", FiveHavesViewSet, basename="fivehaves")
