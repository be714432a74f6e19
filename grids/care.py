"""Care flags of household files (一户一档): the one place that shows them, masked or in full.

Care flags (lonely or elderly living alone, disabled, pregnant, low-income, hardship) are
sensitive personal data. Every route (admin list, change page, Excel export, API) reads them
through `care_flags_for` or `care_flag_values_for`:

- A reader without `grids.view_care_flags` gets a fixed mask, the same whether the household has
  flags or not, so not even the existence of a flag leaks. Filtering by a flag is refused to such
  readers too (a filter reveals what it matches).
- A reader with the permission gets the flags, and the read is noted through
  `party_org.personal_data.note_read` as a PersonalDataAccess row for the household's head
  person with the field "care_flags". The notes of a request are written in one INSERT by
  PersonalDataAccessMiddleware, together with the phones and ID numbers read in it.

Choice: the access log is kept per person (PersonalDataAccess), and a household file without a
head of household names no person whose data is read, so such a read is not logged (the flags
are still masked for readers without the permission). Files whose flags matter are expected to
name their head; a separate log per household would be a second access log to audit.
Reading no flags at all (an empty list) is not logged either, as for an empty phone.
"""

from django.db import connection
from django.db.models import Q

from party_org import personal_data

from .models import CareFlag

PERMISSION = "grids.view_care_flags"
FIELD = "care_flags"
MASK = "***"


def can_view_care_flags(user):
    return bool(user and user.is_authenticated and user.has_perm(PERMISSION))


def _reader(user=None):
    request = personal_data.current_request()
    if user is None and request is not None:
        user = getattr(request, "user", None)
    return user, request


def normalise(values):
    """Known flag values in their canonical order, without repeats; unknown values are kept
    at the end so validation can name them."""
    values = list(values or [])
    known = [flag for flag in CareFlag.values if flag in values]
    unknown = [value for value in dict.fromkeys(values) if value not in CareFlag.values]
    return known + unknown


def labels(values):
    return [str(CareFlag(value).label) for value in normalise(values) if value in CareFlag.values]


def care_flag_values_for(household, context, user=None):
    """The household's flag values for a reader with the permission (the read is logged),
    None for any other reader."""
    user, request = _reader(user)
    if not can_view_care_flags(user):
        return None
    values = normalise(household.care_flags)
    if values:
        personal_data.note_read(household.head, [FIELD], context, user=user, request=request)
    return values


def care_flags_for(household, context, user=None):
    """The flags as text ("独居老人、残疾人") for a reader with the permission, else the mask."""
    values = care_flag_values_for(household, context, user=user)
    if values is None:
        return MASK
    return "、".join(labels(values))


def flag_q(value, path="care_flags"):
    """Rows whose flags include `value`: JSON containment where the database has it
    (PostgreSQL), else a match on the stored JSON text, where the quotes keep one flag from
    matching another that contains its name."""
    if connection.features.supports_json_field_contains:
        return Q(**{f"{path}__contains": [value]})
    return Q(**{f"{path}__icontains": f'"{value}"'})
