"""Excel import of the four member ledgers (一类一档): the template, row-by-row validation, and an
all-or-nothing commit.

A ledger file is streamed twice. `parse` reads it once to validate every row (the admin's
preview); `commit` reads it again inside one transaction, re-validating every row against the
database as it is then and writing in batches, and rolls everything back if any row fails. Neither
pass holds more than one batch of rows, plus a compact set of the ID numbers already seen (for
duplicates within the file) and the errors found.

Between the preview and the commit the uploaded file is kept server-side by `PendingUpload`,
encrypted, since it holds ID numbers in clear.
"""

import datetime as dt
import hashlib
import io
import json
import os
import posixpath
import re
import secrets
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from xml.etree import ElementTree

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.numbers import is_date_format
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH, from_excel
from openpyxl.worksheet.datavalidation import DataValidation

from .xlsx import safe_row
from . import audit, pii
from .models import (
    Gender,
    MemberCategory,
    MemberChange,
    MemberChangeKind,
    MemberStatus,
    OrgKind,
    OrgUnit,
    PartyMember,
    Person,
    WorkUnit,
    phone_validator,
)
from .models.members import MEMBER_UNIT_KINDS, RecordLocation
from .selectors import Subtree, in_scope, scoped
from .services.members import membership_date_problems

MAX_FILE_BYTES = 20 * 1024 * 1024
# A city's whole membership (about 180,000) fits in one file, with room to spare.
MAX_ROWS = 200_000
# Excel's own limit; a sheet claiming rows beyond it is not a real spreadsheet.
MAX_SHEET_ROWS = 1_048_576
# Decompressed size of all parts together (a 180,000-row ledger: 11 MB expanding to 111 MB).
MAX_UNCOMPRESSED_BYTES = 800 * 1024 * 1024
BATCH_SIZE = 1000
SAMPLE_ROWS = 50
HEADER_SEARCH_ROWS = 10
HEADER_SEARCH_COLUMNS = 100
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

ACTION_NEW = "new"
ACTION_UPDATED = "updated"
ACTION_UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # the file format: fixed Chinese headers, whatever the interface language
    help: str
    required: bool = False
    example: object = None


COLUMNS = (
    Column("name", "姓名", gettext_lazy("The member's full name."), True, "王建国"),
    Column(
        "gender", "性别",
        gettext_lazy("男 or 女. May be left blank: it is read from the ID number."), False, "男",
    ),
    Column(
        "id_number", "身份证号",
        gettext_lazy(
            "The 18-character resident ID number (the last character may be X), entered as text. "
            "It identifies the member: importing the same ID number again updates that member."
        ),
        True, None,
    ),
    Column("phone", "手机号", gettext_lazy("Mobile or landline number."), False, "13812345678"),
    Column(
        "org_code", "所属组织编码",
        gettext_lazy(
            "The code of the branch or building party group the member belongs to, as shown in "
            "the organisation units list. It must be inside your organisation."
        ),
        True, "B001",
    ),
    Column(
        "household_code", "党员中心户编码",
        gettext_lazy(
            "Optional: the code of the member central household, which must lie under the "
            "member's branch."
        ),
    ),
    Column(
        "joined_on", "入党日期",
        gettext_lazy("The date the member joined the Party, e.g. 1998-07-01."),
        False, dt.date(1998, 7, 1),
    ),
    Column(
        "record_location", "党籍所在",
        gettext_lazy("本地 (the membership record is held here) or 外地; blank means 本地."),
        False, "本地",
    ),
    Column(
        "record_held_by", "党籍存放单位",
        gettext_lazy("Where the membership record is held; required when 党籍所在 is 外地."),
    ),
    Column(
        "employer", "工作单位",
        gettext_lazy(
            "The employer unit's name exactly as in the work units list (unknown names are "
            "refused, not created). Required for in-service members."
        ),
    ),
    Column(
        "status", "状态", gettext_lazy("正常, 已转出 or 已去世; blank means 正常."), False, "正常"
    ),
    Column("is_veteran", "退役军人", gettext_lazy("是 or 否; blank means 否."), False, "否"),
    Column("is_cadre", "干部", gettext_lazy("是 or 否; blank means 否."), False, "否"),
    Column(
        "fifty_years", "光荣在党50年",
        gettext_lazy("是 or 否; blank means 否. 是 needs a joining date at least 50 years ago."),
        False, "否",
    ),
)
COLUMN_BY_KEY = {column.key: column for column in COLUMNS}
FLAG_KEYS = ("is_veteran", "is_cadre", "fifty_years")

# The file's fixed words, plus the stored values, so an exported or hand-made file reads alike.
GENDERS = {"男": Gender.MALE, "女": Gender.FEMALE, "male": Gender.MALE, "female": Gender.FEMALE}
RECORD_LOCATIONS = {
    "本地": RecordLocation.HERE, "外地": RecordLocation.ELSEWHERE,
    "here": RecordLocation.HERE, "elsewhere": RecordLocation.ELSEWHERE,
}
STATUSES = {
    "正常": MemberStatus.ACTIVE, "在册": MemberStatus.ACTIVE,
    "已转出": MemberStatus.TRANSFERRED_OUT, "转出": MemberStatus.TRANSFERRED_OUT,
    "已去世": MemberStatus.DECEASED, "去世": MemberStatus.DECEASED, "已故": MemberStatus.DECEASED,
    **{status.value: status for status in MemberStatus},
}
YES = {"是", "y", "yes", "true", "1", "√", "✓"}
NO = {"否", "n", "no", "false", "0", "×", "✗"}
DATE_PATTERN = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")

MEMBER_FIELDS = (
    "org_unit", "household", "joined_on", "record_location", "record_held_by", "employer",
    "status", *FLAG_KEYS,
)
# Which column feeds which stored field (for "changed" lists and partial files).
FIELD_COLUMN = {
    "name": "name", "gender": "gender", "phone": "phone", "org_unit": "org_code",
    "household": "household_code", "joined_on": "joined_on",
    "record_location": "record_location", "record_held_by": "record_held_by",
    "employer": "employer", "status": "status",
    **{key: key for key in FLAG_KEYS},
}


def required_columns(category):
    keys = [column.key for column in COLUMNS if column.required]
    if category == MemberCategory.IN_SERVICE:
        keys.append("employer")
    return keys


