import copy
import datetime as dt
import uuid
import zoneinfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from party_org import services
from party_org.models import OrgKind, StaffRole


_clock = None


def pytest_configure(config):
    """Run the tests on the local day they start, from 09:00, with the clock ticking.

    Modules compute dates when they are imported (TODAY = timezone.localdate()); a run that
    crossed local midnight would compare them with tomorrow's date. Runs before the test modules
    are imported, in every xdist worker."""
    global _clock
    from django.conf import settings

    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    start = dt.datetime.now(zone).replace(hour=9, minute=0, second=0, microsecond=0)
    _clock = time_machine.travel(start, tick=True)
    _clock.start()


def pytest_unconfigure(config):
    if _clock is not None:
        _clock.stop()


@pytest.fixture(autouse=True)
def _own_cache_namespace(settings):
    """Each test gets cache keys of its own (rate limits, login codes). With Redis, tests on the
    other xdist worker and earlier runs share the server, so a flush or a leftover counter would
    leak between them."""
    caches_setting = copy.deepcopy(settings.CACHES)
    caches_setting["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches_setting


def make(parent, kind, code, name=None, **fields):
    return services.create_org_unit(
        None, parent=parent, kind=kind, code=code, name=name or code, **fields
    )


@pytest.fixture
def tree(db):
    """Two streets; street S1 holds communities A and B; street S2 holds community C.

    A has a general branch (A1) with a nested branch (A1a) and a plain branch (A2) with a
    building group and a member household.
    """
    t = {}
    t["district"] = make(None, OrgKind.DISTRICT, "D", "迎泽区委")
    t["s1"] = make(t["district"], OrgKind.STREET, "S1", "柳巷街道党工委")
    t["s2"] = make(t["district"], OrgKind.STREET, "S2", "桥东街道党工委")
    t["a"] = make(t["s1"], OrgKind.COMMUNITY, "A", "滨河社区党委")
    t["b"] = make(t["s1"], OrgKind.COMMUNITY, "B", "十二院城社区党委")
    t["c"] = make(t["s2"], OrgKind.COMMUNITY, "C", "金泽社区党委")
    t["a1"] = make(t["a"], OrgKind.BRANCH, "A1", "滨河左岸小区党总支")
    t["a1a"] = make(t["a1"], OrgKind.BRANCH, "A1a", "滨河左岸第一网格党支部")
    t["a2"] = make(t["a"], OrgKind.BRANCH, "A2", "文锦苑小区党支部")
    t["a2g"] = make(t["a2"], OrgKind.BUILDING_GROUP, "A2G", "文锦苑1号楼党小组")
    t["a2h"] = make(t["a2g"], OrgKind.HOUSEHOLD, "A2H", "王家党员中心户")
    t["b1"] = make(t["b"], OrgKind.BRANCH, "B1", "化工东院小区党支部")
    t["b1g"] = make(t["b1"], OrgKind.BUILDING_GROUP, "B1G", "化工东院1号楼党小组")
    t["c1"] = make(t["c"], OrgKind.BRANCH, "C1", "金泽华府小区党支部")
    for node in t.values():
        node.refresh_from_db()
    return t


def _user(username, role=None, node=None, superuser=False):
    User = get_user_model()
    user = User.objects.create_user(username=username, password="pw-Secret-123")
    if superuser:
        user.is_superuser = True
        user.is_staff = True
        user.save()
    if role is not None:
        services.assign_staff(None, staff_user=user, org_unit=node, role=role)
    return User.objects.get(pk=user.pk)


@pytest.fixture
def users(tree):
    return {
        "admin": _user("root", superuser=True),
        "street": _user("street1", StaffRole.STREET_STAFF, tree["s1"]),
        "comm_a": _user("comm_a", StaffRole.COMMUNITY_STAFF, tree["a"]),
        "comm_b": _user("comm_b", StaffRole.COMMUNITY_STAFF, tree["b"]),
        "secretary": _user("sec_a2", StaffRole.BRANCH_SECRETARY, tree["a2"]),
        "auditor": _user("auditor", StaffRole.AUDITOR, tree["district"]),
        "nobody": _user("nobody"),
    }


@pytest.fixture
def api_for():
    def client_for(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return client_for


@pytest.fixture
def admin_client_for(client):
    from django.test import Client

    def client_for(user):
        c = Client()
        c.force_login(user)
        return c

    return client_for


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness costs seconds per user in tests and proves nothing here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _celery_eager():
    # Tests run tasks in-process even when REDIS_URL points at a broker (the CI's PostgreSQL and
    # Redis pass); .ci/topology.sh drives a real worker through Redis.
    from governance.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before
