"""grids API: grids and micro-grids, their coverage, grid workers and assignments.

Lists are scoped, foreign keys choose only within the caller's scope, phones are masked through
party_org.personal_data, and every write goes through grids.services.gridding.
"""

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from party_org.api.base import Conflict, IdFilter, ScopedModelViewSet, ScopedPrimaryKeyRelatedField
from party_org.models import OrgUnit, Person
from party_org.personal_data import phone_for
from party_org.selectors import Subtree, org_units_for

from ..models import Building, Compound, Grid, GridAssignment, GridCoverage, GridWorker
from ..services import gridding as services


class AncestorFilterSet(django_filters.FilterSet):
    """`ancestor=<unit id>`: rows whose unit (at `ancestor_path`) lies in that unit's subtree."""

    ancestor_path = ""
    ancestor = IdFilter(
        method="filter_ancestor", label=_("ancestor unit id (the whole subtree, itself included)")
    )

    def filter_ancestor(self, queryset, name, value):
        node = org_units_for(self.request.user).filter(pk=value).first()
        if node is None:
            return queryset.none()
        return queryset.filter(Subtree.of(node).q(self.ancestor_path))


# ---- grids -----------------------------------------------------------------------------------


class GridListSerializer(serializers.ListSerializer):
    """Works out the overlap cases of a whole page at once (a fixed number of queries)."""

    def to_representation(self, data):
        items = list(data.all() if hasattr(data, "all") else data)
        self.child.context["overlap_cases"] = services.grid_overlap_cases(items)
        return super().to_representation(items)


class GridSerializer(serializers.ModelSerializer):
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)
    parent = ScopedPrimaryKeyRelatedField(
        queryset=Grid.objects.select_related("org_unit", "parent"), allow_null=True,
        required=False,
    )
    parent_name = serializers.CharField(source="parent.name", read_only=True, default="")
    is_micro = serializers.BooleanField(read_only=True)
    micro_grid_count = serializers.IntegerField(read_only=True)
    compound_count = serializers.IntegerField(read_only=True)
    worker_count = serializers.IntegerField(read_only=True)
    overlap_case = serializers.SerializerMethodField()
    overlap_case_display = serializers.SerializerMethodField()

    class Meta:
        model = Grid
        list_serializer_class = GridListSerializer
        fields = [
            "id", "name", "code", "org_unit", "org_unit_name", "parent", "parent_name",
            "is_micro", "is_active", "micro_grid_count", "compound_count", "worker_count",
            "overlap_case", "overlap_case_display",
        ]
        # Code uniqueness is checked by the service, in words.
        extra_kwargs = {"code": {"validators": []}}

    def _case(self, obj):
        cases = self.context.get("overlap_cases")
        return cases.get(obj.pk) if cases is not None else services.overlap_case(obj)

    def get_overlap_case(self, obj) -> str:
        return self._case(obj) or ""

    def get_overlap_case_display(self, obj) -> str:
        return str(services.overlap_label(self._case(obj)))


class GridFilter(AncestorFilterSet):
    ancestor_path = "org_unit"
    micro = django_filters.BooleanFilter(
        field_name="parent", lookup_expr="isnull", exclude=True, label=_("micro-grids only")
    )
    parent = IdFilter(field_name="parent_id", label=_("grid id (its micro-grids)"))
    compound = IdFilter(method="filter_compound", label=_("compound id (grids covering it)"))
    is_active = django_filters.BooleanFilter(label=_("active"))

    class Meta:
        model = Grid
        fields = ["ancestor", "micro", "parent", "compound", "is_active"]

    def filter_compound(self, queryset, name, value):
        covering = GridCoverage.objects.filter(compound_id=value).values("grid_id")
        return queryset.filter(pk__in=covering)


