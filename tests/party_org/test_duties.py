"""双报到, posts and duties, normal/emergency switching: the services and the figures.

The fixtures here (`world`, `member`) are imported by the other test_duties* modules.
"""

import datetime as dt
from decimal import Decimal
from itertools import count

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from party_org import pii
from party_org.models import (
    AuditEntry,
    EmergencyRoleKind,
    InServiceRegistration,
    MemberCategory,
    MemberStatus,
    PartyMember,
    Person,
    PostKind,
    RegistrationEvaluation,
    ServiceRecord,
    WorkUnit,
)
from party_org.selectors import Subtree
from party_org.services import duties as services
from party_org.statistics import Period, registry

pytestmark = pytest.mark.django_db

D = dt.date
_serial = count(1)


def id_number():
    first17 = f"140105198{next(_serial) % 10}0101{next(_serial) % 1000:03d}"
    return first17 + pii.id_check_char(first17)


def member(unit, name, category=MemberCategory.IN_SERVICE, employer=None,
           status=MemberStatus.ACTIVE, phone=""):
    person = Person(name=name, org_unit=unit, phone=phone)
    person.set_id_number(id_number())
    person.save()
    return PartyMember.objects.create(
        person=person, category=category, org_unit=unit, status=status,
        employer=employer if category == MemberCategory.IN_SERVICE else None,
    )


@pytest.fixture
def world(tree, users):
    w = dict(tree)
    w["tax"] = WorkUnit.objects.create(
        name="太原市税务局", kind=WorkUnit.Kind.GOVERNMENT, party_organisation="太原市税务局机关党委",
    )
    w["coal"] = WorkUnit.objects.create(name="山西焦煤集团", kind=WorkUnit.Kind.STATE_ENTERPRISE)
    w["zhang"] = member(tree["a2"], "张建国", employer=w["tax"], phone="13812345678")
    w["li"] = member(tree["a1a"], "李秀英", employer=w["tax"])
    w["wang"] = member(tree["b1"], "王志强", employer=w["tax"])
    w["zhao"] = member(tree["a2g"], "赵丽华", employer=w["coal"])
    w["direct"] = member(tree["a2"], "刘德明", category=MemberCategory.DIRECT)
    w["gone"] = member(
        tree["a2"], "陈旧人", employer=w["tax"], status=MemberStatus.TRANSFERRED_OUT
    )
    w["legal"] = services.create_post(
        None, org_unit=tree["a2"], kind=PostKind.LEGAL, name="法律咨询岗",
        duties="每月第一个周六为居民提供法律咨询。",
    )
    w["legal_b"] = services.create_post(
        None, org_unit=tree["b1"], kind=PostKind.LEGAL, name="法律咨询岗",
        duties="为居民提供法律咨询。",
    )
    return w


def register(w, who="zhang", branch="a2", on=D(2025, 3, 1), user=None, **kwargs):
    return services.register_in_service(
        user, member=w[who], work_unit=kwargs.pop("work_unit", w[who].employer),
        branch=w[branch], registered_on=on, commitment="亮身份、践承诺、作表率", **kwargs,
    )


def messages_of(excinfo):
    return " ".join(excinfo.value.messages)


# ---- 双报到 ------------------------------------------------------------------------------------


def test_register_records_the_registration_and_the_audit_entry(world, users):
    registration = register(world, user=users["comm_a"], post=world["legal"])
    assert registration.status == InServiceRegistration.Status.ACTIVE
    assert registration.post == world["legal"]
    entry = AuditEntry.objects.get(model="party_org.inserviceregistration")
    assert entry.user == users["comm_a"]
    assert entry.action == AuditEntry.Action.CREATE
    assert entry.org_unit == world["a2"]
    assert entry.changes["member"] == world["zhang"].pk


@pytest.mark.parametrize(
    "who, branch, field",
    [
        ("direct", "a2", "member"),  # not an in-service member
        ("gone", "a2", "member"),  # transferred out
        ("zhang", "a2g", "branch"),  # a building group, not a branch
        ("zhang", "a", "branch"),  # a community
    ],
)
def test_register_refuses_wrong_member_or_unit(world, users, who, branch, field):
    with pytest.raises(ValidationError) as excinfo:
        register(world, who=who, branch=branch, user=users["comm_a"],
                 work_unit=world["tax"])
    assert field in excinfo.value.message_dict
    assert not InServiceRegistration.objects.exists()


