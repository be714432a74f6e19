"""grids API: patrol points, patrol check-ins (巡查打卡) and household visits (入户走访), read-only.

Check-ins and visits are recorded through the admin and grids.services.patrols; the API only lists
them, scoped to the caller's subtrees, with filters by compound, worker and date.
"""

import datetime as dt

import django_filters
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from party_org.api.base import IdFilter, ScopedReadOnlyViewSet

from ..models import HouseholdVisit, PatrolCheckin, PatrolPoint
from .events import local_day_start
from .gridding import AncestorFilterSet


class PatrolPointSerializer(serializers.ModelSerializer):
    compound_name = serializers.CharField(source="compound.name", read_only=True)

    class Meta:
        model = PatrolPoint
        fields = ["id", "compound", "compound_name", "name", "description", "is_active"]
        read_only_fields = fields


class PatrolPointFilter(AncestorFilterSet):
    ancestor_path = "compound__org_unit"
    compound = IdFilter(field_name="compound_id", label=_("compound id"))
    is_active = django_filters.BooleanFilter(label=_("active"))

    class Meta:
        model = PatrolPoint
        fields = ["ancestor", "compound", "is_active"]


class PatrolPointViewSet(ScopedReadOnlyViewSet):
    """Patrol points (重点巡查点位) in compounds."""

    queryset = PatrolPoint.objects.select_related("compound")
    serializer_class = PatrolPointSerializer
    filterset_class = PatrolPointFilter
    search_fields = ["name", "compound__name"]
    ordering_fields = ["name"]
    ordering = ["compound__name", "name", "pk"]


class PatrolCheckinSerializer(serializers.ModelSerializer):
    point_name = serializers.CharField(source="point.name", read_only=True)
    compound = serializers.IntegerField(source="point.compound_id", read_only=True)
    compound_name = serializers.CharField(source="point.compound.name", read_only=True)
    worker_name = serializers.CharField(source="worker.person.name", read_only=True)

    class Meta:
        model = PatrolCheckin
        fields = ["id", "point", "point_name", "compound", "compound_name", "worker",
                  "worker_name", "at", "note", "event"]
        read_only_fields = fields


class DateRangeFilterSet(AncestorFilterSet):
    """`after` / `before`: local (Asia/Shanghai) dates, both days included."""

    date_field = ""
    after = django_filters.DateFilter(method="filter_after", label=_("on or after (local date)"))
    before = django_filters.DateFilter(method="filter_before",
                                       label=_("on or before (local date)"))

    def _bound(self, day):
        return day if self.date_field.endswith("_on") else local_day_start(day)

    def filter_after(self, queryset, name, value):
        return queryset.filter(**{f"{self.date_field}__gte": self._bound(value)})

    def filter_before(self, queryset, name, value):
        return queryset.filter(
            **{f"{self.date_field}__lt": self._bound(value + dt.timedelta(days=1))}
        )


class PatrolCheckinFilter(DateRangeFilterSet):
    ancestor_path = "point__compound__org_unit"
    date_field = "at"
    compound = IdFilter(field_name="point__compound_id", label=_("compound id"))
    point = IdFilter(field_name="point_id", label=_("patrol point id"))
    worker = IdFilter(field_name="worker_id", label=_("grid worker id"))

    class Meta:
        model = PatrolCheckin
        fields = ["ancestor", "compound", "point", "worker", "after", "before"]


class PatrolCheckinViewSet(ScopedReadOnlyViewSet):
    """Grid workers' check-ins (巡查打卡) at patrol points."""

    queryset = PatrolCheckin.objects.select_related("point__compound", "worker__person")
    serializer_class = PatrolCheckinSerializer
    filterset_class = PatrolCheckinFilter
    search_fields = ["note", "point__name"]
    ordering_fields = ["at"]
    ordering = ["-at", "-pk"]


class HouseholdVisitSerializer(serializers.ModelSerializer):
    compound = serializers.IntegerField(source="household.compound_id", read_only=True)
    compound_name = serializers.CharField(source="household.compound.name", read_only=True)
    building_number = serializers.CharField(source="household.building.number",
                                            read_only=True, default=None)
    room = serializers.CharField(source="household.room", read_only=True)
    worker_name = serializers.CharField(source="worker.person.name", read_only=True)

    class Meta:
        model = HouseholdVisit
        fields = ["id", "household", "compound", "compound_name", "building_number", "room",
                  "worker", "worker_name", "visited_on", "findings", "event"]
        read_only_fields = fields


class HouseholdVisitFilter(DateRangeFilterSet):
    ancestor_path = "household__compound__org_unit"
    date_field = "visited_on"
    compound = IdFilter(field_name="household__compound_id", label=_("compound id"))
    household = IdFilter(field_name="household_id", label=_("household id"))
    worker = IdFilter(field_name="worker_id", label=_("grid worker id"))

    class Meta:
        model = HouseholdVisit
        fields = ["ancestor", "compound", "household", "worker", "after", "before"]


class HouseholdVisitViewSet(ScopedReadOnlyViewSet):
    """Household visits (入户走访) by grid workers, with what they found."""

    queryset = HouseholdVisit.objects.select_related(
        "household__compound", "household__building", "worker__person"
    )
    serializer_class = HouseholdVisitSerializer
    filterset_class = HouseholdVisitFilter
    search_fields = ["findings", "household__room", "household__compound__name"]
    ordering_fields = ["visited_on"]
    ordering = ["-visited_on", "-pk"]


def register(router):
    """Add this area's viewsets to the /api/v1/ router."""
    router.register("patrol-points", PatrolPointViewSet, basename="patrolpoint")
    router.register("patrol-checkins", PatrolCheckinViewSet, basename="patrolcheckin")
    router.register("household-visits", HouseholdVisitViewSet, basename="householdvisit")