class GridViewSet(ScopedModelViewSet):
    """Grids and micro-grids (网格/微网格), the unit leading each, and the overlap case."""

    queryset = Grid.objects.all()
    serializer_class = GridSerializer
    filterset_class = GridFilter
    search_fields = ["name", "code", "org_unit__name"]
    ordering_fields = ["name", "code", "compound_count", "worker_count"]
    ordering = ["org_unit__tree_id", "org_unit__lft", "code"]

    def get_queryset(self):
        return services.with_grid_counts(
            super().get_queryset().select_related("org_unit", "parent")
        )

    def _fields(self, data):
        return {name: data[name] for name in services.GRID_FIELDS if name in data}

    def perform_create(self, serializer):
        grid = services.create_grid(self.request.user, **self._fields(serializer.validated_data))
        serializer.instance = self.get_queryset().get(pk=grid.pk)

    def perform_update(self, serializer):
        grid = services.update_grid(
            self.request.user, serializer.instance, **self._fields(serializer.validated_data)
        )
        serializer.instance = self.get_queryset().get(pk=grid.pk)

    def perform_destroy(self, instance):
        try:
            services.delete_grid(self.request.user, instance)
        except ValidationError as error:
            raise Conflict(" ".join(error.messages)) from None


# ---- coverage --------------------------------------------------------------------------------


class CoverageSerializer(serializers.ModelSerializer):
    grid = ScopedPrimaryKeyRelatedField(queryset=Grid.objects.select_related("org_unit", "parent"))
    grid_name = serializers.CharField(source="grid.name", read_only=True)
    compound = ScopedPrimaryKeyRelatedField(queryset=Compound.objects.select_related("org_unit"))
    compound_name = serializers.CharField(source="compound.name", read_only=True)
    building = ScopedPrimaryKeyRelatedField(
        queryset=Building.objects.all(), allow_null=True, required=False
    )
    building_number = serializers.CharField(source="building.number", read_only=True, default="")

    class Meta:
        model = GridCoverage
        fields = [
            "id", "grid", "grid_name", "compound", "compound_name", "building",
            "building_number",
        ]
        # "Not twice" is checked by the service, in words.
        validators = []


class CoverageFilter(AncestorFilterSet):
    ancestor_path = "grid__org_unit"
    grid = IdFilter(field_name="grid_id", label=_("grid id"))
    compound = IdFilter(field_name="compound_id", label=_("compound id"))

    class Meta:
        model = GridCoverage
        fields = ["ancestor", "grid", "compound"]


class CoverageViewSet(ScopedModelViewSet):
    """What each grid covers: whole compounds or single buildings. Added and removed, never
    edited in place."""

    queryset = GridCoverage.objects.select_related("grid", "compound", "building")
    serializer_class = CoverageSerializer
    filterset_class = CoverageFilter
    http_method_names = ["get", "post", "delete", "head", "options"]
    ordering = ["grid__code", "compound__name", "building__number", "pk"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        coverage = services.cover(
            self.request.user, data["grid"], data["compound"], data.get("building")
        )
        serializer.instance = self.get_queryset().get(pk=coverage.pk)

    def perform_destroy(self, instance):
        services.uncover(self.request.user, instance)


# ---- grid workers ----------------------------------------------------------------------------


class WorkerSerializer(serializers.ModelSerializer):
    person = ScopedPrimaryKeyRelatedField(queryset=Person.objects.select_related("org_unit"))
    name = serializers.CharField(source="person.name", read_only=True)
    phone = serializers.SerializerMethodField()
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)
    grids = serializers.SerializerMethodField()

    class Meta:
        model = GridWorker
        fields = [
            "id", "person", "name", "phone", "kind", "kind_display", "org_unit",
            "org_unit_name", "is_active", "grids",
        ]
        validators = []

    def get_phone(self, obj) -> str:
        view = self.context.get("view")
        where = "detail" if view is not None and view.action != "list" else "list"
        return phone_for(obj.person, f"api:grid-workers:{where}")

    def get_grids(self, obj) -> list[dict]:
        return [
            {"id": a.grid_id, "name": a.grid.name, "started_on": a.started_on}
            for a in obj.current_assignments
        ]


class WorkerUpdateSerializer(WorkerSerializer):
    class Meta(WorkerSerializer.Meta):
        read_only_fields = ["person"]


class WorkerFilter(AncestorFilterSet):
    ancestor_path = "org_unit"
    grid = IdFilter(method="filter_grid", label=_("grid id (workers assigned to it now)"))
    is_active = django_filters.BooleanFilter(label=_("active"))

    class Meta:
        model = GridWorker
        fields = ["ancestor", "kind", "grid", "is_active"]

    def filter_grid(self, queryset, name, value):
        current = GridAssignment.objects.filter(grid_id=value, ended_on__isnull=True)
        return queryset.filter(pk__in=current.values("worker_id"))