def test_register_refuses_future_date_empty_commitment_and_foreign_post(world, users):
    future = timezone.localdate() + dt.timedelta(days=1)
    with pytest.raises(ValidationError) as excinfo:
        services.register_in_service(
            users["comm_a"], member=world["zhang"], work_unit=world["tax"], branch=world["a2"],
            registered_on=future, commitment="  ", post=world["legal_b"],
        )
    assert set(excinfo.value.message_dict) == {"registered_on", "commitment", "post"}


def test_register_twice_with_one_branch_is_a_clear_error(world, users):
    register(world, user=users["comm_a"])
    with pytest.raises(ValidationError) as excinfo:
        register(world, user=users["comm_a"])
    assert "张建国" in messages_of(excinfo) and "文锦苑小区党支部" in messages_of(excinfo)
    # Another branch is fine, and so is the same branch after the first registration ended.
    register(world, branch="a1a", user=users["comm_a"])
    services.end_registration(users["comm_a"], InServiceRegistration.objects.get(
        branch=world["a2"]), D(2025, 6, 30))
    register(world, on=D(2025, 9, 1), user=users["comm_a"])
    assert InServiceRegistration.objects.filter(member=world["zhang"]).count() == 3


def test_register_is_scoped_and_needs_permission(world, users):
    with pytest.raises(PermissionDenied):
        register(world, who="wang", branch="b1", user=users["comm_a"])
    with pytest.raises(PermissionDenied):  # B's member to A's branch
        register(world, who="wang", branch="a2", user=users["comm_a"])
    with pytest.raises(PermissionDenied):
        register(world, user=users["auditor"])
    register(world, who="wang", branch="b1", user=users["street"])


def test_end_registration(world, users):
    registration = register(world)
    with pytest.raises(ValidationError):
        services.end_registration(users["comm_a"], registration, D(2025, 2, 1))  # before start
    services.end_registration(users["comm_a"], registration, D(2025, 6, 30))
    registration.refresh_from_db()
    assert (registration.status, registration.ended_on) == ("ended", D(2025, 6, 30))
    with pytest.raises(ValidationError) as excinfo:
        services.end_registration(users["comm_a"], registration)
    assert "ended" in messages_of(excinfo) or "结束" in messages_of(excinfo)
    with pytest.raises(PermissionDenied):
        services.end_registration(users["comm_b"], registration)


def test_record_service_checks_dates_hours_and_status(world, users):
    registration = register(world)
    user = users["secretary"]
    record = services.record_service(user, registration, D(2025, 4, 5), "2.5", "政策宣传")
    assert record.hours == Decimal("2.5") and record.recorded_by == user
    assert services.record_service(user, registration, D(2025, 4, 6), 0.5, "x").hours == Decimal("0.5")
    assert services.record_service(user, registration, D(2025, 4, 7), 24, "x").hours == 24
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    bad = [
        ({"served_on": tomorrow}, "served_on"),
        ({"served_on": D(2025, 2, 28)}, "served_on"),  # before the registration
        ({"hours": "0.4"}, "hours"),
        ({"hours": "24.5"}, "hours"),
        ({"hours": "1.25"}, "hours"),
        ({"hours": "abc"}, "hours"),
        ({"hours": "1e30"}, "hours"),
        ({"hours": "NaN"}, "hours"),
        ({"activity": "  "}, "activity"),
    ]
    for change, field in bad:
        args = {"served_on": D(2025, 5, 1), "hours": "2", "activity": "巡逻", **change}
        with pytest.raises(ValidationError) as excinfo:
            services.record_service(user, registration, **args)
        assert field in excinfo.value.message_dict, change
    services.end_registration(user, registration, D(2025, 6, 30))
    with pytest.raises(ValidationError) as excinfo:
        services.record_service(user, registration, D(2025, 6, 1), 2, "巡逻")
    assert "registration" in excinfo.value.message_dict
    assert ServiceRecord.objects.count() == 3
    assert AuditEntry.objects.filter(model="party_org.servicerecord").count() == 3


def test_record_service_outside_scope_is_refused(world, users):
    registration = register(world, who="wang", branch="b1")
    with pytest.raises(PermissionDenied):
        services.record_service(users["comm_a"], registration, D(2025, 4, 5), 2, "x")
    with pytest.raises(PermissionDenied):  # the A2 secretary cannot reach A1a either
        services.record_service(
            users["secretary"], register(world, who="li", branch="a1a"), D(2025, 4, 5), 2, "x"
        )


