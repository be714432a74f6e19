"""grids API: grid events (the six-step loop, 吹哨报到), their log, categories and departments.

Events are read through grids.selectors.events_visible_to (the user's subtrees plus the events
called to a department the user staffs), so a department's staff read and acknowledge the events
called to them without holding any role. Events are never edited in place: they are reported with
POST and then move only through the step routes (`/events/{id}/file/`, ...), each of which calls
its service in grids.services.events; the service decides what is legal (400 otherwise) and who
may take the step (403 otherwise).
"""

import datetime as dt

import django_filters
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from party_org import pii
from party_org.api.base import (
    MAX_ID,
    Conflict,
    IdFilter,
    ScopedModelViewSet,
    ScopedPrimaryKeyRelatedField,
)
from party_org.api.permissions import ScopedModelPermissions
from party_org.models import OrgUnit
from party_org.personal_data import reveal

from .. import selectors
from ..models import (
    OPEN_STATUSES,
    Building,
    Compound,
    Department,
    EventAction,
    EventCategory,
    EventSource,
    EventStatus,
    GridEvent,
    GridEventLog,
)
from ..services import events as services
from .gridding import AncestorFilterSet

A = EventAction

# The step routes: action -> the path segment under /events/{id}/.
STEP_ROUTES = {
    A.FILE: "file", A.ASSIGN: "assign", A.START: "start", A.FEEDBACK: "feedback",
    A.SEND_BACK: "send-back", A.CLOSE: "close", A.ESCALATE: "escalate",
    A.ACKNOWLEDGE: "acknowledge", A.DUPLICATE: "duplicate",
}
# The viewset's action names are the EventAction values.
STEP_VIEW_ACTIONS = {a.value for a in STEP_ROUTES}


# ---- who may read --------------------------------------------------------------------------


def is_department_staff(user):
    """Whether the user acknowledges events for some department (cached on the user)."""
    cached = getattr(user, "_grids_department_staff", None)
    if cached is None:
        cached = bool(user and user.is_authenticated) and Department.objects.filter(
            staff=user
        ).exists()
        user._grids_department_staff = cached
    return cached


def may_read_events(user):
    return bool(user and user.is_authenticated) and (
        user.has_perm("grids.view_gridevent") or is_department_staff(user)
    )


class EventPermissions(ScopedModelPermissions):
    """Model permissions, except that reads and the step routes are open to whoever may view
    the model or staffs a department: the step's service then decides (403 if not allowed)."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS or getattr(view, "action", None) in (
            STEP_VIEW_ACTIONS
        ):
            model = self._queryset(view).model._meta
            return user.has_perm(f"{model.app_label}.view_{model.model_name}") or (
                is_department_staff(user)
            )
        return super().has_permission(request, view)


class CanReadEvents(permissions.BasePermission):
    """Staff who may read grid events (a role with the view permission, or department staff)."""

    def has_permission(self, request, view):
        return may_read_events(request.user)


# ---- shared helpers ------------------------------------------------------------------------


def local_day_start(day):
    """Midnight of a local (Asia/Shanghai) date, as an aware datetime."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min),
                               timezone.get_default_timezone())


def user_label(user):
    return (user.get_full_name() or user.get_username()) if user is not None else ""


# ---- events: read --------------------------------------------------------------------------


class EventCategoryRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()


class EventNamedRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class EventBuildingRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()


class EventUserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField(source="get_username")
    full_name = serializers.CharField(source="get_full_name")


def _named(**kwargs):
    return EventNamedRefSerializer(read_only=True, **kwargs)


