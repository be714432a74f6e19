"""Checks and helpers shared by the volunteers services."""

import re
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from party_org import audit
from party_org.models import AuditEntry
from party_org.selectors import in_scope

CREATE, UPDATE = AuditEntry.Action.CREATE, AuditEntry.Action.UPDATE
CENT = Decimal("0.01")
MAX_POINTS = Decimal("1000000000")

RESIDENT_LABEL = gettext_lazy("resident")
SYSTEM_LABEL = gettext_lazy("system")


def now():
    return timezone.now()


def setting(name, default):
    return getattr(settings, name, default)


def is_user(user):
    return user is not None and user.is_authenticated


def require(user, perm):
    """Staff must hold `perm`; None (a resident, a member on their own page, the system) passes:
    the public pages check who the person is before they call a service."""
    if user is not None and not user.has_perm(perm):
        raise PermissionDenied(_("You do not have permission to do this."))


def require_scope(user, node, message=None):
    if user is not None and not in_scope(user, node):
        raise PermissionDenied(message or _("This is outside your organisation."))


def require_staff(user, perm, node, message=None):
    require(user, perm)
    require_scope(user, node, message)


def raise_errors(errors):
    if errors:
        raise ValidationError(errors)


def text(value):
    return (value or "").strip() if isinstance(value, str) or value is None else str(value).strip()


def points_value(value, field, *, allow_negative=False):
    """A points amount: a finite number with at most two decimals, not zero."""
    try:
        amount = Decimal(str(value).strip()) if value is not None else None
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite():
        raise ValidationError({field: [_("Enter the points as a number.")]})
    if amount != amount.quantize(CENT):
        raise ValidationError({field: [_("Points are counted to two decimals.")]})
    if abs(amount) >= MAX_POINTS:
        raise ValidationError({field: [_("The number of points is too large.")]})
    if amount == 0 or (amount < 0 and not allow_negative):
        raise ValidationError({field: [_("Enter a positive number of points.")]})
    return amount.quantize(CENT)


def digits(phone):
    """The digits of a phone number, for comparing numbers written differently."""
    return re.sub(r"\D", "", phone or "")[-11:]


def record(user, action, obj, org_unit, summary, changes=None):
    return audit.record(user, action, obj, org_unit, summary, changes)


def sync(target, fresh):
    """Copy a fresh row back into the caller's instance so it sees the change."""
    for field in fresh._meta.concrete_fields:
        setattr(target, field.attname, getattr(fresh, field.attname))
    return target


def within(node, ancestor):
    """Whether `node` lies in `ancestor`'s subtree (itself included)."""
    return (
        node.tree_id == ancestor.tree_id and ancestor.lft <= node.lft and node.rght <= ancestor.rght
    )
