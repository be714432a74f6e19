"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2), read-only, JSON only.

Event categories are published as services and grid events as service requests, with the steps
of the six-step loop so far in `status_notes`. Only the JSON format (`.json`) is offered; the
specification's XML format is not.

Who may read it: authenticated staff only (token or session), scoped exactly like
/api/v1/events/. Unlike many Open311 servers it is not public, because event descriptions are
written by residents and staff and may contain personal data.
"""

import datetime as dt

from django.db.models import Prefetch, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..models import OPEN_STATUSES, EventCategory, EventStatus, GridEvent, GridEventLog
from .events import CanReadEvents

MAX_RESULTS = 1000  # the specification's cap on one answer
DEFAULT_WINDOW = dt.timedelta(days=90)  # the default range, and the widest one allowed
MAX_IDS = 1000
TAG = "open311"


def iso(moment):
    """ISO 8601 with the local offset, to the second (e.g. 2026-11-01T09:00:00+08:00)."""
    if moment is None:
        return None
    return timezone.localtime(moment).replace(microsecond=0).isoformat()


# ---- documentation shapes ------------------------------------------------------------------


class Open311ServiceSerializer(serializers.Serializer):
    service_code = serializers.CharField()
    service_name = serializers.CharField()
    description = serializers.CharField()
    metadata = serializers.BooleanField(
        help_text=gettext_lazy("Always false: no extra attributes.")
    )
    type = serializers.CharField(help_text=gettext_lazy("Always “realtime”."))
    keywords = serializers.CharField()
    group = serializers.CharField()


class Open311RequestSerializer(serializers.Serializer):
    service_request_id = serializers.CharField(
        help_text=gettext_lazy("The case number once filed, else the tracking code.")
    )
    status = serializers.ChoiceField(choices=["open", "closed"])
    status_notes = serializers.CharField(
        help_text=gettext_lazy("The steps of the six-step loop so far, each with its local "
                               "time.")
    )
    service_name = serializers.CharField()
    service_code = serializers.CharField()
    description = serializers.CharField()
    agency_responsible = serializers.CharField(
        help_text=gettext_lazy("The department called, else the unit it was escalated to, "
                               "else the unit where it happened.")
    )
    requested_datetime = serializers.DateTimeField()
    updated_datetime = serializers.DateTimeField()
    expected_datetime = serializers.DateTimeField()
    address = serializers.CharField()
    lat = serializers.FloatField(allow_null=True)
    long = serializers.FloatField(allow_null=True)


# Errors are the specification's list of {code, description}; a raw schema, because
# drf-spectacular does not wrap error responses in an array.
ERROR_LIST = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
        "required": ["code", "description"],
    },
}
ERRORS = {
    400: OpenApiResponse(ERROR_LIST, description="Bad parameters."),
    401: OpenApiResponse(ERROR_LIST, description="Not signed in."),
    403: OpenApiResponse(ERROR_LIST, description="Not staff."),
}
JURISDICTION = OpenApiParameter(
    "jurisdiction_id", OpenApiTypes.STR,
    description="Accepted and ignored: this server has a single jurisdiction.",
)


# ---- the mapping ---------------------------------------------------------------------------


def service(category):
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.description,
        "metadata": False,
        "type": "realtime",
        "keywords": category.code,
        "group": _("Property services") if category.is_property else _("Community governance"),
    }


def steps_so_far(logs):
    """(status, when) each time the event entered a step, oldest first, repeats merged."""
    steps = []
    for log in logs:
        if not log.to_status or log.to_status == log.from_status:
            continue
        if steps and steps[-1][0] == log.to_status:
            continue
        steps.append((log.to_status, log.at))
    return steps


def status_notes(logs):
    separator = "；" if (translation.get_language() or "").startswith("zh") else "; "
    return separator.join(
        f"{EventStatus(status).label} {timezone.localtime(at):%Y-%m-%d %H:%M}"
        for status, at in steps_so_far(logs)
    )


def service_request(event):
    logs = event.open311_logs
    if event.department_id:
        agency = event.department.name
    elif event.escalated_to_id:
        agency = event.escalated_to.name
    else:
        agency = event.org_unit.name
    place = event.compound
    lat, long = event.latitude, event.longitude
    if lat is None and place is not None:
        lat, long = place.latitude, place.longitude
    address = " ".join(part for part in (getattr(place, "name", ""), event.location) if part)
    updated = max([event.status_changed_at, *(log.at for log in logs)])
    return {
        "service_request_id": event.case_number or event.tracking_code,
        "status": "open" if event.status in OPEN_STATUSES else "closed",
        "status_notes": status_notes(logs),
        "service_name": event.category.name,
        "service_code": event.category.code,
        "description": event.description,
        "agency_responsible": agency,
        "requested_datetime": iso(event.reported_at),
        "updated_datetime": iso(updated),
        "expected_datetime": iso(event.final_due_at),
        "address": address,
        "lat": float(lat) if lat is not None else None,
        "long": float(long) if long is not None else None,
    }


def requests_queryset(user):
    logs = GridEventLog.objects.only(
        "event_id", "from_status", "to_status", "at"
    ).order_by("at", "pk")
    return selectors.events_visible_to(
        user,
        GridEvent.objects.select_related(
            "category", "org_unit", "compound", "escalated_to", "department"
        ).prefetch_related(Prefetch("logs", queryset=logs, to_attr="open311_logs")),
    )


# ---- the views -----------------------------------------------------------------------------


class Open311View(APIView):
    """Answers JSON only, and errors as the specification's list of {code, description}."""

    permission_classes = [CanReadEvents]
    renderer_classes = [JSONRenderer]

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        response.data = [{"code": response.status_code, "description": _describe(response.data)}]
        return response


