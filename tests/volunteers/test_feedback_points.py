"""In-service members' points in the employer feedback report (issue 5, item 4): the 党员积分
earned in the period (net of reversed earnings, spending not deducted) and the balance now, on the
printable page and in the Excel file, with a fixed number of queries; party_org imports nothing
of volunteers (the columns are registered from VolunteersConfig.ready())."""

import ast
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from party_org import reports
from tests.party_org.test_duties import D, populate, register, world  # noqa: F401
from volunteers import feedback
from volunteers.models import EntryReason, PointsKind
from volunteers.services import ledger

pytestmark = pytest.mark.django_db

M, C = PointsKind.MEMBER, PointsKind.COMMUNITY
TZ = dt.timezone(dt.timedelta(hours=8))
APRIL = (D(2025, 4, 1), D(2025, 4, 30))
EARNED_HEADER = str(feedback.COLUMNS[0].header)
BALANCE_HEADER = str(feedback.COLUMNS[1].header)


def at(day, hour=10):
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=TZ)


def post(person, amount, reason, key, day, kind=M):
    return ledger.post_entry(ledger.account_for(person, kind), Decimal(amount), reason, key,
                             at=at(day))


@pytest.fixture
def points(world):
    """张建国 (A2): 30 in April (one 5-point earning reversed), 10 spent in April, 7 in May, 100
    公分 in April (another kind); 王志强 (B1) nothing; 李秀英 earned on the last evening of
    April (Beijing time)."""
    w = world
    w["reg_zhang"] = register(w)
    w["reg_wang"] = register(w, who="wang", branch="b1")
    w["reg_li"] = register(w, who="li", branch="a1a")
    zhang, li = w["zhang"].person, w["li"].person
    post(zhang, "20", EntryReason.EARN_HOURS, "z1", D(2025, 3, 31))  # before April
    post(zhang, "25", EntryReason.EARN_HOURS, "z2", D(2025, 4, 2))
    post(zhang, "10", EntryReason.EARN_POST, "z3", D(2025, 4, 15))
    wrong = post(zhang, "5", EntryReason.EARN_WISH, "z4", D(2025, 4, 16))
    ledger.reverse(wrong, "z4-undo", at=at(D(2025, 4, 17)))
    ledger.spend(ledger.account_for(zhang, M), Decimal("10"), "z5", at=at(D(2025, 4, 20)))
    post(zhang, "7", EntryReason.EARN_HOURS, "z6", D(2025, 5, 1))  # after April
    post(zhang, "100", EntryReason.EARN_HOURS, "z7", D(2025, 4, 3), kind=C)
    ledger.post_entry(ledger.account_for(li, M), Decimal("3"), EntryReason.EARN_HOURS, "l1",
                      at=dt.datetime(2025, 4, 30, 23, 30, tzinfo=TZ))
    return w


def rows_by_name(report):
    return {row.member_name: row for row in report.rows}


def test_points_earned_in_the_period_and_the_balance_now(points, users):
    report = reports.feedback_report(users["street"], points["tax"], *APRIL)
    rows = rows_by_name(report)
    zhang, wang, li = rows["张建国"], rows["王志强"], rows["李秀英"]
    # 25 + 10 + 5 - 5 reversed; spending is not "earned less"; March, May and 公分 are out.
    assert zhang.extra[feedback.EARNED] == Decimal("35.00")
    # 20 + 25 + 10 + 5 - 5 - 10 + 7 in 党员积分.
    assert zhang.extra[feedback.BALANCE] == Decimal("52.00")
    assert wang.extra == {feedback.EARNED: Decimal("0"), feedback.BALANCE: Decimal("0")}
    assert str(wang.extra[feedback.EARNED]) == "0.00"
    assert li.extra[feedback.EARNED] == Decimal("3.00")  # 23:30 on the last day, local time
    assert zhang.extra_values == [Decimal("35.00"), Decimal("52.00")]
    totals = report.totals
    assert totals["extra"] == [Decimal("38.00"), None]  # a sum of balances would mean nothing
    # The existing totals are untouched.
    assert totals["registrations"] == 3


def test_the_period_decides_what_counts(points, users):
    may = reports.feedback_report(users["street"], points["tax"], D(2025, 5, 1), D(2025, 5, 31))
    assert rows_by_name(may)["张建国"].extra[feedback.EARNED] == Decimal("7.00")
    spring = reports.feedback_report(users["street"], points["tax"], D(2025, 3, 1),
                                     D(2025, 5, 31))
    assert rows_by_name(spring)["张建国"].extra[feedback.EARNED] == Decimal("62.00")
    # The balance is today's whatever the period.
    assert rows_by_name(may)["张建国"].extra[feedback.BALANCE] == Decimal("52.00")


