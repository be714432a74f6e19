from django.db import connection
from django.db.models import Count
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from party_org.models import OrgKind, OrgUnit

# The resident services, in the order residents look for them; each later issue makes one live.
RESIDENT_SERVICES = [
    ("report", _("Report a problem"), _("Photograph a problem in your compound and follow it to the end.")),
    ("wish", _("Micro-wishes"), _("Ask for a small help; party members and volunteers take it up.")),
    ("activities", _("Volunteer activities"), _("Sign up for community activities and earn points.")),
    ("notices", _("Compound notices"), _("Decisions, conventions and honours of your compound.")),
    ("mall", _("Points mall"), _("Redeem your community points with local merchants.")),
    ("evaluation", _("Property service survey"), _("Rate your compound's property service.")),
]

DIRECTORY_LIMIT = 20


def home(request):
    """The public portal: what the organisation looks like and how to reach your community."""
    query = (request.GET.get("q") or "").strip()[:50]
    communities = (
        OrgUnit.objects.filter(kind=OrgKind.COMMUNITY, is_active=True)
        .select_related("parent")
        .order_by("tree_id", "lft")
    )
    if query:
        communities = communities.filter(name__icontains=query) | communities.filter(
            parent__name__icontains=query
        ) | communities.filter(address__icontains=query)
    counts = dict(
        OrgUnit.objects.filter(is_active=True)
        .values_list("kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    overview = [
        (label, counts.get(kind.value, 0))
        for kind, label in [
            (OrgKind.STREET, _("Streets")),
            (OrgKind.COMMUNITY, _("Communities")),
            (OrgKind.BRANCH, _("Compound branches")),
            (OrgKind.BUILDING_GROUP, _("Building groups")),
            (OrgKind.HOUSEHOLD, _("Member households")),
        ]
    ]
    return render(
        request,
        "governance/home.html",
        {
            "services": RESIDENT_SERVICES,
            "overview": overview,
            "communities": list(communities[:DIRECTORY_LIMIT]),
            "query": query,
        },
    )


def healthz(request):
    """Liveness for the load balancer and docker-compose: the database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return JsonResponse({"status": "ok"})
    except Exception:  # noqa: BLE001 - any database failure means "not healthy"
        return JsonResponse({"status": "unavailable"}, status=503)
