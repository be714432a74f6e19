"""Reusable reads over stations, branch funds, co-building units and committees.

Everything here works on a `Subtree` (one range filter on the tree columns) or on a queryset the
caller has already scoped, so the admin, the API and the statistics share one implementation.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    BooleanField,
    Case,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, FirstValue
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import (
    BranchFundEntry,
    CommitteeMembership,
    CommitteeRole,
    EmergencyRole,
    MemberStatus,
    OrgKind,
    OrgUnit,
    PartyMember,
    PostAssignment,
    ServiceStation,
)
from .models.resources import INCOME_VALUES, STANDARD_ITEMS

MONEY = DecimalField(max_digits=14, decimal_places=2)
ZERO = Decimal("0.00")
CENT = Decimal("0.01")


# ---- service stations ------------------------------------------------------------------------


class JSONArrayLength(Func):
    """The number of elements of a JSON array column (SQLite and PostgreSQL spell it apart)."""

    function = "JSON_ARRAY_LENGTH"
    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="JSONB_ARRAY_LENGTH", **extra)


def standard_totals_case():
    """The number of checklist items of each station's standard, as an SQL expression."""
    return Case(
        *(When(standard=standard.value, then=Value(len(items)))
          for standard, items in STANDARD_ITEMS.items()),
        default=Value(0),
        output_field=IntegerField(),
    )


def with_checklist_counts(stations):
    """Annotate `checklist_met`, `checklist_total` and `meets` (the services store the checklist
    without duplicates, so its length is the number of items met)."""
    return stations.annotate(
        checklist_met=Coalesce(JSONArrayLength("checklist"), Value(0)),
        checklist_total=standard_totals_case(),
    ).annotate(
        meets=ExpressionWrapper(
            Q(checklist_met__gte=F("checklist_total")) & Q(checklist_total__gt=0),
            output_field=BooleanField(),
        )
    )


def stations_in(subtree, as_of=None):
    """Stations in the subtree that were open on `as_of` (all of them without a date)."""
    stations = ServiceStation.objects.filter(subtree.q("org_unit"))
    if as_of is not None:
        stations = stations.filter(Q(opened_on__isnull=True) | Q(opened_on__lte=as_of))
    return stations


# ---- branch funds ----------------------------------------------------------------------------


def running_balance_window():
    """SUM(amount) OVER (PARTITION BY org_unit ORDER BY entry_date, id): the balance after each
    entry, in ledger order. A window function both SQLite (3.25+) and PostgreSQL run."""
    return Window(
        expression=Sum("amount"),
        partition_by=[F("org_unit")],
        order_by=[F("entry_date").asc(), F("id").asc()],
        output_field=MONEY,
    )


def fund_ledger(entries):
    """`entries` annotated with `running_balance`, the branch's balance after each entry.

    The window sees only the rows of `entries`, so pass whole ledgers: entries filtered by
    branch, subtree or scope (a branch is always entirely inside or outside a scope). For a
    page of a list filtered any other way use `attach_running_balances`.
    """
    return entries.annotate(running_balance=running_balance_window())


def attach_running_balances(entries):
    """Set `running_balance` on each entry of a list (a page of any filtered list) in one query,
    and return the list.

    The window runs over the whole ledgers of the page's branches; the page's rows are picked
    from its result with a QUALIFY condition (Django wraps the windowed query in a subquery),
    through a per-row window that repeats the id. So a balance never depends on which other
    rows happen to be listed.
    """
    entries = list(entries)
    pks = [entry.pk for entry in entries]
    if not pks:
        return entries
    balances = dict(
        BranchFundEntry.objects.filter(
            org_unit__in=BranchFundEntry.objects.filter(pk__in=pks).values("org_unit")
        )
        .annotate(
            running_balance=running_balance_window(),
            ledger_row=Window(FirstValue("id"), partition_by=[F("id")]),
        )
        .filter(ledger_row__in=pks)
        .values_list("pk", "running_balance")
    )
    for entry in entries:
        balance = balances.get(entry.pk)
        entry.running_balance = None if balance is None else Decimal(balance).quantize(CENT)
    return entries