def test_a_scoped_report_shows_its_own_rows_points(points, users):
    report = reports.feedback_report(users["comm_b"], points["tax"], *APRIL)
    assert [(r.member_name, r.extra[feedback.EARNED]) for r in report.rows] == [
        ("王志强", Decimal("0"))]
    assert report.totals["extra"] == [Decimal("0"), None]


def url(w):
    return reverse("admin:party_org_workunit_feedback", args=[w["tax"].pk])


def test_printable_page_has_the_points_columns(points, users, admin_client_for):
    response = admin_client_for(users["comm_a"]).get(url(points), {"month": "2025-04"})
    assert response.status_code == 200
    headers = response.context["headers"]
    hours = headers.index(str(reports.columns()[8][0]))
    assert headers[hours + 1:hours + 3] == [EARNED_HEADER, BALANCE_HEADER]
    html = response.content.decode()
    assert EARNED_HEADER in html and BALANCE_HEADER in html
    assert '<td class="num">35.00</td>' in html and '<td class="num">52.00</td>' in html
    # Every body row has as many cells as there are headers.
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    first = body.split("</tr>")[0]
    assert first.count("<td") == len(headers)
    # The footer: the total earned, no total balance.
    foot = html.split("<tfoot>")[1].split("</tfoot>")[0]
    assert '<td class="num">38.00</td>' in foot
    assert "52.00" not in foot


def test_excel_has_the_points_columns_and_totals(points, users, admin_client_for):
    client = admin_client_for(users["street"])
    response = client.get(url(points), {"month": "2025-04", "format": "xlsx"})
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    header = rows[2]
    assert len(header) == len(reports.columns())
    earned, balance = header.index(EARNED_HEADER), header.index(BALANCE_HEADER)
    assert (earned, balance) == (9, 10)  # right after the service hours
    body = {row[1]: row for row in rows[3:-1]}
    assert (body["张建国"][earned], body["张建国"][balance]) == (35, 52)
    assert (body["王志强"][earned], body["王志强"][balance]) == (0, 0)
    total = rows[-1]
    assert total[earned] == 38 and total[balance] is None
    assert total[7:9] == (0, 0)  # services and hours still in their columns
    # The evaluation moved right with the rest of the row.
    assert header[11:] == tuple(str(h) for h, _g in reports.columns()[-3:])


def test_the_report_runs_a_fixed_number_of_queries(world, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    populate(world, 2, "小")
    for n, registration in enumerate(world["tax"].registrations.all()):
        post(registration.member.person, "4", EntryReason.EARN_HOURS, f"s{n}", D(2025, 4, 9))
    client.get(url(world), {"month": "2025-04"})  # warm up
    with CaptureQueriesContext(connection) as small:
        first = client.get(url(world), {"month": "2025-04"})
    populate(world, 18, "大")
    for n, registration in enumerate(world["tax"].registrations.all()):
        post(registration.member.person, "4", EntryReason.EARN_HOURS, f"b{n}", D(2025, 4, 9))
    with CaptureQueriesContext(connection) as big:
        second = client.get(url(world), {"month": "2025-04"})
    assert len(second.context["report"].rows) > len(first.context["report"].rows)
    assert len(small) == len(big), [q["sql"] for q in big]
    # The report itself: registrations, evaluations, communities, then points and balances.
    reports.feedback_report(users["comm_a"], world["tax"], *APRIL)  # permissions cached
    with CaptureQueriesContext(connection) as report_only:
        report = reports.feedback_report(users["comm_a"], world["tax"], *APRIL)
    assert len(report_only) == 5, [q["sql"] for q in report_only]
    # The first ones were paid in both rounds.
    assert {row.extra[feedback.EARNED] for row in report.rows} == {Decimal("4.00"),
                                                                   Decimal("8.00")}


def test_an_empty_report_asks_nothing_of_the_ledger(world, users):
    with CaptureQueriesContext(connection) as queries:
        report = reports.feedback_report(users["comm_a"], world["tax"], *APRIL)
    assert report.rows == [] and report.totals["extra"] == [Decimal("0"), None]
    assert not any("volunteers_" in q["sql"] for q in queries)


def test_registering_the_columns_twice_adds_them_once():
    before = reports.extra_columns()
    feedback.register()
    assert reports.extra_columns() == before
    assert [c.key for c in before].count(feedback.EARNED) == 1


def test_party_org_does_not_import_volunteers():
    root = Path(django_settings.BASE_DIR) / "party_org"
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(name.split(".")[0] in {"volunteers", "grids", "governance"} for name in names):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []
