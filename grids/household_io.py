"""Excel import of household files (一户一档): the template, a validating preview and an
all-or-nothing commit, the same flow as the member ledgers.

A row is keyed by its place (compound, building, entrance, room): importing the same place again
updates that household file. Buildings and entrances must already exist, so a typo cannot create a
phantom building. Care flags may only be imported by users allowed to see them.
"""

import datetime as dt
import io
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill

from party_org import pii
from party_org.ledger_io import XLSX_CONTENT_TYPE, read_upload  # noqa: F401 (re-exported)
from party_org.models import Person, phone_validator
from party_org.selectors import scoped
from party_org.services import members as member_services
from party_org.xlsx import safe_row

from . import care
from .models import Building, CareFlag, Compound, Entrance, Household
from .services import territory as services

MAX_ROWS = 50_000
SAMPLE_ROWS = 50
KIND = "households"


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # the file format: fixed Chinese headers, whatever the interface language
    help: str
    required: bool = False
    example: object = None


COLUMNS = (
    Column("compound", "小区名称", gettext_lazy("The compound's name, as in the compounds list."),
           True, "文锦苑"),
    Column("org_code", "所属组织编码",
           gettext_lazy("Only needed when two compounds in your organisation share a name: the "
                        "code of the branch or community that covers the compound."), False, ""),
    Column("building", "楼栋", gettext_lazy("The building's number, e.g. 3号楼; it must exist."),
           False, "1号楼"),
    Column("entrance", "单元", gettext_lazy("The entrance's number, e.g. 2单元; it must exist."),
           False, "1单元"),
    Column("room", "房号", gettext_lazy("The room, e.g. 101."), True, "101"),
    Column("head", "户主姓名", gettext_lazy("The head of household's name."), False, "李秀英"),
    Column("head_id", "户主身份证号",
           gettext_lazy("Optional; when given, the head is matched to the person with this ID "
                        "number (or recorded with it)."), False, ""),
    Column("members", "家庭人数", gettext_lazy("Number of people in the household (1–50)."),
           False, 3),
    Column("phone", "联系电话", gettext_lazy("Contact phone."), False, "13812345678"),
    Column("care", "关爱标识",
           gettext_lazy("Any of: %(flags)s, separated by 、 or commas. Needs the permission to "
                        "view care flags.") % {"flags": "、".join(str(f.label) for f in CareFlag)},
           False, ""),
    Column("note", "备注", gettext_lazy("Anything else."), False, ""),
)
HEADERS = {c.header: c for c in COLUMNS}


@dataclass
class RowError:
    row: int
    place: str
    messages: list


@dataclass
class ParseResult:
    filename: str = ""
    file_error: str = ""
    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list = field(default_factory=list)
    sample: list = field(default_factory=list)
    ignored_columns: list = field(default_factory=list)
    plans: list = field(default_factory=list, repr=False)

    @property
    def ok(self):
        return not self.file_error and not self.errors and self.rows > 0

    @property
    def error_rows(self):
        return len(self.errors)


class ImportRejected(ValidationError):
    def __init__(self, result):
        self.result = result
        super().__init__(
            result.file_error
            or _("%(count)d row(s) have errors; nothing was imported.")
            % {"count": result.error_rows},
            code="import_rejected",
        )


def build_template():
    book = Workbook()
    sheet = book.active
    sheet.title = "一户一档"
    sheet.append([c.header for c in COLUMNS])
    sheet.append(safe_row(sheet, [c.example if c.example is not None else "" for c in COLUMNS]))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="FDE2E2")
    for index, column in enumerate(COLUMNS):
        sheet.column_dimensions[chr(ord("A") + index)].width = 16
        if column.key == "room" or column.key == "phone" or column.key == "head_id":
            for cell in sheet[chr(ord("A") + index)]:
                cell.number_format = "@"
    notes = book.create_sheet(_("Instructions"))
    notes.append([_("Column"), _("Required"), _("What to enter")])
    for column in COLUMNS:
        notes.append(safe_row(notes, [column.header, _("yes") if column.required else "",
                               str(column.help)]))
    notes.column_dimensions["C"].width = 90
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _text(value):
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (dt.date, dt.datetime)):
        value = value.isoformat()
    return str(value).strip()


_FLAG_BY_LABEL = None


