"""Figures of 双报到, posts and duties and emergency roles, for the statistics layer.

Each group runs a fixed number of grouped queries over range filters on the tree columns.
"""

from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils.translation import gettext_lazy as _

from ..models import (
    EmergencyActivation,
    InServiceRegistration,
    MemberStatus,
    OrgKind,
    OrgUnit,
    PartyMember,
    PostAssignment,
    ServiceRecord,
)
from ..statistics import Figure, Rate, register

REGISTRATIONS = _("registrations")
PEOPLE = _("people")


def _in_period(field, period):
    q = Q(**{f"{field}__lte": period.end})
    if period.start:
        q &= Q(**{f"{field}__gte": period.start})
    return q


@register(
    Figure(
        "registrations.active", _("In-service registrations active at the end of the period"),
        REGISTRATIONS,
    ),
    Figure("registrations.new", _("New in-service registrations in the period"), REGISTRATIONS),
    Figure("registrations.service_records", _("Services by registered members in the period"),
           _("times")),
    Figure("registrations.service_hours", _("Service hours of registered members in the period"),
           _("hours")),
)
def registration_figures(subtree, period):
    end = period.end
    active_at_end = Q(registered_on__lte=end) & (
        Q(ended_on__gt=end) | Q(ended_on__isnull=True, status=InServiceRegistration.Status.ACTIVE)
    )
    counts = InServiceRegistration.objects.filter(subtree.q("branch")).aggregate(
        active=Count("pk", filter=active_at_end),
        new=Count("pk", filter=_in_period("registered_on", period)),
    )
    service = ServiceRecord.objects.filter(
        subtree.q("registration__branch"), _in_period("served_on", period)
    ).aggregate(records=Count("pk"), hours=Sum("hours"))
    return {
        "registrations.active": counts["active"],
        "registrations.new": counts["new"],
        "registrations.service_records": service["records"],
        "registrations.service_hours": float(service["hours"] or Decimal("0")),
    }


@register(
    Figure("posts.active", _("Active posts with duties"), _("posts")),
    Figure("posts.members_in_posts", _("Members holding a post at the end of the period"), PEOPLE),
    Figure(
        "posts.branch_coverage", _("Branches with a member in a post"), "%",
        _("Share of active compound branches with at least one post held at the end of the "
          "period."),
    ),
)
def post_figures(subtree, period):
    end = period.end
    held = PostAssignment.objects.filter(
        subtree.q("post__org_unit"),
        Q(ended_on__isnull=True) | Q(ended_on__gte=end),
        started_on__lte=end,
        post__is_active=True,
    ).aggregate(
        members=Count("member", distinct=True),
        branches=Count(
            "post__org_unit",
            filter=Q(post__org_unit__kind=OrgKind.BRANCH, post__org_unit__is_active=True),
            distinct=True,
        ),
    )
    units = OrgUnit.objects.filter(subtree.q(), kind=OrgKind.BRANCH, is_active=True).aggregate(
        branches=Count("pk", distinct=True),
        posts=Count("posts", filter=Q(posts__is_active=True), distinct=True),
    )
    return {
        "posts.active": units["posts"],
        "posts.members_in_posts": held["members"],
        "posts.branch_coverage": Rate(held["branches"], units["branches"]),
    }


@register(
    Figure("emergency.members_with_role", _("Active members with an emergency role"), PEOPLE),
    Figure(
        "emergency.role_coverage", _("Share of active members with an emergency role"), "%",
        _("Members who know where to report and what to do when an emergency is declared."),
    ),
    Figure("emergency.activations", _("Emergency activations started in the period"),
           _("activations")),
)
def emergency_figures(subtree, period):
    members = PartyMember.objects.filter(
        subtree.q("org_unit"), status=MemberStatus.ACTIVE
    ).aggregate(total=Count("pk"), with_role=Count("emergency_role"))
    started = EmergencyActivation.objects.filter(
        subtree.q("org_unit"), started_at__lt=period.end_datetime
    )
    if period.start:
        started = started.filter(started_at__gte=period.start_datetime)
    return {
        "emergency.members_with_role": members["with_role"],
        "emergency.role_coverage": Rate(members["with_role"], members["total"]),
        "emergency.activations": started.count(),
    }
