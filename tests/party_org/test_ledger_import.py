"""Excel import of the member ledgers: template, validation, all-or-nothing commit, admin flow."""

import datetime as dt
import io
import re
import zipfile

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.utils import translation
from openpyxl import Workbook, load_workbook

from party_org import ledger_io, pii
from party_org.admin.ledger_import import LedgerImportMixin
from party_org.admin_scoping import ScopedAdminMixin, ServiceErrorsMixin
from party_org.models import (
    AuditEntry,
    MemberChange,
    MemberChangeKind,
    MemberStatus,
    OrgKind,
    PartyMember,
    Person,
    StaffAssignment,
    StaffRole,
    WorkUnit,
)
from tests.conftest import make

pytestmark = pytest.mark.django_db

HEADERS = [column.header for column in ledger_io.COLUMNS]
XLSX = ledger_io.XLSX_CONTENT_TYPE


# ---- a throwaway admin site with one ledger admin (the real ledgers live in admin/members.py)


class DirectLedgerAdmin(LedgerImportMixin, ServiceErrorsMixin, ScopedAdminMixin, admin.ModelAdmin):
    ledger_category = "direct"
    list_display = ["person", "org_unit", "status"]
    list_select_related = ["person", "org_unit"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(category=self.ledger_category)


site = admin.AdminSite(name="ledger_import_test")
site.register(PartyMember, DirectLedgerAdmin)
urlpatterns = [path("ledger-admin/", site.urls)]

BASE = "/ledger-admin/party_org/partymember/"
IMPORT_URL = BASE + "import/"
TEMPLATE_URL = BASE + "import/template/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def english():
    with translation.override("en"):
        yield


# ---- building files --------------------------------------------------------------------------


def id_no(n, birth="19800101", region="140105"):
    first17 = f"{region}{birth}{n:03d}"
    return first17 + pii.id_check_char(first17)


def bad_checksum(n):
    good = id_no(n)
    wrong = next(c for c in "0123456789X" if c != good[-1])
    return good[:-1] + wrong


def member_row(n, org="A2", **values):
    row = {"姓名": f"党员{n}", "身份证号": id_no(n), "手机号": f"1380000{n:04d}",
           "所属组织编码": org, "入党日期": "2001-07-01", "状态": "正常"}
    row.update(values)
    return row


def xlsx(rows, headers=HEADERS, before=()):
    """An .xlsx with optional lines `before` the header, the header, then `rows` (dicts by
    header; None stands for a blank row)."""
    workbook = Workbook()
    sheet = workbook.active
    for line in before:
        sheet.append(line)
    sheet.append(headers)
    for row in rows:
        sheet.append([] if row is None else [row.get(h) for h in headers])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def parse(rows, user, category="direct", **kwargs):
    return ledger_io.parse(xlsx(rows, **kwargs), category, user, filename="ledger.xlsx")


def import_rows(rows, user, category="direct"):
    parsed = parse(rows, user, category)
    assert parsed.ok, (parsed.file_error, parsed.errors)
    return ledger_io.commit(parsed, user)


def errors_by_row(result):
    return {error.row: error.messages for error in result.errors}


# ---- the template ----------------------------------------------------------------------------


def test_template_has_the_columns_an_example_and_instructions():
    workbook = load_workbook(io.BytesIO(ledger_io.build_template("in_service")))
    data, notes = workbook.worksheets
    assert [cell.value for cell in data[1]] == HEADERS
    example = dict(zip(HEADERS, [cell.value for cell in data[2]]))
    assert pii.id_number_problem(example["身份证号"]) is None
    assert example["姓名"] and example["所属组织编码"]
    explained = {row[0]: row for row in notes.iter_rows(min_row=2, values_only=True) if row[0]}
    assert set(HEADERS) <= set(explained)
    # 工作单位 is required for in-service members only.
    with translation.override("en"):
        assert load_workbook(io.BytesIO(ledger_io.build_template("retired"))).worksheets[1][
            HEADERS.index("工作单位") + 2
        ][1].value == "no"
    assert explained["工作单位"][1] != explained["手机号"][1]


def test_the_template_filled_in_imports_cleanly(tree, users):
    workbook = load_workbook(io.BytesIO(ledger_io.build_template("direct")))
    sheet = workbook.worksheets[0]
    sheet.delete_rows(2)  # the example row
    for n, org in ((1, "A2"), (2, "A2G"), (3, "A1a")):
        values = member_row(n, org=org, 退役军人="是", 党员中心户编码="A2H" if org == "A2" else None)
        sheet.append([values.get(h) for h in HEADERS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    parsed = ledger_io.parse(buffer.getvalue(), "direct", users["comm_a"], filename="t.xlsx")
    assert parsed.ok, (parsed.file_error, parsed.errors)
    assert (parsed.rows, parsed.new) == (3, 3)
    ledger_io.commit(parsed, users["comm_a"])
    members = PartyMember.objects.select_related("org_unit", "household")
    assert sorted(m.org_unit.code for m in members) == ["A1a", "A2", "A2G"]
    assert all(m.is_veteran for m in members)
    assert members.get(org_unit__code="A2").household.code == "A2H"


# ---- a good file, a re-import, updates --------------------------------------------------------


def test_a_good_file_imports_every_row(tree, users):
    rows = [member_row(n) for n in range(1, 6)]
    rows[1].update({"性别": "女", "党籍所在": "外地", "党籍存放单位": "太原市老干部局", "光荣在党50年": "否",
                    "干部": "是"})
    rows[2]["所属组织编码"] = "A2G"
    summary = import_rows(rows, users["comm_a"])
    assert (summary.new, summary.updated, summary.unchanged) == (5, 0, 0)
    assert PartyMember.objects.filter(category="direct").count() == 5
    person = Person.objects.get(id_number_hash=Person.hash_of(id_no(2)))
    assert person.id_number == id_no(2)
    assert person.birth_date == dt.date(1980, 1, 1) and person.gender == "female"
    assert person.org_unit.code == "A2"
    member = person.membership
    assert member.record_location == "elsewhere" and member.record_held_by == "太原市老干部局"
    assert member.is_cadre and not member.fifty_years and member.joined_on == dt.date(2001, 7, 1)
    # Encrypted at rest: the column holds no plaintext ID number.
    stored = Person.objects.values_list("id_number_encrypted", flat=True)
    assert not any(id_no(n) in value for value in stored for n in range(1, 6))
    # One ledger-change entry for the whole import, on the unit holding every row.
    entry = AuditEntry.objects.get()
    assert entry.action == "import" and entry.user == users["comm_a"]
    assert entry.org_unit.code == "A2"
    assert entry.changes["new"] == 5 and entry.changes["rows"] == 5
    assert MemberChange.objects.count() == 0


def test_reimporting_the_same_file_does_not_duplicate(tree, users):
    data = xlsx([member_row(n) for n in range(1, 4)])
    first = ledger_io.commit(ledger_io.parse(data, "direct", users["comm_a"]), users["comm_a"])
    assert first.new == 3
    again = ledger_io.parse(data, "direct", users["comm_a"])
    assert again.ok and (again.new, again.updated, again.unchanged) == (0, 0, 3)
    assert {row.action for row in again.sample} == {"unchanged"}
    second = ledger_io.commit(again, users["comm_a"])
    assert (second.new, second.updated, second.unchanged) == (0, 0, 3)
    assert Person.objects.count() == 3 and PartyMember.objects.count() == 3


def test_reimport_with_changes_updates_and_keeps_history(tree, users):
    import_rows([member_row(1), member_row(2)], users["comm_a"])
    changed = [
        member_row(1, org="A1", 手机号="13911112222", 干部="是"),
        member_row(2),
    ]
    parsed = parse(changed, users["comm_a"])
    assert (parsed.new, parsed.updated, parsed.unchanged) == (0, 1, 1)
    preview = {row.row: row for row in parsed.sample}
    assert set(preview[2].changed) == {"手机号", "所属组织编码", "干部"}
    ledger_io.commit(parsed, users["comm_a"])
    member = PartyMember.objects.select_related("person", "org_unit").get(
        person__id_number_hash=Person.hash_of(id_no(1))
    )
    assert member.org_unit.code == "A1" and member.is_cadre
    assert member.person.phone == "13911112222" and member.person.org_unit.code == "A1"
    change = MemberChange.objects.get(member=member)
    assert change.kind == MemberChangeKind.UNIT and change.recorded_by == users["comm_a"]
    assert (change.from_value, change.to_value) == (tree["a2"].name, tree["a1"].name)
    assert PartyMember.objects.count() == 2
    # Both imports are in the change log, the second one on A (it spans A1 and A2).
    assert list(AuditEntry.objects.order_by("at").values_list("org_unit__code", flat=True)) == [
        "A2", "A"
    ]


def test_status_changes_of_existing_members_are_left_to_the_member_form(tree, users, english):
    import_rows([member_row(1), member_row(2, 状态="已转出")], users["comm_a"])
    found = errors_by_row(parse([member_row(1, 状态="已去世"), member_row(2, org="A1", 状态="已转出")],
                                users["comm_a"]))
    assert "not by import" in found[2][0]
    assert found[3] == [
        "Only an active member can move to another branch; reactivate the member first."
    ]
    # New rows may carry any status (a paper ledger brought in with its former members).
    assert PartyMember.objects.get(person__id_number_hash=Person.hash_of(id_no(2))).status == (
        MemberStatus.TRANSFERRED_OUT
    )


def test_a_column_left_out_leaves_that_field_alone(tree, users):
    import_rows([member_row(1, 干部="是")], users["comm_a"])
    headers = ["姓名", "身份证号", "所属组织编码", "入党日期", "手机号", "状态"]
    parsed = ledger_io.parse(xlsx([member_row(1)], headers=headers), "direct", users["comm_a"])
    assert parsed.unchanged == 1
    ledger_io.commit(parsed, users["comm_a"])
    assert PartyMember.objects.get().is_cadre


def test_a_person_known_to_the_portal_joins_the_ledger(tree, users):
    person = Person(name="旧名", org_unit=tree["a2"])
    person.set_id_number(id_no(7))
    person.save()
    summary = import_rows([member_row(7)], users["comm_a"])
    assert summary.new == 1
    person.refresh_from_db()
    assert person.name == "党员7" and person.membership.category == "direct"
    assert Person.objects.count() == 1


# ---- bad rows --------------------------------------------------------------------------------


def test_mixed_file_imports_nothing_and_reports_each_bad_row(tree, users, english):
    rows = [
        member_row(1),                                   # row 2: good
        member_row(2, 姓名=None),                         # row 3: missing name
        member_row(3, org="NOPE"),                       # row 4: unknown branch
        member_row(4, 身份证号=bad_checksum(4)),           # row 5: checksum
        member_row(5, 身份证号=id_no(1)),                  # row 6: duplicate of row 2
        member_row(6, 入党日期="2001-02-30"),              # row 7: invalid date
        member_row(7, org="A"),                          # row 8: a community, not a branch
        member_row(8, 入党日期="yesterday"),               # row 9: not a date
        member_row(9),                                   # row 10: good
    ]
    parsed = parse(rows, users["comm_a"])
    assert not parsed.ok
    assert parsed.rows == 9 and parsed.new == 2
    found = errors_by_row(parsed)
    assert sorted(found) == [3, 4, 5, 6, 7, 8, 9]
    assert found[3] == ["姓名 is required."]
    assert found[4] == ["Unknown organisation code “NOPE”."]
    assert found[5] == ["The ID number's check digit is wrong; please check the number."]
    assert found[6] == ["This ID number also appears on row 2 of the file."]
    assert found[7] == ["“2001-02-30” is not a real date."]
    assert found[8] == [
        "“A” is a Community party committee; a member belongs to a branch or a building party "
        "group."
    ]
    assert found[9] == ["“yesterday” is not a date; write it like 1998-07-01."]
    assert {error.name for error in parsed.errors if error.row == 4} == {"党员3"}
    # The preview never shows a full ID number.
    assert all("*" in error.id_number for error in parsed.errors if error.id_number)
    with pytest.raises(ledger_io.ImportRejected):
        ledger_io.commit(parsed, users["comm_a"])
    # Even handed straight to commit (which validates itself), nothing is written.
    with pytest.raises(ledger_io.ImportRejected) as rejected:
        ledger_io.commit(
            ledger_io.ParseResult.for_commit(xlsx(rows), "direct", "x.xlsx"), users["comm_a"]
        )
    assert sorted(errors_by_row(rejected.value.result)) == [3, 4, 5, 6, 7, 8, 9]
    assert PartyMember.objects.count() == 0 and Person.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_every_problem_of_a_row_is_listed(tree, users, english):
    parsed = parse([member_row(1, 性别="女", 手机号="call me", 状态="退休", 干部="maybe",
                               党籍所在="外地", org=None)], users["comm_a"])
    messages = errors_by_row(parsed)[2]
    assert "The gender does not match the ID number." in messages
    assert "所属组织编码 is required." in messages
    assert "党籍所在 is 外地, so 党籍存放单位 is required." in messages
    assert "干部: “maybe” should be 是 or 否." in messages
    assert any(m.startswith("“退休” is not one of:") for m in messages)
    assert any("phone" in m for m in messages)


def test_dates_are_checked_against_the_id_number_and_the_calendar(tree, users, english):
    today = dt.date.today()
    rows = [
        member_row(1, 入党日期=dt.datetime(1995, 3, 1)),                  # before 18 (born 1980)
        member_row(2, 入党日期=(today + dt.timedelta(days=40)).isoformat()),  # future
        member_row(3, 入党日期="1998年7月1日", 光荣在党50年="是"),           # < 50 years
        member_row(4, 入党日期="19990701"),                              # fine
        member_row(5, 身份证号=id_no(5, birth="19400101"), 入党日期="1960/7/1",
                   光荣在党50年="是"),                                   # fine
    ]
    found = errors_by_row(parse(rows, users["comm_a"]))
    assert sorted(found) == [2, 3, 4]
    assert "18th birthday" in found[2][0]
    assert found[3] == ["The joining date is in the future."]
    assert found[4] == ["Marked 光荣在党50年, but the joining date is less than 50 years ago."]


def test_an_id_number_typed_as_a_number_is_refused(tree, users, english):
    # An .xlsx stores every number as a double, so an 18-digit ID typed as a number has
    # already lost its tail, even when it still passes the checksum by chance.
    n = next(n for n in range(1, 30) if id_no(n).isdigit())
    found = errors_by_row(parse([member_row(n, 身份证号=int(id_no(n))), member_row(99)],
                                users["comm_a"]))
    assert list(found) == [2]
    assert "format the column as text" in found[2][0]


def test_out_of_scope_code_reads_exactly_like_an_unknown_one(tree, users, english):
    parsed = parse([member_row(1, org="B1"), member_row(2, org="NO-SUCH")], users["comm_a"])
    found = errors_by_row(parsed)
    assert found[2] == [m.replace("NO-SUCH", "B1") for m in found[3]]
    # The street above both communities may import into B1.
    assert parse([member_row(1, org="B1")], users["street"]).ok


def test_household_must_be_a_household_under_the_branch(tree, users, english):
    make(tree["a1"], OrgKind.HOUSEHOLD, "A1H", "李家党员中心户")
    rows = [
        member_row(1, 党员中心户编码="A1H"),   # A1H lies under A1, not A2
        member_row(2, 党员中心户编码="A2G"),   # a building group
        member_row(3, 党员中心户编码="B1X"),   # unknown
        member_row(4, 党员中心户编码="A2H"),   # fine
    ]
    found = errors_by_row(parse(rows, users["comm_a"]))
    assert found == {
        2: ["The household “A1H” does not lie under “A2”."],
        3: ["“A2G” is not a member central household."],
        4: ["Unknown member central household code “B1X”."],
    }


def test_in_service_members_need_a_known_work_unit(tree, users, english):
    WorkUnit.objects.create(name="太原市第一医院")
    rows = [
        member_row(1, 工作单位="太原市第一医院"),
        member_row(2, 工作单位="不存在的单位"),
        member_row(3),
    ]
    parsed = parse(rows, users["comm_a"], category="in_service")
    assert errors_by_row(parsed) == {
        3: ["Unknown work unit “不存在的单位”; add it to the work units first."],
        4: ["An in-service member needs 工作单位."],
    }
    import_rows([rows[0]], users["comm_a"], category="in_service")
    assert PartyMember.objects.get().employer.name == "太原市第一医院"
    assert WorkUnit.objects.count() == 1  # unknown names are never created


def test_an_id_number_in_another_ledger_or_organisation_is_refused(tree, users, english):
    import_rows([member_row(1, org="B1")], users["admin"])
    import_rows([member_row(2)], users["comm_a"], category="mobile")
    found = errors_by_row(parse([member_row(1), member_row(2)], users["comm_a"]))
    assert found[2] == [
        "This ID number belongs to a party member of another organisation; they must be "
        "transferred before they can be imported here."
    ]
    assert found[3] == [
        "This person is already in the mobile ledger; change their category there instead."
    ]
    stranger = Person(name="外人", org_unit=tree["c1"])
    stranger.set_id_number(id_no(3))
    stranger.save()
    assert "registered with another organisation" in errors_by_row(
        parse([member_row(3)], users["comm_a"])
    )[2][0]


def test_rows_are_numbered_as_in_excel(tree, users, english):
    rows = [member_row(1), None, None, member_row(2, org="NOPE")]
    parsed = parse(rows, users["comm_a"], before=[["党员台账（2026年）"], []])
    # Title on row 1, a blank row 2, header on row 3, members on 4 and 7.
    assert parsed.rows == 2
    assert list(errors_by_row(parsed)) == [7]


def test_hand_made_headers_extra_columns_and_excel_dates(tree, users):
    headers = ["序号", "姓名*", "身份证号（必填）", "所属组织编码 *", "入党日期", "备注"]
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(headers)
    sheet.append([1, "党员1", id_no(1), "A2", dt.date(2003, 5, 4), "老支书"])
    sheet["E2"].number_format = "yyyy年m月d日"  # a custom date format, as Chinese Excel writes
    buffer = io.BytesIO()
    workbook.save(buffer)
    parsed = ledger_io.parse(buffer.getvalue(), "direct", users["comm_a"], filename="x.xlsx")
    assert parsed.ok, (parsed.file_error, parsed.errors)
    assert parsed.ignored_columns == ["序号", "备注"]
    ledger_io.commit(parsed, users["comm_a"])
    assert PartyMember.objects.get().joined_on == dt.date(2003, 5, 4)


# ---- bad files -------------------------------------------------------------------------------


def file_error(data, filename="ledger.xlsx", user=None, category="direct"):
    with translation.override("en"):
        return ledger_io.parse(data, category, user, filename=filename).file_error


def test_corrupt_files_and_wrong_types_get_a_clear_message(tree, users):
    good = xlsx([member_row(1)])
    user = users["comm_a"]
    assert file_error(b"name,id\n", user=user) == "This is not an Excel .xlsx file."
    assert file_error(good, filename="ledger.csv", user=user) == (
        "Only Excel .xlsx files can be imported."
    )
    assert "save the file as .xlsx" in file_error(b"\xd0\xcf\x11\xe0" + b"\0" * 100, user=user)
    assert file_error(b"", user=user) == "The file is empty."
    damaged = "could not be read as an Excel workbook"
    assert damaged in file_error(good[: len(good) // 2], user=user)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    assert damaged in file_error(buffer.getvalue(), user=user)
    # A workbook whose sheet XML is broken.
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content[: len(content) // 2]
            target.writestr(item, content)
    assert damaged in file_error(buffer.getvalue(), user=user)


def test_a_file_without_the_template_columns_or_rows_is_refused(tree, users):
    user = users["comm_a"]
    assert "No header row with the columns 姓名 and 身份证号" in file_error(
        xlsx([{"a": 1}], headers=["a", "b"]), user=user
    )
    assert file_error(xlsx([], headers=HEADERS), user=user) == (
        "The file holds no member rows below the header."
    )
    assert "lacks the required column(s) 所属组织编码" in file_error(
        xlsx([member_row(1)], headers=["姓名", "身份证号"]), user=user
    )
    assert "工作单位" in file_error(
        xlsx([member_row(1)], headers=[h for h in HEADERS if h != "工作单位"]),
        user=user, category="in_service",
    )


def test_oversized_and_overlong_files_are_refused(tree, users, monkeypatch):
    data = xlsx([member_row(n) for n in range(1, 6)])
    monkeypatch.setattr(ledger_io, "MAX_ROWS", 4)
    assert "more than 4 member rows" in file_error(data, user=users["comm_a"])
    monkeypatch.setattr(ledger_io, "MAX_FILE_BYTES", len(data) - 1)
    assert "larger than" in file_error(data, user=users["comm_a"])
    with pytest.raises(ledger_io.ValidationError):
        ledger_io.read_upload(io.BytesIO(data), "ledger.xlsx")


# ---- commit: permissions, races --------------------------------------------------------------


def test_commit_needs_the_add_permission(tree, users):
    parsed = parse([member_row(1)], users["auditor"])
    with pytest.raises(PermissionDenied):
        ledger_io.commit(parsed, users["auditor"])
    assert PartyMember.objects.count() == 0


def test_updates_need_the_change_permission(tree, users):
    import_rows([member_row(1)], users["comm_a"])
    clerk = get_user_model().objects.create_user("clerk", password="pw-Secret-123", is_staff=True)
    StaffAssignment.objects.create(user=clerk, org_unit=tree["a"], role=StaffRole.COMMUNITY_STAFF)
    clerk.user_permissions.set(Permission.objects.filter(
        content_type__app_label="party_org",
        codename__in=["add_partymember", "add_person", "view_partymember"],
    ))
    clerk = get_user_model().objects.get(pk=clerk.pk)
    assert ledger_io.commit(parse([member_row(2)], clerk), clerk).new == 1
    with pytest.raises(PermissionDenied):
        ledger_io.commit(parse([member_row(1, 手机号="13900000000")], clerk), clerk)
    with pytest.raises(PermissionDenied):
        ledger_io.commit(
            ledger_io.ParseResult.for_commit(
                xlsx([member_row(1, 手机号="13900000000")]), "direct", "x.xlsx"
            ),
            clerk,
        )
    assert PartyMember.objects.get(person__id_number_hash=Person.hash_of(id_no(1))).person.phone \
        == "13800000001"


def test_commit_validates_again_against_the_database(tree, users, english):
    parsed = parse([member_row(1), member_row(2)], users["comm_a"])
    assert parsed.ok
    # Meanwhile member 2 is put into another ledger by someone else.
    import_rows([member_row(2)], users["admin"], category="retired")
    with pytest.raises(ledger_io.ImportRejected) as rejected:
        ledger_io.commit(parsed, users["comm_a"])
    assert errors_by_row(rejected.value.result) == {
        3: ["This person is already in the retired ledger; change their category there instead."]
    }
    assert PartyMember.objects.count() == 1


def test_a_duplicate_written_meanwhile_fails_cleanly(tree, users, monkeypatch, english):
    import_rows([member_row(2)], users["comm_a"])
    parsed = parse([member_row(1), member_row(2)], users["comm_a"])
    # Simulate the race: the existing person is not seen by the commit's checks, so the
    # insert itself runs into the unique ID-number hash.
    monkeypatch.setattr(ledger_io._Pass, "_match_existing", lambda self, rows: None)
    with pytest.raises(ledger_io.ImportRejected) as rejected:
        ledger_io.commit(parsed, users["comm_a"])
    assert "The ledger changed while the file was being imported" in rejected.value.messages[0]
    assert PartyMember.objects.count() == 1 and Person.objects.count() == 1


def test_queries_do_not_grow_with_the_rows(tree, users):
    def count(n):
        data = xlsx([member_row(i) for i in range(1, n + 1)])
        user = get_user_model().objects.get(pk=users["comm_a"].pk)
        with CaptureQueriesContext(connection) as queries:
            ledger_io.parse(data, "direct", user)
        return len(queries)

    assert count(2) == count(20)


# ---- the admin -------------------------------------------------------------------------------


def upload(client, data, filename="ledger.xlsx", **headers):
    file = io.BytesIO(data)
    file.name = filename
    return client.post(IMPORT_URL, {"file": file}, **headers)


def pending_files(settings):
    folder = settings.MEDIA_ROOT / "imports"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.urls(__name__)
def test_changelist_offers_the_template_and_the_import(tree, users, admin_client_for):
    response = admin_client_for(users["comm_a"]).get(BASE)
    assert response.status_code == 200
    assert TEMPLATE_URL.encode() in response.content and IMPORT_URL.encode() in response.content
    auditor = admin_client_for(users["auditor"]).get(BASE)
    assert auditor.status_code == 200 and IMPORT_URL.encode() not in auditor.content


@pytest.mark.urls(__name__)
def test_template_download(tree, users, admin_client_for):
    response = admin_client_for(users["comm_a"]).get(TEMPLATE_URL)
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    assert "attachment" in response["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(response.content))
    assert [cell.value for cell in workbook.worksheets[0][1]] == HEADERS


@pytest.mark.urls(__name__)
def test_preview_then_commit_through_the_admin(tree, users, admin_client_for, settings):
    client = admin_client_for(users["comm_a"])
    assert client.get(IMPORT_URL).status_code == 200
    response = upload(client, xlsx([member_row(n) for n in range(1, 4)]))
    assert response.status_code == 302
    preview_url = response["Location"]
    assert re.fullmatch(BASE + r"import/[A-Za-z0-9_-]{32}/", preview_url)
    # Kept server-side and encrypted: not the xlsx (a zip) the user sent.
    stored = [p for p in (settings.MEDIA_ROOT / "imports").iterdir() if p.suffix == ".enc"]
    assert len(stored) == 1 and not stored[0].read_bytes().startswith(b"PK")
    response = client.get(preview_url)
    assert response.status_code == 200
    result = response.context["result"]
    assert result.ok and (result.rows, result.new) == (3, 3)
    assert b'name="confirm"' in response.content
    assert PartyMember.objects.count() == 0  # the preview writes nothing
    response = client.post(preview_url, {"confirm": "1"})
    assert response.status_code == 302 and response["Location"] == BASE
    assert PartyMember.objects.filter(category="direct", org_unit=tree["a2"]).count() == 3
    assert pending_files(settings) == []
    # The token is spent.
    response = client.post(preview_url, {"confirm": "1"}, follow=True)
    assert response.redirect_chain[-1][0] == IMPORT_URL
    assert PartyMember.objects.count() == 3


@pytest.mark.urls(__name__)
def test_preview_lists_every_bad_row_and_refuses_to_commit(tree, users, admin_client_for):
    client = admin_client_for(users["comm_a"])
    rows = [member_row(1), member_row(2, org="B1"), member_row(3, 身份证号=bad_checksum(3))]
    preview_url = upload(client, xlsx(rows))["Location"]
    response = client.get(preview_url)
    result = response.context["result"]
    assert [error.row for error in result.errors] == [3, 4]
    assert b'name="confirm"' not in response.content
    table = response.content.decode().split('id="import-errors"')[1].split("</table>")[0]
    assert "<td>3</td>" in table and "<td>4</td>" in table and "B1" in table
    # A forced confirmation validates again and writes nothing.
    response = client.post(preview_url, {"confirm": "1"})
    assert response.status_code == 200
    assert [error.row for error in response.context["result"].errors] == [3, 4]
    assert PartyMember.objects.count() == 0
    # The error report holds every bad row.
    report = client.get(preview_url + "errors/")
    assert report["Content-Type"] == XLSX
    lines = list(load_workbook(io.BytesIO(report.content)).worksheets[0].values)
    assert [line[0] for line in lines[1:]] == [3, 4]


@pytest.mark.urls(__name__)
def test_wrong_file_types_are_refused_at_upload(tree, users, admin_client_for, settings):
    client = admin_client_for(users["comm_a"])
    response = upload(client, b"a,b\n1,2\n", filename="ledger.csv", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "Only Excel .xlsx files can be imported." in str(response.context["form"].errors)
    response = upload(client, b"garbage that is not a zip", filename="ledger.xlsx")
    assert response.status_code == 200 and response.context["form"].errors
    assert pending_files(settings) == []
    # Damaged inside but zip-shaped: stored, and the preview says so without a 500.
    good = xlsx([member_row(1)])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x.txt", good)
    response = client.get(upload(client, buffer.getvalue())["Location"])
    assert response.status_code == 200 and response.context["result"].file_error


@pytest.mark.urls(__name__)
def test_import_refuses_users_without_the_add_permission(tree, users, admin_client_for):
    preview_url = upload(admin_client_for(users["comm_a"]), xlsx([member_row(1)]))["Location"]
    auditor = admin_client_for(users["auditor"])
    for url in (IMPORT_URL, TEMPLATE_URL, preview_url, preview_url + "errors/"):
        assert auditor.get(url).status_code == 403, url
    assert upload(auditor, xlsx([member_row(1)])).status_code == 403
    assert auditor.post(preview_url, {"confirm": "1"}).status_code == 403
    assert PartyMember.objects.count() == 0
    # Not staff at all: the admin login page.
    response = admin_client_for(users["nobody"]).get(IMPORT_URL)
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.urls(__name__)
def test_an_upload_belongs_to_its_uploader(tree, users, admin_client_for):
    preview_url = upload(admin_client_for(users["comm_a"]), xlsx([member_row(1)]))["Location"]
    other = admin_client_for(users["street"])
    for response in (
        other.post(preview_url, {"confirm": "1"}),
        other.get(preview_url),
        other.get(preview_url + "errors/"),
    ):
        assert response.status_code == 302 and response["Location"] == IMPORT_URL
    assert other.get(BASE + "import/not-a-token/").status_code == 302
    assert PartyMember.objects.count() == 0


def test_stale_uploads_are_swept(tree, users, settings):
    pending = ledger_io.PendingUpload.save(
        b"PK\x03\x04", user=users["comm_a"], category="direct",
        model_label="party_org.partymember", filename="a.xlsx",
    )
    assert ledger_io.PendingUpload.load(
        pending.token, user=users["comm_a"], category="direct", model_label="party_org.partymember"
    )
    assert ledger_io.PendingUpload.load(
        pending.token, user=users["comm_a"], category="mobile", model_label="party_org.partymember"
    ) is None
    assert ledger_io.PendingUpload.sweep(max_age=-1) == 2
    assert ledger_io.PendingUpload.load(
        pending.token, user=users["comm_a"], category="direct", model_label="party_org.partymember"
    ) is None


def test_the_real_ledger_admins_offer_the_import(tree, users, admin_client_for):
    """Whichever ledgers admin/members.py registers with the mixin serve the template."""
    ledgers = [
        model_admin for model_admin in admin.site._registry.values()
        if isinstance(model_admin, LedgerImportMixin)
    ]
    if not ledgers:
        pytest.skip("no ledger admin registered with LedgerImportMixin yet")
    client = admin_client_for(users["comm_a"])
    assert {model_admin.ledger_category for model_admin in ledgers} == {
        "direct", "mobile", "in_service", "retired"
    }
    for model_admin in ledgers:
        changelist = client.get(model_admin._url("changelist"))
        assert changelist.status_code == 200
        assert model_admin._url("import").encode() in changelist.content
        response = client.get(model_admin._url("import_template"))
        assert response.status_code == 200 and response["Content-Type"] == XLSX
        assert client.get(model_admin._url("import")).status_code == 200
