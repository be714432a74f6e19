"""Figures over party members, for the statistics layer (see party_org.statistics).

A member's category and status at the end of the period are read back from the dated history
(MemberChange): a change that takes effect after the period still shows the old value. The member's
branch is the current one, so a member who moved after the period counts where they are now.
"""

from django.db.models import Case, CharField, Count, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from ..models import MemberCategory, MemberChange, MemberChangeKind, MemberStatus, PartyMember
from ..models.members import RecordLocation
from ..statistics import Figure, register

PEOPLE = _("people")
ABSENT = "absent"  # not on this ledger yet at the period end (arrived or joined later)

CATEGORY_LABELS = {
    MemberCategory.DIRECT: _("Directly managed members"),
    MemberCategory.MOBILE: _("Mobile members"),
    MemberCategory.IN_SERVICE: _("In-service members"),
    MemberCategory.RETIRED: _("Retired members"),
}


def members_as_of(queryset, day):
    """Annotate `category_at` and `status_at`: the member's category and status on `day`."""
    later = MemberChange.objects.filter(member=OuterRef("pk"), effective_on__gt=day).order_by(
        "effective_on", "recorded_at", "pk"
    )
    first_category_change = later.filter(kind=MemberChangeKind.CATEGORY).values("from_value")[:1]
    status_kinds = [
        MemberChangeKind.STATUS, MemberChangeKind.TRANSFER_OUT, MemberChangeKind.TRANSFER_IN,
    ]
    first_status_change = later.filter(kind__in=status_kinds)
    return queryset.annotate(
        category_at=Coalesce(Subquery(first_category_change), "category"),
        next_status_kind=Subquery(first_status_change.values("kind")[:1]),
        next_status_from=Subquery(first_status_change.values("from_value")[:1]),
    ).annotate(
        status_at=Case(
            When(joined_on__gt=day, then=Value(ABSENT)),
            When(next_status_kind=MemberChangeKind.STATUS, then="next_status_from"),
            # Before a transfer out the member was active here; before a transfer in, not here.
            When(next_status_kind=MemberChangeKind.TRANSFER_OUT, then=Value(MemberStatus.ACTIVE)),
            When(next_status_kind=MemberChangeKind.TRANSFER_IN, then=Value(ABSENT)),
            default="status",
            output_field=CharField(),
        )
    )


@register(
    *(
        Figure(f"members.{category.value}", label, PEOPLE)
        for category, label in CATEGORY_LABELS.items()
    ),
    Figure("members.active", _("Party members (active)"), PEOPLE),
    Figure(
        "members.retired_record_elsewhere",
        _("Retired members whose membership record is held elsewhere"),
        PEOPLE,
    ),
    Figure("members.joined_in_period", _("Members who joined the party in the period"), PEOPLE),
)
def member_figures(subtree, period):
    members = members_as_of(PartyMember.objects.filter(subtree.q("org_unit")), period.end)
    active = Q(status_at=MemberStatus.ACTIVE)
    joined = Q(joined_on__lte=period.end)
    if period.start:
        joined &= Q(joined_on__gte=period.start)
    counts = members.aggregate(
        active=Count("pk", filter=active),
        retired_elsewhere=Count(
            "pk",
            filter=active
            & Q(category_at=MemberCategory.RETIRED, record_location=RecordLocation.ELSEWHERE),
        ),
        joined=Count("pk", filter=joined),
        **{
            category.value: Count("pk", filter=active & Q(category_at=category.value))
            for category in MemberCategory
        },
    )
    values = {f"members.{category.value}": counts[category.value] for category in MemberCategory}
    values["members.active"] = counts["active"]
    values["members.retired_record_elsewhere"] = counts["retired_elsewhere"]
    values["members.joined_in_period"] = counts["joined"]
    return values


@register(
    Figure("members.transferred_in", _("Members transferred in during the period"), PEOPLE),
    Figure("members.transferred_out", _("Members transferred out during the period"), PEOPLE),
)
def transfer_figures(subtree, period):
    changes = MemberChange.objects.filter(
        subtree.q("member__org_unit"), effective_on__lte=period.end
    )
    if period.start:
        changes = changes.filter(effective_on__gte=period.start)
    counts = changes.aggregate(
        transferred_in=Count("pk", filter=Q(kind=MemberChangeKind.TRANSFER_IN)),
        transferred_out=Count("pk", filter=Q(kind=MemberChangeKind.TRANSFER_OUT)),
    )
    return {
        "members.transferred_in": counts["transferred_in"],
        "members.transferred_out": counts["transferred_out"],
    }
