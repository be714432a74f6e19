"""Every volunteers model hangs on the tree: the one scoping selector shows a community's staff
their own rows and nothing of another community's; the roles get the permissions they need; the
periodic tasks are scheduled."""

import datetime as dt
from decimal import Decimal

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from party_org.selectors import scoped
from tests.conftest import _user
from volunteers.models import Merchant, PointsAdjustment, RewardItem
from volunteers.services import activities, honours, ledger, mall, people, wishes

from .conftest import T0


@pytest.fixture
def one_of_each(tree, users, places, member, volunteer, submit):
    """A row of every volunteers model, in community A (branch A2)."""
    wish = submit()
    wishes.dispatch_wish(users["secretary"], wish, unit=tree["a2"])
    team = people.create_team(users["secretary"], org_unit=tree["a2"], name="60工作室",
                              leader=member)
    activity = activities.create_activity(
        users["secretary"], org_unit=tree["a2"], team=team, title="义剪", place="站点",
        starts_at=T0 + dt.timedelta(hours=1), ends_at=T0 + dt.timedelta(hours=2), capacity=5,
        points_per_hour=10,
    )
    activities.sign_up(None, activity, volunteer, at=T0)
    code = activities.issue_checkin_code(users["secretary"], activity, now_=T0)
    signup = activities.check_in(None, activity, volunteer, code, now_=T0 + dt.timedelta(hours=1))
    activities.approve_hours(users["secretary"], signup, "1", now_=T0 + dt.timedelta(hours=3))
    ledger.request_adjustment(users["comm_a"], volunteer, "community", "5", "补录")
    shop = mall.save_merchant(users["comm_a"], Merchant(org_unit=tree["a"], name="理发店"))
    item = mall.save_reward_item(users["comm_a"], RewardItem(
        merchant=shop, name="理发", points_price=Decimal("5"), stock=5))
    mall.redeem(None, item, volunteer)
    honours.nominate_honor(users["secretary"], person=volunteer, title="neighbour_helper",
                           year=T0.year, citation="热心", compound=places["wjy"])
    return wish


def test_every_model_is_scoped_to_its_subtree(one_of_each, users):
    models = apps.get_app_config("volunteers").get_models()
    for model in models:
        assert getattr(model, "scope_path", None), f"{model.__name__} declares no scope_path"
        everything = model.objects.count()
        assert everything >= 1, f"no {model.__name__} made"
        assert scoped(users["comm_a"], model.objects.all()).count() == everything, model
        assert scoped(users["street"], model.objects.all()).count() == everything, model
        assert scoped(users["comm_b"], model.objects.all()).count() == 0, model
        assert scoped(users["nobody"], model.objects.all()).count() == 0, model
        assert scoped(AnonymousUser(), model.objects.all()).count() == 0, model
    assert PointsAdjustment.objects.count() == 1


def test_roles_hold_what_their_steps_need(tree, users):
    grid = _user("grid_a2", "grid_worker", tree["a2"])
    secretary, community, auditor = users["secretary"], users["comm_a"], users["auditor"]
    assert secretary.has_perm("volunteers.dispatch_microwish")
    assert not grid.has_perm("volunteers.dispatch_microwish")
    assert grid.has_perm("volunteers.change_microwish")
    assert community.has_perm("volunteers.approve_pointsadjustment")
    assert not secretary.has_perm("volunteers.approve_pointsadjustment")
    assert secretary.has_perm("volunteers.verify_volunteer")
    assert community.has_perm("volunteers.approve_honor")
    assert not secretary.has_perm("volunteers.approve_honor")
    # Nobody edits or deletes ledger entries, by any route.
    for user in (users["street"], community, secretary):
        assert not user.has_perm("volunteers.change_pointsentry")
        assert not user.has_perm("volunteers.delete_pointsentry")
    for codename in ("view_microwish", "view_pointsentry", "view_redemption", "view_honor"):
        assert auditor.has_perm(f"volunteers.{codename}")
    assert not auditor.has_perm("volunteers.change_microwish")


def test_the_periodic_tasks_are_scheduled():
    from governance.celery import app

    app.loader.import_default_modules()
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"volunteers.release_expired_claims", "volunteers.pay_unrated_wishes"} <= names
    assert {"volunteers.release_expired_claims", "volunteers.pay_unrated_wishes"} <= set(
        app.tasks
    )