class EventSerializer(serializers.ModelSerializer):
    """One event as the list shows it: related rows are joined, nothing is queried per row."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    source_display = serializers.CharField(source="get_source_display", read_only=True)
    category = EventCategoryRefSerializer(read_only=True)
    org_unit = _named()
    compound = _named(allow_null=True)
    building = EventBuildingRefSerializer(read_only=True, allow_null=True)
    grid = _named(allow_null=True)
    reporter_phone = serializers.SerializerMethodField(
        help_text=_("Masked unless you may view personal data (full reads are logged).")
    )
    handler = EventUserRefSerializer(read_only=True, allow_null=True)
    escalated_to = _named(allow_null=True)
    department = _named(allow_null=True)
    is_overdue = serializers.SerializerMethodField()

    class Meta:
        model = GridEvent
        fields = [
            "id", "case_number", "tracking_code", "status", "status_display", "category",
            "source", "source_display", "org_unit", "compound", "building", "grid",
            "description", "location", "latitude", "longitude", "reporter_name",
            "reporter_phone", "handler", "escalated_to", "department",
            "department_acknowledged_at", "was_escalated", "reported_at", "due_at",
            "final_due_at", "is_overdue", "closed_at", "handling_seconds", "result", "rating",
            "rating_comment", "reopened_count", "duplicate_of",
        ]
        read_only_fields = fields

    # The list renders 50 events of 37 fields; DRF's generic path (get_attribute per field,
    # nested serializers per reference) costs more than the database. This builds the same
    # output from a plan made once per serializer; test_events_api checks they agree.
    _REFS = {
        "category": ("id", "code", "name"), "org_unit": ("id", "name"),
        "compound": ("id", "name"), "building": ("id", "number"), "grid": ("id", "name"),
        "escalated_to": ("id", "name"), "department": ("id", "name"),
    }

    def _plan(self):
        plan = getattr(self, "_fast_plan", None)
        if plan is None:
            plan = []
            for name, field in self.fields.items():
                if name in self._REFS:
                    plan.append((name, "ref", self._REFS[name]))
                elif name == "handler":
                    plan.append((name, "user", None))
                elif isinstance(field, serializers.SerializerMethodField):
                    plan.append((name, "method", getattr(self, field.method_name)))
                elif isinstance(field, serializers.PrimaryKeyRelatedField):
                    plan.append((name, "attr", (field.source + "_id", None)))
                elif field.source.startswith("get_") and field.source.endswith("_display"):
                    # get_FOO_display() rebuilds the choices and a lazy label on every call.
                    column = field.source[len("get_"):-len("_display")]
                    labels = {
                        value: str(label)
                        for value, label in self.Meta.model._meta.get_field(column).flatchoices
                    }
                    plan.append((name, "display", (column, labels)))
                else:
                    plan.append((name, "attr", (field.source, field.to_representation)))
            self._fast_plan = plan
        return plan

    def to_representation(self, obj):
        out = {}
        for name, kind, how in self._plan():
            if kind == "attr":
                source, render = how
                value = getattr(obj, source)
                if callable(value):
                    value = value()
                out[name] = value if value is None or render is None else render(value)
            elif kind == "display":
                column, labels = how
                value = getattr(obj, column)
                out[name] = labels.get(value, value)
            elif kind == "ref":
                related = getattr(obj, name)
                out[name] = None if related is None else {k: getattr(related, k) for k in how}
            elif kind == "user":
                user = obj.handler
                out[name] = None if user is None else {
                    "id": user.pk, "username": user.get_username(),
                    "full_name": user.get_full_name(),
                }
            else:
                out[name] = how(obj)
        return out

    def get_reporter_phone(self, obj) -> str:
        view = self.context.get("view")
        where = "list" if getattr(view, "action", None) == "list" else "detail"
        return reveal(
            obj.reporter, "phone", obj.reporter_phone, pii.mask_phone(obj.reporter_phone),
            f"api:events:{where}",
        )

    def get_is_overdue(self, obj) -> bool:
        return obj.is_overdue(self.context.setdefault("now", timezone.now()))


class EventDetailSerializer(EventSerializer):
    allowed_actions = serializers.SerializerMethodField(
        help_text=_("The steps you may take on the event now; each is POSTed to "
                    "/events/{id}/<step>/ with '_' written as '-'.")
    )

    class Meta(EventSerializer.Meta):
        fields = [*EventSerializer.Meta.fields, "allowed_actions"]
        read_only_fields = fields

    def get_allowed_actions(self, obj) -> list[str]:
        request = self.context.get("request")
        return [str(a) for a in services.allowed_actions(getattr(request, "user", None), obj)]


class EventFilter(AncestorFilterSet):
    ancestor_path = "org_unit"
    # distinct=False: one row per event anyway, and DISTINCT over every column is slow.
    status = django_filters.MultipleChoiceFilter(choices=EventStatus.choices, label=_("status"),
                                                 distinct=False)
    category = django_filters.CharFilter(method="filter_category",
                                         label=_("category id or code"))
    source = django_filters.MultipleChoiceFilter(choices=EventSource.choices, label=_("source"),
                                                 distinct=False)
    overdue = django_filters.BooleanFilter(
        method="filter_overdue", label=_("overdue (open and past the step's deadline)")
    )
    reported_after = django_filters.DateFilter(
        method="filter_reported_after", label=_("reported on or after (local date)")
    )
    reported_before = django_filters.DateFilter(
        method="filter_reported_before", label=_("reported on or before (local date)")
    )
    compound = IdFilter(field_name="compound_id", label=_("compound id"))
    grid = IdFilter(field_name="grid_id", label=_("grid id"))
    handler = IdFilter(field_name="handler_id", label=_("handler (user id)"))
    department = IdFilter(field_name="department_id", label=_("department id"))
    escalated = django_filters.BooleanFilter(field_name="was_escalated",
                                             label=_("ever escalated"))
    duplicate = django_filters.BooleanFilter(
        field_name="duplicate_of", lookup_expr="isnull", exclude=True,
        label=_("linked as a duplicate"),
    )

    class Meta:
        model = GridEvent
        fields = [
            "status", "category", "source", "overdue", "reported_after", "reported_before",
            "ancestor", "compound", "grid", "handler", "department", "escalated", "duplicate",
        ]

    def filter_category(self, queryset, name, value):
        value = value.strip()
        q = Q(category__code=value)
        if value.isdigit():
            if int(value) > MAX_ID:
                raise ValidationError({"category": [_("No such category.")]})
            q |= Q(category_id=int(value))
        return queryset.filter(q)

    def _overdue_q(self):
        return Q(status__in=OPEN_STATUSES, due_at__lt=timezone.now())

    def filter_overdue(self, queryset, name, value):
        q = self._overdue_q()
        return queryset.filter(q) if value else queryset.exclude(q)

    def filter_reported_after(self, queryset, name, value):
        return queryset.filter(reported_at__gte=local_day_start(value))

    def filter_reported_before(self, queryset, name, value):
        return queryset.filter(reported_at__lt=local_day_start(value + dt.timedelta(days=1)))


# ---- events: write -------------------------------------------------------------------------


class EventCreateSerializer(serializers.ModelSerializer):
    category = serializers.PrimaryKeyRelatedField(
        queryset=EventCategory.objects.filter(is_active=True)
    )
    compound = ScopedPrimaryKeyRelatedField(queryset=Compound.objects.select_related("org_unit"))
    building = ScopedPrimaryKeyRelatedField(
        queryset=Building.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = GridEvent
        fields = [
            "category", "source", "compound", "building", "description", "location",
            "latitude", "longitude", "reporter_name", "reporter_phone",
        ]
        extra_kwargs = {"description": {"max_length": 2000}}


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class IdField(serializers.IntegerField):
    """A row id: a whole number within the id column's range."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class AssignSerializer(NoteSerializer):
    handler = IdField(help_text=_("The user id of the handler."))


