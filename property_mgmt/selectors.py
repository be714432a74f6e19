"""Reusable reads of property management: what is current on a day, transitions and terms ending,
cross-appointments (双向进入、交叉任职) and 一肩挑, evaluation results and the company ranking, the
red/yellow watch list, and the public notices of a compound.

Every read takes the subtree or the compounds it is about and runs a fixed number of queries
however many rows it covers. The Exists() builders are shared with the statistics figures, so a
list and a figure never disagree about who counts.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    Avg,
    Count,
    Exists,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from grids.models import Compound, GridEvent
from party_org.models import CommitteeMembership, CommitteeRole, OrgKind, OrgUnit
from party_org.selectors import Subtree

from .models import (
    DIMENSIONS,
    Committee,
    CommitteeMember,
    CommitteeMemberRole,
    CompanyStaff,
    Convention,
    Deliberation,
    DeliberationStatus,
    EvaluationCode,
    PropertyCompany,
    ServiceMode,
    ServicePeriod,
)

# The party organisations of a compound whose committee seats count for cross-appointments: the
# branch that covers it, a general branch above that, and the community.
PARTY_KINDS = (OrgKind.BRANCH, OrgKind.COMMUNITY)
NOTICE_STATUSES = (DeliberationStatus.PUBLICISED, DeliberationStatus.REVIEWED)
RED, YELLOW = "red", "yellow"
COMPLAINT_WINDOW_DAYS = 90


def _today():
    return timezone.localdate()


def held_on(on, prefix="", start="started_on", end="ended_on"):
    """Rows (seats, periods, staff) running on the day `on`: started by then, not ended before."""
    return Q(**{f"{prefix}{start}__lte": on}) & (
        Q(**{f"{prefix}{end}__isnull": True}) | Q(**{f"{prefix}{end}__gte": on})
    )


def sitting_on(on, prefix=""):
    """Committees sitting on `on`."""
    return held_on(on, prefix, start="elected_on")


def _score_sum(prefix=""):
    total = None
    for dim in DIMENSIONS:
        term = F(f"{prefix}{dim}")
        total = term if total is None else total + term
    return total


def mean_score(prefix=""):
    """The mean over responses of a response's mean score (1–5), as an aggregate."""
    return Avg(_score_sum(prefix), output_field=FloatField()) / Value(
        float(len(DIMENSIONS)), output_field=FloatField()
    )


def _compound_ids(compounds):
    """(subquery or list of compound ids, [(pk, org_unit_id)]). A queryset costs one query."""
    if isinstance(compounds, QuerySet):
        rows = list(compounds.values_list("pk", "org_unit_id"))
    else:
        rows = [(c.pk, c.org_unit_id) for c in compounds]
    return [pk for pk, _unit in rows], rows


# ---- property service ------------------------------------------------------------------------


def current_period(compound, on=None):
    """The compound's service period running on `on` (today by default), or None."""
    on = on or _today()
    return (
        ServicePeriod.objects.filter(held_on(on), compound=compound)
        .select_related("company").first()
    )


def subsidy_ending(unit, today=None, within_days=60):
    """Open subsidised periods in the subtree of `unit` whose subsidy ends within `within_days`
    of `today` — or has already ended while the compound is still in transition."""
    today = today or _today()
    return (
        ServicePeriod.objects.filter(
            Subtree.of(unit).q("compound__org_unit"), compound__is_active=True,
            mode=ServiceMode.SUBSIDISED, ended_on__isnull=True,
            subsidy_ends_on__lte=today + dt.timedelta(days=within_days),
        )
        .select_related("compound", "company")
        .order_by("subsidy_ends_on", "compound__name")
    )


# ---- committees and cross-appointments ---------------------------------------------------------


def sitting_committee(compound, on=None):
    on = on or _today()
    return Committee.objects.filter(sitting_on(on), compound=compound).first()


def terms_ending(unit, today=None, within_days=90):
    """Sitting committees in the subtree whose term ends within `within_days` (or has run out
    without a new election)."""
    today = today or _today()
    return (
        Committee.objects.filter(
            Subtree.of(unit).q("compound__org_unit"), compound__is_active=True, is_active=True,
            term_ends_on__lte=today + dt.timedelta(days=within_days),
        )
        .select_related("compound")
        .order_by("term_ends_on", "compound__name")
    )


