"""The one statistics layer: a registry of figures computed for a subtree and a period.

Each app contributes the figures over the data it owns in its own `figures.py` module, which is
imported at start-up (see PartyOrgConfig.ready). A figure group is one function that computes
one or more figures with a bounded number of grouped queries, using range filters on the tree
columns (`subtree.q(path)`), never a loop over nodes. Adding a figure is one function:

    @register(
        Figure("org_units.branch", _("Compound branches"), _("units")),
    )
    def node_counts(subtree, period):
        return {"org_units.branch": 12}

A rate returns `Rate(numerator, denominator)`; its value is computed here.
"""

import calendar
import datetime as dt
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _


@dataclass(frozen=True)
class Figure:
    name: str
    label: str
    unit: str = ""
    description: str = ""


@dataclass(frozen=True)
class Rate:
    numerator: float
    denominator: float

    @property
    def value(self):
        if not self.denominator:
            return None
        return round(self.numerator / self.denominator, 4)


@dataclass(frozen=True)
class Period:
    """An inclusive date range; `start` None means "since the beginning"."""

    start: dt.date | None
    end: dt.date

    @property
    def start_datetime(self):
        if self.start is None:
            return None
        return timezone.make_aware(dt.datetime.combine(self.start, dt.time.min))

    @property
    def end_datetime(self):
        """The first instant after the period (use with __lt)."""
        return timezone.make_aware(dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min))

    @classmethod
    def month(cls, year, month):
        last = calendar.monthrange(year, month)[1]
        return cls(dt.date(year, month, 1), dt.date(year, month, last))

    @classmethod
    def parse(cls, month=None, start=None, end=None, today=None):
        """From the query parameters `month=YYYY-MM` or `from=YYYY-MM-DD&to=YYYY-MM-DD`."""
        today = today or timezone.localdate()
        if month and (start or end):
            raise ValidationError(_("Give either a month or a from/to range, not both."))
        if month:
            try:
                year, mon = (int(part) for part in month.split("-"))
                return cls.month(year, mon)
            except (ValueError, TypeError):
                raise ValidationError(
                    _("“%(value)s” is not a month; use the form YYYY-MM.") % {"value": month}
                ) from None

        def parse_date(value, name):
            try:
                return dt.date.fromisoformat(value)
            except (TypeError, ValueError):
                raise ValidationError(
                    _("“%(value)s” is not a valid date for “%(name)s”; use YYYY-MM-DD.")
                    % {"value": value, "name": name}
                ) from None

        start_date = parse_date(start, "from") if start else None
        end_date = parse_date(end, "to") if end else today
        if start_date and start_date > end_date:
            raise ValidationError(_("The start of the period is after its end."))
        return cls(start_date, end_date)


@dataclass
class FigureGroup:
    figures: tuple
    compute: callable
    module: str = field(default="")


class Registry:
    def __init__(self):
        self._groups = []
        self._names = set()

    def register(self, *figures):
        def decorator(func):
            for figure in figures:
                if figure.name in self._names:
                    raise ValueError(f"figure {figure.name!r} is registered twice")
                self._names.add(figure.name)
            self._groups.append(FigureGroup(tuple(figures), func, func.__module__))
            return func

        return decorator

    @property
    def figures(self):
        return [figure for group in self._groups for figure in group.figures]

    def compute(self, subtree, period, only=None):
        """The registered figures for the subtree and period, in registration order.

        `only` is a list of names or name prefixes ("org_units", "members.by_category"); groups
        with no matching figure are not computed at all.
        """

        def wanted(name):
            return not only or any(name == p or name.startswith(p.rstrip(".") + ".") for p in only)

        results = []
        for group in self._groups:
            if not any(wanted(figure.name) for figure in group.figures):
                continue
            values = group.compute(subtree, period)
            for figure in group.figures:
                if not wanted(figure.name):
                    continue
                value = values.get(figure.name)
                entry = {
                    "name": figure.name,
                    "label": str(figure.label),
                    "unit": str(figure.unit),
                }
                if isinstance(value, Rate):
                    entry.update(
                        value=value.value,
                        numerator=value.numerator,
                        denominator=value.denominator,
                    )
                else:
                    entry["value"] = value
                results.append(entry)
        return results


registry = Registry()
register = registry.register