class FeedbackSerializer(NoteSerializer):
    result = serializers.CharField(max_length=2000, help_text=_("What was done."))


class SendBackSerializer(NoteSerializer):
    note = serializers.CharField(max_length=2000, help_text=_("Why the result is sent back."))


class EscalateSerializer(NoteSerializer):
    to_unit = IdField(required=False, allow_null=True,
                      help_text=_("The community or street above the event (unit id)."))
    department = IdField(required=False, allow_null=True,
                         help_text=_("A department serving the event's place (id)."))
    note = serializers.CharField(max_length=2000, help_text=_("Why the event is escalated."))


class DuplicateSerializer(NoteSerializer):
    original = IdField(help_text=_("The id of the event this one repeats."))


# ---- the log -------------------------------------------------------------------------------


class EventLogSerializer(serializers.ModelSerializer):
    event = serializers.IntegerField(source="event_id", read_only=True)
    action_display = serializers.CharField(source="get_action_display", read_only=True)
    actor = serializers.SerializerMethodField()

    class Meta:
        model = GridEventLog
        fields = ["id", "event", "action", "action_display", "from_status", "to_status",
                  "actor", "actor_label", "note", "at"]
        read_only_fields = fields

    def get_actor(self, obj) -> str | None:
        return obj.actor.get_username() if obj.actor_id else None