def _normalise_header(value):
    if value is None:
        return ""
    text = re.sub(r"\s+", "", str(value))
    # A required column may be marked 姓名* or 姓名(必填) in a hand-made file.
    return re.sub(r"[*＊]|[(（]必填[)）]$", "", text)


HEADER_KEYS = {column.header: column.key for column in COLUMNS}


# ---- the template ------------------------------------------------------------------------------


def _example_id_number():
    first17 = "14010519800101001"  # 太原市迎泽区, born 1980-01-01, male
    return first17 + pii.id_check_char(first17)


def build_template(category):
    """The ledger template for `category` as .xlsx bytes: the columns with one example row, and a
    second sheet explaining each column."""
    category = MemberCategory(category)
    required = set(required_columns(category))
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("%(ledger)s ledger") % {"ledger": category.label}
    header_fill = PatternFill("solid", fgColor="FCE4D6")
    optional_fill = PatternFill("solid", fgColor="EDEDED")
    for index, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=index, value=column.header)
        cell.font = Font(bold=True)
        cell.fill = header_fill if column.key in required else optional_fill
        cell.alignment = Alignment(horizontal="center")
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(12, len(column.header) * 2 + 4)
        example = column.example
        if column.key == "id_number":
            example = _example_id_number()
        elif column.key == "employer" and category == MemberCategory.IN_SERVICE:
            example = _("(the employer unit's name)")
        elif column.key == "joined_on":
            example = example.isoformat()
        sheet.cell(row=2, column=index, value=example)
        if column.key in ("id_number", "phone", "org_code", "household_code", "joined_on"):
            # Text, so Excel keeps all 18 digits of an ID number and leading zeros.
            sheet.column_dimensions[letter].number_format = "@"
            sheet.cell(row=2, column=index).number_format = "@"
    sheet.column_dimensions[get_column_letter(3)].width = 22
    sheet.freeze_panes = "A2"
    choices = {
        "gender": "男,女",
        "record_location": "本地,外地",
        "status": "正常,已转出,已去世",
        **{key: "是,否" for key in FLAG_KEYS},
    }
    for index, column in enumerate(COLUMNS, start=1):
        if column.key in choices:
            validation = DataValidation(
                type="list", formula1=f'"{choices[column.key]}"', allow_blank=True
            )
            validation.error = _("Choose one of: %(values)s") % {"values": choices[column.key]}
            validation.showErrorMessage = True
            sheet.add_data_validation(validation)
            letter = get_column_letter(index)
            validation.add(f"{letter}2:{letter}{MAX_ROWS + 1}")

    notes = workbook.create_sheet(_("Instructions"))
    notes.append([_("Column"), _("Required"), _("What to enter")])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for column in COLUMNS:
        notes.append([
            column.header,
            _("yes") if column.key in required else _("no"),
            str(column.help),
        ])
    notes.append([])
    for line in (
        _("Fill in one member per row below the header row and delete the example row."),
        _("Keep the header row as it is; columns may be left out except the required ones."),
        _("A member whose ID number is already in this ledger is updated, not added again; "
          "a cell left blank clears that field."),
        _("Nothing is imported if any row has an error: the preview lists every bad row with "
          "its row number and the reason."),
        _("At most %(rows)s rows and %(mb)s MB per file, .xlsx only.")
        % {"rows": f"{MAX_ROWS:,}", "mb": MAX_FILE_BYTES // (1024 * 1024)},
    ):
        notes.append([line])
    notes.column_dimensions["A"].width = 18
    notes.column_dimensions["B"].width = 8
    notes.column_dimensions["C"].width = 90
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ---- results -----------------------------------------------------------------------------------


@dataclass
class RowError:
    row: int
    name: str
    id_number: str  # masked: the preview never shows a full ID number
    messages: list


@dataclass
class RowPreview:
    row: int
    name: str
    id_number: str  # masked
    org_code: str
    action: str
    changed: list  # headers of the columns whose values differ from the ledger


@dataclass
class ParseResult:
    """Everything found in one pass over a ledger file."""

    category: str
    filename: str
    data: bytes = field(repr=False, default=b"")
    file_error: str = ""
    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list = field(default_factory=list)
    sample: list = field(default_factory=list)
    ignored_columns: list = field(default_factory=list)

    @classmethod
    def for_commit(cls, data, category, filename=""):
        """A file handed straight to `commit`, which validates every row itself: this skips a
        separate validation pass when the preview was already shown."""
        return cls(category=MemberCategory(category).value, filename=filename, data=data)

    @property
    def ok(self):
        return not self.file_error and not self.errors and self.rows > 0

    @property
    def error_rows(self):
        return len(self.errors)

    @property
    def sha256(self):
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class ImportSummary:
    new: int
    updated: int
    unchanged: int

    @property
    def rows(self):
        return self.new + self.updated + self.unchanged


class ImportRejected(ValidationError):
    """The commit found errors (or the file changed meaning since the preview): nothing written.

    `result` holds the pass that failed, with every bad row.
    """

    def __init__(self, result, message=None):
        self.result = result
        if message is None:
            message = result.file_error or _(
                "%(count)d row(s) have errors; nothing was imported."
            ) % {"count": result.error_rows}
        super().__init__(message, code="import_rejected")


class _FileError(Exception):
    pass


# ---- reading the file --------------------------------------------------------------------------


def _read_source(file, filename):
    """The file's bytes and name, refusing oversized files before reading them whole."""
    too_big = _("The file is larger than %(mb)s MB; split it into several files.") % {
        "mb": MAX_FILE_BYTES // (1024 * 1024)
    }
    if isinstance(file, (bytes, bytearray)):
        data = bytes(file)
    elif isinstance(file, (str, os.PathLike)):
        filename = filename or Path(file).name
        if os.path.getsize(file) > MAX_FILE_BYTES:
            raise _FileError(too_big)
        data = Path(file).read_bytes()
    else:
        filename = filename or os.path.basename(getattr(file, "name", "") or "")
        size = getattr(file, "size", None)
        if size is not None and size > MAX_FILE_BYTES:
            raise _FileError(too_big)
        if hasattr(file, "seek"):
            file.seek(0)
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise _FileError(too_big)
    return data, os.path.basename(filename or "")


def _check_format(data, filename):
    if filename and not filename.lower().endswith(".xlsx"):
        if filename.lower().endswith(".xls"):
            raise _FileError(_("Old-style .xls files cannot be read; save the file as .xlsx."))
        raise _FileError(_("Only Excel .xlsx files can be imported."))
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise _FileError(_("Old-style .xls files cannot be read; save the file as .xlsx."))
    if not data:
        raise _FileError(_("The file is empty."))
    if data[:4] != b"PK\x03\x04":
        raise _FileError(_("This is not an Excel .xlsx file."))


def _unreadable():
    return _("The file could not be read as an Excel workbook; it may be damaged. "
             "Open it in Excel, save it as .xlsx and try again.")


_DATE_FORMAT_IDS = frozenset(
    # Excel's built-in date formats, including the East Asian ones (27-36, 50-58) that
    # Chinese Excel and WPS use for 2024年7月1日 and the like.
    [*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)]
)


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _rich_text(element):
    """The text of a shared or inline string (<t>, or runs <r><t>; phonetic guides left out)."""
    parts = []
    for child in element:
        name = _local(child.tag)
        if name == "t":
            parts.append(child.text or "")
        elif name == "r":
            parts.extend(sub.text or "" for sub in child if _local(sub.tag) == "t")
    return "".join(parts)


