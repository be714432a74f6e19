"""Concurrent spending from one branch fund: the row lock on the branch serialises the balance
checks, so the balance never goes below zero. Real concurrency needs PostgreSQL (SQLite
serialises every writer anyway), so this runs in CI's PostgreSQL pass."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from party_org.models import BranchFundEntry, FundCategory, OrgKind
from party_org.selectors_resources import fund_balance
from party_org.services import resources as services
from tests.conftest import make

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]

THREADS = 12


def test_concurrent_spending_never_overdraws():
    street = make(make(None, OrgKind.DISTRICT, "D"), OrgKind.STREET, "S")
    branch = make(make(street, OrgKind.COMMUNITY, "C"), OrgKind.BRANCH, "B")
    day = dt.date.today() - dt.timedelta(days=1)
    services.record_fund_entry(None, branch, day, FundCategory.WORK_FUNDS, "1000", "经费")
    barrier = threading.Barrier(THREADS)
    outcomes, errors = [], []

    def spend():
        try:
            barrier.wait()
            services.record_fund_entry(None, branch, day, FundCategory.ACTIVITIES, "300", "活动")
            outcomes.append("ok")
        except ValidationError:
            outcomes.append("refused")
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=spend) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert outcomes.count("ok") == 3 and outcomes.count("refused") == THREADS - 3
    assert fund_balance(branch) == Decimal("100.00")
    assert BranchFundEntry.objects.filter(amount__lt=0).count() == 3