def test_evaluation_once_per_year_is_updated(world, users):
    registration = register(world)
    user = users["comm_a"]
    services.evaluate_registration(user, registration, 2025, "good", "积极参加")
    services.evaluate_registration(user, registration, 2025, "excellent", "表现突出")
    evaluation = RegistrationEvaluation.objects.get()
    assert (evaluation.year, evaluation.rating, evaluation.comment) == (2025, "excellent", "表现突出")
    assert evaluation.evaluated_by == user
    with pytest.raises(ValidationError) as excinfo:
        services.evaluate_registration(user, registration, 2024, "good")  # before registering
    assert "year" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        services.evaluate_registration(user, registration, 2025, "superb")
    assert "rating" in excinfo.value.message_dict
    with pytest.raises(ValidationError):
        services.evaluate_registration(user, registration, "soon", "good")
    actions = list(
        AuditEntry.objects.filter(model="party_org.registrationevaluation")
        .order_by("at", "pk").values_list("action", flat=True)
    )
    assert actions == ["create", "update"]


def test_delete_registration_only_without_history(world, users):
    registration = register(world)
    services.record_service(None, registration, D(2025, 4, 5), 2, "x")
    with pytest.raises(ValidationError):
        services.delete_registration(users["comm_a"], registration)
    other = register(world, who="zhao")
    pk = other.pk
    services.delete_registration(users["comm_a"], other)
    assert not InServiceRegistration.objects.filter(pk=pk).exists()
    assert AuditEntry.objects.filter(action="delete", object_id=str(pk)).exists()


# ---- 设岗定责 ----------------------------------------------------------------------------------


def test_create_post_rules(world, users):
    with pytest.raises(ValidationError) as excinfo:
        services.create_post(users["comm_a"], org_unit=world["a2g"], kind=PostKind.HEALTH,
                             name="健康岗", duties="x")
    assert "org_unit" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        services.create_post(users["comm_a"], org_unit=world["a2"], kind=PostKind.HEALTH,
                             name="法律咨询岗", duties="x")
    assert "法律咨询岗" in messages_of(excinfo)
    with pytest.raises(ValidationError) as excinfo:
        services.create_post(users["comm_a"], org_unit=world["a2"], kind="astrology",
                             name="占卜岗", duties="")
    assert {"kind", "duties"} <= set(excinfo.value.message_dict)
    with pytest.raises(PermissionDenied):
        services.create_post(users["comm_a"], org_unit=world["b1"], kind=PostKind.HEALTH,
                             name="健康岗", duties="x")


def test_assign_post_rules(world, users):
    user, post = users["comm_a"], world["legal"]
    assignment = services.assign_post(user, post, world["zhao"], D(2025, 1, 1))  # A2G is under A2
    with pytest.raises(ValidationError) as excinfo:
        services.assign_post(user, post, world["zhao"], D(2025, 2, 1))
    assert "赵丽华" in messages_of(excinfo)
    with pytest.raises(ValidationError) as excinfo:
        services.assign_post(user, post, world["li"], D(2025, 1, 1))  # A1a is not under A2
    assert "member" in excinfo.value.message_dict
    with pytest.raises(ValidationError):
        services.assign_post(user, post, world["gone"], D(2025, 1, 1))
    with pytest.raises(PermissionDenied):
        services.assign_post(user, world["legal_b"], world["wang"], D(2025, 1, 1))
    with pytest.raises(ValidationError):
        services.end_post_assignment(user, assignment, D(2024, 12, 31))
    services.end_post_assignment(user, assignment, D(2025, 6, 30))
    with pytest.raises(ValidationError):
        services.end_post_assignment(user, assignment, D(2025, 7, 1))
    # After the end the same member may take the post again.
    services.assign_post(user, post, world["zhao"], D(2025, 7, 1))


def test_closing_a_held_post_is_refused_and_used_post_not_deleted(world, users):
    user, post = users["comm_a"], world["legal"]
    assignment = services.assign_post(user, post, world["zhang"], D(2025, 1, 1))
    with pytest.raises(ValidationError) as excinfo:
        services.update_post(user, post, is_active=False)
    assert "is_active" in excinfo.value.message_dict
    services.end_post_assignment(user, assignment, D(2025, 2, 1))
    services.update_post(user, post, is_active=False, duties="已撤销")
    with pytest.raises(ValidationError):
        services.delete_post(user, post)
    with pytest.raises(ValidationError):  # a closed post cannot be taken
        services.assign_post(user, post, world["zhang"], D(2025, 3, 1))


