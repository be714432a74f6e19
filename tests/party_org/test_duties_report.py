"""The feedback report to employer units (反馈原单位): totals for a period, scoping, the
printable page and the Excel download, and no phone or ID numbers anywhere in it."""

import io
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from openpyxl import load_workbook

from party_org import reports
from party_org.services import duties as services
from tests.party_org.test_duties import D, member, register, world  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(world):
    w = world
    zhang = register(w, on=D(2025, 3, 1), post=w["legal"])
    services.record_service(None, zhang, D(2025, 4, 2), 2, "法律咨询")
    services.record_service(None, zhang, D(2025, 4, 20), "1.5", "政策宣传")
    services.record_service(None, zhang, D(2025, 5, 1), 3, "巡逻")  # after April
    services.evaluate_registration(None, zhang, 2025, "excellent", "表现突出")
    li = register(w, who="li", branch="a1a", on=D(2025, 1, 5))
    services.record_service(None, li, D(2025, 3, 3), 1, "环境整治")
    services.end_registration(None, li, D(2025, 3, 31))
    wang = register(w, who="wang", branch="b1", on=D(2025, 2, 1))
    services.record_service(None, wang, D(2025, 4, 10), 4, "敲门行动")
    services.evaluate_registration(None, wang, 2025, "good", "")
    register(w, who="zhao", on=D(2025, 2, 1))  # another employer
    late = member(w["a2"], "周新来", employer=w["tax"])
    services.register_in_service(
        None, member=late, work_unit=w["tax"], branch=w["a2"], registered_on=D(2025, 5, 10),
        commitment="承诺",
    )
    return w


def names(report):
    return [row.member_name for row in report.rows]


def test_totals_for_a_period_as_the_street(history, users):
    report = reports.feedback_report(users["street"], history["tax"], D(2025, 4, 1), D(2025, 4, 30))
    assert names(report) == ["张建国", "王志强"]  # tree order: community A before B
    zhang = report.rows[0]
    assert (zhang.service_count, zhang.service_hours) == (2, Decimal("3.5"))
    assert (zhang.post, zhang.community, zhang.branch) == ("法律咨询岗", "滨河社区党委", "文锦苑小区党支部")
    assert (zhang.evaluation_year, zhang.rating, zhang.comment) == (2025, "excellent", "表现突出")
    totals = report.totals
    assert totals["registrations"] == 2
    assert totals["service_count"] == 3
    assert totals["service_hours"] == Decimal("7.5")
    assert totals["members_served"] == 2
    assert sorted(n for _label, n in totals["ratings"]) == [0, 0, 1, 1]


def test_registrations_overlapping_the_period_only(history, users):
    march = reports.feedback_report(users["street"], history["tax"], D(2025, 3, 1), D(2025, 3, 31))
    assert sorted(names(march)) == sorted(["张建国", "李秀英", "王志强"])
    li = next(row for row in march.rows if row.member_name == "李秀英")
    assert (li.service_count, li.ended_on) == (1, D(2025, 3, 31))
    assert march.totals["active_at_end"] == 2  # 李秀英 ended on the last day
    may = reports.feedback_report(users["street"], history["tax"], D(2025, 5, 1), D(2025, 5, 31))
    assert "周新来" in names(may) and "李秀英" not in names(may)


def test_community_report_covers_only_its_subtree(history, users):
    report = reports.feedback_report(users["comm_a"], history["tax"], D(2025, 4, 1), D(2025, 4, 30))
    assert names(report) == ["张建国"]
    assert (report.totals["service_count"], report.totals["service_hours"]) == (2, Decimal("3.5"))
    other = reports.feedback_report(users["comm_b"], history["tax"], D(2025, 4, 1), D(2025, 4, 30))
    assert names(other) == ["王志强"]
    assert reports.feedback_report(users["secretary"], history["coal"], D(2025, 4, 1),
                                   D(2025, 4, 30)).rows[0].member_name == "赵丽华"


def test_bad_period_and_no_permission(history, users):
    with pytest.raises(ValidationError):
        reports.feedback_report(users["street"], history["tax"], D(2025, 5, 1), D(2025, 4, 1))
    with pytest.raises(PermissionDenied):
        reports.feedback_report(users["nobody"], history["tax"], D(2025, 4, 1), D(2025, 4, 30))


def url(world):
    return reverse("admin:party_org_workunit_feedback", args=[world["tax"].pk])


def test_printable_page_is_scoped_and_has_no_personal_numbers(history, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    response = client.get(url(history), {"month": "2025-04"})
    assert response.status_code == 200
    assert [row.member_name for row in response.context["report"].rows] == ["张建国"]
    html = response.content.decode()
    assert "张建国" in html and "王志强" not in html
    assert "@media print" in html and "window.print()" in html
    person = history["zhang"].person
    for secret in (person.phone, person.masked_phone, person.id_number, person.masked_id_number):
        assert secret not in html
    # The changelist links each unit to its report.
    assert url(history) in client.get("/admin/party_org/workunit/").content.decode()


def test_excel_download(history, users, admin_client_for):
    client = admin_client_for(users["street"])
    response = client.get(url(history), {"from": "2025-04-01", "to": "2025-04-30", "format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response["Content-Disposition"]
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert "太原市税务局" in rows[0][0]
    header = rows[2]
    assert len(header) == len(reports.columns())
    body = rows[3:-1]
    assert [row[1] for row in body] == ["张建国", "王志强"]
    assert body[0][7:9] == (2, 3.5)
    assert rows[-1][7:9] == (3, 7.5)
    flat = " ".join(str(cell) for row in rows for cell in row if cell is not None)
    person = history["zhang"].person
    assert person.phone not in flat and person.id_number not in flat


def test_period_errors_are_shown_not_raised(history, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    for params in ({"month": "2025-13"}, {"to": "2025-04-30"},
                   {"from": "2025-05-01", "to": "2025-04-01"}):
        response = client.get(url(history), params)
        assert response.status_code == 200, params
        assert response.context["report"] is None and response.context["errors"], params
    # No period at all: the current month.
    response = client.get(url(history))
    assert response.status_code == 200 and response.context["report"] is not None


def test_report_page_needs_staff_and_an_existing_unit(history, users, admin_client_for):
    response = admin_client_for(users["nobody"]).get(url(history))
    assert response.status_code == 302 and "/login/" in response["Location"]
    missing = reverse("admin:party_org_workunit_feedback", args=[999999])
    assert admin_client_for(users["comm_a"]).get(missing).status_code == 404


def test_report_query_count_does_not_grow(world, users, admin_client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.party_org.test_duties import populate

    client = admin_client_for(users["comm_a"])
    populate(world, 2, "小")
    client.get(url(world), {"month": "2025-04"})
    with CaptureQueriesContext(connection) as small:
        first = client.get(url(world), {"month": "2025-04"})
    populate(world, 18, "大")
    with CaptureQueriesContext(connection) as big:
        second = client.get(url(world), {"month": "2025-04"})
    assert len(second.context["report"].rows) > len(first.context["report"].rows)
    assert len(small) == len(big), [q["sql"] for q in big]