class WorkerViewSet(ScopedModelViewSet):
    """Grid workers (专职/兼职/辅助网格员); PATCH `is_active: false` to deactivate one (which
    ends their assignments)."""

    queryset = GridWorker.objects.all()
    serializer_class = WorkerSerializer
    filterset_class = WorkerFilter
    search_fields = ["person__name", "org_unit__name"]
    ordering_fields = ["person__name", "kind"]
    ordering = ["org_unit__tree_id", "org_unit__lft", "person__name", "pk"]

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return WorkerUpdateSerializer
        return WorkerSerializer

    def get_queryset(self):
        current = GridAssignment.objects.filter(ended_on__isnull=True).select_related(
            "grid"
        ).order_by("started_on", "pk")
        return super().get_queryset().select_related("person", "org_unit").prefetch_related(
            Prefetch("assignments", queryset=current, to_attr="current_assignments")
        )

    def perform_create(self, serializer):
        data = serializer.validated_data
        worker = services.register_worker(
            self.request.user, data["person"], data["kind"], data["org_unit"]
        )
        serializer.instance = self.get_queryset().get(pk=worker.pk)

    def perform_update(self, serializer):
        worker, data = serializer.instance, serializer.validated_data
        services.update_worker(
            self.request.user, worker, kind=data.get("kind"), org_unit=data.get("org_unit"),
            is_active=data.get("is_active"),
        )
        serializer.instance = self.get_queryset().get(pk=worker.pk)

    def perform_destroy(self, instance):
        try:
            services.delete_worker(self.request.user, instance)
        except ValidationError as error:
            raise Conflict(" ".join(error.messages)) from None


# ---- assignments -----------------------------------------------------------------------------


class AssignmentSerializer(serializers.ModelSerializer):
    worker = ScopedPrimaryKeyRelatedField(
        queryset=GridWorker.objects.select_related("person", "org_unit")
    )
    worker_name = serializers.CharField(source="worker.person.name", read_only=True)
    grid = ScopedPrimaryKeyRelatedField(queryset=Grid.objects.select_related("org_unit"))
    grid_name = serializers.CharField(source="grid.name", read_only=True)

    class Meta:
        model = GridAssignment
        fields = ["id", "worker", "worker_name", "grid", "grid_name", "started_on", "ended_on"]
        validators = []


class AssignmentFilter(AncestorFilterSet):
    ancestor_path = "grid__org_unit"
    grid = IdFilter(field_name="grid_id", label=_("grid id"))
    worker = IdFilter(field_name="worker_id", label=_("grid worker id"))
    current = django_filters.BooleanFilter(
        field_name="ended_on", lookup_expr="isnull", label=_("current (not ended)")
    )

    class Meta:
        model = GridAssignment
        fields = ["ancestor", "grid", "worker", "current"]


class AssignmentViewSet(ScopedModelViewSet):
    """Grid workers assigned to grids; PATCH `ended_on` to end an assignment."""

    queryset = GridAssignment.objects.select_related("worker__person", "grid")
    serializer_class = AssignmentSerializer
    filterset_class = AssignmentFilter
    ordering_fields = ["started_on", "ended_on"]
    ordering = ["-started_on", "-pk"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        if data.get("ended_on"):
            raise serializers.ValidationError(
                {"ended_on": [_("Assign the worker first, then end the assignment.")]}
            )
        assignment = services.assign_worker(
            self.request.user, data["worker"], data["grid"], data["started_on"]
        )
        serializer.instance = self.get_queryset().get(pk=assignment.pk)

    def perform_update(self, serializer):
        assignment, data = serializer.instance, serializer.validated_data
        fixed = {
            name: [_("Only the end date of an assignment can change.")]
            for name in ("worker", "grid", "started_on")
            if name in data and data[name] != getattr(assignment, name)
        }
        if fixed:
            raise serializers.ValidationError(fixed)
        if data.get("ended_on"):
            services.end_assignment(self.request.user, assignment, data["ended_on"])
        serializer.instance = self.get_queryset().get(pk=assignment.pk)

    def perform_destroy(self, instance):
        services.delete_assignment(self.request.user, instance)


def register(router):
    """Add this area's viewsets to the /api/v1/ router."""
    router.register("grids", GridViewSet, basename="grid")
    router.register("grid-coverage", CoverageViewSet, basename="gridcoverage")
    router.register("grid-workers", WorkerViewSet, basename="gridworker")
    router.register("grid-assignments", AssignmentViewSet, basename="gridassignment")