# ---- 平急结合 ----------------------------------------------------------------------------------


def test_set_emergency_role_rules(world, users):
    user = users["comm_a"]
    role = services.set_emergency_role(user, world["zhang"], EmergencyRoleKind.PATROL,
                                       world["a2g"], "夜间巡逻")
    again = services.set_emergency_role(user, world["zhang"], EmergencyRoleKind.SUPPLIES,
                                        world["a2"])
    assert again.pk == role.pk and again.kind == "supplies"
    with pytest.raises(PermissionDenied):
        services.set_emergency_role(user, world["zhang"], "patrol", world["b1"])
    with pytest.raises(PermissionDenied):
        services.set_emergency_role(user, world["wang"], "patrol", world["a2"])
    with pytest.raises(ValidationError) as excinfo:
        services.set_emergency_role(users["street"], world["zhang"], "patrol", world["s1"])
    assert "place" in excinfo.value.message_dict
    with pytest.raises(ValidationError):
        services.set_emergency_role(user, world["gone"], "patrol", world["a2"])
    with pytest.raises(ValidationError):
        services.set_emergency_role(user, world["li"], "dancing", world["a1a"])


def test_activation_lists_exactly_the_active_members_with_roles_in_the_subtree(world, users):
    s = services.set_emergency_role
    s(None, world["zhang"], "patrol", world["a2g"])
    s(None, world["li"], "care", world["a1a"])
    s(None, world["direct"], "supplies", world["a2"])
    s(None, world["zhao"], "communication", world["a"])
    s(None, world["wang"], "medical", world["b1"])  # outside A
    leaver = member(world["a2"], "孙离开", category=MemberCategory.RETIRED)
    s(None, leaver, "patrol", world["a2"])
    PartyMember.objects.filter(pk=leaver.pk).update(status=MemberStatus.DECEASED)

    activation = services.activate_emergency(users["comm_a"], world["a2"], "暴雨防汛", "红色预警")
    called = set(activation.acknowledgements.values_list("member__person__name", flat=True))
    assert called == {"张建国", "刘德明"}  # A2's subtree only; not A1a, not A, not B
    assert activation.called_count == 2
    ack = activation.acknowledgements.get(member=world["zhang"])
    assert (ack.role_kind, ack.place) == ("patrol", world["a2g"])
    assert activation.started_by == users["comm_a"]

    services.end_emergency(users["comm_a"], activation)
    whole = services.activate_emergency(users["street"], world["s1"], "全街道应急演练")
    called = set(whole.acknowledgements.values_list("member__person__name", flat=True))
    assert called == {"张建国", "李秀英", "刘德明", "赵丽华", "王志强"}


def test_activation_creates_acknowledgements_with_a_fixed_number_of_queries(world, users):
    def run(title):
        with CaptureQueriesContext(connection) as ctx:
            activation = services.activate_emergency(users["comm_a"], world["a"], title)
        services.end_emergency(None, activation)
        return len(ctx.captured_queries), activation.called_count

    services.set_emergency_role(None, world["zhang"], "patrol", world["a2"])
    run("预热")  # the user's permissions and scope are cached after the first call
    small, small_called = run("演练一")
    for i in range(15):
        services.set_emergency_role(
            None, member(world["a1a"], f"队员{i}", category=MemberCategory.DIRECT), "patrol",
            world["a1a"],
        )
    big, big_called = run("演练二")
    assert (small_called, big_called) == (1, 16)
    assert small == big


def test_acknowledge_records_when_is_idempotent_and_closes_with_the_emergency(world, users):
    services.set_emergency_role(None, world["zhang"], "patrol", world["a2g"])
    services.set_emergency_role(None, world["direct"], "supplies", world["a2"])
    activation = services.activate_emergency(users["comm_a"], world["a2"], "停水应急")
    ack = activation.acknowledgements.get(member=world["zhang"])
    first = services.acknowledge(users["secretary"], ack, "已到岗")
    assert first.acknowledged_at is not None and first.note == "已到岗"
    again = services.acknowledge(users["secretary"], ack)
    assert again.acknowledged_at == first.acknowledged_at and again.note == "已到岗"
    pending = activation.acknowledgements.filter(acknowledged_at__isnull=True)
    assert [a.member.person.name for a in pending] == ["刘德明"]
    with pytest.raises(PermissionDenied):
        services.acknowledge(users["comm_b"], pending.get())
    with pytest.raises(PermissionDenied):  # the secretary may acknowledge but not end
        services.end_emergency(users["secretary"], activation)
    services.end_emergency(users["comm_a"], activation)
    with pytest.raises(ValidationError):
        services.acknowledge(users["secretary"], pending.get())
    with pytest.raises(ValidationError):
        services.end_emergency(users["comm_a"], activation)


