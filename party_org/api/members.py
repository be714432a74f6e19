"""API of party_org: people and party members (the four ledgers).

Phones and ID numbers are written like any field but always read through party_org.personal_data:
masked unless the reader holds `view_personal_data`, and every full read is logged. Writes go
through party_org.services.members, so the API keeps the same history and change log as the admin.
"""

import django_filters
from django import forms
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .. import personal_data, pii
from ..models import (
    Gender,
    MemberCategory,
    MemberChange,
    MemberStatus,
    OrgUnit,
    PartyMember,
    Person,
    WorkUnit,
)
from ..models.members import RecordLocation
from ..selectors import Subtree, org_units_for
from ..services import members as services
from .base import Conflict, IdFilter, ScopedModelViewSet, ScopedPrimaryKeyRelatedField


def _read_context(serializer, area):
    view = serializer.context.get("view")
    action = getattr(view, "action", None)
    return f"api:{area}:{'list' if action == 'list' else 'detail'}"


def _reader(serializer):
    request = serializer.context.get("request")
    return getattr(request, "user", None)




class AncestorFilterMixin:
    id_number_path = ""

    def filter_id_number(self, queryset, name, value):
        lookup = pii.id_number_lookup(value, self.id_number_path)
        return queryset.none() if lookup is None else queryset.filter(**lookup)

    def filter_ancestor(self, queryset, name, value):
        # The ancestor must itself be visible to the user, else the answer is empty.
        node = org_units_for(self.request.user).filter(pk=value).first()
        if node is None:
            return queryset.none()
        return queryset.filter(Subtree.of(node).q("org_unit"))


# ---- people ----------------------------------------------------------------------------------


