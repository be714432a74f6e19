"""grids API: compounds, buildings, entrances, household files (一户一档) and the five lists.

Writes go through grids.services.territory. A household's contact phone is read back through
party_org.personal_data.reveal and its care flags through grids.care: masked unless the reader
holds the permission, full reads logged. Filtering by a care flag needs the permission too (403
otherwise): the rows a filter returns reveal the flag.
"""

import django_filters
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers

from party_org import personal_data, pii
from party_org.api.base import Conflict, IdFilter, ScopedModelViewSet, ScopedPrimaryKeyRelatedField
from party_org.models import OrgUnit, Person
from party_org.selectors import Subtree, org_units_for

from .. import care
from ..models import (
    Building,
    CareFlag,
    Compound,
    CompoundType,
    Entrance,
    Household,
    ResidentList,
    ResidentListEntry,
)
from ..services import territory as services


def _read_context(serializer, area):
    view = serializer.context.get("view")
    action = getattr(view, "action", None)
    return f"api:{area}:{'list' if action == 'list' else 'detail'}"


def _reader(serializer):
    request = serializer.context.get("request")
    return getattr(request, "user", None)


class AncestorFilterSet(django_filters.FilterSet):
    """`ancestor`: rows of the whole subtree of a unit the user can see, else nothing."""

    ancestor_path = "org_unit"

    def filter_ancestor(self, queryset, name, value):
        node = org_units_for(self.request.user).filter(pk=value).first()
        if node is None:
            return queryset.none()
        return queryset.filter(Subtree.of(node).q(self.ancestor_path))


def _ancestor():
    return IdFilter(
        method="filter_ancestor", label=_("ancestor unit id (the whole subtree, itself included)")
    )


class ServiceViewSet(ScopedModelViewSet):
    """create/update/destroy through the `create`, `update` and `delete` service functions."""

    create_service = update_service = delete_service = None

    def fresh(self, obj):
        # The row as the list shows it (annotations, related rows), read past the filters.
        return type(self).queryset.filter(pk=obj.pk).get()

    def service_values(self, data):
        return dict(data)

    def perform_create(self, serializer):
        obj = type(self).create_service(
            self.request.user, **self.service_values(serializer.validated_data)
        )
        serializer.instance = self.fresh(obj)

    def perform_update(self, serializer):
        obj = type(self).update_service(
            self.request.user, serializer.instance,
            **self.service_values(serializer.validated_data),
        )
        serializer.instance = self.fresh(obj)

    def perform_destroy(self, instance):
        try:
            type(self).delete_service(self.request.user, instance)
        except ValidationError as error:
            raise Conflict(" ".join(error.messages)) from None


# ---- compounds -------------------------------------------------------------------------------


class CompoundSerializer(serializers.ModelSerializer):
    org_unit = ScopedPrimaryKeyRelatedField(
        queryset=OrgUnit.objects.all(),
        help_text=_("The branch that covers the compound, or its community while it has none."),
    )
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)
    community_name = serializers.CharField(read_only=True, default=None)
    compound_type_display = serializers.CharField(
        source="get_compound_type_display", read_only=True
    )

    class Meta:
        model = Compound
        fields = [
            "id", "name", "org_unit", "org_unit_name", "community_name", "compound_type",
            "compound_type_display", "households", "population", "floor_area_m2",
            "year_built", "address", "latitude", "longitude", "is_active",
        ]
        # Uniqueness is checked by the service, with a message that names the clash.
        validators = []


class CompoundFilter(AncestorFilterSet):
    type = django_filters.MultipleChoiceFilter(
        field_name="compound_type", choices=CompoundType.choices, label=_("type")
    )
    org_unit = IdFilter(field_name="org_unit_id", label=_("covering unit id"))
    ancestor = _ancestor()
    is_active = django_filters.BooleanFilter(label=_("active"))

    class Meta:
        model = Compound
        fields = ["type", "org_unit", "ancestor", "is_active"]


class CompoundViewSet(ServiceViewSet):
    """Compounds (小区) with the branch that covers them and their community."""

    queryset = services.with_community(Compound.objects.select_related("org_unit"))
    serializer_class = CompoundSerializer
    filterset_class = CompoundFilter
    search_fields = ["name", "address"]
    ordering_fields = ["name", "households", "population", "year_built"]
    ordering = ["org_unit__tree_id", "org_unit__lft", "name", "id"]
    create_service = staticmethod(services.create_compound)
    update_service = staticmethod(services.update_compound)
    delete_service = staticmethod(services.delete_compound)


# ---- buildings and entrances -----------------------------------------------------------------


class EntranceSerializer(serializers.ModelSerializer):
    building = ScopedPrimaryKeyRelatedField(queryset=Building.objects.all())
    building_number = serializers.CharField(source="building.number", read_only=True)
    compound = serializers.IntegerField(source="building.compound_id", read_only=True)
    entrance_head = ScopedPrimaryKeyRelatedField(
        queryset=Person.objects.all(), allow_null=True, required=False
    )
    entrance_head_name = serializers.CharField(
        source="entrance_head.name", read_only=True, default=None
    )

    class Meta:
        model = Entrance
        fields = [
            "id", "building", "building_number", "compound", "number", "entrance_head",
            "entrance_head_name",
        ]
        extra_kwargs = {"number": {"label": _("entrance number")}}
        validators = []