def _column_index(ref):
    index = 0
    for char in ref:
        if "A" <= char <= "Z":
            index = index * 26 + ord(char) - 64
        else:
            break
    return index - 1


class _Workbook:
    """Just enough of an .xlsx to stream the cell values of its first sheet.

    openpyxl's read-only mode builds objects for every cell and, in a file without a
    <dimension> element (openpyxl's own write-only files, so our exports), parses the whole
    sheet once more before the first row. A ledger of 180,000 rows needs only the values, so
    the XML parts are read here with ElementTree's C parser, one row at a time.
    """

    def __init__(self, data):
        try:
            self.archive = zipfile.ZipFile(io.BytesIO(data))
            infos = self.archive.infolist()
        except Exception as error:  # zipfile raises several types on a damaged archive
            raise _FileError(_unreadable()) from error
        if sum(info.file_size for info in infos) > MAX_UNCOMPRESSED_BYTES:
            raise _FileError(_("The file expands to too much data to be a member ledger."))
        self.names = {info.filename for info in infos}
        self.width = HEADER_SEARCH_COLUMNS
        try:
            self._read_parts()
        except _FileError:
            raise
        except Exception as error:  # malformed XML or a missing part: not a workbook
            raise _FileError(_unreadable()) from error

    def close(self):
        self.archive.close()

    def _xml(self, path):
        return ElementTree.fromstring(self.archive.read(path))

    def _relationships(self, path):
        """{id: (type, target path)} of the part at `path` ("" = the package)."""
        folder, name = posixpath.split(path)
        rels_path = posixpath.join(folder, "_rels", f"{name}.rels")
        if rels_path not in self.names:
            return {}
        found = {}
        for element in self._xml(rels_path):
            target = element.get("Target", "")
            if target.startswith("/"):
                target = target[1:]
            else:
                target = posixpath.normpath(posixpath.join(folder, target))
            found[element.get("Id")] = (element.get("Type", ""), target)
        return found

    def _read_parts(self):
        package = self._relationships("")
        book_path = next(
            (target for kind, target in package.values() if kind.endswith("/officeDocument")),
            "xl/workbook.xml",
        )
        book = self._xml(book_path)
        links = self._relationships(book_path)
        self.epoch = WINDOWS_EPOCH
        sheet_id = None
        for element in book.iter():
            name = _local(element.tag)
            if name == "workbookPr" and element.get("date1904") in ("1", "true"):
                self.epoch = MAC_EPOCH
            elif name == "sheet" and sheet_id is None:
                sheet_id = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
        if sheet_id not in links:
            raise _FileError(_("The workbook has no sheet."))
        self.sheet_path = links[sheet_id][1]
        if self.sheet_path not in self.names:
            raise _FileError(_unreadable())
        parts = {kind.rsplit("/", 1)[-1]: target for kind, target in links.values()}
        self.strings = self._read_strings(parts.get("sharedStrings"))
        self.date_styles = self._read_date_styles(parts.get("styles"))

    def _read_strings(self, path):
        strings = []
        if not path or path not in self.names:
            return strings
        with self.archive.open(path) as stream:
            root = None
            for event, element in ElementTree.iterparse(stream, events=("start", "end")):
                if event == "start":
                    if root is None:
                        root = element
                elif _local(element.tag) == "si":
                    strings.append(_rich_text(element))
                    root.clear()
                    # More distinct texts than a full ledger could hold: not a ledger, and
                    # reading on would only fill memory.
                    if len(strings) > MAX_ROWS * len(COLUMNS):
                        raise _FileError(
                            _("The file expands to too much data to be a member ledger.")
                        )
        return strings

    def _read_date_styles(self, path):
        if not path or path not in self.names:
            return frozenset()
        styles = self._xml(path)
        custom = {}
        formats = []
        for element in styles.iter():
            name = _local(element.tag)
            if name == "numFmt":
                custom[int(element.get("numFmtId", -1))] = element.get("formatCode", "")
            elif name == "cellXfs":
                formats = [int(xf.get("numFmtId", 0)) for xf in element]
        return frozenset(
            index for index, number_format in enumerate(formats)
            if number_format in _DATE_FORMAT_IDS
            or (number_format in custom and is_date_format(custom[number_format]))
        )

    def rows(self):
        """(Excel row number, values of the first `self.width` columns) for each row."""
        try:
            yield from self._rows()
        except _FileError:
            raise
        except Exception as error:  # malformed sheet XML, a bad shared-string index, ...
            raise _FileError(_unreadable()) from error

    def _rows(self):
        with self.archive.open(self.sheet_path) as stream:
            namespace = None
            parent = None
            number = 0
            for event, element in ElementTree.iterparse(stream, events=("start", "end")):
                if event == "start":
                    if namespace is None:
                        tag = element.tag
                        namespace = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
                        row_tag, data_tag = f"{namespace}row", f"{namespace}sheetData"
                    elif element.tag == data_tag:
                        parent = element
                    continue
                if element.tag != row_tag:
                    continue
                reference = element.get("r")
                number = int(reference) if reference else number + 1
                if number > MAX_SHEET_ROWS:
                    raise _FileError(_unreadable())
                width = self.width
                values = [None] * width
                column = 0
                for cell in element:
                    reference = cell.get("r")
                    if reference:
                        column = _column_index(reference)
                    if 0 <= column < width:
                        values[column] = self._value(cell, namespace)
                    column += 1
                yield number, values
                # Rows already read are dropped, so memory stays flat however long the sheet.
                (parent if parent is not None else element).clear()

    def _value(self, cell, namespace):
        kind = cell.get("t")
        if kind == "inlineStr":
            inline = cell.find(f"{namespace}is")
            return _rich_text(inline) if inline is not None else None
        text = cell.findtext(f"{namespace}v")
        if text is None or kind == "e":
            return None
        if kind == "s":
            return self.strings[int(text)]
        if kind == "str":
            return text
        if kind == "b":
            return text.strip() == "1"
        if kind == "d":
            return dt.datetime.fromisoformat(text)
        number = float(text) if ("." in text or "e" in text or "E" in text) else int(text)
        style = cell.get("s")
        if style and int(style) in self.date_styles:
            try:
                return from_excel(number, self.epoch)
            except (OverflowError, ValueError):
                return number
        return number


