from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..models import OrgUnit
from .base import ScopedPrimaryKeyRelatedField


class OrgUnitBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrgUnit
        fields = ["id", "name", "code", "kind"]


class OrgUnitSerializer(serializers.ModelSerializer):
    parent = ScopedPrimaryKeyRelatedField(
        queryset=OrgUnit.objects.all(), allow_null=True, required=False
    )
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    children_count = serializers.IntegerField(read_only=True)
    descendant_count = serializers.IntegerField(source="descendant_total", read_only=True)

    class Meta:
        model = OrgUnit
        fields = [
            "id",
            "name",
            "code",
            "kind",
            "kind_display",
            "parent",
            "level",
            "contact_phone",
            "address",
            "established_on",
            "is_active",
            "children_count",
            "descendant_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["level", "created_at", "updated_at"]

    def validate(self, attrs):
        # Placement by kind is checked again under the tree lock by the service; this gives
        # the same message early, against the parent the client asked for.
        parent = attrs.get("parent", getattr(self.instance, "parent", None))
        probe = self.instance or OrgUnit()
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        if kind:
            original_kind = probe.kind
            probe.kind = kind
            problem = probe.placement_problem(parent)
            probe.kind = original_kind
            if problem:
                raise serializers.ValidationError({"parent": [problem]})
        return attrs


class OrgUnitDetailSerializer(OrgUnitSerializer):
    ancestors = serializers.SerializerMethodField(
        help_text=_("The path from the root down to the parent of this unit.")
    )

    class Meta(OrgUnitSerializer.Meta):
        fields = [*OrgUnitSerializer.Meta.fields, "ancestors"]

    def get_ancestors(self, obj) -> list[dict]:
        return OrgUnitBriefSerializer(obj.get_ancestors(), many=True).data


class FigureSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField(allow_blank=True)
    value = serializers.FloatField(allow_null=True)
    numerator = serializers.FloatField(required=False)
    denominator = serializers.FloatField(required=False)


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField()


class StatsSerializer(serializers.Serializer):
    org_unit = OrgUnitBriefSerializer()
    period = PeriodSerializer()
    figures = FigureSerializer(many=True)