def _property_people(on, compound_ref, person_ref):
    """Exists: the person sits on the compound's sitting committee or works for its company."""
    seats = CommitteeMember.objects.filter(
        held_on(on), sitting_on(on, "committee__"), committee__compound=compound_ref,
        person=person_ref,
    )
    staff = CompanyStaff.objects.filter(held_on(on), compound=compound_ref, person=person_ref)
    return Exists(seats) | Exists(staff)


def _party_seats(on):
    """Party committee seats on the compound's branch, general branch or community (outer query:
    Compound)."""
    return CommitteeMembership.objects.filter(
        held_on(on),
        org_unit__kind__in=PARTY_KINDS,
        org_unit__tree_id=OuterRef("org_unit__tree_id"),
        org_unit__lft__lte=OuterRef("org_unit__lft"),
        org_unit__rght__gte=OuterRef("org_unit__rght"),
    )


def cross_appointed_exists(on):
    """Exists, for an outer Compound: someone holds both a party seat of the compound and a seat
    on its committee or a job with its company."""
    return Exists(
        _party_seats(on).filter(_property_people(on, OuterRef(OuterRef("pk")), OuterRef("person")))
    )


def one_shoulder_exists(on):
    """Exists, for an outer Compound: the branch's sitting secretary chairs its sitting
    committee (一肩挑)."""
    chairs = CommitteeMember.objects.filter(
        held_on(on), sitting_on(on, "committee__"), role=CommitteeMemberRole.CHAIR,
        committee__compound=OuterRef(OuterRef("pk")), person=OuterRef("person"),
    )
    return Exists(
        CommitteeMembership.objects.filter(
            held_on(on), role=CommitteeRole.SECRETARY, org_unit=OuterRef("org_unit")
        ).filter(Exists(chairs))
    )


@dataclass
class CrossAppointment:
    """One person on both sides: their party seats and their committee seats or company jobs."""

    person: object
    party_seats: list = field(default_factory=list)
    property_roles: list = field(default_factory=list)


def cross_appointments(compounds, on=None):
    """{compound pk: [CrossAppointment]} — the people who hold a seat on the party committee of
    the compound's branch (or general branch, or community) and also sit on the compound's
    committee or work for its company. Five queries at most, however many compounds."""
    on = on or _today()
    ids, rows = _compound_ids(compounds)
    result = {pk: [] for pk in ids}
    if not ids:
        return result
    covering = Compound.objects.filter(
        pk__in=ids, org_unit__tree_id=OuterRef("tree_id"), org_unit__lft__gte=OuterRef("lft"),
        org_unit__rght__lte=OuterRef("rght"),
    )
    parents = dict(
        OrgUnit.objects.filter(Exists(covering), kind__in=PARTY_KINDS)
        .values_list("pk", "parent_id")
    )
    seats_by_unit = {}
    for seat in (
        CommitteeMembership.objects.filter(held_on(on), org_unit_id__in=list(parents))
        .select_related("person", "org_unit").order_by("org_unit__lft", "pk")
    ):
        seats_by_unit.setdefault(seat.org_unit_id, []).append(seat)
    roles_by_compound = {}
    for seat in (
        CommitteeMember.objects.filter(
            held_on(on), sitting_on(on, "committee__"), committee__compound_id__in=ids
        ).select_related("person", "committee").order_by("pk")
    ):
        roles_by_compound.setdefault(seat.committee.compound_id, []).append(seat)
    for job in (
        CompanyStaff.objects.filter(held_on(on), compound_id__in=ids)
        .select_related("person", "company").order_by("pk")
    ):
        roles_by_compound.setdefault(job.compound_id, []).append(job)
    for pk, unit_id in rows:
        roles = roles_by_compound.get(pk)
        if not roles:
            continue
        party = {}
        node = unit_id
        while node in parents:  # up the chain of branches to the community
            for seat in seats_by_unit.get(node, ()):
                party.setdefault(seat.person_id, []).append(seat)
            node = parents[node]
        people = {}
        for role in roles:
            if role.person_id in party:
                entry = people.get(role.person_id)
                if entry is None:
                    entry = people[role.person_id] = CrossAppointment(
                        role.person, party_seats=party[role.person_id]
                    )
                entry.property_roles.append(role)
        result[pk] = sorted(people.values(), key=lambda e: (e.person.name, e.person.pk))
    return result