def iter_with_running_balances(entries, chunk_size=1000):
    """Every entry of a queryset with its running balance, a chunk at a time (for exports)."""
    batch = []
    for entry in entries.iterator(chunk_size=chunk_size):
        batch.append(entry)
        if len(batch) == chunk_size:
            yield from attach_running_balances(batch)
            batch = []
    yield from attach_running_balances(batch)


def fund_balance(org_unit, as_of=None):
    """A branch's balance (after every entry up to `as_of`, inclusive)."""
    entries = BranchFundEntry.objects.filter(org_unit=org_unit)
    if as_of is not None:
        entries = entries.filter(entry_date__lte=as_of)
    total = entries.aggregate(total=Sum("amount"))["total"]
    return Decimal(total or 0).quantize(CENT)


def fund_balances(subtree, as_of=None):
    """{branch id: balance} for every branch with entries in the subtree: one grouped query."""
    entries = BranchFundEntry.objects.filter(subtree.q("org_unit"))
    if as_of is not None:
        entries = entries.filter(entry_date__lte=as_of)
    return dict(
        entries.values("org_unit").annotate(total=Sum("amount")).values_list("org_unit", "total")
        .order_by()
    )


def fund_totals(subtree, period):
    """Income and spending in the period (net of reversals) and the balance at its end."""
    entries = BranchFundEntry.objects.filter(subtree.q("org_unit"), entry_date__lte=period.end)
    in_period = Q() if period.start is None else Q(entry_date__gte=period.start)
    income = Q(category__in=INCOME_VALUES)
    totals = entries.aggregate(
        income=Coalesce(Sum("amount", filter=in_period & income), Value(ZERO), output_field=MONEY),
        spending=Coalesce(
            Sum("amount", filter=in_period & ~income), Value(ZERO), output_field=MONEY
        ),
        balance=Coalesce(Sum("amount"), Value(ZERO), output_field=MONEY),
    )
    totals["spending"] = -totals["spending"]
    return {name: Decimal(value).quantize(CENT) for name, value in totals.items()}


# ---- committees ------------------------------------------------------------------------------


def sitting_q(as_of, prefix=""):
    """Seats (or assignments) held on `as_of`: started by then and not ended before it."""
    p = f"{prefix}__" if prefix else ""
    return Q(**{f"{p}started_on__lte": as_of}) & (
        Q(**{f"{p}ended_on__isnull": True}) | Q(**{f"{p}ended_on__gte": as_of})
    )


def secretary_seats(as_of):
    return CommitteeMembership.objects.filter(sitting_q(as_of), role=CommitteeRole.SECRETARY)


# ---- the 五有 indicator -----------------------------------------------------------------------

HAVES = ("has_org", "has_venue", "has_ledger", "has_contact", "has_emergency_plan")
HAVE_LABELS = {
    "has_org": _("has a party organisation"),
    "has_venue": _("has an activity venue"),
    "has_ledger": _("has a member ledger"),
    "has_contact": _("has a contact mechanism"),
    "has_emergency_plan": _("has an emergency plan"),
}


def _in_outer_subtree(path):
    """Rows whose unit (through `path`) lies in the subtree of the outer branch row."""
    return Q(
        **{
            f"{path}__tree_id": OuterRef("tree_id"),
            f"{path}__lft__gte": OuterRef("lft"),
            f"{path}__rght__lte": OuterRef("rght"),
        }
    )


