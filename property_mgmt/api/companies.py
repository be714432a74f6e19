"""Property companies: city-wide reference data read by every staff role and written, through
the services, by the roles holding the permission (the streets). The contact phone is read back
masked unless the reader may view personal data."""

import django_filters
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from party_org import pii
from party_org.api.base import ScopedModelViewSet, ScopedPrimaryKeyRelatedField
from party_org.models import OrgUnit, Person
from party_org.personal_data import reveal

from .. import services
from ..models import PartyFormation, PropertyCompany


class PropertyCompanySerializer(serializers.ModelSerializer):
    party_formation_display = serializers.CharField(source="get_party_formation_display",
                                                    read_only=True)
    party_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all(), allow_null=True,
                                              required=False)
    party_unit_name = serializers.CharField(source="party_unit.name", read_only=True,
                                            default=None)
    instructor = ScopedPrimaryKeyRelatedField(queryset=Person.objects.all(), allow_null=True,
                                              required=False)
    instructor_name = serializers.CharField(source="instructor.name", read_only=True,
                                            default=None)

    class Meta:
        model = PropertyCompany
        fields = [
            "id", "name", "credit_code", "contact_name", "contact_phone", "address",
            "party_formation", "party_formation_display", "party_unit", "party_unit_name",
            "instructor", "instructor_name", "is_red_property", "is_active",
        ]
        # The service normalises the code and checks it and the name, in words.
        extra_kwargs = {
            "name": {"validators": []},
            "credit_code": {"validators": [], "max_length": 40},
            "contact_phone": {
                "help_text": _("Read back masked unless you may view personal data."),
            },
        }

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["contact_phone"] = reveal(
            None, "phone", instance.contact_phone, pii.mask_phone(instance.contact_phone),
            "api:companies",
        )
        return data


class PropertyCompanyFilter(django_filters.FilterSet):
    party_formation = django_filters.MultipleChoiceFilter(choices=PartyFormation.choices,
                                                          label=_("party organisation"))
    is_red_property = django_filters.BooleanFilter(label=_("red property company"))
    is_active = django_filters.BooleanFilter(label=_("active"))

    class Meta:
        model = PropertyCompany
        fields = ["party_formation", "is_red_property", "is_active"]


class PropertyCompanyViewSet(ScopedModelViewSet):
    """Property companies (物业企业) and how their party organisation was formed (三建一派).
    Companies stay on record: deactivate one instead of deleting it."""

    queryset = PropertyCompany.objects.select_related("party_unit", "instructor")
    serializer_class = PropertyCompanySerializer
    filterset_class = PropertyCompanyFilter
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    search_fields = ["name", "credit_code", "address"]
    ordering_fields = ["name"]
    ordering = ["name", "pk"]

    def _fields(self, data):
        return {name: data[name] for name in services.COMPANY_FIELDS if name in data}

    def perform_create(self, serializer):
        company = services.create_company(self.request.user,
                                          **self._fields(serializer.validated_data))
        serializer.instance = self.get_queryset().get(pk=company.pk)

    def perform_update(self, serializer):
        company = services.update_company(self.request.user, serializer.instance,
                                          **self._fields(serializer.validated_data))
        serializer.instance = self.get_queryset().get(pk=company.pk)


def register(router):
    router.register("companies", PropertyCompanyViewSet, basename="propertycompany")