def test_overlapping_open_activations_are_refused(world, users):
    user = users["street"]
    first = services.activate_emergency(user, world["a"], "社区封控")
    for unit in ("a", "a2", "s1"):  # the same unit, one below it, one above it
        with pytest.raises(ValidationError) as excinfo:
            services.activate_emergency(user, world[unit], "重复")
        assert "社区封控" in messages_of(excinfo)
    services.activate_emergency(user, world["b"], "另一社区")  # a sibling is independent
    services.end_emergency(user, first)
    services.activate_emergency(user, world["a2"], "解除后再启动")
    with pytest.raises(ValidationError):
        services.activate_emergency(user, world["a1"], "  ")  # no title
    with pytest.raises(PermissionDenied):
        services.activate_emergency(users["comm_a"], world["b"], "越权")
    with pytest.raises(PermissionDenied):
        services.activate_emergency(users["secretary"], world["a2g"], "无权限")


# ---- figures ---------------------------------------------------------------------------------


def figures_for(node, period):
    return {f["name"]: f for f in registry.compute(Subtree.of(node), period)}


def test_figures(world, users):
    a, b = world["a"], world["b"]
    r1 = register(world, on=D(2025, 3, 1))
    register(world, who="zhao", on=D(2025, 4, 10))
    r3 = register(world, who="li", branch="a1a", on=D(2025, 1, 5))
    register(world, who="wang", branch="b1", on=D(2025, 4, 1))
    services.end_registration(None, r3, D(2025, 4, 15))
    services.record_service(None, r1, D(2025, 4, 2), 2, "x")
    services.record_service(None, r1, D(2025, 4, 20), "1.5", "x")
    services.record_service(None, r1, D(2025, 5, 1), 3, "x")  # outside April
    services.assign_post(None, world["legal"], world["zhang"], D(2025, 1, 1))
    services.set_emergency_role(None, world["zhang"], "patrol", world["a2"])
    services.set_emergency_role(None, world["li"], "care", world["a1a"])

    april = figures_for(a, Period.month(2025, 4))
    assert april["registrations.active"]["value"] == 2  # r3 ended on 15 April
    assert april["registrations.new"]["value"] == 1
    assert april["registrations.service_records"]["value"] == 2
    assert april["registrations.service_hours"]["value"] == 3.5
    march = figures_for(a, Period.month(2025, 3))
    assert march["registrations.active"]["value"] == 2  # r1 and r3
    assert march["registrations.new"]["value"] == 1
    assert april["posts.active"]["value"] == 1
    assert april["posts.members_in_posts"]["value"] == 1
    coverage = april["posts.branch_coverage"]
    assert (coverage["numerator"], coverage["denominator"]) == (1, 3)  # A1, A1a, A2
    roles = april["emergency.role_coverage"]
    assert (roles["numerator"], roles["denominator"]) == (2, 4)  # active members in A
    assert april["emergency.members_with_role"]["value"] == 2
    in_b = figures_for(b, Period.month(2025, 4))
    assert in_b["registrations.new"]["value"] == 1
    assert in_b["registrations.service_hours"]["value"] == 0
    assert in_b["posts.branch_coverage"]["numerator"] == 0


def populate(world, n, tag):
    """n more of every row of this area inside A2 (for the query-count tests)."""
    for i in range(n):
        unit = WorkUnit.objects.create(name=f"{tag}单位{i}")
        person = member(world["a2"], f"{tag}成员{i}", employer=unit)
        registration = services.register_in_service(
            None, member=person, work_unit=unit if i % 2 else world["tax"], branch=world["a2"],
            registered_on=D(2025, 3, 1), commitment="承诺", post=world["legal"],
        )
        services.record_service(None, registration, D(2025, 4, 1), 2, "巡逻")
        services.evaluate_registration(None, registration, 2025, "good", "好")
        post = services.create_post(
            None, org_unit=world["a2"], kind=PostKind.OTHER, name=f"{tag}岗{i}", duties="值守"
        )
        services.assign_post(None, post, person, D(2025, 1, 1))
        services.set_emergency_role(None, person, "patrol", world["a2g"])
        activation = services.activate_emergency(None, world["a2"], f"{tag}演练{i}")
        services.end_emergency(None, activation)
