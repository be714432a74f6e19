"""Reusable reads of grids: which events a user may see."""

from django.db.models import Q

from party_org.selectors import scope_q

from .models import Department, GridEvent


def events_visible_to(user, queryset=None):
    """Events in the user's subtrees, plus those called to a department the user works for."""
    queryset = GridEvent.objects.all() if queryset is None else queryset
    q = scope_q(user, "org_unit")
    if q is None:
        return queryset
    if user is not None and user.is_authenticated:
        # A subquery, not a join: a join through department staff would repeat rows.
        q |= Q(department__in=Department.objects.filter(staff=user).values("pk"))
    return queryset.filter(q)