# ---- the events viewset --------------------------------------------------------------------


def _not_found(field, message):
    return ValidationError({field: [message]})


def _service_errors(error, rename):
    """A service's ValidationError as a DRF one, its keys named as this route's fields."""
    if hasattr(error, "error_dict"):
        return ValidationError({
            rename.get(key, key): [str(m) for m in DjangoValidationError(msgs).messages]
            for key, msgs in error.error_dict.items()
        })
    return ValidationError({"detail": [str(m) for m in error.messages]})


def _step(step, body_serializer, **schema):
    """A POST step route on an event: validate the body, run the step, answer the event."""
    url_path = STEP_ROUTES[step]

    def decorate(func):
        documented = extend_schema(
            request=body_serializer, responses={200: EventDetailSerializer}, **schema
        )(func)
        return action(detail=True, methods=["post"], url_path=url_path, filter_backends=[],
                      serializer_class=body_serializer)(documented)

    return decorate


class EventViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                   viewsets.GenericViewSet):
    """Grid events (网格事件): list, read, report; then the steps of the loop as POST routes.

    No PUT, PATCH or DELETE: an event changes only through its steps, and stays on record.
    """

    # Three joins, the rest prefetched: past five joins PostgreSQL spends more time planning the
    # page's query (20-90 ms) than running it (2 ms); see bench/bench_events.py.
    queryset = GridEvent.objects.select_related("category", "org_unit", "compound").prefetch_related(
        "building", "grid", "handler", "escalated_to", "department", "reporter"
    )
    permission_classes = [EventPermissions]
    filterset_class = EventFilter
    search_fields = ["description", "case_number", "tracking_code"]
    ordering_fields = ["reported_at", "due_at", "status"]
    ordering = ["-reported_at", "-pk"]

    def get_queryset(self):
        return selectors.events_visible_to(self.request.user, super().get_queryset())

    def get_serializer_class(self):
        if self.action == "list":
            return EventSerializer
        if self.action == "create":
            return EventCreateSerializer
        if self.action == "logs":
            return EventLogSerializer
        if self.action in STEP_VIEW_ACTIONS:
            # The step's body; set per route by @action(serializer_class=...).
            return self.serializer_class
        return EventDetailSerializer

    def _answer(self, event, status_code=status.HTTP_200_OK):
        # Read past the query-string filters: the step may have moved it out of them.
        fresh = self.get_queryset().get(pk=event.pk)
        data = EventDetailSerializer(fresh, context=self.get_serializer_context()).data
        return Response(data, status=status_code)

    @extend_schema(responses={201: EventDetailSerializer})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            event = services.report_event(request.user, **data)
        except DjangoValidationError as error:
            raise _service_errors(error, {}) from None
        return self._answer(event, status.HTTP_201_CREATED)

    def _body(self, request):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        return body.validated_data

    def _run(self, step, rename=None):
        try:
            event = step()
        except DjangoValidationError as error:
            raise _service_errors(error, rename or {}) from None
        return self._answer(event)

    @_step(A.FILE, NoteSerializer, summary="案卷建立: file the event (gives it a case number)")
    def file(self, request, pk=None):
        event, data = self.get_object(), self._body(request)
        return self._run(lambda: services.file_event(request.user, event, note=data["note"]))

    @_step(A.ASSIGN, AssignSerializer, summary="任务指派: assign (or re-assign) a handler")
    def assign(self, request, pk=None):
        event, data = self.get_object(), self._body(request)
        handler = get_user_model().objects.filter(pk=data["handler"]).first()
        if handler is None:
            raise _not_found("handler", _("No such user."))
        return self._run(
            lambda: services.assign_event(request.user, event, handler, note=data["note"])
        )

    @_step(A.START, NoteSerializer, summary="调查落实: the handler starts work")
    def start(self, request, pk=None):
        event, data = self.get_object(), self._body(request)
        return self._run(lambda: services.start_event(request.user, event, note=data["note"]))

    @_step(A.FEEDBACK, FeedbackSerializer, summary="反馈结果: report what was done")
    def feedback(self, request, pk=None):
        event, data = self.get_object(), self._body(request)
        return self._run(lambda: services.report_result(
            request.user, event, data["result"], note=data["note"]
        ))

    @_step(A.SEND_BACK, SendBackSerializer, summary="Send the result back for more work")
    def send_back(self, request, pk=None):
        event, data = self.get_object(), self._body(request)
        return self._run(lambda: services.send_back(request.user, event, data["note"]))

    @_step(A.CLOSE, NoteSerializer, summary="结案归档: close the event")
    def close(self, request, pk=None):
        event, data = self.get_object(), self._body(request)
        return self._run(lambda: services.close_event(request.user, event, note=data["note"]))

    @_step(A.ESCALATE, EscalateSerializer,
           summary="吹哨: pass the event up to a community or street, or call a department")
    def escalate(self, request, pk=None):
        event, data = self.get_object(), self._body(request)
        to_unit = department = None
        # Targets lie above the caller's subtree, so they are found unscoped; the service
        # accepts only the units above the event and the departments serving it.
        if data.get("to_unit") is not None:
            to_unit = OrgUnit.objects.filter(pk=data["to_unit"]).first()
            if to_unit is None:
                raise _not_found("to_unit", _("No such unit."))
        if data.get("department") is not None:
            department = Department.objects.filter(pk=data["department"]).first()
            if department is None:
                raise _not_found("department", _("No such department."))
        return self._run(lambda: services.escalate(
            request.user, event, to_unit=to_unit, department=department, note=data["note"]
        ))

    @_step(A.ACKNOWLEDGE, NoteSerializer, summary="报到: the department called takes the event up")
    def acknowledge(self, request, pk=None):
        event, data = self.get_object(), self._body(request)
        return self._run(lambda: services.acknowledge(request.user, event, note=data["note"]))

    @_step(A.DUPLICATE, DuplicateSerializer,
           summary="Close the event as a duplicate of another one")
    def duplicate(self, request, pk=None):
        event, data = self.get_object(), self._body(request)
        original = selectors.events_visible_to(request.user).filter(pk=data["original"]).first()
        if original is None:
            raise _not_found("original", _("No such event in your area."))
        return self._run(
            lambda: services.link_duplicate(request.user, event, original, note=data["note"]),
            rename={"duplicate_of": "original"},
        )

    @extend_schema(responses={200: EventLogSerializer(many=True)}, filters=False)
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def logs(self, request, pk=None):
        """The event's log, oldest first."""
        event = self.get_object()
        rows = event.logs.select_related("actor").order_by("at", "pk")
        return Response(EventLogSerializer(rows, many=True).data)


