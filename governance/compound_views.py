"""The compound's public page: who leads it and how it is served, and what is under notice.

Only what is public by nature: names and roles (the branch secretary, the committee chair), the
property company, decisions under public notice, the convention and the service station. No
phone numbers or other personal data. A fixed number of queries, whatever the compound holds.
"""

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from grids.models import Compound
from party_org.api.base import MAX_ID
from party_org.models import CommitteeMembership, CommitteeRole, OrgKind, ServiceStation
from party_org.models.resources import StationFunction
from property_mgmt.models import CommitteeMember, CommitteeMemberRole, ServiceEvaluation
from property_mgmt.selectors import (
    current_convention,
    current_notices,
    current_period,
    held_on,
    sitting_committee,
)


@require_GET
def compound(request, pk):
    if pk > MAX_ID:  # past the id column: no such compound (and no overflow in the query)
        raise Http404
    place = (
        Compound.objects.filter(pk=pk, is_active=True, org_unit__is_active=True)
        .select_related("org_unit").first()
    )
    if place is None:
        raise Http404
    today = timezone.localdate()
    unit = place.org_unit
    secretary = (
        CommitteeMembership.objects.filter(held_on(today), org_unit=unit,
                                           role=CommitteeRole.SECRETARY)
        .select_related("person").first()
    )
    committee = sitting_committee(place, today)
    chair = None
    if committee is not None:
        chair = (
            CommitteeMember.objects.filter(held_on(today), committee=committee,
                                           role=CommitteeMemberRole.CHAIR)
            .select_related("person").first()
        )
    period = current_period(place, today)
    station = ServiceStation.objects.filter(org_unit=unit).order_by("-opened_on", "pk").first()
    functions = dict(StationFunction.choices)
    survey = (
        ServiceEvaluation.objects.filter(compound=place, opens_on__lte=today,
                                         closes_on__gte=today)
        .order_by("closes_on").first()
    )
    return render(request, "governance/compound.html", {
        "compound": place,
        "unit": unit,
        "is_branch": unit.kind == OrgKind.BRANCH,
        "secretary": secretary.person.name if secretary else "",
        "committee": committee,
        "chair": chair.person.name if chair else "",
        "period": period,
        "notices": list(current_notices(place, today)),
        "convention": current_convention(place),
        "station": station,
        "station_functions": [functions.get(f, f) for f in (station.functions if station else [])],
        "survey": survey,
    })