class PersonSerializer(serializers.ModelSerializer):
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)
    gender_display = serializers.CharField(source="get_gender_display", read_only=True)
    phone = serializers.CharField(
        required=False, allow_blank=True, max_length=20, write_only=True,
        help_text=_("Read back masked unless you may view personal data."),
    )
    id_number = serializers.CharField(
        required=False, allow_blank=True, max_length=22, write_only=True,
        help_text=_("Read back masked unless you may view personal data."),
    )
    member = serializers.SerializerMethodField(
        help_text=_("The party member record of this person, if any.")
    )

    class Meta:
        model = Person
        fields = [
            "id", "name", "gender", "gender_display", "birth_date", "phone", "id_number",
            "org_unit", "org_unit_name", "member", "created_at", "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def get_member(self, obj) -> int | None:
        try:
            return obj.membership.pk
        except ObjectDoesNotExist:
            return None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        context = _read_context(self, "people")
        data["phone"] = personal_data.phone_for(instance, context)
        data["id_number"] = personal_data.id_number_for(instance, context)
        data["personal_data_masked"] = not personal_data.can_view(_reader(self))
        return data


class PersonFilter(AncestorFilterMixin, django_filters.FilterSet):
    org_unit = IdFilter(field_name="org_unit_id", label=_("unit id"))
    ancestor = IdFilter(
        method="filter_ancestor", label=_("ancestor unit id (the whole subtree, itself included)")
    )
    gender = django_filters.ChoiceFilter(choices=Gender.choices, label=_("gender"))
    id_number = django_filters.CharFilter(
        method="filter_id_number", label=_("ID number (the full 18 characters)")
    )
    is_member = django_filters.BooleanFilter(
        field_name="membership", lookup_expr="isnull", exclude=True, label=_("is a party member")
    )

    class Meta:
        model = Person
        fields = ["org_unit", "ancestor", "gender", "is_member", "id_number"]


class PersonViewSet(ScopedModelViewSet):
    """People: the one record of a member, volunteer, grid worker or resident."""

    queryset = Person.objects.select_related("org_unit", "membership")
    serializer_class = PersonSerializer
    filterset_class = PersonFilter
    search_fields = ["name"]
    ordering_fields = ["name", "birth_date", "created_at"]
    ordering = ["name", "id"]

    def _personal(self, data):
        return {name: data[name] for name in ("phone", "id_number") if name in data}

    def _fields(self, data):
        return {name: data[name] for name in services.PERSON_FIELDS if name in data}

    def _fresh(self, person):
        return self.queryset.get(pk=person.pk)

    def perform_create(self, serializer):
        data = serializer.validated_data
        person = services.create_person(
            self.request.user, **self._fields(data), **self._personal(data)
        )
        serializer.instance = self._fresh(person)

    def perform_update(self, serializer):
        data = serializer.validated_data
        person = services.update_person(
            self.request.user, serializer.instance, **self._fields(data), **self._personal(data)
        )
        serializer.instance = self._fresh(person)

    def perform_destroy(self, instance):
        try:
            services.delete_person(self.request.user, instance)
        except ValidationError as error:
            raise Conflict(" ".join(error.messages)) from None


# ---- members ---------------------------------------------------------------------------------


class MemberChangeSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    from_label = serializers.SerializerMethodField()
    to_label = serializers.SerializerMethodField()
    recorded_by = serializers.CharField(source="recorded_by.username", default=None)

    class Meta:
        model = MemberChange
        fields = [
            "id", "kind", "kind_display", "effective_on", "from_value", "from_label",
            "to_value", "to_label", "note", "recorded_by", "recorded_at",
        ]
        read_only_fields = fields

    def get_from_label(self, obj) -> str:
        return services.history_value_label(obj.kind, obj.from_value)

    def get_to_label(self, obj) -> str:
        return services.history_value_label(obj.kind, obj.to_value)


class MemberSerializer(serializers.ModelSerializer):
    person = ScopedPrimaryKeyRelatedField(
        queryset=Person.objects.all(), help_text=_("Fixed once the member is recorded.")
    )
    name = serializers.CharField(source="person.name", read_only=True)
    gender = serializers.CharField(source="person.gender", read_only=True)
    birth_date = serializers.DateField(source="person.birth_date", read_only=True)
    category_display = serializers.CharField(source="get_category_display", read_only=True)
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)
    household = ScopedPrimaryKeyRelatedField(
        queryset=OrgUnit.objects.all(), allow_null=True, required=False
    )
    household_name = serializers.CharField(source="household.name", read_only=True, default=None)
    employer = ScopedPrimaryKeyRelatedField(
        queryset=WorkUnit.objects.all(), allow_null=True, required=False
    )
    employer_name = serializers.CharField(source="employer.name", read_only=True, default=None)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    # The when, where and why of a change to the member's history.
    effective_on = serializers.DateField(
        write_only=True, required=False,
        help_text=_("When the category, branch or status changes: the day it takes effect "
                    "(default today)."),
    )
    transfer_place = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=120,
        help_text=_("The party organisation the member comes from or is transferred to."),
    )
    transferred_in_on = serializers.DateField(
        write_only=True, required=False, allow_null=True,
        help_text=_("On creation: the day the member arrived from another party organisation."),
    )
    change_note = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=300
    )

    class Meta:
        model = PartyMember
        fields = [
            "id", "person", "name", "gender", "birth_date", "category", "category_display",
            "org_unit", "org_unit_name", "household", "household_name", "joined_on",
            "record_location", "record_held_by", "employer", "employer_name", "status",
            "status_display", "is_veteran", "is_cadre", "fifty_years", "created_at",
            "updated_at", "effective_on", "transfer_place", "transferred_in_on", "change_note",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate(self, attrs):
        person = attrs.get("person")
        if self.instance is not None and person is not None and person.pk != (
            self.instance.person_id
        ):
            raise serializers.ValidationError(
                {"person": [_("A member's person cannot be changed.")]}
            )
        return attrs

    def to_representation(self, instance):
        data = super().to_representation(instance)
        context = _read_context(self, "members")
        data["phone"] = personal_data.phone_for(instance.person, context)
        data["id_number"] = personal_data.id_number_for(instance.person, context)
        data["personal_data_masked"] = not personal_data.can_view(_reader(self))
        return data


class MemberDetailSerializer(MemberSerializer):
    history = MemberChangeSerializer(source="changes", many=True, read_only=True)

    class Meta(MemberSerializer.Meta):
        fields = [*MemberSerializer.Meta.fields, "history"]


class MemberFilter(AncestorFilterMixin, django_filters.FilterSet):
    category = django_filters.MultipleChoiceFilter(
        choices=MemberCategory.choices, label=_("category")
    )
    status = django_filters.MultipleChoiceFilter(choices=MemberStatus.choices, label=_("status"))
    org_unit = IdFilter(
        field_name="org_unit_id", label=_("branch or building group id")
    )
    ancestor = IdFilter(
        method="filter_ancestor",
        label=_("ancestor unit id (members of the whole subtree, itself included)"),
    )
    record_location = django_filters.ChoiceFilter(
        choices=RecordLocation.choices, label=_("membership record")
    )
    employer = IdFilter(field_name="employer_id", label=_("employer unit id"))
    id_number = django_filters.CharFilter(
        method="filter_id_number", label=_("ID number (the full 18 characters)")
    )
    id_number_path = "person__"

    class Meta:
        model = PartyMember
        fields = [
            "category", "status", "org_unit", "ancestor", "record_location", "employer",
            "is_veteran", "is_cadre", "fifty_years", "id_number",
        ]


WRITE_EXTRAS = ("effective_on", "transfer_place", "transferred_in_on", "change_note")


class MemberViewSet(ScopedModelViewSet):
    """Party members of the four ledgers (直管/流动/在职/离退休), filtered by category, status and
    subtree; changes of category, branch and status are kept as dated history."""

    queryset = PartyMember.objects.select_related("person", "org_unit", "household", "employer")
    filterset_class = MemberFilter
    search_fields = ["person__name"]
    ordering_fields = ["person__name", "joined_on", "created_at"]
    ordering = ["org_unit__tree_id", "org_unit__lft", "person__name", "id"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("changes__recorded_by")
        return queryset

    def get_serializer_class(self):
        return MemberDetailSerializer if self.action == "retrieve" else MemberSerializer

    def _fresh(self, member):
        return self.queryset.get(pk=member.pk)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        extras = {name: data.pop(name, None) for name in WRITE_EXTRAS}
        data.pop("status", None)
        member = services.create_member(
            self.request.user,
            transferred_in_on=extras["transferred_in_on"],
            transferred_from=extras["transfer_place"] or "",
            note=extras["change_note"] or "",
            **data,
        )
        serializer.instance = self._fresh(member)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        extras = {name: data.pop(name, None) for name in WRITE_EXTRAS}
        data.pop("person", None)
        member = services.update_member(
            self.request.user,
            serializer.instance,
            effective_on=extras["effective_on"],
            note=extras["change_note"] or "",
            transfer_place=extras["transfer_place"] or "",
            **data,
        )
        serializer.instance = self._fresh(member)

    def perform_destroy(self, instance):
        try:
            services.delete_member(self.request.user, instance)
        except ValidationError as error:
            raise Conflict(" ".join(error.messages)) from None


def register(router):
    """Add this area's viewsets to the /api/v1/ router."""
    router.register("people", PersonViewSet, basename="person")
    router.register("members", MemberViewSet, basename="member")
