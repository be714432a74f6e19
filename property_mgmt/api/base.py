"""Shared pieces of the property-management API: the filters every list offers."""

import datetime as dt

import django_filters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from grids.api.gridding import AncestorFilterSet
from party_org.api.base import MAX_ID, IdFilter


class PlaceFilterSet(AncestorFilterSet):
    """`compound=<id>` and `ancestor=<unit id>` (the unit's whole subtree)."""

    compound_path = "compound_id"
    compound = IdFilter(method="filter_compound", label=_("compound id"))

    def filter_compound(self, queryset, name, value):
        return queryset.filter(**{self.compound_path: value})


def year_filter(label=_("year")):
    return django_filters.NumberFilter(method="filter_year", label=label, min_value=1900,
                                       max_value=2100)


def today():
    return timezone.localdate()


def within(days):
    return today() + dt.timedelta(days=days)


class IdField(serializers.IntegerField):
    """A row id: a whole number within the id column's range."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)