def one_shoulder(compounds, on=None):
    """{compound pk: person} for the compounds whose branch secretary is also the chair of the
    sitting committee (一肩挑). Two queries (three for a queryset)."""
    on = on or _today()
    ids, rows = _compound_ids(compounds)
    if not ids:
        return {}
    secretaries = dict(
        CommitteeMembership.objects.filter(
            held_on(on), role=CommitteeRole.SECRETARY,
            org_unit_id__in={unit for _pk, unit in rows},
        ).values_list("org_unit_id", "person_id")
    )
    chairs = {
        seat.committee.compound_id: seat.person
        for seat in CommitteeMember.objects.filter(
            held_on(on), sitting_on(on, "committee__"), role=CommitteeMemberRole.CHAIR,
            committee__compound_id__in=ids,
        ).select_related("person", "committee")
    }
    return {
        pk: chairs[pk] for pk, unit in rows
        if pk in chairs and secretaries.get(unit) == chairs[pk].pk
    }


# ---- evaluations -------------------------------------------------------------------------------


def with_results(evaluations):
    """Annotate each evaluation with code_count, response_count, mean_<dimension> and mean
    (one query: the responses joined once, the codes counted in a subquery)."""
    codes = (
        EvaluationCode.objects.filter(evaluation=OuterRef("pk")).order_by()
        .values("evaluation").annotate(n=Count("pk")).values("n")
    )
    return evaluations.annotate(
        code_count=Coalesce(Subquery(codes), 0),
        response_count=Count("responses"),
        mean=mean_score("responses__"),
        **{f"mean_{dim}": Avg(f"responses__{dim}", output_field=FloatField())
           for dim in DIMENSIONS},
    )


def _round(value, places=2):
    return None if value is None else round(float(value), places)


def _rate(part, whole):
    return round(part / whole, 4) if whole else None


def evaluation_results(evaluations):
    """Per evaluation: codes issued, responses, response rate, mean per dimension and overall."""
    return [
        {
            "evaluation": evaluation,
            "codes": evaluation.code_count,
            "responses": evaluation.response_count,
            "response_rate": _rate(evaluation.response_count, evaluation.code_count),
            "means": {dim: _round(getattr(evaluation, f"mean_{dim}")) for dim in DIMENSIONS},
            "mean": _round(evaluation.mean),
        }
        for evaluation in with_results(evaluations.select_related("compound", "company"))
    ]


def company_ranking(unit, year):
    """The companies serving compounds of the subtree, ranked by their mean score in `year`'s
    evaluations (response-weighted), with response rates. Two queries."""
    rows = (
        EvaluationCode.objects.filter(
            Subtree.of(unit).q("evaluation__compound__org_unit"), evaluation__year=year,
            evaluation__company__isnull=False,
        )
        .order_by().values("evaluation__company")
        .annotate(
            codes=Count("pk"), responses=Count("response"), mean=mean_score("response__"),
            compounds=Count("evaluation__compound", distinct=True),
        )
    )
    rows = list(rows)
    companies = PropertyCompany.objects.in_bulk([row["evaluation__company"] for row in rows])
    ranking = [
        {
            "company": companies[row["evaluation__company"]],
            "compounds": row["compounds"],
            "codes": row["codes"],
            "responses": row["responses"],
            "response_rate": _rate(row["responses"], row["codes"]),
            "mean": _round(row["mean"]),
        }
        for row in rows
    ]
    ranking.sort(key=lambda r: (r["mean"] is None, -(r["mean"] or 0), -(r["response_rate"] or 0),
                                r["company"].name))
    previous, rank = object(), 0
    for position, row in enumerate(ranking, start=1):
        if row["mean"] != previous:
            rank, previous = position, row["mean"]
        row["rank"] = rank if row["mean"] is not None else None
    return ranking


@dataclass
class WatchEntry:
    compound: object
    street_id: int | None
    street_name: str
    level: str
    mean: float | None
    recent_complaints: int
    earlier_complaints: int
    reasons: list


