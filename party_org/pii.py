"""Personal data: ID-number validation, encryption at rest, keyed hashes and masking.

The keys derive from settings.FIELD_ENCRYPTION_KEY, one per purpose, so the hash that enforces
uniqueness reveals nothing even to someone holding the encrypted column.
"""

import base64
import datetime as dt
import hashlib
import hmac
import re
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
ID_PATTERN = re.compile(r"^\d{17}[\dX]$")
EARLIEST_BIRTH = dt.date(1900, 1, 1)


def normalise_id_number(value):
    return (value or "").strip().upper().replace(" ", "")


def id_number_problem(value):
    """Why `value` is not a valid 18-digit resident ID number (GB 11643), or None."""
    value = normalise_id_number(value)
    if not ID_PATTERN.match(value):
        return _("An ID number has 17 digits followed by a digit or X.")
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        born = None
    # A birth date in the future or before 1900 is no living person's (the server's date is
    # close enough here, and far cheaper per row of a large import than the local one).
    if born is None or not EARLIEST_BIRTH <= born <= dt.date.today():
        return _("The birth date inside the ID number is not a real date.")
    total = sum(int(digit) * weight for digit, weight in zip(value[:17], ID_WEIGHTS))
    if ID_CHECK_CHARS[total % 11] != value[17]:
        return _("The ID number's check digit is wrong; please check the number.")
    return None


def validate_id_number(value):
    problem = id_number_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_id_number")


def id_check_char(first17):
    """The check character for 17 digits (used by the demo and test data generators)."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_WEIGHTS))
    return ID_CHECK_CHARS[total % 11]


def birth_date_from_id(value):
    value = normalise_id_number(value)
    return dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))


def gender_from_id(value):
    return "male" if int(normalise_id_number(value)[16]) % 2 else "female"


def _derived_key(purpose):
    return hashlib.sha256(f"{purpose}:{settings.FIELD_ENCRYPTION_KEY}".encode()).digest()


@lru_cache(maxsize=4)
def _fernet(key_material):
    return Fernet(base64.urlsafe_b64encode(key_material))


def encrypt(text):
    if not text:
        return ""
    return _fernet(_derived_key("encrypt")).encrypt(text.encode()).decode()


def decrypt(token):
    if not token:
        return ""
    try:
        return _fernet(_derived_key("encrypt")).decrypt(token.encode()).decode()
    except InvalidToken:
        # A key rotated without re-encryption: say so rather than crash a page.
        return "[?]"


def keyed_hash(text):
    """HMAC-SHA256 of the normalised value: equal inputs give equal hashes, for lookups."""
    if not text:
        return None
    return hmac.new(_derived_key("hash"), text.encode(), hashlib.sha256).hexdigest()


def id_number_lookup(value, path=""):
    """A filter matching rows whose person has exactly this ID number, by its keyed hash (the
    column is encrypted, so this is the only way to search it); None when `value` is not a
    valid ID number."""
    value = normalise_id_number(value)
    if not value or id_number_problem(value):
        return None
    return {f"{path}id_number_hash": keyed_hash(value)}


def mask_phone(phone):
    """138****5678; landlines keep their area code and last four digits."""
    if not phone:
        return ""
    digits = [i for i, ch in enumerate(phone) if ch.isdigit()]
    if len(digits) <= 7:
        return "*" * len(phone)
    keep = set(digits[:3] + digits[-4:])
    return "".join(ch if (i in keep or not ch.isdigit()) else "*" for i, ch in enumerate(phone))


def mask_id_number(value):
    """1401**********1234"""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]
