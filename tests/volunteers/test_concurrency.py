"""Concurrent redemptions, replays and claims on PostgreSQL (SQLite serialises every writer, so
these run in CI's PostgreSQL pass): row locks keep every balance at or above zero and equal to
the sum of its entries, stock at or above zero, and an idempotency key pays once."""

import random
import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from party_org.models import MemberCategory, OrgKind, PartyMember, Person
from tests.conftest import make
from volunteers import selectors
from volunteers.models import (
    EntryReason,
    Merchant,
    MicroWish,
    PointsAccount,
    PointsEntry,
    PointsKind,
    Redemption,
    RewardItem,
    WishCategory,
    WishStatus,
)
from volunteers.services import ledger
from volunteers.services import mall as services
from volunteers.services import wishes as wish_services

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]

THREADS = 20
ACCOUNTS = 20
ATTEMPTS = 1000
PRICE = Decimal("10")
AFFORDABLE = 5


def run_in_threads(jobs, work, threads=THREADS):
    """Run `work(job)` for every job on `threads` threads started together; each thread closes
    its own connection at the end. Returns (outcomes, unexpected errors)."""
    barrier = threading.Barrier(threads)
    outcomes, errors = [], []
    lock = threading.Lock()

    def worker(share):
        from django.db import connection as conn

        try:
            barrier.wait()
            for job in share:
                try:
                    result = work(job)
                    with lock:
                        outcomes.append((job, result))
                except ValidationError:
                    with lock:
                        outcomes.append((job, None))
                except Exception as error:  # noqa: BLE001 - reported by the test
                    with lock:
                        errors.append(repr(error))
        finally:
            conn.close()

    shares = [jobs[i::threads] for i in range(threads)]
    pool = [threading.Thread(target=worker, args=(share,)) for share in shares]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return outcomes, errors


@pytest.fixture
def branch(db):
    street = make(make(None, OrgKind.DISTRICT, "D"), OrgKind.STREET, "S")
    return make(make(street, OrgKind.COMMUNITY, "C"), OrgKind.BRANCH, "B")


def funded(branch, n, points):
    people = []
    for i in range(n):
        person = Person.objects.create(org_unit=branch, name=f"居民{i}")
        account = ledger.account_for(person, PointsKind.COMMUNITY)
        ledger.post_entry(account, points, EntryReason.EARN_HOURS, f"fund:{person.pk}")
        people.append(person)
    return people


def test_a_thousand_concurrent_redemptions_give_exactly_five_per_account(branch):
    people = funded(branch, ACCOUNTS, PRICE * AFFORDABLE)
    merchant = Merchant.objects.create(org_unit=branch, name="便民超市")
    # Stock for exactly the redemptions the balances allow: both limits bind at once.
    item = RewardItem.objects.create(merchant=merchant, name="洗衣液", points_price=PRICE,
                                     stock=ACCOUNTS * AFFORDABLE)
    jobs = [(people[i % ACCOUNTS], f"attempt-{i}") for i in range(ATTEMPTS)]
    random.Random(7).shuffle(jobs)

    outcomes, errors = run_in_threads(
        jobs, lambda job: services.redeem(None, item, job[0], idempotency_key=job[1])
    )

    assert errors == []
    assert len(outcomes) == ATTEMPTS
    successes = Counter(job[0].pk for job, result in outcomes if result is not None)
    assert successes == {person.pk: AFFORDABLE for person in people}
    item.refresh_from_db()
    assert item.stock == 0
    assert Redemption.objects.count() == ACCOUNTS * AFFORDABLE
    assert not PointsAccount.objects.filter(balance__lt=0).exists()
    assert set(PointsAccount.objects.values_list("balance", flat=True)) == {Decimal("0.00")}
    assert not PointsEntry.objects.filter(balance_after__lt=0).exists()
    assert selectors.ledger_mismatches() == []
    assert len(set(Redemption.objects.values_list("code", flat=True))) == ACCOUNTS * AFFORDABLE


def test_one_key_replayed_ten_times_at_once_pays_once(branch):
    (person,) = funded(branch, 1, Decimal("100"))
    merchant = Merchant.objects.create(org_unit=branch, name="理发店")
    item = RewardItem.objects.create(merchant=merchant, name="理发", points_price=PRICE, stock=50)

    outcomes, errors = run_in_threads(
        [person] * 10, lambda p: services.redeem(None, item, p, idempotency_key="same-request"),
        threads=10,
    )
    assert errors == []
    assert {result.pk for _job, result in outcomes} == {Redemption.objects.get().pk}
    assert sum(not result.replayed for _job, result in outcomes) == 1
    item.refresh_from_db()
    assert item.stock == 49
    assert selectors.balances(person)[PointsKind.COMMUNITY] == Decimal("90.00")

    # The ledger's own key, raced the same way.
    account = ledger.account_for(person, PointsKind.COMMUNITY)
    outcomes, errors = run_in_threads(
        [account] * 10,
        lambda a: ledger.post_entry(a, Decimal("7"), EntryReason.EARN_POST, "same-duty"),
        threads=10,
    )
    assert errors == []
    assert len({entry.pk for _job, entry in outcomes}) == 1
    assert PointsEntry.objects.filter(idempotency_key="same-duty").count() == 1
    assert selectors.balances(person)[PointsKind.COMMUNITY] == Decimal("97.00")
    assert selectors.ledger_mismatches() == []


def test_one_claim_wins_a_race(branch):
    from grids.models import Compound, CompoundType

    compound = Compound.objects.create(org_unit=branch, name="小区", address="路1号",
                                       compound_type=CompoundType.OLD)
    wish = wish_services.submit_wish(None, compound=compound, wish="修门锁",
                                     category=WishCategory.REPAIRS, contact_phone="13700000000")
    wish_services.dispatch_wish(None, wish, unit=branch)
    members = []
    for i in range(10):
        person = Person.objects.create(org_unit=branch, name=f"党员{i}")
        PartyMember.objects.create(person=person, org_unit=branch,
                                   category=MemberCategory.RETIRED)
        members.append(person)

    outcomes, errors = run_in_threads(
        members, lambda person: wish_services.claim_wish(None, MicroWish.objects.get(pk=wish.pk),
                                                         person),
        threads=10,
    )
    assert errors == []
    winners = [job for job, result in outcomes if result is not None]
    assert len(winners) == 1
    wish.refresh_from_db()
    assert wish.status == WishStatus.CLAIMED and wish.claimed_by == winners[0]
