"""Serializers and filters of volunteers, teams, activities, service hours, the points ledger,
the mall and redemptions, and the read-only routes: service hours (approved through a sign-up),
points entries and balances (the ledger is append-only and moves only through services) and
mall items. The routes that also write are in people.py, activities.py, mall.py and points.py.
All lists are scoped to the reader's subtrees; phones are masked unless the reader may view
personal data.
"""

import django_filters
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from grids.api.gridding import AncestorFilterSet
from party_org.api.base import IdFilter, ScopedReadOnlyViewSet
from party_org.personal_data import phone_for

from ..models import (
    Activity,
    EntryReason,
    PointsAccount,
    PointsEntry,
    PointsKind,
    Redemption,
    RedemptionStatus,
    RewardItem,
    ServiceHours,
    Volunteer,
    VolunteerTeam,
)
from ..services.ledger import star_level
from .wishes import NamedRefSerializer


class PersonRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


def ancestor_filter(path, model, extra=()):
    """A FilterSet with `ancestor` over `path` (and plain filters `extra`)."""
    meta = type("Meta", (), {"model": model, "fields": ["ancestor", *extra]})
    return type(f"{model.__name__}Filter", (AncestorFilterSet,),
                {"ancestor_path": path, "Meta": meta})


# ---- volunteers and teams ----------------------------------------------------------------------


class VolunteerSerializer(serializers.ModelSerializer):
    person = PersonRefSerializer(read_only=True)
    phone = serializers.SerializerMethodField(
        help_text=_("Masked unless you may view personal data."))
    org_unit = NamedRefSerializer(read_only=True)

    class Meta:
        model = Volunteer
        fields = ["id", "person", "phone", "org_unit", "skills", "note", "verified",
                  "verified_at", "registered_at", "is_active"]
        read_only_fields = fields

    def get_phone(self, obj) -> str:
        return phone_for(obj.person, "api:volunteers")


class VolunteerFilter(AncestorFilterSet):
    ancestor_path = "org_unit"
    verified = django_filters.BooleanFilter(label=_("verified"))
    is_active = django_filters.BooleanFilter(label=_("active"))

    class Meta:
        model = Volunteer
        fields = ["ancestor", "verified", "is_active"]




class TeamSerializer(serializers.ModelSerializer):
    org_unit = NamedRefSerializer(read_only=True)
    leader = PersonRefSerializer(read_only=True, allow_null=True)
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = VolunteerTeam
        fields = ["id", "name", "org_unit", "leader", "description", "founded_on", "is_active",
                  "member_count"]
        read_only_fields = fields




# ---- activities and hours ----------------------------------------------------------------------


class ActivitySerializer(serializers.ModelSerializer):
    org_unit = NamedRefSerializer(read_only=True)
    team = NamedRefSerializer(read_only=True, allow_null=True)
    places_taken = serializers.IntegerField(read_only=True)
    waiting = serializers.IntegerField(read_only=True)

    class Meta:
        model = Activity
        fields = ["id", "title", "description", "org_unit", "team", "place", "starts_at",
                  "ends_at", "capacity", "points_per_hour", "places_taken", "waiting"]
        read_only_fields = fields


class ActivityFilter(AncestorFilterSet):
    ancestor_path = "org_unit"
    team = IdFilter(field_name="team_id", label=_("team id"))
    starts_after = django_filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="gte",
                                                    label=_("starts at or after"))
    starts_before = django_filters.IsoDateTimeFilter(field_name="starts_at", lookup_expr="lt",
                                                     label=_("starts before"))

    class Meta:
        model = Activity
        fields = ["ancestor", "team", "starts_after", "starts_before"]




class ServiceHoursSerializer(serializers.ModelSerializer):
    activity = serializers.SerializerMethodField()
    person = PersonRefSerializer(read_only=True)
    approved_by = serializers.CharField(source="approved_by.get_username", read_only=True,
                                        allow_null=True, default=None)

    class Meta:
        model = ServiceHours
        fields = ["id", "activity", "person", "hours", "approved_by", "approved_at"]
        read_only_fields = fields

    def get_activity(self, obj) -> dict:
        return {"id": obj.activity_id, "title": obj.activity.title}


class ServiceHoursFilter(AncestorFilterSet):
    ancestor_path = "activity__org_unit"
    activity = IdFilter(field_name="activity_id", label=_("activity id"))
    person = IdFilter(field_name="person_id", label=_("person id"))

    class Meta:
        model = ServiceHours
        fields = ["ancestor", "activity", "person"]


class ServiceHoursViewSet(ScopedReadOnlyViewSet):
    """Approved service hours (only these count)."""

    queryset = ServiceHours.objects.select_related("activity", "person", "approved_by")
    serializer_class = ServiceHoursSerializer
    filterset_class = ServiceHoursFilter
    ordering = ["-approved_at", "-pk"]


# ---- the ledger --------------------------------------------------------------------------------