class NestedEntranceSerializer(serializers.ModelSerializer):
    entrance_head_name = serializers.CharField(
        source="entrance_head.name", read_only=True, default=None
    )

    class Meta:
        model = Entrance
        fields = ["id", "number", "entrance_head", "entrance_head_name"]
        read_only_fields = fields
        extra_kwargs = {"number": {"label": _("entrance number")}}


class BuildingSerializer(serializers.ModelSerializer):
    compound = ScopedPrimaryKeyRelatedField(queryset=Compound.objects.all())
    compound_name = serializers.CharField(source="compound.name", read_only=True)
    building_head = ScopedPrimaryKeyRelatedField(
        queryset=Person.objects.all(), allow_null=True, required=False
    )
    building_head_name = serializers.CharField(
        source="building_head.name", read_only=True, default=None
    )
    entrances = NestedEntranceSerializer(many=True, read_only=True)

    class Meta:
        model = Building
        fields = [
            "id", "compound", "compound_name", "number", "floors", "building_head",
            "building_head_name", "entrances",
        ]
        extra_kwargs = {"number": {"label": _("building number")}}
        validators = []


class BuildingFilter(AncestorFilterSet):
    ancestor_path = "compound__org_unit"
    compound = IdFilter(field_name="compound_id", label=_("compound id"))
    ancestor = _ancestor()

    class Meta:
        model = Building
        fields = ["compound", "ancestor"]


class BuildingViewSet(ServiceViewSet):
    """Buildings (楼栋) of compounds, with their building heads and entrances."""

    queryset = Building.objects.select_related("compound", "building_head").prefetch_related(
        "entrances__entrance_head"
    )
    serializer_class = BuildingSerializer
    filterset_class = BuildingFilter
    search_fields = ["number", "compound__name"]
    ordering_fields = ["number"]
    ordering = ["compound__name", "number", "id"]
    create_service = staticmethod(services.create_building)
    update_service = staticmethod(services.update_building)
    delete_service = staticmethod(services.delete_building)


class EntranceFilter(AncestorFilterSet):
    ancestor_path = "building__compound__org_unit"
    building = IdFilter(field_name="building_id", label=_("building id"))
    compound = IdFilter(field_name="building__compound_id", label=_("compound id"))
    ancestor = _ancestor()

    class Meta:
        model = Entrance
        fields = ["building", "compound", "ancestor"]


class EntranceViewSet(ServiceViewSet):
    """Entrances (单元) of buildings, with their entrance heads."""

    queryset = Entrance.objects.select_related("building", "entrance_head")
    serializer_class = EntranceSerializer
    filterset_class = EntranceFilter
    search_fields = ["number", "building__number", "building__compound__name"]
    ordering_fields = ["number"]
    ordering = ["building__compound__name", "building__number", "number", "id"]
    create_service = staticmethod(services.create_entrance)
    update_service = staticmethod(services.update_entrance)
    delete_service = staticmethod(services.delete_entrance)


# ---- household files -------------------------------------------------------------------------


class HouseholdSerializer(serializers.ModelSerializer):
    compound = ScopedPrimaryKeyRelatedField(queryset=Compound.objects.all())
    compound_name = serializers.CharField(source="compound.name", read_only=True)
    building = ScopedPrimaryKeyRelatedField(
        queryset=Building.objects.all(), allow_null=True, required=False
    )
    building_number = serializers.CharField(source="building.number", read_only=True, default=None)
    entrance = ScopedPrimaryKeyRelatedField(
        queryset=Entrance.objects.all(), allow_null=True, required=False
    )
    entrance_number = serializers.CharField(source="entrance.number", read_only=True, default=None)
    head = ScopedPrimaryKeyRelatedField(
        queryset=Person.objects.all(), allow_null=True, required=False
    )
    head_name = serializers.CharField(source="head.name", read_only=True, default=None)
    contact_phone = serializers.CharField(
        required=False, allow_blank=True, max_length=20, write_only=True,
        help_text=_("Read back masked unless you may view personal data."),
    )
    care_flags = serializers.ListField(
        child=serializers.ChoiceField(choices=CareFlag.choices), required=False,
        write_only=True,
        help_text=_("Read back only if you may view care flags (null otherwise); setting "
                    "them needs that permission."),
    )

    class Meta:
        model = Household
        fields = [
            "id", "compound", "compound_name", "building", "building_number", "entrance",
            "entrance_number", "room", "head", "head_name", "members_count", "contact_phone",
            "care_flags", "note", "updated_at",
        ]
        read_only_fields = ["updated_at"]
        validators = []

    def to_representation(self, instance):
        data = super().to_representation(instance)
        context = _read_context(self, "households")
        data["contact_phone"] = personal_data.reveal(
            instance.head, "household_phone", instance.contact_phone,
            pii.mask_phone(instance.contact_phone), context,
        )
        values = care.care_flag_values_for(instance, context)
        data["care_flags"] = values
        data["care_flags_display"] = care.MASK if values is None else "、".join(
            care.labels(values)
        )
        data["personal_data_masked"] = not personal_data.can_view(_reader(self))
        data["care_flags_masked"] = values is None
        return data