def _flags(text):
    """Care flags from labels (Chinese or English) or codes; returns (values, unknown)."""
    global _FLAG_BY_LABEL
    if _FLAG_BY_LABEL is None:
        from django.utils import translation

        mapping = {}
        for flag in CareFlag:
            mapping[flag.value] = flag.value
            for language in ("zh-hans", "en"):
                with translation.override(language):
                    mapping[str(flag.label)] = flag.value
        _FLAG_BY_LABEL = mapping
    parts = [p.strip() for p in text.replace("，", ",").replace("、", ",").split(",")]
    values, unknown = [], []
    for part in filter(None, parts):
        value = _FLAG_BY_LABEL.get(part) or _FLAG_BY_LABEL.get(part.lower())
        (values if value else unknown).append(value or part)
    return values, unknown


class _Lookup:
    """The user's compounds, buildings, entrances and households, loaded once per pass."""

    def __init__(self, user):
        self.user = user
        compounds = scoped(user, Compound.objects.filter(is_active=True)).select_related(
            "org_unit"
        )
        self.compounds = {}
        for compound in compounds:
            self.compounds.setdefault(compound.name, []).append(compound)
        ids = [c.pk for group in self.compounds.values() for c in group]
        self.buildings = {
            (b.compound_id, b.number): b for b in Building.objects.filter(compound_id__in=ids)
        }
        self.entrances = {
            (e.building_id, e.number): e
            for e in Entrance.objects.filter(building__compound_id__in=ids)
        }
        self.households = {
            (h.compound_id, h.building_id, h.entrance_id, h.room): h
            for h in Household.objects.filter(compound_id__in=ids).select_related("head")
        }

    def compound(self, name, org_code):
        found = self.compounds.get(name, [])
        if org_code:
            found = [c for c in found if c.org_unit.code == org_code]
        if len(found) == 1:
            return found[0], None
        if not found:
            return None, _("No compound named “%(name)s” in your organisation.") % {"name": name}
        return None, _("Several compounds are named “%(name)s”; give the organisation code.") % {
            "name": name
        }


def _plan_row(number, values, lookup, seen, may_care):
    """Validate one row; returns (plan dict or None, RowError or None)."""
    problems = []
    get = values.get
    place = "".join(filter(None, [get("compound"), get("building"), get("entrance"), get("room")]))
    compound = building = entrance = None
    if not get("compound"):
        problems.append(_("The compound is missing."))
    else:
        compound, problem = lookup.compound(get("compound"), get("org_code"))
        if problem:
            problems.append(problem)
    if compound is not None and get("building"):
        building = lookup.buildings.get((compound.pk, get("building")))
        if building is None:
            problems.append(_("%(compound)s has no building “%(number)s”.")
                            % {"compound": compound.name, "number": get("building")})
    if get("entrance"):
        if not get("building"):
            problems.append(_("Give the building of the entrance as well."))
        elif building is not None:
            entrance = lookup.entrances.get((building.pk, get("entrance")))
            if entrance is None:
                problems.append(_("%(building)s has no entrance “%(number)s”.")
                                % {"building": building, "number": get("entrance")})
    room = get("room")
    if not room:
        problems.append(_("The room is missing."))
    elif len(room) > 20:
        problems.append(_("The room is longer than 20 characters."))
    members = 1
    if get("members"):
        try:
            members = int(float(get("members")))
            if not 1 <= members <= 50:
                raise ValueError
        except ValueError:
            problems.append(_("The number of people must be a whole number from 1 to 50."))
    phone = get("phone")
    if phone:
        try:
            phone_validator(phone)
        except ValidationError as error:
            problems.extend(error.messages)
    flags = None
    if get("care"):
        if not may_care:
            problems.append(_("You do not have permission to see or change care flags."))
        else:
            flags, unknown = _flags(get("care"))
            if unknown:
                problems.append(_("Unknown care flag: %(flags)s.") % {"flags": "、".join(unknown)})
    head_id = pii.normalise_id_number(get("head_id"))
    if head_id:
        problem = pii.id_number_problem(head_id)
        if problem:
            problems.append(problem)
        elif not get("head"):
            problems.append(_("Give the head of household's name with the ID number."))
    if len(get("note")) > 300:
        problems.append(_("The note is longer than 300 characters."))
    key = (compound.pk if compound else None, building.pk if building else None,
           entrance.pk if entrance else None, room)
    if not problems and key in seen:
        problems.append(_("The same household is already in row %(row)d.") % {"row": seen[key]})
    if problems:
        return None, RowError(number, place or "-", problems)
    seen[key] = number
    existing = lookup.households.get(key)
    plan = {
        "row": number, "place": place, "existing": existing, "compound": compound,
        "building": building, "entrance": entrance, "room": room, "members_count": members,
        "contact_phone": phone, "note": get("note"), "care_flags": flags,
        "head_name": get("head"), "head_id": head_id,
    }
    plan["action"] = _action(plan)
    return plan, None