def _find_header(rows):
    for number, values in rows:
        names = [_normalise_header(value) for value in values]
        if "姓名" in names and "身份证号" in names:
            return number, names
        if number >= HEADER_SEARCH_ROWS:
            break
    raise _FileError(
        _("No header row with the columns 姓名 and 身份证号 was found in the first %(n)d rows of "
          "the first sheet; please use the template.") % {"n": HEADER_SEARCH_ROWS}
    )


# ---- cell values -------------------------------------------------------------------------------


def _text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _date(value):
    """(date or None, problem or None)."""
    if value is None or value == "":
        return None, None
    if isinstance(value, dt.datetime):
        return value.date(), None
    if isinstance(value, dt.date):
        return value, None
    text = _text(value)
    if not text:
        return None, None
    match = DATE_PATTERN.match(text)
    if match is None and re.fullmatch(r"\d{8}", text):
        match = re.match(r"(\d{4})(\d{2})(\d{2})", text)
    if match is None:
        return None, _("“%(value)s” is not a date; write it like 1998-07-01.") % {"value": text}
    try:
        return dt.date(*(int(part) for part in match.groups())), None
    except ValueError:
        return None, _("“%(value)s” is not a real date.") % {"value": text}


def _flag(value):
    """(bool, problem or None)."""
    if value is None or value == "":
        return False, None
    if isinstance(value, bool):
        return value, None
    text = _text(value).lower()
    if text in YES:
        return True, None
    if text in NO or text == "":
        return False, None
    return False, _("“%(value)s” should be 是 or 否.") % {"value": _text(value)}


def _choice(value, mapping, labels_of):
    """Map a cell to a stored value: the file's Chinese words, the stored values, or the labels in
    the current language. Returns (value or None, problem or None)."""
    text = _text(value)
    if not text:
        return None, None
    if text in mapping:
        return mapping[text], None
    if text.lower() in mapping:
        return mapping[text.lower()], None
    for choice in labels_of:
        if text == str(choice.label):
            return choice, None
    return None, _("“%(value)s” is not one of: %(allowed)s.") % {
        "value": text,
        "allowed": "、".join(k for k in mapping if not k.isascii()),
    }


def _id_key(id_hash):
    # 128 bits of the keyed hash identify a row within one file: half the memory of the hex.
    return int(id_hash[:32], 16)


# ---- one pass over a file ----------------------------------------------------------------------


class _Row:
    __slots__ = (
        "number", "name", "gender", "gender_given", "id_number", "id_hash", "phone", "org",
        "org_code", "household", "joined_on", "record_location", "record_held_by", "employer",
        "status", "is_veteran", "is_cadre", "fifty_years", "messages", "action", "changed",
        "existing",
    )

    def __init__(self, number):
        self.number = number
        self.messages = []
        self.org = None
        self.household = None
        self.employer = None
        self.existing = None
        self.action = None
        self.changed = ()
        self.id_hash = None
        self.gender_given = False


@dataclass(frozen=True)
class _Unit:
    pk: int
    code: str
    name: str
    kind: str
    tree_id: int
    lft: int
    rght: int
    is_active: bool


