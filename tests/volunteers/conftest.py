"""Shared fixtures for volunteers: compounds (from the grids fixtures), party members of each
category, a verified volunteer, a household with its people, and a wish factory."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from grids.models import Household, ResidentList, ResidentListEntry
from party_org.models import MemberCategory, PartyMember, Person, WorkUnit
from tests.grids.conftest import places  # noqa: F401 - a fixture used here
from volunteers.models import EntryReason, PointsKind, Volunteer, WishCategory
from volunteers.services import ledger
from volunteers.services import wishes as wish_services

T0 = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def make_person(unit, name, phone=""):
    return Person.objects.create(org_unit=unit, name=name, phone=phone)


def make_member(unit, name, category=MemberCategory.DIRECT, phone=""):
    person = make_person(unit, name, phone)
    employer = None
    if category == MemberCategory.IN_SERVICE:
        employer, _ = WorkUnit.objects.get_or_create(name="市政务服务中心")
    PartyMember.objects.create(person=person, category=category, org_unit=unit,
                               employer=employer)
    return person


@pytest.fixture
def member(tree):
    """王建国, an in-service member of branch A2 (earns 党员积分)."""
    return make_member(tree["a2"], "王建国", MemberCategory.IN_SERVICE, "13900000001")


@pytest.fixture
def retired(tree):
    """李秀英, a retired member of branch A2 (earns 公分, converts them)."""
    return make_member(tree["a2"], "李秀英", MemberCategory.RETIRED, "13900000002")


@pytest.fixture
def volunteer(tree):
    """赵志强, a verified volunteer who is not a member (earns 公分)."""
    person = make_person(tree["a2"], "赵志强", "13900000003")
    v = Volunteer.objects.create(person=person, org_unit=tree["a2"], registered_at=timezone.now(),
                                 verified=True, verified_at=timezone.now())
    return v.person


@pytest.fixture
def household(places, tree):
    """Room 301 of 文锦苑 1号楼: head 陈大妈 (phone 13800000009) and her son 陈小明, a member."""
    head = make_person(tree["a2"], "陈大妈", "13800000009")
    home = Household.objects.create(compound=places["wjy"], building=places["wjy1"], room="301",
                                    head=head, contact_phone="13800000009")
    son = make_member(tree["a2"], "陈小明", MemberCategory.DIRECT, "13800000010")
    ResidentListEntry.objects.create(compound=places["wjy"], kind=ResidentList.RESIDENTS,
                                     person=son, household=home)
    home.son = son
    return home


@pytest.fixture
def submit(places):
    """Submits a wish in 文锦苑 as a resident would."""

    def submitter(user=None, **fields):
        fields.setdefault("compound", places["wjy"])
        fields.setdefault("wish", "帮忙买一袋大米送到家")
        fields.setdefault("category", WishCategory.DAILY_NECESSITIES)
        fields.setdefault("contact_phone", "13700000000")
        fields.setdefault("at", T0)
        return wish_services.submit_wish(user, **fields)

    return submitter


def fund(person, amount, kind=PointsKind.COMMUNITY, key=None):
    """Give `person` points through the ledger (as an approved activity would)."""
    account = ledger.account_for(person, kind)
    ledger.post_entry(account, Decimal(str(amount)), EntryReason.EARN_HOURS,
                      key or f"fund:{person.pk}:{kind}:{amount}")
    account.refresh_from_db()
    return account
