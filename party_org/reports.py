"""The feedback report to in-service members' employer units (反馈原单位, seed 002).

For one work unit and period: each registration of its members with a branch in the reader's
scope, with the member's service in the period and the branch's latest evaluation for the
year(s) of the period. Built with a fixed number of queries whatever the number of rows. It names
members but carries no phone or ID numbers: it leaves the portal for another organisation.

Apps to the right of party_org add columns (the volunteers app: points earned in the period) with
`register_columns`, from their AppConfig.ready(); party_org imports none of them.
"""

import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from functools import reduce
from operator import or_

from django.core.exceptions import ValidationError
from django.db.models import Count, DecimalField, Prefetch, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from .models import InServiceRegistration, OrgKind, OrgUnit, RegistrationEvaluation
from .selectors import scoped
from .services.tree import _require

ZERO_HOURS = Value(Decimal("0"), output_field=DecimalField(max_digits=9, decimal_places=1))


@dataclass
class FeedbackRow:
    member_name: str
    community: str
    branch: str
    registered_on: dt.date
    ended_on: dt.date | None
    status: str
    post: str
    service_count: int
    service_hours: Decimal
    evaluation_year: int | None
    rating: str
    rating_display: str
    comment: str
    person_id: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def extra_values(self):
        """The registered extra columns' values, in column order."""
        return [self.extra.get(column.key) for column in extra_columns()]


@dataclass(frozen=True)
class ExtraColumn:
    key: str
    header: str
    total: bool = True  # summed in the totals row


_extensions = []


def register_columns(columns, compute):
    """Add columns after the service hours. `compute(person_ids, start, end)` returns
    {person_id: {column key: value}} for all rows at once (a fixed number of queries)."""
    keys = {column.key for column in extra_columns()}
    if any(column.key in keys for column in columns):
        return  # registered already (ready() may run twice in tests)
    _extensions.append((tuple(columns), compute))


def extra_columns():
    return [column for columns, _compute in _extensions for column in columns]


@dataclass
class FeedbackReport:
    work_unit: object
    start: dt.date
    end: dt.date
    rows: list = field(default_factory=list)
    generated_at: dt.datetime | None = None

    @property
    def totals(self):
        ratings = Counter(row.rating for row in self.rows if row.rating)
        return {
            "registrations": len(self.rows),
            "active_at_end": sum(
                1 for row in self.rows if row.ended_on is None or row.ended_on > self.end
            ),
            "members_served": sum(1 for row in self.rows if row.service_count),
            "service_count": sum(row.service_count for row in self.rows),
            "service_hours": sum((row.service_hours for row in self.rows), Decimal("0")),
            "extra": [
                sum((row.extra.get(column.key) or 0 for row in self.rows), Decimal("0"))
                if column.total else None
                for column in extra_columns()
            ],
            "ratings": [
                (label, ratings.get(value, 0))
                for value, label in RegistrationEvaluation.Rating.choices
            ],
        }


def _dates(start, end):
    if start is None or end is None:
        raise ValidationError(_("Choose the start and the end of the period."))
    if start > end:
        raise ValidationError(_("The start of the period is after its end."))
    return start, end


def _communities(branches):
    """{branch pk: community name} for the given branch nodes, in one query."""
    if not branches:
        return {}
    containing = reduce(
        or_,
        (
            Q(tree_id=b.tree_id, lft__lt=b.lft, rght__gt=b.rght)
            for b in {b.pk: b for b in branches}.values()
        ),
    )
    communities = list(
        OrgUnit.objects.filter(containing, kind=OrgKind.COMMUNITY).values_list(
            "name", "tree_id", "lft", "rght"
        )
    )
    found = {}
    for branch in branches:
        for name, tree_id, lft, rght in communities:
            if tree_id == branch.tree_id and lft < branch.lft and branch.rght < rght:
                found[branch.pk] = name
                break
    return found