# ---- the log, categories, departments ------------------------------------------------------


class EventLogFilter(django_filters.FilterSet):
    event = IdFilter(field_name="event_id", label=_("event id"))
    action = django_filters.MultipleChoiceFilter(choices=EventAction.choices, label=_("action"))

    class Meta:
        model = GridEventLog
        fields = ["event", "action"]


class EventLogViewSet(viewsets.ReadOnlyModelViewSet):
    """The append-only log of grid events (who did what, when, with a note)."""

    queryset = GridEventLog.objects.select_related("actor")
    serializer_class = EventLogSerializer
    permission_classes = [EventPermissions]
    filterset_class = EventLogFilter
    ordering_fields = ["at"]
    ordering = ["-at", "-pk"]

    def get_queryset(self):
        visible = selectors.events_visible_to(self.request.user, GridEvent.objects.all())
        return super().get_queryset().filter(event__in=visible.values("pk"))


class EventCategorySerializer(serializers.ModelSerializer):
    total_hours = serializers.IntegerField(read_only=True)

    class Meta:
        model = EventCategory
        fields = [
            "id", "code", "name", "description", "hours_reported", "hours_filed",
            "hours_assigned", "hours_in_progress", "hours_feedback", "total_hours",
            "is_property", "is_active", "sort_order",
        ]
        read_only_fields = fields