class _Pass:
    """One streaming pass: validates each row; in commit mode also writes each clean batch."""

    def __init__(self, data, filename, category, user, *, writing=False):
        self.category = MemberCategory(category)
        self.user = user
        self.writing = writing
        self.result = ParseResult(category=self.category.value, filename=filename, data=data)
        self.units = {}  # code -> _Unit, or None when unknown / outside the user's scope
        self.employers = {}  # name -> pk or None
        self.seen = {}  # _id_key -> first row number
        self.positions = {}
        self.today = timezone.localdate()
        self.touched = {}  # tree_id -> [min lft, max rght, new, updated, unchanged]

    # -- driving

    def run(self):
        result = self.result
        try:
            _check_format(result.data, result.filename)
            workbook = _Workbook(result.data)
        except _FileError as error:
            result.file_error = str(error)
            return result
        try:
            self._read(workbook)
        except _FileError as error:
            result.file_error = str(error)
        finally:
            workbook.close()
        if not result.file_error and result.rows == 0:
            result.file_error = _("The file holds no member rows below the header.")
        return result

    def _read(self, workbook):
        rows = workbook.rows()
        header_row, names = _find_header(rows)
        for position, name in enumerate(names):
            key = HEADER_KEYS.get(name)
            if key and key not in self.positions:
                self.positions[key] = position
            elif name:
                self.result.ignored_columns.append(name)
        missing = [
            COLUMN_BY_KEY[key].header for key in required_columns(self.category)
            if key not in self.positions
        ]
        if missing:
            raise _FileError(
                _("The file lacks the required column(s) %(columns)s; please use the template.")
                % {"columns": "、".join(missing)}
            )
        workbook.width = max(self.positions.values()) + 1
        batch = []
        for number, values in rows:
            if all(value is None or (isinstance(value, str) and not value.strip())
                   for value in values):
                continue
            self.result.rows += 1
            if self.result.rows > MAX_ROWS:
                raise _FileError(
                    _("The file has more than %(max)s member rows; split it into several files.")
                    % {"max": f"{MAX_ROWS:,}"}
                )
            batch.append((number, values))
            if len(batch) >= BATCH_SIZE:
                self._batch(batch)
                batch = []
        if batch:
            self._batch(batch)

    def _batch(self, raw_rows):
        rows = [self._clean(number, values) for number, values in raw_rows]
        self._resolve_units(rows)
        self._resolve_employers(rows)
        self._match_existing(rows)
        for row in rows:
            self._settle(row)
        if self.writing and not self.result.errors:
            self._write([row for row in rows if not row.messages])

    # -- field checks (no database)

    def _value(self, values, key):
        position = self.positions.get(key)
        return values[position] if position is not None and position < len(values) else None

    def _clean(self, number, values):
        row = _Row(number)
        problems = row.messages
        value = lambda key: self._value(values, key)  # noqa: E731

        def missing(key):
            problems.append(_("%(column)s is required.") % {"column": COLUMN_BY_KEY[key].header})

        row.name = _text(value("name"))
        if not row.name:
            missing("name")
        elif len(row.name) > Person._meta.get_field("name").max_length:
            problems.append(_("The name is too long."))

        raw_id = value("id_number")
        row.id_number = pii.normalise_id_number(_text(raw_id))
        if isinstance(raw_id, float):  # 18 digits do not fit a double: the tail is lost
            problems.append(
                _("The ID number was stored as a number and Excel dropped its last digits; "
                  "format the column as text and enter it again.")
            )
        elif not row.id_number:
            missing("id_number")
        else:
            problem = pii.id_number_problem(row.id_number)
            if problem:
                problems.append(str(problem))
            else:
                row.id_hash = pii.keyed_hash(row.id_number)
                key = _id_key(row.id_hash)
                first = self.seen.get(key)
                if first is None:
                    self.seen[key] = number
                else:
                    problems.append(
                        _("This ID number also appears on row %(row)d of the file.")
                        % {"row": first}
                    )

        gender, problem = _choice(value("gender"), GENDERS, Gender)
        if problem:
            problems.append(problem)
        row.gender_given = gender is not None
        if row.id_hash:
            from_id = pii.gender_from_id(row.id_number)
            if gender is not None and gender != from_id:
                problems.append(_("The gender does not match the ID number."))
            gender = from_id
        row.gender = gender or ""

        row.phone = _text(value("phone"))
        if row.phone:
            try:
                phone_validator(row.phone)
            except ValidationError as error:
                problems.extend(str(message) for message in error.messages)

        row.org_code = _text(value("org_code"))
        if not row.org_code:
            missing("org_code")
        row.household = _text(value("household_code")) or None

        row.joined_on, problem = _date(value("joined_on"))
        if problem:
            problems.append(problem)

        location, problem = _choice(value("record_location"), RECORD_LOCATIONS, RecordLocation)
        if problem:
            problems.append(problem)
        row.record_location = location or RecordLocation.HERE
        row.record_held_by = _text(value("record_held_by"))
        if len(row.record_held_by) > PartyMember._meta.get_field("record_held_by").max_length:
            problems.append(_("%(column)s is too long.") % {"column": "党籍存放单位"})
        if row.record_location == RecordLocation.ELSEWHERE and not row.record_held_by:
            problems.append(_("党籍所在 is 外地, so 党籍存放单位 is required."))

        row.employer = _text(value("employer")) or None
        if self.category == MemberCategory.IN_SERVICE and not row.employer:
            problems.append(_("An in-service member needs 工作单位."))

        status, problem = _choice(value("status"), STATUSES, MemberStatus)
        if problem:
            problems.append(problem)
        row.status = status or MemberStatus.ACTIVE

        for key in FLAG_KEYS:
            flag, problem = _flag(value(key))
            if problem:
                problems.append(_("%(column)s: %(problem)s") % {
                    "column": COLUMN_BY_KEY[key].header, "problem": problem,
                })
            setattr(row, key, flag)
        born = pii.birth_date_from_id(row.id_number) if row.id_hash else None
        for messages in membership_date_problems(
            row.joined_on, born, row.fifty_years, self.today
        ).values():
            problems.extend(messages)
        return row

    # -- references (one query per batch for what is not cached yet)

    def _resolve_units(self, rows):
        codes = {row.org_code for row in rows if row.org_code}
        codes |= {row.household for row in rows if row.household}
        wanted = codes - self.units.keys()
        if wanted:
            queryset = OrgUnit.objects.filter(code__in=wanted)
            if self.user is not None:
                queryset = scoped(self.user, queryset)
            for values in queryset.values_list(
                "pk", "code", "name", "kind", "tree_id", "lft", "rght", "is_active"
            ):
                self.units[values[1]] = _Unit(*values)
            for code in wanted:
                self.units.setdefault(code, None)
        for row in rows:
            if row.org_code:
                unit = self.units.get(row.org_code)
                # Outside the user's scope reads exactly like a code that does not exist.
                if unit is None:
                    row.messages.append(
                        _("Unknown organisation code “%(code)s”.") % {"code": row.org_code}
                    )
                elif unit.kind not in MEMBER_UNIT_KINDS:
                    row.messages.append(
                        _("“%(code)s” is a %(kind)s; a member belongs to a branch or a building "
                          "party group.") % {"code": unit.code, "kind": OrgKind(unit.kind).label}
                    )
                elif not unit.is_active:
                    row.messages.append(
                        _("The unit “%(code)s” is no longer active.") % {"code": unit.code}
                    )
                else:
                    row.org = unit
            if row.household:
                household = self.units.get(row.household)
                code = row.household
                row.household = None
                if household is None:
                    row.messages.append(
                        _("Unknown member central household code “%(code)s”.") % {"code": code}
                    )
                elif household.kind != OrgKind.HOUSEHOLD:
                    row.messages.append(
                        _("“%(code)s” is not a member central household.") % {"code": code}
                    )
                elif row.org is not None and not Subtree(
                    row.org.tree_id, row.org.lft, row.org.rght
                ).contains(household):
                    row.messages.append(
                        _("The household “%(code)s” does not lie under “%(unit)s”.")
                        % {"code": code, "unit": row.org.code}
                    )
                else:
                    row.household = household

    def _resolve_employers(self, rows):
        wanted = {row.employer for row in rows if row.employer} - self.employers.keys()
        if wanted:
            for pk, name in WorkUnit.objects.filter(name__in=wanted).values_list("pk", "name"):
                self.employers[name] = pk
            for name in wanted:
                self.employers.setdefault(name, None)
        for row in rows:
            if row.employer:
                pk = self.employers.get(row.employer)
                if pk is None:
                    row.messages.append(
                        _("Unknown work unit “%(name)s”; add it to the work units first.")
                        % {"name": row.employer}
                    )
                row.employer = (pk, row.employer)

    # -- existing people and members

    def _match_existing(self, rows):
        hashes = {row.id_hash: row for row in rows if row.id_hash}
        if not hashes:
            return
        members = PartyMember.objects.filter(person__id_number_hash__in=list(hashes))
        if self.writing:
            # Hold the rows this import may update until it commits (a no-op on SQLite, whose
            # write transaction already excludes other writers).
            members = members.select_for_update(of=("self",))
        found = set()
        for values in members.values_list(
            "person__id_number_hash", "pk", "person_id", "person__name", "person__gender",
            "person__phone", "person__org_unit_id", "category", "org_unit_id", "org_unit__code",
            "org_unit__name", "org_unit__tree_id", "org_unit__lft", "org_unit__rght",
            "household_id", "joined_on", "record_location", "record_held_by", "employer_id",
            "status", *FLAG_KEYS, "household__tree_id", "household__lft", "household__rght",
        ):
            found.add(values[0])
            hashes[values[0]].existing = ("member", values)
        loose = [h for h in hashes if h not in found]
        if loose:
            for values in Person.objects.filter(id_number_hash__in=loose).values_list(
                "id_number_hash", "pk", "name", "gender", "phone", "org_unit_id",
                "org_unit__tree_id", "org_unit__lft", "org_unit__rght",
            ):
                hashes[values[0]].existing = ("person", values)

    def _visible(self, tree_id, lft, rght):
        return self.user is None or in_scope(self.user, Subtree(tree_id, lft, rght))

    def _settle(self, row):
        """Decide new / updated / unchanged, or add the conflict with the stored ledgers."""
        existing = row.existing
        if existing is not None and existing[0] == "member":
            (_h, _pk, _person_id, name, gender, phone, _porg, category, _org_id, _code, _oname,
             tree_id, lft, rght, *_rest) = existing[1]
            if not self._visible(tree_id, lft, rght):
                row.messages.append(
                    _("This ID number belongs to a party member of another organisation; "
                      "they must be transferred before they can be imported here.")
                )
            elif category != self.category:
                row.messages.append(
                    _("This person is already in the %(ledger)s ledger; change their category "
                      "there instead.") % {"ledger": MemberCategory(category).label}
                )
        elif existing is not None:
            _h, _pk, _name, _gender, _phone, _org, tree_id, lft, rght = existing[1]
            if not self._visible(tree_id, lft, rght):
                row.messages.append(
                    _("This ID number belongs to a person registered with another organisation; "
                      "ask them to transfer the person first.")
                )
        if row.messages:
            self._error(row)
            return
        if existing is None or existing[0] == "person":
            row.action = ACTION_NEW
        else:
            row.changed = self._changes(row, existing[1])
            self._check_changes(row, existing[1])
            if row.messages:
                self._error(row)
                return
            row.action = ACTION_UPDATED if row.changed else ACTION_UNCHANGED
        result = self.result
        setattr(result, row.action, getattr(result, row.action) + 1)
        if len(result.sample) < SAMPLE_ROWS:
            result.sample.append(RowPreview(
                row=row.number, name=row.name, id_number=pii.mask_id_number(row.id_number),
                org_code=row.org.code, action=row.action,
                changed=[COLUMN_BY_KEY[FIELD_COLUMN[name]].header for name in row.changed],
            ))
        tree = self.touched.setdefault(row.org.tree_id, [row.org.lft, row.org.rght, 0, 0, 0])
        tree[0] = min(tree[0], row.org.lft)
        tree[1] = max(tree[1], row.org.rght)
        tree[2 + (ACTION_NEW, ACTION_UPDATED, ACTION_UNCHANGED).index(row.action)] += 1

    def _check_changes(self, row, stored):
        """The rules of services.members.update_member that an import can break."""
        old_status = stored[19]
        if "status" in row.changed:
            # A transfer or a death is dated history with a place: the member's form records it.
            row.messages.append(
                _("The status of a member already in the ledger is changed in the member's "
                  "record (a transfer needs its date and place), not by import.")
            )
        elif "org_unit" in row.changed and old_status != MemberStatus.ACTIVE:
            row.messages.append(
                _("Only an active member can move to another branch; reactivate the member "
                  "first.")
            )

    def _error(self, row):
        self.result.errors.append(RowError(
            row=row.number, name=row.name,
            id_number=pii.mask_id_number(row.id_number), messages=list(row.messages),
        ))

    def _present(self, name):
        return FIELD_COLUMN[name] in self.positions

    def _new_values(self, row):
        return {
            "name": row.name,
            "gender": row.gender,
            "phone": row.phone,
            "org_unit": row.org.pk,
            "household": row.household.pk if row.household else None,
            "joined_on": row.joined_on,
            "record_location": row.record_location,
            "record_held_by": row.record_held_by,
            "employer": row.employer[0] if row.employer else None,
            "status": row.status,
            "is_veteran": row.is_veteran,
            "is_cadre": row.is_cadre,
            "fifty_years": row.fifty_years,
        }

    def _changes(self, row, stored):
        (_h, _pk, _person_id, name, gender, phone, _porg, _category, org_id, _code, _oname,
         _t, _l, _r, household_id, joined_on, location, held_by, employer_id, status,
         veteran, cadre, fifty, *household_position) = stored
        old = {
            "name": name, "gender": gender, "phone": phone, "org_unit": org_id,
            "household": household_id, "joined_on": joined_on, "record_location": location,
            "record_held_by": held_by, "employer": employer_id, "status": status,
            "is_veteran": veteran, "is_cadre": cadre, "fifty_years": fifty,
        }
        new = self._new_values(row)
        changed = []
        for name_ in old:
            # A column left out of the file leaves that field alone; gender is only compared
            # when the file states it (otherwise it comes from the ID number).
            if not self._present(name_) or (name_ == "gender" and not row.gender_given):
                continue
            if old[name_] != new[name_]:
                changed.append(name_)
        if (
            "org_unit" in changed and household_id is not None and not self._present("household")
            and not Subtree(row.org.tree_id, row.org.lft, row.org.rght).contains(
                Subtree(*household_position)
            )
        ):
            # As in services.members: a member leaving a branch leaves its household.
            changed.append("household")
        return tuple(changed)

    # -- writing (commit mode)

    def _write(self, rows):
        now = timezone.now()
        stamp = connection.ops.adapt_datetimefield_value(now)
        day = connection.ops.adapt_datefield_value
        fresh_people, member_rows, people_updates, member_updates, history = [], [], [], [], []
        loose_people = []
        for row in rows:
            values = self._new_values(row)
            if row.action == ACTION_NEW and row.existing is None:
                fresh_people.append({
                    "name": row.name, "gender": str(row.gender), "phone": row.phone,
                    "birth_date": day(pii.birth_date_from_id(row.id_number)),
                    "id_number_encrypted": pii.encrypt(row.id_number),
                    "id_number_hash": row.id_hash, "org_unit_id": row.org.pk,
                    "created_at": stamp, "updated_at": stamp,
                })
                member_rows.append((row, None))
            elif row.action == ACTION_NEW:
                # A person already known to the portal (a volunteer, a resident) joins the ledger.
                _h, person_pk, *_rest = row.existing[1]
                # Only what the file states: a column left out keeps the stored value.
                fields = ["name"]
                if self._present("phone"):
                    fields.append("phone")
                if row.gender_given:
                    fields.append("gender")
                person = Person(pk=person_pk, name=row.name, phone=row.phone,
                                gender=row.gender, updated_at=now)
                loose_people.append((person, fields))
                member_rows.append((row, person_pk))
            elif row.action == ACTION_UPDATED:
                stored = row.existing[1]
                person_pk, member_pk, old_org, old_org_name = (
                    stored[2], stored[1], stored[8], stored[10]
                )
                person_fields = [f for f in ("name", "gender", "phone") if f in row.changed]
                if "org_unit" in row.changed and stored[6] == old_org:
                    # The person was registered at the old branch: they move with the member.
                    person_fields.append("org_unit")
                if person_fields:
                    person = Person(pk=person_pk, updated_at=now, org_unit_id=row.org.pk,
                                    **{f: values[f] for f in person_fields if f != "org_unit"})
                    people_updates.append((person, person_fields))
                member_fields = [f for f in MEMBER_FIELDS if f in row.changed]
                if member_fields:
                    member = PartyMember(pk=member_pk, updated_at=now)
                    for name in member_fields:
                        attname = f"{name}_id" if name in ("org_unit", "household", "employer") \
                            else name
                        setattr(member, attname, values[name])
                    member_updates.append((member, member_fields))
                if "org_unit" in row.changed:
                    # A move to another branch is dated history, as in services.move_member.
                    history.append(self._history(member_pk, MemberChangeKind.UNIT,
                                                 old_org_name, row.org.name))
        if fresh_people:
            _insert_rows(Person, fresh_people)
            created = dict(
                Person.objects.filter(
                    id_number_hash__in=[person["id_number_hash"] for person in fresh_people]
                ).values_list("id_number_hash", "pk")
            )
            member_rows = [
                (row, person_pk if person_pk is not None else created[row.id_hash])
                for row, person_pk in member_rows
            ]
        if member_rows:
            _insert_rows(PartyMember, [
                self._member(row, person_pk, stamp, day) for row, person_pk in member_rows
            ])
        # bulk_update writes one field list per call: group the rows by what changed.
        for model, updates in (
            (Person, loose_people), (Person, people_updates), (PartyMember, member_updates),
        ):
            groups = {}
            for obj, fields in updates:
                groups.setdefault(tuple(fields), []).append(obj)
            for fields, objs in groups.items():
                model.objects.bulk_update(objs, [*fields, "updated_at"], batch_size=BATCH_SIZE)
        if history:
            MemberChange.objects.bulk_create(history, batch_size=BATCH_SIZE)

    def _member(self, row, person_pk, stamp, day):
        values = self._new_values(row)
        return {
            "person_id": person_pk, "category": self.category.value,
            "org_unit_id": values["org_unit"], "household_id": values["household"],
            "joined_on": day(values["joined_on"]) if values["joined_on"] else None,
            "record_location": str(values["record_location"]),
            "record_held_by": values["record_held_by"], "employer_id": values["employer"],
            "status": str(values["status"]), "is_veteran": values["is_veteran"],
            "is_cadre": values["is_cadre"], "fifty_years": values["fifty_years"],
            "created_at": stamp, "updated_at": stamp,
        }

    def _history(self, member_pk, kind, old, new):
        return MemberChange(
            member_id=member_pk, kind=kind, effective_on=self.today,
            from_value=str(old)[:120], to_value=str(new)[:120],
            note=(_("Excel import: %(file)s") % {"file": self.result.filename})[:300],
            recorded_by=self.user if self.user is not None and self.user.is_authenticated
            else None,
        )