def _day_start(day):
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def watch_list(unit, today=None):
    """Compounds of the subtree to watch, per street: red or yellow for a low latest service
    score (below PROPERTY_WATCH_RED_BELOW / _YELLOW_BELOW) or property complaints (grid events of
    a property category) that rose in the last 90 days against the 90 before. A rise on top of a
    yellow score makes it red. Three queries."""
    today = today or _today()
    red_below = float(getattr(settings, "PROPERTY_WATCH_RED_BELOW", Decimal("3.0")))
    yellow_below = float(getattr(settings, "PROPERTY_WATCH_YELLOW_BELOW", Decimal("3.5")))
    in_subtree = Subtree.of(unit).q("org_unit")
    streets = OrgUnit.objects.filter(
        kind=OrgKind.STREET, tree_id=OuterRef("org_unit__tree_id"),
        lft__lte=OuterRef("org_unit__lft"), rght__gte=OuterRef("org_unit__rght"),
    )
    compounds = list(
        Compound.objects.filter(in_subtree, is_active=True)
        .annotate(street_id=Subquery(streets.values("pk")[:1]),
                  street_name=Subquery(streets.values("name")[:1]))
        .order_by("pk")
    )
    subtree_compounds = Compound.objects.filter(in_subtree, is_active=True).values("pk")
    latest = {}
    for row in (
        EvaluationCode.objects.filter(
            evaluation__compound__in=subtree_compounds, evaluation__opens_on__lte=today,
            response__isnull=False,
        )
        .order_by().values("evaluation_id", "evaluation__compound_id", "evaluation__closes_on")
        .annotate(mean=mean_score("response__"))
    ):
        key = (row["evaluation__closes_on"], row["evaluation_id"])
        current = latest.get(row["evaluation__compound_id"])
        if current is None or key > current[0]:
            latest[row["evaluation__compound_id"]] = (key, row["mean"])
    recent_from = _day_start(today - dt.timedelta(days=COMPLAINT_WINDOW_DAYS - 1))
    earlier_from = _day_start(today - dt.timedelta(days=2 * COMPLAINT_WINDOW_DAYS - 1))
    complaints = {
        row["compound_id"]: (row["recent"], row["earlier"])
        for row in GridEvent.objects.filter(
            compound__in=subtree_compounds, category__is_property=True,
            duplicate_of__isnull=True, reported_at__gte=earlier_from,
            reported_at__lt=_day_start(today + dt.timedelta(days=1)),
        )
        .order_by().values("compound_id")
        .annotate(recent=Count("pk", filter=Q(reported_at__gte=recent_from)),
                  earlier=Count("pk", filter=Q(reported_at__lt=recent_from)))
    }
    entries = []
    for compound in compounds:
        mean = latest.get(compound.pk, (None, None))[1]
        recent, earlier = complaints.get(compound.pk, (0, 0))
        reasons = []
        score_level = None
        if mean is not None and mean < yellow_below:
            score_level = RED if mean < red_below else YELLOW
            reasons.append("low_score")
        rising = recent > earlier
        if rising:
            reasons.append("complaints_rising")
        if score_level is None and not rising:
            continue
        level = RED if score_level == RED or (score_level == YELLOW and rising) else YELLOW
        entries.append(WatchEntry(
            compound=compound, street_id=compound.street_id, street_name=compound.street_name or "",
            level=level, mean=_round(mean), recent_complaints=recent, earlier_complaints=earlier,
            reasons=reasons,
        ))
    entries.sort(key=lambda e: (e.street_name, e.level != RED, e.compound.name))
    return entries


# ---- deliberations and conventions ---------------------------------------------------------------


def current_notices(compound, today=None):
    """Decisions under public notice on the compound's page today: the compound's own and those
    of its branch that name no compound."""
    today = today or _today()
    return (
        Deliberation.objects.filter(
            Q(compound=compound) | Q(compound__isnull=True, org_unit_id=compound.org_unit_id),
            status__in=NOTICE_STATUSES, publicised_from__lte=today, publicised_until__gte=today,
        )
        .order_by("-publicised_from", "-pk")
    )


def current_convention(compound):
    """The compound's convention in force: its latest version."""
    return Convention.objects.filter(compound=compound).order_by("-version").first()