class EventCategoryViewSet(viewsets.ReadOnlyModelViewSet):
    """Event categories (city-wide reference data) with the hours allowed for each step."""

    queryset = EventCategory.objects.all()
    serializer_class = EventCategorySerializer
    permission_classes = [EventPermissions]
    filterset_fields = ["is_active", "is_property"]
    search_fields = ["code", "name"]
    ordering = ["sort_order", "pk"]


class DepartmentSerializer(serializers.ModelSerializer):
    org_unit = ScopedPrimaryKeyRelatedField(queryset=OrgUnit.objects.all())
    org_unit_name = serializers.CharField(source="org_unit.name", read_only=True)
    staff = serializers.PrimaryKeyRelatedField(
        many=True, required=False,
        queryset=get_user_model().objects.filter(is_active=True),
        help_text=_("User ids of the staff who report (报到) for the department."),
    )

    class Meta:
        model = Department
        fields = ["id", "name", "org_unit", "org_unit_name", "contact_phone", "staff",
                  "is_active"]
        extra_kwargs = {"contact_phone": {
            "help_text": _("Read back masked unless you may view personal data."),
        }}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["contact_phone"] = reveal(
            None, "phone", instance.contact_phone, pii.mask_phone(instance.contact_phone),
            "api:departments",
        )
        return data


class DepartmentFilter(AncestorFilterSet):
    ancestor_path = "org_unit"
    org_unit = IdFilter(field_name="org_unit_id", label=_("unit id"))
    is_active = django_filters.BooleanFilter(label=_("active"))

    class Meta:
        model = Department
        fields = ["ancestor", "org_unit", "is_active"]


class DepartmentViewSet(ScopedModelViewSet):
    """Functional departments (职能部门) that answer a whistle (吹哨) by reporting (报到)."""

    queryset = Department.objects.select_related("org_unit").prefetch_related("staff")
    serializer_class = DepartmentSerializer
    filterset_class = DepartmentFilter
    search_fields = ["name", "org_unit__name"]
    ordering_fields = ["name"]
    ordering = ["org_unit__tree_id", "org_unit__lft", "name", "pk"]

    def perform_destroy(self, instance):
        try:
            instance.delete()
        except ProtectedError:
            raise Conflict(
                _("The department has been called for events; deactivate it instead.")
            ) from None


def register(router):
    """Add this area's viewsets to the /api/v1/ router."""
    router.register("events", EventViewSet, basename="gridevent")
    router.register("event-logs", EventLogViewSet, basename="grideventlog")
    router.register("event-categories", EventCategoryViewSet, basename="eventcategory")
    router.register("departments", DepartmentViewSet, basename="department")
