"""Reusable reads of grids: which events a user may see."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q

from party_org.models import StaffAssignment
from party_org.selectors import scope_q

from .models import Department, GridEvent


def events_visible_to(user, queryset=None):
    """Events in the user's subtrees, plus those called to a department the user works for."""
    queryset = GridEvent.objects.all() if queryset is None else queryset
    q = scope_q(user, "org_unit")
    if q is None:
        return queryset
    departments = departments_of(user)
    if departments:
        q |= Q(department__in=departments)
    return queryset.filter(q)


def departments_of(user):
    """Ids of the departments the user staffs (cached on the user for the request).

    Looked up first rather than OR-ed in as a subquery: the OR defeats the tree-range index for
    everyone, and almost nobody staffs a department.
    """
    if user is None or not user.is_authenticated:
        return []
    cached = getattr(user, "_department_ids", None)
    if cached is None:
        cached = user._department_ids = list(
            Department.objects.filter(staff=user).values_list("pk", flat=True)
        )
    return cached


def event_handler_candidates(event):
    """Users who may be assigned `event` (the rule of services.events.assign_event): active,
    holding grids.change_gridevent (directly, through a role group, or as superuser) and
    assigned to a unit whose subtree contains the event's unit. Two subqueries, one query."""
    unit = event.org_unit
    perm = Permission.objects.filter(
        content_type__app_label="grids", codename="change_gridevent"
    ).values("pk")
    holders = get_user_model().objects.filter(
        Q(user_permissions__in=perm) | Q(groups__permissions__in=perm)
    ).values("pk")
    above = StaffAssignment.objects.filter(
        org_unit__tree_id=unit.tree_id, org_unit__lft__lte=unit.lft, org_unit__rght__gte=unit.rght,
    ).values("user_id")
    return (
        get_user_model().objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | (Q(pk__in=holders) & Q(pk__in=above)))
        .order_by("is_superuser", "username")
    )