def _same_head(head, plan):
    if head is None or head.name != plan["head_name"]:
        return False
    return not plan["head_id"] or head.id_number_hash == pii.keyed_hash(plan["head_id"])


def _action(plan):
    existing = plan["existing"]
    if existing is None:
        return "new"
    same = (
        existing.members_count == plan["members_count"]
        and existing.contact_phone == plan["contact_phone"]
        and existing.note == plan["note"]
        and (plan["care_flags"] is None or list(existing.care_flags) == care.normalise(
            plan["care_flags"]))
        and (not plan["head_name"] or _same_head(existing.head, plan))
    )
    return "unchanged" if same else "updated"


def parse(data, user, filename=""):
    """Read and validate every row (the preview). Never raises for a bad file or row."""
    result = ParseResult(filename=filename)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # any damaged or foreign file
        result.file_error = _("The file could not be read as an Excel workbook; it may be "
                              "damaged. Open it in Excel, save it as .xlsx and try again.")
        return result
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = None
        for _skip in range(10):
            candidate = next(rows, None)
            if candidate is None:
                break
            texts = [_text(v) for v in candidate]
            if "小区名称" in texts and "房号" in texts:
                header = texts
                break
        if header is None:
            result.file_error = _("The header row was not found: the first sheet needs the "
                                  "columns 小区名称 and 房号. Start from the template.")
            return result
        result.ignored_columns = [h for h in header if h and h not in HEADERS]
        positions = {HEADERS[h].key: i for i, h in enumerate(header) if h in HEADERS}
        lookup = _Lookup(user)
        may_care = care.can_view_care_flags(user)
        seen = {}
        for number, raw in enumerate(rows, start=2 + _skip):
            texts = [_text(v) for v in raw]
            if not any(texts):
                continue
            result.rows += 1
            if result.rows > MAX_ROWS:
                result.file_error = _("The file has more than %(max)d rows; split it.") % {
                    "max": MAX_ROWS
                }
                return result
            values = {key: (texts[i] if i < len(texts) else "") for key, i in positions.items()}
            for column in COLUMNS:
                values.setdefault(column.key, "")
            plan, error = _plan_row(number, values, lookup, seen, may_care)
            if error is not None:
                result.errors.append(error)
                continue
            setattr(result, plan["action"], getattr(result, plan["action"]) + 1)
            result.plans.append(plan)
            if len(result.sample) < SAMPLE_ROWS:
                result.sample.append(plan)
    finally:
        book.close()
    if result.rows == 0 and not result.file_error:
        result.file_error = _("The file has no rows to import.")
    return result


def _head(user, plan):
    """The head of household: by ID number, else the current head if the name matches, else
    a new person under the compound's unit."""
    name, id_number = plan["head_name"], plan["head_id"]
    if not name:
        return plan["existing"].head if plan["existing"] is not None else None
    if id_number:
        person = Person.objects.filter(**pii.id_number_lookup(id_number)).first()
        if person is not None:
            if not scoped(user, Person.objects.filter(pk=person.pk)).exists():
                raise ValidationError(_("The person with this ID number is outside your "
                                        "organisation."))
            return person
    existing = plan["existing"]
    if existing is not None and existing.head is not None and existing.head.name == name \
            and not id_number:
        return existing.head
    return member_services.create_person(
        user, org_unit=plan["compound"].org_unit, name=name, id_number=id_number
    )


def commit(data, user, filename=""):
    """Validate again and write every row in one transaction; ImportRejected if any row fails."""
    with transaction.atomic():
        result = parse(data, user, filename)
        if not result.ok:
            raise ImportRejected(result)
        for plan in result.plans:
            if plan["action"] == "unchanged":
                continue
            try:
                fields = {
                    "members_count": plan["members_count"], "contact_phone": plan["contact_phone"],
                    "note": plan["note"], "head": _head(user, plan),
                }
                if plan["care_flags"] is not None:
                    fields["care_flags"] = plan["care_flags"]
                if plan["existing"] is None:
                    services.create_household(
                        user, compound=plan["compound"], building=plan["building"],
                        entrance=plan["entrance"], room=plan["room"], **fields,
                    )
                else:
                    services.update_household(user, plan["existing"], **fields)
            except (ValidationError, PermissionDenied) as error:
                messages = error.messages if isinstance(error, ValidationError) else [str(error)]
                result.errors.append(RowError(plan["row"], plan["place"], messages))
        if result.errors:
            raise ImportRejected(result)  # leaving the block rolls every row back
    return result