def feedback_report(user, work_unit, start, end):
    """The report for `work_unit` over [start, end], limited to `user`'s scope."""
    _require(user, "party_org.view_inserviceregistration")
    start, end = _dates(start, end)
    in_period = Q(
        service_records__served_on__gte=start, service_records__served_on__lte=end
    )
    registrations = InServiceRegistration.objects.filter(work_unit=work_unit)
    if user is not None:
        registrations = scoped(user, registrations)
    registrations = (
        registrations.filter(registered_on__lte=end)
        .filter(Q(ended_on__isnull=True) | Q(ended_on__gte=start))
        .select_related("member__person", "branch", "post")
        .annotate(
            period_count=Count("service_records", filter=in_period),
            period_hours=Coalesce(Sum("service_records__hours", filter=in_period), ZERO_HOURS),
        )
        .prefetch_related(
            Prefetch(
                "evaluations",
                queryset=RegistrationEvaluation.objects.filter(
                    year__gte=start.year, year__lte=end.year
                ).order_by("-year"),
                to_attr="period_evaluations",
            )
        )
        .order_by("branch__tree_id", "branch__lft", "member__person__name", "pk")
    )
    registrations = list(registrations)
    communities = _communities([r.branch for r in registrations])
    rows = []
    for registration in registrations:
        evaluation = registration.period_evaluations[0] if registration.period_evaluations else None
        rows.append(
            FeedbackRow(
                member_name=registration.member.person.name,
                community=communities.get(registration.branch_id, ""),
                branch=registration.branch.name,
                registered_on=registration.registered_on,
                ended_on=registration.ended_on,
                status=registration.get_status_display(),
                post=registration.post.name if registration.post_id else "",
                service_count=registration.period_count,
                service_hours=registration.period_hours,
                evaluation_year=evaluation.year if evaluation else None,
                rating=evaluation.rating if evaluation else "",
                rating_display=evaluation.get_rating_display() if evaluation else "",
                comment=evaluation.comment if evaluation else "",
                person_id=registration.member.person_id,
            )
        )
    _add_extra(rows, start, end)
    return FeedbackReport(work_unit, start, end, rows, timezone.now())


def _add_extra(rows, start, end):
    if not rows:
        return
    person_ids = sorted({row.person_id for row in rows})
    for _columns, compute in _extensions:
        values = compute(person_ids, start, end)
        for row in rows:
            row.extra.update(values.get(row.person_id, {}))


def columns():
    """The report's columns: (header, getter)."""
    return [
        (_("No."), None),
        (_("Name"), lambda row: row.member_name),
        (_("Community"), lambda row: row.community),
        (_("Branch reported to"), lambda row: row.branch),
        (_("Registered on"), lambda row: row.registered_on),
        (_("Ended on"), lambda row: row.ended_on),
        (_("Assigned post"), lambda row: row.post),
        (_("Services in the period"), lambda row: row.service_count),
        (_("Service hours in the period"), lambda row: float(row.service_hours)),
        *[(str(column.header), _extra_getter(column.key)) for column in extra_columns()],
        (_("Evaluation year"), lambda row: row.evaluation_year),
        (_("Branch's evaluation"), lambda row: row.rating_display),
        (_("Comment"), lambda row: row.comment),
    ]


def _extra_getter(key):
    def getter(row):
        value = row.extra.get(key)
        return float(value) if isinstance(value, Decimal) else value

    return getter


def feedback_workbook(report):
    """The report as an .xlsx file (bytes): a title, the period, the rows and the totals."""
    cols = columns()
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = str(_("Feedback report"))[:31]
    title = _("Feedback report on in-service members: %(unit)s") % {"unit": report.work_unit.name}
    _append(sheet, [title])
    sheet["A1"].font = Font(bold=True, size=14)
    _append(sheet, [
        _("Period: %(start)s to %(end)s") % {"start": report.start, "end": report.end},
        None, None,
        _("Party organisation: %(org)s") % {
            "org": report.work_unit.party_organisation or "—",
        },
    ])
    _append(sheet, [header for header, _getter in cols])
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for number, row in enumerate(report.rows, start=1):
        _append(sheet, [number if getter is None else _cell(getter(row)) for _h, getter in cols])
    totals = report.totals
    extra = [None if value is None else float(value) for value in totals["extra"]]
    _append(sheet, [
        _("Total"), None, None, None, None, None,
        _("Registrations: %(n)s") % {"n": totals["registrations"]},
        totals["service_count"], float(totals["service_hours"]), *extra,
        None,
        "；".join(f"{label} {n}" for label, n in totals["ratings"] if n),
        None,
    ])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    widths = [6, 12, 18, 24, 12, 12, 18, 10, 10, *[10] * len(extra), 10, 10, 40]
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell(value):
    return "" if value is None else value


def _append(sheet, values):
    """Append a row, keeping text as text: openpyxl would store "=…" as a formula, and the
    report's names and comments are typed by users and opened by another organisation."""
    sheet.append(values)
    for cell in sheet[sheet.max_row]:
        if cell.data_type == "f":
            cell.data_type = "s"