def five_haves_queryset(subtree, as_of):
    """The branches of the subtree that existed on `as_of`, each annotated with the five haves.

    One query: each have is a correlated EXISTS over a foreign key or the narrow lft range of
    the branch's own subtree (never a scan of everything to its left in the tree).
    - has_org: the branch is active and has a sitting secretary;
    - has_venue: a station open by then on the branch, its general branch or its community
      (a branch nests under a branch at most once, so these are its parent and grandparent);
    - has_ledger: an active party member anywhere in the branch's subtree;
    - has_contact: a current assignment of an active member to an active post of the branch;
    - has_emergency_plan: an active member whose emergency role reports to a unit of its subtree.
    """
    sitting = secretary_seats(as_of).filter(org_unit=OuterRef("pk"))
    venue = ServiceStation.objects.filter(
        Q(opened_on__isnull=True) | Q(opened_on__lte=as_of),
        Q(org_unit=OuterRef("pk"))
        | Q(org_unit=OuterRef("parent_id"))
        | Q(org_unit=OuterRef("parent__parent_id")),
    )
    ledger = PartyMember.objects.filter(_in_outer_subtree("org_unit"), status=MemberStatus.ACTIVE)
    contact = PostAssignment.objects.filter(
        sitting_q(as_of),
        post__org_unit=OuterRef("pk"),
        post__is_active=True,
        member__status=MemberStatus.ACTIVE,
    )
    emergency = EmergencyRole.objects.filter(
        _in_outer_subtree("place"), member__status=MemberStatus.ACTIVE
    )
    community = Case(
        When(parent__kind=OrgKind.COMMUNITY, then=F("parent__name")),
        When(parent__parent__kind=OrgKind.COMMUNITY, then=F("parent__parent__name")),
        default=Value(""),
    )
    return (
        OrgUnit.objects.filter(subtree.q(), kind=OrgKind.BRANCH)
        .filter(Q(established_on__isnull=True) | Q(established_on__lte=as_of))
        .annotate(
            has_org=ExpressionWrapper(
                Q(is_active=True) & Exists(sitting), output_field=BooleanField()
            ),
            has_venue=Exists(venue),
            has_ledger=Exists(ledger),
            has_contact=Exists(contact),
            has_emergency_plan=Exists(emergency),
            community_name=community,
        )
        .order_by("tree_id", "lft")
    )


@dataclass(frozen=True)
class FiveHavesRow:
    id: int
    code: str
    name: str
    community: str
    is_active: bool
    has_org: bool
    has_venue: bool
    has_ledger: bool
    has_contact: bool
    has_emergency_plan: bool

    @property
    def haves(self):
        return [getattr(self, name) for name in HAVES]

    @property
    def count(self):
        return sum(self.haves)

    @property
    def all_five(self):
        return all(self.haves)


def five_haves(subtree, as_of=None):
    """Per-branch 五有 rows for every branch of the subtree (one query)."""
    as_of = as_of or timezone.localdate()
    rows = five_haves_queryset(subtree, as_of).values_list(
        "pk", "code", "name", "community_name", "is_active", *HAVES
    )
    return [
        FiveHavesRow(pk, code, name, community or "", active, *(bool(v) for v in haves))
        for pk, code, name, community, active, *haves in rows
    ]


def five_haves_summary(rows):
    """Totals over indicator rows: branches, branches with each have, branches with all five."""
    rows = list(rows)
    summary = {"branches": len(rows), "all_five": sum(row.all_five for row in rows)}
    for name in HAVES:
        summary[name] = sum(getattr(row, name) for row in rows)
    return summary


def five_haves_counts(subtree, as_of):
    """The totals of five_haves_summary plus the active branches (for the statistics; has_org
    counts the active branches with a sitting secretary). One query, one short row per branch."""
    rows = five_haves_queryset(subtree, as_of).values_list("is_active", *HAVES)
    counts = {"branches": 0, "all_five": 0, "active": 0}
    counts.update({name: 0 for name in HAVES})
    for is_active, *haves in rows:
        counts["branches"] += 1
        counts["active"] += bool(is_active)
        counts["all_five"] += all(haves)
        for name, value in zip(HAVES, haves):
            counts[name] += bool(value)
    return counts


def as_date(value):
    """A date from a date or an ISO string (for query parameters); None if it is not one."""
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return None