def _insert_rows(model, rows):
    """Batched INSERTs of `rows` (dicts by column attname, values ready for the driver).

    bulk_create prepares every value through its field, which cost more than reading and
    validating the file; these values are ours and already typed, so they go to the driver as
    they are (as in seed_city.insert_rows). A field a row leaves out takes its default.
    """
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    defaults = {field.attname: field.get_default() for field in fields}
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    data = [tuple(row.get(field.attname, defaults[field.attname]) for field in fields)
            for row in rows]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg2.extras import execute_values

            # The driver's own cursor: its errors become Django's (IntegrityError) here.
            with connection.wrap_database_errors:
                execute_values(
                    cursor.cursor, f"INSERT INTO {table} ({columns}) VALUES %s", data,
                    page_size=BATCH_SIZE,
                )
        else:
            marks = ", ".join(["%s"] * len(fields))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", data)


# ---- the public functions ----------------------------------------------------------------------


def parse(file, category, user, filename=None):
    """Validate every row of a ledger file for `category` as `user` would import it.

    `file`: bytes, a path, or a file object (an upload). Returns a ParseResult: a file-level
    problem in `file_error`, or per-row `errors` (Excel row number, reasons) and the counts of new
    / updated / unchanged members. Nothing is written.
    """
    try:
        data, filename = _read_source(file, filename)
    except _FileError as error:
        return ParseResult(
            category=MemberCategory(category).value, filename=filename or "",
            file_error=str(error),
        )
    return _Pass(data, filename, category, user).run()