class HouseholdFilter(AncestorFilterSet):
    ancestor_path = "compound__org_unit"
    compound = IdFilter(field_name="compound_id", label=_("compound id"))
    building = IdFilter(field_name="building_id", label=_("building id"))
    entrance = IdFilter(field_name="entrance_id", label=_("entrance id"))
    ancestor = _ancestor()
    care_flag = django_filters.ChoiceFilter(
        choices=CareFlag.choices, method="filter_care_flag",
        label=_("care flag (needs the permission to view care flags)"),
    )

    class Meta:
        model = Household
        fields = ["compound", "building", "entrance", "ancestor", "care_flag"]

    def filter_care_flag(self, queryset, name, value):
        if not care.can_view_care_flags(self.request.user):
            raise exceptions.PermissionDenied(
                _("You do not have permission to filter by care flags.")
            )
        return queryset.filter(care.flag_q(value))


class HouseholdViewSet(ServiceViewSet):
    """Household files (一户一档); contact phones and care flags masked unless permitted."""

    queryset = Household.objects.select_related("compound", "building", "entrance", "head")
    serializer_class = HouseholdSerializer
    filterset_class = HouseholdFilter
    # Never the phone or the flags: a search would reveal them.
    search_fields = ["room", "head__name", "compound__name"]
    ordering_fields = ["room", "members_count", "updated_at"]
    ordering = ["compound__name", "building__number", "entrance__number", "room", "id"]
    create_service = staticmethod(services.create_household)
    update_service = staticmethod(services.update_household)
    delete_service = staticmethod(services.delete_household)


# ---- the five lists --------------------------------------------------------------------------


class ResidentListEntrySerializer(serializers.ModelSerializer):
    compound = ScopedPrimaryKeyRelatedField(
        queryset=Compound.objects.all(), help_text=_("Fixed once the entry is made.")
    )
    compound_name = serializers.CharField(source="compound.name", read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    person = ScopedPrimaryKeyRelatedField(
        queryset=Person.objects.all(), help_text=_("Fixed once the entry is made.")
    )
    person_name = serializers.CharField(source="person.name", read_only=True)
    household = ScopedPrimaryKeyRelatedField(
        queryset=Household.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = ResidentListEntry
        fields = [
            "id", "compound", "compound_name", "kind", "kind_display", "person",
            "person_name", "household", "note", "added_on",
        ]
        read_only_fields = ["added_on"]
        validators = []

    def validate(self, attrs):
        if self.instance is not None:
            fixed = {
                name: _("An entry's compound, list and person cannot be changed; remove it "
                        "and add a new one.")
                for name in ("compound", "kind", "person")
                if name in attrs and (
                    getattr(attrs[name], "pk", attrs[name])
                    != getattr(self.instance, ResidentListEntry._meta.get_field(name).attname)
                )
            }
            if fixed:
                raise serializers.ValidationError(fixed)
        return attrs


class ResidentListFilter(AncestorFilterSet):
    ancestor_path = "compound__org_unit"
    compound = IdFilter(field_name="compound_id", label=_("compound id"))
    kind = django_filters.MultipleChoiceFilter(choices=ResidentList.choices, label=_("list"))
    person = IdFilter(field_name="person_id", label=_("person id"))
    household = IdFilter(field_name="household_id", label=_("household id"))
    ancestor = _ancestor()

    class Meta:
        model = ResidentListEntry
        fields = ["compound", "kind", "person", "household", "ancestor"]


class ResidentListEntryViewSet(ServiceViewSet):
    """The five lists of a compound (residents, party members, special persons, key persons,
    outsiders)."""

    queryset = ResidentListEntry.objects.select_related("compound", "person")
    serializer_class = ResidentListEntrySerializer
    filterset_class = ResidentListFilter
    search_fields = ["person__name", "compound__name", "note"]
    ordering_fields = ["added_on", "person__name"]
    ordering = ["compound__name", "kind", "person__name", "id"]
    create_service = staticmethod(services.add_list_entry)
    update_service = staticmethod(services.update_list_entry)
    delete_service = staticmethod(services.remove_list_entry)

    def service_values(self, data):
        if self.action in ("update", "partial_update"):
            return {name: data[name] for name in services.ENTRY_EDITABLE if name in data}
        return dict(data)


def register(router):
    """Add this area's viewsets to the /api/v1/ router."""
    router.register("compounds", CompoundViewSet, basename="compound")
    router.register("buildings", BuildingViewSet, basename="building")
    router.register("entrances", EntranceViewSet, basename="entrance")
    router.register("households", HouseholdViewSet, basename="household")
    router.register("resident-lists", ResidentListEntryViewSet, basename="residentlistentry")
