"""The ledger change log: every service that changes a ledger row records who, when and what."""

import datetime as dt
from decimal import Decimal

from .models import AuditEntry


def snapshot(obj, fields):
    """The values of `fields` on `obj`, as JSON-safe values (for diffs)."""
    values = {}
    for name in fields:
        value = getattr(obj, f"{name}_id", None) if hasattr(obj, f"{name}_id") else getattr(obj, name)
        if isinstance(value, (dt.date, dt.datetime, Decimal)):
            value = str(value)
        values[name] = value
    return values


def diff(before, after):
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def record(user, action, obj, org_unit, summary, changes=None):
    return AuditEntry.objects.create(
        user=user if user is not None and user.is_authenticated else None,
        org_unit=org_unit,
        action=action,
        model=obj._meta.label_lower,
        object_id=str(obj.pk),
        summary=str(summary)[:300],
        changes=changes or {},
    )


def record_change(user, action, obj, org_unit, summary, *, before=None, fields=()):
    """Record `obj`'s `fields` after a change: the diff against `before`, or all of them for a
    new row. An update that changed nothing is not recorded."""
    after = snapshot(obj, fields)
    changes = after if before is None else diff(before, after)
    if before is not None and not changes:
        return None
    return record(user, action, obj, org_unit, summary, changes)