def read_upload(file, filename=None):
    """The bytes and base name of an uploaded ledger, or ValidationError (too big, not .xlsx)."""
    try:
        data, filename = _read_source(file, filename)
        _check_format(data, filename)
    except _FileError as error:
        raise ValidationError(str(error), code="invalid_file") from error
    return data, filename


def commit(parsed, user):
    """Import a parsed ledger file, all or nothing, as `user`.

    `parsed`: the ParseResult of `parse`, or `ParseResult.for_commit(...)`.

    The file is read and validated again inside one transaction against the database as it is
    now; any bad row (or a conflicting change made meanwhile) raises ImportRejected and nothing is
    written. Returns an ImportSummary.
    """
    from .services.tree import _require

    _require(user, "party_org.add_partymember")
    _require(user, "party_org.add_person")
    if parsed.file_error or parsed.errors:
        raise ImportRejected(parsed)
    may_change = user is None or (
        user.has_perm("party_org.change_partymember") and user.has_perm("party_org.change_person")
    )
    refused = PermissionDenied(
        _("The file changes existing members, which you are not allowed to do.")
    )
    if parsed.updated and not may_change:
        raise refused
    work = _Pass(parsed.data, parsed.filename, parsed.category, user, writing=True)
    try:
        with transaction.atomic():
            result = work.run()
            if result.updated and not may_change:
                raise refused
            if not result.ok:
                raise ImportRejected(result)
            _record(work, user)
    except IntegrityError as error:
        # Someone else added one of these people (or removed a unit) while we worked.
        raise ImportRejected(
            work.result,
            _("The ledger changed while the file was being imported; nothing was imported. "
              "Please try again."),
        ) from error
    return ImportSummary(new=result.new, updated=result.updated, unchanged=result.unchanged)


