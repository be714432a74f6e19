"""Household files (一户一档) from Excel: template, preview with every bad row, all-or-nothing
commit, re-import updates instead of duplicating, care flags need their permission, scope."""

import io
import re

import pytest
from django.contrib.auth.models import Permission
from openpyxl import Workbook, load_workbook

from grids import household_io
from grids.models import Entrance, Household
from party_org import pii
from party_org.models import Person, StaffRole
from tests.conftest import _user

pytestmark = pytest.mark.django_db

HEADER = ["小区名称", "楼栋", "单元", "房号", "户主姓名", "户主身份证号", "家庭人数", "联系电话",
          "关爱标识", "备注"]


def xlsx(*rows, header=HEADER):
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _id(seed=1):
    first = f"14010619{80 + seed % 10:02d}0101{seed % 1000:03d}"
    return first + pii.id_check_char(first)


@pytest.fixture
def wjy(places):
    Entrance.objects.create(building=places["wjy1"], number="1单元")
    return places["wjy"]


GOOD = [
    ("文锦苑", "1号楼", "1单元", "101", "李秀英", _id(1), 2, "13812345678", "独居老人", ""),
    ("文锦苑", "1号楼", "", "102", "王强", "", 4, "", "", "租户"),
    ("文锦苑", "", "", "门卫室", "", "", 1, "", "", ""),
]


def test_template_has_the_columns_and_reads_back_clean(users, wjy):
    book = load_workbook(io.BytesIO(household_io.build_template()))
    assert [c.value for c in book.worksheets[0][1]] == [c.header for c in household_io.COLUMNS]
    result = household_io.parse(household_io.build_template(), users["comm_a"])
    # the example row names a compound that exists here (文锦苑, 1号楼, 1单元)
    assert result.ok and result.new == 1


def test_import_then_reimport_updates_and_never_duplicates(users, wjy):
    user = users["comm_a"]
    preview = household_io.parse(xlsx(*GOOD), user)
    assert preview.ok and (preview.rows, preview.new) == (3, 3)
    assert Household.objects.count() == 0  # a preview writes nothing
    household_io.commit(xlsx(*GOOD), user)
    assert Household.objects.count() == 3
    li = Household.objects.get(room="101")
    assert li.head.name == "李秀英" and li.head.id_number == _id(1)
    assert li.care_flags == ["elderly_alone"] and li.members_count == 2
    again = household_io.commit(xlsx(*GOOD), user)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 3)
    changed = list(GOOD)
    changed[1] = ("文锦苑", "1号楼", "", "102", "王强", "", 5, "", "", "租户")
    result = household_io.commit(xlsx(*changed), user)
    assert (result.new, result.updated, result.unchanged) == (0, 1, 2)
    assert Household.objects.get(room="102").members_count == 5
    assert Household.objects.count() == 3
    assert Person.objects.filter(name="王强").count() == 1  # the same head, not a new person


BAD_ROWS = [
    ("不存在小区", "", "", "1", "", "", 1, "", "", ""),       # unknown compound
    ("化工东院", "", "", "1", "", "", 1, "", "", ""),         # another community: out of scope
    ("文锦苑", "", "", "", "", "", 1, "", "", ""),            # no room
    ("文锦苑", "9号楼", "", "1", "", "", 1, "", "", ""),      # no such building
    ("文锦苑", "", "1单元", "1", "", "", 1, "", "", ""),      # entrance without building
    ("文锦苑", "1号楼", "", "201", "", "", 99, "", "", ""),   # too many people
    ("文锦苑", "1号楼", "", "202", "", "", 1, "电话12", "", ""),  # bad phone
    ("文锦苑", "1号楼", "", "203", "", "", 1, "", "外星人", ""),  # unknown care flag
    ("文锦苑", "1号楼", "", "204", "张三", "140106198001011234", 1, "", "", ""),  # bad ID
    ("文锦苑", "1号楼", "1单元", "101", "", "", 1, "", "", ""),  # same place as the first row
]


def test_every_bad_row_is_listed_and_nothing_is_written(users, wjy):
    data = xlsx(GOOD[0], *BAD_ROWS)
    result = household_io.parse(data, users["comm_a"])
    assert not result.ok
    assert [e.row for e in result.errors] == list(range(3, 3 + len(BAD_ROWS)))
    assert all(e.messages for e in result.errors)
    with pytest.raises(household_io.ImportRejected):
        household_io.commit(data, users["comm_a"])
    assert Household.objects.count() == 0 and not Person.objects.filter(name="李秀英").exists()


def test_care_flags_need_the_permission(users, wjy, tree):
    clerk = _user("clerk_a", StaffRole.COMMUNITY_STAFF, tree["a"])
    for group in clerk.groups.all():
        group.permissions.remove(Permission.objects.get(codename="view_care_flags"))
    clerk = type(clerk).objects.get(pk=clerk.pk)
    result = household_io.parse(xlsx(GOOD[0]), clerk)
    assert not result.ok and len(result.errors) == 1
    assert household_io.parse(xlsx(GOOD[1]), clerk).ok


@pytest.mark.parametrize("data", [b"", b"not a spreadsheet", xlsx(header=["姓名", "电话"]),
                                  xlsx(header=HEADER)])
def test_bad_files_get_a_message(users, wjy, data):
    result = household_io.parse(data, users["comm_a"])
    assert result.file_error and not result.ok


def test_the_admin_flow_upload_preview_confirm(users, wjy, admin_client_for, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = admin_client_for(users["comm_a"])
    base = "/admin/grids/household/"
    page = client.get(base)
    assert b"import/template/" in page.content
    template = client.get(base + "import/template/")
    assert template.status_code == 200 and template.content[:2] == b"PK"
    bad = client.post(base + "import/", {"file": _upload("list.csv", b"a,b\n")})
    assert bad.status_code == 200 and b"errorlist" in bad.content
    response = client.post(base + "import/", {"file": _upload("households.xlsx", xlsx(*GOOD))})
    assert response.status_code == 302
    preview_url = response["Location"]
    preview = client.get(preview_url)
    assert preview.status_code == 200 and b'name="confirm"' in preview.content
    # Another user cannot use this upload.
    other = admin_client_for(users["comm_b"]).get(preview_url)
    assert other.status_code == 302 and Household.objects.count() == 0
    done = client.post(preview_url, {"confirm": "1"})
    assert done.status_code == 302 and Household.objects.count() == 3
    # The upload is gone after the commit.
    assert client.get(preview_url).status_code == 302


def test_the_admin_shows_bad_rows_without_confirm(users, wjy, admin_client_for, settings,
                                                  tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = admin_client_for(users["comm_a"])
    response = client.post("/admin/grids/household/import/",
                           {"file": _upload("h.xlsx", xlsx(*BAD_ROWS))})
    preview = client.get(response["Location"])
    assert preview.status_code == 200
    assert b'name="confirm"' not in preview.content
    # every row but the last (a duplicate only of a row absent from this file)
    assert len(re.findall(rb'class="reasons"', preview.content)) == len(BAD_ROWS) - 1


def test_auditor_cannot_import(users, admin_client_for):
    client = admin_client_for(users["auditor"])
    assert client.get("/admin/grids/household/import/").status_code == 403


def _upload(name, data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)