def _describe(data):
    if isinstance(data, dict):
        return " ".join(_describe(value) for value in data.values())
    if isinstance(data, list):
        return " ".join(_describe(value) for value in data)
    return str(data)


def _comma_list(params, name):
    raw = params.get(name, "")
    return [part.strip() for part in raw.split(",") if part.strip()]


def _moment(params, name):
    raw = params.get(name, "").strip()
    if not raw:
        return None
    field = serializers.DateTimeField()
    try:
        return field.to_internal_value(raw)
    except serializers.ValidationError:
        raise ValidationError(
            {name: _("Give an ISO 8601 date and time, e.g. 2026-11-01T09:00:00+08:00.")}
        ) from None


class ServicesView(Open311View):
    """GET services.json: the event categories, as Open311 services (JSON only, no XML)."""

    @extend_schema(
        tags=[TAG], operation_id="open311_services", parameters=[JURISDICTION],
        responses={200: Open311ServiceSerializer(many=True), **ERRORS},
        summary="Open311 GeoReport v2: services (the event categories)",
        description="Only the JSON format is offered; the specification's XML is not. "
                    "Authenticated staff only.",
    )
    def get(self, request):
        categories = EventCategory.objects.filter(is_active=True).order_by("sort_order", "pk")
        return Response([service(category) for category in categories])


class RequestsView(Open311View):
    """GET requests.json: grid events as Open311 service requests, newest first, at most 1000.

    Authenticated staff only and scoped like /api/v1/events/: descriptions may hold personal
    data, so this endpoint is deliberately not public.
    """

    @extend_schema(
        tags=[TAG], operation_id="open311_requests",
        parameters=[
            OpenApiParameter("service_request_id", OpenApiTypes.STR, description=(
                "Comma-separated case numbers or tracking codes; overrides every other "
                "parameter.")),
            OpenApiParameter("service_code", OpenApiTypes.STR,
                             description="Comma-separated category codes."),
            OpenApiParameter("start_date", OpenApiTypes.DATETIME, description=(
                "Earliest requested_datetime (ISO 8601). Without it, 90 days before "
                "end_date.")),
            OpenApiParameter("end_date", OpenApiTypes.DATETIME, description=(
                "Latest requested_datetime (ISO 8601). Without it, now, or 90 days after "
                "start_date. The range may not span more than 90 days.")),
            OpenApiParameter("status", OpenApiTypes.STR,
                             description="open, closed, or both comma-separated."),
            JURISDICTION,
        ],
        responses={200: Open311RequestSerializer(many=True), **ERRORS},
        summary="Open311 GeoReport v2: service requests (the grid events)",
        description="Only the JSON format is offered; the specification's XML is not. "
                    "Authenticated staff only, scoped like /api/v1/events/, because "
                    "descriptions may contain personal data.",
    )
    def get(self, request):
        params = request.query_params
        events = requests_queryset(request.user)
        wanted = _comma_list(params, "service_request_id")
        if wanted:
            if len(wanted) > MAX_IDS:
                raise ValidationError({"service_request_id": _("Ask for at most %(n)d requests.")
                                  % {"n": MAX_IDS}})
            events = events.filter(
                Q(case_number__in=wanted) | Q(tracking_code__in=[w.upper() for w in wanted])
            )
        else:
            events = self._filter(events, params)
        events = events.order_by("-reported_at", "-pk")[:MAX_RESULTS]
        return Response([service_request(event) for event in events])

    def _filter(self, events, params):
        codes = _comma_list(params, "service_code")
        if codes:
            events = events.filter(category__code__in=codes)
        statuses = {s.lower() for s in _comma_list(params, "status")}
        if statuses - {"open", "closed"}:
            raise ValidationError({"status": _("The status is open or closed.")})
        if statuses == {"open"}:
            events = events.filter(status__in=OPEN_STATUSES)
        elif statuses == {"closed"}:
            events = events.filter(status=EventStatus.CLOSED)
        start, end = _moment(params, "start_date"), _moment(params, "end_date")
        if end is None:
            end = start + DEFAULT_WINDOW if start is not None else timezone.now()
        if start is None:
            start = end - DEFAULT_WINDOW
        if start > end:
            raise ValidationError({"start_date": _("The start date is after the end date.")})
        if end - start > DEFAULT_WINDOW:
            raise ValidationError({"end_date": _("The dates may not span more than 90 days.")})
        return events.filter(reported_at__gte=start, reported_at__lte=end)


class RequestView(Open311View):
    """GET requests/{id}.json: one service request, as a one-element list."""

    @extend_schema(
        tags=[TAG], operation_id="open311_request",
        parameters=[
            OpenApiParameter("service_request_id", OpenApiTypes.STR, OpenApiParameter.PATH,
                             description="The case number or the tracking code."),
            JURISDICTION,
        ],
        responses={
            200: Open311RequestSerializer(many=True),
            404: OpenApiResponse(ERROR_LIST, description="No such request."),
            **ERRORS,
        },
        summary="Open311 GeoReport v2: one service request (a grid event)",
        description="The id is the case number or the tracking code. JSON only. "
                    "Authenticated staff only, scoped like /api/v1/events/.",
    )
    def get(self, request, service_request_id):
        event = requests_queryset(request.user).filter(
            Q(case_number=service_request_id) | Q(tracking_code=service_request_id.upper())
        ).first()
        if event is None:
            raise NotFound(_("No service request has this id."))
        return Response([service_request(event)])
