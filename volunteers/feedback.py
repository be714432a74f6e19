"""In-service members' points in the employer feedback report (party_org.reports): the 党员积分
each member earned in the report's period and their balance now. Registered from
VolunteersConfig.ready(), since party_org may not import volunteers. Two queries for the whole
report, whatever the number of rows."""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from party_org.reports import ExtraColumn, register_columns

from .models import PointsAccount, PointsKind
from .selectors import points_earned

EARNED, BALANCE = "volunteers.member_points_earned", "volunteers.member_points_balance"
ZERO = Decimal("0.00")
CENT = Decimal("0.01")

COLUMNS = (
    ExtraColumn(EARNED, _("Party member points earned in the period")),
    # The balance is today's, not the period's: summing it over members means nothing.
    ExtraColumn(BALANCE, _("Party member points balance now"), total=False),
)


def member_points(person_ids, start, end):
    earned = points_earned(person_ids, start, end, kind=PointsKind.MEMBER)
    balances = dict(
        PointsAccount.objects.filter(person_id__in=list(person_ids), kind=PointsKind.MEMBER)
        .values_list("person_id", "balance")
    )
    return {
        pk: {
            # SQLite's SUM drops the decimals; show points alike on every database.
            EARNED: Decimal(earned.get(pk, {}).get(PointsKind.MEMBER) or ZERO).quantize(CENT),
            BALANCE: balances.get(pk, ZERO),
        }
        for pk in person_ids
    }


def register():
    register_columns(COLUMNS, member_points)
