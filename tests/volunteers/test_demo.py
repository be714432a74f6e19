"""The volunteers' demo data (seed_demo plus volunteers.demo.build): wishes in every state with
logs, teams, past and upcoming activities, a consistent ledger with history, a mall with used and
cancelled redemptions, honours; idempotent and quick."""

import time
from types import SimpleNamespace

import pytest
from django.core.management import call_command

from volunteers import demo
from volunteers.models import (
    Activity,
    EntryReason,
    Honor,
    Merchant,
    MicroWish,
    PointsAdjustment,
    PointsEntry,
    Redemption,
    RedemptionStatus,
    RewardItem,
    ServiceHours,
    Volunteer,
    VolunteerTeam,
    WishAction,
    WishLog,
    WishStatus,
)
from volunteers.selectors import ledger_mismatches, unclaimed_wishes, wish_wall

pytestmark = pytest.mark.django_db

MODELS = (MicroWish, WishLog, Volunteer, VolunteerTeam, Activity, ServiceHours, PointsEntry,
          PointsAdjustment, Merchant, RewardItem, Redemption, Honor)


def _counts():
    return {model.__name__: model.objects.count() for model in MODELS}


@pytest.fixture
def demo_data(capsys, monkeypatch):
    # seed_demo builds the volunteers' demo too; leave it out here to time and count it alone.
    monkeypatch.setattr("governance.management.commands.seed_demo.volunteers_demo",
                        SimpleNamespace(build=dict))
    call_command("seed_demo")
    capsys.readouterr()
    started = time.monotonic()
    made = demo.build()
    return made, time.monotonic() - started


def test_demo_covers_every_state(demo_data):
    made, seconds = demo_data
    assert made["micro-wishes"] == len(demo.WISHES)
    assert seconds < 15, seconds  # a quick seed; generous for a busy CI machine
    assert set(MicroWish.objects.values_list("status", flat=True)) == set(WishStatus.values)
    assert WishLog.objects.filter(action=WishAction.RELEASE).exists()
    assert MicroWish.objects.filter(status=WishStatus.FULFILLED, points_paid=True).exists()
    assert wish_wall().exists()
    assert unclaimed_wishes().exists()
    names = set(VolunteerTeam.objects.values_list("name", flat=True))
    assert {"60工作室", "银发志愿服务队"} <= names
    assert Volunteer.objects.filter(verified=True).count() >= 5
    assert Activity.objects.filter(service_hours__isnull=False).distinct().count() == 3
    assert Activity.objects.filter(starts_at__gt=MicroWish.objects.latest(
        "submitted_at").submitted_at).count() == 2
    assert ServiceHours.objects.filter(points_entry__isnull=False).count() > 5
    reasons = set(PointsEntry.objects.values_list("reason", flat=True))
    assert {EntryReason.EARN_HOURS, EntryReason.EARN_WISH, EntryReason.SPEND,
            EntryReason.REVERSAL, EntryReason.ADJUSTMENT, EntryReason.CONVERSION} <= reasons
    assert set(PointsAdjustment.objects.values_list("status", flat=True)) == {
        "approved", "rejected"}
    assert Merchant.objects.count() == 2 and RewardItem.objects.count() == 5
    statuses = set(Redemption.objects.values_list("status", flat=True))
    assert statuses == set(RedemptionStatus.values)
    assert Honor.objects.filter(approved_at__isnull=False, publicised=True).count() == 2
    assert ledger_mismatches() == []


def test_logs_follow_each_wish_and_building_again_changes_nothing(demo_data):
    for wish in MicroWish.objects.all():
        logs = list(wish.logs.order_by("at", "pk"))
        assert logs[0].action == WishAction.SUBMIT and logs[0].at == wish.submitted_at
        moves = [log for log in logs if log.to_status]
        assert moves[-1].to_status == wish.status, wish
    # Building again changes nothing.
    before = _counts()
    assert demo.build() == {}
    assert _counts() == before
    assert ledger_mismatches() == []