def _record(work, user):
    """One ledger-change entry per import (per organisation tree touched, normally one)."""
    result = work.result
    label = MemberCategory(result.category).label
    for tree_id, (lft, rght, new, updated, unchanged) in work.touched.items():
        # The smallest unit holding every row of the import, so its staff see the entry.
        unit = (
            OrgUnit.objects.filter(tree_id=tree_id, lft__lte=lft, rght__gte=rght)
            .order_by("-level").first()
        )
        summary = _(
            "Imported %(file)s into the %(ledger)s ledger: %(new)d new, %(updated)d updated, "
            "%(unchanged)d unchanged."
        ) % {"file": result.filename or "-", "ledger": label, "new": new, "updated": updated,
             "unchanged": unchanged}
        audit.record(
            user, "import", SimpleNamespace(_meta=PartyMember._meta, pk=""), unit, summary,
            {"file": result.filename, "sha256": result.sha256, "category": result.category,
             "rows": new + updated + unchanged, "new": new, "updated": updated,
             "unchanged": unchanged},
        )


def error_report(result):
    """Every bad row of a ParseResult as .xlsx bytes (row number, name, masked ID, reasons)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Errors"))
    sheet.append([_("Row"), "姓名", "身份证号", _("Problems")])
    if result.file_error:
        sheet.append(["", "", "", result.file_error])
    for error in result.errors:
        sheet.append(
            safe_row(sheet, [error.row, error.name, error.id_number, "；".join(error.messages)])
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ---- the uploaded file between the preview and the commit --------------------------------------


TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")
PENDING_MAX_AGE = 24 * 60 * 60


def _pending_dir():
    return Path(settings.MEDIA_ROOT) / "imports"


def _cipher():
    # Its own key, derived like the ID-number keys: the file holds ID numbers in clear.
    return pii._fernet(pii._derived_key("ledger-import"))


def _kind(category):
    """A member ledger's category, or another importer's own kind (e.g. "households")."""
    return str(getattr(category, "value", category))


class PendingUpload:
    """An uploaded ledger kept server-side (encrypted) until it is committed or a day old.

    The client only ever holds the random token; the file, its owner and its ledger stay here.
    """

    def __init__(self, token, meta):
        self.token = token
        self.meta = meta

    @property
    def filename(self):
        return self.meta["filename"]

    @staticmethod
    def _paths(token):
        folder = _pending_dir()
        return folder / f"{token}.xlsx.enc", folder / f"{token}.json"

    @classmethod
    def save(cls, data, *, user, category, model_label, filename):
        cls.sweep()
        folder = _pending_dir()
        folder.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        blob, meta_path = cls._paths(token)
        meta = {
            "user": user.pk, "category": _kind(category), "model": model_label,
            "filename": os.path.basename(filename or ""), "created": time.time(),
        }
        blob.write_bytes(_cipher().encrypt(data))
        meta_path.write_text(json.dumps(meta))
        return cls(token, meta)

    @classmethod
    def load(cls, token, *, user, category, model_label):
        """The upload behind `token` if it belongs to this user and ledger and is not stale."""
        if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
            return None
        blob, meta_path = cls._paths(token)
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None
        if (
            meta.get("user") != user.pk
            or meta.get("category") != _kind(category)
            or meta.get("model") != model_label
            or time.time() - meta.get("created", 0) > PENDING_MAX_AGE
        ):
            return None
        return cls(token, meta)

    def read(self):
        blob, _meta = self._paths(self.token)
        try:
            return _cipher().decrypt(blob.read_bytes())
        except (OSError, InvalidToken):  # gone, a rotated key, or a damaged file
            return None

    def parse(self, user):
        data = self.read()
        if data is None:
            return None
        return parse(data, self.meta["category"], user, filename=self.filename)

    def delete(self):
        for path in self._paths(self.token):
            path.unlink(missing_ok=True)

    @classmethod
    def sweep(cls, max_age=PENDING_MAX_AGE):
        """Delete uploads older than `max_age` seconds (run on each new upload)."""
        folder = _pending_dir()
        if not folder.is_dir():
            return 0
        cutoff = time.time() - max_age
        removed = 0
        for path in folder.iterdir():
            if path.suffix in (".enc", ".json"):
                try:
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
                except FileNotFoundError:
                    pass
        return removed