class PointsEntrySerializer(serializers.ModelSerializer):
    person = PersonRefSerializer(source="account.person", read_only=True)
    kind = serializers.CharField(source="account.kind", read_only=True)
    reason_display = serializers.CharField(source="get_reason_display", read_only=True)

    class Meta:
        model = PointsEntry
        fields = ["id", "person", "kind", "amount", "balance_after", "reason", "reason_display",
                  "note", "reverses", "created_at"]
        read_only_fields = fields


class PointsEntryFilter(AncestorFilterSet):
    ancestor_path = "account__person__org_unit"
    person = IdFilter(field_name="account__person_id", label=_("person id"))
    kind = django_filters.ChoiceFilter(field_name="account__kind", choices=PointsKind.choices,
                                       label=_("kind"))
    reason = django_filters.MultipleChoiceFilter(choices=EntryReason.choices, label=_("reason"),
                                                 distinct=False)

    class Meta:
        model = PointsEntry
        fields = ["ancestor", "person", "kind", "reason"]


class PointsEntryViewSet(ScopedReadOnlyViewSet):
    """The append-only points ledger (公分 and 党员积分)."""

    queryset = PointsEntry.objects.select_related("account__person")
    serializer_class = PointsEntrySerializer
    filterset_class = PointsEntryFilter
    ordering = ["-created_at", "-pk"]


class PointsBalanceSerializer(serializers.ModelSerializer):
    person = PersonRefSerializer(read_only=True)
    star_level = serializers.SerializerMethodField()

    class Meta:
        model = PointsAccount
        fields = ["id", "person", "kind", "balance", "star_level", "updated_at"]
        read_only_fields = fields

    def get_star_level(self, obj) -> int:
        return star_level(obj.balance)


class PointsBalanceFilter(AncestorFilterSet):
    ancestor_path = "person__org_unit"
    person = IdFilter(field_name="person_id", label=_("person id"))
    kind = django_filters.ChoiceFilter(choices=PointsKind.choices, label=_("kind"))

    class Meta:
        model = PointsAccount
        fields = ["ancestor", "person", "kind"]


class PointsBalanceViewSet(ScopedReadOnlyViewSet):
    """Points balances, one per person and kind (always the sum of the entries)."""

    queryset = PointsAccount.objects.select_related("person")
    serializer_class = PointsBalanceSerializer
    filterset_class = PointsBalanceFilter
    ordering_fields = ["balance"]
    ordering = ["-balance", "pk"]


# ---- the mall ----------------------------------------------------------------------------------


class RewardItemSerializer(serializers.ModelSerializer):
    merchant = NamedRefSerializer(read_only=True)

    class Meta:
        model = RewardItem
        fields = ["id", "merchant", "name", "description", "points_price", "points_kind",
                  "stock", "valid_from", "valid_until", "discount_note", "per_person_limit",
                  "is_active"]
        read_only_fields = fields


class RewardItemViewSet(ScopedReadOnlyViewSet):
    """Items of the points mall (积分商城)."""

    queryset = RewardItem.objects.select_related("merchant")
    serializer_class = RewardItemSerializer
    filterset_class = ancestor_filter("merchant__org_unit", RewardItem,
                                      ["merchant", "points_kind", "is_active"])
    search_fields = ["name", "merchant__name"]
    ordering = ["merchant__name", "name"]


class RedemptionSerializer(serializers.ModelSerializer):
    item = NamedRefSerializer(read_only=True)
    person = PersonRefSerializer(read_only=True)

    class Meta:
        model = Redemption
        # The one-time code is the merchant's to read, not the list's.
        fields = ["id", "item", "person", "quantity", "points", "status", "created_at",
                  "used_at", "cancelled_at"]
        read_only_fields = fields


class RedemptionFilter(AncestorFilterSet):
    ancestor_path = "item__merchant__org_unit"
    status = django_filters.MultipleChoiceFilter(choices=RedemptionStatus.choices,
                                                 label=_("status"), distinct=False)
    item = IdFilter(field_name="item_id", label=_("item id"))
    person = IdFilter(field_name="person_id", label=_("person id"))

    class Meta:
        model = Redemption
        fields = ["ancestor", "status", "item", "person"]




def register(router):
    from . import activities, mall, people, points

    router.register("volunteers", people.VolunteerViewSet, basename="volunteer")
    router.register("teams", people.TeamViewSet, basename="volunteerteam")
    router.register("activities", activities.ActivityViewSet, basename="activity")
    router.register("activity-signups", activities.ActivitySignupViewSet,
                    basename="activitysignup")
    router.register("service-hours", ServiceHoursViewSet, basename="servicehours")
    router.register("points-entries", PointsEntryViewSet, basename="pointsentry")
    router.register("points-balances", PointsBalanceViewSet, basename="pointsaccount")
    router.register("points-adjustments", points.PointsAdjustmentViewSet,
                    basename="pointsadjustment")
    router.register("reward-items", RewardItemViewSet, basename="rewarditem")
    router.register("redemptions", mall.RedemptionViewSet, basename="redemption")
